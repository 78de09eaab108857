"""Relaunching a stage ended by preemption, within a retry budget.

A stage whose job ends with cause ``preempted`` goes back to ``preparing`` (a transition whose
reason says ``relaunched after preemption (attempt N of M)``, so the run record shows every
attempt) and is launched again with a new job id (``<job>-a<N>``), so a backend that is idempotent
per job id starts a fresh worker. Checkpoints live under a prefix per run and stage
(:func:`goldfish.runs.staging.checkpoint_prefix`), so ``io.load_checkpoint`` in the relaunched
stage returns the last one. The budget is the stage's ``retries`` key, else the profile's
``max_retries``, else :data:`DEFAULT_RETRIES`; user-code failures are never retried.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from goldfish.compute import ComputeBackend, Handle, JobStatus
from goldfish.runs import states
from goldfish.runs.ids import job_id

DEFAULT_RETRIES = 3
REASON = "relaunched after preemption"


def attempts(project: Any, run_id: str, stage: str) -> int:
    """How many relaunches the stage has had so far."""
    row = project.db.one("SELECT COUNT(*) FROM transitions WHERE run_id = ? AND stage = ? AND "
                         "reason LIKE ?", (run_id, stage, f"{REASON}%"))
    return int(row[0]) if row else 0


def job_id_for(project: Any, run_id: str, stage: str) -> str:
    """The job id of the stage's current attempt (the plain id for the first)."""
    n = attempts(project, run_id, stage)
    base = job_id(run_id, stage)
    return base if n == 0 else f"{base}-a{n + 1}"


def budget(project: Any, row: Any) -> int:
    spec = json.loads(row["spec"] or "{}")
    if isinstance(spec.get("retries"), int):
        return int(spec["retries"])
    try:
        profile = project.config.profile(row["profile"])
        configured = (getattr(profile, "backend_config", {}) or {}).get("max_retries")
    except Exception:
        configured = None
    return int(configured) if isinstance(configured, int) else DEFAULT_RETRIES


def relaunch(project: Any, row: Any, backend: ComputeBackend, handle: Handle,
             status: JobStatus) -> bool:
    """Send a preempted stage back to ``preparing`` if its budget allows; True when it did."""
    if status.cause != "preempted":
        return False
    run_id, stage = row["run_id"], row["stage"]
    done = attempts(project, run_id, stage)
    allowed = budget(project, row)
    if done >= allowed:
        return False
    with contextlib.suppress(Exception):  # the VM is gone already; release is a courtesy
        backend.release(handle)
    with project.tx() as conn:
        states.set_stage_state(conn, run_id, stage, "preparing",
                               f"{REASON} (attempt {done + 2} of {allowed + 1})",
                               handle=None, metrics_offset=0, heartbeat_at=None)
    return True
