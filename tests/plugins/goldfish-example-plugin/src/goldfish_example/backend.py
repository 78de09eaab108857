"""The ``example`` compute backend: stages run on this machine at a lower CPU priority.

It composes Goldfish's local backend, which already keeps the contract (a detached supervisor,
exit records, heartbeats, stop/cancel/timeout escalation, a clean environment), and changes one
thing: the stage command runs under ``nice``. A backend for Docker or a cloud replaces the
delegation with its own launch/poll/logs/cancel/release and keeps everything else.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from goldfish.builtins.local_compute import LocalBackend
from goldfish.compute import Capabilities, Handle, Job, JobStatus, LogChunk

from goldfish_example.settings import ExampleProfile


class ExampleBackend:
    name = "example"
    capabilities = Capabilities(detached=True, shares_filesystem=True, live_logs=True)

    def __init__(self, project_root: Path, config: dict[str, Any]) -> None:
        settings = ExampleProfile.model_validate(config)
        self.niceness = settings.niceness
        self.local = LocalBackend(project_root,
                                  {"kill_grace_seconds": settings.kill_grace_seconds})

    def launch(self, job: Job) -> Handle:
        niced = replace(job, command=["nice", "-n", str(self.niceness), *job.command])
        handle = self.local.launch(niced)
        return Handle(self.name, handle.job_id, handle.data)

    def poll(self, handle: Handle) -> JobStatus:
        return self.local.poll(handle)

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        return self.local.logs(handle, tail=tail, cursor=cursor)

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        self.local.cancel(handle, grace_seconds=grace_seconds)

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        self.local.fetch(handle, job_dir)

    def release(self, handle: Handle) -> None:
        self.local.release(handle)
