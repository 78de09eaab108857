"""Cost guard: delete compute resources that no live job owns.

A backend that can find its own resources (VMs labelled with the project) offers
``reap_orphans(live_jobs: set[str]) -> list[str]``; this module hands it the job ids of every
active stage run and returns what was deleted. Capability by method, never by backend name.
The server's background reconciler runs it every :data:`INTERVAL` seconds (listing VMs costs API
calls, so it is not part of the pass every CLI command runs).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from goldfish.runs import states

INTERVAL = 300.0


def live_jobs(project: Any) -> set[str]:
    marks = ",".join("?" * len(states.ACTIVE))
    return {str(r[0]) for r in project.db.query(
        f"SELECT job_id FROM stage_runs WHERE state IN ({marks}) AND job_id IS NOT NULL",
        states.ACTIVE)}


def reap_orphans(project: Any) -> list[str]:
    """Ask each profile's backend that can to delete what no live job owns; returns names."""
    from goldfish.runs.engine import Engine

    engine = Engine(project)
    deleted: list[str] = []
    live = live_jobs(project)
    for name in sorted(project.config.profiles):
        try:
            backend = engine.backend_for(name)
            reap = getattr(backend, "reap_orphans", None)
            if callable(reap):
                deleted += [d for d in reap(live) if d not in deleted]
        except Exception as exc:  # one unreachable cloud must not stop the others
            print(f"goldfish: warning: could not look for orphaned resources of profile "
                  f"{name}: {exc}", file=sys.stderr)
    return deleted


class Schedule:
    """Runs :func:`reap_orphans` at most every ``interval`` seconds."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.last = 0.0

    def tick(self, project: Any) -> list[str]:
        now = time.monotonic()
        if now - self.last < self.interval:
            return []
        self.last = now
        return reap_orphans(project)
