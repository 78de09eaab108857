"""Waiting wakes on events (a stage's exit, a metrics flush, another process's commit), not on a
growing sleep: a waiter looks at a run when something happened, and the slow poll is only a
fallback."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from goldfish.builtins.local_compute import LocalBackend
from goldfish.compute import Job, Resources, WaitsForJobs
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.runs.waiting import wait_for_commit
from runs_support import edit

GATED = """
import pathlib, sys, time
deadline = time.time() + 60
while not pathlib.Path(sys.argv[1]).exists() and time.time() < deadline:
    time.sleep(0.02)
"""
FALLBACK = 60.0  # a poll this slow would make every test here time out: only events wake


def launch(tmp_path: Path, script: str, *args: str) -> tuple[LocalBackend, object]:
    job_dir = tmp_path / "job"
    (job_dir / "code").mkdir(parents=True)
    (job_dir / "code" / "main.py").write_text(script)
    backend = LocalBackend(tmp_path)
    handle = backend.launch(Job(job_id="j", run_id="r", stage="s", job_dir=job_dir,
                                command=[sys.executable, "main.py", *args], env={},
                                profile="local", resources=Resources()))
    return backend, handle


def later(seconds: float, action: object) -> threading.Thread:
    def go() -> None:
        time.sleep(seconds)
        action()  # type: ignore[operator]

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def test_the_local_backend_wakes_a_waiter_when_a_job_ends(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    backend, handle = launch(tmp_path, GATED, str(gate))
    assert isinstance(backend, WaitsForJobs)
    opener = later(0.5, gate.touch)
    began = time.monotonic()
    backend.wait_any([handle], FALLBACK)  # type: ignore[list-item]
    assert time.monotonic() - began < FALLBACK / 2  # woken by the exit, not the timeout
    opener.join()
    end = time.monotonic() + 10
    while not backend.poll(handle).final and time.monotonic() < end:  # type: ignore[arg-type]
        time.sleep(0.01)
    assert backend.poll(handle).state == "exited"  # type: ignore[arg-type]


def test_the_local_backend_wakes_a_waiter_when_metrics_are_flushed(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    backend, handle = launch(tmp_path, GATED, str(gate))
    job_dir = tmp_path / "job"
    writer = later(0.3, lambda: (job_dir / "metrics.jsonl").write_text(
        '{"n": "loss", "v": 1.0, "s": 0, "t": 0}\n'))
    began = time.monotonic()
    backend.wait_any([handle], FALLBACK)  # type: ignore[list-item]
    assert time.monotonic() - began < FALLBACK / 2
    assert backend.poll(handle).state in ("pending", "running")  # type: ignore[arg-type]
    writer.join()
    gate.touch()


def test_a_waiter_wakes_when_another_process_commits(project: Project) -> None:
    path = project.root / ".goldfish" / "goldfish.db"

    def commit() -> None:
        conn = sqlite3.connect(path, timeout=30)
        with conn:
            conn.execute("INSERT INTO leases (name, holder, expires_at) VALUES ('n', 'h', 0)")
        conn.close()

    writer = later(0.3, commit)
    began = time.monotonic()
    wait_for_commit(project, FALLBACK)
    assert time.monotonic() - began < FALLBACK / 2
    writer.join()


def test_wait_looks_at_a_run_when_something_happened_not_on_a_timer(project: Project,
                                                                     tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", f"""
        import pathlib, time
        from goldfish import io
        deadline = time.time() + 60
        while not pathlib.Path({str(gate)!r}).exists() and time.time() < deadline:
            time.sleep(0.02)
        io.save_output("data", {{"xs": [1, 2]}})
    """)
    engine = Engine(project)
    looks: list[float] = []
    advance = engine.advance

    def counted(run_id: str) -> bool:
        looks.append(time.monotonic())
        return advance(run_id)

    engine.advance = counted  # type: ignore[method-assign]
    run_id = engine.run("w1", detach=False)
    opened = later(1.5, gate.touch)
    assert engine.wait(run_id, poll=FALLBACK, timeout=120) == "done"
    opened.join()
    gate_opened = looks[0] + 1.5
    held = [t for t in looks[1:] if t < gate_opened - 0.1]
    assert len(held) <= 1, f"{len(held)} looks while the only stage was held on its gate"
    assert len(looks) <= 12  # one per event: launches, exits, the end


def test_wait_shows_every_transition_when_another_process_ends_the_run(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's driver may end the run between two reads of the waiter: every transition up to
    the end is still shown (the waiter reads the state before the transitions)."""
    waiter, driver = Engine(project), Engine(project)
    run_id = waiter.run("w1", detach=False)
    monkeypatch.setattr(waiter, "advance", lambda run_id: False)  # only the driver acts
    real_query = project.db.query
    ended: list[str] = []
    acting = threading.Event()

    def query(sql: str, params: object = ()) -> list[sqlite3.Row]:
        rows = real_query(sql, params)
        if sql.startswith("SELECT id, stage, to_state") and not acting.is_set():
            acting.set()
            ended.append(driver.wait(run_id))  # the driver ends the run right after this read
        return rows

    monkeypatch.setattr(project.db, "query", query)
    shown: list[tuple[str, str]] = []
    assert waiter.wait(run_id, on_progress=lambda p: shown.append((p.stage, p.state))) == "done"
    assert ended == ["done"]
    assert ("evaluate", "done") in shown and shown[-1] == ("", "done")
