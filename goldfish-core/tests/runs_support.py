"""Helpers for the run engine tests: projects with small stdlib-only pipelines, a CLI runner."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldfish.cli import main
from goldfish.project import Project

GOLDFISH = str(Path(sys.executable).with_name("goldfish"))
WORKSPACE = "exp"

#: prepare → train → evaluate with json signals; no numpy, so stages start fast.
CHAIN = {
    "pipeline.yaml": """
        name: chain
        stages:
          - name: prepare
            outputs: {data: {type: json}}
            config: {n: 5}
          - name: train
            inputs: {data: {from: prepare.data}}
            outputs: {model: {type: json}}
            config: {lr: 0.1, epochs: 3}
          - name: evaluate
            inputs: {model: {from: train.model}, data: {from: prepare.data}}
            outputs: {scores: {type: json}}
    """,
    "modules/prepare.py": """
        from goldfish import io
        n = io.config()["n"]
        io.save_output("data", {"xs": list(range(n))})
        print("prepared", n)
    """,
    "modules/train.py": """
        from goldfish import io
        cfg = io.config()
        data = io.load_input("data")
        for epoch in range(cfg["epochs"]):
            io.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
        io.save_output("model", {"w": sum(data["xs"]) * cfg["lr"]})
    """,
    "modules/evaluate.py": """
        from goldfish import io
        model = io.load_input("model")
        data = io.load_input("data")
        accuracy = min(1.0, model["w"] / (len(data["xs"]) * 2))
        io.log_metric("accuracy", accuracy)
        io.save_output("scores", {"accuracy": accuracy})
    """,
}


@dataclass
class Result:
    code: int
    out: str
    err: str


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def make_project(tmp_path: Path, files: dict[str, str], plugins: object = None) -> Project:
    """A project whose workspace ``exp`` (slot w1) holds ``files``."""
    from goldfish.init import init_project

    src = tmp_path / "src"
    write_files(src, files)
    return init_project(tmp_path / "project", name="test-runs", from_dir=src,
                        workspace=WORKSPACE, plugins=plugins)  # type: ignore[arg-type]


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
