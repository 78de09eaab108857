"""Runs outlive the process that launched them; any Goldfish process finishes them; leases make
sure only one process acts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from goldfish.project import Project
from goldfish.runs import lease
from goldfish.runs.engine import Engine
from goldfish.runs.reconciler import Reconciler, active_runs
from goldfish.runs.records import get_run, transitions
from runs_support import GOLDFISH, cli_env, cli_process, edit, one, wait_for

SLOW_PREPARE = """
    import pathlib, time
    from goldfish import io
    print("prepare started", flush=True)
    deadline = time.time() + 30
    while not pathlib.Path({gate!r}).exists() and time.time() < deadline:
        time.sleep(0.05)
    io.save_output("data", {{"xs": [1, 2, 3]}})
"""



def test_sigkill_of_the_launching_process_loses_nothing(project: Project,
                                                        tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", SLOW_PREPARE.format(gate=str(gate)))
    proc = subprocess.Popen([GOLDFISH, "--project", str(project.root), "run", "w1", "--wait"],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        def prepare_running() -> bool:
            rows = project.db.query("SELECT state FROM stage_runs WHERE stage = 'prepare'")
            return bool(rows) and rows[0][0] == "running"

        wait_for(prepare_running, 60, "prepare to run")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run_id = one(project, "SELECT id FROM runs")[0]
    assert one(project, "SELECT state FROM runs")[0] == "running"
    gate.write_text("go")  # the detached stage carries on without its launcher

    def finished() -> bool:
        result = cli_process(project, "runs")
        assert result.code == 0, result.err
        return one(project, "SELECT state FROM runs WHERE id = ?", (run_id,))[0] == "done"

    wait_for(finished, 60, "the run to finish through other commands")
    info = get_run(project, run_id)
    assert [s.state for s in info.stages] == ["done", "done", "done"]
    assert info.stage("prepare").outputs["data"]["digest"].startswith("sha256:")
    assert not active_runs(project)
    states = [t["to_state"] for t in transitions(project, run_id) if t["stage"] == "prepare"]
    assert states == ["queued", "preparing", "running", "finishing", "done"]


def test_a_killed_stage_process_ends_lost_with_its_cause(project: Project,
                                                         tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", SLOW_PREPARE.format(gate=str(gate)))
    engine = Engine(project)
    run_id = engine.run("w1")
    job = project.runs_dir / run_id / "prepare"

    def stage_pid() -> int | None:
        try:
            return json.loads((job / "supervisor.json").read_text()).get("stage_pid")
        except (OSError, ValueError):
            return None

    pid = wait_for(stage_pid, 30, "the stage process")
    os.kill(int(pid), signal.SIGKILL)  # type: ignore[call-overload]
    assert engine.wait(run_id, timeout=60) == "lost"
    info = get_run(project, run_id)
    prepare = info.stage("prepare")
    assert prepare.state == "lost"
    assert prepare.cause == "killed"
    assert "SIGKILL" in (prepare.error or "")
    assert info.stage("train").state == "skipped"
    assert "prepare lost" in (info.error or "")


def test_a_vanished_supervisor_means_lost_not_failed(project: Project, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", SLOW_PREPARE.format(gate=str(gate)))
    engine = Engine(project)
    run_id = engine.run("w1")
    job = project.runs_dir / run_id / "prepare"
    record = wait_for(lambda: json.loads((job / "supervisor.json").read_text())
                      if (job / "supervisor.json").exists() else None, 30, "the supervisor")
    assert isinstance(record, dict)
    os.kill(record["pid"], signal.SIGKILL)
    if record.get("stage_pid"):
        os.killpg(record["stage_pid"], signal.SIGKILL)
    assert engine.wait(run_id, timeout=60) == "lost"
    prepare = get_run(project, run_id).stage("prepare")
    assert prepare.exit_code is None
    assert "vanished" in (prepare.error or "")


def test_concurrent_advances_launch_each_stage_exactly_once(project: Project) -> None:
    engine = Engine(project)
    loaded, plan = engine.prepare("w1")
    run_id = engine._create(loaded, plan, {}, {}, [], False, (), None)
    errors: list[BaseException] = []

    def worker() -> None:
        mine = Engine(Project(project.root, project.plugins))
        try:
            for _ in range(200):
                mine.advance(run_id)
                if one(mine.project, "SELECT state FROM runs WHERE id = ?",
                                       (run_id,))[0] == "done":
                    break
                time.sleep(0.01)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
        finally:
            mine.project.db.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert engine.wait(run_id, timeout=60) == "done"
    rows = transitions(project, run_id)
    for stage in ("prepare", "train", "evaluate"):
        launched = [t for t in rows if t["stage"] == stage and t["to_state"] == "running"]
        assert len(launched) == 1
    starts = sum((project.runs_dir / run_id / s / "log.txt").read_text().count("prepared")
                 for s in ("prepare",))
    assert starts == 1


def test_a_lease_held_by_a_live_process_blocks_and_a_dead_holders_does_not(
        project: Project) -> None:
    assert lease.acquire(project, "run:x", "someone-else:1:abc", ttl=60)
    assert not lease.acquire(project, "run:x", lease.new_holder(), ttl=60)  # another host
    holder = lease.new_holder()
    host = holder.split(":")[0]
    proc = subprocess.Popen(["sleep", "30"])
    try:
        live = f"{host}:{proc.pid}:tok"
        with project.db.tx() as conn:
            conn.execute("DELETE FROM leases")
        assert lease.acquire(project, "run:y", live, ttl=60)
        assert not lease.acquire(project, "run:y", holder, ttl=60)
    finally:
        proc.kill()
        proc.wait()
    assert lease.acquire(project, "run:y", holder, ttl=60)  # its holder is dead now
    with project.db.tx() as conn:
        conn.execute("UPDATE leases SET expires_at = 0 WHERE name = 'run:x'")
    assert lease.acquire(project, "run:x", holder, ttl=60)  # expired


def test_background_reconciler_finishes_runs_nobody_waits_for(project: Project,
                                                              tmp_path: Path) -> None:
    engine = Engine(project)
    run_id = engine.run("w1", detach=False)  # no driver: the reconciler must finish it
    reconciler = Reconciler(Project(project.root, project.plugins), start_drivers=False)
    reconciler.start_background(interval=0.1)
    try:
        wait_for(lambda: one(project, "SELECT state FROM runs WHERE id = ?",
                                        (run_id,))[0] == "done", 60, "the run to finish")
    finally:
        reconciler.stop()
    assert reconciler.reconcile_once() == []


def test_a_run_whose_creator_died_before_launch_is_failed_not_stuck(project: Project) -> None:
    engine = Engine(project)
    loaded, plan = engine.prepare("w1")
    run_id = engine._create(loaded, plan, {}, {}, [], False, (), None)
    with project.db.tx() as conn:  # as if the creator died between preflight steps
        conn.execute("UPDATE runs SET state = 'preparing' WHERE id = ?", (run_id,))
    engine.advance(run_id)
    info = get_run(project, run_id)
    assert info.state == "failed"
    assert "ended before launch" in (info.error or "")
    assert {s.state for s in info.stages} == {"skipped"}


def test_the_background_reconciler_waits_its_initial_delay_and_stops_promptly(
        project: Project) -> None:
    run_id = Engine(project).run("w1", detach=False)  # launched; no driver, nobody waits
    reconciler = Reconciler(project, start_drivers=False)
    start = time.monotonic()
    reconciler.start_background(interval=0.2, initial_delay=1.0)
    time.sleep(0.5)
    assert get_run(project, run_id).state != "done"  # nobody advanced it yet
    wait_for(lambda: get_run(project, run_id).state == "done", timeout=60)
    assert time.monotonic() - start >= 1.0
    reconciler.stop(timeout=5.0)

    idle = Reconciler(project)
    idle.start_background(interval=5.0, initial_delay=30.0)
    began = time.monotonic()
    idle.stop(timeout=5.0)
    assert time.monotonic() - began < 2.0  # the delay is interruptible
