"""The answer to "where am I?" after a context loss: ``goldfish status`` and the ``status`` tool.

One function, :func:`orient`, reads the project database and returns an :class:`Orientation`:
goal and invariants, slots, active runs with progress, findings and notable reviews not yet
seen (each shown once: reading marks them seen; a review skipped for a reason already shown is
not shown again), runs awaiting a conclusion (failed ones with their one-line error), the best
result per workspace with trend, regression and distance to the goal's number
(:mod:`goldfish.goals`), the latest notes and decisions (repeats folded), pending failure
patterns, and suggested next actions. Every list is bounded and every text clipped, so the
answer stays small on a project with thousands of runs; every query is indexed.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from goldfish.plain import field, record
from goldfish.runs import states

if TYPE_CHECKING:
    from goldfish.project import Project

LIST_LIMIT = 5
NOTE_SCAN = 10  # notes read per note shown, to fold repeats of the same text
SKIP_MEMORY = 2000  # reviews looked back over to tell whether a skip reason was shown before
TEXT_LIMIT = 160
TREND_RUNS = 5
CONCLUDABLE = ("done", "failed", "lost")
COUNT_CAP = 100


@record
class Orientation:
    project: str
    goal: str
    invariants: list[str]
    slots: list[dict[str, Any]] = field(default_factory=list)
    unmounted: list[str] = field(default_factory=list)
    active: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    findings_more: int = 0
    reviews: list[dict[str, Any]] = field(default_factory=list)
    unconcluded: list[dict[str, Any]] = field(default_factory=list)
    unconcluded_count: int = 0
    best: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    patterns_pending: int = 0
    idle_workers: dict[str, Any] = field(default_factory=dict)  # {count, hourly_usd}
    runs_total: int = 0
    storage: str | None = None  # reclaimable space, from the last du/gc (never walks the store)
    next: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def render(self) -> str:
        """Compact text for a terminal or a model's context."""
        out = [f"project {self.project}: {self.goal or '(no goal set)'}"]
        if self.invariants:
            out.append("invariants: " + "; ".join(self.invariants))
        out.append("slots: " + ", ".join(
            f"{s['slot']}={s['workspace']}@{s['version']}" if s["workspace"] else f"{s['slot']}=-"
            for s in self.slots))
        for a in self.active:
            out.append(f"running {a['run']} ({a['workspace']}) {a['state']}: {a['progress']}")
        for b in self.best:
            line = (f"best {b['workspace']}: {b['run']} {b['metric']}={_num(b['value'])}"
                    f" ({b['direction']}, trend {b['trend']})")
            if b.get("regression"):
                r = b["regression"]
                line += f"; REGRESSION {r['run']} {b['metric']}={_num(r['value'])}"
            if b.get("goal"):
                line += f"; {b['goal']['text']}"
            out.append(line)
        for f in self.findings:
            where = f"{f['run']}/{f['stage']}" if f.get("stage") else f["run"]
            line = f"new finding {f['severity']} {where} {f['check']}: {f['message']}"
            if f.get("known_failure"):
                k = f["known_failure"]
                line += f" [known failure {k.get('pattern')}: {k.get('prevention') or ''}]"
            out.append(line.rstrip())
        if self.findings_more:
            out.append(f"(+{self.findings_more} more new findings: `findings`)")
        for r in self.reviews:
            out.append(_review_line(r))
        if self.unconcluded_count:
            count = (f"{COUNT_CAP}+" if self.unconcluded_count >= COUNT_CAP
                     else str(self.unconcluded_count))
            # a failed run carries its one-line error, so the agent sees why before concluding
            plain = [f"{u['run']} {u['state']}" for u in self.unconcluded if not u.get("error")]
            out.append(f"awaiting conclusion ({count}): " + ", ".join(plain) if plain
                       else f"awaiting conclusion ({count}):")
            out += [f"  {u['run']} {u['state']}: {u['error']}" for u in self.unconcluded
                    if u.get("error")]
        for label, items in (("decision", self.decisions), ("note", self.notes),
                             ("open question", self.questions)):
            out += [f"{label}: {n['text']}{_times(n)}" for n in items]
        if self.patterns_pending:
            out.append(f"failure patterns awaiting review: {self.patterns_pending}")
        if self.idle_workers.get("count"):
            out.append(idle_workers_line(self.idle_workers))
        out.append(f"runs recorded: {self.runs_total}")
        if self.storage:
            out.append(self.storage)
        out += [f"next: {n}" for n in self.next]
        return "\n".join(out)


def orient(project: Project, *, mark_seen: bool = True, limit: int = LIST_LIMIT) -> Orientation:
    """Gather the orientation; with ``mark_seen`` the findings and reviews shown become seen."""
    config = project.config
    o = Orientation(project=config.project, goal=config.goal, invariants=config.invariants)
    from goldfish.lifecycle.du import status_line  # a small file read, not a walk
    from goldfish.runs.workers import idle_cost

    db = project.db
    _slots(project, o)
    o.runs_total = int(db.query("SELECT count(*) FROM runs")[0][0])
    o.storage = status_line(project)
    _active(project, o, limit)
    _findings(project, o, limit, mark_seen)
    _unconcluded(project, o, limit)
    _best(project, o)
    from goldfish.memory import list_notes

    for attr, kind, n in (("decisions", "decision", 3), ("notes", "note", 3),
                          ("questions", "question", 3)):
        setattr(o, attr, _folded_notes(list_notes(project, kinds=(kind,), limit=n * NOTE_SCAN),
                                       n))
    o.patterns_pending = _patterns_pending(project)
    count, cost = idle_cost(project)
    o.idle_workers = {"count": count, "hourly_usd": round(cost, 3)} if count else {}
    o.next = _next(o)
    return o


def idle_workers_line(idle: dict[str, Any]) -> str:
    """Idle warm-pool workers cost money until their idle timeout: say so, with the way out."""
    cost = f" costing ~${idle['hourly_usd']:.2f}/h" if idle.get("hourly_usd") else \
        " costing money"
    return (f"idle warm-pool workers: {idle['count']}{cost} until their idle timeout "
            "(delete them now: pool_drain(); CLI: goldfish pool drain)")


def _folded_notes(notes: list[Any], n: int) -> list[dict[str, Any]]:
    """The newest ``n`` distinct notes: the same text recorded again is one entry with a count
    (``times``) and the newest date, so repeats do not push other notes out of view."""
    out: dict[str, dict[str, Any]] = {}
    for x in notes:  # newest first
        text = _clip(x.text, 240)
        if text in out:
            out[text]["times"] = out[text].get("times", 1) + 1
        elif len(out) < n:
            out[text] = {"id": x.id, "text": text, "run": x.run_id, "at": x.at}
    return list(out.values())


def _times(item: dict[str, Any]) -> str:
    return f" (recorded {item['times']} times)" if item.get("times", 1) > 1 else ""


def _review_line(r: dict[str, Any]) -> str:
    if r["decision"] != "skipped":
        return (f"review ({r['phase']}) {r['decision']} on {r['run']} by {r['reviewer']}: "
                f"{r['summary']}")
    times = r.get("times", 1)
    where = (f"{r['run']} and {times - 1} earlier run{'s' * (times > 2)}" if times > 1
             else r["run"])
    summary = r["summary"]
    if summary.lower().startswith("review skipped:"):
        summary = summary[len("review skipped:"):].strip()
    return (f"reviews skipped ({', '.join(r.get('phases') or [r['phase']])}) on {where} by "
            f"{r['reviewer']}: {summary} (shown once; the same skip is not repeated)")


def _slots(project: Project, o: Orientation) -> None:
    db = project.db
    slots = {r["slot"]: r for r in db.query("SELECT * FROM slots")}
    goals = {r["name"]: r["goal"] for r in db.query(
        "SELECT name, goal FROM workspaces WHERE deleted_at IS NULL")}
    mounted = set()
    for i in range(1, project.config.slots + 1):
        name = f"w{i}"
        row = slots.get(name)
        ws = row["workspace"] if row is not None else None
        version = (f"{ws}-v{row['base_version']}" if row is not None and ws
                   and row["base_version"] else None)
        o.slots.append({"slot": name, "workspace": ws, "version": version,
                        "goal": _clip(goals.get(ws, "") or "", TEXT_LIMIT) if ws else ""})
        if ws:
            mounted.add(ws)
    o.unmounted = [w for w in goals if w not in mounted][:10]


def _active(project: Project, o: Orientation, limit: int) -> None:
    db = project.db
    marks = ",".join("?" * len(states.ACTIVE))
    for r in db.query(f"SELECT id, workspace, state, created_at FROM runs WHERE state IN "
                      f"({marks}) ORDER BY created_at DESC LIMIT ?", (*states.ACTIVE, limit)):
        stages = db.query("SELECT stage, state, heartbeat_at FROM stage_runs WHERE run_id = ? "
                          "ORDER BY position", (r["id"],))
        final = sum(1 for s in stages if s["state"] in ("done", "reused", "skipped", "failed",
                                                        "cancelled", "lost"))
        current = [s["stage"] for s in stages if s["state"] in states.ACTIVE
                   and s["state"] != "queued"]
        parts = [f"{final}/{len(stages)} stages final"]
        if current:
            parts.append("now " + ", ".join(current))
            metrics = db.query("SELECT name, last, slope, last_step FROM metric_summaries WHERE "
                               "run_id = ? AND stage = ? ORDER BY name LIMIT 3",
                               (r["id"], current[0]))
            from goldfish.runs.records import trend_word

            for m in metrics:
                step = f"@{m['last_step']}" if m["last_step"] is not None else ""
                parts.append(f"{m['name']} {_num(m['last'])}{step} "
                             f"{trend_word(m['slope'], m['last'])}")
        o.active.append({"run": r["id"], "workspace": r["workspace"], "state": r["state"],
                         "progress": "; ".join(parts),
                         "age_s": round(time.time() - r["created_at"], 1)})


def _known_failure(data: dict[str, Any]) -> dict[str, Any] | None:
    """A finding that matched an approved failure pattern carries it in its data."""
    pattern = data.get("known_pattern")
    if not pattern:
        return None
    if isinstance(pattern, dict):
        return {"pattern": pattern.get("id"), "title": pattern.get("title"),
                "prevention": _clip(str(pattern.get("prevention") or
                                        data.get("prevention") or ""), TEXT_LIMIT)}
    return {"pattern": pattern, "prevention": _clip(str(data.get("prevention") or
                                                        data.get("advice") or ""), TEXT_LIMIT)}


def _findings(project: Project, o: Orientation, limit: int, mark_seen: bool) -> None:
    db = project.db
    # ``info`` findings are records of checks that passed (with their numbers): `findings` lists
    # them; status only raises what needs attention.
    rows = db.query("SELECT id, run_id, stage, phase, source, check_name, severity, message, data "
                    "FROM findings WHERE seen_at IS NULL AND severity != 'info' ORDER BY CASE "
                    "severity WHEN 'blocking' THEN 0 ELSE 1 END, id DESC LIMIT ?", (limit + 1,))
    total = len(rows)
    if total > limit:
        total = int(db.one("SELECT count(*) FROM findings WHERE seen_at IS NULL "  # type: ignore[index]
                           "AND severity != 'info'")[0])
    shown = rows[:limit]
    o.findings.extend(_finding_item(f, TEXT_LIMIT) for f in shown)
    o.findings_more = max(0, total - len(shown))
    reviews = db.query("SELECT id, run_id, phase, reviewer, decision, summary FROM reviews WHERE "
                       "seen_at IS NULL AND decision IN ('block', 'skipped') ORDER BY id DESC "
                       "LIMIT ?", (limit * 10,))
    # A skip ("no model configured") says something about the configuration, not about a run:
    # every skip with the same reviewer and reason, before and after, on any number of runs, is
    # one line, shown the first time only; later skips for that reason are marked seen silently.
    skipped: dict[tuple[str, str], dict[str, Any]] = {}
    for r in reviews:
        item = {"id": r["id"], "run": r["run_id"], "phase": r["phase"],
                "reviewer": r["reviewer"], "decision": r["decision"],
                "summary": _clip(r["summary"] or "", TEXT_LIMIT)}
        if r["decision"] == "skipped":
            key = (r["reviewer"], r["summary"] or "")
            if key in skipped:
                folded = skipped[key]
                folded["runs"].add(r["run_id"])
                folded["times"] = len(folded["runs"])
                if r["phase"] not in folded["phases"]:
                    folded["phases"].insert(0, r["phase"])
                continue
            item.update(times=1, phases=[r["phase"]], runs={r["run_id"]})
            skipped[key] = item
            # shown before? Looked up among the last SKIP_MEMORY reviews (a rowid range, so
            # the cost does not grow with the project); a reason unseen that long is news again
            if db.one("SELECT 1 FROM reviews WHERE id BETWEEN ? AND ? AND decision = 'skipped' "
                      "AND reviewer = ? AND summary = ? AND seen_at IS NOT NULL LIMIT 1",
                      (r["id"] - SKIP_MEMORY, r["id"], *key)) is not None:
                continue
        if len(o.reviews) < limit:
            o.reviews.append(item)
    for item in skipped.values():
        item.pop("runs")
    if mark_seen and (shown or reviews):
        now = time.time()
        with project.tx() as conn:
            if shown:
                conn.execute(f"UPDATE findings SET seen_at = ? WHERE id IN "
                             f"({','.join('?' * len(shown))})", (now, *[f["id"] for f in shown]))
            if reviews:
                conn.execute(f"UPDATE reviews SET seen_at = ? WHERE id IN "
                             f"({','.join('?' * len(reviews))})",
                             (now, *[r["id"] for r in reviews]))
            for reviewer, summary in skipped:  # older unseen skips for the same reason too
                conn.execute("UPDATE reviews SET seen_at = ? WHERE seen_at IS NULL AND "
                             "decision = 'skipped' AND reviewer = ? AND summary = ?",
                             (now, reviewer, summary))


def _unconcluded(project: Project, o: Orientation, limit: int) -> None:
    """Newest runs without a verdict; counted up to ``COUNT_CAP`` (shown as "100+"), so the scan
    stops early on a project with thousands of runs."""
    db = project.db
    marks = ",".join("?" * len(CONCLUDABLE))
    base = (f"FROM runs r WHERE +r.state IN ({marks}) AND NOT EXISTS "
            "(SELECT 1 FROM conclusions c WHERE c.run_id = r.id) ORDER BY r.created_at DESC")
    o.unconcluded_count = int(db.one(f"SELECT count(*) FROM (SELECT 1 {base} LIMIT ?)",
                                     (*CONCLUDABLE, COUNT_CAP))[0])  # type: ignore[index]
    for r in db.query(f"SELECT r.id, r.workspace, r.state, r.error {base} LIMIT ?",
                      (*CONCLUDABLE, limit)):
        item = {"run": r["id"], "workspace": r["workspace"], "state": r["state"]}
        if r["error"]:
            item["error"] = _clip(_one_line(r["error"]), TEXT_LIMIT)
        o.unconcluded.append(item)


def _one_line(error: str) -> str:
    """The line of an error that says what happened: the first, or for a traceback its last."""
    lines = [line for line in error.splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _best(project: Project, o: Orientation) -> None:
    from goldfish.runs.records import BEST, _metric_values

    db = project.db
    for tag in db.query("SELECT name, target FROM tags WHERE kind = 'run' AND name LIKE ? "
                        "ORDER BY name LIMIT 10", (f"%{BEST}",)):
        workspace = tag["name"][: -len(BEST)]
        spec_row = db.one("SELECT results_spec FROM runs WHERE id = ?", (tag["target"],))
        try:
            spec = json.loads(spec_row[0]) if spec_row and spec_row[0] else {}
        except ValueError:
            spec = {}
        metric = str(spec.get("metric") or "")
        if not metric:
            continue
        direction = str(spec.get("direction", "max"))
        best_value = _metric_values(project, [tag["target"]], metric).get(tag["target"])
        recent = [r[0] for r in db.query(
            "SELECT id FROM runs WHERE workspace = ? AND state = 'done' ORDER BY created_at DESC "
            "LIMIT ?", (workspace, TREND_RUNS))]
        values = _metric_values(project, recent, metric)
        series = [values[r] for r in reversed(recent) if r in values]
        item: dict[str, Any] = {"workspace": workspace, "run": tag["target"], "metric": metric,
                                "value": best_value, "direction": direction,
                                "trend": _trend(series, direction)}
        # the workspace's own goal when it states a number, else the project's
        from goldfish.goals import against_goal  # only with a best run (STATE.md on every save)

        goal = (against_goal(_workspace_goal(project, workspace), metric, best_value, direction)
                or against_goal(o.goal, metric, best_value, direction))
        if goal:
            item["goal"] = goal
        if recent and recent[0] != tag["target"] and recent[0] in values \
                and best_value is not None:
            latest = values[recent[0]]
            worse = latest < best_value if direction == "max" else latest > best_value
            if worse:
                item["regression"] = {"run": recent[0], "value": latest,
                                      "delta": latest - best_value}
        o.best.append(item)


def _workspace_goal(project: Project, workspace: str) -> str:
    row = project.db.one("SELECT goal FROM workspaces WHERE name = ?", (workspace,))
    return str(row[0] or "") if row else ""


def _trend(series: list[float], direction: str) -> str:
    if len(series) < 2:
        return "-"
    delta = series[-1] - series[0]
    scale = max(abs(v) for v in series) or 1.0
    if abs(delta) <= 1e-3 * scale:
        return "flat"
    better = delta > 0 if direction == "max" else delta < 0
    return "improving" if better else "worsening"


def _patterns_pending(project: Project) -> int:
    """Pending patterns (up to 100), counted in SQL: STATE.md is rewritten by every save and
    run, and importing :mod:`goldfish.patterns` (with the findings model) to build objects only
    to count them cost ~10 ms of each."""
    try:
        rows = project.db.query("SELECT COUNT(*) AS n FROM (SELECT 1 FROM patterns "
                                "WHERE status = 'pending' LIMIT 100)")
        return int(rows[0]["n"]) if rows else 0
    except Exception:  # a broken patterns store must not take orientation down
        return 0


def _next(o: Orientation) -> list[str]:
    out: list[str] = []
    mounted = [s for s in o.slots if s["workspace"]]
    if not mounted and not o.unmounted:
        out.append("create a workspace: create_workspace(name, goal) (CLI: goldfish workspace "
                   "create NAME --mount)")
    elif not mounted:
        out.append(f"mount a workspace to edit it: mount({o.unmounted[0]!r})")
    for a in o.active[:2]:
        out.append(f"follow {a['run']}: inspect_run({a['run']!r}) or logs; it is {a['state']}")
    blocking = [f for f in o.findings if f["severity"] == "blocking"]
    if blocking:
        out.append(f"read the blocking finding on {blocking[0]['run']}: "
                   f"inspect_run({blocking[0]['run']!r})")
    for u in o.unconcluded[:2]:
        out.append(f"conclude {u['run']} ({u['state']}): conclude({u['run']!r}, outcome, notes)")
    for b in o.best:
        if b.get("regression"):
            out.append(f"{b['workspace']} regressed: compare({b['run']!r}, "
                       f"{b['regression']['run']!r})")
    if o.patterns_pending:
        out.append(f"review {o.patterns_pending} pending failure pattern(s): patterns('list')")
    if o.idle_workers.get("count") and not o.active:
        out.append(f"{o.idle_workers['count']} idle warm-pool worker(s) cost money while no run "
                   "uses them: pool_drain() deletes them (CLI: goldfish pool drain)")
    if mounted and o.runs_total == 0:
        out.append(f"run {mounted[0]['workspace']} with a hypothesis: "
                   f"run({mounted[0]['workspace']!r}, reason, hypothesis)")
    if not out:
        if o.best:
            b = o.best[0]
            out.append(f"start the next experiment from the best run {b['run']} "
                       f"({b['metric']}={_num(b['value'])}); record why with note(kind='decision')")
        else:
            out.append("edit the mounted workspace and run it with a hypothesis")
    return out[:6]


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def _findings_where(project: Project, run: str | None, severity: str | None,
                    unseen: bool) -> tuple[list[str], list[Any]]:
    from goldfish.errors import InvalidInputError
    from goldfish.findings import SEVERITIES

    where, params = ["1 = 1"], []
    if run:
        from goldfish.runs.records import resolve_run

        where.append("run_id = ?")
        params.append(resolve_run(project, run))
    if severity:
        if severity not in SEVERITIES:
            raise InvalidInputError(f"unknown severity {severity!r}",
                                    f"one of: {', '.join(SEVERITIES)}")
        where.append("severity = ?")
        params.append(severity)
    if unseen:
        where.append("seen_at IS NULL")
    return where, params


def list_findings(project: Project, *, run: str | None = None, severity: str | None = None,
                  unseen: bool = False, limit: int = 20, offset: int = 0,
                  include_info: bool = False) -> list[dict[str, Any]]:
    """Findings blocking first, then warnings (newest first within each), filtered; known
    failures carry their pattern and prevention. ``info`` findings (the records of passing
    checks) only with ``include_info`` or ``severity="info"``: see :func:`passed_findings`."""
    from goldfish.findings import CHECK_PHASES

    where, params = _findings_where(project, run, severity, unseen)
    if not (include_info or severity):
        where.append(f"NOT (severity = 'info' AND phase IN ({', '.join('?' * len(CHECK_PHASES))}))")
        params += CHECK_PHASES
    rows = project.db.query(
        f"SELECT * FROM findings WHERE {' AND '.join(where)} ORDER BY CASE severity WHEN "
        "'blocking' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset))
    return [{**_finding_item(f, 400), "signal": f["signal"], "seen": f["seen_at"] is not None}
            for f in rows]


def passed_findings(project: Project, *, run: str | None = None, unseen: bool = False,
                    limit: int = 20) -> tuple[list[dict[str, Any]], int]:
    """The ``info`` findings (passing checks) as one line per run output, newest first, at
    most ``limit`` lines; and how many lines there are in all."""
    from goldfish.findings import info_summary

    where, params = _findings_where(project, run, "info", unseen)
    rows = project.db.query(
        f"SELECT run_id, stage, signal, check_name, severity, phase, data FROM findings WHERE "
        f"{' AND '.join(where)} ORDER BY id DESC LIMIT 20000", tuple(params))
    items = []
    for f in rows:
        try:
            data = json.loads(f["data"] or "{}")
        except ValueError:
            data = {}
        items.append({"run": f["run_id"], "stage": f["stage"], "signal": f["signal"],
                      "check": f["check_name"], "severity": f["severity"], "phase": f["phase"],
                      "data": data})
    lines = info_summary(items, with_run=not run)
    return lines[:limit], len(lines)


def _finding_item(f: Any, text_limit: int) -> dict[str, Any]:
    """A findings row as plain data; a known failure carries its pattern and prevention."""
    try:
        data = json.loads(f["data"] or "{}")
    except ValueError:
        data = {}
    item: dict[str, Any] = {
        "id": f["id"], "run": f["run_id"], "stage": f["stage"], "phase": f["phase"],
        "severity": f["severity"], "source": f["source"], "check": f["check_name"],
        "message": _clip(f["message"], text_limit)}
    known = _known_failure(data) if isinstance(data, dict) else None
    if known:
        item["known_failure"] = known
    return item
