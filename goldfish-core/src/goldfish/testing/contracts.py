"""Conformance suites for compute and storage backends — ours and third parties'.

A backend proves it honours the contract in :mod:`goldfish.compute` / :mod:`goldfish.storage` by
subclassing a suite in its own tests and providing the backend through a fixture. pytest collects
the subclass (its name starts with ``Test``) and runs every inherited ``test_*`` method; the suites
themselves are named ``*Contract`` so pytest never collects them on their own.

Storage::

    from goldfish.testing.contracts import StorageBackendContract

    class TestMyStorage(StorageBackendContract):
        @pytest.fixture
        def storage_backend(self, tmp_path):
            return MyStorage(tmp_path, {"bucket": "..."})

        @pytest.fixture
        def storage_root(self):
            return f"mys://bucket/contract-{uuid.uuid4().hex}"   # fresh, empty, writable

It checks: bytes and file round trips (binary-safe, empty objects, large objects), overwrite,
``exists``, recursive sorted ``list`` under directory-style prefixes (with and without a trailing
``/``), ``delete`` of present and absent objects, ``open``, ``local_path`` agreeing with ``get``,
``NotFoundError`` for a missing object from ``get`` and ``open``, and atomicity: while one thread
keeps replacing an object, readers never see a partial object and ``list`` never shows temp files.

Compute::

    from goldfish.testing.contracts import BackendFactory, ComputeBackendContract

    class TestMyBackend(ComputeBackendContract):
        job_timeout = 300.0                       # seconds a small job may take end to end
        config_model = "my_pkg.settings:MyProfile"   # what you register, for the pipeline test
        pipeline_storage = "s3://test-bucket/e2e"    # when your workers cannot see file://

        @pytest.fixture
        def backend_factory(self, tmp_path):      # how Goldfish builds it: factory(root, config)
            return BackendFactory("my_pkg.backend:MyBackend", tmp_path, {"zone": "..."})

        @pytest.fixture
        def stage_command(self):                  # how the worker runs the stage entry point
            return ["python3", "-m", "goldfish._stage"]

Jobs are built by the ``make_job`` fixture with :func:`write_job_dir`: a job directory per the
contract in ``docs/architecture.md`` ("Job directory") holding ``job.json``, ``code/modules/<stage>.py``
with the test's stage source, and empty ``inputs/`` and ``outputs/``. Override ``make_job`` if your
backend needs more (an image, a bucket for ``input_uris``).

It checks: a stage that prints and saves an output exits 0 and ``fetch`` brings the output back;
logs follow the cursor to ``complete``, ``tail`` gives the last lines, and no chunk splits a UTF-8
character; a failing stage exits non-zero; a stage SIGKILLed from outside is never exit 0 (no exit
code, cause ``killed``/``oom``/``lost``); a vanished wrapper (the stage's parent: supervisor,
worker) makes the job ``lost`` and ``release`` ends the orphan; heartbeats show in ``poll`` and
move; a cooperative stop (:func:`request_stop`, as the engine asks) reaches ``io.should_stop()``;
``cancel`` ends a sleeping stage, also one that ignores SIGTERM while ``cancel`` is repeated every
tick; ``timeout_seconds`` gives cause ``timeout``; launch is idempotent; handles survive JSON and a
fresh instance — and a fresh process — can poll, read logs of, cancel and release a job; the
caller's environment never reaches the stage; garbage handles are ``lost``; ``release`` is
idempotent and ends a running job; and the real engine runs a three-stage pipeline on the backend
(:mod:`goldfish.testing.harness`).

Launches are bounded (``launch_timeout`` for ``detached=True``): a backend that blocks in
``launch`` fails instead of hanging the suite. With ``detached=False`` the tests that need a
running job are skipped. Stages that sleep are bounded too, and whatever a test launched is
released at teardown.

The suites wait by polling with a deadline (``job_timeout``); they assert outcomes, never speed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from goldfish.compute import (
    Capabilities,
    ComputeBackend,
    Handle,
    Job,
    JobStatus,
    Resources,
    request_stop,  # re-exported: tests ask as the engine does
)
from goldfish.errors import NotFoundError
from goldfish.storage import StorageBackend

__all__ = ["SLEEPER", "WRAPPER_KILLER", "BackendFactory", "ComputeBackendContract",
           "StorageBackendContract", "launch_bounded", "read_all_logs", "request_stop",
           "wait_final", "wait_for_log", "write_job_dir"]


# --- storage --------------------------------------------------------------------------------


class StorageBackendContract:
    """Inherit, and override the ``storage_backend`` and ``storage_root`` fixtures."""

    @pytest.fixture
    def storage_backend(self) -> StorageBackend:
        pytest.fail("override the storage_backend fixture in your StorageBackendContract subclass")

    @pytest.fixture
    def storage_root(self) -> str:
        pytest.fail("override the storage_root fixture: a fresh, empty URI prefix for one test")

    def test_satisfies_the_protocol(self, storage_backend: StorageBackend,
                                    storage_root: str) -> None:
        assert isinstance(storage_backend, StorageBackend)
        assert storage_root.startswith(f"{storage_backend.scheme}://")

    def test_bytes_round_trip(self, storage_backend: StorageBackend, storage_root: str,
                              tmp_path: Path) -> None:
        uri = f"{storage_root}/a/blob.bin"
        payload = bytes(range(256)) * 17
        storage_backend.put(uri, payload)
        dest = storage_backend.get(uri, tmp_path / "out.bin")
        assert dest.read_bytes() == payload
        with storage_backend.open(uri) as fh:
            assert fh.read() == payload

    def test_file_round_trip_and_empty_object(self, storage_backend: StorageBackend,
                                              storage_root: str, tmp_path: Path) -> None:
        src = tmp_path / "src.bin"
        src.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
        storage_backend.put(f"{storage_root}/big", src)
        storage_backend.put(f"{storage_root}/empty", b"")
        assert storage_backend.get(f"{storage_root}/big", tmp_path / "big").read_bytes() == \
            src.read_bytes()
        assert storage_backend.get(f"{storage_root}/empty", tmp_path / "e").read_bytes() == b""
        assert storage_backend.exists(f"{storage_root}/empty")

    def test_overwrite_replaces(self, storage_backend: StorageBackend, storage_root: str,
                                tmp_path: Path) -> None:
        uri = f"{storage_root}/obj"
        storage_backend.put(uri, b"first version, longer")
        storage_backend.put(uri, b"second")
        assert storage_backend.get(uri, tmp_path / "o").read_bytes() == b"second"

    def test_exists(self, storage_backend: StorageBackend, storage_root: str) -> None:
        uri = f"{storage_root}/x/y"
        assert not storage_backend.exists(uri)
        storage_backend.put(uri, b"1")
        assert storage_backend.exists(uri)
        assert not storage_backend.exists(f"{storage_root}/x/y2")

    def test_list_is_recursive_and_sorted(self, storage_backend: StorageBackend,
                                          storage_root: str) -> None:
        names = ["a/2", "a/1", "a/sub/deep/3", "b/1"]
        for name in names:
            storage_backend.put(f"{storage_root}/{name}", name.encode())
        under_a = [f"{storage_root}/{n}" for n in ("a/1", "a/2", "a/sub/deep/3")]
        assert storage_backend.list(f"{storage_root}/a") == under_a
        assert storage_backend.list(f"{storage_root}/a/") == under_a
        assert storage_backend.list(storage_root) == sorted(f"{storage_root}/{n}" for n in names)
        assert storage_backend.list(f"{storage_root}/nothing-here") == []
        for uri in storage_backend.list(storage_root):  # listed URIs are usable as they are
            assert storage_backend.exists(uri)

    def test_delete_is_idempotent(self, storage_backend: StorageBackend, storage_root: str,
                                  tmp_path: Path) -> None:
        uri = f"{storage_root}/gone"
        storage_backend.put(uri, b"bytes")
        storage_backend.delete(uri)
        assert not storage_backend.exists(uri)
        storage_backend.delete(uri)
        storage_backend.delete(f"{storage_root}/never-existed")
        with pytest.raises(NotFoundError):
            storage_backend.get(uri, tmp_path / "g")
        assert storage_backend.list(storage_root) == []

    def test_missing_object_is_not_found(self, storage_backend: StorageBackend,
                                         storage_root: str, tmp_path: Path) -> None:
        uri = f"{storage_root}/missing"
        with pytest.raises(NotFoundError) as excinfo:
            storage_backend.get(uri, tmp_path / "m")
        assert "missing" in str(excinfo.value)
        with pytest.raises(NotFoundError):
            storage_backend.open(uri)
        assert not (tmp_path / "m").exists()

    def test_local_path_agrees_with_get(self, storage_backend: StorageBackend,
                                        storage_root: str, tmp_path: Path) -> None:
        uri = f"{storage_root}/local"
        storage_backend.put(uri, b"on disk?")
        local = storage_backend.local_path(uri)
        if local is not None:
            assert Path(local).read_bytes() == b"on disk?"
        missing = storage_backend.local_path(f"{storage_root}/nope")
        assert missing is None or not Path(missing).exists()

    def test_scan_sizes_every_object_and_reads_none_when_offered(
            self, storage_backend: StorageBackend, storage_root: str,
            monkeypatch: pytest.MonkeyPatch) -> None:
        """gc and du size a whole store with ``goldfish.storage.scan``. A backend's own ``scan``
        (optional) must do it from a listing, never by reading the objects; without one, the
        generic fallback sizes them through ``local_path`` or ``open``."""
        from goldfish.storage import scan

        storage_backend.put(f"{storage_root}/a", b"x" * 3)
        storage_backend.put(f"{storage_root}/sub/b", b"y" * 1500)
        if callable(getattr(storage_backend, "scan", None)):
            def no_reads(uri: str, *args: Any) -> Any:
                raise AssertionError(f"scan read {uri}")

            monkeypatch.setattr(storage_backend, "open", no_reads)
            monkeypatch.setattr(storage_backend, "get", no_reads)
        found = scan(storage_backend, storage_root)
        assert [(o.uri, o.size) for o in found] == [(f"{storage_root}/a", 3),
                                                    (f"{storage_root}/sub/b", 1500)]

    def test_put_is_atomic(self, storage_backend: StorageBackend, storage_root: str,
                           tmp_path: Path) -> None:
        uri = f"{storage_root}/hot"
        payloads = [bytes([65 + i]) * (2 * 1024 * 1024) for i in range(2)]
        sources = []
        for i, payload in enumerate(payloads):
            sources.append(tmp_path / f"p{i}")
            sources[-1].write_bytes(payload)
        storage_backend.put(uri, sources[0])
        done = threading.Event()
        seen: list[str] = []

        def writer() -> None:
            try:
                for round_ in range(12):
                    storage_backend.put(uri, sources[round_ % 2])
            finally:
                done.set()

        thread = threading.Thread(target=writer)
        thread.start()
        reads = 0
        while not done.is_set() or reads < 3:
            if storage_backend.exists(uri):
                with storage_backend.open(uri) as fh:
                    data = fh.read()
                if data not in payloads:
                    seen.append(f"partial object of {len(data)} bytes")
                reads += 1
            listed = storage_backend.list(storage_root)
            if listed != [uri]:
                seen.append(f"list showed {listed}")
        thread.join()
        assert seen == []


# --- compute --------------------------------------------------------------------------------

STAGE_COMMAND = [sys.executable, "-m", "goldfish._stage"]

#: Names of variables set in the caller's environment by the suite: none may reach a job.
CALLER_SECRET = "GOLDFISH_CONTRACT_CALLER_SECRET"


@dataclass(frozen=True)
class BackendFactory:
    """How Goldfish builds a compute backend: ``resolve(factory)(project_root, config)``.

    ``factory`` is the ``"module:attr"`` string you register; the suite builds fresh instances
    from it (also in a fresh Python process) to prove a handle is all a backend needs.
    """

    factory: str
    project_root: Path
    config: dict[str, Any] = field(default_factory=dict)

    def build(self) -> ComputeBackend:
        from goldfish.plugins import resolve

        backend: ComputeBackend = resolve(self.factory)(Path(self.project_root), dict(self.config))
        return backend


def write_job_dir(job_dir: Path, source: str, *, command: list[str] | None = None,
                  stage: str = "probe", outputs: dict[str, Any] | None = None,
                  config: dict[str, Any] | None = None, env: dict[str, str] | None = None,
                  timeout_seconds: float | None = None, job_id: str | None = None,
                  profile: str = "local") -> Job:
    """Prepare a job directory per the contract (``job.json``, ``code/``, ``inputs/``,
    ``outputs/``) running ``source`` as the stage module, and return its :class:`Job`."""
    job_id = job_id or f"job-{uuid.uuid4().hex[:12]}"
    run_id = f"run-{job_id}"
    module = f"modules/{stage}.py"
    (job_dir / "code" / "modules").mkdir(parents=True, exist_ok=True)
    (job_dir / "inputs").mkdir(exist_ok=True)
    (job_dir / "outputs").mkdir(exist_ok=True)
    (job_dir / "code" / module).write_text(textwrap.dedent(source), encoding="utf-8")
    (job_dir / "job.json").write_text(json.dumps({
        "run_id": run_id, "stage": stage, "job_id": job_id, "module": module,
        "config": config or {}, "inputs": {}, "outputs": outputs or {},
        "metrics": {"max_names": 200}}, indent=1), encoding="utf-8")
    return Job(job_id=job_id, run_id=run_id, stage=stage, job_dir=job_dir,
               command=list(command or STAGE_COMMAND), env=dict(env or {}), profile=profile,
               resources=Resources(timeout_seconds=timeout_seconds))


def launch_bounded(backend: ComputeBackend, job: Job, timeout: float) -> Handle:
    """``backend.launch(job)``, failing the test (instead of hanging it) when it does not return
    within ``timeout`` seconds."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["handle"] = backend.launch(job)
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name=f"launch-{job.job_id}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"launch of {job.job_id} did not return within {timeout:g}s: a backend with "
                    "Capabilities(detached=True) must start the job and return at once "
                    "(declare detached=False if launch runs the job to completion)")
    if "error" in result:
        raise result["error"]
    handle: Handle = result["handle"]
    return handle


def wait_final(backend: ComputeBackend, handle: Handle, timeout: float) -> JobStatus:
    """Poll until the job is ``exited`` or ``lost``; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(handle)
        if status.final:
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"job {handle.job_id} not finished after {timeout:g}s: {status}")
        time.sleep(0.1)


def wait_for_log(backend: ComputeBackend, handle: Handle, text: str, timeout: float) -> None:
    """Wait until the job's log contains ``text`` (the stage is really running)."""
    deadline = time.monotonic() + timeout
    while text not in backend.logs(handle).text:
        status = backend.poll(handle)
        if status.final or time.monotonic() > deadline:
            pytest.fail(f"{text!r} never appeared in the log of {handle.job_id}: {status}; "
                        f"log: {backend.logs(handle).text[-2000:]!r}")
        time.sleep(0.1)


def read_all_logs(backend: ComputeBackend, handle: Handle, timeout: float) -> tuple[str, int]:
    """Follow the cursor until ``complete``: returns the whole text and how many chunks it took."""
    deadline = time.monotonic() + timeout
    text, cursor, chunks = "", 0, 0
    while True:
        chunk = backend.logs(handle, cursor=cursor)
        assert chunk.cursor >= cursor, "a log cursor never moves backwards"
        text += chunk.text
        cursor = chunk.cursor
        chunks += 1 if chunk.text else 0
        if chunk.complete:
            return text, chunks
        if time.monotonic() > deadline:
            pytest.fail(f"log of {handle.job_id} never became complete; so far {text[-500:]!r}")
        time.sleep(0.05)


#: A stage that sleeps (bounded, so a backend that fails to end it leaks nothing for long).
SLEEPER = """
    import time
    print("sleeping now", flush=True)
    time.sleep(120)
    print("woke up: not cancelled")
"""

#: A stage that kills the process that started it (the backend's wrapper: a supervisor, a
#: worker) and goes on printing, orphaned. Override :meth:`ComputeBackendContract.kill_wrapper`
#: where the wrapper is something else (a container runtime, a VM agent).
WRAPPER_KILLER = """
    import os, signal, time
    print("killing my wrapper", os.getppid(), flush=True)
    os.kill(os.getppid(), signal.SIGKILL)
    for _ in range(300):
        print("orphan still here", flush=True)
        time.sleep(0.1)
"""

_TAKEOVER = """
import json, sys, time
from pathlib import Path
from goldfish.compute import Handle
from goldfish.plugins import resolve
spec = json.loads(sys.argv[1])
backend = resolve(spec["factory"])(Path(spec["project_root"]), spec["config"])
handle = Handle.from_json(spec["handle"])
status = backend.poll(handle)
text = backend.logs(handle).text
backend.cancel(handle, grace_seconds=spec["grace"])
deadline = time.monotonic() + spec["timeout"]
final = backend.poll(handle)
while not final.final and time.monotonic() < deadline:
    time.sleep(0.1)
    final = backend.poll(handle)
backend.release(handle)
backend.release(handle)
print(json.dumps({"state": status.state, "message": status.message, "log": text,
                  "final": final.state, "cause": final.cause}))
"""


class ComputeBackendContract:
    """Inherit, and override the ``backend_factory`` fixture (and ``stage_command`` /
    ``make_job`` when the worker is not this machine)."""

    #: Seconds a small job may take to reach a final state (raise it for remote backends).
    job_timeout: float = 30.0
    #: Seconds a detached ``launch`` may take to return.
    launch_timeout: float = 30.0
    #: Grace passed to ``cancel`` in the tests.
    cancel_grace: float = 1.0
    #: The ``config_model`` you register with the backend (``"module:attr"``): the end-to-end
    #: test puts ``backend_factory.config`` into the profile and validates it with this model.
    #: None: the profile holds no backend keys (the backend is built with ``{}``).
    config_model: str | None = None
    #: The project's ``storage:`` for the end-to-end test (a URI, or ``{uri, ...settings}``):
    #: a backend that does not share the filesystem needs the storage its workers can reach.
    #: None: the project's default ``file://`` store.
    pipeline_storage: str | dict[str, Any] | None = None

    @pytest.fixture
    def backend_factory(self) -> BackendFactory:
        pytest.fail("override the backend_factory fixture in your ComputeBackendContract "
                    "subclass: return BackendFactory('my_pkg.backend:MyBackend', tmp_path, "
                    "{...profile keys...})")

    @pytest.fixture
    def compute_backend(self, backend_factory: BackendFactory) -> ComputeBackend:
        return backend_factory.build()

    @pytest.fixture
    def stage_command(self) -> list[str]:
        return list(STAGE_COMMAND)

    @pytest.fixture
    def make_job(self, tmp_path: Path, stage_command: list[str]) -> Callable[..., Job]:
        counter = iter(range(1_000_000))

        def make(source: str, **kwargs: Any) -> Job:
            kwargs.setdefault("command", stage_command)
            return write_job_dir(tmp_path / f"job{next(counter)}", source, **kwargs)

        return make

    @pytest.fixture(autouse=True)
    def _release_launched(self, request: pytest.FixtureRequest) -> Iterator[None]:
        """Whatever a test launched is released at teardown, also when the test failed."""
        self._launched: list[tuple[ComputeBackend, Handle]] = []
        yield
        for backend, handle in self._launched:
            with contextlib.suppress(Exception):
                backend.release(handle)

    # --- helpers ----------------------------------------------------------------------------
    def launch(self, backend: ComputeBackend, job: Job) -> Handle:
        """Launch, bounded: a detached launch must return at once, any launch within
        ``job_timeout``."""
        bound = self.launch_timeout if backend.capabilities.detached else self.job_timeout
        handle = launch_bounded(backend, job, bound)
        self._launched.append((backend, handle))
        return handle

    def needs_a_live_job(self, backend: ComputeBackend) -> None:
        """Skip a test that must act on a running job when the backend runs jobs inside
        ``launch`` (``detached=False``): there is no running job to act on."""
        if not backend.capabilities.detached:
            pytest.skip("detached=False: launch returns only after the job ended")

    def kill_wrapper(self) -> str:
        """Stage source that makes the backend's wrapper vanish while the stage goes on."""
        return WRAPPER_KILLER

    # --- tests ------------------------------------------------------------------------------
    def test_satisfies_the_protocol(self, compute_backend: ComputeBackend,
                                    backend_factory: BackendFactory) -> None:
        assert isinstance(compute_backend, ComputeBackend)
        assert isinstance(compute_backend.name, str) and compute_backend.name
        assert isinstance(compute_backend.capabilities, Capabilities)
        assert type(backend_factory.build()) is type(compute_backend)

    def test_stage_runs_prints_and_writes_an_output(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        job = make_job("""
            from goldfish import io
            print("hello from the stage")
            io.save_output("result", {"answer": 42})
        """, outputs={"result": {"type": "json", "contract": None}})
        handle = self.launch(compute_backend, job)
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "exited", status
        assert status.exit_code == 0, (status, compute_backend.logs(handle).text)
        assert status.cause is None
        compute_backend.fetch(handle, job.job_dir)
        saved = json.loads((job.job_dir / "outputs" / "result.json").read_text())
        assert saved == {"answer": 42}
        assert "hello from the stage" in compute_backend.logs(handle).text

    def test_logs_follow_the_cursor_to_completion(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        job = make_job("""
            import time
            for i in range(5):
                print(f"line {i} ü", flush=True)
                time.sleep(0.2)
        """)
        handle = self.launch(compute_backend, job)
        text, _ = read_all_logs(compute_backend, handle, self.job_timeout)
        assert [ln for ln in text.splitlines() if ln.startswith("line")] == [
            f"line {i} ü" for i in range(5)]
        whole = compute_backend.logs(handle)
        assert whole.text == text and whole.complete
        after = compute_backend.logs(handle, cursor=whole.cursor)
        assert after.text == "" and after.complete and after.cursor == whole.cursor
        tail = compute_backend.logs(handle, tail=2)
        assert tail.text.splitlines() == ["line 3 ü", "line 4 ü"]

    def test_log_chunks_never_split_a_character(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        """The stage writes each line in two pieces cut inside a multi-byte character, pausing
        between them; a reader following the cursor must never see half a character."""
        self.needs_a_live_job(compute_backend)
        job = make_job("""
            import sys, time
            out = sys.stdout.buffer
            for i in range(4):
                data = f"{i}: €uro ü 日本\\n".encode()
                cut = data.index("€".encode()) + 1
                out.write(data[:cut]); out.flush()
                time.sleep(0.4)
                out.write(data[cut:]); out.flush()
        """)
        handle = self.launch(compute_backend, job)
        text, chunks = read_all_logs(compute_backend, handle, self.job_timeout)
        assert "\ufffd" not in text, f"a character was split across log chunks: {text!r}"
        assert text.splitlines() == [f"{i}: €uro ü 日本" for i in range(4)], text
        assert chunks > 1, "read in one piece: the test did not exercise chunk boundaries"

    def test_failing_stage_exits_nonzero(self, compute_backend: ComputeBackend,
                                         make_job: Callable[..., Job]) -> None:
        job = make_job("""
            raise RuntimeError("the stage broke on purpose")
        """)
        handle = self.launch(compute_backend, job)
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "exited" and status.exit_code not in (0, None), status
        assert status.cause not in ("cancelled", "timeout")
        assert "the stage broke on purpose" in compute_backend.logs(handle).text

    def test_stage_killed_from_outside_is_not_a_normal_exit(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        """SIGKILL of the stage process (the OOM killer, an operator): never ``exit_code 0``;
        ``exit_code`` is None (no code: a signal) and ``cause`` says what happened."""
        job = make_job("""
            import os, signal
            print("about to be killed", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
            print("survived SIGKILL?")
        """)
        handle = self.launch(compute_backend, job)
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.exit_code != 0, f"a SIGKILLed stage was reported as a normal exit: {status}"
        assert status.exit_code is None or status.exit_code >= 128, status
        assert status.cause in ("killed", "oom", "lost"), status
        assert status.message, status

    def test_vanished_wrapper_is_lost_and_release_ends_the_orphan(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        """When whatever watches the stage vanishes, nobody knows how the stage ends: ``lost``
        (never a normal exit), and ``release`` still ends the orphaned stage."""
        self.needs_a_live_job(compute_backend)
        handle = self.launch(compute_backend, make_job(self.kill_wrapper()))
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "lost" and status.exit_code is None, (
            f"the wrapper vanished, yet the job was reported as {status}")
        assert status.message
        compute_backend.release(handle)
        compute_backend.release(handle)
        deadline = time.monotonic() + self.job_timeout
        before = compute_backend.logs(handle).text.count("orphan still here")
        while True:  # the orphan's output must stop growing once released
            time.sleep(0.5)
            now = compute_backend.logs(handle).text.count("orphan still here")
            if now == before:
                break
            assert time.monotonic() < deadline, "release left the orphaned stage running"
            before = now
        assert compute_backend.poll(handle).state == "lost"

    def test_heartbeats_are_reported(self, compute_backend: ComputeBackend,
                                     make_job: Callable[..., Job]) -> None:
        """``io.heartbeat()`` in the stage shows in ``poll().heartbeat_at`` while it runs, and
        moves forward (metric health and stale-stage detection depend on it)."""
        self.needs_a_live_job(compute_backend)
        handle = self.launch(compute_backend, make_job("""
            import time
            from goldfish import io
            print("beating", flush=True)
            for _ in range(600):
                io.heartbeat()
                time.sleep(0.1)
        """))
        wait_for_log(compute_backend, handle, "beating", self.job_timeout)
        deadline = time.monotonic() + self.job_timeout
        seen: list[float] = []
        while len(set(seen)) < 2:
            status = compute_backend.poll(handle)
            assert not status.final, f"the heartbeat stage ended early: {status}"
            if status.heartbeat_at is not None:
                seen.append(status.heartbeat_at)
            assert time.monotonic() < deadline, (
                f"poll never reported a moving heartbeat while the stage beat: {status}")
            time.sleep(0.3)
        assert seen == sorted(seen) and seen[-1] <= time.time() + 5

    def test_stop_request_reaches_the_stage(self, compute_backend: ComputeBackend,
                                            make_job: Callable[..., Job]) -> None:
        """A cooperative stop (:func:`request_stop`, as the engine asks) makes
        ``io.should_stop()`` true in the stage, which then ends cleanly inside its grace."""
        self.needs_a_live_job(compute_backend)
        job = make_job("""
            import time
            from goldfish import io
            print("looping", flush=True)
            while not io.should_stop():
                time.sleep(0.05)
            print("stopped cleanly", flush=True)
        """)
        handle = self.launch(compute_backend, job)
        wait_for_log(compute_backend, handle, "looping", self.job_timeout)
        request_stop(compute_backend, handle, job.job_dir, grace=self.job_timeout * 2)
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert "stopped cleanly" in compute_backend.logs(handle).text, (
            f"the stage never saw the stop request: {status}")
        assert status.state == "exited" and status.exit_code == 0, status

    def test_cancel_ends_a_sleeping_stage(self, compute_backend: ComputeBackend,
                                          make_job: Callable[..., Job]) -> None:
        self.needs_a_live_job(compute_backend)
        handle = self.launch(compute_backend, make_job(SLEEPER))
        wait_for_log(compute_backend, handle, "sleeping now", self.job_timeout)
        compute_backend.cancel(handle, grace_seconds=self.cancel_grace)
        compute_backend.cancel(handle, grace_seconds=self.cancel_grace)  # idempotent
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "exited" and status.cause == "cancelled", status
        assert "not cancelled" not in compute_backend.logs(handle).text
        compute_backend.cancel(handle, grace_seconds=self.cancel_grace)  # after the end: no-op
        assert compute_backend.poll(handle).cause == "cancelled"

    def test_cancel_escalates_even_when_repeated_every_tick(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        """The engine calls ``cancel`` on every tick until the job ends: a repeated call must
        not restart the grace, so a stage that ignores SIGTERM still dies."""
        self.needs_a_live_job(compute_backend)
        handle = self.launch(compute_backend, make_job("""
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("deaf now", flush=True)
            time.sleep(120)
        """))
        wait_for_log(compute_backend, handle, "deaf now", self.job_timeout)
        deadline = time.monotonic() + self.job_timeout
        while True:
            compute_backend.cancel(handle, grace_seconds=self.cancel_grace)
            status = compute_backend.poll(handle)
            if status.final:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"a stage ignoring SIGTERM outlived {self.job_timeout:g}s of "
                            f"cancel calls with grace {self.cancel_grace:g}s: {status}")
            time.sleep(0.2)
        assert status.state == "exited" and status.cause == "cancelled", status

    def test_timeout_ends_the_stage(self, compute_backend: ComputeBackend,
                                    make_job: Callable[..., Job]) -> None:
        handle = self.launch(compute_backend, make_job(SLEEPER, timeout_seconds=1))
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "exited" and status.cause == "timeout", status
        assert "not cancelled" not in compute_backend.logs(handle).text

    def test_launch_is_idempotent_per_job_id(self, compute_backend: ComputeBackend,
                                             make_job: Callable[..., Job]) -> None:
        job = make_job("""
            import time
            print("stage started", flush=True)
            time.sleep(0.5)
        """)
        first = self.launch(compute_backend, job)
        second = self.launch(compute_backend, job)
        assert second.to_json() == first.to_json()
        wait_final(compute_backend, first, self.job_timeout)
        third = self.launch(compute_backend, job)  # even after it finished
        assert third.to_json() == first.to_json()
        assert compute_backend.poll(third).exit_code == 0
        assert compute_backend.logs(first).text.count("stage started") == 1

    def test_handle_survives_a_json_round_trip(self, compute_backend: ComputeBackend,
                                               make_job: Callable[..., Job]) -> None:
        handle = self.launch(compute_backend, make_job("print('persisted handle')"))
        revived = Handle.from_json(json.loads(json.dumps(handle.to_json())))
        status = wait_final(compute_backend, revived, self.job_timeout)
        assert status.exit_code == 0, status
        assert "persisted handle" in compute_backend.logs(revived).text

    def test_a_fresh_instance_and_process_take_over_a_handle(
            self, compute_backend: ComputeBackend, backend_factory: BackendFactory,
            make_job: Callable[..., Job]) -> None:
        """Goldfish restarts (the CLI exits, the MCP server restarts, another process watches):
        a new backend instance — and a new process — must poll, read the logs of, cancel and
        release a job from its persisted handle alone. No job state may live in memory."""
        self.needs_a_live_job(compute_backend)
        handle = self.launch(compute_backend, make_job(SLEEPER))
        wait_for_log(compute_backend, handle, "sleeping now", self.job_timeout)
        stored = json.loads(json.dumps(handle.to_json()))

        fresh = backend_factory.build()
        status = fresh.poll(Handle.from_json(stored))
        assert status.state in ("pending", "running"), (
            f"a fresh backend instance cannot see a running job: {status}")
        assert "sleeping now" in fresh.logs(Handle.from_json(stored)).text

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = subprocess.run(
            [sys.executable, "-c", _TAKEOVER, json.dumps({
                "factory": backend_factory.factory,
                "project_root": str(backend_factory.project_root),
                "config": backend_factory.config, "handle": stored,
                "grace": self.cancel_grace, "timeout": self.job_timeout})],
            capture_output=True, text=True, env=env, timeout=self.job_timeout * 2)
        assert proc.returncode == 0, f"a fresh process could not use the handle:\n{proc.stderr}"
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert seen["state"] in ("pending", "running"), seen
        assert "sleeping now" in seen["log"], seen
        assert (seen["final"], seen["cause"]) == ("exited", "cancelled"), (
            f"cancel from a fresh process did not end the job: {seen}")

        last = backend_factory.build()  # and the job's record outlives its release
        status = last.poll(Handle.from_json(stored))
        assert status.state == "exited" and status.cause == "cancelled", status
        assert "sleeping now" in last.logs(Handle.from_json(stored)).text

    def test_stage_env_is_the_jobs_not_the_callers(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job],
            monkeypatch: pytest.MonkeyPatch) -> None:
        """The caller's environment (its credentials) never reaches the stage; ``Job.env`` and
        ``GOLDFISH_JOB_DIR`` do."""
        monkeypatch.setenv(CALLER_SECRET, "caller-secret-value")
        job = make_job("""
            import os
            from goldfish import io
            io.save_output("env", dict(os.environ))
        """, outputs={"env": {"type": "json"}}, env={"JOB_SETTING": "from-the-job"})
        handle = self.launch(compute_backend, job)
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.exit_code == 0, (status, compute_backend.logs(handle).text)
        compute_backend.fetch(handle, job.job_dir)
        env = json.loads((job.job_dir / "outputs" / "env.json").read_text())
        assert CALLER_SECRET not in env, "the caller's environment leaked into the job"
        assert "caller-secret-value" not in json.dumps(env)
        assert env.get("JOB_SETTING") == "from-the-job"
        assert env.get("GOLDFISH_JOB_DIR"), "GOLDFISH_JOB_DIR must point at the job directory"

    def test_runs_a_real_pipeline(self, compute_backend: ComputeBackend,
                                  backend_factory: BackendFactory,
                                  register_goldfish_plugin: Callable[..., str],
                                  tmp_path: Path) -> None:
        """The real engine runs a three-stage pipeline on the backend, registered as a plugin
        registers it (see :mod:`goldfish.testing.harness`)."""
        from goldfish.hookspecs import hookimpl
        from goldfish.testing.harness import run_pipeline

        name = f"contract-{compute_backend.name}"
        model = self.config_model

        class Registration:
            @hookimpl
            def register_compute_backends(self, register: Callable[..., None]) -> None:
                register(name, backend_factory.factory, config_model=model)

        register_goldfish_plugin(Registration(), name=f"{name}-plugin")
        run = run_pipeline(tmp_path / "e2e", backend=name,
                           profile=dict(backend_factory.config) if model else {},
                           storage=self.pipeline_storage, timeout=self.job_timeout * 4)
        assert run.state == "done", (run.state, run.error,
                                     [(s.stage, s.state, s.error) for s in run.stages])
        assert [(s.stage, s.state) for s in run.stages] == [
            ("prepare", "done"), ("train", "done"), ("evaluate", "done")]
        assert run.metric("accuracy") is not None

    def test_poll_of_unknown_or_garbage_handle_is_lost(
            self, compute_backend: ComputeBackend, tmp_path: Path) -> None:
        garbage = [
            Handle(compute_backend.name, "no-such-job", {}),
            Handle(compute_backend.name, "no-such-job",
                   {"job_dir": str(tmp_path / "nowhere"), "pid": "x", "id": 12}),
            Handle(compute_backend.name, "no-such-job", {"job_dir": 42, "pid": -1,
                                                          "instance": None}),
        ]
        for handle in garbage:
            status = compute_backend.poll(handle)
            assert status.state == "lost", (handle, status)
            assert status.message

    def test_release_is_idempotent_and_ends_a_running_job(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        done = self.launch(compute_backend, make_job("print('quick')"))
        wait_final(compute_backend, done, self.job_timeout)
        compute_backend.release(done)
        compute_backend.release(done)
        assert compute_backend.poll(done).exit_code == 0

        self.needs_a_live_job(compute_backend)
        running = self.launch(compute_backend, make_job(SLEEPER))
        wait_for_log(compute_backend, running, "sleeping now", self.job_timeout)
        compute_backend.release(running)
        compute_backend.release(running)
        status = wait_final(compute_backend, running, self.job_timeout)
        assert status.exit_code != 0
        assert "not cancelled" not in compute_backend.logs(running).text
