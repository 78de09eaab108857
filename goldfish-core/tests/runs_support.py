"""Helpers for the run engine tests: projects with small stdlib-only pipelines, a CLI runner."""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

from goldfish.cli import main
from goldfish.project import Project
from goldfish.testing import projects as testing_projects
from goldfish.testing.projects import CHAIN as CHAIN
from goldfish.testing.projects import GOLDFISH, Result, write_files
from goldfish.testing.projects import WORKSPACE as WORKSPACE


def make_project(tmp_path: Path, files: dict[str, str], plugins: object = None) -> Project:
    """A project whose workspace ``exp`` (slot w1) holds ``files``."""
    return testing_projects.make_project(tmp_path, files, plugins=plugins, name="test-runs")


def slot(project: Project) -> Path:
    return project.slot_path("w1")


def edit(project: Project, rel: str, text: str) -> None:
    write_files(slot(project), {rel: text})


def cli(project: Project, *args: str) -> Result:
    """``goldfish --project ROOT ARGS`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--project", str(project.root), *args])
    return Result(code, out.getvalue(), err.getvalue())


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["GOLDFISH_LOAD_PLUGINS"] = ""
    return env


def cli_process(project: Project, *args: str, timeout: float = 120) -> Result:
    """The real console script in a subprocess."""
    proc = subprocess.run([GOLDFISH, "--project", str(project.root), *args], env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def wait_for(check: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stage_states(project: Project, run_id: str) -> dict[str, str]:
    return {r[0]: r[1] for r in project.db.query(
        "SELECT stage, state FROM stage_runs WHERE run_id = ? ORDER BY position", (run_id,))}


def one(project: Project, sql: str, params: tuple[object, ...] = ()) -> Any:
    """The first row of a query that must return one."""
    rows = project.db.query(sql, params)
    assert rows, f"no row for {sql}"
    return rows[0]
