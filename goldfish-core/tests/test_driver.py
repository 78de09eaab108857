"""A run finishes with nobody watching: `goldfish run` (no --wait) starts a detached driver that
takes the run to its end; a killed driver is replaced by the next Goldfish process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from goldfish import hookimpl
from goldfish.builtins.local_compute import _is_alive
from goldfish.project import Project
from goldfish.runs import driver, lease
from goldfish.runs.engine import Engine
from goldfish.runs.records import transitions
from runs_support import GOLDFISH, cli_env, cli_process, edit, wait_for

GATED_PREPARE = """
    import pathlib, time
    from goldfish import io
    deadline = time.time() + 60
    while not pathlib.Path({gate!r}).exists() and time.time() < deadline:
        time.sleep(0.05)
    io.save_output("data", {{"xs": [1, 2, 3]}})
    print("prepared")
"""



def read_only(project: Project, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    """The database read with plain sqlite3: no Goldfish code runs in the test process."""
    conn = sqlite3.connect(f"file:{project.root / '.goldfish' / 'goldfish.db'}?mode=ro",
                           uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def run_state(project: Project, run_id: str) -> str:
    return str(read_only(project, "SELECT state FROM runs WHERE id = ?", (run_id,))[0][0])


def driver_record(project: Project, run_id: str) -> dict[str, object] | None:
    try:
        return json.loads((project.runs_dir / run_id / "driver.json").read_text())
    except (OSError, ValueError):
        return None


def test_a_run_started_without_wait_reaches_done_with_no_goldfish_process_alive(
        project: Project) -> None:
    started = cli_process(project, "run", "w1")
    assert started.code == 0, started.err
    run_id = started.out.split()[1]
    # from here on only the database and files are read: no command, no reconcile pass
    wait_for(lambda: run_state(project, run_id) in ("done", "failed", "lost"), 120,
             "the run to end on its own")
    assert run_state(project, run_id) == "done"
    stages = read_only(project, "SELECT stage, state FROM stage_runs WHERE run_id = ? "
                                "ORDER BY position", (run_id,))
    assert stages == [("prepare", "done"), ("train", "done"), ("evaluate", "done")]
    log = (project.runs_dir / run_id / "driver.log").read_text()
    assert f"drives {run_id}" in log
    wait_for(lambda: f"run {run_id} ended done" in (
        project.runs_dir / run_id / "driver.log").read_text(), 30, "the driver to log the end")
    wait_for(lambda: driver_record(project, run_id) is None, 30, "the driver to exit")
    assert not read_only(project, "SELECT * FROM leases")  # nothing left held


def test_every_installed_plugin_loaded_and_one_with_a_hook_typo_still_drives_the_run(
        project: Project) -> None:
    """As a user's `goldfish run` loads plugins: no allow-list. This environment installs the
    `typos` plugin, which is registered as a stand-in keeping its valid hooks; the driver must
    still start (it loads the same plugins, and makes the same stand-in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    started = subprocess.run([GOLDFISH, "--project", str(project.root), "run", "w1"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.split()[1]
    wait_for(lambda: run_state(project, run_id) in ("done", "failed", "lost"), 120,
             "the run to end on its own")
    assert run_state(project, run_id) == "done"
    assert f"drives {run_id}" in (project.runs_dir / run_id / "driver.log").read_text()


def test_a_killed_driver_is_replaced_by_the_next_goldfish_process(project: Project,
                                                                  tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", GATED_PREPARE.format(gate=str(gate)))
    started = cli_process(project, "run", "w1")
    assert started.code == 0, started.err
    run_id = started.out.split()[1]
    first = wait_for(lambda: driver_record(project, run_id), 60, "the driver to start")
    assert isinstance(first, dict)
    os.kill(int(first["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    wait_for(lambda: not _is_alive(first["pid"], first["start_time"], first["boot_id"]), 30,
             "the driver to die")
    gate.write_text("go")
    time.sleep(1.0)  # the stage ends; nobody drives the run now
    assert run_state(project, run_id) == "running"

    assert cli_process(project, "runs").code == 0  # any command: its reconcile pass takes over
    wait_for(lambda: run_state(project, run_id) == "done", 120, "the run to end on its own")
    second = (project.runs_dir / run_id / "driver.log").read_text()
    assert second.count(f"drives {run_id}") == 2, second  # a new driver was started
    prepare = [t["to_state"] for t in transitions(project, run_id) if t["stage"] == "prepare"]
    assert prepare == ["queued", "preparing", "running", "finishing", "done"]


def test_a_live_driver_is_left_alone_and_only_one_drives(project: Project,
                                                         tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", GATED_PREPARE.format(gate=str(gate)))
    run_id = Engine(project).run("w1")
    record = wait_for(lambda: driver_record(project, run_id), 60, "the driver to start")
    assert isinstance(record, dict)
    assert driver.alive(project, run_id)
    assert driver.start(project, run_id) is None  # one is alive: no second one
    assert cli_process(project, "runs").code == 0
    assert driver.drive(project, run_id) == "driven elsewhere"  # a racing second driver quits
    assert driver_record(project, run_id) == record
    gate.write_text("go")
    wait_for(lambda: run_state(project, run_id) == "done", 120, "the run to end")
    log = (project.runs_dir / run_id / "driver.log").read_text()
    assert log.count(f"drives {run_id}") == 1, log


class Recorder:
    def __init__(self) -> None:
        self.finished: list[str] = []

    @hookimpl
    def on_run_finished(self, project: object, run: object) -> None:
        self.finished.append(str(getattr(run, "id", "")))


def test_no_driver_when_a_plugin_lives_only_in_this_process(project: Project,
                                                             register_goldfish_plugin) -> None:
    assert project.plugins.child_allow_list() == ""  # built-ins only: a child can match it
    recorder = Recorder()
    register_goldfish_plugin(recorder, name="recorder")
    assert project.plugins.child_allow_list() is None  # a child could not load this object
    run_id = Engine(project).run("w1")
    assert not (project.runs_dir / run_id / "driver.log").exists()
    assert Engine(project).wait(run_id, timeout=60) == "done"
    assert recorder.finished == [run_id]  # its hooks ran, here


def test_drivers_can_be_turned_off(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLDFISH_NO_DRIVER", "1")
    run_id = Engine(project).run("w1")
    assert driver.start(project, run_id) is None
    assert not (project.runs_dir / run_id / "driver.log").exists()
    assert Engine(project).wait(run_id, timeout=60) == "done"


def test_a_zombie_holder_does_not_hold_a_lease(project: Project) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{child.pid}/stat")
    wait_for(lambda: stat.read_text().split(") ")[1][0] == "Z", 30,
             "the child to exit (unreaped)")
    holder = f"{lease.new_holder().split(':')[0]}:{child.pid}:tok"
    with project.db.tx() as conn:
        conn.execute("INSERT INTO leases (name, holder, expires_at) VALUES ('x', ?, ?)",
                     (holder, time.time() + 60))
    assert not lease.busy(project, "x")
    child.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_wait_hands_the_run_to_a_driver(project: Project, tmp_path: Path,
                                                           sig: signal.Signals) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", GATED_PREPARE.format(gate=str(gate)))
    proc = subprocess.Popen([GOLDFISH, "--project", str(project.root), "run", "w1", "--wait"],
                    env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: read_only(project, "SELECT state FROM stage_runs WHERE stage = "
                                            "'prepare'") == [("running",)], 60, "prepare")
        run_id = str(read_only(project, "SELECT id FROM runs")[0][0])
        assert driver_record(project, run_id) is None  # --wait drives it itself
        proc.send_signal(sig)
        out, _err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "goes on" in out
    wait_for(lambda: driver_record(project, run_id), 60, "a driver to take over")
    gate.write_text("go")
    wait_for(lambda: run_state(project, run_id) == "done", 120, "the run to end on its own")


def test_stop_drivers_leaves_no_driver_behind(project: Project, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", GATED_PREPARE.format(gate=str(gate)))
    run_id = Engine(project).run("w1")
    record = wait_for(lambda: driver_record(project, run_id), 60, "the driver to start")
    assert isinstance(record, dict)
    assert driver.stop_drivers([tmp_path]) == [record["pid"]]
    assert not _is_alive(record["pid"], record["start_time"], record["boot_id"])
    assert not driver.alive(project, run_id)  # a dead holder holds nothing
    gate.write_text("go")


def test_a_long_wait_starts_the_driver_too_and_both_act_safely(project: Project,
                                                               tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", GATED_PREPARE.format(gate=str(gate)))
    engine = Engine(project)
    run_id = engine.run("w1", detach=False)
    assert engine.wait(run_id, timeout=0.5, detach_after=0.0) == "running"
    wait_for(lambda: driver_record(project, run_id), 60, "the driver started by the wait")
    gate.write_text("go")
    assert engine.wait(run_id, timeout=120) == "done"  # the waiter and the driver share it
    for stage in ("prepare", "train", "evaluate"):
        launched = [t for t in transitions(project, run_id)
                    if t["stage"] == stage and t["to_state"] == "running"]
        assert len(launched) == 1
