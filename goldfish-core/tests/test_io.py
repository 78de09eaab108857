"""``goldfish.io`` in-process: inputs, outputs and contracts, metrics, liveness, checkpoints."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from goldfish import io
from goldfish.errors import GoldfishError
from stage_support import make_job


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = make_job(
        tmp_path / "job",
        inputs={"train": "npy", "meta": "json", "rows": "csv", "vocab": "file", "images": "directory"},
        outputs={
            "model": "directory",
            "weights": {"type": "npy", "contract": {"shape": [None, 3], "dtype": "float32"}},
            "wide": {"type": "npy", "contract": {"shape": [None, "{width}"], "rank": 2}},
            "table": {"type": "csv", "contract": {"columns": ["id", "label"], "min_rows": 2}},
            "scores": {"type": "json", "contract": {"required_keys": ["accuracy"],
                                                    "types": {"accuracy": "float"}}},
            "report": {"type": "file", "contract": {"min_bytes": 3}},
            "blob": "file",
            "plain": "json",
        },
        config={"lr": 0.1, "width": 4, "nested": {"a": 1}},
    )
    np.save(root / "inputs" / "train.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    (root / "inputs" / "meta.json").write_text(json.dumps({"classes": 10}))
    (root / "inputs" / "rows.csv").write_text("id,label\n1,a\n2,b\n")
    (root / "inputs" / "vocab").write_text("a\nb\n")
    (root / "inputs" / "images").mkdir()
    (root / "inputs" / "images" / "0.png").write_bytes(b"png")
    monkeypatch.setenv("GOLDFISH_JOB_DIR", str(root))
    io._reset_for_tests()
    yield root
    io._reset_for_tests()


def test_outside_a_stage_every_call_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLDFISH_JOB_DIR", raising=False)
    io._reset_for_tests()
    with pytest.raises(GoldfishError, match="only available inside a stage run"):
        io.config()


def test_config_and_identity(job: Path) -> None:
    cfg = io.config()
    assert cfg == {"lr": 0.1, "width": 4, "nested": {"a": 1}}
    cfg["nested"]["a"] = 99  # a copy: mutating it changes nothing
    assert io.config()["nested"]["a"] == 1
    assert (io.run_id(), io.stage()) == ("r-test", "train")
    assert io.job_dir() == io.run_dir() == job.resolve()


def test_load_input_by_type(job: Path) -> None:
    arr = io.load_input("train")
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 3) and arr.dtype == np.float32
    mapped = io.load_input("train", mmap=True)
    assert isinstance(mapped, np.memmap) and float(mapped[1, 2]) == 5.0
    assert io.load_input("meta") == {"classes": 10}
    assert io.load_input("rows") == [{"id": "1", "label": "a"}, {"id": "2", "label": "b"}]
    assert io.load_input("rows", as_path=True) == job.resolve() / "inputs" / "rows.csv"
    assert io.load_input("vocab").read_text() == "a\nb\n"
    assert (io.load_input("images") / "0.png").read_bytes() == b"png"
    assert io.input_path("train").name == "train.npy"


def test_unknown_input_lists_the_declared_ones(job: Path) -> None:
    with pytest.raises(GoldfishError) as err:
        io.load_input("trian")
    text = str(err.value)
    assert "no input named 'trian'" in text and "'train'" in text and "'meta'" in text
    assert "did you mean 'train'" in text


def test_missing_materialized_input_is_reported(job: Path) -> None:
    (job / "inputs" / "meta.json").unlink()
    with pytest.raises(GoldfishError, match="input 'meta' of stage 'train' is missing"):
        io.load_input("meta")


def test_save_npy_array_and_path(job: Path, tmp_path: Path) -> None:
    out = io.save_output("weights", np.ones((5, 3), dtype=np.float32))
    assert out == job.resolve() / "outputs" / "weights.npy"
    assert np.load(out).shape == (5, 3)
    src = tmp_path / "w.npy"
    np.save(src, np.zeros((2, 3), dtype=np.float32))
    io.save_output("weights", src)
    assert np.load(out).shape == (2, 3)


def test_npy_contract_failures_name_output_expected_and_actual(job: Path) -> None:
    with pytest.raises(io.ContractError) as err:
        io.save_output("weights", np.ones((5, 4), dtype=np.float32))
    assert "'weights'" in str(err.value) and "shape" in str(err.value)
    assert "['*', 3]" in str(err.value) and "[5, 4]" in str(err.value)
    with pytest.raises(io.ContractError, match=r"dtype expected float32, got float64"):
        io.save_output("weights", np.ones((5, 3)))
    # nothing half-written: no output, no temp file
    assert sorted(p.name for p in (job / "outputs").iterdir()) == []


def test_npy_shape_param_comes_from_config_and_rank_is_checked(job: Path) -> None:
    io.save_output("wide", np.zeros((7, 4)))
    with pytest.raises(io.ContractError, match=r"shape expected \['\*', 4\], got \[7, 5\]"):
        io.save_output("wide", np.zeros((7, 5)))
    with pytest.raises(io.ContractError, match="rank expected 2, got 1"):
        io.save_output("wide", np.zeros(7))


def test_save_npy_rejects_non_arrays(job: Path) -> None:
    with pytest.raises(GoldfishError, match="declared type npy; save_output got list"):
        io.save_output("weights", [[1.0, 2.0, 3.0]])


def test_save_csv_forms_and_contract(job: Path, tmp_path: Path) -> None:
    path = io.save_output("table", [{"id": 1, "label": "a"}, {"id": 2, "label": "b", "x": 3}])
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[1] == {"id": "2", "label": "b", "x": "3"} and rows[0]["x"] == ""
    io.save_output("table", [["id", "label"], [1, "a"], [2, "b"]])
    assert path.read_text().splitlines()[0] == "id,label"
    with pytest.raises(io.ContractError, match="missing column\\(s\\): label"):
        io.save_output("table", [{"id": 1}, {"id": 2}])
    with pytest.raises(io.ContractError, match="rows: at least expected 2, got 1"):
        io.save_output("table", [["id", "label"], [1, "a"]])
    src = tmp_path / "t.csv"
    src.write_text("id,label,extra\n1,a,x\n2,b,y\n")
    io.save_output("table", str(src))
    assert path.read_text() == src.read_text()
    with pytest.raises(GoldfishError, match="declared type csv; save_output got dict"):
        io.save_output("table", {"id": 1})


def test_save_json_value_path_and_contract(job: Path, tmp_path: Path) -> None:
    path = io.save_output("scores", {"accuracy": 0.9, "n": 3})
    assert json.loads(path.read_text()) == {"accuracy": 0.9, "n": 3}
    with pytest.raises(io.ContractError, match="missing key\\(s\\): accuracy"):
        io.save_output("scores", {"acc": 0.9})
    with pytest.raises(io.ContractError, match="key 'accuracy' of type expected float, got str"):
        io.save_output("scores", {"accuracy": "high"})
    with pytest.raises(GoldfishError, match="not JSON-serializable"):
        io.save_output("plain", {"x": object()})
    src = tmp_path / "s.json"
    src.write_text('{"accuracy": 1.0}')
    io.save_output("scores", src)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(io.ContractError, match="invalid JSON"):
        io.save_output("plain", bad)
    assert io.save_output("plain", "just text").read_text() == '"just text"'


def test_save_file_bytes_path_and_size_contract(job: Path, tmp_path: Path) -> None:
    assert io.save_output("blob", b"\x00\x01").read_bytes() == b"\x00\x01"
    with pytest.raises(io.ContractError, match="size: at least expected 3 bytes, got 2 bytes"):
        io.save_output("report", b"ab")
    src = tmp_path / "r.txt"
    src.write_text("hello")
    assert io.save_output("report", str(src)).read_text() == "hello"
    with pytest.raises(GoldfishError, match="no such file or directory"):
        io.save_output("blob", "does-not-exist.bin")
    with pytest.raises(GoldfishError, match=r"declared type file but .* is a directory"):
        io.save_output("blob", tmp_path)


def test_save_directory_copies_and_replaces(job: Path, tmp_path: Path) -> None:
    src = tmp_path / "m"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "w.bin").write_bytes(b"1")
    out = io.save_output("model", src)
    assert (out / "sub" / "w.bin").read_bytes() == b"1"
    (src / "sub" / "w.bin").write_bytes(b"2")
    (src / "new.txt").write_text("n")
    io.save_output("model", src)
    assert (out / "sub" / "w.bin").read_bytes() == b"2" and (out / "new.txt").exists()
    with pytest.raises(GoldfishError, match=r"declared type directory but .* is a file"):
        io.save_output("model", src / "new.txt")
    leftovers = [p.name for p in (job / "outputs").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_output_path_for_direct_writes(job: Path) -> None:
    d = io.output_path("model")
    assert d.is_dir() and d == job.resolve() / "outputs" / "model"
    (d / "x").write_text("x")
    assert io.save_output("model", d) == d  # saving in place only checks
    assert io.output_path("weights").name == "weights.npy"


def test_unknown_output_lists_declared_outputs(job: Path) -> None:
    with pytest.raises(GoldfishError) as err:
        io.save_output("modle", b"x")
    assert "no output named 'modle'" in str(err.value) and "did you mean 'model'" in str(err.value)


# --- metrics ---------------------------------------------------------------------------------


def _lines(job: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (job / "metrics.jsonl").read_text().splitlines()]


def test_metrics_are_buffered_then_flushed_as_json_lines(job: Path) -> None:
    io.log_metric("loss", 0.5, step=0)
    io.log_metric("loss", 0.25, step=1)
    io.log_metrics({"acc": 1, "val/loss": np.float32(0.125)}, step=1)  # type: ignore[dict-item]
    io.log_metric("lr", 0.1)
    io.flush()
    lines = _lines(job)
    assert [(p["n"], p["v"], p["s"]) for p in lines] == [
        ("loss", 0.5, 0), ("loss", 0.25, 1), ("acc", 1, 1), ("val/loss", 0.125, 1), ("lr", 0.1, None)]
    assert all(isinstance(p["t"], float) for p in lines)
    assert (job / "heartbeat").exists()


def test_nonfinite_values_are_kept_as_strings(job: Path) -> None:
    io.log_metric("loss", math.nan, 0)
    io.log_metric("loss", math.inf, 1)
    io.log_metric("loss", -math.inf, 2)
    io.flush()
    assert [p["v"] for p in _lines(job)] == ["nan", "inf", "-inf"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("9lives", 1.0), "invalid metric name"),
        (("a b", 1.0), "invalid metric name"),
        (("x" * 129, 1.0), "invalid metric name"),
        (("ok", True), "is a bool"),
        (("ok", "0.5"), "is not a number"),
        (("ok", 1.0, -1), "step -1 is negative"),
        (("ok", 1.0, 1.5), "is not an integer"),
        (("ok", 1.0, True), "is not an integer"),
    ],
)
def test_bad_metrics_are_rejected(job: Path, args: tuple[object, ...], message: str) -> None:
    with pytest.raises(GoldfishError, match=message):
        io.log_metric(*args)  # type: ignore[arg-type]


def test_steps_must_not_decrease_per_name(job: Path) -> None:
    io.log_metric("loss", 1.0, 5)
    io.log_metric("loss", 1.0, 5)  # equal is fine (several values at one step)
    io.log_metric("acc", 1.0, 0)  # other names keep their own series
    with pytest.raises(GoldfishError, match="step 4 is before the last step logged \\(5\\)"):
        io.log_metric("loss", 1.0, 4)
    io.log_metric("loss", 2.0, np.int64(6))  # type: ignore[arg-type]  # numpy ints are ints
    io.flush()
    assert [p["s"] for p in _lines(job) if p["n"] == "loss"] == [5, 5, 6]


def test_distinct_metric_names_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_job(tmp_path / "j", metrics={"max_names": 3})
    monkeypatch.setenv("GOLDFISH_JOB_DIR", str(root))
    io._reset_for_tests()
    for i in range(3):
        io.log_metric(f"m{i}", 1.0)
    io.log_metric("m0", 2.0)  # a known name is always fine
    with pytest.raises(GoldfishError, match="cap of 3 distinct metric names"):
        io.log_metric("m3", 1.0)
    io._reset_for_tests()


def test_a_full_buffer_is_written_without_an_explicit_flush(job: Path) -> None:
    for i in range(io.MAX_BUFFERED + 10):
        io.log_metric("loss", float(i), i)
    # the flusher thread or the backpressure write has drained at least MAX_BUFFERED points
    assert len(io._buf) < 4 * io.MAX_BUFFERED  # four items per point
    io.flush()
    assert [p["s"] for p in _lines(job)] == list(range(io.MAX_BUFFERED + 10))


# --- liveness, stop, checkpoints ---------------------------------------------------------------


def test_heartbeat_touches_the_file(job: Path) -> None:
    io.heartbeat()
    first = (job / "heartbeat").stat().st_mtime_ns
    os.utime(job / "heartbeat", ns=(first - 10**10, first - 10**10))
    io._heartbeat_at = 0.0  # pretend the rate limit elapsed
    io.heartbeat()
    assert (job / "heartbeat").stat().st_mtime_ns >= first


def test_should_stop_follows_the_stop_file(job: Path) -> None:
    assert io.should_stop() is False
    (job / "stop").touch()
    io._stop_checked_at = 0.0  # the next call may stat again
    assert io.should_stop() is True
    (job / "stop").unlink()
    assert io.should_stop() is True  # once asked, the answer stays


def test_checkpoints_save_latest_and_keep_two(job: Path, tmp_path: Path) -> None:
    assert io.load_checkpoint("ckpt") is None
    src = tmp_path / "state.bin"
    for step in (10, 20, 30):
        src.write_bytes(str(step).encode())
        io.save_checkpoint("ckpt", src, step=step)
    latest = io.load_checkpoint("ckpt")
    assert latest is not None and latest.read_bytes() == b"30"
    assert io.checkpoint_step("ckpt") == 30
    kept = sorted(p.name for p in (job / "checkpoints" / "ckpt").iterdir() if p.is_dir())
    assert kept == ["000000000020", "000000000030"]
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a").write_text("a")
    io.save_checkpoint("model", d)
    io.save_checkpoint("model", d)  # no step: counts up
    assert io.checkpoint_step("model") == 1
    assert (io.load_checkpoint("model") / "a").read_text() == "a"  # type: ignore[operator]
    with pytest.raises(GoldfishError, match="invalid checkpoint name"):
        io.save_checkpoint("../x", src)
