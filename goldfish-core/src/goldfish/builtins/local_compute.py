"""The built-in ``local`` compute backend: stages as detached processes on this machine.

``launch`` writes ``launch.json`` into the job directory and starts
``python -m goldfish.builtins._supervisor --foreground <job_dir>`` in a session of its own, so the
job outlives the process that launched it (adopted by init when the launcher ends; reaped by the
launcher while it lives). Everything after that goes through files in the job
directory, which is why any other Goldfish process can poll, read logs, cancel or release the job
from the handle alone:

``launch.lock``         exclusive-create lock: one launch per job at a time; it names the launcher
                        (pid, start time, boot id), so a launch whose launcher died before it
                        started the supervisor is taken over and launched again, never recorded
                        as launched and later found "vanished"
``handle.json``         the handle the first launch returned (later launches return it too)
``supervisor.claim``    exclusive-create by the supervisor itself: at most one supervisor runs a job
``launch.json``         command, env, cwd, timeout and grace periods for the supervisor
``supervisor.json``     supervisor pid, start time and boot id; the stage pid once started
``supervisor.heartbeat`` touched every second by the supervisor
``cancel``              a cancel request with its grace period (SIGTERM now, SIGKILL after it)
``log.txt`` ``exit.json`` ``heartbeat`` ``stop``: see docs/architecture.md "Job directory"

Liveness: a pid counts as the supervisor only while ``/proc/<pid>/stat``'s start time and the boot
id match what it recorded (pids are reused; machines restart). A supervisor that is gone without
``exit.json`` means the job is ``lost``; a short grace after launch covers a supervisor that is
still starting.

Stage environment: the stage does **not** inherit this process's environment, so credentials in
the shell that runs Goldfish never reach stage code or its logs. It gets ``PATH``, ``HOME``,
``LANG``, ``LC_ALL``, ``LC_CTYPE``, ``TZ``, ``TMPDIR``, ``USER``, ``LOGNAME`` (when set),
``PYTHONPATH`` with the directory holding the ``goldfish`` package (so ``python -m goldfish._stage``
works with any interpreter), ``PYTHONUNBUFFERED=1``, the job's ``env`` (its ``PYTHONPATH`` is put
in front), and ``GOLDFISH_JOB_DIR``. A profile may pass more variables through by name: ``env_passthrough: [CUDA_VISIBLE_DEVICES]``;
their values, like those of the profile's ``env:``, go through the supervisor's environment, never
into ``launch.json`` (which is written 0600 all the same).

Profile keys (``config``): ``env_passthrough`` (list of names), ``kill_grace_seconds`` (SIGTERM →
SIGKILL on timeout, default 10), ``stop_grace_seconds`` (a bare ``stop`` file → SIGTERM, default
30), ``startup_grace_seconds`` (how long a launched job may show no supervisor, default 30),
``simulate`` (``{preempt_after_seconds: N, preemptions: 1}``: the supervisor ends the first
attempts with cause ``preempted`` N seconds after the stage starts, like a spot VM going away;
``{zones: [a, b], refuse_zones: [a]}``: the launch searches the zones in order, each refused one
answering ZONE_RESOURCE_POOL_EXHAUSTED; the handle records ``zone`` and ``zones_tried``, and when
every zone refuses the launch raises :class:`~goldfish.errors.CapacityError`, as GCE's does).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import goldfish
from goldfish.builtins import _supervisor as sup
from goldfish.compute import Capabilities, Handle, Job, JobStatus, LogChunk
from goldfish.errors import CapacityError, GoldfishError, InvalidInputError, NotFoundError
from goldfish.runs.ids import attempt_of

CAPABILITIES = Capabilities(gpu=False, spot=False, live_logs=True, detached=True,
                            shares_filesystem=True)

INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")

LOCK_FILE = "launch.lock"
HANDLE_FILE = "handle.json"
#: What ``fetch`` copies when the caller's job directory is not the one the job ran in.
RESULTS = ("outputs", "checkpoints", "metrics.jsonl", "log.txt", "exit.json", "error.json",
           "heartbeat")
MAX_LOG_CHUNK = 4 * 1024 * 1024
#: ``wait_any`` looks at the jobs' metric files this often while it waits for an exit.
WAIT_SLICE = 0.1


def __getattr__(name: str) -> Any:
    # The pydantic model is built on first use: registering the backend (every CLI start) must
    # not import pydantic.
    if name == "LocalConfig":
        return _config_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _config_model() -> type:
    from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

    class Simulate(BaseModel):
        """Failures the local backend can rehearse."""

        model_config = ConfigDict(extra="forbid")

        preempt_after_seconds: float | None = Field(
            None, gt=0, description="the stage is preempted this long after it starts")
        preemptions: int = Field(1, ge=0, description="how many attempts are preempted")
        zones: list[str] = Field(
            default_factory=list,
            description="zones the launch searches in order, as a cloud backend would "
                        "(default: the refused zones, then `local`)")
        refuse_zones: list[str] = Field(
            default_factory=list,
            description="zones that refuse every launch for lack of capacity "
                        "(ZONE_RESOURCE_POOL_EXHAUSTED); the stage lands in the first zone "
                        "that does not refuse, and fails with a capacity error naming every "
                        "zone when all refuse")

        @field_validator("refuse_zones")
        @classmethod
        def _refused_zones_are_searched(cls, value: list[str],
                                        info: ValidationInfo) -> list[str]:
            zones = info.data.get("zones") or []
            unknown = [z for z in value if zones and z not in zones]
            if unknown:
                raise ValueError(f"refuse_zones names {', '.join(unknown)}, which zones does "
                                 f"not list ({', '.join(zones)}); add it to zones or remove it "
                                 "from refuse_zones")
            return value

    class LocalConfig(BaseModel):
        """Keys a ``backend: local`` profile accepts beyond the common ones."""

        model_config = ConfigDict(extra="forbid")

        env_passthrough: list[str] = Field(
            default_factory=list,
            description="variables of the calling environment passed to the stage by name "
                        "(stages otherwise get a minimal environment, so secrets do not leak)")
        kill_grace_seconds: float = Field(
            sup.DEFAULT_KILL_GRACE, ge=0,
            description="after a timeout's SIGTERM, seconds before SIGKILL")
        stop_grace_seconds: float = Field(
            sup.DEFAULT_STOP_GRACE, ge=0,
            description="after a cooperative stop request, seconds before the stage is terminated")
        startup_grace_seconds: float = Field(
            30.0, gt=0,
            description="seconds a just-launched job may show no supervisor before it is lost")
        simulate: Simulate | None = Field(
            None, description="rehearse cloud failures locally: `{preempt_after_seconds: 30, "
                              "preemptions: 1}` ends the first attempts as a spot preemption "
                              "would, so checkpoint/resume logic is tried before paying for a "
                              "GPU; `{zones: [a, b], refuse_zones: [a]}` rehearses the zone "
                              "search (the stage lands in b, its record lists a's refusal)")

    return LocalConfig


#: Pids of the supervisors this process started; finished ones are reaped so they do not linger
#: as zombies in a long-lived launcher (the MCP server, a run's driver).
_children: list[int] = []


def _reap() -> None:
    _children[:] = [pid for pid in _children if not _reaped(pid)]


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:  # reaped already (a Popen object of a test, say)
        return True


def _fork_supervisor(job_dir: Path, env: dict[str, str], errors: int) -> int | None:
    """Start the supervisor as a fork of this process, in a session of its own, its standard
    streams and environment those a fresh ``python -S -m goldfish.builtins._supervisor`` would
    get and every other descriptor closed: no interpreter start-up and no imports (the module is
    loaded already), ~25 ms per stage on a quiet machine and much more on a loaded one. Only
    when that is safe: a fork copies the calling thread alone, so a process running other
    threads (the MCP server's, a library's native ones) could leave a lock held forever in the
    child; it gets None and starts the supervisor with a fresh interpreter.
    ``GOLDFISH_SUPERVISOR_EXEC=1`` always does."""
    if os.environ.get("GOLDFISH_SUPERVISOR_EXEC") == "1" or not hasattr(os, "fork"):
        return None
    try:
        if len(os.listdir("/proc/self/task")) != 1:
            return None
    except OSError:  # no /proc: threads cannot be counted
        return None
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(errors, 2)
        for name in os.listdir("/proc/self/fd"):
            if int(name) > 2:
                with contextlib.suppress(OSError):
                    os.close(int(name))
        os.chdir(job_dir)
        os.environ.clear()
        os.environ.update(env)
        for signum in signal.valid_signals():  # this process's handlers are not the child's
            handler = signal.getsignal(signum)
            if callable(handler) and handler is not signal.default_int_handler:
                signal.signal(signum, signal.SIG_DFL)
        code = sup.main([str(job_dir)])
    except BaseException as exc:  # the child must never return into the caller
        with contextlib.suppress(Exception):
            os.write(2, f"supervisor (forked) failed: {exc!r}\n".encode())
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def goldfish_path_entry() -> str:
    """The ``sys.path`` entry that makes ``import goldfish`` find this very installation."""
    return str(Path(goldfish.__file__).resolve().parent.parent)


def _is_alive(pid: Any, start_time: Any, boot: Any) -> bool:
    """Is ``pid`` still the process that recorded ``start_time`` on boot ``boot``?"""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if boot is not None and sup.boot_id() not in (None, boot):
        return False
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            raw = stat.read_bytes()
        except OSError:
            return False
        state = raw[raw.rfind(b")") + 2:].split()[:1]
        if state in ([b"Z"], [b"X"]):
            return False
        return start_time is None or sup.proc_start_time(pid) == start_time
    try:  # no /proc (macOS): the pid is all we have; the heartbeat covers reuse
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pidfd(pid: Any) -> int | None:
    """A pidfd for ``pid`` (readable once it exits), or None where there are none."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class LocalBackend:
    """Runs each job as a detached, supervised process group on this machine."""

    name = "local"
    capabilities = CAPABILITIES

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        self.project_root = Path(project_root)
        config = dict(config or {})
        passthrough = config.get("env_passthrough", [])
        if not isinstance(passthrough, list | tuple) or not all(
                isinstance(n, str) for n in passthrough):
            raise InvalidInputError(f"env_passthrough must be a list of variable names, got "
                                    f"{passthrough!r}", "e.g. env_passthrough: [CUDA_VISIBLE_DEVICES]")
        self.env_passthrough = tuple(passthrough)
        self.kill_grace = float(config.get("kill_grace_seconds", sup.DEFAULT_KILL_GRACE))
        self.stop_grace = float(config.get("stop_grace_seconds", sup.DEFAULT_STOP_GRACE))
        self.startup_grace = float(config.get("startup_grace_seconds", 30.0))
        simulate = config.get("simulate") or {}
        simulate = simulate if isinstance(simulate, dict) else dict(simulate)
        self.preempt_after: float | None = simulate.get("preempt_after_seconds")
        self.preemptions = int(simulate.get("preemptions", 1))
        self.refuse_zones: list[str] = list(simulate.get("refuse_zones") or [])
        self.zones: list[str] = list(simulate.get("zones") or [])
        if self.refuse_zones and not self.zones:
            self.zones = [*self.refuse_zones, "local"]

    # --- launch -----------------------------------------------------------------------------
    def stage_env(self, job: Job) -> dict[str, str]:
        """The complete environment of the stage process (see the module docstring)."""
        env = {k: os.environ[k] for k in (*INHERITED_ENV, *self.env_passthrough)
               if k in os.environ}
        env["PATH"] = env.get("PATH", os.defpath)
        env["PYTHONUNBUFFERED"] = "1"
        env.update({str(k): str(v) for k, v in job.env.items()})
        env["GOLDFISH_JOB_DIR"] = str(job.job_dir.resolve())
        extra = job.env.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, goldfish_path_entry()) if p)
        return env

    def launch(self, job: Job) -> Handle:
        job_dir = job.job_dir.resolve()
        if not job_dir.is_dir():
            raise NotFoundError(f"job directory {job_dir} does not exist",
                                "the run engine prepares it before launching")
        if not job.command or not all(isinstance(a, str) for a in job.command):
            raise InvalidInputError(f"job {job.job_id}: command must be a non-empty list of "
                                    f"strings, got {job.command!r}")
        cwd = job_dir / "code"
        if not cwd.is_dir():
            raise NotFoundError(f"job directory {job_dir} has no code/ directory",
                                "the stage runs with cwd = <job_dir>/code; export the snapshot there")
        lock = job_dir / LOCK_FILE
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return self._existing_handle(job, job_dir)
        me = os.getpid()
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": me, "start_time": sup.proc_start_time(me), "boot_id": sup.boot_id(),
                       "host": socket.gethostname(), "job_id": job.job_id}, fh)
        try:
            return self._start(job, job_dir, cwd, self._simulated_zone(job))
        except BaseException:
            lock.unlink(missing_ok=True)  # nothing was started: a retry may launch
            raise

    def _simulated_zone(self, job: Job) -> dict[str, Any]:
        """The zone search of ``simulate: {zones, refuse_zones}``, as a cloud backend does it:
        ``{"zone": ..., "zones_tried": [...]}`` for the handle, or a :class:`CapacityError`
        listing every refusal when all zones refuse ({} when no zones are simulated)."""
        if not self.zones:
            return {}
        tried: list[str] = []
        for zone in self.zones:
            if zone not in self.refuse_zones:
                return {"zone": zone, "zones_tried": tried}
            tried.append(f"{zone} (simulated): ZONE_RESOURCE_POOL_EXHAUSTED (the profile's "
                         f"simulate.refuse_zones lists {zone})")
        raise CapacityError(
            f"no zone could start job {job.job_id} (simulated); tried: " + "; ".join(tried),
            "this is the local backend's `simulate: {refuse_zones: [...]}` in the profile; on a "
            "cloud backend: add zones, raise the quota, or allow on-demand fallback",
            zones_tried=tried)

    def _start(self, job: Job, job_dir: Path, cwd: Path,
               placement: dict[str, Any] | None = None) -> Handle:
        timeout = job.resources.timeout_seconds
        env = self.stage_env(job)
        sup_env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        sup_env["PYTHONPATH"] = goldfish_path_entry()
        # passed-through values and the profile's `env:` (often credentials: HF_TOKEN,
        # WANDB_API_KEY) reach the stage through the supervisor's environment, never through
        # launch.json, which stays on disk with the run (and is private to its owner anyway)
        passed = sorted(k for k in self.env_passthrough
                        if k not in sup_env and k in os.environ and env.get(k) == os.environ[k])
        # (not variables that would change how the supervisor's own interpreter starts)
        passed += sorted(k for k in job.env if k not in sup_env and k not in passed
                         and not k.startswith(("PYTHON", "LD_", "GOLDFISH_")))
        sup_env.update({k: env.pop(k) for k in passed})
        sup.write_json_atomic(job_dir / sup.LAUNCH_FILE, {
            "job_id": job.job_id, "command": list(job.command), "env": env,
            "env_from_supervisor": passed,
            "cwd": str(cwd), "timeout_seconds": timeout, "kill_grace_seconds": self.kill_grace,
            "stop_grace_seconds": self.stop_grace,
            "preempt_after_seconds": self.preempt_after
            if self.preempt_after and attempt_of(job.job_id) <= self.preemptions else None},
            mode=0o600, durable=False)
        launched_at = time.time()
        # Started directly in its own session (no fork-and-report round trip: the pid is known
        # at once). It outlives this process; while this process lives it reaps it (_reap).
        with open(job_dir / sup.SUPERVISOR_LOG, "ab") as errors:
            pid = _fork_supervisor(job_dir, sup_env, errors.fileno())
            if pid is None:
                try:
                    proc = subprocess.Popen(
                        [sys.executable, "-S", "-m", "goldfish.builtins._supervisor",
                         "--foreground", str(job_dir)],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                        cwd=job_dir, env=sup_env, start_new_session=True, close_fds=True)
                except OSError as exc:
                    raise GoldfishError(f"job {job.job_id}: the local supervisor could not be "
                                        f"started: {exc}", f"is {sys.executable} still there?")
                pid = proc.pid
        _reap()
        _children.append(pid)
        handle = Handle(backend=self.name, job_id=job.job_id, data={
            "job_dir": str(job_dir), "pid": pid, "start_time": sup.proc_start_time(pid),
            "boot_id": sup.boot_id(), "launched_at": launched_at, **(placement or {})})
        sup.write_json_atomic(job_dir / HANDLE_FILE, handle.to_json(), durable=False)
        return handle

    def _existing_handle(self, job: Job, job_dir: Path) -> Handle:
        """The handle of the launch that holds the lock (waiting while it writes it).

        The launch window: a launcher that died after taking the lock may have started no
        supervisor (then nobody ever will: the lock is taken over and the job launched now) or
        one that has not written its record yet (then the record, or its claim, shows up)."""
        deadline = time.monotonic() + 10.0
        while True:
            raw = sup.read_json(job_dir / HANDLE_FILE)
            if raw is not None:
                return Handle.from_json(raw)
            record = sup.read_json(job_dir / sup.RECORD_FILE)
            if record is not None:  # the supervisor runs; its launcher died before the handle
                handle = Handle(backend=self.name, job_id=job.job_id, data={
                    "job_dir": str(job_dir), "pid": record.get("pid"),
                    "start_time": record.get("start_time"), "boot_id": record.get("boot_id"),
                    "launched_at": sup.file_mtime(job_dir / LOCK_FILE) or time.time()})
                sup.write_json_atomic(job_dir / HANDLE_FILE, handle.to_json(), durable=False)
                return handle
            if self._launcher_dead(job_dir) and not (job_dir / sup.CLAIM_FILE).exists():
                stale = job_dir / f".{LOCK_FILE}.stale-{os.getpid()}-{time.monotonic_ns()}"
                try:
                    os.rename(job_dir / LOCK_FILE, stale)  # one taker wins the rename
                except FileNotFoundError:
                    continue  # another process took it over first; it launches
                stale.unlink(missing_ok=True)
                return self.launch(job)
            if time.monotonic() >= deadline:
                # A launcher still alive (or on another machine) that has not started the
                # supervisor in 10 s; polls report the job lost after the startup grace.
                return Handle(backend=self.name, job_id=job.job_id, data={
                    "job_dir": str(job_dir),
                    "launched_at": sup.file_mtime(job_dir / LOCK_FILE) or time.time()})
            time.sleep(0.02)

    def _launcher_dead(self, job_dir: Path) -> bool:
        """Is the process that took ``launch.lock`` provably gone (same host, pid not it)?"""
        raw = sup.read_json(job_dir / LOCK_FILE)
        if raw is None or raw.get("host") != socket.gethostname():
            return False  # an older lock format, or another machine: cannot tell
        if raw.get("pid") == os.getpid() and raw.get("start_time") == sup.proc_start_time(
                os.getpid()):
            return False  # our own launch (another thread) is under way
        return not _is_alive(raw.get("pid"), raw.get("start_time"), raw.get("boot_id"))

    # --- observe ----------------------------------------------------------------------------
    def _job_dir(self, handle: Handle) -> Path | None:
        raw = handle.data.get("job_dir") if isinstance(handle.data, dict) else None
        return Path(raw) if isinstance(raw, str) and raw else None

    def _job_or_lost(self, handle: Handle, foreign: str | None = None) -> Path | JobStatus:
        """The job directory a poll looks into, or the ``lost`` status of a handle this backend
        did not make (``foreign`` says what it lacks) or whose job directory is gone: the
        prologue of every poll, shared with backends built on this one."""
        job_dir = self._job_dir(handle)
        if job_dir is None or foreign is not None:
            return JobStatus("lost", cause="lost",
                             message=f"handle for job {handle.job_id!r} "
                                     f"{foreign or 'has no job directory'}; it was not made by "
                                     f"the {self.name} backend")
        if not job_dir.is_dir():
            return JobStatus("lost", cause="lost",
                             message=f"job directory {job_dir} no longer exists")
        return job_dir

    def poll(self, handle: Handle) -> JobStatus:
        job_dir = self._job_or_lost(handle)
        if isinstance(job_dir, JobStatus):
            return job_dir
        exited = self._exit_status(job_dir)
        if exited is not None:
            return exited
        record = sup.read_json(job_dir / sup.RECORD_FILE) or {}
        pid = record.get("pid", handle.data.get("pid"))
        start_time = record.get("start_time", handle.data.get("start_time"))
        boot = record.get("boot_id", handle.data.get("boot_id"))
        heartbeat = sup.file_mtime(job_dir / "heartbeat")
        started = record.get("stage_started_at")
        if _is_alive(pid, start_time, boot) and self._beating(job_dir, start_time):
            return JobStatus("running" if started else "pending", heartbeat_at=heartbeat,
                             started_at=started)
        exited = self._exit_status(job_dir)  # it may have finished between the two looks
        if exited is not None:
            return exited
        launched_at = handle.data.get("launched_at")
        if not record and not pid and isinstance(launched_at, int | float) and (
                time.time() - launched_at < self.startup_grace):
            return JobStatus("pending", message="supervisor starting")
        who = f"supervisor process {pid}" if pid else "the supervisor"
        if not record and pid:  # it never got as far as starting the stage
            try:
                tail = (job_dir / sup.SUPERVISOR_LOG).read_text(errors="replace")[-1500:]
            except OSError:
                tail = ""
            return JobStatus("lost", cause="lost", message=f"{who} ended before it started the "
                             f"stage (see {job_dir / sup.SUPERVISOR_LOG})"
                             + (f":\n{tail.strip()}" if tail.strip() else ""))
        return JobStatus("lost", cause="lost", heartbeat_at=heartbeat, started_at=started,
                         message=f"{who} vanished (killed or machine restarted) before the stage "
                                 "finished")

    def wait_any(self, handles: list[Handle], timeout: float) -> None:
        """Block until a job's supervisor exits (its pidfd becomes readable), a job's
        ``metrics.jsonl`` grows (checked every 0.1 s: metric health sees each flush), or
        ``timeout`` passes. Without pidfds (not Linux) ``exit.json`` is looked for instead."""
        deadline = time.monotonic() + max(timeout, 0.0)
        fds: list[int] = []
        watched: list[Path] = []
        try:
            for handle in handles:
                job_dir = self._job_dir(handle)
                if job_dir is None or (job_dir / sup.EXIT_FILE).exists():
                    return
                record = sup.read_json(job_dir / sup.RECORD_FILE) or {}
                pid = record.get("pid", handle.data.get("pid"))
                start = record.get("start_time", handle.data.get("start_time"))
                watched.append(job_dir)
                fd = _pidfd(pid)
                if fd is not None:
                    fds.append(fd)
                # (a pidfd is opened first and checked second: a reused pid is not waited on)
                boot = record.get("boot_id", handle.data.get("boot_id"))
                if pid is not None and not _is_alive(pid, start, boot):
                    return  # the supervisor is gone: the engine should look now
            sizes = [sup.file_size(d / "metrics.jsonl") for d in watched]
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                step = min(left, WAIT_SLICE)
                if fds and len(fds) == len(watched):
                    ready, _, _ = select.select(fds, [], [], step)
                    if ready:
                        return
                else:
                    time.sleep(step)
                    if any((d / sup.EXIT_FILE).exists() for d in watched):
                        return
                if [sup.file_size(d / "metrics.jsonl") for d in watched] != sizes:
                    return
        finally:
            for fd in fds:
                os.close(fd)

    def _beating(self, job_dir: Path, start_time: Any) -> bool:
        if start_time is not None:
            return True  # identity already proven by /proc
        beat = sup.file_mtime(job_dir / sup.HEARTBEAT_FILE)
        return beat is None or time.time() - beat < max(30.0, self.startup_grace)

    def _exit_status(self, job_dir: Path) -> JobStatus | None:
        raw = sup.read_json(job_dir / sup.EXIT_FILE)
        if raw is None:
            return None
        code = raw.get("exit_code")
        return JobStatus("exited", exit_code=code if isinstance(code, int) else None,
                         cause=raw.get("cause"), message=raw.get("message"),
                         heartbeat_at=sup.file_mtime(job_dir / "heartbeat"),
                         started_at=raw.get("started_at"), finished_at=raw.get("finished_at"))

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        job_dir = self._job_dir(handle)
        final = self.poll(handle).final
        path = job_dir / sup.LOG_FILE if job_dir else None
        try:
            fh = open(path, "rb") if path else None  # noqa: SIM115 - closed below
        except FileNotFoundError:
            fh = None
        if fh is None:
            return LogChunk("", cursor, complete=final)
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if tail is not None:
                return LogChunk(_tail(fh, size, tail), size, complete=final)
            cursor = min(max(cursor, 0), size)
            fh.seek(cursor)
            data = fh.read(min(size - cursor, MAX_LOG_CHUNK))
        end = cursor + len(data)
        last = final and end >= size
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(data, final=last)
        held = len(decoder.getstate()[0])  # an incomplete character waits for its last bytes
        return LogChunk(text, end - held, complete=last)

    # --- control ----------------------------------------------------------------------------
    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        job_dir = self._job_dir(handle)
        if job_dir is None or not job_dir.is_dir() or (job_dir / sup.EXIT_FILE).exists():
            return
        (job_dir / sup.STOP_FILE).touch()
        # Written aside and linked into place: the supervisor never reads half a request, and the
        # first request's grace wins (link fails if one exists).
        tmp = job_dir / f".cancel.tmp-{os.getpid()}-{time.monotonic_ns()}"
        tmp.write_text(json.dumps({"grace_seconds": grace_seconds, "requested_at": time.time()}))
        try:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, job_dir / sup.CANCEL_FILE)
        finally:
            tmp.unlink(missing_ok=True)
        if self.poll(handle).state == "lost":  # nobody will escalate: do it ourselves
            self._kill_stage(job_dir)

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        source = self._job_dir(handle)
        if source is None or not source.is_dir() or source.resolve() == Path(job_dir).resolve():
            return
        for name in RESULTS:
            src = source / name
            if src.is_dir():
                shutil.copytree(src, Path(job_dir) / name, dirs_exist_ok=True)
            elif src.is_file():
                shutil.copy2(src, Path(job_dir) / name)

    def release(self, handle: Handle) -> None:
        _reap()
        job_dir = self._job_dir(handle)
        if job_dir is None or not job_dir.is_dir() or (job_dir / sup.EXIT_FILE).exists():
            return
        status = self.poll(handle)
        if status.state in ("pending", "running"):
            self.cancel(handle, grace_seconds=0)
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and not (job_dir / sup.EXIT_FILE).exists():
                time.sleep(0.05)
        if not (job_dir / sup.EXIT_FILE).exists():
            record = sup.read_json(job_dir / sup.RECORD_FILE) or {}
            if _is_alive(record.get("pid"), record.get("start_time"), record.get("boot_id")):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(record["pid"], signal.SIGKILL)
            self._kill_stage(job_dir)

    def _kill_stage(self, job_dir: Path) -> None:
        record = sup.read_json(job_dir / sup.RECORD_FILE) or {}
        pid = record.get("stage_pid")
        if isinstance(pid, int) and _is_alive(pid, record.get("stage_start_time"),
                                              record.get("boot_id")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def _tail(fh: Any, size: int, lines: int) -> str:
    """The last ``lines`` lines, read backwards in blocks so huge logs cost what is shown."""
    if lines <= 0:
        return ""
    block, data, pos = 64 * 1024, b"", size
    while pos > 0 and data.count(b"\n") <= lines:
        step = min(block, pos)
        pos -= step
        fh.seek(pos)
        data = fh.read(step) + data
    text = data.decode("utf-8", errors="replace")
    parts = text.splitlines(keepends=True)
    return "".join(parts[-lines:])
