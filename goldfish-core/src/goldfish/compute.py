"""The compute backend contract: typed, backend-agnostic.

The run engine prepares a *job directory* (see ``docs/architecture.md`` § "Job directory") and hands
a :class:`Job` to a backend. The backend makes that directory exist where the stage runs, runs the
stage command there detached from the caller, and brings back ``outputs/``, ``metrics.jsonl``,
``log.txt`` and the exit record. The engine branches on :class:`Capabilities`, never on a backend's
name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

#: ``pending``: accepted, not yet running (queued, booting a VM, pulling an image).
#: ``running``: the stage process is alive.
#: ``exited``: the process ended; ``exit_code`` and ``cause`` say how.
#: ``lost``: nobody can tell what happened (supervisor vanished, VM gone, no exit record).
JobState = Literal["pending", "running", "exited", "lost"]

#: Why a job ended other than by a normal exit: set with ``exited`` or ``lost``.
Cause = Literal["preempted", "oom", "timeout", "cancelled", "killed", "lost", "error"]


@dataclass(frozen=True)
class Resources:
    cpus: float | None = None
    memory_gb: float | None = None
    gpu_type: str | None = None
    gpu_count: int = 0  # -1: all the host has
    spot: bool = False
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class Capabilities:
    gpu: bool = False
    spot: bool = False
    live_logs: bool = True
    detached: bool = True  # the job outlives the process that launched it
    shares_filesystem: bool = False  # the job dir is on the caller's disk (no staging needed)


@dataclass(frozen=True)
class Job:
    """Everything a backend needs to run one stage of one run.

    ``job_dir`` is a local directory the engine prepared: ``job.json``, ``code/`` (the exported
    snapshot), ``inputs/`` (materialized inputs, or ``input_uris`` for the backend to fetch). The
    backend runs ``command`` with ``cwd = job_dir/code`` and ``env`` (plus ``GOLDFISH_JOB_DIR``
    pointing at wherever the job dir lives on the worker).
    """

    job_id: str
    run_id: str
    stage: str
    job_dir: Path
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    input_uris: dict[str, str] = field(default_factory=dict)
    output_uri: str | None = None
    profile: str = "local"
    resources: Resources = field(default_factory=Resources)
    profile_config: dict[str, Any] = field(default_factory=dict)
    image: str | None = None  # the profile's container or VM image, for backends that use one


@dataclass(frozen=True)
class Handle:
    """A backend's JSON-serializable reference to a launched job, persisted in the run record."""

    backend: str
    job_id: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Handle:
        return cls(backend=raw["backend"], job_id=raw["job_id"], data=dict(raw.get("data", {})))


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    exit_code: int | None = None
    cause: Cause | None = None
    message: str | None = None
    heartbeat_at: float | None = None  # unix time of the stage's last io.heartbeat()/metric
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def final(self) -> bool:
        return self.state in ("exited", "lost")


@dataclass(frozen=True)
class LogChunk:
    text: str
    cursor: int  # pass back to continue after this chunk
    complete: bool = False  # the job has exited and no more text will come


@runtime_checkable
class ComputeBackend(Protocol):
    """What every compute backend implements. Instances are built per project:
    ``factory(project_root: Path, config: dict)``.
    """

    name: str
    capabilities: Capabilities

    def launch(self, job: Job) -> Handle:
        """Start the job detached and return at once. Idempotent per ``job.job_id``."""

    def poll(self, handle: Handle) -> JobStatus:
        """Current state. Never raises for a vanished job: that is ``lost`` with a message."""

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        """Log text from ``cursor`` (byte offset), or the last ``tail`` lines."""

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        """Ask the job to stop (``stop`` file → SIGTERM → SIGKILL after the grace). Idempotent."""

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        """Bring the job's results (outputs/, metrics.jsonl, log.txt, exit.json, error.json) into
        the local ``job_dir``. A no-op for backends that share the filesystem."""

    def release(self, handle: Handle) -> None:
        """Free everything the job held (processes, containers, VMs back to a pool). Idempotent."""

    # Optional: ``runtime_identity(image: str | None) -> str | None`` — what the stage's software
    # environment *is* (a container image's id, not its tag). When a backend class defines it,
    # its answer replaces the profile's ``image`` in every stage's cache key (runs/plan.py), so
    # rebuilding an image under the same tag invalidates the stages that ran on it.
