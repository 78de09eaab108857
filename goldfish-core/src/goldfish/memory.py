"""What an agent remembers across context loss: notes and decisions, full-text recall, STATE.md.

Notes live in the ``notes`` table. Everything worth recalling — notes, run reasons, conclusions,
findings — is indexed in the FTS5 table ``memory_fts`` by triggers (migration ``0003_memory``),
so the index commits with the row it describes, whichever process wrote it. Failure patterns
(``goldfish.patterns``) are few and matched here in Python.

``recall`` goes through the ``recall`` hook, so another memory store (a vector index, a team
wiki) adds its hits to the built-in ones; :func:`search_index` is the built-in store's answer.
``STATE.md`` is rendered from the database (:func:`render_state`) and rewritten atomically by the
built-in ``state_md`` plugin after every event.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.errors import InvalidInputError, did_you_mean
from goldfish.events import Hit
from goldfish.plain import record

if TYPE_CHECKING:
    from goldfish.project import Project

NOTE_KINDS = ("note", "decision", "question")
RECALL_KINDS = (*NOTE_KINDS, "run", "conclusion", "finding", "pattern")
MAX_NOTE_CHARS = 4000
MAX_QUERY_CHARS = 500
MAX_RECALL = 50
_WORD = re.compile(r"\w+", re.UNICODE)


@record(frozen=True)
class Note:
    id: int
    kind: str
    text: str
    run_id: str | None
    workspace: str | None
    at: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- notes ------------------------------------------------------------------------------------


def add_note(project: Project, text: str, *, kind: str = "note", run: str | None = None,
             workspace: str | None = None) -> Note:
    """Record a thought, a decision or an open question (optionally about a run/workspace)."""
    text = (text or "").strip()
    if not text:
        raise InvalidInputError("the note is empty", "write what you learned or decided")
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidInputError(f"the note is {len(text)} characters long (limit {MAX_NOTE_CHARS})",
                                "keep notes short; put long write-ups in a file in the workspace")
    if kind not in NOTE_KINDS:
        raise InvalidInputError(f"unknown note kind {kind!r}",
                                did_you_mean(kind, NOTE_KINDS) or f"one of: {', '.join(NOTE_KINDS)}")
    run_id = None
    if run:
        from goldfish.runs.records import resolve_run

        run_id = resolve_run(project, run)
        if workspace is None:
            row = project.db.one("SELECT workspace FROM runs WHERE id = ?", (run_id,))
            workspace = row[0] if row else None
    if workspace is not None and project.db.one(
            "SELECT 1 FROM workspaces WHERE name = ?", (workspace,)) is None:
        names = [r[0] for r in project.db.query("SELECT name FROM workspaces")]
        raise InvalidInputError(f"unknown workspace {workspace!r}",
                                did_you_mean(workspace, names) or "list them with `workspaces`")
    now = time.time()
    with project.tx() as conn:
        cur = conn.execute("INSERT INTO notes (kind, text, run_id, workspace, at) "
                           "VALUES (?, ?, ?, ?, ?)", (kind, text, run_id, workspace, now))
        note_id = int(cur.lastrowid or 0)
        project.emit("note.added", run_id or workspace or "", f"{kind}: {_clip(text, 120)}",
                     note=note_id, note_kind=kind, workspace=workspace)
    return Note(note_id, kind, text, run_id, workspace, now)


def list_notes(project: Project, *, kinds: tuple[str, ...] = NOTE_KINDS,
               limit: int = 5) -> list[Note]:
    """The newest notes of ``kinds``, newest first."""
    marks = ",".join("?" * len(kinds))
    rows = project.db.query(f"SELECT * FROM notes WHERE kind IN ({marks}) ORDER BY id DESC "
                            "LIMIT ?", (*kinds, limit))
    return [Note(r["id"], r["kind"], r["text"], r["run_id"], r["workspace"], r["at"])
            for r in rows]


# --- recall -----------------------------------------------------------------------------------


def _terms(query: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(query)][:32]


def match_expression(query: str, *, any_term: bool = False) -> str | None:
    """A safe FTS5 MATCH expression: every word quoted, prefix-matched; AND unless ``any_term``."""
    terms = _terms(query)
    if not terms:
        return None
    return (" OR " if any_term else " ").join(f'"{t}"*' for t in terms)


def check_kinds(kinds: list[str] | tuple[str, ...] | None) -> list[str] | None:
    if not kinds:
        return None
    for k in kinds:
        if k not in RECALL_KINDS:
            raise InvalidInputError(f"unknown kind {k!r} to recall",
                                    did_you_mean(k, RECALL_KINDS)
                                    or f"kinds: {', '.join(RECALL_KINDS)}")
    return list(kinds)


def search_index(project: Project, query: str, kinds: list[str] | None = None,
                 limit: int = 10) -> list[Hit]:
    """The built-in store's hits: FTS5 over ``memory_fts`` (bm25), then matching patterns.

    All words must match (prefixes count); when nothing does, any word may. An empty query
    returns the newest entries.
    """
    kinds = check_kinds(kinds)
    limit = max(1, min(int(limit), 500))
    where, params = "", []
    if kinds:
        where = f" AND kind IN ({','.join('?' * len(kinds))})"
        params = list(kinds)
    hits: list[Hit] = []
    expr = match_expression(query)
    if expr is None:
        rows = project.db.query(f"SELECT text, kind, ref, workspace, at, 0.0 AS score FROM "
                                f"memory_fts WHERE 1 = 1{where} ORDER BY at DESC LIMIT ?",
                                (*params, limit))
    else:
        sql = (f"SELECT text, kind, ref, workspace, at, -bm25(memory_fts) AS score FROM memory_fts "
               f"WHERE memory_fts MATCH ?{where} ORDER BY bm25(memory_fts) LIMIT ?")
        rows = project.db.query(sql, (expr, *params, limit))
        if not rows:
            rows = project.db.query(sql, (match_expression(query, any_term=True), *params, limit))
    for r in rows:
        hits.append(Hit(kind=r["kind"], id=str(r["ref"]), text=str(r["text"]),
                        score=float(r["score"] or 0.0), at=_float(r["at"]),
                        data={"workspace": r["workspace"]}))
    if kinds is None or "pattern" in kinds:
        hits.extend(_pattern_hits(project, query))
    hits.sort(key=lambda h: (-h.score, -(h.at or 0.0)))
    return hits[:limit]


def _pattern_hits(project: Project, query: str) -> list[Hit]:
    """Failure patterns (``goldfish.patterns``) whose text contains every query word."""
    try:
        from goldfish import patterns
    except ImportError:
        return []
    try:
        items = patterns.list_patterns(project, limit=500)
    except Exception:  # patterns not migrated yet, or a broken row: recall still answers
        return []
    terms = _terms(query)
    out = []
    for p in items:
        data = p.to_json()
        text = " ".join(str(data.get(k) or "") for k in (
            "title", "status", "stage", "exception", "symptom", "root_cause", "prevention",
            "note"))
        low = text.lower()
        matched = sum(1 for t in terms if t in low)
        if terms and matched < len(terms):
            continue
        out.append(Hit(kind="pattern", id=str(data.get("id", "")), text=_clip(text.strip(), 400),
                       score=float(matched) * 2.0, at=_float(data.get("last_seen")),
                       data={"workspace": None, "status": data.get("status")}))
    return out


def recall(project: Project, query: str, *, kinds: list[str] | None = None,
           workspace: str | None = None, since: float | None = None,
           limit: int = 10) -> list[Hit]:
    """Search everything recorded (every memory store, through the ``recall`` hook)."""
    if not isinstance(query, str):
        raise InvalidInputError("the recall query must be text", "e.g. recall('learning rate')")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInputError(f"the query is {len(query)} characters long "
                                f"(limit {MAX_QUERY_CHARS})", "use a few keywords")
    kinds = check_kinds(kinds)
    if not 1 <= limit <= MAX_RECALL:
        raise InvalidInputError(f"limit {limit} is out of range", f"use 1..{MAX_RECALL}")
    filtered = workspace is not None or since is not None
    hits = project.plugins.recall(query, project, kinds, limit * 10 if filtered else limit)
    if workspace is not None:
        hits = [h for h in hits if h.data.get("workspace") in (workspace, None)]
    if since is not None:
        hits = [h for h in hits if (h.at or 0.0) >= since]
    return hits[:limit]


# --- STATE.md ---------------------------------------------------------------------------------


def render_state(project: Project) -> str:
    """STATE.md: goal, invariants, workspaces, best results, recent runs, decisions, notes, open
    questions, sources and what to do next — rendered from the database, never edited by hand."""
    from goldfish.orientation import orient
    from goldfish.runs.records import list_runs

    o = orient(project, mark_seen=False)
    lines = [f"# {o.project}", "",
             "_Maintained by Goldfish from the project database; edits are overwritten._", "",
             "## Goal", "", o.goal or "_No goal set: add `goal:` to goldfish.yaml._", "",
             "## Invariants (do not change)", ""]
    lines += [f"- {rule}" for rule in o.invariants] or ["_None recorded._"]
    lines += ["", "## Workspaces", ""]
    for s in o.slots:
        if s["workspace"]:
            goal = f" — {s['goal']}" if s.get("goal") else ""
            lines.append(f"- `{s['slot']}`: {s['workspace']} at {s['version'] or '-'}{goal}")
        else:
            lines.append(f"- `{s['slot']}`: (empty)")
    for w in o.unmounted:
        lines.append(f"- (not mounted) {w}")
    lines += ["", "## Best results", ""]
    for b in o.best:
        line = (f"- {b['workspace']}: {b['metric']} = {_num(b['value'])} ({b['direction']}) "
                f"in {b['run']}")
        if b.get("trend"):
            line += f"; trend {b['trend']}"
        if b.get("regression"):
            r = b["regression"]
            line += f"; regression: {r['run']} {_num(r['value'])}"
        if b.get("goal"):
            line += f"; {b['goal']['text']}"
        lines.append(line)
    if not o.best:
        lines.append("_No results yet (a run needs a results spec: `results: {metric, direction}`)._")
    lines += ["", "## Recent runs", ""]
    recent = list_runs(project, limit=10)
    for r in recent:
        metric = f" {_num(r.metric)}" if r.metric is not None else ""
        outcome = f" [{r.outcome}]" if r.outcome else ""
        lines.append(f"- {r.id} {r.state} {r.version}{metric}{outcome} {_clip(r.description, 80)}"
                     .rstrip())
    if not recent:
        lines.append("_No runs yet._")
    failed = [u for u in o.unconcluded if u.get("error")]
    if failed:
        lines += ["", "## Failed, awaiting conclusion", ""]
        lines += [f"- {u['run']} {u['state']}: {u['error']}" for u in failed]
    if o.active:
        lines += ["", "## Running now", ""]
        lines += [f"- {a['run']} {a['state']} {a['progress']}" for a in o.active]
    if o.idle_workers.get("count"):
        from goldfish.orientation import idle_workers_line

        lines += ["", "## Warm pool", "", f"- {idle_workers_line(o.idle_workers)}"]
    for title, items in (("Decisions", o.decisions), ("Notes", o.notes),
                         ("Open questions", o.questions)):
        lines += ["", f"## {title}", ""]
        lines += [f"- {_date(n['at'])} {n['text']}"
                  + (f" (recorded {n['times']} times)" if n.get("times", 1) > 1 else "")
                  for n in items] or ["_None yet._"]
    sources = project.db.query("SELECT name, type, description FROM sources ORDER BY name LIMIT 20")
    if sources:
        lines += ["", "## Data sources", ""]
        lines += [f"- {s['name']} ({s['type']}) {s['description']}".rstrip() for s in sources]
    lines += ["", "## Next", ""]
    lines += [f"- {n}" for n in o.next]
    return "\n".join(lines) + "\n"


_write_lock = threading.Lock()


def write_state(project: Project, text: str | None = None) -> Path:
    """Rewrite STATE.md atomically (temp file + rename): a reader sees the old or the new file."""
    text = render_state(project) if text is None else text
    path = project.state_path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with _write_lock:
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk leaves no partial file behind
            raise
    return path


# --- helpers ----------------------------------------------------------------------------------


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"


def _date(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else ""


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
