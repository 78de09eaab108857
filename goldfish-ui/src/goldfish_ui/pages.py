"""What each page shows, gathered from the core services the CLI and the MCP tools use.

Status is :func:`goldfish.orientation.orient` (``mark_seen=False``: looking at the dashboard
does not consume the agent's "new" findings), the runs table is
:func:`goldfish.runs.records.list_runs`, a run is :func:`~goldfish.runs.records.get_run` with
:func:`~goldfish.runs.records.transitions` and :func:`~goldfish.runs.records.lineage`, logs are
:func:`goldfish.runs.logs.read_log`, comparisons :func:`goldfish.runs.compare.compare`, curves
:func:`goldfish.metrics.metric_curves`, workspaces and diffs :class:`goldfish.workspaces.Workspaces`,
patterns :func:`goldfish.patterns.list_patterns`. Functions here only shape those answers for the
templates and the JSON the live pages poll; their only queries of their own are the runs table's
filter choices (live workspace names, :func:`metric_names`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError
from goldfish.findings import by_severity, info_summary, is_passed_check
from goldfish.metrics import metric_curves
from goldfish.orientation import orient
from goldfish.runs import states
from goldfish.runs.compare import compare
from goldfish.runs.logs import read_log
from goldfish.runs.records import (
    RunInfo,
    get_run,
    lineage,
    list_runs,
    resolve_run,
    transitions,
)

if TYPE_CHECKING:
    from goldfish.metrics import Curve
    from goldfish.project import Project

PAGE_SIZE = 50
LOG_TAIL = 60
MAX_COMPARE = 8
RUN_STATES = ("active", *states.ACTIVE, *states.FINAL_RUN)


# --- overview --------------------------------------------------------------------------------


def overview(project: Project) -> dict[str, Any]:
    o = orient(project, mark_seen=False)
    data = o.to_json()
    data["active_runs"] = [active_run(project, a["run"]) for a in o.active]
    data["blocking"] = [f for f in o.findings if f.get("severity") == "blocking"]
    data["other_findings"] = [f for f in o.findings if f.get("severity") != "blocking"]
    return data


def active_runs(project: Project) -> list[dict[str, Any]]:
    """The active runs of :func:`overview`, for the overview's live refresh."""
    o = orient(project, mark_seen=False)
    return [{**active_run(project, a["run"]), "progress": a["progress"]} for a in o.active]


def active_run(project: Project, run_id: str) -> dict[str, Any]:
    info = get_run(project, run_id)
    return {"run": info.id, "workspace": info.workspace, "state": info.state,
            "stages": [stage_row(s) for s in info.stages]}


def stage_row(s: Any) -> dict[str, Any]:
    duration = None
    if s.started_at:
        duration = (s.finished_at or time.time()) - s.started_at
    return {"stage": s.stage, "state": s.state, "duration": duration, "profile": s.profile,
            "note": s.note, "reused_from": s.reused_from,
            "metrics": {name: m["last"] for name, m in s.metrics.items()}}


# --- runs table ------------------------------------------------------------------------------


def runs_table(project: Project, *, workspace: str | None, state: str | None, tag: str | None,
               sort: str | None, page: int) -> dict[str, Any]:
    if page < 1:
        raise InvalidInputError(f"page {page} is not a page number", "pages start at 1")
    if state and state not in RUN_STATES:
        raise InvalidInputError(f"unknown state {state!r}", f"one of: {', '.join(RUN_STATES)}")
    offset = (page - 1) * PAGE_SIZE
    rows = list_runs(project, workspace=workspace or None, state=state or None, tag=tag or None,
                     sort=sort or None, limit=PAGE_SIZE + 1, offset=offset)
    return {"rows": rows[:PAGE_SIZE], "more": len(rows) > PAGE_SIZE, "page": page,
            "filters": {"workspace": workspace or "", "state": state or "", "tag": tag or "",
                        "sort": sort or ""},
            "metric_names": metric_names(project), "states": RUN_STATES,
            "workspaces": [r[0] for r in project.db.query(
                "SELECT name FROM workspaces WHERE deleted_at IS NULL ORDER BY name")]}


def metric_names(project: Project) -> list[str]:
    """Metric names a table can be sorted by (served by the ``metric_summaries(name, …)`` index,
    one step per distinct name)."""
    return [r[0] for r in project.db.query("SELECT DISTINCT name FROM metric_summaries "
                                           "ORDER BY name LIMIT 200")]


# --- a run -----------------------------------------------------------------------------------


def run_page(project: Project, ref: str) -> dict[str, Any]:
    info = get_run(project, ref)
    findings = [f for f in info.findings if not is_passed_check(f)]
    return {"run": info, "stages": [stage_row(s) for s in info.stages],
            "findings": by_severity(findings), "passed": info_summary(info.findings),
            "history": transitions(project, info.id),
            "lineage_up": lineage(project, info.id, "up"),
            "lineage_down": lineage(project, info.id, "down"),
            "log": log_tail(project, info), "plot": plot_data(project, [info.id]),
            "active": info.active}


def run_live(project: Project, ref: str) -> dict[str, Any]:
    """What a run page refreshes while the run is active: states, durations, curves, log."""
    info = get_run(project, ref)
    return {"run": info.id, "state": info.state, "active": info.active,
            "stages": [stage_row(s) for s in info.stages],
            "plot": plot_data(project, [info.id]), "log": log_tail(project, info)}


def log_tail(project: Project, info: RunInfo) -> dict[str, Any] | None:
    if not any(s.started_at for s in info.stages):
        return None
    try:
        chunk = read_log(project, info.id, tail=LOG_TAIL)
    except GoldfishError as exc:
        return {"stage": "", "text": "", "note": exc.message}
    return {"stage": chunk.stage, "text": chunk.text, "note": ""}


def plot_data(project: Project, runs: list[str]) -> dict[str, Any]:
    """Curves grouped by metric (one panel each), as the plotting script draws them."""
    return panels(metric_curves(project, runs))


def panels(curves: list[Curve]) -> dict[str, Any]:
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for c in curves:
        times = list(c.times) or [0.0] * len(c.points)
        by_metric.setdefault(c.metric, []).append(
            {"run": c.run, "points": [[x, y, t] for (x, y), t in zip(c.points, times,
                                                                     strict=True)]})
    runs = list(dict.fromkeys(c.run for c in curves))
    return {"runs": runs, "panels": [{"metric": m, "series": s} for m, s in by_metric.items()]}


# --- compare ---------------------------------------------------------------------------------


def compare_page(project: Project, refs: list[str]) -> dict[str, Any]:
    refs = [r for part in refs for r in part.replace(",", " ").split() if r]
    if len(refs) < 2:  # nothing to compare yet: offer the latest runs to pick from
        return {"pick": True, "chosen": [resolve_run(project, r) for r in refs],
                "recent": list_runs(project, limit=PAGE_SIZE)}
    if len(refs) > MAX_COMPARE:
        raise InvalidInputError(f"{len(refs)} runs is more than {MAX_COMPARE} to compare",
                                f"compare at most {MAX_COMPARE} runs at once")
    ids = list(dict.fromkeys(resolve_run(project, r) for r in refs))
    base = ids[0]
    comparisons = [compare(project, base, other) for other in ids[1:]]
    infos = [get_run(project, r) for r in ids]
    return {"pick": False, "runs": infos, "base": base, "comparisons": comparisons,
            "plot": plot_data(project, ids)}


# --- workspaces, state, patterns ---------------------------------------------------------------


def workspaces_page(project: Project) -> dict[str, Any]:
    from goldfish.workspaces import Workspaces

    service = Workspaces(project)
    return {"workspaces": service.list(), "slots": service.slot_map()}


def workspace_page(project: Project, name: str) -> dict[str, Any]:
    from goldfish.workspaces import Workspaces

    info = Workspaces(project).info(name)
    runs = list_runs(project, workspace=info.name, limit=20)
    return {"workspace": info, "versions": list(reversed(info.versions)), "runs": runs}


def diff_page(project: Project, a: str, b: str) -> dict[str, Any]:
    from goldfish.workspaces import Workspaces

    if not a or not b:
        raise InvalidInputError("a diff needs two versions",
                                "open /diff?a=WORKSPACE-vN&b=WORKSPACE-vM, or pick two versions "
                                "on a workspace's page")
    service = Workspaces(project)
    # versions only: a slot (the live files) is not what a read-only page should read
    va, vb = service.resolve_version(a), service.resolve_version(b)
    diff = service.diff(va.tag, vb.tag)
    return {"a": va, "b": vb, "diff": diff, "stat": diff.stat() if diff.changes else ""}


def state_page(project: Project) -> dict[str, Any]:
    from markdown_it import MarkdownIt

    path = project.state_path
    if not path.is_file():
        raise NotFoundError(f"{path.name} does not exist yet in {project.root}",
                            "it is written on the first change (a version saved, a run)")
    text = path.read_text(encoding="utf-8", errors="replace")
    # html=False: raw HTML in STATE.md is shown as text, never as markup
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return {"html": html, "path": path.name}


def patterns_page(project: Project, status: str | None) -> dict[str, Any]:
    from goldfish import patterns

    statuses = patterns.STATUSES
    if status and status not in statuses:
        raise InvalidInputError(f"unknown pattern status {status!r}",
                                f"one of: {', '.join(statuses)}")
    return {"patterns": patterns.list_patterns(project, status or None), "status": status or "",
            "statuses": statuses}
