"""goldfish.io brings a running stage's metrics to the host while it runs: the flusher thread
writes them on its interval, a NaN/Inf is written at once, and should_stop() leaves the mark that
tells the supervisor the stage listens for stops. Real stage subprocesses (``goldfish._stage``);
each stage blocks on a gate file until the test has seen what it waits for, so nothing depends on
the stage ending (which flushes everything anyway)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from goldfish import io
from stage_support import make_job, start_stage

GATED = """
import pathlib, time
from goldfish import io
{setup}
{logs}
gate = pathlib.Path(io.job_dir()) / "gate"
deadline = time.time() + 60
while not gate.exists() and time.time() < deadline:
    time.sleep(0.01)
"""


def _wait_for_points(job: Path, n: int, proc: object, timeout: float = 30) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    path = job / "metrics.jsonl"
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n:
            return [json.loads(x) for x in lines]
        time.sleep(0.02)
    (job / "gate").touch()
    raise AssertionError(f"{n} point(s) never reached metrics.jsonl while the stage ran")


def _finish(job: Path, proc: object) -> None:
    (job / "gate").touch()
    assert proc.wait(timeout=60) == 0  # type: ignore[attr-defined]


def test_points_reach_the_host_on_the_flush_interval_without_an_explicit_flush(
        tmp_path: Path) -> None:
    job = make_job(tmp_path / "job", GATED.format(
        setup="", logs="io.log_metric('loss', 0.5, step=0)"))
    proc = start_stage(job)
    [point] = _wait_for_points(job, 1, proc)
    assert (point["n"], point["v"], point["s"]) == ("loss", 0.5, 0)
    _finish(job, proc)
    assert io.FLUSH_SECONDS <= 1.0  # "about a second" at most


def test_a_nonfinite_point_is_written_at_once_not_on_the_interval(tmp_path: Path) -> None:
    # the interval is made an hour long: only the NaN's own flush can bring the points out
    job = make_job(tmp_path / "job", GATED.format(
        setup="io.FLUSH_SECONDS = 3600",
        logs="io.log_metric('loss', 0.5, step=0)\nio.log_metric('loss', float('nan'), step=1)"))
    proc = start_stage(job)
    points = _wait_for_points(job, 2, proc)
    assert [p["v"] for p in points] == [0.5, "nan"]
    _finish(job, proc)


def test_should_stop_marks_the_stage_as_listening_for_stops(tmp_path: Path) -> None:
    job = make_job(tmp_path / "job", GATED.format(setup="io.should_stop()", logs=""))
    proc = start_stage(job)
    deadline = time.monotonic() + 30
    while not (job / io.STOP_POLLED_FILE).exists():
        assert time.monotonic() < deadline, "should_stop() left no mark"
        time.sleep(0.02)
    _finish(job, proc)
    quiet = make_job(tmp_path / "quiet", GATED.format(setup="", logs=""))
    proc = start_stage(quiet)
    (quiet / "gate").touch()
    assert proc.wait(timeout=60) == 0
    assert not (quiet / io.STOP_POLLED_FILE).exists()  # never asked: no mark
