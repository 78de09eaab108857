"""Small real projects for tests — Goldfish's own and plugin authors'.

``CHAIN`` is a three-stage pipeline (prepare → train → evaluate) with json signals and
standard-library stage code, so its stages start in milliseconds. ``make_project`` turns any such
file set into an initialized project whose workspace is mounted in slot ``w1``. ``GOLDFISH`` is
the console script next to this interpreter, and ``Result`` what a test keeps of one command.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from goldfish.project import Project

WORKSPACE = "exp"
#: the ``goldfish`` console script of this environment (what users run)
GOLDFISH = str(Path(sys.executable).with_name("goldfish"))


class Result(NamedTuple):
    """One command's exit code and output."""

    code: int
    out: str
    err: str

#: prepare → train → evaluate with json signals; no numpy, so stages start fast.
CHAIN: dict[str, str] = {
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


def resumable(*, step_seconds: float = 0.03, pause_at: int | None = None) -> dict[str, str]:
    """A one-stage pipeline whose ``train`` checkpoints every 10 of 100 steps and, relaunched,
    prints ``resumed from step N`` and continues from there. With ``pause_at``, the first attempt
    flushes, prints ``waiting at step N`` and sleeps there to be preempted."""
    pause = "" if pause_at is None else f"""
                if start == 0 and step == {pause_at}:  # the first attempt waits to be preempted
                    io.flush()
                    print("waiting at step {pause_at}", flush=True)
                    time.sleep(600)"""
    return {
        "pipeline.yaml": """
            name: resumable
            stages:
              - name: train
                outputs: {model: {type: json}}
        """,
        "modules/train.py": f"""
            import json, pathlib, time
            from goldfish import io
            start = 0
            saved = io.load_checkpoint("state")
            if saved is not None:
                start = json.loads(saved.read_text())["step"] + 1
                print("resumed from step", start, flush=True)
            for step in range(start, 100):
                io.log_metric("loss", 1.0 / (step + 1), step=step)
                if step % 10 == 9:
                    state = pathlib.Path("state.json")
                    state.write_text(json.dumps({{"step": step}}))
                    io.save_checkpoint("state", state, step=step){pause}
                time.sleep({step_seconds})
            io.save_output("model", {{"resumed_from": start}})
        """,
    }


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path → text, dedented) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def make_project(tmp_path: Path, files: dict[str, str], *, plugins: Any = None,
                 workspace: str = WORKSPACE, name: str = "test-project",
                 goal: str = "") -> Project:
    """A project under ``tmp_path/project`` whose workspace (slot ``w1``) holds ``files``."""
    from goldfish.init import init_project

    src = tmp_path / "src"
    write_files(src, files)
    return init_project(tmp_path / "project", name=name, from_dir=src, workspace=workspace,
                        goal=goal, plugins=plugins)


def table_rows(db: Path, table: str) -> set[tuple[Any, ...]]:
    """Every row of ``table`` in the SQLite database at ``db`` (to compare a backup's copy)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return {tuple(r) for r in conn.execute(f"SELECT * FROM {table}")}
    finally:
        conn.close()


def stage_rows(project: Project, run_id: str) -> dict[str, Any]:
    """The run's ``stage_runs`` rows by stage name."""
    return {r["stage"]: r for r in project.db.query(
        "SELECT * FROM stage_runs WHERE run_id = ?", (run_id,))}


def update_config(project: Project, **keys: Any) -> None:
    """Set top-level ``keys`` in the project's ``goldfish.yaml`` and reload its config. A mapping
    joins the one already there (``profiles={"cloud": ...}`` keeps ``local``)."""
    import yaml

    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    for key, value in keys.items():
        old = config.get(key)
        config[key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    project.reload_config()
