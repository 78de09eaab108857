"""The launch window: a launcher killed after taking ``launch.lock`` but before starting the
supervisor leaves a stage that the next process launches, never one recorded as launched and
later as "supervisor vanished"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from goldfish.builtins import _supervisor as sup
from goldfish.builtins.local_compute import LocalBackend
from goldfish.compute import Job, Resources
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run, transitions
from runs_support import cli_env

DIE_AFTER_LOCK = """
    import os, signal, sys
    from goldfish.builtins.local_compute import LocalBackend
    from goldfish.project import Project
    from goldfish.runs.engine import Engine

    def die(*args, **kwargs):  # the launcher is killed between the lock and the supervisor
        os.kill(os.getpid(), signal.SIGKILL)

    LocalBackend._start = die
    Engine(Project.find(explicit=sys.argv[1])).advance(sys.argv[2])
"""



def test_a_launcher_killed_inside_the_launch_window_is_relaunched(project: Project) -> None:
    engine = Engine(project)
    loaded, plan = engine.prepare("w1")
    run_id = engine._create(loaded, plan, {}, {}, [], False, (), None)  # recorded, not advanced
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(DIE_AFTER_LOCK),
                           str(project.root), run_id], env=cli_env(), timeout=120)
    assert proc.returncode == -9
    job = project.runs_dir / run_id / "prepare"
    assert (job / "launch.lock").exists() and not (job / "handle.json").exists()
    assert get_run(project, run_id).stage("prepare").state == "preparing"

    assert engine.wait(run_id, timeout=60) == "done"
    prepare = [t["to_state"] for t in transitions(project, run_id) if t["stage"] == "prepare"]
    assert prepare == ["queued", "preparing", "running", "finishing", "done"]
    assert (job / "log.txt").read_text().count("prepared") == 1


def test_a_stale_lock_of_a_dead_launcher_is_taken_over(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    (job_dir / "code").mkdir(parents=True)
    (job_dir / "code" / "hello.py").write_text("print('hello once')\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (job_dir / "launch.lock").write_text(json.dumps({
        "pid": dead.pid, "start_time": 1, "boot_id": sup.boot_id(),
        "host": os.uname().nodename, "job_id": "j1"}))
    backend = LocalBackend(tmp_path)
    job = Job(job_id="j1", run_id="r", stage="s", job_dir=job_dir,
              command=[sys.executable, "hello.py"], env={}, profile="local",
              resources=Resources())
    handle = backend.launch(job)
    assert handle.data.get("pid")  # a real launch, not a pid-less placeholder
    end = time.monotonic() + 60
    while not backend.poll(handle).final and time.monotonic() < end:
        time.sleep(0.05)
    status = backend.poll(handle)
    assert status.state == "exited" and status.exit_code == 0
    assert (job_dir / "log.txt").read_text() == "hello once\n"
    again = backend.launch(job)  # the lock now names a live launch that finished: same handle
    assert again.data["pid"] == handle.data["pid"]


def test_a_second_supervisor_for_the_same_job_exits_without_running_it(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    (job_dir / "code").mkdir(parents=True)
    sup.write_json_atomic(job_dir / sup.LAUNCH_FILE, {
        "job_id": "j", "command": [sys.executable, "-c", "print('ran')"], "env": {},
        "cwd": str(job_dir / "code")})
    (job_dir / sup.CLAIM_FILE).write_text("12345\n")  # another supervisor claimed the job
    proc = subprocess.run([sys.executable, "-m", "goldfish.builtins._supervisor",
                           "--foreground", str(job_dir)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    assert "another supervisor already runs" in proc.stderr
    assert not (job_dir / sup.RECORD_FILE).exists()
    assert not (job_dir / sup.EXIT_FILE).exists()
    assert not (job_dir / "log.txt").exists()
