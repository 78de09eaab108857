"""The compute backend contract: typed, backend-agnostic (public API, see docs/plugins.md).

The run engine prepares a *job directory* (see ``docs/architecture.md`` § "Job directory") and hands
a :class:`Job` to a backend. The backend makes that directory exist where the stage runs, runs the
stage command there detached from the caller, and brings back ``outputs/``, ``metrics.jsonl``,
``log.txt`` and the exit record. The engine branches on :class:`Capabilities`, never on a backend's
name.

Lifecycle: ``launch`` (idempotent per job id) → ``poll`` on every engine tick, from any process and
any fresh backend instance (the :class:`Handle` is all there is: no job state in memory) → when
final, ``fetch`` then ``release``. A run being cancelled gets ``cancel`` on every tick until
``poll`` is final. How the engine classifies a :class:`JobStatus`:

* ``exited`` with ``exit_code == 0`` → the outputs are checked (``done`` or ``failed``);
* ``exited`` with another code → ``failed``;
* ``exit_code is None`` or ``cause`` in ``killed``/``lost``/``preempted``, or ``lost`` → ``lost``;
* a cancelled run with ``cause == "cancelled"`` or a non-zero code → ``cancelled``.

A process ended by a signal has no exit code (``exit_code=None``, the signal in ``message``); 143
is the stage's own exit after SIGTERM. Never report 0 for an exit you did not see. The conformance
suite :class:`goldfish.testing.contracts.ComputeBackendContract` checks all of this.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

#: ``pending``: accepted, not yet running (queued, booting a VM, pulling an image).
#: ``running``: the stage process is alive.
#: ``exited``: the process ended; ``exit_code`` and ``cause`` say how.
#: ``lost``: nobody can tell what happened (supervisor vanished, VM gone, no exit record).
JobState = Literal["pending", "running", "exited", "lost"]

#: Why a job ended other than by a normal exit: set with ``exited`` or ``lost``.
#: ``cancelled``: after a stop/cancel request, however it then ended. ``timeout``: it overran
#: ``Resources.timeout_seconds``. ``killed``: a signal the backend did not send. ``oom``: killed
#: for memory. ``preempted``: spot capacity taken back. ``lost``: the wrapper (supervisor, worker,
#: VM) vanished without an exit record. ``error``: the command could not be started.
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
    """What a backend can do; the engine branches on these, never on the backend's name.

    ``detached``: launch returns at once and the job outlives its launcher (else launch blocks
    until the job ended; the suite then skips tests that need a running job).
    ``shares_filesystem``: the job runs in the engine's own job directory. The engine then runs
    the stage with its own interpreter (``sys.executable``, else ``python`` on the worker's
    ``PATH``), writes the ``stop`` file itself and escalates with ``cancel`` after the grace
    (else it calls ``cancel(handle, grace)`` once and the backend delivers the stop and
    escalates), and expects ``fetch`` to have nothing to copy.
    ``live_logs``: ``logs`` has text while the job runs. ``gpu``, ``spot``: what the backend can
    provide. These three are not consulted by the engine today.
    """

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
    backend runs ``command`` with ``cwd = job_dir/code``.

    ``env`` is the profile's ``env:`` mapping. The stage gets exactly that plus what the backend
    adds: ``GOLDFISH_JOB_DIR`` (wherever the job dir lives on the worker), a ``PYTHONPATH`` that
    makes ``python -m goldfish._stage`` importable (put in front of ``env``'s own), and the basics
    (``PATH``, ``HOME``, ``LANG``, ``PYTHONUNBUFFERED=1``). Never the caller's environment: its
    credentials must not reach stage code.
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
        """Start the job detached and return at once (``detached=False``: after it ended).
        Idempotent per ``job.job_id``: a second launch returns the first handle and never runs
        the stage twice."""

    def poll(self, handle: Handle) -> JobStatus:
        """Current state, from the handle alone (a fresh instance or process must work). Never
        raises for a vanished job or a garbage handle: that is ``lost`` with a message. A job
        whose wrapper vanished without an exit record is ``lost``, never a normal exit."""

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        """Log text from ``cursor`` (byte offset), or the last ``tail`` lines. A chunk never
        splits a UTF-8 character: its cursor stops before an incomplete one."""

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        """End the job: ``stop`` now, SIGTERM now, SIGKILL after the grace; cause
        ``cancelled``. Called on every tick while a run is cancelled: a repeated call must not
        restart the grace. A no-op once the job ended."""

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        """Bring the job's results (outputs/, metrics.jsonl, log.txt, exit.json, error.json) into
        the local ``job_dir``. A no-op for backends that share the filesystem."""

    def release(self, handle: Handle) -> None:
        """Free everything the job held (processes, containers, VMs back to a pool). Idempotent."""

    # Optional: ``preflight(profile: str) -> None`` — raise a GoldfishError when no stage can
    # run on ``profile`` now (a stub; a prerequisite checked cheaply, without network). Asked
    # before a run's snapshot for each profile its pipeline names (runs/preflight.py).
    # Optional: ``runtime_identity(image: str | None) -> str | None`` — what the stage's software
    # environment *is* (a container image's id, not its tag). When a backend class defines it,
    # its answer replaces the profile's ``image`` in every stage's cache key (runs/plan.py), so
    # rebuilding an image under the same tag invalidates the stages that ran on it.


@runtime_checkable
class WaitsForJobs(Protocol):
    """Optional: a backend that can block until one of its jobs may have changed.

    The run engine calls ``wait_any`` between two looks at a run instead of sleeping, so a stage
    that ends is noticed at once (the local backend waits on the supervisors' pidfds and wakes
    when a stage's metrics grow). It returns early when any job exited or may have changed, and
    at the latest after ``timeout`` seconds; spurious returns are fine (the engine just looks).
    Backends without it are polled every few tenths of a second.
    """

    def wait_any(self, handles: list[Handle], timeout: float) -> None: ...

def request_stop(backend: ComputeBackend, handle: Handle, job_dir: Path, grace: float,
                 reason: str = "stop requested") -> None:
    """Ask a stage to stop cooperatively, exactly as the run engine does.

    A backend that shares the filesystem gets a ``stop`` file in the caller's job directory (the
    stage sees it through ``io.should_stop()``; the engine escalates with ``cancel`` after the
    grace). Any other backend is asked with ``cancel(handle, grace)`` and must deliver the stop
    request to the stage first and terminate it only after ``grace`` seconds.
    """
    if not backend.capabilities.shares_filesystem:
        backend.cancel(handle, grace_seconds=grace)
        return
    tmp = job_dir / f".stop.tmp-{time.monotonic_ns()}"
    tmp.write_text(json.dumps({"reason": reason[:500], "grace_seconds": grace,
                               "at": time.time()}), encoding="utf-8")
    tmp.replace(job_dir / "stop")
    if grace <= 0:
        backend.cancel(handle, grace_seconds=0)
