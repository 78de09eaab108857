"""Helpers for goldfish-svs tests: projects with numpy stages run by the real engine and the
local backend, with the svs plugin registered into the isolated plugin manager."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.testing.projects import WORKSPACE, write_files


def make_project(tmp_path: Path, files: dict[str, str], plugins: Any,
                 svs: str | None = None) -> Project:
    """A project whose workspace ``exp`` (slot w1) holds ``files``; ``svs`` is appended to
    goldfish.yaml as the body of an ``svs:`` section."""
    from goldfish.init import init_project

    src = tmp_path / "src"
    write_files(src, files)
    project = init_project(tmp_path / "project", name="svs-test", from_dir=src,
                           workspace=WORKSPACE, plugins=plugins)
    if svs:
        with open(project.config_path, "a", encoding="utf-8") as fh:
            fh.write("svs:\n" + textwrap.indent(textwrap.dedent(svs).strip("\n"), "  ") + "\n")
        project.reload_config()
    return project


def run(project: Project, **kwargs: Any) -> str:
    engine = Engine(project)
    run_id = engine.run("w1", **kwargs)
    state = engine.wait(run_id, timeout=120)
    assert state in ("done", "failed", "cancelled", "lost"), state
    return str(run_id)


def findings(project: Project, run_id: str, check: str | None = None) -> list[dict[str, Any]]:
    rows = project.db.query("SELECT * FROM findings WHERE run_id = ? ORDER BY id", (run_id,))
    out = [{"check": r["check_name"], "severity": r["severity"], "message": r["message"],
            "stage": r["stage"], "signal": r["signal"], "phase": r["phase"],
            "source": r["source"], "data": json.loads(r["data"])} for r in rows]
    return [f for f in out if check is None or f["check"] == check]


def state(project: Project, run_id: str, stage: str | None = None) -> str:
    if stage is None:
        row = project.db.one("SELECT state FROM runs WHERE id = ?", (run_id,))
    else:
        row = project.db.one("SELECT state FROM stage_runs WHERE run_id = ? AND stage = ?",
                             (run_id, stage))
    assert row is not None
    return str(row[0])


def stage_error(project: Project, run_id: str, stage: str) -> str:
    row = project.db.one("SELECT error FROM stage_runs WHERE run_id = ? AND stage = ?",
                         (run_id, stage))
    assert row is not None
    return str(row[0] or "")


def edit_pipeline(project: Project, text: str) -> None:
    (project.slot_path("w1") / "pipeline.yaml").write_text(text, encoding="utf-8")
