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

    from goldfish.testing.contracts import ComputeBackendContract

    class TestMyBackend(ComputeBackendContract):
        job_timeout = 300.0                       # seconds a small job may take end to end

        @pytest.fixture
        def compute_backend(self, tmp_path):
            return MyBackend(tmp_path, {"zone": "..."})

        @pytest.fixture
        def stage_command(self):                  # how the worker runs the stage entry point
            return ["python3", "-m", "goldfish._stage"]

Jobs are built by the ``make_job`` fixture with :func:`write_job_dir`: a job directory per the
contract in ``docs/architecture.md`` ("Job directory") holding ``job.json``, ``code/modules/<stage>.py``
with the test's stage source, and empty ``inputs/`` and ``outputs/``. Override ``make_job`` if your
backend needs more (an image, a bucket for ``input_uris``).

It checks: a stage that prints and saves an output exits 0 and ``fetch`` brings the output back
into the local job directory; logs contain the printed text, read completely by following the
cursor, with ``complete`` once the job has exited, and ``tail`` gives the last lines; a failing
stage exits non-zero; ``cancel`` ends a sleeping stage (also one that ignores SIGTERM) within its
grace with cause ``cancelled`` and may be repeated; ``resources.timeout_seconds`` ends a stage with
cause ``timeout``; a second ``launch`` of the same job returns the same handle and never runs the
stage twice; handles survive a JSON round trip; ``poll`` of an unknown or garbage handle is
``lost`` and never raises; ``release`` is idempotent and ends a running job.

The suites wait by polling with a deadline (``job_timeout``); they assert outcomes, never speed.
"""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from goldfish.compute import Capabilities, ComputeBackend, Handle, Job, JobStatus, Resources
from goldfish.errors import NotFoundError
from goldfish.storage import StorageBackend

__all__ = ["SLEEPER", "ComputeBackendContract", "StorageBackendContract", "read_all_logs",
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
        chunks += 1
        if chunk.complete:
            return text, chunks
        if time.monotonic() > deadline:
            pytest.fail(f"log of {handle.job_id} never became complete; so far {text[-500:]!r}")
        time.sleep(0.05)


SLEEPER = """
    import time
    print("sleeping now", flush=True)
    time.sleep(600)
    print("woke up: not cancelled")
"""


class ComputeBackendContract:
    """Inherit, and override the ``compute_backend`` fixture (and ``stage_command`` /
    ``make_job`` when the worker is not this machine)."""

    #: Seconds a small job may take to reach a final state (raise it for remote backends).
    job_timeout: float = 60.0
    #: Grace passed to ``cancel`` in the tests.
    cancel_grace: float = 2.0

    @pytest.fixture
    def compute_backend(self) -> ComputeBackend:
        pytest.fail("override the compute_backend fixture in your ComputeBackendContract subclass")

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

    # --- tests ------------------------------------------------------------------------------
    def test_satisfies_the_protocol(self, compute_backend: ComputeBackend) -> None:
        assert isinstance(compute_backend, ComputeBackend)
        assert isinstance(compute_backend.name, str) and compute_backend.name
        assert isinstance(compute_backend.capabilities, Capabilities)

    def test_stage_runs_prints_and_writes_an_output(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        job = make_job("""
            from goldfish import io
            print("hello from the stage")
            io.save_output("result", {"answer": 42})
        """, outputs={"result": {"type": "json", "contract": None}})
        handle = compute_backend.launch(job)
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
        handle = compute_backend.launch(job)
        text, _ = read_all_logs(compute_backend, handle, self.job_timeout)
        assert [ln for ln in text.splitlines() if ln.startswith("line")] == [
            f"line {i} ü" for i in range(5)]
        whole = compute_backend.logs(handle)
        assert whole.text == text and whole.complete
        after = compute_backend.logs(handle, cursor=whole.cursor)
        assert after.text == "" and after.complete and after.cursor == whole.cursor
        tail = compute_backend.logs(handle, tail=2)
        assert tail.text.splitlines() == ["line 3 ü", "line 4 ü"]

    def test_failing_stage_exits_nonzero(self, compute_backend: ComputeBackend,
                                         make_job: Callable[..., Job]) -> None:
        job = make_job("""
            raise RuntimeError("the stage broke on purpose")
        """)
        handle = compute_backend.launch(job)
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "exited" and status.exit_code not in (0, None), status
        assert status.cause not in ("cancelled", "timeout")
        assert "the stage broke on purpose" in compute_backend.logs(handle).text

    def test_cancel_ends_a_sleeping_stage(self, compute_backend: ComputeBackend,
                                          make_job: Callable[..., Job]) -> None:
        handle = compute_backend.launch(make_job(SLEEPER))
        wait_for_log(compute_backend, handle, "sleeping now", self.job_timeout)
        compute_backend.cancel(handle, grace_seconds=self.cancel_grace)
        compute_backend.cancel(handle, grace_seconds=self.cancel_grace)  # idempotent
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "exited" and status.cause == "cancelled", status
        assert "not cancelled" not in compute_backend.logs(handle).text
        compute_backend.cancel(handle, grace_seconds=self.cancel_grace)  # after the end: no-op
        assert compute_backend.poll(handle).cause == "cancelled"

    def test_cancel_escalates_when_the_stage_ignores_sigterm(
            self, compute_backend: ComputeBackend, make_job: Callable[..., Job]) -> None:
        handle = compute_backend.launch(make_job("""
            import signal, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("deaf now", flush=True)
            time.sleep(600)
        """))
        wait_for_log(compute_backend, handle, "deaf now", self.job_timeout)
        compute_backend.cancel(handle, grace_seconds=self.cancel_grace)
        status = wait_final(compute_backend, handle, self.job_timeout)
        assert status.state == "exited" and status.cause == "cancelled", status

    def test_timeout_ends_the_stage(self, compute_backend: ComputeBackend,
                                    make_job: Callable[..., Job]) -> None:
        handle = compute_backend.launch(make_job(SLEEPER, timeout_seconds=1))
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
        first = compute_backend.launch(job)
        second = compute_backend.launch(job)
        assert second.to_json() == first.to_json()
        wait_final(compute_backend, first, self.job_timeout)
        third = compute_backend.launch(job)  # even after it finished
        assert third.to_json() == first.to_json()
        assert compute_backend.poll(third).exit_code == 0
        assert compute_backend.logs(first).text.count("stage started") == 1

    def test_handle_survives_a_json_round_trip(self, compute_backend: ComputeBackend,
                                               make_job: Callable[..., Job]) -> None:
        handle = compute_backend.launch(make_job("print('persisted handle')"))
        revived = Handle.from_json(json.loads(json.dumps(handle.to_json())))
        status = wait_final(compute_backend, revived, self.job_timeout)
        assert status.exit_code == 0, status
        assert "persisted handle" in compute_backend.logs(revived).text

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
        done = compute_backend.launch(make_job("print('quick')"))
        wait_final(compute_backend, done, self.job_timeout)
        compute_backend.release(done)
        compute_backend.release(done)
        assert compute_backend.poll(done).exit_code == 0

        running = compute_backend.launch(make_job(SLEEPER))
        wait_for_log(compute_backend, running, "sleeping now", self.job_timeout)
        compute_backend.release(running)
        compute_backend.release(running)
        status = wait_final(compute_backend, running, self.job_timeout)
        assert status.exit_code != 0
        assert "not cancelled" not in compute_backend.logs(running).text
