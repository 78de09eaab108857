"""The detached supervisor on its own: exit records, escalation, and signals aimed at it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from goldfish.builtins import _supervisor as sup
from goldfish.builtins.local_compute import goldfish_path_entry

TIMEOUT = 60.0


def _job(tmp_path: Path, code: str, **spec: Any) -> Path:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONUNBUFFERED": "1"}
    sup.write_json_atomic(job_dir / sup.LAUNCH_FILE, {
        "command": [sys.executable, "-c", code], "env": env, "cwd": str(job_dir), **spec})
    return job_dir


def _start(job_dir: Path) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": goldfish_path_entry()}
    return subprocess.Popen([sys.executable, "-m", "goldfish.builtins._supervisor",
                             "--foreground", str(job_dir)], env=env, start_new_session=True)


def _exit_record(job_dir: Path, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.wait(timeout=TIMEOUT) == 0
    record: dict[str, Any] = json.loads((job_dir / sup.EXIT_FILE).read_text())
    return record


def _wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _log_has(job_dir: Path, text: str) -> bool:
    path = job_dir / sup.LOG_FILE
    return path.exists() and text in path.read_text()


def _dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def test_normal_exit_is_recorded_with_times(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "print('out'); import sys; print('err', file=sys.stderr); "
                             "sys.exit(3)")
    record = _exit_record(job_dir, _start(job_dir))
    assert record["exit_code"] == 3 and record["signal"] is None and record["cause"] is None
    assert record["started_at"] <= record["finished_at"]
    assert (job_dir / sup.LOG_FILE).read_text().split() == ["out", "err"]
    meta = json.loads((job_dir / sup.RECORD_FILE).read_text())
    assert meta["stage_pid"] > 0 and meta["pid"] > 0 and "boot_id" in meta


def test_record_identifies_the_supervisor_process(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import time; print('up', flush=True); time.sleep(600)",
                   kill_grace_seconds=1)
    proc = _start(job_dir)
    _wait_for(lambda: _log_has(job_dir, "up"), "the stage")
    meta = json.loads((job_dir / sup.RECORD_FILE).read_text())
    assert meta["pid"] == proc.pid
    assert meta["start_time"] == sup.proc_start_time(proc.pid)
    assert meta["stage_start_time"] == sup.proc_start_time(meta["stage_pid"])
    beat = (job_dir / sup.HEARTBEAT_FILE).stat().st_mtime
    _wait_for(lambda: (job_dir / sup.HEARTBEAT_FILE).stat().st_mtime > beat, "a heartbeat")
    (job_dir / sup.CANCEL_FILE).write_text(json.dumps({"grace_seconds": 1}))
    assert _exit_record(job_dir, proc)["cause"] == "cancelled"


def test_timeout_terminates_then_kills_a_stage_that_ignores_sigterm(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                             "time.sleep(600)", timeout_seconds=0.5, kill_grace_seconds=0.5)
    record = _exit_record(job_dir, _start(job_dir))
    assert record["cause"] == "timeout" and record["signal"] == signal.SIGKILL
    assert "0.5s" in record["message"]


def test_timeout_with_a_stage_that_obeys_sigterm(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import time; time.sleep(600)", timeout_seconds=0.5)
    record = _exit_record(job_dir, _start(job_dir))
    assert record["cause"] == "timeout" and record["signal"] == signal.SIGTERM


def test_a_bare_stop_file_is_escalated_after_its_grace(tmp_path: Path) -> None:
    # the stage polls for stops (io.should_stop() leaves stop_polled), then ignores the request
    job_dir = _job(tmp_path, "import pathlib, time; pathlib.Path('stop_polled').touch(); "
                             "print('up', flush=True); time.sleep(600)",
                   stop_grace_seconds=0.5, kill_grace_seconds=0.5)
    proc = _start(job_dir)
    _wait_for(lambda: _log_has(job_dir, "up"), "the stage")
    (job_dir / sup.STOP_FILE).touch()
    record = _exit_record(job_dir, proc)
    assert record["cause"] == "cancelled" and "did not stop within 0.5s" in record["message"]


def test_a_stop_for_a_stage_that_never_polls_terminates_it_at_once(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import time; print('up', flush=True); time.sleep(600)",
                   stop_grace_seconds=600, kill_grace_seconds=0.5)
    proc = _start(job_dir)
    _wait_for(lambda: _log_has(job_dir, "up"), "the stage")
    (job_dir / sup.STOP_FILE).touch()
    record = _exit_record(job_dir, proc)  # not after the 600 s grace
    assert record["cause"] == "cancelled" and record["signal"] == signal.SIGTERM
    assert "never calls goldfish.io.should_stop()" in record["message"]


def test_sighup_does_not_stop_the_supervisor(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import time; print('up', flush=True); time.sleep(1); print('end')")
    proc = _start(job_dir)
    _wait_for(lambda: _log_has(job_dir, "up"), "the stage")
    proc.send_signal(signal.SIGHUP)
    record = _exit_record(job_dir, proc)
    assert record["exit_code"] == 0 and record["cause"] is None
    assert _log_has(job_dir, "end")


def test_sigterm_to_the_supervisor_ends_the_stage_and_says_so(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import time; print('up', flush=True); time.sleep(600)",
                   kill_grace_seconds=1)
    proc = _start(job_dir)
    _wait_for(lambda: _log_has(job_dir, "up"), "the stage")
    proc.send_signal(signal.SIGTERM)
    record = _exit_record(job_dir, proc)
    assert record["cause"] == "killed" and "SIGTERM" in record["message"]


def test_leftover_children_of_the_stage_are_killed(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import subprocess, time; "
                             "p = subprocess.Popen(['sleep', '600']); print(p.pid, flush=True)")
    record = _exit_record(job_dir, _start(job_dir))
    assert record["exit_code"] == 0
    child = int((job_dir / sup.LOG_FILE).read_text().split()[0])
    _wait_for(lambda: _dead(child), "the leftover child to die")


def test_unreadable_launch_file_still_leaves_an_exit_record(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / sup.LAUNCH_FILE).write_text("{not json")
    proc = _start(job_dir)
    assert proc.wait(timeout=TIMEOUT) == 1
    record = json.loads((job_dir / sup.EXIT_FILE).read_text())
    assert record["cause"] == "error" and sup.LAUNCH_FILE in record["message"]


def test_daemon_mode_returns_at_once_with_an_orphaned_supervisor(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "import time; time.sleep(1)")
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": goldfish_path_entry()}
    out = subprocess.run([sys.executable, "-m", "goldfish.builtins._supervisor", str(job_dir)],
                         env=env, capture_output=True, text=True, timeout=TIMEOUT, check=True)
    pid = int(out.stdout.strip())
    assert pid != os.getpid()
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
    if stat:  # still running: it is not our child, so we can never leave it a zombie
        assert int(stat.rsplit(")", 1)[1].split()[1]) != os.getpid()
    _wait_for(lambda: (job_dir / sup.EXIT_FILE).exists(), "the exit record")
    assert json.loads((job_dir / sup.EXIT_FILE).read_text())["exit_code"] == 0


def test_usage_error_without_a_job_dir() -> None:
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": goldfish_path_entry()}
    out = subprocess.run([sys.executable, "-m", "goldfish.builtins._supervisor"], env=env,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 2 and "usage" in out.stderr


@pytest.mark.parametrize("pid", [0, -5, 2**22 + 12345])
def test_start_time_of_missing_process_is_none(pid: int) -> None:
    assert sup.proc_start_time(pid) is None


def test_cancel_before_start_never_runs_the_stage(tmp_path: Path) -> None:
    job_dir = _job(tmp_path, "print('ran anyway')")
    (job_dir / sup.CANCEL_FILE).write_text(json.dumps({"grace_seconds": 5}))
    record = _exit_record(job_dir, _start(job_dir))
    assert record["cause"] == "cancelled" and record["exit_code"] is None
    assert not _log_has(job_dir, "ran anyway")
