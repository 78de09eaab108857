"""Metric health, host side, from the metric stream of a running stage.

Called on every watch tick with the points logged since the last tick, a bounded history (the
recent points of each metric, then the new ones) and per-metric stats of everything before the
new points (``context.earlier``: count, finite min/max, non-finite count).
A condition is reported when it *becomes* true (the new points made it so), so a long run does
not repeat itself; stalls are reported from ``seconds_since_heartbeat`` (the engine keeps only
the first report per stage).

* ``nonfinite_metric`` — a NaN or Inf in any metric (blocking);
* ``divergence`` — a loss whose last value is ``ratio``× its trailing-window minimum (blocking);
* ``loss_rise`` — a loss whose last ``window`` points all stay above ``ratio``× its best so far
  (the best of the whole series: the history's minimum and ``earlier[name].min``): the plain "it
  got worse and did not recover" (a warning, with the numbers);
* ``grad_norm``, ``stall``, ``no_progress``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from goldfish.findings import Finding, MetricContext, MetricPoint

from goldfish_svs.settings import severity, switch_off

SOURCE = "svs"
LOSS = re.compile(r"(^|[._/-])(loss|nll|perplexity|ppl)([._/-]|$)", re.IGNORECASE)
GRAD = re.compile(r"grad(ient)?[._-]?norm", re.IGNORECASE)


def _matches(name: str, settings: dict[str, Any], default: re.Pattern[str]) -> bool:
    names = settings.get("metrics")
    return name in names if isinstance(names, list) else bool(default.search(name))


def _finding(check: str, sev: str, message: str, stage: str, signal: str | None,
             data: dict[str, Any]) -> Finding:
    if sev != "info":
        hint = switch_off(check, metric=True)
        message, data = f"{message} ({hint})", {**data, "switch_off": hint}
    return Finding(SOURCE, check, sev, message, stage=stage, signal=signal, data=data)  # type: ignore[arg-type]


def _best(context: MetricContext, name: str, history: list[MetricPoint]) -> float | None:
    """The lowest finite value of ``name`` so far: the minimum of ``history`` and, when the engine
    bounds the history, of the stats it keeps for the points before it
    (``context.earlier[name].min``)."""
    finite = [p.value for p in history if math.isfinite(p.value)]
    earlier = context.earlier.get(name)
    if earlier is not None and earlier.min is not None and math.isfinite(earlier.min):
        finite.append(float(earlier.min))
    return min(finite) if finite else None


def _loss_rise(context: MetricContext, name: str, new: list[MetricPoint],
               history: list[MetricPoint], settings: dict[str, Any], enforcement: str
               ) -> Finding | None:
    """``loss_rise`` when the new points made it true (reported once per rise)."""
    values = [p.value for p in history]
    best = _best(context, name, history)
    window = max(1, int(settings.get("window", 10)))
    ratio = float(settings.get("ratio", 2.0))
    if best is None or not _risen(values, best, window, ratio) or (
            len(values) > len(new) and _risen(values[:-len(new)], best, window, ratio)):
        return None
    low, last = min(values[-window:]), values[-1]
    return _finding(
        "loss_rise", severity(settings, enforcement),
        f"metric {name!r} rose above its best and stays there: its last {window} points are "
        f"all ≥ {low:.4g} ({low / best:.3g}× its best {best:.4g}; warns above {ratio:g}×), "
        f"last {last:.4g} at step {history[-1].step}", context.stage, name,
        {"best": best, "window_min": low, "last": last, "ratio": low / best, "max_ratio": ratio,
         "window": window, "step": history[-1].step})


def _risen(values: list[float], best: float, window: int, ratio: float) -> bool:
    """The last ``window`` values are finite and all above ``ratio``× a positive best."""
    recent = values[-window:]
    if best <= 0 or len(recent) < window:
        return False  # a loss at or below zero has no meaningful ratio to its best
    return all(math.isfinite(v) and v > ratio * best for v in recent)


def _diverged(values: list[float], settings: dict[str, Any]) -> tuple[bool, float, float]:
    """(diverged, last, window minimum): last vs the minimum of the trailing window."""
    window = int(settings.get("window", 50))
    ratio = float(settings.get("ratio", 10.0))
    recent = values[-window:]
    finite = [v for v in recent if math.isfinite(v)]
    if len(recent) < 2 or not finite:
        return False, values[-1] if values else math.nan, math.nan
    low, last = min(finite), recent[-1]
    if math.isnan(last):
        return False, last, low
    if low <= 0:  # a metric that reached zero or below: only an infinite jump counts
        return math.isinf(last) or (low < 0 < last and last > ratio * abs(low)), last, low
    return last / low > ratio, last, low


def check(context: MetricContext, checks: dict[str, dict[str, Any]], enforcement: str,
          ) -> list[Finding]:
    out: list[Finding] = []
    stage = context.stage
    new_by_name: dict[str, list[MetricPoint]] = {}
    for p in context.new:
        new_by_name.setdefault(p.name, []).append(p)
    for name, new in new_by_name.items():
        history = context.history.get(name, new)
        stats = context.earlier.get(name)  # the whole series before `new`; history is bounded
        earlier = len(history) - len(new)
        settings = checks.get("nonfinite_metric")
        bad = [p for p in new if not math.isfinite(p.value)]
        was_bad = (stats.nonfinite > 0 if stats is not None else
                   any(not math.isfinite(p.value) for p in history[:earlier]))
        if settings is not None and bad and not was_bad:
            p = bad[0]
            out.append(_finding(
                "nonfinite_metric", severity(settings, enforcement),
                f"metric {name!r} is {p.value} at step {p.step} ({len(bad)} non-finite of "
                f"{len(new)} new points)", stage, name,
                {"value": str(p.value), "step": p.step, "count": len(bad),
                 "points": (stats.count if stats is not None else earlier) + len(new),
                 "grace_seconds": settings.get("grace_seconds", 30)}))
        settings = checks.get("divergence")
        if settings is not None and _matches(name, settings, LOSS) and len(history) >= 2:
            values = [p.value for p in history]
            now, last, low = _diverged(values, settings)
            before = _diverged(values[:-len(new)], settings)[0] if len(values) > len(new) else False
            if now and not before:
                ratio = last / low if low and low > 0 else math.inf
                out.append(_finding(
                    "divergence", severity(settings, enforcement),
                    f"metric {name!r} diverged: last {last:.4g} is {ratio:.3g}× the window "
                    f"minimum {low:.4g} (max {settings.get('ratio', 10)}×)", stage, name,
                    {"last": last, "window_min": low, "ratio": ratio,
                     "max_ratio": settings.get("ratio", 10.0),
                     "window": settings.get("window", 50), "step": history[-1].step,
                     "grace_seconds": settings.get("grace_seconds", 30)}))
        settings = checks.get("loss_rise")
        diverged = any(f.check == "divergence" and f.signal == name for f in out)
        if settings is not None and not diverged and _matches(name, settings, LOSS):
            rise = _loss_rise(context, name, new, history, settings, enforcement)
            out += [rise] if rise is not None else []
        settings = checks.get("grad_norm")
        if settings is not None and _matches(name, settings, GRAD):
            limit = float(settings.get("max", 100.0))
            over = [p for p in new if math.isfinite(p.value) and p.value > limit]
            was_over = ((stats.max is not None and stats.max > limit) if stats is not None else
                        any(math.isfinite(p.value) and p.value > limit for p in history[:earlier]))
            if over and not was_over:
                p = max(over, key=lambda q: q.value)
                out.append(_finding(
                    "grad_norm", severity(settings, enforcement),
                    f"gradient norm {name!r} exploded: {p.value:.4g} at step {p.step} "
                    f"(max {limit:g})", stage, name,
                    {"value": p.value, "max": limit, "step": p.step,
                     "grace_seconds": settings.get("grace_seconds", 30)}))
    settings = checks.get("stall")
    since = context.seconds_since_heartbeat
    if settings is not None and since is not None and since > float(settings.get("seconds", 1800)):
        limit = float(settings["seconds"])
        out.append(_finding(
            "stall", severity(settings, enforcement),
            f"no heartbeat for {since:.0f}s (max {limit:g}s): the stage looks hung", stage, None,
            {"seconds_since_heartbeat": round(since, 3), "max_seconds": limit,
             "grace_seconds": settings.get("grace_seconds", 30)}))
    settings = checks.get("no_progress")
    if settings is not None and settings.get("on", True) and context.history:
        stamps = [p.at for pts in context.history.values() for p in pts if p.at]
        limit = float(settings.get("seconds", 3600))
        if stamps and since is not None:
            import time

            idle = time.time() - max(stamps)
            if idle > limit:
                out.append(_finding(
                    "no_progress", severity(settings, enforcement),
                    f"no metric logged for {idle:.0f}s (max {limit:g}s) while the stage is "
                    "alive", stage, None, {"seconds_since_metric": round(idle, 3),
                                           "max_seconds": limit}))
    return out
