"""Relaunching a stage ended by preemption, within a retry budget.

A stage whose job ends with cause ``preempted`` goes back to ``preparing`` (a transition whose
reason says ``relaunched after preemption (attempt N of M)``, so the run record shows every
attempt) and is launched again with a new job id (``<run>.<stage>.attemptN``), so a backend that is idempotent
per job id starts a fresh worker. Checkpoints live under a prefix per run and stage
(:func:`goldfish.runs.staging.checkpoint_prefix`), so ``io.load_checkpoint`` in the relaunched
stage returns the last one. The budget is the stage's ``retries`` key, else the profile's
``max_retries``, else :data:`DEFAULT_RETRIES`; user-code failures are never retried.

For a backend that shares the filesystem the job directory is the storage: a relaunch removes
its launch lock so the engine prepares it again, and :func:`set_aside` / :func:`put_back` carry
``checkpoints/`` and the metric stream (up to the newest checkpoint's step) across that.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
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
    return job_id(run_id, stage, attempts(project, run_id, stage) + 1)


def budget(project: Any, row: Any) -> int:
    """Relaunches the stage may have: its ``retries:`` in pipeline.yaml (kept in the stage's
    spec), else its profile's ``max_retries``, else :data:`DEFAULT_RETRIES`."""
    spec = json.loads(row["spec"] or "{}")
    retries = spec.get("retries")
    if isinstance(retries, int) and not isinstance(retries, bool):
        return retries
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
    if backend.capabilities.shares_filesystem:
        job_dir = project.runs_dir / run_id / stage
        (job_dir / "launch.lock").unlink(missing_ok=True)  # the engine prepares it again
    with project.tx() as conn:
        states.set_stage_state(conn, run_id, stage, "preparing",
                               f"{REASON} (attempt {done + 2} of {allowed + 1})",
                               handle=None, metrics_offset=0, metrics_state=None,
                               heartbeat_at=None)
    return True


def newest_checkpoint_step(checkpoints: Path) -> int | None:
    steps = []
    for record in checkpoints.glob("*/latest.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            steps.append(int(json.loads(record.read_text(encoding="utf-8"))["step"]))
    return max(steps) if steps else None


def metrics_up_to(text: str, step: int) -> str:
    """The lines of a ``metrics.jsonl`` whose step is at most ``step`` (unstepped lines stay)."""
    kept = []
    for line in text.splitlines():
        try:
            point = json.loads(line)
            at = point.get("s", point.get("step"))
        except (ValueError, AttributeError):
            continue
        if at is None or int(at) <= step:
            kept.append(line + "\n")
    return "".join(kept)


def set_aside(job_dir: Path) -> Path | None:
    """Before a job directory is prepared again: move its checkpoints (and the metric stream up
    to the newest checkpoint) next to it; returns where, or None when there are none."""
    checkpoints = job_dir / "checkpoints"
    step = newest_checkpoint_step(checkpoints)
    if step is None:
        return None
    aside = job_dir.parent / f".{job_dir.name}.resume"
    if aside.exists():
        shutil.rmtree(aside)
    aside.mkdir(parents=True)
    checkpoints.rename(aside / "checkpoints")
    with contextlib.suppress(OSError):
        text = (job_dir / "metrics.jsonl").read_text(encoding="utf-8")
        (aside / "metrics.jsonl").write_text(metrics_up_to(text, step), encoding="utf-8")
    return aside


def put_back(job_dir: Path, aside: Path | None) -> None:
    """Restore what :func:`set_aside` kept into the freshly prepared job directory."""
    if aside is None:
        return
    for name in ("checkpoints", "metrics.jsonl"):
        if (aside / name).exists():
            (aside / name).rename(job_dir / name)
    shutil.rmtree(aside, ignore_errors=True)

