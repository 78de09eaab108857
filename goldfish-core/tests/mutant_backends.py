"""Broken copies of the local backend, one planted bug each, and the suite run against each.

``test_contract_suites.py`` runs the ``Test*`` classes here in a separate pytest process and
checks that the conformance suite fails every one of them on the test meant to catch its bug —
and that each mutant otherwise works (its plain stage run passes), so the failure is the bug's.
This file is not collected by the normal test run (its name does not start with ``test_``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from goldfish.builtins.local_compute import CAPABILITIES, LocalBackend
from goldfish.compute import Handle, Job, JobStatus, LogChunk
from goldfish.testing.contracts import BackendFactory, ComputeBackendContract

HERE = "mutant_backends"


class KilledReportsExit0(LocalBackend):
    """Reads "ended by a signal" as a clean exit (like a wrapper that reports ``$?`` of a
    ``wait`` it did not inspect)."""

    def _exit_status(self, job_dir: Path) -> JobStatus | None:
        status = super()._exit_status(job_dir)
        if status is not None and status.cause == "killed":
            return replace(status, exit_code=0, cause=None, message=None)
        return status


class VanishedWrapperIsExit0(LocalBackend):
    """Takes "my supervisor is gone" to mean "the job finished"."""

    def poll(self, handle: Handle) -> JobStatus:
        status = super().poll(handle)
        job_dir = self._job_dir(handle)
        if status.state == "lost" and job_dir is not None and job_dir.is_dir():
            return JobStatus("exited", exit_code=0)
        return status


class NoHeartbeats(LocalBackend):
    """Never reports the stage's heartbeat."""

    def poll(self, handle: Handle) -> JobStatus:
        return replace(super().poll(handle), heartbeat_at=None)


class InMemoryHandles(LocalBackend):
    """Keeps where each job lives in a dict of this instance; the handle holds nothing."""

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        super().__init__(project_root, config)
        self._jobs: dict[str, Handle] = {}

    def launch(self, job: Job) -> Handle:
        self._jobs[job.job_id] = super().launch(job)
        return Handle(self.name, job.job_id, {"in_memory": True})

    def _real(self, handle: Handle) -> Handle:
        return self._jobs.get(handle.job_id, handle)

    def poll(self, handle: Handle) -> JobStatus:
        return super().poll(self._real(handle))

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        return super().logs(self._real(handle), tail, cursor)

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        super().cancel(self._real(handle), grace_seconds)

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        super().fetch(self._real(handle), job_dir)

    def release(self, handle: Handle) -> None:
        super().release(self._real(handle))


class PrivateJobDir(LocalBackend):
    """Runs each job in a private copy of its directory (fetching results back) while still
    declaring ``shares_filesystem``: the engine's ``stop`` file never reaches the stage."""

    def launch(self, job: Job) -> Handle:
        work = self.project_root / ".private" / job.job_id
        if not work.exists():
            shutil.copytree(job.job_dir, work)
        return super().launch(replace(job, job_dir=work))


class LeaksCallerEnv(LocalBackend):
    """Starts the stage environment from the caller's ``os.environ``."""

    def stage_env(self, job: Job) -> dict[str, str]:
        return {**os.environ, **super().stage_env(job)}


class SplitsCharacters(LocalBackend):
    """Decodes whatever bytes are there, cutting a multi-byte character at the chunk's end."""

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        if tail is not None:
            return super().logs(handle, tail, cursor)
        final = self.poll(handle).final
        job_dir = self._job_dir(handle)
        path = job_dir / "log.txt" if job_dir else None
        data = path.read_bytes()[cursor:] if path is not None and path.is_file() else b""
        return LogChunk(data.decode("utf-8", errors="replace"), cursor + len(data),
                        complete=final)


class CancelRestartsGrace(LocalBackend):
    """Escalates from the caller's side and restarts the grace on every call: the engine's
    cancel on every tick means SIGKILL never comes."""

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        job_dir = self._job_dir(handle)
        if job_dir is None or (job_dir / "exit.json").exists():
            return
        pid = json.loads((job_dir / "supervisor.json").read_text()).get("stage_pid")
        deadline = job_dir / "cancel-deadline"
        deadline.write_text(str(time.time() + grace_seconds))  # the bug: rewritten every call
        # (no `stop` file: the supervisor would escalate on its own and hide the planted bug)
        with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
            os.killpg(pid, signal.SIGTERM)
            if time.time() >= float(deadline.read_text()):
                os.killpg(pid, signal.SIGKILL)


class BlocksInLaunch(LocalBackend):
    """Runs the job to completion inside ``launch`` yet declares ``detached=True``."""

    def launch(self, job: Job) -> Handle:
        handle = super().launch(job)
        while not self.poll(handle).final:
            time.sleep(0.05)
        return handle


class Synchronous(BlocksInLaunch):
    """The same, honestly declared ``detached=False``: the suite must pass it, skipping what
    needs a running job, and never hang."""

    capabilities = replace(CAPABILITIES, detached=False)


def _suite(factory: str, **attrs: Any) -> type[ComputeBackendContract]:
    class Suite(ComputeBackendContract):
        @pytest.fixture
        def backend_factory(self, tmp_path: Path) -> BackendFactory:
            return BackendFactory(f"{HERE}:{factory}", tmp_path, {"kill_grace_seconds": 1})

    for key, value in attrs.items():
        setattr(Suite, key, value)
    Suite.__name__ = Suite.__qualname__ = f"Test{factory}"
    return Suite


TestKilledReportsExit0 = _suite("KilledReportsExit0")
TestVanishedWrapperIsExit0 = _suite("VanishedWrapperIsExit0")
TestNoHeartbeats = _suite("NoHeartbeats", job_timeout=8.0)
TestInMemoryHandles = _suite("InMemoryHandles")
TestPrivateJobDir = _suite("PrivateJobDir", job_timeout=5.0)
TestLeaksCallerEnv = _suite("LeaksCallerEnv")
TestSplitsCharacters = _suite("SplitsCharacters")
TestCancelRestartsGrace = _suite("CancelRestartsGrace", job_timeout=6.0)
TestBlocksInLaunch = _suite("BlocksInLaunch", launch_timeout=2.0)
