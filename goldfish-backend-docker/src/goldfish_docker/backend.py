"""``DockerBackend``: each stage in its own detached container on the local Docker engine.

A job runs as ``docker run --init --detach`` of the profile's image with

* the job directory bind-mounted read-write at the **same path** (hardlinked code and inputs,
  ``metrics.jsonl``, ``heartbeat``, ``stop`` and the log all work as in local runs, and every
  path in ``job.json`` / ``launch.json`` means the same thing inside and outside);
* the in-stage runtime (``goldfish/__init__.py``, ``io.py``, ``_stage.py`` and the local backend's
  stdlib-only supervisor) copied once per content into ``.goldfish/cache/docker-runtime/<hash>/``
  and mounted read-only on ``PYTHONPATH``: any image with Python 3.9+ works, Goldfish need not be
  installed in it;
* the supervisor (``goldfish.builtins._supervisor --foreground``) as the container's command: it
  runs the stage with exactly the environment in ``launch.json``, honours ``stop`` / ``cancel``
  files and the timeout, and writes ``exit.json`` before the container ends;
* labels ``dev.goldfish.{project,run,stage,job}`` so a reconciler (or ``goldfish doctor``) finds
  the containers after any restart; ``--network none`` and the invoking ``uid:gid`` by default;
  no host environment (``env_passthrough`` names travel as container variables, never on disk).

State comes from the job directory first (``exit.json`` outlives the container, so ``poll`` after
``release`` still answers) and from the engine otherwise: a container that ended without an exit
record was OOM-killed (``oom``), killed from outside or removed (``lost`` with the reason).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import goldfish
from goldfish.builtins import _supervisor as sup
from goldfish.builtins.local_compute import HANDLE_FILE, LocalBackend
from goldfish.compute import Capabilities, Handle, Job, JobStatus
from goldfish.errors import GoldfishError, InvalidInputError

from goldfish_docker import engine
from goldfish_docker.settings import invoking_user

CAPABILITIES = Capabilities(gpu=False, spot=False, live_logs=True, detached=True,
                            shares_filesystem=True)

LABEL = "dev.goldfish"
RUNTIME_MOUNT = "/opt/goldfish-runtime"
#: Shared bytecode cache (``PYTHONPYCACHEPREFIX``): the injected runtime is read-only, and
#: compiling ``goldfish.io`` in every container would cost each stage tens of milliseconds.
PYCACHE_MOUNT = "/opt/goldfish-pycache"
#: The in-stage runtime: standard library only (see docs/architecture.md "Job directory").
RUNTIME_FILES = ("__init__.py", "io.py", "_stage.py", "builtins/__init__.py",
                 "builtins/_supervisor.py")
#: A cancelled container still running this long after its grace is killed by the engine.
CANCEL_SLACK_SECONDS = 15.0
#: How often ``wait_any`` looks at the job directories.
WAIT_SLICE = 0.05
#: An ended container whose exit record is this old and that nobody released is removed.
LEFTOVER_SECONDS = 600.0
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def runtime_dir(project_root: Path) -> Path:
    """The injected runtime for this Goldfish version, written once per content (atomically)."""
    src = Path(goldfish.__file__).resolve().parent
    files = [(rel, (src / rel).read_bytes()) for rel in RUNTIME_FILES]
    digest = hashlib.sha256()
    for rel, data in files:
        digest.update(rel.encode() + b"\0" + data + b"\0")
    cache = Path(project_root) / ".goldfish" / "cache" / "docker-runtime"
    dest = cache / digest.hexdigest()[:16]
    if (dest / "goldfish" / "_stage.py").exists():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache))
    try:
        for rel, data in files:
            path = tmp / "goldfish" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        for path in (tmp, *tmp.rglob("*")):  # readable by whatever uid the stage runs as
            path.chmod(0o755 if path.is_dir() else 0o644)
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race: same content
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def container_name(project_root: Path, job_id: str) -> str:
    """Deterministic per project and job: a second launch finds the first one's container."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", job_id).strip("-.")[:80] or "job"
    tag = hashlib.sha256(f"{Path(project_root).resolve()}\0{job_id}".encode()).hexdigest()[:10]
    return f"goldfish-{slug}-{tag}"


class DockerBackend(LocalBackend):
    """Runs each job in a detached, labelled container. File-based parts (the launch lock,
    ``logs``, ``fetch``, exit records) are the local backend's: the job directory is shared."""

    name = "docker"

    @functools.cached_property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        """``gpu`` only where the engine has the NVIDIA runtime (asked once per instance)."""
        return replace(CAPABILITIES, gpu=engine.has_nvidia_runtime())

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        super().__init__(project_root, {k: config[k] for k in (
            "env_passthrough", "kill_grace_seconds", "stop_grace_seconds") if k in config})
        self.config = config
        #: Fallback when a job names no image (a backend built directly, e.g. in tests).
        self.image: str | None = config.get("image")
        self.network = str(config.get("network") or "none")
        self.user = config.get("user") or invoking_user()
        self.python = str(config.get("python") or "python3")
        self.shm_size_gb = config.get("shm_size_gb")
        self.mounts: dict[str, str] = dict(config.get("mounts") or {})

    # --- runtime identity (enters every stage's cache key) ------------------------------------
    def runtime_identity(self, image: str | None = None) -> str | None:
        """The id of the image (not its tag): rebuilding an image under the same tag changes
        every stage key that runs on it."""
        image = image or self.image
        if not image:
            raise InvalidInputError("a docker profile needs `image:`",
                                    "e.g. `docker-cpu: {backend: docker, image: python:3.11-slim}`")
        return f"docker-image:{engine.image_id(image)}"

    # --- launch -------------------------------------------------------------------------------
    def _image_for(self, job: Job) -> str:
        image = getattr(job, "image", None) or self.image
        if not image:
            raise InvalidInputError(f"profile {job.profile!r} (backend docker) names no image",
                                    "add `image: <name:tag>` to the profile in goldfish.yaml")
        return str(image)

    def _command(self, job: Job) -> list[str]:
        """The engine asks for ``<host python> -m goldfish._stage``; in the image that is
        ``python3`` (the profile's ``python``)."""
        command = list(job.command)
        if command and os.path.basename(command[0]).startswith("python"):
            command[0] = self.python
        return command

    def _stage_env(self, job: Job, image_env: list[str]) -> dict[str, str]:
        env = dict(item.split("=", 1) for item in image_env if "=" in item)
        env.setdefault("PATH", DEFAULT_PATH)
        env.setdefault("HOME", "/tmp")
        env.setdefault("LANG", "C.UTF-8")
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPYCACHEPREFIX"] = PYCACHE_MOUNT
        env.update({str(k): str(v) for k, v in job.env.items()})
        env["GOLDFISH_JOB_DIR"] = str(job.job_dir.resolve())
        extra = job.env.get("PYTHONPATH")
        env["PYTHONPATH"] = ":".join(p for p in (extra, RUNTIME_MOUNT) if p)
        return env

    def _volumes(self, job_dir: Path, runtime: Path) -> dict[str, dict[str, str]]:
        pycache = Path(self.project_root) / ".goldfish" / "cache" / "docker-pycache"
        pycache.mkdir(parents=True, exist_ok=True)
        volumes = {str(job_dir): {"bind": str(job_dir), "mode": "rw"},
                   str(runtime): {"bind": RUNTIME_MOUNT, "mode": "ro"},
                   str(pycache): {"bind": PYCACHE_MOUNT, "mode": "rw"}}
        inputs = job_dir / "inputs"
        if inputs.is_dir():
            # read-only: inputs are hardlinks into the artifact store (registered sources,
            # upstream outputs); a stage writing into one would change the stored bytes
            volumes[str(inputs)] = {"bind": str(inputs), "mode": "ro"}
            for entry in inputs.iterdir():  # linked from elsewhere: mount their targets too
                if entry.is_symlink():
                    target = entry.resolve()
                    volumes.setdefault(str(target), {"bind": str(target), "mode": "ro"})
        for host, inside in self.mounts.items():
            volumes[str(Path(host).expanduser().resolve())] = {"bind": inside, "mode": "ro"}
        return volumes

    def _start(self, job: Job, job_dir: Path, cwd: Path,
               placement: dict[str, Any] | None = None) -> Handle:
        docker = engine.sdk()
        image = self._image_for(job)
        with engine.reachable(f"launching job {job.job_id}"):
            client = engine.client()
            try:
                img = client.images.get(image)
            except docker.errors.ImageNotFound:
                engine.image_id(image)  # raises the error that says how to build or pull it
                raise
            env = self._stage_env(job, list((img.attrs.get("Config") or {}).get("Env") or []))
            passed = sorted(k for k in self.env_passthrough if k in os.environ)
            sup.write_json_atomic(job_dir / sup.LAUNCH_FILE, {
                "job_id": job.job_id, "command": self._command(job), "env": env,
                "env_from_supervisor": passed, "cwd": str(cwd),
                "timeout_seconds": job.resources.timeout_seconds,
                "kill_grace_seconds": self.kill_grace, "stop_grace_seconds": self.stop_grace})
            name = container_name(self.project_root, job.job_id)
            kwargs = self._run_kwargs(job, job_dir, name)
            kwargs["environment"] = {"PYTHONPATH": RUNTIME_MOUNT,
                                     "PYTHONPYCACHEPREFIX": PYCACHE_MOUNT,
                                     **{k: os.environ[k] for k in passed}}
            launched_at = time.time()
            try:
                container = client.containers.create(img.id, **kwargs)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise GoldfishError(f"docker refused to create the container for job "
                                        f"{job.job_id}: {exc.explanation or exc}",
                                        "check the profile's keys (user, network, mounts, gpu)")
                # left by an attempt whose job directory was rebuilt: it is not ours any more
                client.containers.get(name).remove(force=True)
                container = client.containers.create(img.id, **kwargs)
            try:
                container.start()
            except docker.errors.APIError as exc:
                with contextlib.suppress(Exception):
                    container.remove(force=True)
                raise GoldfishError(f"docker could not start the container for job "
                                    f"{job.job_id}: {exc.explanation or exc}",
                                    "check the profile's keys (user, network, mounts, gpu)")
        handle = Handle(backend=self.name, job_id=job.job_id, data={
            "job_dir": str(job_dir), "container": name, "container_id": container.id,
            "image": image, "image_id": img.id, "launched_at": launched_at,
            **(placement or {})})
        sup.write_json_atomic(job_dir / HANDLE_FILE, handle.to_json())
        return handle

    def _run_kwargs(self, job: Job, job_dir: Path, name: str) -> dict[str, Any]:
        docker = engine.sdk()
        res = job.resources
        kwargs: dict[str, Any] = {
            "command": [self.python, "-S", "-m", "goldfish.builtins._supervisor", "--foreground",
                        str(job_dir)],
            "name": name, "detach": True, "init": True, "user": self.user,
            "working_dir": str(job_dir),
            "volumes": self._volumes(job_dir, runtime_dir(self.project_root)),
            "labels": {f"{LABEL}.project": str(self.project_root.resolve()),
                       f"{LABEL}.run": job.run_id, f"{LABEL}.stage": job.stage,
                       f"{LABEL}.job": job.job_id, f"{LABEL}.job_dir": str(job_dir)},
            "stop_signal": "SIGTERM"}
        if self.network == "none":
            # no network at all; the engine skips its network setup (`--network none` would
            # create a sandbox with a "none" endpoint, ~0.2 s per container on our engines)
            kwargs["network_disabled"] = True
        else:
            kwargs["network_mode"] = self.network
        if res.cpus:
            kwargs["nano_cpus"] = int(res.cpus * 1e9)
        if res.memory_gb:
            kwargs["mem_limit"] = int(res.memory_gb * 1024 ** 3)
            kwargs["memswap_limit"] = kwargs["mem_limit"]  # no swap: past the limit is OOM
        if self.shm_size_gb:
            kwargs["shm_size"] = int(float(self.shm_size_gb) * 1024 ** 3)
        if res.gpu_count:  # the profile's `gpu:`; -1 (`all`): every GPU the host has
            kwargs["device_requests"] = [docker.types.DeviceRequest(
                count=int(res.gpu_count), capabilities=[["gpu"]])]
        return kwargs

    # --- observe ------------------------------------------------------------------------------
    def _container(self, name: str) -> Any | None:
        with engine.reachable(f"looking at container {name}"):
            try:
                return engine.client().containers.get(name)
            except engine.sdk().errors.NotFound:
                return None

    def poll(self, handle: Handle) -> JobStatus:
        raw = handle.data.get("container") if isinstance(handle.data, dict) else None
        name = raw if isinstance(raw, str) else ""
        job_dir = self._job_or_lost(handle, None if name else "names no container")
        if isinstance(job_dir, JobStatus):
            return job_dir
        exited = self._exit_status(job_dir)
        if exited is not None:
            return self._refine(name, job_dir, exited)
        container = self._container(name)
        if container is None:
            exited = self._exit_status(job_dir)
            if exited is not None:
                return exited
            return self._record_end(job_dir, JobStatus(
                "lost", cause="lost", heartbeat_at=sup.file_mtime(job_dir / "heartbeat"),
                message=f"container {name} was removed outside Goldfish before the stage "
                        "finished (no exit record)"))
        state = container.attrs.get("State") or {}
        status = state.get("Status")
        record = sup.read_json(job_dir / sup.RECORD_FILE) or {}
        started = record.get("stage_started_at")
        heartbeat = sup.file_mtime(job_dir / "heartbeat")
        if status in ("created", "running", "paused", "restarting"):
            self._escalate_cancel(container, job_dir)
            return JobStatus("running" if started else "pending", heartbeat_at=heartbeat,
                             started_at=started)
        exited = self._exit_status(job_dir)  # it may have finished between the two looks
        if exited is not None:
            return self._refine(name, job_dir, exited)
        return self._record_end(job_dir, self._vanished(container, state, job_dir, started))

    def wait_any(self, handles: list[Handle], timeout: float) -> None:
        """Block until a job's exit record appears, a job's ``metrics.jsonl`` grows, or
        ``timeout`` passes (the engine's optional wait between looks). File-based on purpose:
        the supervisor's pids live in the container's namespace, so the local backend's pidfd
        wait (which this class would otherwise inherit) cannot be used."""
        deadline = time.monotonic() + max(timeout, 0.0)
        dirs = [d for d in (self._job_dir(h) for h in handles) if d is not None]
        if not dirs or len(dirs) != len(handles):
            return
        sizes = [sup.file_size(d / "metrics.jsonl") for d in dirs]
        while True:
            if any((d / sup.EXIT_FILE).exists() or not d.is_dir() for d in dirs):
                return
            if [sup.file_size(d / "metrics.jsonl") for d in dirs] != sizes:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, WAIT_SLICE))

    def _vanished(self, container: Any, state: dict[str, Any], job_dir: Path,
                  started: Any) -> JobStatus:
        """The container ended without the supervisor's exit record: say why."""
        code = state.get("ExitCode")
        heartbeat = sup.file_mtime(job_dir / "heartbeat")
        if self._oom_killed(container):
            return JobStatus("exited", exit_code=137, cause="oom", heartbeat_at=heartbeat,
                             started_at=started, finished_at=time.time(),
                             message=self._oom_message())
        if started is None and code not in (137, 143, None):
            tail = ""
            with contextlib.suppress(Exception):
                tail = container.logs(tail=20).decode("utf-8", "replace").strip()
            message = (f"container {container.name} exited with code {code} before the stage "
                       f"started: {tail or 'no output'}")
            with open(job_dir / sup.LOG_FILE, "a", encoding="utf-8") as log:
                log.write(f"goldfish: {message}\n")
            return JobStatus("exited", exit_code=int(code) if isinstance(code, int) else 1,
                             cause="error", message=message, finished_at=time.time())
        return JobStatus("lost", cause="lost", heartbeat_at=heartbeat, started_at=started,
                         message=f"container {container.name} ended (exit code {code}) without "
                                 "an exit record: killed from outside (docker kill, the engine "
                                 "restarting) before the stage finished")

    def _oom_message(self) -> str:
        return ("the container ran out of memory and the kernel's OOM killer ended the stage "
                "(docker reports OOMKilled); raise the profile's memory_gb or use less memory")

    def _refine(self, name: str, job_dir: Path, status: JobStatus) -> JobStatus:
        """A stage SIGKILLed by something the supervisor did not send: ask docker whether that
        was its OOM killer (cgroup v1 hides the counter from the supervisor)."""
        if status.cause != "killed" or status.exit_code is not None:
            return status
        raw = sup.read_json(job_dir / sup.EXIT_FILE) or {}
        if raw.get("signal") != 9:
            return status
        try:
            container = self._container(name)
        except GoldfishError:
            return status
        if container is None or not self._oom_killed(container):
            return status
        raw.update(exit_code=137, cause="oom", message=self._oom_message())
        sup.write_json_atomic(job_dir / sup.EXIT_FILE, raw)
        return self._exit_status(job_dir) or status

    def _oom_killed(self, container: Any) -> bool:
        """Docker's flag, or an ``oom`` event for the container: the flag describes the
        container's main process (our supervisor), which the OOM killer usually spares."""
        state = container.attrs.get("State") or {}
        if state.get("OOMKilled"):
            return True
        with contextlib.suppress(Exception), engine.reachable("reading container events"):
            events = engine.client().events(
                since=int(time.time()) - 24 * 3600, until=int(time.time()) + 1, decode=True,
                filters={"container": container.id, "event": "oom"})
            try:
                return any(True for _ in events)
            finally:
                events.close()
        return False

    def _record_end(self, job_dir: Path, status: JobStatus) -> JobStatus:
        """Write what we concluded as the exit record: it must outlive the container."""
        path = job_dir / sup.EXIT_FILE
        with contextlib.suppress(OSError):
            fd = os.open(path.with_name(".exit.claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            sup.write_json_atomic(path, {
                "exit_code": status.exit_code, "signal": None, "cause": status.cause,
                "message": status.message, "started_at": status.started_at,
                "finished_at": status.finished_at or time.time(), "state": status.state})
        return status

    def _exit_status(self, job_dir: Path) -> JobStatus | None:
        status = super()._exit_status(job_dir)
        raw = sup.read_json(job_dir / sup.EXIT_FILE) or {}
        if status is not None and status.cause == "killed" and str(
                raw.get("message") or "").startswith("the supervisor received SIGTERM"):
            # in a container that SIGTERM is `docker stop` (or the engine stopping it)
            status = replace(status, message=(
                "the container was stopped from outside (docker stop, or the Docker engine "
                "shutting down or restarting without live-restore) before the stage finished"))
        if status is not None and raw.get("state") == "lost":
            return JobStatus("lost", cause=status.cause, message=status.message,
                             heartbeat_at=status.heartbeat_at, started_at=status.started_at,
                             finished_at=status.finished_at)
        return status

    def _escalate_cancel(self, container: Any, job_dir: Path) -> None:
        """The supervisor escalates a cancel itself; if it cannot (wedged), the engine does."""
        raw = sup.read_json(job_dir / sup.CANCEL_FILE)
        if not raw:
            return
        try:
            due = float(raw["requested_at"]) + float(raw["grace_seconds"]) + CANCEL_SLACK_SECONDS
        except (KeyError, TypeError, ValueError):
            return
        if time.time() >= due:
            with contextlib.suppress(Exception):
                container.kill()

    # --- control ------------------------------------------------------------------------------
    def _kill_stage(self, job_dir: Path) -> None:
        """Called by ``cancel`` when nobody in the container can escalate: kill the container
        (pids recorded by the supervisor live in the container's namespace, not ours)."""
        raw = sup.read_json(job_dir / HANDLE_FILE) or {}
        name = (raw.get("data") or {}).get("container")
        if isinstance(name, str) and name:
            with contextlib.suppress(Exception):
                container = self._container(name)
                if container is not None:
                    container.kill()

    def release(self, handle: Handle) -> None:
        job_dir = self._job_dir(handle)
        name = handle.data.get("container") if isinstance(handle.data, dict) else None
        if job_dir is None or not isinstance(name, str) or not name:
            return
        container = self._container(name)
        if container is None:
            return
        if (container.attrs.get("State") or {}).get("Status") in ("created", "running",
                                                                  "paused", "restarting"):
            if job_dir.is_dir() and not (job_dir / sup.EXIT_FILE).exists():
                self.cancel(handle, grace_seconds=0)
                with contextlib.suppress(Exception):
                    container.wait(timeout=10)
            with contextlib.suppress(Exception):
                container.kill()
                container.wait(timeout=10)
        if job_dir.is_dir():
            self.poll(handle)  # leaves an exit record behind if the supervisor could not
        with engine.reachable(f"removing container {name}"), contextlib.suppress(
                engine.sdk().errors.NotFound):
            container.remove(force=True)
        self.sweep()

    def sweep(self) -> list[str]:
        """Remove this project's containers that ended long ago (their exit record is older
        than :data:`LEFTOVER_SECONDS`, or their job directory is gone) but were never released:
        a release that failed while the engine was down, a process killed mid-finish. Runs after
        every release, so nothing stays behind for long. Returns the names removed."""
        label = f"{LABEL}.project={self.project_root.resolve()}"
        removed = []
        with engine.reachable("listing ended containers"):
            found = engine.client().containers.list(
                all=True, filters={"label": label, "status": "exited"})
        for container in found:
            job_dir = Path(container.labels.get(f"{LABEL}.job_dir") or "/nonexistent")
            ended = sup.file_mtime(job_dir / sup.EXIT_FILE)
            if job_dir.is_dir() and (ended is None or time.time() - ended < LEFTOVER_SECONDS):
                continue
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed.append(container.name)
        return removed

    # --- housekeeping -------------------------------------------------------------------------
    def diagnose(self, profile_name: str, profile: Any) -> list[tuple[str, str, str]]:
        """``goldfish doctor`` lines (``goldfish.runs.backends.diagnose``): the engine
        (reachable, version, runtimes), this profile's image and GPUs, and the project's
        containers."""
        facts = engine.info()
        if not facts.get("reachable"):
            return [("fail", "docker engine", f"{facts.get('error')} ({engine.START_HINT})")]
        runtimes = facts.get("runtimes") or []
        out = [("ok", "docker engine",
                f"{facts.get('version')} (API {facts.get('api_version')}) at {facts.get('host')}; "
                f"runtimes: {', '.join(runtimes)}; cgroup v{facts.get('cgroup_version')}")]
        image = getattr(profile, "image", None) or self.image
        subject = f"profile {profile_name}"
        if not image:
            out.append(("fail", subject, "backend docker needs `image:`"))
        else:
            try:
                out.append(("ok", subject, f"image {image} ({engine.image_id(image)[:19]})"))
            except GoldfishError as exc:
                out.append(("fail", subject, f"{exc.message} — {exc.hint}"))
        if getattr(profile, "gpu", None) and "nvidia" not in runtimes:
            out.append(("fail", subject, "asks for GPUs but the engine has no NVIDIA runtime"))
        mine = self.containers()
        running = [c for c in mine if c["status"] == "running"]
        out.append(("ok", "docker containers",
                    f"{len(running)} running, {len(mine) - len(running)} stopped for this project"))
        return out

    def containers(self, all_projects: bool = False) -> list[dict[str, Any]]:
        """Containers this backend started (for this project), as shown by ``goldfish doctor``."""
        label = f"{LABEL}.project"
        flt = label if all_projects else f"{label}={self.project_root.resolve()}"
        with engine.reachable("listing containers"):
            found = engine.client().containers.list(all=True, filters={"label": flt})
        return [{"name": c.name, "status": c.status,
                 "run": c.labels.get(f"{LABEL}.run"), "stage": c.labels.get(f"{LABEL}.stage"),
                 "job": c.labels.get(f"{LABEL}.job")} for c in found]
