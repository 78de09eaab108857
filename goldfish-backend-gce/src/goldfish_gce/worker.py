"""The worker that runs Goldfish jobs on a VM. Standard library only.

The boot script fetches this file from the instance metadata (``goldfish-worker``) and runs it
with the image's Python. It talks to the metadata server and to GCS over HTTP with the VM's
token, so any image with Python 3.11+ works.

**One channel.** A job reaches the worker only as the ``goldfish-assignment`` metadata attribute
(``{"format": "goldfish-assignment/1", "job_id": ..., "spec_uri": ...}``), set at launch and, on
a warm-pool VM, again by ``setMetadata`` for every later job. For each new job id:

1. the id goes into the VM's ledger on disk (``~/.goldfish-worker/ran.txt``) *before* anything
   runs, so a reboot or a repeated signal never runs it twice; an id already there is refused;
2. the spec is downloaded from ``spec_uri`` (never an older one) and must name that job id;
3. the work area (job directory, the stage's ``HOME`` and ``TMPDIR``) is wiped, dotfiles too, so
   nothing of the previous job is visible; the spec's files and checkpoints are downloaded;
4. the command runs (inside ``docker run`` when the spec names an image) with the log in
   ``log.txt``; every ``goldfish-sync-seconds`` the log, ``metrics.jsonl``, the heartbeat,
   a worker beat and new checkpoints are uploaded, and a ``stop`` object is looked for;
5. on exit ``exit.json`` is written first (``results: "uploading"``), then outputs, log, metrics
   and checkpoints, then ``exit.json`` again with ``results: "complete"``.

Then a VM without ``goldfish-pool`` metadata deletes itself. A pool member (the host decided at
launch that the pool had room) reports ``idle`` in ``<pool uri>/state.json`` and waits for a new
assignment; it deletes its VM after ``idle_timeout_seconds`` without a job, after a cancelled
job, or after any error; preempted while idle, it reports ``preempted`` and ends.

**No polling.** One thread (:class:`InstanceWatch`) keeps the instance's metadata current with
one hanging request at a time (``instance/?recursive=true&wait_for_change=true&last_etag=..``,
``timeout_sec`` 30): a new assignment or ``instance/preempted`` turning TRUE answers it at once,
and the job's preemption watch and the idle wait read what it holds. An idle VM asks the
metadata server about twice a minute; a failed request is retried after a growing pause.

Anything that breaks before the stage runs is uploaded as ``boot.log`` next to the spec.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

METADATA_FLAVOR = {"Metadata-Flavor": "Google"}
STORAGE_ENDPOINT = "https://storage.googleapis.com"
COMPUTE_ENDPOINT = "https://compute.googleapis.com"
KILL_GRACE = 10.0
ASSIGNMENT_FORMAT = "goldfish-assignment/1"
WATCH_SECONDS = 30  # timeout_sec of the hanging request: an answer at least this often
BACKOFF_MAX = 10.0  # the longest pause after failed metadata requests
LIVE = ("metrics.jsonl", "log.txt")  # metrics first: a log line never runs ahead of them
SHUTDOWN = threading.Event()


class Cloud:
    """The metadata server, GCS and the Compute API, as seen from inside the VM."""

    def __init__(self) -> None:
        host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
        self.metadata = f"http://{host}/computeMetadata/v1"
        self.storage = self.attribute("goldfish-storage-endpoint") or STORAGE_ENDPOINT
        self.compute = self.attribute("goldfish-compute-endpoint") or COMPUTE_ENDPOINT
        self._token: tuple[str, float] | None = None
        self.watch: InstanceWatch | None = None  # started by main(): the instance's metadata

    def meta(self, path: str, default: str | None = None) -> str | None:
        """A metadata value (``default`` when absent); a 503 of GCE host maintenance or a
        refused connection is retried, as GCE asks, for about 3.5 s."""
        request = urllib.request.Request(f"{self.metadata}/{path}", headers=METADATA_FLAVOR)
        raw = self._open(request, timeout=10, attempts=4)
        return default if raw is None else raw.decode()

    @staticmethod
    def _open(request: urllib.request.Request, timeout: float,
              attempts: int = 5) -> bytes | None:
        """The body (None for a 404), retrying 5xx, 429 and network errors with growing
        pauses; other errors, and the last failure, are raised."""
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return bytes(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if (exc.code < 500 and exc.code != 429) or attempt == attempts - 1:
                    raise
            except OSError:
                if attempt == attempts - 1:
                    raise
            time.sleep(0.5 * 2 ** attempt)
        raise OSError(f"{request.get_method()} {request.full_url} kept failing")

    def meta_change(self, path: str, etag: str | None,
                    timeout: float = WATCH_SECONDS) -> tuple[str, str]:
        """The value of the directory ``path`` (recursive, JSON) and its ETag; with ``etag``,
        once it differs from that (a hanging GET) or after ``timeout`` seconds."""
        query = {"recursive": "true"}
        if etag is not None:
            query.update(wait_for_change="true", last_etag=etag, timeout_sec=str(int(timeout)))
        request = urllib.request.Request(
            f"{self.metadata}/{path}?{urllib.parse.urlencode(query)}", headers=METADATA_FLAVOR)
        with urllib.request.urlopen(request, timeout=timeout + 15) as response:
            return str(response.read().decode()), str(response.headers.get("ETag") or "")

    def preempted(self) -> bool:
        """Has GCE preempted this VM? True when the watch has seen it, else asked once (the
        watch's answer may not have come yet)."""
        if self.watch is not None and self.watch.preempted():
            return True
        try:
            return self.meta("instance/preempted", "FALSE") == "TRUE"
        except OSError:
            return False

    def attribute(self, name: str) -> str | None:
        return self.meta(f"instance/attributes/{name}")

    def token(self) -> str:
        if self._token is None or self._token[1] < time.time() + 60:
            raw = json.loads(self.meta("instance/service-accounts/default/token") or "{}")
            self._token = (str(raw.get("access_token", "")),
                           time.time() + float(raw.get("expires_in", 300)))
        return self._token[0]

    def _call(self, method: str, url: str, data: bytes | None = None,
              headers: dict[str, str] | None = None) -> bytes | None:
        all_headers = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        return self._open(request, timeout=60)

    @staticmethod
    def split(uri: str) -> tuple[str, str]:
        bucket, _, key = uri[len("gs://"):].partition("/")
        return bucket, key

    def get(self, uri: str) -> bytes | None:
        bucket, key = self.split(uri)
        return self._call("GET", f"{self.storage}/storage/v1/b/{bucket}/o/"
                                 f"{urllib.parse.quote(key, safe='')}?alt=media")

    def put(self, uri: str, data: bytes) -> None:
        bucket, key = self.split(uri)
        boundary = f"goldfish-{os.urandom(12).hex()}"
        body = b"".join([
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            json.dumps({"name": key}).encode(),
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(),
            data, f"\r\n--{boundary}--\r\n".encode()])
        self._call("POST", f"{self.storage}/upload/storage/v1/b/{bucket}/o?uploadType=multipart",
                   body, {"Content-Type": f"multipart/related; boundary={boundary}"})

    def delete(self, uri: str) -> None:
        bucket, key = self.split(uri)
        self._call("DELETE", f"{self.storage}/storage/v1/b/{bucket}/o/"
                             f"{urllib.parse.quote(key, safe='')}")

    def list(self, prefix: str) -> list[str]:
        bucket, key = self.split(prefix.rstrip("/") + "/")
        names: list[str] = []
        token = ""
        while True:
            query = urllib.parse.urlencode({"prefix": key, **({"pageToken": token} if token
                                                                else {})})
            raw = self._call("GET", f"{self.storage}/storage/v1/b/{bucket}/o?{query}")
            page = json.loads(raw or b"{}")
            names += [f"gs://{bucket}/{item['name']}" for item in page.get("items", [])]
            token = page.get("nextPageToken", "")
            if not token:
                return names

    def start_watch(self, poll_seconds: float | None = None) -> InstanceWatch:
        self.watch = InstanceWatch(self, poll_seconds)
        self.watch.start()
        return self.watch

    def delete_self(self) -> None:
        project = self.meta("project/project-id")
        zone = (self.meta("instance/zone") or "").rsplit("/", 1)[-1]
        name = self.meta("instance/name")
        self._call("DELETE", f"{self.compute}/compute/v1/projects/{project}/zones/{zone}"
                             f"/instances/{name}")


class InstanceWatch:
    """The instance's metadata (``instance/``, recursive), kept current by a daemon thread that
    waits on the metadata server (a hanging GET answered at the next change) instead of asking
    again and again. ``version`` counts the changes seen; :meth:`wait` sleeps until the next.

    ``poll_seconds`` brings back the earlier polling (a plain read every that many seconds),
    kept only as the baseline ``tests/benchmarks/warm_pool.py`` measures against."""

    def __init__(self, cloud: Cloud, poll_seconds: float | None = None) -> None:
        self.cloud = cloud
        self.poll_seconds = poll_seconds
        self.state: dict[str, Any] = {}
        self.version = 0
        self.failures = 0
        self._cond = threading.Condition(threading.RLock())  # RLock: the signal handler wakes

    def start(self) -> None:
        threading.Thread(target=self._run, name="instance-watch", daemon=True).start()

    def _run(self) -> None:
        etag: str | None = None
        while True:
            asked = time.monotonic()
            try:
                raw, new = self.cloud.meta_change(
                    "instance/", None if self.poll_seconds is not None else etag)
                state = json.loads(raw)
                if not isinstance(state, dict):
                    raise ValueError(f"instance/ is not a JSON object: {raw[:80]!r}")
            except (OSError, ValueError, http.client.HTTPException):  # (a cut-off answer)
                self.failures += 1  # back off: a failing server is never asked in a loop
                time.sleep(min(BACKOFF_MAX, 0.5 * 2 ** min(self.failures - 1, 5)))
                continue
            self.failures = 0
            with self._cond:
                if new != etag or not new:
                    self.state, self.version = state, self.version + 1
                    self._cond.notify_all()
            if self.poll_seconds is not None:
                time.sleep(self.poll_seconds)
            elif (not new or new == etag) and time.monotonic() - asked < 1.0:
                time.sleep(1.0)  # unchanged, or no ETag, and not held: a server that won't wait
            etag = new or None

    def preempted(self) -> bool:
        with self._cond:
            return str(self.state.get("preempted", "FALSE")).upper() == "TRUE"

    def attribute(self, name: str) -> str | None:
        with self._cond:
            value = (self.state.get("attributes") or {}).get(name)
        return None if value is None else str(value)

    def wait(self, version: int, timeout: float) -> int:
        """Until the metadata changes past ``version``, a SIGTERM, or ``timeout`` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != version or SHUTDOWN.is_set(),
                                max(0.0, timeout))
            return self.version

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class Job:
    """One job: its spec, its local directory, its stage process."""

    def __init__(self, cloud: Cloud, spec_uri: str, spec: dict[str, Any]) -> None:
        self.cloud = cloud
        self.spec = spec
        self.prefix = str(spec.get("output_uri") or spec_uri.rsplit("/", 1)[0])
        self.checkpoints = str(spec.get("checkpoint_uri") or f"{self.prefix}/checkpoints")
        self.work = work_area()
        wipe(self.work)  # nothing of an earlier job, hidden files included, is visible
        self.dir = self.work / "job"
        for sub in (self.dir, self.work / "home", self.work / "tmp"):
            sub.mkdir(parents=True)
        self.sync_seconds = float(cloud.attribute("goldfish-sync-seconds") or 5)
        self.synced: dict[str, tuple[int, int]] = {}
        self.cause: str | None = None
        self.message: str | None = None
        self.stop_at: float | None = None
        self.term_at: float | None = None
        self.kill_at: float | None = None
        self.shutdown_seen = False

    # --- set up ---------------------------------------------------------------------------
    def download(self) -> None:
        for rel, uri in sorted(self.spec["files"].items()):
            data = self.cloud.get(uri)
            if data is None:
                raise RuntimeError(f"staged file {rel} is missing from storage ({uri})")
            target = self.dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (self.dir / "outputs").mkdir(exist_ok=True)
        base = self.checkpoints.rstrip("/") + "/"
        for uri in self.cloud.list(self.checkpoints):
            data = self.cloud.get(uri)
            if data is not None:
                target = self.dir / "checkpoints" / uri[len(base):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                self.synced[f"checkpoints/{uri[len(base):]}"] = _stamp(target)
        self.resume_metrics()

    def resume_metrics(self) -> None:
        """A relaunched stage continues the metric stream up to its last checkpoint's step."""
        resume = self.spec.get("resume_uri")
        steps = []
        for record in (self.dir / "checkpoints").glob("*/latest.json"):
            try:
                steps.append(int(json.loads(record.read_text())["step"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        if not resume or not steps:
            return
        raw = self.cloud.get(f"{resume}/metrics.jsonl") or b""
        kept = []
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                point = json.loads(line)
                step = point.get("s", point.get("step"))  # goldfish.io writes "s"
            except (ValueError, AttributeError):
                continue
            if step is None or int(step) <= max(steps):
                kept.append(line + "\n")
        (self.dir / "metrics.jsonl").write_text("".join(kept), encoding="utf-8")

    def command(self) -> list[str]:
        command = [sys.executable if part in ("python", "python3") and i == 0 else part
                   for i, part in enumerate(self.spec["command"])]
        image = self.spec.get("image")
        if not image:
            return command
        return container_command(
            str(image), ["python3" if part == sys.executable else part for part in command],
            self.dir, self.env(), name=self.container_name(),
            gpus=int(self.cloud.attribute("goldfish-gpu-count") or 0),
            network=(self.cloud.attribute("goldfish-container-network") or "none"))

    def container_name(self) -> str | None:
        return f"goldfish-{self.spec['job_id']}" if self.spec.get("image") else None

    def env(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "LANG", "TZ") if key in os.environ}
        env["HOME"], env["TMPDIR"] = str(self.work / "home"), str(self.work / "tmp")
        env.update({str(k): str(v) for k, v in (self.spec.get("env") or {}).items()})
        runtime = str(self.dir / "runtime")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), runtime) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env["GOLDFISH_JOB_DIR"] = str(self.dir)
        return env

    # --- run ------------------------------------------------------------------------------
    def run(self) -> int | None:
        started = time.time()
        timeout = self.spec.get("timeout_seconds")
        with open(self.dir / "log.txt", "ab") as log:
            proc = subprocess.Popen(self.command(), cwd=self.dir / "code", env=self.env(),
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.put_json("started.json", {"started_at": started})
        last_sync = 0.0
        while True:
            code = proc.poll()
            if code is not None:
                break
            now = time.time()
            if timeout and now - started > float(timeout) and self.cause is None:
                self.terminate(proc, "timeout", f"timed out after {float(timeout):g}s")
            if self.kill_at is not None and now >= self.kill_at:
                _signal(proc, signal.SIGKILL)
                self.kill_container()
            elif self.term_at is not None and now >= self.term_at:
                self.terminate(proc, self.cause or "cancelled", self.message or "stopped")
            urgent = SHUTDOWN.is_set() and not self.shutdown_seen  # sync at once, once
            if now - last_sync >= self.sync_seconds or urgent:
                self.shutdown_seen = self.shutdown_seen or urgent
                last_sync = now
                self.sync_live(started)
                self.watch(proc)
            time.sleep(0.2)
        if self.cause is None and code != 0 and self.cloud.preempted():
            self.cause, self.message = "preempted", "the spot VM was preempted"
        if code < 0 and self.cause is None:
            # ended by a signal nobody here sent (the OOM killer, an operator): no exit code
            name = signal.Signals(-code).name if -code in signal.valid_signals() else -code
            self.cause = "oom" if -code == signal.SIGKILL and self.oom_killed() else "killed"
            self.message = f"stage killed by {name}" + (
                " (out of memory)" if self.cause == "oom" else "")
        elif code == 137 and self.cause is None:
            self.cause, self.message = "oom", "exit 137 (out of memory)"
        self.put_json("exit.json", {"exit_code": None if code < 0 else code,
                                    "signal": -code if code < 0 else None, "cause": self.cause,
                                    "message": self.message, "started_at": started,
                                    "finished_at": time.time(), "results": "uploading"})
        return code

    @staticmethod
    def oom_killed() -> bool:
        """Did the kernel's OOM killer act on this machine (cgroup v2 memory.events)?"""
        try:
            with open("/sys/fs/cgroup/memory.events", encoding="ascii") as fh:
                return any(line.startswith("oom_kill ") and line.split()[1] != "0"
                           for line in fh)
        except OSError:
            return False

    def kill_container(self) -> None:
        """Killing ``docker run`` leaves its container running: kill the container itself."""
        name = self.container_name()
        if name:
            subprocess.run(["docker", "kill", name], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def terminate(self, proc: subprocess.Popen[bytes], cause: str, message: str) -> None:
        if self.kill_at is not None:
            return
        self.cause, self.message = cause, message
        _signal(proc, signal.SIGTERM)
        self.kill_at = time.time() + KILL_GRACE

    def watch(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop requests from the host and preemption notices from GCE."""
        if self.stop_at is None:
            raw = self.cloud.get(f"{self.prefix}/stop")
            if raw is not None:
                try:
                    stop = json.loads(raw)
                except ValueError:
                    stop = {}
                grace = float(stop.get("grace_seconds", 30))
                (self.dir / "stop").write_bytes(raw)  # io.should_stop() sees it
                self.stop_at = time.time()
                self.term_at = self.stop_at + grace
                self.cause = "cancelled"
                self.message = str(stop.get("reason") or "stop requested")
        watch = self.cloud.watch  # what the watch holds: no request per sync
        if self.cause != "preempted" and (watch.preempted() if watch is not None
                                          else self.cloud.preempted()):
            self.cause, self.message = "preempted", "the spot VM was preempted"
            (self.dir / "stop").write_text(json.dumps({"reason": "preempted"}))
            self.sync_checkpoints()

    # --- results --------------------------------------------------------------------------
    def put_json(self, rel: str, value: dict[str, Any]) -> None:
        self.cloud.put(f"{self.prefix}/{rel}", json.dumps(value).encode())

    def upload_if_changed(self, rel: str, uri: str | None = None) -> bool:
        path = self.dir / rel
        if not path.is_file():
            return False
        stamp = _stamp(path)
        if self.synced.get(rel) == stamp:
            return False
        self.cloud.put(uri or f"{self.prefix}/{rel}", path.read_bytes())
        self.synced[rel] = stamp
        return True

    def sync_live(self, started: float) -> None:
        for rel in LIVE:
            if self.upload_if_changed(rel) and rel == "metrics.jsonl" and self.spec.get(
                    "resume_uri"):
                self.cloud.put(f"{self.spec['resume_uri']}/metrics.jsonl",
                               (self.dir / rel).read_bytes())
        beat = self.dir / "heartbeat"
        if beat.exists() and self.upload_if_changed("heartbeat"):
            self.put_json("heartbeat.json", {"at": beat.stat().st_mtime})
        self.put_json("worker.json", {"beat": time.time(), "started_at": started})
        self.sync_checkpoints()

    def sync_checkpoints(self) -> None:
        root = self.dir / "checkpoints"
        if not root.is_dir():
            return
        local: list[str] = []
        records: list[str] = []
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(self.dir).as_posix()
            if not path.is_file() or any(p.startswith(".") for p in path.relative_to(root).parts):
                continue
            local.append(rel)
            if path.name == "latest.json":
                records.append(rel)
        base = self.checkpoints.rstrip("/")
        for rel in [r for r in local if r not in records] + records:  # data first, pointer last
            self.upload_if_changed(rel, f"{base}/{rel[len('checkpoints/'):]}")
        for rel in [r for r in self.synced if r.startswith("checkpoints/") and r not in local]:
            self.cloud.delete(f"{base}/{rel[len('checkpoints/'):]}")
            del self.synced[rel]

    def upload_results(self) -> None:
        for path in sorted((self.dir / "outputs").rglob("*")):
            if path.is_file():
                self.upload_if_changed(path.relative_to(self.dir).as_posix())
        for rel in (*LIVE, "error.json", "heartbeat"):
            self.upload_if_changed(rel)
        self.sync_checkpoints()


#: the worker's own variables, meaningless (or harmful: the image has its own ``PATH``) inside
#: the container
HOST_ONLY = ("PATH", "HOME", "TMPDIR")


def container_command(image: str, command: list[str], job_dir: Path, env: dict[str, str], *,
                      name: str | None = None, gpus: int = 0, network: str = "none",
                      user: str | None = None) -> list[str]:
    """``docker run`` for a stage in ``image``: ``--init`` (signals reach the stage, zombies are
    reaped), no network unless the profile asks (``container_network``), ``--gpus N`` only
    when the VM has GPUs, the job directory mounted at the same path (so ``GOLDFISH_JOB_DIR``
    and ``PYTHONPATH`` mean the same inside), and the worker's uid so the outputs it uploads
    are its own."""
    if user is None and hasattr(os, "getuid"):
        user = f"{os.getuid()}:{os.getgid()}"
    return ["docker", "run", "--rm", "--init", "--network", network,
            *(["--name", name] if name else []),
            *(["--gpus", str(gpus)] if gpus > 0 else []),
            *(["--user", user] if user else []),
            "-v", f"{job_dir}:{job_dir}", "-w", f"{job_dir}/code",
            *[arg for key, value in env.items() if key not in HOST_ONLY
              for arg in ("-e", f"{key}={value}")],
            image, *command]


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _signal(proc: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except OSError:
        pass


def work_area() -> Path:
    """Where jobs run: one fixed directory, wiped before and after every job."""
    return Path(tempfile.gettempdir()) / "goldfish-work"


def wipe(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # a file the stage made read-only, say: make it writable and retry
        for root, dirs, _files in os.walk(path):
            for name in dirs:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(root, name), 0o700)
        shutil.rmtree(path, ignore_errors=True)


class Ledger:
    """The job ids this VM has been given, on its own disk (survives a reboot)."""

    def __init__(self, path: Path | None = None) -> None:
        home = Path(os.environ.get("HOME") or "/root")
        self.path = path or home / ".goldfish-worker" / "ran.txt"

    def __contains__(self, job_id: object) -> bool:
        try:
            return str(job_id) in self.path.read_text(encoding="utf-8").split()
        except OSError:
            return False

    def add(self, job_id: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(job_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def read_assignment(cloud: Cloud, raw: str | None = None) -> dict[str, str] | None:
    """The job this VM is told to run (``raw``: the attribute's value, else asked), or None (no
    assignment, or not one of ours)."""
    if raw is None:
        raw = cloud.attribute("goldfish-assignment")
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("format") != ASSIGNMENT_FORMAT:
        return None
    job, spec = value.get("job_id"), value.get("spec_uri")
    if not isinstance(job, str) or not isinstance(spec, str) or not job or not spec:
        return None
    return {"job_id": job, "spec_uri": spec}


def run_job(cloud: Cloud, spec_uri: str, job_id: str | None = None) -> Job | None:
    """Run the job whose spec is at ``spec_uri`` once; a finished job is never run again.
    With ``job_id`` the downloaded spec must be that job's (never a cached command)."""
    raw = cloud.get(spec_uri)
    if raw is None:
        raise RuntimeError(f"no job spec at {spec_uri}")
    spec = json.loads(raw)
    if job_id is not None and spec.get("job_id") != job_id:
        raise RuntimeError(f"the spec at {spec_uri} is job {spec.get('job_id')!r}, but this VM "
                           f"was assigned job {job_id!r}; refusing to run it")
    prefix = str(spec.get("output_uri") or spec_uri.rsplit("/", 1)[0])
    if cloud.get(f"{prefix}/exit.json") is not None:
        return None  # already ran (a reboot or a repeated signal): report nothing new
    job = Job(cloud, spec_uri, spec)
    try:
        job.download()
        code = job.run()
        job.upload_results()
        final = json.loads(cloud.get(f"{job.prefix}/exit.json") or b"{}")
        final.update({"exit_code": None if code is None or code < 0 else code,
                      "results": "complete"})
        job.put_json("exit.json", final)
    finally:
        wipe(job.work)
    return job


def _on_sigterm(signum: int, frame: Any) -> None:
    SHUTDOWN.set()  # the VM is shutting down (preemption): sync now, report what happened
    if WATCH is not None:
        WATCH.wake()  # an idle wait ends at once


WATCH: InstanceWatch | None = None  # for the signal handler


class PoolMember:
    """What a warm-pool VM reports between jobs (``state.json`` under its pool prefix)."""

    def __init__(self, cloud: Cloud, settings: dict[str, Any]) -> None:
        self.cloud = cloud
        self.uri = str(settings["uri"]).rstrip("/")
        self.idle_timeout = float(settings.get("idle_timeout_seconds") or 1800)
        poll = settings.get("poll_seconds")  # the benchmark's baseline only (InstanceWatch)
        self.poll_seconds = float(poll) if poll else None
        self.idle_since: float | None = None

    def report(self, state: str, job_id: str | None, **extra: Any) -> None:
        with contextlib.suppress(Exception):  # a report is a courtesy; the host asks GCE too
            self.cloud.put(f"{self.uri}/state.json", json.dumps({
                "state": state, "job_id": job_id, "at": time.time(),
                "idle_since": self.idle_since, **extra}).encode())

    def wait(self, last: str | None, ledger: Ledger) -> dict[str, str] | None:
        """Idle until a new assignment arrives (returned) or the idle timeout passes (None).
        Sleeps on the instance watch: woken by a change of the metadata, not by a clock."""
        watch = self.cloud.watch or self.cloud.start_watch(self.poll_seconds)
        self.idle_since = time.time()
        self.report("idle", last)
        refused: set[str] = set()
        beat = time.time()
        while True:
            seen = watch.version  # before reading: a change from here on ends the wait
            if SHUTDOWN.is_set() or watch.preempted():
                self.report("preempted", last)
                raise SystemExit(0)  # GCE deletes the VM; the host drops it from the pool
            assignment = read_assignment(self.cloud, watch.attribute("goldfish-assignment")
                                         or "")
            if assignment is not None and assignment["job_id"] != last:
                if assignment["job_id"] not in ledger:
                    return assignment
                if assignment["job_id"] not in refused:  # a repeated signal: say so, once
                    refused.add(assignment["job_id"])
                    self.report("idle", last, refused=assignment["job_id"])
            now = time.time()
            if now - self.idle_since >= self.idle_timeout:
                return None
            if now - beat >= 30:
                beat = now
                self.report("idle", last)
            watch.wait(seen, min(self.idle_since + self.idle_timeout, beat + 30) - now)


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    cloud: Cloud | None = None
    spec_uri: str | None = None
    try:
        cloud = Cloud()
        raw_pool = cloud.attribute("goldfish-pool")
        member = PoolMember(cloud, json.loads(raw_pool)) if raw_pool else None
        global WATCH
        WATCH = cloud.start_watch(member.poll_seconds if member is not None else None)
        ledger = Ledger()
        assignment = read_assignment(cloud)
        if assignment is None:
            spec_uri = cloud.attribute("goldfish-spec-uri")
            raise RuntimeError("instance metadata has no goldfish-assignment")
        last: str | None = None
        while assignment is not None:
            spec_uri, last = assignment["spec_uri"], assignment["job_id"]
            job: Job | None = None
            if last not in ledger:
                ledger.add(last)  # before anything runs: a reboot never runs it again
                if member is not None:
                    member.idle_since = None
                    member.report("busy", last)
                job = run_job(cloud, spec_uri, last)
            if member is None or SHUTDOWN.is_set() or (
                    job is not None and job.cause in ("cancelled", "preempted")):
                break  # not pooled, going down, or a cancelled job's VM: never recycled
            assignment = member.wait(last, ledger)
        if member is not None:
            member.report("deleting", last)
    except SystemExit:
        return 0
    except Exception:
        text = traceback.format_exc()
        sys.stderr.write(text)
        if cloud is not None and spec_uri:
            try:
                cloud.put(spec_uri.rsplit("/", 1)[0] + "/boot.log", text.encode())
            except Exception:
                pass
    if cloud is not None and (cloud.attribute("goldfish-self-delete") or "true") == "true":
        try:
            cloud.delete_self()
        except Exception:
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
