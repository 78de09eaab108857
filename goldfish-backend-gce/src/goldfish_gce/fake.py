"""A faithful fake of the Compute Engine REST API and the metadata server, for tests.

:class:`FakeCompute` serves, on one loopback port:

* ``/compute/v1/projects/P/zones/Z/instances`` — insert (POST), list (GET, ``labels.k = v``
  filters), get, delete, ``setMetadata``; long-running operations under
  ``/compute/v1/projects/P/zones/Z/operations`` (get, list with an ``operationType`` filter,
  ``wait``). Errors come back the way GCE sends them: the insert call succeeds and the
  *operation* carries ``ZONE_RESOURCE_POOL_EXHAUSTED`` or ``QUOTA_EXCEEDED`` in its error list.
* ``/vm/NAME/computeMetadata/v1/...`` — each VM's metadata server (attributes, ``preempted``,
  name, zone, project id, a token; the directories ``instance/`` and ``instance/attributes/``,
  ``recursive=true`` as JSON). A VM's processes get ``GCE_METADATA_HOST`` pointing there. As on
  GCE: a request without ``Metadata-Flavor: Google`` gets a 403; every answer carries an ``ETag``
  (a hash of the value); ``wait_for_change=true`` holds the request until the value differs from
  ``last_etag`` (at once if it already does) or, without ``last_etag``, until the next change;
  ``timeout_sec=N`` answers the current value after N seconds. A change made through the API
  (``setMetadata``, a preemption, a deletion) answers the waiting requests at once.
  ``fail_metadata(name)`` makes a VM's metadata server answer 503 (also to requests waiting);
  ``requests`` logs every request (``metadata_requests(name)`` those of one VM).

A created VM boots after ``boot_delay`` seconds and then really runs its ``startup-script``
with bash as a local process (its own session and ``TMPDIR``). ``scheduling.terminationTime``
is enforced (the VM is deleted), ``preempt(name)`` turns ``instance/preempted`` TRUE, waits
``notice_seconds``, kills the VM and records a ``compute.instances.preempted`` operation;
``exhaust(zone)`` and ``exceed_quota(zone)`` make a zone refuse new VMs; ``fail_api(name)`` makes
the next requests about an instance fail with a 503; ``reboot(name)`` power-cycles a VM (its home
directory, the VM's disk, survives). A preemption with a
notice sends SIGTERM to every process of the VM at once, as a guest shutting down does.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["FakeCompute", "FakeVm", "Request"]

_INSTANCES = re.compile(r"^/compute/v1/projects/([^/]+)/zones/([^/]+)/instances(?:/([^/]+))?"
                        r"(?:/(setMetadata|setLabels))?$")
_OPERATIONS = re.compile(r"^/compute/v1/projects/([^/]+)/zones/([^/]+)/operations"
                         r"(?:/([^/]+))?(?:/(wait))?$")
_METADATA = re.compile(r"^/vm/([^/]+)/computeMetadata/v1/(.*)$")


@dataclass
class Request:
    """One request to the fake (``vm`` names the VM whose metadata server was asked): received
    at ``started``, answered at ``at`` with ``code`` (None and 0 while it is being held)."""

    started: float
    method: str
    path: str
    query: dict[str, str]
    vm: str | None
    code: int = 0
    at: float | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakeVm:
    name: str
    project: str
    zone: str
    body: dict[str, Any]
    created: float = field(default_factory=time.time)
    status: str = "PROVISIONING"
    process: subprocess.Popen[bytes] | None = None
    preempted: bool = False
    tmpdir: Path | None = None
    id: int = 0

    @property
    def attributes(self) -> dict[str, str]:
        items = (self.body.get("metadata") or {}).get("items") or []
        return {str(i.get("key")): str(i.get("value", "")) for i in items}

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.body.get("labels") or {})

    def resource(self, base: str) -> dict[str, Any]:
        zone_link = f"{base}/compute/v1/projects/{self.project}/zones/{self.zone}"
        return {**self.body, "kind": "compute#instance", "id": str(self.id), "name": self.name,
                "status": self.status, "zone": zone_link,
                "selfLink": f"{zone_link}/instances/{self.name}",
                "creationTimestamp": datetime.fromtimestamp(self.created, UTC).isoformat(),
                "metadata": {**(self.body.get("metadata") or {}),
                             "fingerprint": str(abs(hash(json.dumps(self.body.get("metadata"),
                                                                    sort_keys=True))))}}


class FakeCompute:
    """Serve the fake (see the module docstring). Use as a context manager or call ``close``."""

    def __init__(self, *, boot_delay: float = 0.0, notice_seconds: float = 2.0,
                 python: str | None = None) -> None:
        self.boot_delay = boot_delay
        self.notice_seconds = notice_seconds
        self.python = python or sys.executable
        self.instances: dict[tuple[str, str], FakeVm] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.exhausted: set[str] = set()
        self.exhausted_spot: set[str] = set()
        self.quota: set[str] = set()
        self.deleted: list[str] = []
        self.inserts: list[tuple[str, str]] = []
        self.failing: dict[str, int] = {}
        self.metadata_failing: dict[str, int] = {}
        self.requests: deque[Request] = deque(maxlen=100_000)
        self.waiting = 0  # metadata requests being held (wait_for_change)
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # metadata changed: wake the waiters
        self._root = Path(tempfile.mkdtemp(prefix="goldfish-fake-gce-"))
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw.strip() else {}

            def _send(self, code: int, payload: Any, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                with contextlib.suppress(OSError):  # a VM deleting itself is killed mid-reply
                    self.send_response(code)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)

            def _route(self, method: str) -> None:
                headers: dict[str, str] = {}
                try:
                    url = urlparse(self.path)
                    if match := _METADATA.match(url.path):
                        code, payload, ctype, headers = fake._metadata(
                            match.group(1), match.group(2), parse_qs(url.query),
                            self.headers.get("Metadata-Flavor"))
                    else:
                        logged = fake._log(method, url.path, parse_qs(url.query), None)
                        code, payload, ctype = fake._handle(method, self.path, self._body()
                                                            if method in ("POST", "PUT", "PATCH")
                                                            else {})
                        logged.code, logged.at = code, time.time()
                except Exception as exc:  # a fake bug shows as a 500 with its text
                    code, payload, ctype = 500, {"error": {"code": 500, "message": repr(exc)}}, \
                        "application/json"
                self._send(code, payload, ctype, headers)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._threads = [threading.Thread(target=self.server.serve_forever, daemon=True),
                         threading.Thread(target=self._lifecycle, daemon=True)]
        for thread in self._threads:
            thread.start()

    # --- test controls ----------------------------------------------------------------------
    def exhaust(self, zone: str, spot_only: bool = False) -> None:
        """The zone refuses new VMs (only spot ones with ``spot_only``) for lack of capacity."""
        (self.exhausted_spot if spot_only else self.exhausted).add(zone)

    def exceed_quota(self, zone: str) -> None:
        self.quota.add(zone)

    def fail_api(self, name: str, times: int = 1) -> None:
        """The next ``times`` requests about instance ``name`` fail with a 503 (an API outage)."""
        with self._lock:
            self.failing[name] = times

    def fail_metadata(self, name: str, times: int = 1) -> None:
        """VM ``name``'s metadata server answers its next ``times`` requests, those waiting for
        a change included, with a 503 (as during GCE host maintenance)."""
        with self._changed:
            self.metadata_failing[name] = times
            self._changed.notify_all()

    def metadata_requests(self, name: str, since: float = 0.0) -> list[Request]:
        """The requests VM ``name``'s processes made to its metadata server since ``since``
        (answered or still held)."""
        with self._lock:
            return [r for r in self.requests if r.vm == name and r.started >= since]

    def restore(self, zone: str) -> None:
        self.exhausted.discard(zone)
        self.exhausted_spot.discard(zone)
        self.quota.discard(zone)

    def vm(self, name: str) -> FakeVm | None:
        with self._lock:
            return next((vm for vm in self.instances.values() if vm.name == name), None)

    def live(self) -> list[FakeVm]:
        with self._lock:
            return list(self.instances.values())

    def preempt(self, name: str, notice_seconds: float | None = None) -> None:
        """Spot preemption: the notice in the metadata, then power-off and DELETE."""
        vm = self.vm(name)
        if vm is None:
            raise KeyError(name)
        with self._changed:
            vm.preempted = True
            self._changed.notify_all()
        notice = self.notice_seconds if notice_seconds is None else notice_seconds
        if notice > 0 and vm.process is not None:  # the guest OS shuts down: SIGTERM to all
            for pid in _descendants(vm.process.pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)

        def later() -> None:
            time.sleep(notice)
            self._operation(vm.project, vm.zone, "compute.instances.preempted", vm.name)
            self._remove(vm)

        threading.Thread(target=later, daemon=True).start()

    def reboot(self, name: str) -> None:
        """Power-cycle the VM: every process dies, the disk (its home) stays, the startup
        script runs again after the boot delay."""
        vm = self.vm(name)
        if vm is None:
            raise KeyError(name)
        if vm.process is not None:
            _killpg(vm.process)
            with contextlib.suppress(Exception):
                vm.process.wait(5)
        vm.process = None
        vm.created = time.time()
        vm.status = "PROVISIONING"

    def kill_worker(self, name: str) -> None:
        """The VM stays RUNNING but its worker is gone (a crashed boot, an OOM of the worker)."""
        vm = self.vm(name)
        if vm is not None and vm.process is not None:
            _killpg(vm.process)

    def close(self) -> None:
        with self._changed:
            self._closed.set()
            self._changed.notify_all()
        for vm in self.live():
            self._remove(vm)
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> FakeCompute:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API ----------------------------------------------------------------------------
    def _error(self, code: int, message: str, reason: str) -> tuple[int, Any, str]:
        return code, {"error": {"code": code, "message": message,
                                "errors": [{"reason": reason, "message": message}]}}, \
            "application/json"

    def _operation(self, project: str, zone: str, kind: str, target: str,
                   error: dict[str, Any] | None = None) -> dict[str, Any]:
        name = f"operation-{next(self._ids)}"
        op: dict[str, Any] = {
            "kind": "compute#operation", "id": name.split("-")[1], "name": name,
            "operationType": kind, "status": "DONE", "progress": 100,
            "zone": f"{self.endpoint}/compute/v1/projects/{project}/zones/{zone}",
            "targetLink": f"{self.endpoint}/compute/v1/projects/{project}/zones/{zone}"
                          f"/instances/{target}",
            "insertTime": _now(), "endTime": _now(),
            "selfLink": f"{self.endpoint}/compute/v1/projects/{project}/zones/{zone}"
                        f"/operations/{name}"}
        if error:
            op["error"] = {"errors": [error]}
            op["httpErrorStatusCode"] = 503 if "EXHAUSTED" in error["code"] else 403
        with self._lock:
            self.operations[name] = op
        return op

    def _handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any, str]:
        url = urlparse(path)
        query = parse_qs(url.query)
        if match := _INSTANCES.match(url.path):
            project, zone, name, verb = match.groups()
            return self._instances(method, project, zone, name, verb, body, query)
        if match := _OPERATIONS.match(url.path):
            project, zone, name, _ = match.groups()
            if name is None:
                wanted = " ".join(query.get("filter", []))
                kind = re.search(r'operationType\s*=\s*"?([\w.]+)"?', wanted)
                with self._lock:
                    items = [op for op in self.operations.values()
                             if op["zone"].endswith(f"/zones/{zone}")
                             and (kind is None or op["operationType"] == kind.group(1))]
                return 200, {"kind": "compute#operationList", "items": items}, "application/json"
            with self._lock:
                op = self.operations.get(name)
            if op is None:
                return self._error(404, f"operation {name} was not found", "notFound")
            return 200, op, "application/json"
        return self._error(404, f"no such path {url.path}", "notFound")

    def _instances(self, method: str, project: str, zone: str, name: str | None,
                   verb: str | None, body: dict[str, Any],
                   query: dict[str, list[str]]) -> tuple[int, Any, str]:
        key = (zone, name or "")
        if name is None and method == "POST":
            name = str(body.get("name") or "")
            if not re.match(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", name):
                return self._error(400, f"Invalid value for field 'resource.name': '{name}'",
                                   "invalid")
            with self._lock:
                if (zone, name) in self.instances:
                    return self._error(409, f"The resource 'projects/{project}/zones/{zone}/"
                                            f"instances/{name}' already exists", "alreadyExists")
                self.inserts.append((zone, name))
                if zone in self.quota:
                    region = zone.rsplit("-", 1)[0]
                    return 200, self._operation(project, zone, "insert", name, {
                        "code": "QUOTA_EXCEEDED",
                        "message": f"Quota 'NVIDIA_H100_GPUS' exceeded. Limit: 0.0 in region "
                                   f"{region}.",
                        "errorDetails": [{"quotaInfo": {"metricName":
                                                        "compute.googleapis.com/nvidia_h100_gpus",
                                                        "limitName": "NVIDIA-H100-GPUS-per-"
                                                                     "project-region",
                                                        "dimensions": {"region": region},
                                                        "limit": 0}}]}), "application/json"
                spot = (body.get("scheduling") or {}).get("provisioningModel") == "SPOT"
                if zone in self.exhausted or (spot and zone in self.exhausted_spot):
                    return 200, self._operation(project, zone, "insert", name, {
                        "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                        "message": f"The zone 'projects/{project}/zones/{zone}' does not have "
                                   "enough resources available to fulfill the request."}), \
                        "application/json"
                vm = FakeVm(name, project, zone, body, id=next(self._ids))
                self.instances[(zone, name)] = vm
            return 200, self._operation(project, zone, "insert", name), "application/json"
        if name is None:
            filters = re.findall(r"labels\.([\w-]+)\s*=\s*\"?([\w.-]+)\"?",
                                 " ".join(query.get("filter", [])))
            with self._lock:
                items = [vm.resource(self.endpoint) for vm in self.instances.values()
                         if vm.zone == zone and vm.project == project
                         and all(vm.labels.get(k) == v for k, v in filters)]
            return 200, {"kind": "compute#instanceList", "items": items}, "application/json"
        with self._lock:
            found = self.instances.get(key)
            if self.failing.get(name or "", 0) > 0:
                self.failing[name or ""] -= 1
                return self._error(503, "The service is currently unavailable.",
                                   "backendError")
        if found is None:
            return self._error(404, f"The resource 'projects/{project}/zones/{zone}/instances/"
                                    f"{name}' was not found", "notFound")
        vm = found
        if method == "GET":
            return 200, vm.resource(self.endpoint), "application/json"
        if method == "DELETE":
            self._remove(vm)
            return 200, self._operation(project, zone, "delete", vm.name), "application/json"
        if verb == "setMetadata":
            with self._changed:
                vm.body["metadata"] = {"items": body.get("items") or []}
                self._changed.notify_all()
            return 200, self._operation(project, zone, "setMetadata", vm.name), \
                "application/json"
        if verb == "setLabels":
            vm.body["labels"] = body.get("labels") or {}
            return 200, self._operation(project, zone, "setLabels", vm.name), "application/json"
        return self._error(400, f"unsupported {method} on an instance", "invalid")

    def _log(self, method: str, path: str, query: dict[str, list[str]],
             vm: str | None) -> Request:
        request = Request(time.time(), method, path, {k: v[-1] for k, v in query.items()}, vm)
        with self._lock:
            self.requests.append(request)
        return request

    def _metadata(self, name: str, path: str, query: dict[str, list[str]],
                  flavor: str | None) -> tuple[int, Any, str, dict[str, str]]:
        """One request to VM ``name``'s metadata server, held while ``wait_for_change`` asks."""
        logged = self._log("GET", f"/computeMetadata/v1/{path}", query, name)
        code, payload, ctype, headers = self._metadata_answer(name, path, query, flavor)
        logged.code, logged.at = code, time.time()
        return code, payload, ctype, headers

    def _metadata_answer(self, name: str, path: str, query: dict[str, list[str]],
                         flavor: str | None) -> tuple[int, Any, str, dict[str, str]]:
        arg = {k: v[-1] for k, v in query.items()}
        if flavor != "Google":
            return 403, ("Your client does not have permission to get this URL from this "
                         "server. Missing Metadata-Flavor:Google header."), "text/html", {}
        wait = arg.get("wait_for_change", "").lower() == "true"
        try:
            timeout = float(arg["timeout_sec"]) if "timeout_sec" in arg else None
        except ValueError:
            return 400, f"timeout_sec must be a number, not {arg['timeout_sec']!r}", \
                "text/html", {}
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            code, payload, ctype = self._metadata_value(name, path, arg)
            etag = _etag(payload)
            base = arg.get("last_etag", etag)  # without last_etag: the next change
            self.waiting += wait
            try:
                while wait and code == 200 and etag == base:
                    left = None if deadline is None else deadline - time.monotonic()
                    if (left is not None and left <= 0) or self._closed.is_set():
                        break
                    # wakes at every change; the 1 s cap also sees a test editing a VM's body
                    self._changed.wait(1.0 if left is None else min(left, 1.0))
                    code, payload, ctype = self._metadata_value(name, path, arg)
                    etag = _etag(payload)
            finally:
                self.waiting -= wait
        return code, payload, ctype, ({"ETag": etag, "Metadata-Flavor": "Google"}
                                      if code == 200 else {"Metadata-Flavor": "Google"})

    def _metadata_value(self, name: str, path: str,
                        arg: dict[str, str]) -> tuple[int, Any, str]:
        """What the metadata server answers for ``path`` now (called with the lock held)."""
        text = "application/text"
        if self.metadata_failing.get(name, 0) > 0:
            self.metadata_failing[name] -= 1
            return 503, "The metadata server is unavailable.", text
        vm = self.vm(name)
        if vm is None:
            return 404, "no such instance", text
        instance: dict[str, Any] = {
            "attributes": vm.attributes, "hostname": f"{vm.name}.c.{vm.project}.internal",
            "id": vm.id, "name": vm.name, "preempted": "TRUE" if vm.preempted else "FALSE",
            "zone": f"projects/123456/zones/{vm.zone}"}
        recursive = arg.get("recursive", "").lower() == "true"
        as_json = arg.get("alt") == "json"
        if path in ("instance/", "instance/attributes/"):
            tree: dict[str, Any] = instance if path == "instance/" else instance["attributes"]
            if recursive:
                return 200, json.dumps(tree, sort_keys=True), "application/json"
            listing = [f"{key}/" if isinstance(value, dict) else key
                       for key, value in sorted(tree.items())]
            if as_json:
                return 200, json.dumps(listing), "application/json"
            return 200, "".join(f"{key}\n" for key in listing), text
        if path == "project/project-id":
            value: str | None = vm.project
        elif path == "instance/service-accounts/default/token":
            return 200, json.dumps({"access_token": "fake-token", "expires_in": 3599,
                                    "token_type": "Bearer"}), "application/json"
        elif path.startswith("instance/attributes/"):
            value = vm.attributes.get(path[len("instance/attributes/"):])
        elif path.startswith("instance/") and "/" not in path[len("instance/"):]:
            found = instance.get(path[len("instance/"):])
            value = None if found is None or isinstance(found, dict) else str(found)
        else:
            value = None
        if value is None:
            return 404, "not found", text
        return (200, json.dumps(value), "application/json") if as_json else (200, value, text)

    # --- VM lifecycle -----------------------------------------------------------------------
    def _remove(self, vm: FakeVm) -> None:
        with self._lock:
            if self.instances.pop((vm.zone, vm.name), None) is None:
                return
            self.deleted.append(vm.name)
            self._changed.notify_all()  # its metadata server is gone: answer who waits
        vm.status = "STOPPING"
        if vm.process is not None:
            _killpg(vm.process)
            with contextlib.suppress(Exception):
                vm.process.wait(5)

    def _boot(self, vm: FakeVm) -> None:
        script = vm.attributes.get("startup-script", "")
        vm.tmpdir = self._root / vm.name
        vm.tmpdir.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(vm.tmpdir),
               "TMPDIR": str(vm.tmpdir), "LANG": "C.UTF-8",
               "GCE_METADATA_HOST": f"127.0.0.1:{self.port}/vm/{vm.name}",
               "GOLDFISH_PYTHON": self.python}
        with open(vm.tmpdir / "serial-console.log", "ab") as log:
            vm.process = subprocess.Popen(["bash", "-c", script], env=env, cwd=vm.tmpdir,
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True)
        vm.status = "RUNNING"

    def _lifecycle(self) -> None:
        while not self._closed.wait(0.1):
            for vm in self.live():
                if vm.status == "PROVISIONING" and time.time() - vm.created >= self.boot_delay:
                    vm.status = "STAGING"
                    try:
                        self._boot(vm)
                    except OSError:
                        vm.status = "TERMINATED"
                deadline = _termination_time(vm.body)
                if deadline is not None and time.time() >= deadline:
                    self._remove(vm)


def _etag(payload: Any) -> str:
    data = payload if isinstance(payload, bytes) else str(payload).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def _termination_time(body: dict[str, Any]) -> float | None:
    scheduling = body.get("scheduling") or {}
    raw = scheduling.get("terminationTime")
    if raw:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    return None


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_bytes()
        except OSError:
            continue
        ppid = int(raw[raw.rfind(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _killpg(process: subprocess.Popen[bytes]) -> None:
    """Power off: every process the VM started, also those in sessions of their own."""
    for pid in _descendants(process.pid):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[FakeCompute]:
    fake = FakeCompute(**kwargs)
    try:
        yield fake
    finally:
        fake.close()
