"""Waiting for a run to change, without sleeping through the change.

Between two looks at a run (:meth:`goldfish.runs.engine.Engine.advance`) a waiter blocks on the
events it already has instead of sleeping a fixed delay:

* when it just acted on the run, on its jobs: a backend that implements
  :class:`goldfish.compute.WaitsForJobs` wakes it the moment a stage ends (the local backend waits
  on the supervisors' pidfds) or its metrics grow; other backends are looked at every
  ``timeout`` seconds (the slow fallback poll);
* when another process holds the run's lease (a run's driver, a reconcile pass, ``cancel``), on
  the database: ``PRAGMA data_version`` changes whenever another connection commits, so the waiter
  wakes on the other process's next transition and looks again.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldfish.compute import Handle
    from goldfish.runs.engine import Engine

#: How often the database's change counter is read while another process acts on the run.
DB_SLICE = 0.01
#: Several backends at once (or none with handles yet): each is waited on this long in turn.
MIXED_SLICE = 0.05


def wait_for_change(engine: Engine, run_id: str, acted: bool, timeout: float,
                    since: int | None = None) -> None:
    """Return when ``run_id`` may have changed, or after ``timeout`` seconds.

    ``acted``: whether this process just advanced the run (else another one holds its lease);
    ``since``: :func:`data_version` read before that attempt, so a commit made meanwhile by the
    other process is not missed."""
    if timeout <= 0:
        return
    if not acted:
        wait_for_commit(engine.project, timeout, since)
        return
    from goldfish.compute import Handle, WaitsForJobs

    jobs: dict[str, list[Handle]] = defaultdict(list)
    for row in engine.project.db.query(
            "SELECT profile, handle FROM stage_runs WHERE run_id = ? AND handle IS NOT NULL AND "
            "state IN ('preparing', 'running')", (run_id,)):
        jobs[str(row["profile"])].append(Handle.from_json(json.loads(row["handle"])))
    if not jobs:  # nothing launched to wait on (e.g. a stage mid-launch elsewhere)
        wait_for_commit(engine.project, min(timeout, MIXED_SLICE), since)
        return
    waiters: list[tuple[Any, list[Handle]]] = []
    for profile, handles in jobs.items():
        backend = engine.backend_for(profile)
        waiters.append((backend if isinstance(backend, WaitsForJobs) else None, handles))
    if len(waiters) == 1:
        backend, handles = waiters[0]
        if backend is not None:
            backend.wait_any(handles, timeout)
        else:
            time.sleep(timeout)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for backend, handles in waiters:
            step = min(MIXED_SLICE, max(0.0, deadline - time.monotonic()))
            began = time.monotonic()
            if backend is not None:
                backend.wait_any(handles, step)
                if time.monotonic() - began < step * 0.9:
                    return  # woke early: something happened
            else:
                time.sleep(step)


def wait_for_commit(project: Any, timeout: float, since: int | None = None) -> None:
    """Return once another connection commits to the project's database (after ``since``, a
    :func:`data_version` value, when given), or after ``timeout``."""
    deadline = time.monotonic() + timeout
    first = data_version(project) if since is None else since
    while True:
        if data_version(project) != first:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(DB_SLICE, left))


def data_version(project: Any) -> int:
    """SQLite's change counter of this thread's connection: it moves when another connection
    commits."""
    row = project.db.one("PRAGMA data_version")
    return int(row[0]) if row is not None else 0
