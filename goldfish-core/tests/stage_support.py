"""Helpers for the in-stage runtime tests: build a job directory by hand, per the contract in
``docs/architecture.md`` § "Job directory", and run ``python -m goldfish._stage`` on it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def make_job(root: Path, code: str = "", *, stage: str = "train", module: str | None = None,
             outputs: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
             config: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
             extra_files: dict[str, str] | None = None) -> Path:
    """A job directory with ``job.json``, ``code/<module>`` and empty ``inputs/``/``outputs/``.

    ``outputs``/``inputs`` map a name to its type (``"npy"``) or to a full job.json entry.
    """
    module = module or f"modules/{stage}.py"
    root.mkdir(parents=True, exist_ok=True)
    (root / "inputs").mkdir(exist_ok=True)
    (root / "outputs").mkdir(exist_ok=True)
    source = root / "code" / module
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(textwrap.dedent(code))
    for rel, text in (extra_files or {}).items():
        path = root / "code" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))

    def entry(value: Any, kind: str, name: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        suffix = {"npy": ".npy", "csv": ".csv", "json": ".json"}.get(value, "")
        out: dict[str, Any] = {"type": value}
        out["path" if kind == "inputs" else "contract"] = (
            f"inputs/{name}{suffix}" if kind == "inputs" else None)
        return out

    job = {
        "run_id": "r-test", "stage": stage, "job_id": "j-test", "module": module,
        "config": config or {},
        "inputs": {n: entry(v, "inputs", n) for n, v in (inputs or {}).items()},
        "outputs": {n: entry(v, "outputs", n) for n, v in (outputs or {}).items()},
        "metrics": metrics or {"max_names": 200},
    }
    (root / "job.json").write_text(json.dumps(job, indent=1))
    return root


@dataclass
class StageResult:
    code: int
    out: str
    err: str
    job: Path

    def error(self) -> dict[str, Any]:
        return json.loads((self.job / "error.json").read_text())

    def metric_lines(self) -> list[dict[str, Any]]:
        path = self.job / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]


def stage_env(job: Path, pythonpath: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["GOLDFISH_JOB_DIR"] = str(job)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return env


def run_stage(job: Path, *, python: str = sys.executable, flags: tuple[str, ...] = (),
              pythonpath: str | None = None, timeout: float = 60) -> StageResult:
    """Run the stage as a backend would: ``python -m goldfish._stage`` with ``cwd=code/``."""
    proc = subprocess.run([python, *flags, "-m", "goldfish._stage"], cwd=job / "code",
                          env=stage_env(job, pythonpath), capture_output=True, text=True,
                          timeout=timeout)
    return StageResult(proc.returncode, proc.stdout, proc.stderr, job)


def start_stage(job: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "goldfish._stage"], cwd=job / "code",
                            env=stage_env(job), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until ``path`` exists (the stage reached a known point) or fail with its output."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"{path.name} never appeared; stage output:\n{out}\n{err}")
        time.sleep(0.02)
