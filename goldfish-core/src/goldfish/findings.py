"""What checks and reviewers report, and what they are shown.

Validators (``validate_pipeline``, ``validate_outputs``, ``check_metrics``) return lists of
:class:`Finding`; reviewers (``review_before_run``, ``review_after_run``) return a :class:`Review`.
The run engine builds the contexts below and records every finding and review with the run, so a
plugin never writes to the database itself. Stdlib-only: plugins import these cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

Severity = Literal["info", "warning", "blocking"]
Decision = Literal["approve", "block", "skipped"]

SEVERITIES: tuple[str, ...] = ("info", "warning", "blocking")
DECISIONS: tuple[str, ...] = ("approve", "block", "skipped")


@dataclass(frozen=True)
class Finding:
    """One observation by a check. ``blocking`` stops what it is about (run, stage)."""

    source: str  # the plugin or component that found it ("svs", "review", "engine")
    check: str  # the check's name ("nan_ratio", "loss_divergence", "reviewer")
    severity: Severity
    message: str
    stage: str | None = None
    signal: str | None = None  # the output or metric it concerns
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"finding severity {self.severity!r} is not one of {SEVERITIES}")

    @property
    def blocking(self) -> bool:
        return self.severity == "blocking"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Finding:
        return cls(source=raw["source"], check=raw["check"], severity=raw["severity"],
                   message=raw["message"], stage=raw.get("stage"), signal=raw.get("signal"),
                   data=dict(raw.get("data") or {}))

    def render(self) -> str:
        where = "/".join(p for p in (self.stage, self.signal) if p)
        where = f" [{where}]" if where else ""
        return f"{self.severity}: {self.source}.{self.check}{where}: {self.message}"


@dataclass(frozen=True)
class Review:
    """A reviewer's verdict. ``block`` (or any blocking finding) stops a run before launch."""

    reviewer: str
    decision: Decision
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    usage: dict[str, Any] = field(default_factory=dict)  # tokens, cost, model, cached

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"review decision {self.decision!r} is not one of {DECISIONS}")

    @property
    def blocking(self) -> bool:
        return self.decision == "block" or any(f.blocking for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"reviewer": self.reviewer, "decision": self.decision, "summary": self.summary,
                "usage": dict(self.usage), "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class OutputContext:
    """What ``validate_outputs`` sees after a stage exited 0, before its outputs are accepted."""

    run_id: str
    stage: str
    signals: dict[str, Any]  # output name -> {"type": ..., "contract": ...} as declared
    paths: dict[str, Path]  # output name -> local path of what the stage wrote
    config: dict[str, Any]
    upstream: dict[str, Path] = field(default_factory=dict)  # input name -> materialized path
    checks: dict[str, Any] = field(default_factory=dict)  # the stage's `checks:` from pipeline.yaml
    project: Any = None


class MetricPoint(NamedTuple):
    """One logged point as ``check_metrics`` sees it: an immutable tuple, cheap to make by the
    million (a frozen dataclass cost the engine ~1 µs per point)."""

    name: str
    value: float
    step: int | None = None
    at: float | None = None


@dataclass(frozen=True)
class MetricStats:
    """One metric over every point logged before ``MetricContext.new``."""

    count: int = 0
    min: float | None = None  # smallest finite value (the best of a loss)
    max: float | None = None  # largest finite value
    nonfinite: int = 0  # NaN and ±Inf values
    last_at: float | None = None  # time of the last point


@dataclass(frozen=True)
class MetricContext:
    """What ``check_metrics`` sees on each watch tick of a running stage.

    The engine ingests ``metrics.jsonl`` in batches (linear in what was logged), and calls the
    hook once per batch, so ``new`` holds at most a batch (about 25k points). ``history`` is
    bounded: per metric, its last ``HISTORY_POINTS`` (200) points from before ``new`` followed
    by every point of ``new``; a metric with nothing new is there with its last points. What a
    check needs about the whole series (its best, its peak, whether it was ever non-finite,
    how many points) is in ``earlier``, which covers every point before ``new``; a metric seen
    for the first time in ``new`` has no entry.
    """

    run_id: str
    stage: str
    new: list[MetricPoint]  # points logged since the previous call
    history: dict[str, list[MetricPoint]]  # per metric: recent points before `new`, then `new`
    seconds_since_heartbeat: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    project: Any = None
    earlier: dict[str, MetricStats] = field(default_factory=dict)  # per metric, before `new`


@dataclass(frozen=True)
class ReviewContext:
    """What reviewers see: before a run (code, configs, plan) or after it (plus results)."""

    run_id: str
    phase: Literal["before", "after"]
    workspace: str
    version: str  # the snapshot's version tag
    pipeline: Any  # goldfish.pipeline.Pipeline
    reason: dict[str, Any]  # description, hypothesis, goal, approach, min_result
    configs: dict[str, dict[str, Any]]  # stage -> merged config
    files: dict[str, str] = field(default_factory=dict)  # path -> text of the stages' code
    plan: list[dict[str, Any]] = field(default_factory=list)  # stage, action, why
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # after: stage -> outputs
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # after: stage -> summaries
    findings: list[Finding] = field(default_factory=list)  # after: every finding of the run
    state: str | None = None  # after: the run's final state
    patterns: list[dict[str, Any]] = field(default_factory=list)  # approved failure patterns
    project: Any = None


#: Listing order: what stops things first, then what needs a look, then the records of passes.
SEVERITY_ORDER: dict[str, int] = {"blocking": 0, "warning": 1, "info": 2}
#: Phases whose findings are check results: their ``info`` findings are checks that passed (or
#: were not judged), summarized per output; other ``info`` findings (a failure pattern proposed,
#: a reviewer's note) are listed one by one.
CHECK_PHASES: tuple[str, ...] = ("preflight", "outputs", "metrics")


def is_passed_check(f: dict[str, Any]) -> bool:
    return f.get("severity") == "info" and f.get("phase") in CHECK_PHASES


def by_severity(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finding rows (dicts with ``severity``) blocking first, then warnings, then info; the
    order within a severity is kept (stable)."""
    return sorted(items, key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 3))


def info_summary(items: list[dict[str, Any]], *, with_run: bool = False) -> list[dict[str, Any]]:
    """The passing checks of ``items`` (:func:`is_passed_check`) as one line per output: run,
    stage, signal, the checks that passed and those that were not judged (``data.judged``
    false)."""
    groups: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for f in items:
        if not is_passed_check(f):
            continue
        key = (f.get("run") if with_run else None, f.get("stage"), f.get("signal"))
        g = groups.setdefault(key, {"run": key[0], "stage": key[1], "signal": key[2],
                                    "passed": [], "not_judged": []})
        data = f.get("data")
        judged = not (isinstance(data, dict) and data.get("judged") is False)
        names = g["passed"] if judged else g["not_judged"]
        if f.get("check") not in names:
            names.append(f.get("check"))
    out = []
    for g in groups.values():
        where = "/".join(str(p) for p in (g["stage"], g["signal"]) if p) or "run"
        if g["run"]:
            where = f"{g['run']} {where}"
        text = f"{where}: {len(g['passed'])} passed ({', '.join(map(str, g['passed']))})" \
            if g["passed"] else f"{where}:"
        if g["not_judged"]:
            text += f"; not judged: {', '.join(map(str, g['not_judged']))}"
        if not g["run"]:
            g.pop("run")
        out.append({**g, "text": text})
    return out


def coerce_finding(raw: Any, *, source: str = "plugin") -> Finding:
    """Accept a Finding or a plain dict from a plugin; anything else is a plugin bug."""
    if isinstance(raw, Finding):
        return raw
    if isinstance(raw, dict):
        return Finding.from_json({"source": source, "check": "unnamed", **raw})
    raise TypeError(f"a check returned {type(raw).__name__}, expected goldfish.findings.Finding")


def coerce_review(raw: Any) -> Review:
    if isinstance(raw, Review):
        return raw
    if isinstance(raw, dict):
        return Review(reviewer=str(raw.get("reviewer", "plugin")),
                      decision=raw.get("decision", "approve"),
                      findings=[coerce_finding(f, source=str(raw.get("reviewer", "review")))
                                for f in raw.get("findings", [])],
                      summary=str(raw.get("summary", "")), usage=dict(raw.get("usage") or {}))
    raise TypeError(f"a reviewer returned {type(raw).__name__}, expected goldfish.findings.Review")
