"""``goldfish prune``: retire old runs and versions, reversibly.

What may go (``retention:`` in goldfish.yaml, or the command's flags): runs that ended and
versions older than ``max_age_days`` and/or beyond the newest ``keep_last`` of their workspace
(both set: a record must be both old and beyond the newest N). What never goes: a tagged run or
version (``@best`` included), a run concluded ``success``, an active run, anything upstream
(lineage, reuse, input overrides) of a run that stays, the version of a run that stays, a
workspace's latest version, a slot's base version and a fork's parent.

A pruned record leaves every table (so no listing, search or status shows it) and is kept whole
in ``pruned`` (JSON rows) with its time; ``restore`` puts the rows back (and its version's ref,
and what it needs upstream). gc keeps every object a pruned record references until the window
(``retention.window_days``, default 30) has passed, then purges the record and its objects.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goldfish.errors import InvalidInputError, NotFoundError
from goldfish.lifecycle import DAY, reach

if TYPE_CHECKING:
    from goldfish.project import Project

#: Tables holding a run's rows, parents first (restore order; prune deletes in reverse).
RUN_TABLES: tuple[tuple[str, str], ...] = (
    ("runs", "id"), ("stage_runs", "run_id"), ("transitions", "run_id"), ("outputs", "run_id"),
    ("stage_inputs", "run_id"), ("metric_summaries", "run_id"), ("findings", "run_id"),
    ("reviews", "run_id"), ("conclusions", "run_id"), ("pattern_hits", "run_id"))


@dataclass
class PruneReport:
    dry_run: bool
    runs: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # reason -> count of would-be candidates
    window_days: float = reach.DEFAULT_WINDOW_DAYS

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "runs": self.runs, "versions": self.versions,
                "kept": self.kept, "window_days": self.window_days}

    def render(self, limit: int = 20) -> str:
        verb = "would prune" if self.dry_run else "pruned"
        out = [f"  run {r['id']} ({r['workspace']}, {r['state']})" for r in self.runs[:limit]]
        out += [f"  version {v['tag']}" for v in self.versions[:max(0, limit - len(out))]]
        shown = min(limit, len(self.runs) + len(self.versions))
        if len(self.runs) + len(self.versions) > shown:
            out.append(f"  … and {len(self.runs) + len(self.versions) - shown} more")
        out.append(f"{verb} {len(self.runs)} runs and {len(self.versions)} versions")
        if self.kept:
            out.append("kept although old: " + ", ".join(
                f"{n} {why}" for why, n in sorted(self.kept.items())))
        if self.runs or self.versions:
            out.append(f"restorable for {self.window_days:g} days: `goldfish prune --restore ID`; "
                       "`goldfish gc` frees their space after that")
        return "\n".join(out)


def _limits(project: Project, older_than_days: float | None,
            keep_last: int | None) -> tuple[float | None, int | None]:
    if older_than_days is None and keep_last is None:
        older_than_days = project.config.get("retention.max_age_days")
        keep_last = project.config.get("retention.keep_last")
    if older_than_days is None and keep_last is None:
        raise InvalidInputError(
            "nothing to prune by: no age limit and no count to keep",
            "set retention.max_age_days and/or retention.keep_last in goldfish.yaml, or pass "
            "--older-than DAYS / --keep-last N")
    if older_than_days is not None and older_than_days < 0:
        raise InvalidInputError(f"--older-than {older_than_days} is negative", "use 0 or more days")
    if keep_last is not None and keep_last < 0:
        raise InvalidInputError(f"--keep-last {keep_last} is negative", "use 0 or more")
    return older_than_days, keep_last


def _beyond(rows: list[sqlite3.Row], key: str, older_than: float | None, keep_last: int | None,
            now: float) -> set[str]:
    """Ids of ``rows`` (grouped by workspace, newest first) past the limits."""
    out: set[str] = set()
    rank: dict[str, int] = {}
    for row in rows:
        ws = row["workspace"]
        rank[ws] = rank.get(ws, 0) + 1
        old = older_than is None or row["created_at"] < now - older_than * DAY
        extra = keep_last is None or rank[ws] > keep_last
        if old and extra:
            out.add(row[key])
    return out


def plan(project: Project, *, older_than_days: float | None = None,
         keep_last: int | None = None, now: float | None = None
         ) -> tuple[list[str], list[str], dict[str, int]]:
    """(run ids, version tags, kept reasons) that a prune would take, writing nothing."""
    from goldfish.runs.states import FINAL_RUN

    older, keep = _limits(project, older_than_days, keep_last)
    clock = time.time() if now is None else now
    db = project.db
    runs = db.query("SELECT id, workspace, state, created_at, version_tag FROM runs "
                    "ORDER BY workspace, created_at DESC, id DESC")
    candidates = _beyond(runs, "id", older, keep, clock)
    kept: dict[str, int] = {}

    def keep_because(ids: Iterable[str], why: str) -> None:
        for run_id in ids:
            if run_id in candidates:
                candidates.discard(run_id)
                kept[why] = kept.get(why, 0) + 1

    keep_because([r["id"] for r in runs if r["state"] not in FINAL_RUN], "active")
    keep_because([r[0] for r in db.query("SELECT target FROM tags WHERE kind = 'run'")], "tagged")
    keep_because([r[0] for r in db.query(
        "SELECT run_id FROM conclusions WHERE outcome = 'success'")], "concluded success")
    upstream = _upstream(db)
    stack = [r["id"] for r in runs if r["id"] not in candidates]
    seen: set[str] = set()
    while stack:
        run_id = stack.pop()
        if run_id in seen:
            continue
        seen.add(run_id)
        for up in upstream.get(run_id, ()):
            if up in candidates:
                keep_because([up], "upstream of a kept run")
            stack.append(up)
    kept_runs = {r["id"] for r in runs} - candidates
    versions = db.query("SELECT v.tag, v.workspace, v.number, v.created_at FROM versions v "
                        "ORDER BY v.workspace, v.number DESC")
    vcand = _beyond(versions, "tag", older, keep, clock)
    protected = {r[0] for r in db.query("SELECT target FROM tags WHERE kind = 'version'")}
    protected |= {r["version_tag"] for r in runs if r["id"] in kept_runs and r["version_tag"]}
    protected |= {r[0] for r in db.query(
        "SELECT tag FROM versions v WHERE number = (SELECT max(number) FROM versions "
        "WHERE workspace = v.workspace)")}
    protected |= {f"{r[0]}-v{r[1]}" for r in db.query(
        "SELECT workspace, base_version FROM slots WHERE workspace IS NOT NULL "
        "AND base_version IS NOT NULL")}
    protected |= {f"{r[0]}-v{r[1]}" for r in db.query(
        "SELECT parent_workspace, parent_version FROM workspaces "
        "WHERE parent_workspace IS NOT NULL AND parent_version IS NOT NULL")}
    held = vcand & protected
    if held:
        kept["versions in use or tagged"] = len(held)
    return sorted(candidates), sorted(vcand - protected), kept


def _upstream(db: Any) -> dict[str, set[str]]:
    """run id -> runs it depends on: the runs its stages' inputs are pinned to (an input
    override ``--input stage.x=RUN/stage.out`` included, resolved and pinned when the run was
    planned, so also for a stage that never ran) and the runs its stages reused."""
    up: dict[str, set[str]] = {}
    for run_id, from_run in db.query("SELECT DISTINCT run_id, from_run FROM stage_inputs "
                                     "WHERE from_run IS NOT NULL"):
        up.setdefault(run_id, set()).add(from_run)
    for row in db.query("SELECT run_id, inputs, reused_from FROM stage_runs"):
        deps = _stage_run_deps(dict(row))
        if deps:
            up.setdefault(row["run_id"], set()).update(deps)
    for run_id, deps in up.items():
        deps.discard(run_id)
    return up


def _stage_run_deps(stage_run: dict[str, Any]) -> set[str]:
    """The runs one stage run needs (a ``stage_runs`` row, live or archived): those its pinned
    inputs (``inputs``) come from and the one it reused."""
    deps = {str(p["from_run"]) for p in reach.pins(stage_run.get("inputs")) if p.get("from_run")}
    if stage_run.get("reused_from"):
        deps.add(str(stage_run["reused_from"]).split("/", 1)[0])
    return deps


def prune(project: Project, *, older_than_days: float | None = None,
          keep_last: int | None = None, dry_run: bool = False,
          now: float | None = None) -> PruneReport:
    clock = time.time() if now is None else now
    run_ids, tags, kept = plan(project, older_than_days=older_than_days, keep_last=keep_last,
                               now=clock)
    report = PruneReport(dry_run=dry_run, kept=kept,
                         window_days=reach.window_seconds(project) / DAY)
    db = project.db
    runs = {r["id"]: dict(r) for r in db.query("SELECT id, workspace, state, created_at FROM runs")}
    report.runs = [runs[i] for i in run_ids if i in runs]
    versions = {r["tag"]: dict(r) for r in db.query(
        "SELECT tag, workspace, number, created_at FROM versions")}
    report.versions = [versions[t] for t in tags if t in versions]
    if dry_run or not (run_ids or tags):
        return report
    with project.tx() as conn:
        for run_id in run_ids:
            _move_run(conn, run_id, clock)
        for tag in tags:
            _move_version(project, conn, tag, clock)
        project.emit("prune.finished", "", f"pruned {len(run_ids)} runs and {len(tags)} "
                     "versions", runs=run_ids, versions=tags)
    return report


def _rows(conn: sqlite3.Connection, table: str, column: str, value: str) -> list[dict[str, Any]]:
    cur = conn.execute(f"SELECT * FROM {table} WHERE {column} = ?", (value,))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _move_run(conn: sqlite3.Connection, run_id: str, now: float) -> None:
    tables = {t: _rows(conn, t, c, run_id) for t, c in RUN_TABLES}
    if not tables["runs"]:
        return
    workspace = tables["runs"][0]["workspace"]
    conn.execute("INSERT OR REPLACE INTO pruned (kind, id, workspace, pruned_at, rows) "
                 "VALUES ('run', ?, ?, ?, ?)", (run_id, workspace, now, json.dumps(tables)))
    conn.execute("DELETE FROM memory_fts WHERE rowid IN (SELECT -rowid FROM conclusions "
                 "WHERE run_id = ?)", (run_id,))
    conn.execute("DELETE FROM memory_fts WHERE ref = ? AND kind = 'run'", (run_id,))
    for f in tables["findings"]:
        conn.execute("DELETE FROM memory_fts WHERE ref = ? AND kind = 'finding'", (f"f{f['id']}",))
    for table, column in reversed(RUN_TABLES):
        conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (run_id,))


def _move_version(project: Project, conn: sqlite3.Connection, tag: str, now: float) -> None:
    rows = _rows(conn, "versions", "tag", tag)
    if not rows:
        return
    conn.execute("INSERT OR REPLACE INTO pruned (kind, id, workspace, pruned_at, rows) "
                 "VALUES ('version', ?, ?, ?, ?)",
                 (tag, rows[0]["workspace"], now, json.dumps({"versions": rows})))
    conn.execute("DELETE FROM versions WHERE tag = ?", (tag,))
    (project.repo_path / "refs" / "tags" / tag).unlink(missing_ok=True)


# --- restore ----------------------------------------------------------------------------------


def restore(project: Project, ident: str) -> list[str]:
    """Put a pruned run (with the pruned runs and version it needs) or version back; returns
    what was restored."""
    ident = ident.strip()
    db = project.db
    rows = db.query("SELECT kind, id FROM pruned WHERE id = ? OR (kind = 'run' AND id LIKE ?)",
                    (ident, f"{ident}%"))
    if len(rows) != 1:
        listing = [r[0] for r in db.query("SELECT id FROM pruned ORDER BY pruned_at DESC "
                                          "LIMIT 5")]
        if len(rows) > 1:
            raise InvalidInputError(f"{ident!r} names {len(rows)} pruned records",
                                    "give more of the run id")
        raise NotFoundError(f"nothing pruned is called {ident!r}",
                            ("recently pruned: " + ", ".join(listing)) if listing else
                            "nothing is pruned (or gc already purged it after its window)")
    restored: list[str] = []
    with project.tx() as conn:
        _restore(project, conn, rows[0][0], rows[0][1], restored)
        project.emit("prune.restored", rows[0][1], f"restored {', '.join(restored)}",
                     restored=restored)
    return restored


def _restore(project: Project, conn: sqlite3.Connection, kind: str, ident: str,
             restored: list[str]) -> None:
    from goldfish.snapshot import set_ref

    row = conn.execute("SELECT rows FROM pruned WHERE kind = ? AND id = ?",
                       (kind, ident)).fetchone()
    if row is None:
        return
    tables: dict[str, list[dict[str, Any]]] = json.loads(row[0])
    conn.execute("DELETE FROM pruned WHERE kind = ? AND id = ?", (kind, ident))
    order = [t for t, _ in RUN_TABLES] if kind == "run" else ["versions"]
    for table in order:
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for values in tables.get(table, []):
            keys = [k for k in values if k in columns]
            conn.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(keys)}) VALUES "
                         f"({', '.join('?' * len(keys))})", [values[k] for k in keys])
    restored.append(f"{kind} {ident}")
    if kind == "version":
        v = tables["versions"][0]
        set_ref(project.repo_path, f"refs/tags/{v['tag']}", v["commit_sha"])
        return
    run = tables["runs"][0]
    if run.get("version_tag"):
        _restore(project, conn, "version", run["version_tag"], restored)
    needed = {r["from_run"] for r in tables.get("stage_inputs", []) if r.get("from_run")}
    for stage_run in tables.get("stage_runs", []):
        needed |= _stage_run_deps(stage_run)
    for up in sorted(needed - {ident}):
        _restore(project, conn, "run", up, restored)


def pruned_hint(project: Project, ident: str) -> str | None:
    """A hint for a lookup that failed because ``ident`` was pruned (restorable), else None."""
    try:
        row = project.db.one("SELECT kind, id FROM pruned WHERE id = ?", (ident,))
    except sqlite3.Error:
        return None
    if row is None:
        return None
    return f"{row[0]} {row[1]} was pruned; bring it back with `goldfish prune --restore {row[1]}`"
