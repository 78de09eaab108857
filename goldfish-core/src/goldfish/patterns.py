"""Failure patterns: what went wrong before, reviewed once, recognised every time after.

A stage that fails yields a :class:`Failure` (exception type, message, traceback and log tails).
Its *signature* — ``sha256(exception | normalized first line of the message | stage)`` — is
deterministic: numbers, ids, hex digests, paths and quoted values are masked, so the same bug with a
different batch size or run id is the same pattern. The first failure with a new signature becomes a
``pending`` candidate, summarized by a ``summarize_failure`` plugin (an LLM reviewer) when one
answers, else by the deterministic summary here. A human approves it (with prevention advice, and
optionally a check that would have caught it) or rejects it. From then on a failure that matches an
approved pattern is *known*: the engine records a finding whose ``data`` carries ``known_pattern``
(id, title) and ``prevention``, reviewers receive approved patterns in
:class:`goldfish.findings.ReviewContext`, and a pattern that states a check is enforced as one
(goldfish-svs reads :func:`pattern_checks`).

The store is one table (``patterns``, migration 0004) plus ``pattern_hits`` (which run/stage matched
which pattern). Every change emits an event (``pattern.created``, ``pattern.approved``,
``pattern.rejected``) so memory stores see it. Stdlib only.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.errors import ConflictError, InvalidInputError, NotFoundError
from goldfish.findings import Finding

if TYPE_CHECKING:
    from goldfish.project import Project

STATUSES: tuple[str, ...] = ("pending", "approved", "rejected")
SEVERITIES: tuple[str, ...] = ("info", "warning", "blocking")
SUMMARY_KEYS: tuple[str, ...] = ("symptom", "root_cause", "detection", "prevention", "severity")
TAIL_LINES = 30
SOURCE = "patterns"

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\br-\d{8}-[0-9a-f]{6}\b"), "<run>"),
    (re.compile(r"(?:[A-Za-z]:)?(?:/[\w.\-]+){2,}/?"), "<path>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<hex>"),
    (re.compile(r"\b[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


@dataclass(frozen=True)
class Failure:
    """One failed stage, as :func:`summarize_failure` plugins and the matcher see it."""

    run_id: str
    stage: str
    exception: str  # the exception class name, or the failure's cause ("timeout", "svs.nan_ratio")
    message: str
    traceback_tail: str = ""
    log_tail: str = ""
    cause: str | None = None
    project: Any = field(default=None, compare=False, repr=False)  # the project it happened in

    @property
    def signature(self) -> str:
        return signature(self.exception, self.message, self.stage)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "stage": self.stage, "exception": self.exception,
                "message": self.message, "traceback_tail": self.traceback_tail,
                "log_tail": self.log_tail, "cause": self.cause, "signature": self.signature}


@dataclass(frozen=True)
class Pattern:
    """A reviewed (or to-be-reviewed) failure signature with its summary and advice."""

    id: str
    signature: str
    status: str
    stage: str
    exception: str
    message: str
    title: str
    symptom: str
    root_cause: str
    detection: str
    prevention: str
    severity: str
    check: dict[str, Any] | None
    summary_by: str
    occurrences: int
    first_run: str
    last_run: str
    note: str
    created_at: float
    last_seen: float
    decided_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra", None)
        return out

    def render(self) -> str:
        advice = f" — prevention: {self.prevention}" if self.prevention else ""
        return f"{self.id} [{self.status}] {self.title} (seen {self.occurrences}×){advice}"


# --- signatures ---------------------------------------------------------------------------------


def normalize_message(message: str) -> str:
    """The first non-empty line of ``message`` with volatile parts masked (numbers, ids, paths)."""
    line = next((ln.strip() for ln in str(message).splitlines() if ln.strip()), "")
    for rx, repl in _MASKS:
        line = rx.sub(repl, line)
    return line.strip()[:300]


def signature(exception: str, message: str, stage: str) -> str:
    """Deterministic id of a failure: the same bug on other data or another run matches."""
    import hashlib  # here, not at the top: loading OpenSSL costs `goldfish status` ~5 ms

    text = f"{exception.strip()}|{normalize_message(message)}|{stage.strip()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def failure_from_job(run_id: str, stage: str, job_dir: Path | None, error: str | None,
                     cause: str | None = None) -> Failure:
    """Build a :class:`Failure` from a job directory's ``error.json`` and ``log.txt``.

    Without ``error.json`` (killed, timed out, stopped by a check, never launched) the exception
    is the failure's cause and the message is the first line of the engine's error text.
    """
    raw: Any = None
    log_tail = ""
    if job_dir is not None:
        try:
            raw = json.loads((job_dir / "error.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = None
        try:
            lines = (job_dir / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()
            log_tail = "\n".join(lines[-TAIL_LINES:])
        except OSError:
            log_tail = ""
    if isinstance(raw, dict) and raw.get("type"):
        return Failure(run_id, stage, str(raw["type"]), str(raw.get("message") or ""),
                       str(raw.get("traceback_tail") or ""), log_tail, cause)
    text = (error or "").strip()
    first = text.splitlines()[0] if text else "the stage failed without a message"
    exception = cause or "StageFailed"
    m = re.match(r"stopped by a blocking finding: (.*)", first)
    if m:
        exception = "BlockingFinding"
    elif first.startswith("outputs rejected"):
        exception = "OutputsRejected"
    return Failure(run_id, stage, exception, first, "", log_tail, cause)


_CONTRACT_OUTPUT = re.compile(r"output '([^']+)' of stage '[^']*' breaks its contract")


def contract_findings(failure: Failure) -> list[Finding]:
    """A stage that failed on a contract (``ContractError`` from ``io.save_output`` or from an
    output written through ``io.output_path``) is a blocking finding of the run, one per broken
    output, not only a line in the error text."""
    if failure.exception != "ContractError":
        return []
    lines = [ln.strip() for ln in failure.message.splitlines() if ln.strip()]
    broken = [(m.group(1), ln) for ln in lines if (m := _CONTRACT_OUTPUT.search(ln))]
    if not broken:
        broken = [(None, lines[0] if lines else "an output breaks its contract")]
    return [Finding("engine", "contract", "blocking", text[:1000], stage=failure.stage,
                    signal=name, data={"exception": "ContractError", "output": name})
            for name, text in broken]


# --- rows -----------------------------------------------------------------------------------------


def _from_row(row: Any) -> Pattern:
    check = json.loads(row["check_spec"]) if row["check_spec"] else None
    return Pattern(id=row["id"], signature=row["signature"], status=row["status"],
                   stage=row["stage"], exception=row["exception"], message=row["message"],
                   title=row["title"], symptom=row["symptom"], root_cause=row["root_cause"],
                   detection=row["detection"], prevention=row["prevention"],
                   severity=row["severity"], check=check, summary_by=row["summary_by"],
                   occurrences=int(row["occurrences"]), first_run=row["first_run"],
                   last_run=row["last_run"], note=row["note"], created_at=row["created_at"],
                   last_seen=row["last_seen"], decided_at=row["decided_at"])


def list_patterns(project: Project, status: str | None = None, *, stage: str | None = None,
                  limit: int | None = None) -> list[Pattern]:
    """Patterns, most recently seen first; ``status`` filters (pending, approved, rejected)."""
    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"unknown pattern status {status!r}",
                                f"statuses: {', '.join(STATUSES)}")
    sql, params = "SELECT * FROM patterns WHERE 1=1", []
    if status:
        sql += " AND status = ?"
        params.append(status)
    if stage:
        sql += " AND stage = ?"
        params.append(stage)
    sql += " ORDER BY last_seen DESC, id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_from_row(r) for r in project.db.query(sql, tuple(params))]


def get(project: Project, pattern_id: str) -> Pattern:
    """One pattern by id or unique id prefix."""
    ref = str(pattern_id).strip()
    rows = project.db.query("SELECT * FROM patterns WHERE id = ?", (ref,)) if ref else []
    if not rows and ref:
        rows = project.db.query("SELECT * FROM patterns WHERE id LIKE ? ORDER BY id LIMIT 3",
                                (ref.replace("%", "") + "%",))
    if len(rows) == 1:
        return _from_row(rows[0])
    if rows:
        raise InvalidInputError(f"pattern id {ref!r} is ambiguous: {', '.join(r['id'] for r in rows)}",
                                "give more characters of the id")
    raise NotFoundError(f"no failure pattern {ref!r}",
                        "list them with goldfish.patterns.list_patterns (MCP: patterns)")


def match_failure(project: Project, failure: Failure) -> Pattern | None:
    """The pattern (any status) whose signature is this failure's, or None."""
    row = project.db.one("SELECT * FROM patterns WHERE signature = ?", (failure.signature,))
    return _from_row(row) if row is not None else None


def approved_patterns(project: Project) -> list[Pattern]:
    return list_patterns(project, "approved")


def for_review(project: Project) -> list[dict[str, Any]]:
    """Approved patterns as plain dicts, the context reviewers receive."""
    return [{"id": p.id, "title": p.title, "stage": p.stage, "symptom": p.symptom,
             "root_cause": p.root_cause, "detection": p.detection, "prevention": p.prevention,
             "check": p.check, "occurrences": p.occurrences} for p in approved_patterns(project)]


def pattern_checks(project: Project, stage: str | None = None) -> list[dict[str, Any]]:
    """Checks stated by approved patterns (for ``stage``, or stage-independent ones):
    ``[{"check": name, "signal": optional, "pattern": id, ...settings}]``."""
    out = []
    for p in approved_patterns(project):
        if not p.check:
            continue
        where = str(p.check.get("stage") or p.stage or "")
        if stage is None or where in ("", stage):
            out.append({**p.check, "stage": where or None, "pattern": p.id})
    return out


def hits(project: Project, run_id: str) -> list[dict[str, Any]]:
    """Which patterns the failures of ``run_id`` matched: [{pattern, stage, known, title, ...}]."""
    rows = project.db.query(
        "SELECT h.stage, h.known, p.* FROM pattern_hits h JOIN patterns p ON p.id = h.pattern_id "
        "WHERE h.run_id = ? ORDER BY h.at", (run_id,))
    return [{"pattern": r["id"], "stage": r[0], "known": bool(r["known"]), "title": r["title"],
             "status": r["status"], "prevention": r["prevention"]} for r in rows]


# --- candidates -----------------------------------------------------------------------------------


def deterministic_summary(failure: Failure) -> dict[str, Any]:
    """What can be said without a model: where, what, and how it is recognised."""
    first = normalize_message(failure.message)
    last_frame = ""
    for line in reversed(failure.traceback_tail.splitlines()):
        if line.strip().startswith("File "):
            last_frame = line.strip()
            break
    where = f" at {last_frame}" if last_frame else ""
    return {
        "title": f"{failure.exception} in {failure.stage}: {first[:80]}".rstrip(": "),
        "symptom": f"stage {failure.stage!r} failed with {failure.exception}: "
                   f"{(failure.message.strip().splitlines() or [''])[0][:200]}",
        "root_cause": f"not analysed (no failure summarizer answered){where}",
        "detection": f"{failure.exception} in stage {failure.stage!r} whose message matches "
                     f"{first!r}",
        "prevention": "",
        "severity": "warning",
    }


def _summarize(project: Project, failure: Failure) -> tuple[dict[str, Any], str]:
    base = deterministic_summary(failure)
    if failure.project is None:
        failure = replace(failure, project=project)
    try:
        answer = project.plugins.summarize_failure(failure)
    except Exception:  # a broken summarizer must not lose the failure record
        answer = None
    if not isinstance(answer, dict):
        return base, "deterministic"
    merged = dict(base)
    for key in (*SUMMARY_KEYS, "title", "check"):
        value = answer.get(key)
        if value not in (None, ""):
            merged[key] = value
    if merged.get("severity") not in SEVERITIES:
        merged["severity"] = "warning"
    return merged, str(answer.get("by") or "plugin")


def candidate_from_failure(project: Project, failure: Failure) -> tuple[Pattern, bool]:
    """The pattern for ``failure``: the existing one (occurrence counted) or a new pending one.

    Returns ``(pattern, created)``. The summarizer hook runs only for a new signature, outside
    the write transaction (it may call a model).
    """
    sig = failure.signature
    now = time.time()
    existing = match_failure(project, failure)
    summary: dict[str, Any] = {}
    by = "deterministic"
    if existing is None:
        summary, by = _summarize(project, failure)
    created = False
    with project.tx() as conn:
        if existing is None:
            check = summary.get("check")
            cur = conn.execute(
                "INSERT OR IGNORE INTO patterns (id, signature, status, stage, exception, message, "
                "title, symptom, root_cause, detection, prevention, severity, check_spec, "
                "summary_by, occurrences, first_run, last_run, created_at, last_seen) VALUES "
                "(?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (f"p-{sig[:10]}", sig, failure.stage, failure.exception,
                 normalize_message(failure.message), str(summary["title"])[:200],
                 str(summary["symptom"]), str(summary["root_cause"]), str(summary["detection"]),
                 str(summary.get("prevention") or ""), summary["severity"],
                 json.dumps(check) if isinstance(check, dict) else None, by, failure.run_id,
                 failure.run_id, now, now))
            created = cur.rowcount == 1
        conn.execute("UPDATE patterns SET occurrences = occurrences + 1, last_run = ?, "
                     "last_seen = ? WHERE signature = ?", (failure.run_id, now, sig))
        row = conn.execute("SELECT * FROM patterns WHERE signature = ?", (sig,)).fetchone()
        pattern = _from_row(row)
        conn.execute("INSERT OR REPLACE INTO pattern_hits (pattern_id, run_id, stage, known, at) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (pattern.id, failure.run_id, failure.stage, int(pattern.approved), now))
        if created:
            project.emit("pattern.created", pattern.id,
                         f"new failure pattern {pattern.id} (pending review): {pattern.title}",
                         stage=failure.stage, run_id=failure.run_id, signature=sig,
                         summary_by=by)
    return pattern, created


def record_failure(project: Project, failure: Failure) -> Finding:
    """Match or create the pattern of ``failure`` and say so as a finding for the run.

    Known (approved) → a ``known_failure`` warning whose data has ``known_pattern`` and
    ``prevention``; otherwise a ``failure_pattern`` info naming the pending (or rejected) pattern.
    """
    pattern, created = candidate_from_failure(project, failure)
    base = {"signature": failure.signature, "occurrences": pattern.occurrences,
            "exception": failure.exception, "pattern_status": pattern.status}
    if pattern.approved:
        return Finding(SOURCE, "known_failure", "warning",
                       f"known failure {pattern.id} ({pattern.title}); prevention: "
                       f"{pattern.prevention}", stage=failure.stage,
                       data={**base, "known_pattern": {"id": pattern.id, "title": pattern.title},
                             "prevention": pattern.prevention, "root_cause": pattern.root_cause})
    what = "new failure pattern" if created else f"failure pattern ({pattern.status})"
    return Finding(SOURCE, "failure_pattern", "info",
                   f"{what} {pattern.id}: {pattern.title}"
                   + ("; approve it with prevention advice to recognise it next time"
                      if pattern.status == "pending" else ""),
                   stage=failure.stage,
                   data={**base, "pattern": {"id": pattern.id, "title": pattern.title,
                                             "status": pattern.status}, "new": created})


# --- decisions ------------------------------------------------------------------------------------


def _validate_check(check: Any) -> dict[str, Any] | None:
    if check is None:
        return None
    if not isinstance(check, dict) or not isinstance(check.get("check"), str):
        raise InvalidInputError(f"a pattern's check must be a mapping with a 'check' name, got "
                                f"{check!r}", "e.g. {'check': 'nan_ratio', 'signal': 'features', "
                                "'max': 0}")
    from goldfish.pipeline import KNOWN_CHECKS

    name = check["check"]
    if name not in KNOWN_CHECKS:
        from goldfish.errors import did_you_mean

        raise InvalidInputError(f"unknown check {name!r} in the pattern's check",
                                did_you_mean(name, list(KNOWN_CHECKS)) or
                                f"known checks: {', '.join(sorted(KNOWN_CHECKS))}")
    return dict(check)


def _decide(project: Project, pattern_id: str, status: str, note: str,
            updates: dict[str, Any]) -> Pattern:
    pattern = get(project, pattern_id)
    if pattern.status == status and not updates:
        raise ConflictError(f"pattern {pattern.id} is already {status}",
                            "nothing to change; list patterns with list_patterns(project)")
    now = time.time()
    sets = ", ".join(f"{k} = ?" for k in updates)
    with project.tx() as conn:
        conn.execute(f"UPDATE patterns SET status = ?, note = ?, decided_at = ?"
                     f"{', ' + sets if sets else ''} WHERE id = ?",
                     (status, note, now, *updates.values(), pattern.id))
        project.emit(f"pattern.{status}", pattern.id,
                     f"failure pattern {pattern.id} {status}: {pattern.title}"
                     + (f" ({note})" if note else ""), note=note, stage=pattern.stage)
    return get(project, pattern.id)


def approve(project: Project, pattern_id: str, note: str = "", *, prevention: str | None = None,
            check: dict[str, Any] | None = None, root_cause: str | None = None) -> Pattern:
    """Approve a pattern: later failures that match it are known, with ``prevention`` advice.

    ``prevention`` defaults to the summary's advice, else the note; an approved pattern without
    advice would tell nobody anything, so that is refused. ``check`` (``{"check": name,
    "signal": ..., settings}``) makes the pattern enforce a check from now on.
    """
    pattern = get(project, pattern_id)
    advice = (prevention or pattern.prevention or note or "").strip()
    if not advice:
        raise InvalidInputError(f"pattern {pattern.id} has no prevention advice",
                                "approve it with prevention='what to do so it does not happen "
                                "again' (or a note saying it)")
    updates: dict[str, Any] = {"prevention": advice}
    spec = _validate_check(check)
    if spec is not None:
        updates["check_spec"] = json.dumps(spec)
    if root_cause:
        updates["root_cause"] = root_cause
    return _decide(project, pattern.id, "approved", note, updates)


def reject(project: Project, pattern_id: str, note: str = "") -> Pattern:
    """Reject a pattern (not a real pattern, or noise): its failures stay unknown."""
    return _decide(project, pattern_id, "rejected", note, {})
