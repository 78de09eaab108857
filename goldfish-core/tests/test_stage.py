"""``python -m goldfish._stage`` as a backend runs it: real subprocesses on hand-made job dirs."""

from __future__ import annotations

import ast
import json
import shutil
import signal
import sys
from pathlib import Path

import goldfish
import numpy as np
import pytest
from goldfish import _stage, io
from stage_support import make_job, run_stage, start_stage, wait_for

GOOD = """
    from goldfish import io

    cfg = io.config()
    rows = io.load_input("rows")
    for step in range(cfg["epochs"]):
        io.log_metric("loss", 1.0 / (step + 1), step=step)
    io.log_metrics({"acc": 0.5, "n_rows": len(rows)})
    io.save_output("scores", {"accuracy": 0.9, "rows": len(rows)})
    d = io.output_path("model")
    (d / "weights.txt").write_text("w")
    print("stage done")
"""


def test_a_good_stage_writes_outputs_and_metrics(tmp_path: Path) -> None:
    job = make_job(tmp_path / "job", GOOD, inputs={"rows": "csv"},
                   outputs={"scores": "json", "model": "directory"}, config={"epochs": 3})
    (job / "inputs" / "rows.csv").write_text("a,b\n1,2\n3,4\n")
    result = run_stage(job)
    assert result.code == 0, result.err
    assert "stage done" in result.out
    assert json.loads((job / "outputs" / "scores.json").read_text()) == {"accuracy": 0.9, "rows": 2}
    assert (job / "outputs" / "model" / "weights.txt").read_text() == "w"
    points = [(p["n"], p["v"], p["s"]) for p in result.metric_lines()]
    assert points == [("loss", 1.0, 0), ("loss", 0.5, 1), ("loss", 1 / 3, 2),
                      ("acc", 0.5, None), ("n_rows", 2, None)]
    assert (job / "heartbeat").exists()
    assert not (job / "error.json").exists()


def test_a_raising_stage_writes_error_json_with_its_own_frames(tmp_path: Path) -> None:
    code = """
        from goldfish import io
        from helpers import scale

        io.log_metric("loss", 2.0, step=0)
        scale([1, 2], "x")
    """
    helper = """
        def scale(values, factor):
            return [v / factor for v in values]
    """
    job = make_job(tmp_path / "job", code, outputs={"model": "file"},
                   extra_files={"modules/helpers.py": helper})
    result = run_stage(job)
    assert result.code == 1
    err = result.error()
    assert err["type"] == "TypeError"
    assert "unsupported operand" in err["message"]
    tail = err["traceback_tail"]
    assert "modules/train.py\", line 6" in tail and "helpers.py\", line 3" in tail
    assert "runpy" not in tail and "_stage.py" not in tail
    assert tail.rstrip().endswith(err["message"]) and len(tail.splitlines()) <= _stage.TAIL_LINES
    assert "TypeError" in result.err  # and the log shows it too
    # what was logged before the crash is kept
    assert [p["v"] for p in result.metric_lines()] == [2.0]


def test_traceback_tail_keeps_the_last_lines_of_deep_recursion(tmp_path: Path) -> None:
    code = """
        def down(n):
            if n == 0:
                raise ValueError("bottom reached")
            return across(n - 1)

        def across(n):
            return down(n)

        down(40)
    """
    result = run_stage(make_job(tmp_path / "job", code))
    err = result.error()
    assert result.code == 1 and err["type"] == "ValueError" and err["message"] == "bottom reached"
    assert len(err["traceback_tail"].splitlines()) == _stage.TAIL_LINES
    assert err["traceback_tail"].endswith("ValueError: bottom reached")


def test_missing_outputs_fail_the_stage_naming_each(tmp_path: Path) -> None:
    code = """
        from goldfish import io
        io.save_output("scores", {"a": 1})
    """
    job = make_job(tmp_path / "job", code,
                   outputs={"scores": "json", "model": "directory", "table": "csv"})
    result = run_stage(job)
    assert result.code == 1
    err = result.error()
    assert err["type"] == "MissingOutputError"
    assert ("stage 'train' declared output 'model' but never wrote it — "
            "call goldfish.io.save_output('model', ...)") in err["message"]
    assert "declared output 'table'" in err["message"]
    assert "'scores'" not in err["message"]


def test_a_directly_written_output_still_meets_its_contract(tmp_path: Path) -> None:
    code = """
        import numpy as np
        from goldfish import io
        np.save(io.output_path("weights"), np.zeros((4, 2), dtype=np.float32))
    """
    job = make_job(tmp_path / "job", code, outputs={
        "weights": {"type": "npy", "contract": {"shape": [None, 3], "dtype": "float32"}}})
    result = run_stage(job)
    assert result.code == 1
    err = result.error()
    assert err["type"] == "ContractError"
    assert "'weights'" in err["message"] and "[4, 2]" in err["message"]


def test_a_contract_error_from_save_output_is_reported(tmp_path: Path) -> None:
    code = """
        import numpy as np
        from goldfish import io
        io.save_output("weights", np.zeros((4, 3), dtype=np.float64))
    """
    job = make_job(tmp_path / "job", code, outputs={
        "weights": {"type": "npy", "contract": {"dtype": "float32"}}})
    result = run_stage(job)
    err = result.error()
    assert result.code == 1 and err["type"] == "ContractError"
    assert "dtype expected float32, got float64" in err["message"]
    assert "astype" in err["message"]  # the hint travels with the message
    assert "modules/train.py\", line 4" in err["traceback_tail"]
    assert not (job / "outputs" / "weights.npy").exists()


def test_system_exit_code_passes_through(tmp_path: Path) -> None:
    result = run_stage(make_job(tmp_path / "job", "import sys\nsys.exit(3)\n"))
    assert result.code == 3
    assert not (result.job / "error.json").exists()
    ok = run_stage(make_job(tmp_path / "ok", "import sys\nsys.exit(0)\n"))
    assert ok.code == 0


def test_a_missing_module_is_an_error_json(tmp_path: Path) -> None:
    job = make_job(tmp_path / "job", "print('x')", module="modules/train.py")
    (job / "code" / "modules" / "train.py").unlink()
    result = run_stage(job)
    assert result.code == 1
    assert "module 'modules/train.py' not found" in result.error()["message"]


def test_a_stale_error_json_is_cleared_on_success(tmp_path: Path) -> None:
    job = make_job(tmp_path / "job", "print('fine')")
    (job / "error.json").write_text('{"type": "Old"}')
    assert run_stage(job).code == 0
    assert not (job / "error.json").exists()
    assert (job / "heartbeat").exists()  # touched at start, even without metrics


def test_sigterm_flushes_metrics_runs_finally_and_exits_143(tmp_path: Path) -> None:
    code = """
        import pathlib, time
        from goldfish import io

        io.FLUSH_SECONDS = 3600  # only the SIGTERM path may write these points
        for i in range(5):
            io.log_metric("loss", 1.0 / (i + 1), step=i)
        try:
            print("waiting for the host")  # no flush: line buffering brings it to the log now
            (io.job_dir() / "ready").touch()
            while not io.should_stop() or True:
                time.sleep(0.05)
        finally:
            (io.job_dir() / "cleaned-up").touch()
    """
    job = make_job(tmp_path / "job", code)
    proc = start_stage(job)
    wait_for(job / "ready", proc)
    assert not (job / "metrics.jsonl").exists()  # still buffered
    assert proc.stdout is not None and proc.stdout.readline() == "waiting for the host\n"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    lines = [json.loads(x) for x in (job / "metrics.jsonl").read_text().splitlines()]
    assert [p["s"] for p in lines] == [0, 1, 2, 3, 4]
    assert (job / "cleaned-up").exists()


# --- the runtime travels alone -------------------------------------------------------------------


def _runtime_alone(dest: Path) -> Path:
    """Copy io.py and _stage.py with a minimal package file, as a backend injects them."""
    pkg = dest / "goldfish"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('__version__ = "injected"\n')
    src = Path(goldfish.__file__).parent
    for name in ("io.py", "_stage.py"):
        shutil.copy(src / name, pkg / name)
    return dest


ALONE = """
    import sys
    from goldfish import io
    import goldfish

    assert goldfish.__version__ == "injected", goldfish.__file__
    try:
        import goldfish.errors
    except ImportError:
        pass
    else:
        raise AssertionError("goldfish.errors should not be importable here")
    assert "numpy" not in sys.modules
    io.log_metric("loss", float("nan"), step=0)
    io.save_output("scores", {"python": sys.version_info[:2], "file": io.__file__})
    try:
        io.save_output("nope", {})
    except io.StageIOError as exc:
        io.save_output("message", str(exc).encode())
    raise RuntimeError("boom")
"""


def _pythons() -> list[tuple[str, tuple[str, ...]]]:
    # -S: no site-packages, so the installed goldfish (and numpy) are out of reach
    found: list[tuple[str, tuple[str, ...]]] = [(sys.executable, ("-S",))]
    system = shutil.which("python3", path="/usr/bin")
    if system and Path(system).resolve() != Path(sys.executable).resolve():
        found.append((system, ("-S", "-s")))
    return found


@pytest.mark.parametrize(("python", "flags"), _pythons())
def test_io_and_stage_run_alone_without_goldfish_installed(tmp_path: Path, python: str,
                                                           flags: tuple[str, ...]) -> None:
    runtime = _runtime_alone(tmp_path / "runtime")
    job = make_job(tmp_path / "job", ALONE, outputs={"scores": "json", "message": "file"})
    result = run_stage(job, python=python, flags=flags, pythonpath=str(runtime))
    assert result.code == 1, result.err
    scores = json.loads((job / "outputs" / "scores.json").read_text())
    assert scores["file"].startswith(str(runtime))
    message = (job / "outputs" / "message").read_text()
    assert "no output named 'nope'" in message and "'message', 'scores'" in message
    assert result.error()["type"] == "RuntimeError"
    assert "boom" in result.error()["traceback_tail"]
    assert [p["v"] for p in result.metric_lines()] == ["nan"]


@pytest.mark.parametrize("module", [io, _stage])
def test_runtime_parses_as_python_3_9(module: object) -> None:
    source = Path(module.__file__).read_text()  # type: ignore[attr-defined]
    ast.parse(source, feature_version=(3, 9))
    assert "from __future__ import annotations" in source
    tree = ast.parse(source)
    # no PEP 604 unions evaluated at runtime (isinstance(x, A | B)), no match statements
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("isinstance", "issubclass"):
            assert not any(isinstance(a, ast.BinOp) for a in node.args), ast.unparse(node)
        for kw in getattr(node, "keywords", []):
            assert kw.arg != "strict", f"zip(strict=) is 3.10+: {ast.unparse(node)}"


def test_numpy_is_imported_only_when_arrays_are_used(tmp_path: Path) -> None:
    code = """
        import sys
        from goldfish import io
        io.log_metric("x", 1.0)
        io.save_output("scores", {"numpy_loaded": "numpy" in sys.modules})
    """
    job = make_job(tmp_path / "job", code, outputs={"scores": "json"})
    assert run_stage(job).code == 0
    assert json.loads((job / "outputs" / "scores.json").read_text()) == {"numpy_loaded": False}
    arr = np.arange(3)
    assert arr.sum() == 3  # numpy available to the tests themselves


def test_the_stage_interpreter_imports_no_dataclasses_or_inspect() -> None:
    """Every stage process imports goldfish._stage (and goldfish.io, goldfish.errors): kept free
    of dataclasses and inspect (~10 ms of start-up per stage), and of typing, traceback, csv and
    shutil, which only some stages need (a failure's traceback, a csv or a copied output)."""
    import subprocess
    import sys

    probe = ("import sys, goldfish._stage\n"
             "print(sorted({'dataclasses', 'inspect', 'typing_extensions', 'pydantic', 'typing', "
             "'traceback', 'csv', 'shutil'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_problems_compare_and_render_as_before() -> None:
    from goldfish.errors import GoldfishError, Problem, ProblemsError

    a = Problem("bad", file="f.yaml", line=3, key="k", hint="fix")
    assert a == Problem("bad", "f.yaml", 3, "k", "fix") and a != Problem("bad")
    assert repr(a) == ("Problem(message='bad', file='f.yaml', line=3, key='k', hint='fix')")
    err = ProblemsError(problems=[a], title="f.yaml is not valid")
    assert isinstance(err, GoldfishError) and err.hint is None
    assert str(err) == "f.yaml is not valid (1 problem):\n  - f.yaml:3: k: bad (hint: fix)"
    assert err == ProblemsError([Problem("bad", "f.yaml", 3, "k", "fix")], "f.yaml is not valid")
    assert ProblemsError().problems == [] and ProblemsError().title == "invalid input"
