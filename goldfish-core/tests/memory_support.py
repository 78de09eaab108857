"""Helpers for the memory/orientation tests and the status benchmark: records written straight
into SQLite (fast, and independent of the engine), shaped exactly like the engine's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from goldfish.project import Project


def new_project(tmp_path: Path, *, goal: str = "beat 0.9 accuracy",
                invariants: tuple[str, ...] = ("evaluate on the frozen split",),
                workspace: str | None = "exp") -> Project:
    from goldfish.init import init_project
    from goldfish.plugins import build

    plugins = build(load_entry_points=False)
    project = init_project(tmp_path / "project", name="mem-lab", goal=goal, plugins=plugins)
    if invariants:
        text = project.config_path.read_text(encoding="utf-8")
        project.config_path.write_text(text.replace(
            "invariants: []", "invariants: [" + ", ".join(invariants) + "]"), encoding="utf-8")
        project.reload_config()
    if workspace:
        from goldfish.workspaces import Workspaces

        Workspaces(project).create(workspace, goal="tune the model", mount="")
    return project


def add_run(project: Project, run_id: str, *, workspace: str = "exp", state: str = "done",
            value: float | None = None, reason: dict[str, Any] | None = None,
            at: float | None = None, stage_state: str | None = None,
            conn: Any = None) -> str:
    """One run with one stage ``train`` logging ``accuracy`` = ``value``."""
    now = at if at is not None else time.time()
    spec = json.dumps({"metric": "accuracy", "direction": "max"})

    def write(c: Any) -> None:
        c.execute("INSERT INTO runs (id, workspace, version, version_tag, state, reason, "
                  "results_spec, created_at, finished_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)",
                  (run_id, workspace, f"{workspace}-v1", state,
                   json.dumps(reason or {"description": f"run {run_id}"}), spec, now,
                   None if state in ("queued", "running") else now + 1))
        c.execute("INSERT INTO stage_runs (run_id, stage, position, state, created_at) "
                  "VALUES (?, 'train', 0, ?, ?)", (run_id, stage_state or state, now))
        if value is not None:
            c.execute("INSERT INTO metric_summaries (run_id, stage, name, last, min, max, count, "
                      "slope, last_step, updated_at) VALUES (?, 'train', 'accuracy', ?, ?, ?, "
                      "10, 0.01, 9, ?)", (run_id, value, value, value, now))

    if conn is not None:
        write(conn)
    else:
        with project.db.tx() as c:
            write(c)
    return run_id


def set_best(project: Project, workspace: str, run_id: str) -> None:
    with project.db.tx() as c:
        c.execute("INSERT OR REPLACE INTO tags (name, kind, target, created_at, note) VALUES "
                  "(?, 'run', ?, ?, '')", (f"{workspace}@best", run_id, time.time()))


def add_finding(project: Project, run_id: str, *, severity: str = "warning",
                message: str = "something looks off", check: str = "nan_ratio",
                data: dict[str, Any] | None = None, conn: Any = None) -> None:
    sql = ("INSERT INTO findings (run_id, stage, phase, source, check_name, severity, message, "
           "data, at) VALUES (?, 'train', 'outputs', 'svs', ?, ?, ?, ?, ?)")
    args = (run_id, check, severity, message, json.dumps(data or {}), time.time())
    if conn is not None:
        conn.execute(sql, args)
    else:
        with project.db.tx() as c:
            c.execute(sql, args)


def add_review(project: Project, run_id: str, decision: str, summary: str,
               phase: str = "before") -> None:
    with project.db.tx() as c:
        c.execute("INSERT INTO reviews (run_id, phase, reviewer, decision, summary, at) "
                  "VALUES (?, ?, 'llm', ?, ?, ?)", (run_id, phase, decision, summary, time.time()))


def many_runs(project: Project, n: int, *, workspace: str = "exp") -> list[str]:
    """``n`` finished runs (a few failed, every 50th with a finding, most concluded), fast."""
    ids = []
    base = time.time() - n
    with project.db.tx() as c:
        for i in range(n):
            run_id = f"r-20260101-{i:06x}"
            state = "failed" if i % 97 == 0 else "done"
            add_run(project, run_id, workspace=workspace, state=state,
                    value=0.5 + 0.4 * i / n, at=base + i, conn=c,
                    reason={"description": f"experiment {i}: lr sweep step {i % 10}",
                            "hypothesis": "a higher learning rate converges faster " * 3})
            if i % 50 == 0:
                add_finding(project, run_id, message=f"nan ratio {i}" * 20, conn=c)
            if i % 3:
                c.execute("INSERT INTO conclusions (run_id, outcome, metric, value, notes, at) "
                          "VALUES (?, 'partial', 'accuracy', ?, ?, ?)",
                          (run_id, 0.5, f"notes for {i} " * 10, base + i))
            ids.append(run_id)
        c.execute("INSERT OR REPLACE INTO tags (name, kind, target, created_at, note) VALUES "
                  "(?, 'run', ?, ?, '')", (f"{workspace}@best", ids[-1], time.time()))
    return ids
