"""A goal's number: "a digits classifier above 98% on the frozen test split" → 0.98, higher is better.

:func:`goal_target` reads the target a goal states in words, and :func:`against_goal` sets a best
result against it ("accuracy 0.926 vs goal 0.98: 0.054 short"), so `status` and STATE.md say how
far the project is from what it set out to do. A number counts as the target only when a word of
comparison stands before it ("above", "beat", "at least", "below", "under", ">=", "reach"…), it is
a percentage, or it stands next to the metric's name; "8x8 glyphs", "top-5" and "v2" never do. A
goal with no such number has no target, and nothing is compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_MAX = r"above|over|beat(?:s|ing)?|exceed(?:s|ing)?|surpass(?:es|ing)?|outperform(?:s|ing)?|" \
       r"(?:more|greater|higher|better) than|at least|no less than|>=|≥|>"
_MIN = r"below|under|(?:less|lower|fewer|smaller) than|at most|no more than|<=|≤|<"
_NEUTRAL = r"reach(?:es|ing)?|hit(?:s|ting)?|achieve(?:s|ing)?|target(?:ing)?|of|to"
# the comparison word nearest the number (greedy ``.*``), then up to two words ("beat the
# baseline's 0.9"), then the number
_BEFORE = re.compile(rf"^.*(?:^|[^\w])(?P<word>{_MAX}|{_MIN}|{_NEUTRAL})\s*(?:[^\s\d<>=≤≥:]+\s+){{0,2}}$",
                     re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.\-])(?P<num>\d+(?:\.\d+)?|\.\d+)(?P<pct>\s*(?:%|percent\b|pct\b))?"
                     r"(?![\w.]|\s*x\s*\d)", re.IGNORECASE)
_MAX_WORD = re.compile(rf"^(?:{_MAX})$", re.IGNORECASE)
_MIN_WORD = re.compile(rf"^(?:{_MIN})$", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    value: float                  # as written: 98 for "98%"
    percent: bool                 # written as a percentage
    direction: str | None         # "max" (above…), "min" (below…) or None (reach…, bare)
    text: str                     # the words it came from, e.g. "above 98%"

    def scaled(self, observed: float) -> float:
        """The target on the metric's scale: "98%" is 0.98 for a metric between -1 and 1."""
        return self.value / 100 if self.percent and abs(observed) <= 1.0 else self.value


def goal_target(goal: str, metric: str | None = None) -> Target | None:
    """The number a goal sets, or None when it states none."""
    if not goal:
        return None
    best: tuple[int, Target] | None = None
    for m in _NUMBER.finditer(goal):
        before = goal[max(0, m.start() - 40): m.start()]
        word_match = _BEFORE.search(before)
        word = word_match.group("word") if word_match else ""
        direction = ("max" if _MAX_WORD.match(word) else "min" if _MIN_WORD.match(word)
                     else None)
        near_metric = bool(metric) and _names_metric(goal, m.start(), m.end(), str(metric))
        percent = bool(m.group("pct"))
        # how sure this number is the target: a directed comparison, then a percentage or the
        # metric's name, then a neutral word ("reach 0.95")
        score = (4 if direction else 0) + (2 if percent else 0) + (2 if near_metric else 0) + \
                (1 if word and not direction else 0)
        if not (direction or percent or near_metric or (word and _neutral_ok(word))):
            continue
        start = word_match.start("word") + max(0, m.start() - 40) if word_match else m.start()
        target = Target(float(m.group("num")), percent, direction,
                        " ".join(goal[start: m.end()].split()))
        if best is None or score > best[0]:
            best = (score, target)
    return best[1] if best else None


def _neutral_ok(word: str) -> bool:
    """"reach 0.95" names a target; a bare "to" or "of" only with a percentage or metric."""
    return word.lower() not in ("of", "to")


def _names_metric(goal: str, start: int, end: int, metric: str) -> bool:
    """The metric's name within a few characters of the number ("accuracy 0.95", "0.95 F1")."""
    name = metric.replace("_", " ").lower()
    window = goal[max(0, start - len(name) - 12): end + len(name) + 12].lower().replace("_", " ")
    return name in window


def against_goal(goal: str, metric: str, value: float | None,
                 direction: str) -> dict[str, Any] | None:
    """A best value set against the goal's number: target, gap, met, and a one-line text.

    None when the goal states no number, or its comparison points the other way than the metric
    ("loss below 0.1" is not about a metric that should rise)."""
    if value is None:
        return None
    target = goal_target(goal, metric)
    if target is None or (target.direction and target.direction != direction):
        return None
    goal_value = target.scaled(value)
    gap = value - goal_value if direction == "max" else goal_value - value
    met = gap >= 0
    shown = ("below " if direction == "min" else "") + _num(goal_value)
    if met:
        side = "above" if direction == "max" else "below"
        verdict = f"met, {_num(abs(gap))} {side}" if gap else "met exactly"
    else:
        verdict = f"{_num(-gap)} short"
    return {"target": goal_value, "from": target.text, "gap": gap, "met": met,
            "text": f"{metric} {_num(value)} vs goal {shown}: {verdict}"}


def _num(value: float) -> str:
    return f"{float(value):.4g}"
