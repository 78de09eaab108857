"""What was recorded about runs, and the questions asked of it.

Runs by id, unique prefix or tag (``@best``, ``<workspace>@best``); lists with filters and sorting
by a metric; metric summaries (last, min, max, count, trend); conclusions; tags; lineage up and
down. Read-only except :func:`conclude`, :func:`tag_run` and :func:`update_best`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from goldfish.errors import ConflictError, InvalidInputError, NotFoundError
from goldfish.plain import field, record
from goldfish.runs import states
from goldfish.runs.ids import RUN_ID, check_tag_name

if TYPE_CHECKING:
    import sqlite3

    from goldfish.project import Project

OUTCOMES = ("success", "partial", "miss")
TREND_WINDOW = 20
BEST = "@best"


@record
class StageInfo:
    stage: str
    state: str
    note: str
    module: str
    profile: str
    config: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    reused_from: str | None
    cache_key: str | None
    exit_code: int | None
    cause: str | None
    error: str | None
    started_at: float | None
    finished_at: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@record
class RunInfo:
    id: str
    workspace: str
    version: str
    commit: str
    state: str
    reason: dict[str, Any]
    overrides: dict[str, Any]
    results: dict[str, Any] | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    stages: list[StageInfo] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    conclusion: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in states.ACTIVE

    def stage(self, name: str) -> StageInfo:
        for s in self.stages:
            if s.stage == name:
                return s
        raise NotFoundError(f"run {self.id} has no stage {name!r}",
                            f"its stages: {', '.join(s.stage for s in self.stages)}")

    def metric(self, name: str) -> float | None:
        """The last value of ``name`` (``stage.name`` or a bare name: the last stage logging it)."""
        stage, dot, bare = name.rpartition(".")
        for s in reversed(self.stages):
            if dot and s.stage != stage:
                continue
            m = s.metrics.get(bare if dot else name)
            if m is not None:
                return float(m["last"]) if m["last"] is not None else None
        return None

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["stages"] = [s.to_json() for s in self.stages]
        return out


# --- resolving --------------------------------------------------------------------------------


def resolve_run(project: Project, ref: str) -> str:
    """A run id from an id, a unique prefix, ``@best`` or ``<workspace>@best`` or ``latest``."""
    ref = ref.strip()
    db = project.db
    if ref == "latest":
        row = db.one("SELECT id FROM runs ORDER BY created_at DESC LIMIT 1")
        if row is None:
            raise NotFoundError("there are no runs yet", "start one with `goldfish run`")
        return str(row[0])
    if "@" in ref:
        rows = db.query("SELECT target FROM tags WHERE kind = 'run' AND name = ?", (ref,))
        if not rows and ref.startswith("@"):
            rows = db.query("SELECT target FROM tags WHERE kind = 'run' AND name LIKE ? "
                            "ORDER BY created_at DESC", (f"%{ref}",))
        if not rows:
            raise NotFoundError(f"no run is tagged {ref!r}",
                                "`@best` exists once a run with a results spec finished; list "
                                "tags with `goldfish runs --tag`")
        return str(rows[0][0])
    tagged = db.one("SELECT target FROM tags WHERE kind = 'run' AND name = ?", (ref,))
    if tagged is not None:
        return str(tagged[0])
    if RUN_ID.match(ref):
        if db.one("SELECT 1 FROM runs WHERE id = ?", (ref,)) is None:
            from goldfish.lifecycle.prune import pruned_hint

            raise NotFoundError(f"no run {ref!r}", pruned_hint(project, ref)
                                or "list runs with `goldfish runs`")
        return ref
    rows = db.query("SELECT id FROM runs WHERE id LIKE ? ORDER BY created_at DESC LIMIT 3",
                    (f"{ref}%" if ref.startswith("r-") else f"r-%{ref}%",))
    if len(rows) == 1:
        return str(rows[0][0])
    if not rows:
        raise NotFoundError(f"no run {ref!r}", "list runs with `goldfish runs`")
    raise InvalidInputError(f"{ref!r} matches several runs ({', '.join(r[0] for r in rows)}…)",
                            "give more of the id")


# --- reading ----------------------------------------------------------------------------------


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def get_run(project: Project, ref: str) -> RunInfo:
    run_id = resolve_run(project, ref)
    db = project.db
    row = db.one("SELECT * FROM runs WHERE id = ?", (run_id,))
    assert row is not None
    outputs: dict[str, dict[str, dict[str, Any]]] = {}
    for o in db.query("SELECT * FROM outputs WHERE run_id = ?", (run_id,)):
        outputs.setdefault(o["stage"], {})[o["name"]] = {
            "type": o["type"], "digest": o["digest"], "uri": o["uri"], "size": o["size"]}
    metrics = metric_summaries(project, run_id)
    stages = [StageInfo(
        stage=s["stage"], state=s["state"], note=s["note"], module=s["module"],
        profile=s["profile"], config=_loads(s["config"], {}), inputs=_loads(s["inputs"], {}),
        outputs=outputs.get(s["stage"], {}), metrics=metrics.get(s["stage"], {}),
        reused_from=s["reused_from"], cache_key=s["cache_key"], exit_code=s["exit_code"],
        cause=s["cause"], error=s["error"], started_at=s["started_at"],
        finished_at=s["finished_at"])
        for s in db.query("SELECT * FROM stage_runs WHERE run_id = ? ORDER BY position",
                          (run_id,))]
    findings = [{"stage": f["stage"], "phase": f["phase"], "source": f["source"],
                 "check": f["check_name"], "severity": f["severity"], "message": f["message"],
                 "signal": f["signal"], "data": _loads(f["data"], {})}
                for f in db.query("SELECT * FROM findings WHERE run_id = ? ORDER BY id",
                                  (run_id,))]
    reviews = [{"phase": r["phase"], "reviewer": r["reviewer"], "decision": r["decision"],
                "summary": r["summary"], "usage": _loads(r["usage"], {})}
               for r in db.query("SELECT * FROM reviews WHERE run_id = ? ORDER BY id",
                                 (run_id,))]
    c = db.one("SELECT * FROM conclusions WHERE run_id = ?", (run_id,))
    conclusion = ({"outcome": c["outcome"], "metric": c["metric"], "value": c["value"],
                   "notes": c["notes"], "at": c["at"]} if c else None)
    tags = [r[0] for r in db.query("SELECT name FROM tags WHERE kind = 'run' AND target = ? "
                                   "ORDER BY name", (run_id,))]
    return RunInfo(id=run_id, workspace=row["workspace"], version=row["version_tag"],
                   commit=row["commit_sha"], state=row["state"],
                   reason=_loads(row["reason"], {}), overrides=_loads(row["overrides"], {}),
                   results=_loads(row["results_spec"], None), error=row["error"],
                   created_at=row["created_at"], started_at=row["started_at"],
                   finished_at=row["finished_at"], stages=stages, findings=findings,
                   reviews=reviews, conclusion=conclusion, tags=tags)


def transitions(project: Project, run_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in project.db.query(
        "SELECT stage, from_state, to_state, at, reason FROM transitions WHERE run_id = ? "
        "ORDER BY id", (run_id,))]


def summarize(values: list[float]) -> dict[str, Any]:
    """last, min, max, count and trend (least-squares slope over the last ``TREND_WINDOW``)."""
    if not values:
        return {"last": None, "min": None, "max": None, "count": 0, "slope": None}
    window = values[-TREND_WINDOW:]
    slope = None
    n = len(window)
    if n >= 2:
        mean_x = (n - 1) / 2
        mean_y = sum(window) / n
        den = sum((i - mean_x) ** 2 for i in range(n))
        slope = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(window)) / den
    return {"last": values[-1], "min": min(values), "max": max(values), "count": len(values),
            "slope": slope}


def trend_word(slope: float | None, scale: float | None = None) -> str:
    if slope is None:
        return "-"
    eps = 1e-9 + 1e-3 * abs(scale or 0)
    return "rising" if slope > eps else "falling" if slope < -eps else "flat"


def metric_summaries(project: Project, run_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for m in project.db.query("SELECT * FROM metric_summaries WHERE run_id = ? ORDER BY name",
                              (run_id,)):
        out.setdefault(m["stage"], {})[m["name"]] = {
            "last": m["last"], "min": m["min"], "max": m["max"], "count": m["count"],
            "slope": m["slope"], "trend": trend_word(m["slope"], m["last"]),
            "last_step": m["last_step"], "updated_at": m["updated_at"]}
    return out


# --- listing ----------------------------------------------------------------------------------


@record
class RunRow:
    id: str
    workspace: str
    version: str
    state: str
    description: str
    created_at: float
    metric: float | None = None
    outcome: str | None = None
    tags: list[str] = field(default_factory=list)


def parse_sort(sort: str | None) -> tuple[str, str] | None:
    if not sort:
        return None
    name, _, direction = sort.partition(":")
    direction = direction or "desc"
    if direction not in ("asc", "desc") or not name:
        raise InvalidInputError(f"--sort {sort!r} is not METRIC[:asc|desc]",
                                "e.g. --sort accuracy:desc or --sort evaluate.loss:asc")
    return name, direction


def list_runs(project: Project, *, workspace: str | None = None, state: str | None = None,
              tag: str | None = None, sort: str | None = None, limit: int = 20,
              offset: int = 0) -> list[RunRow]:
    """Runs, newest first (or by a metric), filtered; ``limit``/``offset`` paginate."""
    where: list[str] = []
    params: list[Any] = []
    if workspace:
        where.append("r.workspace = ?")
        params.append(workspace)
    if state:
        allowed = (*states.FINAL_RUN, *states.ACTIVE, "active")
        if state not in allowed:
            raise InvalidInputError(f"unknown state {state!r}", f"one of: {', '.join(allowed)}")
        if state == "active":
            where.append(f"r.state IN ({','.join('?' * len(states.ACTIVE))})")
            params.extend(states.ACTIVE)
        else:
            where.append("r.state = ?")
            params.append(state)
    if tag:
        where.append("r.id IN (SELECT target FROM tags WHERE kind = 'run' AND (name = ? OR "
                     "name LIKE ?))")
        params.extend([tag, f"%{tag}" if tag.startswith("@") else tag])
    by = parse_sort(sort)
    if by is None:
        sql = _RUN_COLUMNS + " FROM runs r LEFT JOIN conclusions c ON c.run_id = r.id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = project.db.query(sql + " ORDER BY r.created_at DESC LIMIT ? OFFSET ?",
                                [*params, limit, offset])
        out = _run_rows(project, rows)
        name = _default_metric(project, out) if out else None
        if name:
            values = _metric_values(project, [r.id for r in out], name)
            for r in out:
                r.metric = values.get(r.id)
        return out
    return _sorted_runs(project, by, where, params, limit, offset, few=bool(tag))


_RUN_COLUMNS = ("SELECT r.id, r.workspace, r.version_tag, r.state, r.reason, r.created_at, "
                "c.outcome")


def _run_rows(project: Project, rows: list[Any]) -> list[RunRow]:
    out = [RunRow(id=r["id"], workspace=r["workspace"], version=r["version_tag"],
                  state=r["state"], description=str(_loads(r["reason"], {}).get("description",
                                                                                  "")),
                  created_at=r["created_at"], outcome=r["outcome"]) for r in rows]
    if out:
        tags: dict[str, list[str]] = {}
        for t in project.db.query(
                f"SELECT name, target FROM tags WHERE kind = 'run' AND target IN "
                f"({','.join('?' * len(out))})", [r.id for r in out]):
            tags.setdefault(t["target"], []).append(t["name"])
        for r in out:
            r.tags = sorted(tags.get(r.id, []))
    return out


_METRIC_JOIN = ("metric_summaries m CROSS JOIN stage_runs s ON s.run_id = m.run_id AND "
                "s.stage = m.stage")


def _metric_condition(name: str) -> tuple[str, list[Any]]:
    """A condition over ``metric_summaries m`` (joined to its ``stage_runs s``) that keeps, per
    run, the row whose ``last`` is the run's value of ``name``: ``stage.metric``, or the last
    stage (by position) with a value of a bare name, as :func:`_metric_values` decides."""
    stage, dot, bare = name.rpartition(".")
    sql = "m.name = ? AND m.last IS NOT NULL"
    params: list[Any] = [bare if dot else name]
    if dot:
        sql += " AND m.stage = ?"
        params.append(stage)
    else:
        sql += (" AND NOT EXISTS (SELECT 1 FROM metric_summaries m2 JOIN stage_runs s2 ON "
                "s2.run_id = m2.run_id AND s2.stage = m2.stage WHERE m2.run_id = m.run_id AND "
                "m2.name = m.name AND m2.last IS NOT NULL AND s2.position > s.position)")
    return sql, params


def _sorted_runs(project: Project, by: tuple[str, str], where: list[str], params: list[Any],
                 limit: int, offset: int, *, few: bool = False) -> list[RunRow]:
    """Runs by a metric, in SQL: those with a value first (best first; ties newest first), then
    those without, newest first. The index on ``metric_summaries(name, last)`` gives the order
    (``CROSS JOIN`` keeps SQLite from starting at ``runs``), so a first page reads about a page
    of rows whatever the number of runs; ``few`` (a tag filter) starts at the runs instead."""
    name, direction = by
    has, has_params = _metric_condition(name)
    filters = "".join(f" AND {w}" for w in where)
    order = "DESC" if direction == "desc" else "ASC"
    join = "JOIN" if few else "CROSS JOIN"
    present = f"FROM {_METRIC_JOIN} {join} runs r ON r.id = m.run_id WHERE {has}{filters}"
    rows = project.db.query(
        f"{_RUN_COLUMNS}, m.last AS metric FROM {_METRIC_JOIN} {join} runs r ON r.id = m.run_id "
        f"LEFT JOIN conclusions c ON c.run_id = r.id WHERE {has}{filters} "
        f"ORDER BY m.last {order}, r.created_at DESC LIMIT ? OFFSET ?",
        [*has_params, *params, limit, offset])
    out = _run_rows(project, rows)
    for r, row in zip(out, rows, strict=True):
        r.metric = float(row["metric"])
    if len(out) < limit:  # past the runs with a value: those without it, newest first
        found = project.db.one(f"SELECT COUNT(*) {present}", [*has_params, *params])
        skip = max(0, offset - (found[0] if found else 0))
        stage, dot, bare = name.rpartition(".")
        missing = project.db.query(
            f"{_RUN_COLUMNS} FROM runs r LEFT JOIN conclusions c ON c.run_id = r.id WHERE NOT "
            f"EXISTS (SELECT 1 FROM {_METRIC_JOIN} WHERE m.run_id = r.id AND m.name = ? AND "
            f"m.last IS NOT NULL{' AND m.stage = ?' if dot else ''}){filters} "
            f"ORDER BY r.created_at DESC LIMIT ? OFFSET ?",
            [bare if dot else name, *([stage] if dot else []), *params, limit - len(out), skip])
        out += _run_rows(project, missing)
    return out


def _default_metric(project: Project, rows: list[RunRow]) -> str | None:
    for r in rows:
        spec = project.db.one("SELECT results_spec FROM runs WHERE id = ?", (r.id,))
        results = _loads(spec[0] if spec else None, None)
        if results and results.get("metric"):
            return str(results["metric"])
    return None


def _metric_values(project: Project, run_ids: list[str], name: str) -> dict[str, float]:
    """Per run, the last value of ``name`` (``stage.metric`` or the last stage that logs it)."""
    if not run_ids:
        return {}
    stage, dot, bare = name.rpartition(".")
    marks = ",".join("?" * len(run_ids))
    sql = (f"SELECT m.run_id, m.last FROM metric_summaries m JOIN stage_runs s ON "
           f"s.run_id = m.run_id AND s.stage = m.stage WHERE m.run_id IN ({marks}) AND +m.name = ?")
    params: list[Any] = [*run_ids, bare if dot else name]
    if dot:
        sql += " AND m.stage = ?"
        params.append(stage)
    sql += " ORDER BY s.position"
    out: dict[str, float] = {}
    for r in project.db.query(sql, params):
        if r["last"] is not None:
            out[r["run_id"]] = float(r["last"])
    return out


# --- conclusions and tags ----------------------------------------------------------------------


def conclude(project: Project, ref: str, outcome: str, notes: str = "",
             metric: str | None = None, *, force: bool = False) -> dict[str, Any]:
    """Record the authoritative verdict on a finished run. Refused while it is active, and
    ``success`` on a run that did not finish ``done`` is refused unless ``force``."""
    if outcome not in OUTCOMES:
        raise InvalidInputError(f"unknown outcome {outcome!r}", f"one of: {', '.join(OUTCOMES)}")
    info = get_run(project, ref)
    if info.active:
        raise ConflictError(f"run {info.id} is still {info.state}; a conclusion needs its results",
                            f"wait for it (`goldfish run --wait` / `goldfish show {info.id}`) "
                            "or cancel it, then conclude")
    if outcome == "success" and info.state != "done" and not force:
        why = f": {info.error.splitlines()[0][:200]}" if info.error else ""
        raise ConflictError(
            f"run {info.id} ended {info.state}{why}; concluding it a success would record "
            "results it did not produce",
            f"conclude it `partial` or `miss` (`goldfish conclude {info.id} --outcome miss "
            "--notes ...`), or, if its results stand despite the failure, confirm with "
            "`--force` (MCP: force=true)")
    name = metric or (info.results or {}).get("metric")
    value = info.metric(name) if name else None
    now = time.time()
    with project.tx() as conn:
        conn.execute("INSERT OR REPLACE INTO conclusions (run_id, outcome, metric, value, notes, "
                     "at) VALUES (?, ?, ?, ?, ?, ?)", (info.id, outcome, name, value, notes, now))
        forced = f" (forced: the run ended {info.state})" if info.state != "done" and \
            outcome == "success" else ""
        project.emit("run.concluded", info.id, f"{info.id} concluded {outcome}{forced}"
                     + (f" ({name}={value:.4g})" if value is not None else "")
                     + (f": {notes}" if notes else ""),
                     outcome=outcome, metric=name, value=value, notes=notes,
                     workspace=info.workspace, forced=bool(forced), state=info.state)
    return {"run_id": info.id, "outcome": outcome, "metric": name, "value": value,
            "notes": notes, "state": info.state, "forced": bool(forced)}


def tag_run(project: Project, ref: str, name: str, note: str = "") -> str:
    check_tag_name(name)
    run_id = resolve_run(project, ref)
    with project.tx() as conn:
        conn.execute("INSERT OR REPLACE INTO tags (name, kind, target, created_at, note) "
                     "VALUES (?, 'run', ?, ?, ?)", (name, run_id, time.time(), note))
        project.emit("run.tagged", run_id, f"{run_id} tagged {name}", tag=name)
    return run_id


def run_tags(project: Project) -> list[dict[str, Any]]:
    """Every tag of a run (``baseline``, ``exp@best``…), oldest first."""
    return [{"name": r["name"], "kind": "run", "target": r["target"],
             "created_at": r["created_at"], "note": r["note"] or ""}
            for r in project.db.query("SELECT * FROM tags WHERE kind = 'run' "
                                      "ORDER BY created_at, name")]


def update_best(project: Project, conn: sqlite3.Connection, run_id: str) -> bool:
    """Move ``<workspace>@best`` to ``run_id`` when it beats the holder on the results spec."""
    row = conn.execute("SELECT workspace, results_spec FROM runs WHERE id = ?",
                       (run_id,)).fetchone()
    results = _loads(row[1], None) if row else None
    if not results or not results.get("metric"):
        return False
    name = str(results["metric"])
    direction = str(results.get("direction", "max"))
    value = _metric_values(project, [run_id], name).get(run_id)
    if value is None:
        return False
    tag = f"{row[0]}{BEST}"
    holder = conn.execute("SELECT target FROM tags WHERE kind = 'run' AND name = ?",
                          (tag,)).fetchone()
    if holder is not None:
        best = _metric_values(project, [holder[0]], name).get(holder[0])
        if best is not None and (value <= best if direction == "max" else value >= best):
            return False
    conn.execute("INSERT OR REPLACE INTO tags (name, kind, target, created_at, note) "
                 "VALUES (?, 'run', ?, ?, ?)", (tag, run_id, time.time(), f"{name}={value:.6g}"))
    project.emit("run.best", run_id, f"{run_id} is the new best of {row[0]} ({name}={value:.4g})",
                 workspace=row[0], metric=name, value=value)
    return True


# --- lineage ----------------------------------------------------------------------------------


def lineage(project: Project, ref: str, direction: str = "up") -> list[dict[str, Any]]:
    """Edges upstream (what ``RUN[/STAGE]`` consumed, transitively, back to sources) or downstream
    (every stage run that consumed its outputs, transitively). ``source:NAME`` works both ways:
    down to every stage that read it, up to the run output it was promoted from (a source
    registered from a file is an origin: nothing upstream)."""
    from goldfish.runs.ids import parse_ref

    if ref.strip().startswith(SOURCE_PREFIX):
        return _source_lineage(project, ref.strip()[len(SOURCE_PREFIX):].strip(), direction)
    r = parse_ref(ref)
    run_id = resolve_run(project, r.run)
    stages = [s[0] for s in project.db.query(
        "SELECT stage FROM stage_runs WHERE run_id = ?", (run_id,))]
    if r.stage and r.stage not in stages:
        raise NotFoundError(f"run {run_id} has no stage {r.stage!r}",
                            f"its stages: {', '.join(stages)}")
    start = [(run_id, r.stage)] if r.stage else [(run_id, s) for s in stages]
    edges: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    todo = list(start)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if direction == "up":
            for i in project.db.query("SELECT * FROM stage_inputs WHERE run_id = ? AND stage = ?",
                                      node):
                src = (f"source:{i['source']}" if i["source"]
                       else f"{i['from_run']}/{i['from_stage']}.{i['from_output']}")
                edges.append({"from": src, "to": f"{node[0]}/{node[1]}.{i['name']}",
                              "digest": i["digest"]})
                if i["from_run"]:
                    todo.append((i["from_run"], i["from_stage"]))
        else:
            for i in project.db.query("SELECT * FROM stage_inputs WHERE from_run = ? AND "
                                      "from_stage = ?", node):
                edges.append({"from": f"{node[0]}/{node[1]}.{i['from_output']}",
                              "to": f"{i['run_id']}/{i['stage']}.{i['name']}",
                              "digest": i["digest"]})
                todo.append((i["run_id"], i["stage"]))
    return edges


SOURCE_PREFIX = "source:"


def _source_lineage(project: Project, name: str, direction: str) -> list[dict[str, Any]]:
    from goldfish.runs.ids import RUN_ID
    from goldfish.runs.sources import get_source

    src = get_source(project, name)  # an unknown name is an error with a did-you-mean
    if direction == "down":
        return _down_from_source(project, src.name)
    run, _, rest = src.origin.partition("/")
    stage, _, output = rest.partition(".")
    if not (RUN_ID.match(run) and stage and output):
        return []  # registered from a file: the origin of its lineage
    edges = [{"from": src.origin, "to": f"{SOURCE_PREFIX}{src.name}", "digest": src.digest}]
    if project.db.one("SELECT 1 FROM stage_runs WHERE run_id = ? AND stage = ?", (run, stage)):
        edges += lineage(project, f"{run}/{stage}", "up")
    return edges


def no_lineage(project: Project, ref: str, direction: str, *,
               down: str = "direction down") -> str:
    """What to say when :func:`lineage` found no edge, with the next thing to try (``down``
    names the way to ask for consumers: the tool's argument or the CLI's ``--down``)."""
    text = ref.strip()
    if text.startswith(SOURCE_PREFIX):
        from goldfish.runs.sources import get_source

        src = get_source(project, text[len(SOURCE_PREFIX):].strip())
        if direction == "up":
            return (f"source {src.name} was registered from {src.origin or 'a file'}: nothing "
                    f"upstream; {down} lists the stages that read it")
        return f"no stage has read source {src.name} yet"
    return "no lineage recorded" + (" downstream" if direction == "down" else "")


def _down_from_source(project: Project, name: str) -> list[dict[str, Any]]:
    edges = []
    for i in project.db.query("SELECT * FROM stage_inputs WHERE source = ?", (name,)):
        edges.append({"from": f"source:{name}", "to": f"{i['run_id']}/{i['stage']}.{i['name']}",
                      "digest": i["digest"]})
        edges += lineage(project, f"{i['run_id']}/{i['stage']}", "down")
    return edges
