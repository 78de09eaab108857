"""The worker that runs one Goldfish job on a VM. Standard library only.

The boot script fetches this file from the instance metadata (``goldfish-worker``) and runs it
with the image's Python. It talks to the metadata server and to GCS over HTTP with the VM's
token, so any image with Python 3.11+ works:

1. read ``goldfish-spec-uri`` from the metadata, download that spec (never an older one); a job
   whose exit record exists already is not run again (a rebooted VM, a repeated boot);
2. download the spec's files (code, inputs, the stage runtime) and the stage's checkpoints;
3. run the command (inside ``docker run`` when the spec names an image) with the log in
   ``log.txt``; every ``goldfish-sync-seconds`` upload the log, ``metrics.jsonl``, the heartbeat,
   a worker beat and new checkpoints, and look for a ``stop`` object and for preemption;
4. on exit write ``exit.json`` first (``results: "uploading"``), then outputs, log, metrics and
   checkpoints, then ``exit.json`` again with ``results: "complete"``;
5. delete its own VM through the Compute API (the warm pool will idle here instead).

Anything that breaks before the stage runs is uploaded as ``boot.log`` next to the spec.
"""

from __future__ import annotations

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

    def meta(self, path: str, default: str | None = None) -> str | None:
        request = urllib.request.Request(f"{self.metadata}/{path}", headers=METADATA_FLAVOR)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return default
            raise

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
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return bytes(response.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if exc.code < 500 and exc.code != 429:
                    raise
            except OSError:
                if attempt == 4:
                    raise
            time.sleep(0.5 * 2 ** attempt)
        raise OSError(f"{method} {url} kept failing")

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

    def delete_self(self) -> None:
        project = self.meta("project/project-id")
        zone = (self.meta("instance/zone") or "").rsplit("/", 1)[-1]
        name = self.meta("instance/name")
        self._call("DELETE", f"{self.compute}/compute/v1/projects/{project}/zones/{zone}"
                             f"/instances/{name}")


class Job:
    """One job: its spec, its local directory, its stage process."""

    def __init__(self, cloud: Cloud, spec_uri: str, spec: dict[str, Any]) -> None:
        self.cloud = cloud
        self.spec = spec
        self.prefix = str(spec.get("output_uri") or spec_uri.rsplit("/", 1)[0])
        self.checkpoints = str(spec.get("checkpoint_uri") or f"{self.prefix}/checkpoints")
        self.dir = Path(tempfile.mkdtemp(prefix=f"goldfish-{spec['job_id']}-"))
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
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TZ", "TMPDIR")
               if key in os.environ}
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
        if self.cause is None and code != 0 and self.preempted():
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

    def preempted(self) -> bool:
        try:
            return self.cloud.meta("instance/preempted", "FALSE") == "TRUE"
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
        if self.cause != "preempted" and self.preempted():
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


def run_job(cloud: Cloud, spec_uri: str) -> None:
    """Run the job whose spec is at ``spec_uri`` once; a finished job is never run again."""
    raw = cloud.get(spec_uri)
    if raw is None:
        raise RuntimeError(f"no job spec at {spec_uri}")
    spec = json.loads(raw)
    job = Job(cloud, spec_uri, spec)
    if cloud.get(f"{job.prefix}/exit.json") is not None:
        return  # already ran (a reboot or a repeated signal): report nothing new
    try:
        job.download()
        code = job.run()
        job.upload_results()
        final = json.loads(cloud.get(f"{job.prefix}/exit.json") or b"{}")
        final.update({"exit_code": None if code is None or code < 0 else code,
                      "results": "complete"})
        job.put_json("exit.json", final)
    finally:
        shutil.rmtree(job.dir, ignore_errors=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    SHUTDOWN.set()  # the VM is shutting down (preemption): sync now, report what happened


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    cloud: Cloud | None = None
    spec_uri: str | None = None
    try:
        cloud = Cloud()
        spec_uri = cloud.attribute("goldfish-spec-uri")
        if not spec_uri:
            raise RuntimeError("instance metadata has no goldfish-spec-uri")
        run_job(cloud, spec_uri)
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
