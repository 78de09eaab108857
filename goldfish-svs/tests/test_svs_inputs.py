"""Bad input: contract and check syntax errors at preflight with file and line; references the
syntax cannot see as blocking preflight findings; unreadable or corrupt outputs as clear findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import goldfish_svs.plugin as svs_plugin
import pytest
from goldfish.errors import ProblemsError
from goldfish.runs.engine import Engine
from svs_support import findings, make_project, run, state


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(svs_plugin, name="svs")
    return goldfish_plugins


def pipeline(outputs: str, checks: str = "") -> dict[str, str]:
    lines = ["name: data", "stages:", "  - name: make", f"    outputs: {outputs}"]
    if checks:
        lines.append(f"    checks: {checks}")
    return {"pipeline.yaml": "\n".join(lines) + "\n",
            "modules/make.py": "from goldfish import io\nio.save_output('x', {'a': 1})\n"}


@pytest.mark.parametrize(("outputs", "checks", "expected"), [
    ("{x: {type: npy, contract: {shape: [null, -3]}}}", "",
     "pipeline.yaml:4: stages.make.outputs.x.contract.shape: shape must be a list of sizes"),
    ("{x: {type: csv, contract: {min_rows: 10, max_rows: 2}}}", "",
     "pipeline.yaml:4: stages.make.outputs.x.contract.min_rows: min_rows 10 is above max_rows 2"),
    ("{x: {type: file, contract: {format: pnj}}}", "",
     "unknown file format 'pnj'"),
    ("{x: {type: npy, contract: {checks: {nan_ratio: {maximum: 0}}}}}", "",
     "unknown setting 'maximum' of check 'nan_ratio'"),
    ("{x: {type: npy}}", "{leakage: {between: [a]}}",
     "pipeline.yaml:5: stages.make.checks.leakage.between: leakage needs exactly two signals"),
    ("{x: {type: npy}}", "{drift: {max_psi: high}}",
     "max_psi of check 'drift' must be a number"),
    ("{x: {type: npy}}", "{stall: {seconds: 5, severity: fatal}}",
     "severity must be info, warning or blocking, got 'fatal'"),
])
def test_syntax_errors_are_caught_before_any_compute_with_file_and_line(
        tmp_path: Path, plugins: Any, outputs: str, checks: str, expected: str) -> None:
    project = make_project(tmp_path, pipeline(outputs, checks), plugins)
    with pytest.raises(ProblemsError) as exc:
        Engine(project).run("w1")
    assert expected in str(exc.value)
    assert project.db.query("SELECT id FROM runs") == []  # nothing recorded, nothing launched


def test_the_maximum_hint_names_the_setting(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, pipeline(
        "{x: {type: npy, contract: {checks: {nan_ratio: {maximum: 0}}}}}"), plugins)
    with pytest.raises(ProblemsError) as exc:
        Engine(project).run("w1")
    [problem] = exc.value.problems
    assert (problem.file, problem.line, problem.hint) == ("pipeline.yaml", 4, "did you mean 'max'?")


def test_references_the_syntax_cannot_see_block_at_preflight(tmp_path: Path,
                                                            plugins: Any) -> None:
    files = pipeline("{x: {type: json}}", "{leakage: {between: [x, tset]}}")
    project = make_project(tmp_path, files, plugins)
    run_id = run(project)
    assert state(project, run_id) == "failed" and state(project, run_id, "make") == "skipped"
    [ref] = findings(project, run_id, "check_reference")
    assert ref["severity"] == "blocking" and ref["phase"] == "preflight"
    assert ref["message"].startswith("pipeline.yaml:5: stage 'make' checks leakage between 'tset'")
    assert ref["data"]["line"] == 5
    assert not (project.runs_dir / run_id / "make").exists()  # no compute spent


def test_an_unknown_drift_reference_blocks_at_preflight(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, pipeline("{x: {type: json}}",
                                              "{drift: {reference: r-20990101-000000}}"), plugins)
    run_id = run(project)
    [ref] = findings(project, run_id, "check_reference")
    assert "drift reference 'r-20990101-000000'" in ref["message"] and ref["data"]["line"] == 5


CORRUPT = """
from goldfish import io
path = io.output_path("x")
path.write_bytes(b"this is not a numpy file at all")
"""

TRUNCATED = """
import numpy as np
from goldfish import io
path = io.output_path("x")
np.save(path, np.ones((1000, 10)))
data = path.read_bytes()
path.write_bytes(data[: len(data) // 2])
"""


@pytest.mark.parametrize(("body", "check", "words"), [
    (CORRUPT, "contract", "unreadable"),
    (TRUNCATED, "contract", "truncated"),
])
def test_corrupt_outputs_give_a_clear_finding_not_a_crash(tmp_path: Path, plugins: Any,
                                                          body: str, check: str,
                                                          words: str) -> None:
    files = {"pipeline.yaml": "name: data\nstages:\n  - name: make\n    outputs: {x: {type: npy}}\n",
             "modules/make.py": body}
    project = make_project(tmp_path, files, plugins)
    run_id = run(project)
    assert state(project, run_id, "make") == "failed"
    found = [f for f in findings(project, run_id) if f["source"] == "svs"]
    blocking = [f for f in found if f["severity"] == "blocking"]
    assert blocking and blocking[0]["check"] in (check, "readable")
    assert words in blocking[0]["message"] and blocking[0]["signal"] == "x"
    assert not [f for f in findings(project, run_id) if f["check"] == "plugin_error"]


def test_a_truncated_array_read_past_its_header_is_a_readable_finding(tmp_path: Path) -> None:
    import numpy as np
    from goldfish.findings import OutputContext

    path = tmp_path / "x.npy"
    np.save(path, np.ones((100, 10)))
    path.write_bytes(path.read_bytes()[:300])
    context = OutputContext(run_id="r", stage="make", signals={"x": {"type": "npy"}},
                            paths={"x": path}, config={})
    found = svs_plugin.validate_outputs(context)
    assert [f.check for f in found if f.blocking] == ["contract"]
    broken = tmp_path / "y.npy"
    broken.write_bytes(b"\x93NUMPY\x01\x00garbage header")
    context = OutputContext(run_id="r", stage="make", signals={"y": {"type": "npy"}},
                            paths={"y": broken}, config={})
    [finding] = svs_plugin.validate_outputs(context)
    assert finding.blocking and "unreadable" in finding.message


def test_object_arrays_and_bad_csv_and_json_are_findings(tmp_path: Path) -> None:
    import numpy as np
    from goldfish.findings import OutputContext

    obj = tmp_path / "o.npy"
    np.save(obj, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    table = tmp_path / "t.csv"
    table.write_bytes(b"a,b\n1,\xff\xfe\n")
    doc = tmp_path / "d.json"
    doc.write_text("{not json")
    context = OutputContext(
        run_id="r", stage="s", config={},
        signals={"o": {"type": "npy"}, "t": {"type": "csv"}, "d": {"type": "json"}},
        paths={"o": obj, "t": table, "d": doc})
    found = {f.signal: f for f in svs_plugin.validate_outputs(context) if f.blocking}
    assert "dtype=object" in found["o"].message
    assert "unreadable" in found["t"].message and "unreadable" in found["d"].message


def test_an_unknown_check_in_goldfish_yaml_names_file_and_fix(tmp_path: Path,
                                                             plugins: Any) -> None:
    from goldfish.errors import GoldfishError

    project = make_project(tmp_path, pipeline("{x: {type: json}}"), plugins)
    with open(project.config_path, "a", encoding="utf-8") as fh:
        fh.write("svs:\n  checks: {nan_raito: {max: 0}}\n")
    with pytest.raises(GoldfishError) as exc:
        project.reload_config()
    text = str(exc.value)
    assert "goldfish.yaml" in text and "nan_raito" in text and "nan_ratio" in text


def test_the_host_checks_every_csv_row_the_stage_only_sampled(tmp_path: Path) -> None:
    from goldfish.findings import OutputContext

    table = tmp_path / "t.csv"
    table.write_text("id,score\n" + "".join(f"{i},{i / 2}\n" for i in range(1500))
                     + "x1500,0.5\n")
    context = OutputContext(run_id="r", stage="s", config={},
                            signals={"t": {"type": "csv",
                                           "contract": {"columns": {"id": "int"}}}},
                            paths={"t": table})
    [bad] = [f for f in svs_plugin.validate_outputs(context) if f.blocking]
    assert bad.check == "contract" and "first on row 1501: 'x1500'" in bad.message
