"""A tiny but working compute backend: runs the stage command to completion in ``launch``.

Real backends run detached; this one is synchronous so it stays a dozen lines, and declares so in
its capabilities.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from goldfish.compute import Capabilities, Handle, Job, JobStatus, LogChunk


class ExampleBackend:
    name = "example"
    capabilities = Capabilities(detached=False, shares_filesystem=True)

    def __init__(self, project_root: Path, config: dict[str, Any]) -> None:
        self.project_root = Path(project_root)
        self.config = dict(config)

    def launch(self, job: Job) -> Handle:
        started = time.time()
        with open(job.job_dir / "log.txt", "wb") as log:
            env = {**os.environ, **job.env, "GOLDFISH_JOB_DIR": str(job.job_dir)}
            proc = subprocess.run(job.command, cwd=job.job_dir / "code", stdout=log,
                                  stderr=subprocess.STDOUT, env=env)
        record = {"exit_code": proc.returncode, "signal": None, "cause": None,
                  "started_at": started, "finished_at": time.time()}
        (job.job_dir / "exit.json").write_text(json.dumps(record), encoding="utf-8")
        return Handle(self.name, job.job_id, {"job_dir": str(job.job_dir)})

    def poll(self, handle: Handle) -> JobStatus:
        exit_file = Path(handle.data["job_dir"]) / "exit.json"
        if not exit_file.is_file():
            return JobStatus("lost", message=f"{exit_file} is missing")
        record = json.loads(exit_file.read_text(encoding="utf-8"))
        return JobStatus("exited", exit_code=record["exit_code"],
                         started_at=record["started_at"], finished_at=record["finished_at"])

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        data = (Path(handle.data["job_dir"]) / "log.txt").read_bytes()
        if tail is not None:
            text = "\n".join(data.decode(errors="replace").splitlines()[-tail:])
            return LogChunk(text, len(data), complete=True)
        return LogChunk(data[cursor:].decode(errors="replace"), len(data), complete=True)

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        """Nothing to cancel: the job finished inside ``launch``."""

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        """The job ran in ``job_dir`` itself."""

    def release(self, handle: Handle) -> None:
        """Nothing is held."""
