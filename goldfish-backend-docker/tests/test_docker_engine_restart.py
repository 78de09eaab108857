"""The Docker engine restarted mid-run: commands say the engine is unreachable while it is down,
and the run goes on once it is back (with ``--live-restore``, as tests/docker_setup.sh starts it,
the stage finishes; without, it ends lost with the reason) — never stuck, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from docker_support import goldfish, project_containers, settled_run, use_docker_profile
from goldfish.project import Project
from goldfish.runs.records import get_run
from goldfish.testing.projects import CHAIN, make_project
from goldfish_docker import engine

ROOT = Path(__file__).resolve().parents[2]
SLEEPY = {**CHAIN, "modules/prepare.py": """
    import time
    from goldfish import io
    print("prepare started", flush=True)
    time.sleep(8)
    io.save_output("data", {"xs": list(range(io.config()["n"]))})
"""}


def _dockerd() -> tuple[int, list[str]]:
    pid = int(Path("/var/run/docker.pid").read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return pid, [part.decode() for part in cmdline if part]


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rfind(")") + 2] == "Z":
            return
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.1)


def _start(cmdline: list[str], log: Path) -> None:
    """Start dockerd again with its old command line (a few attempts: a just-killed engine's
    containerd may still be letting go of its socket)."""
    for _ in range(3):
        Path("/var/run/docker.pid").unlink(missing_ok=True)  # the stopped engine's
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmdline, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        deadline = time.monotonic() + 45
        while proc.poll() is None and time.monotonic() < deadline:
            if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
                engine._client.cache_clear()
                return
            time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        time.sleep(2)
    raise AssertionError(f"dockerd did not come back; see {log}")


def test_engine_restarted_mid_run_the_run_ends_with_the_reason(
        tmp_path: Path, docker_base_image: str) -> None:
    root = make_project(tmp_path, SLEEPY).root
    use_docker_profile(root, docker_base_image)
    goldfish("run", "w1", cwd=root)  # launches, returns
    deadline = time.monotonic() + 60
    while not any("prepare started" in p.read_text() for p in
                  (root / ".goldfish" / "runs").glob("*/prepare/log.txt")):
        goldfish("runs", cwd=root)
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.2)
    pid, cmdline = _dockerd()
    live_restore = bool(engine.client().info().get("LiveRestoreEnabled"))
    try:
        # the engine stops; the container (its shim) lives on: with live-restore a clean stop
        # leaves containers running, without it only a crash does
        os.kill(pid, signal.SIGTERM if live_restore else signal.SIGKILL)
        _wait_gone(pid, 60)
        # whoever holds the run says so: this command when it advances the run, else the run's
        # driver in its log (a command does not act on a run whose driver is alive)
        said = ""
        deadline = time.monotonic() + 30
        while "not reachable" not in said and time.monotonic() < deadline:
            down = goldfish("runs", cwd=root)
            assert "Traceback" not in down.stderr
            said = down.stderr + "".join(
                p.read_text() for p in (root / ".goldfish" / "runs").glob("*/driver.log"))
            time.sleep(0.5)
        assert "Docker engine" in said and "not reachable" in said, said
        assert "Traceback" not in said, said
        assert get_run(Project.find(explicit=str(root)), "latest").active
    finally:
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            _start(cmdline, tmp_path / "dockerd.log")
    run = settled_run(root)  # any later command reconciles: here, `goldfish runs`
    prepare = run.stages[0]
    if live_restore:  # tests/docker_setup.sh starts dockerd so
        # the container lived through the restart: the run resumed and finished
        assert run.state == "done", [(s.stage, s.state, s.error) for s in run.stages]
    else:
        # the restarted engine stopped the container it found running (SIGTERM through --init):
        # the stage is lost with what happened, and its consumers are skipped
        assert run.state == "lost" and prepare.state == "lost", run.state
        assert "stopped from outside" in (prepare.error or ""), prepare.error
        assert [s.state for s in run.stages[1:]] == ["skipped", "skipped"]
    assert project_containers(root) == []
