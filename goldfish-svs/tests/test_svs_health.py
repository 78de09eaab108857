"""Metric health on real metric streams: NaN/Inf, divergence, exploding gradients, stalls; a
condition is reported when it becomes true, not on every tick after."""

from __future__ import annotations

import math
from typing import Any

from goldfish.findings import MetricContext, MetricPoint, MetricStats
from goldfish_svs import health, settings
from goldfish_svs.config import SvsConfig


def active(**layer: Any) -> dict[str, dict[str, Any]]:
    resolved = settings.resolve(SvsConfig.model_validate({}), layer, None, "")
    return {k: v for k, v in resolved.items() if settings.is_on(v)}


def context(name: str, values: list[float], new: int = 1, since: float | None = 1.0
            ) -> MetricContext:
    points = [MetricPoint(name, v, step=i, at=1.0) for i, v in enumerate(values)]
    return MetricContext(run_id="r", stage="train", new=points[-new:], history={name: points},
                         seconds_since_heartbeat=since)


def test_divergence_is_last_against_the_window_minimum() -> None:
    calm = health.check(context("loss", [1.0, 0.5, 0.2, 1.9]), active(), "blocking")
    assert calm == []
    [div] = health.check(context("loss", [1.0, 0.5, 0.2, 2.5]), active(), "blocking")
    assert div.check == "divergence" and div.blocking
    assert div.data["ratio"] == 12.5 and div.data["window_min"] == 0.2
    later = health.check(context("loss", [1.0, 0.5, 0.2, 2.5, 3.0]), active(), "blocking")
    assert later == []  # already diverged before the new point: reported once
    assert health.check(context("accuracy", [0.1, 0.9, 0.01, 5.0]), active(), "blocking") == []


def test_nan_metrics_and_gradient_norms() -> None:
    [nan] = health.check(context("val_acc", [0.5, math.nan]), active(), "blocking")
    assert nan.check == "nonfinite_metric" and nan.data["value"] == "nan"
    [grad] = health.check(context("grad_norm", [1.0, 150.0]), active(), "warning")
    assert grad.severity == "warning" and grad.data["value"] == 150.0  # enforcement: warning
    assert health.check(context("grad_norm", [1.0, 50.0]), active(), "blocking") == []


def test_what_fell_out_of_the_bounded_history_is_known_from_earlier_stats() -> None:
    """The engine hands a window of recent points; a NaN or a gradient spike before it counts."""
    recent = [MetricPoint("grad_norm", 1.0, step=i) for i in range(900, 1000)]
    new = [MetricPoint("grad_norm", math.nan, step=1000), MetricPoint("grad_norm", 500.0, 1001)]
    seen = MetricStats(count=1000, min=0.5, max=300.0, nonfinite=2, last_at=1.0)
    again = MetricContext(run_id="r", stage="train", new=new, history={"grad_norm": recent + new},
                          earlier={"grad_norm": seen})
    assert health.check(again, active(), "warning") == []  # both happened before: not repeated
    fresh = MetricContext(run_id="r", stage="train", new=new, history={"grad_norm": recent + new},
                          earlier={"grad_norm": MetricStats(count=1000, min=0.5, max=2.0)})
    found = {f.check: f for f in health.check(fresh, active(), "warning")}
    assert sorted(found) == ["grad_norm", "nonfinite_metric"]
    assert found["nonfinite_metric"].data["points"] == 1002


def test_stalls_are_measured_from_the_last_heartbeat() -> None:
    checks = active(stall={"seconds": 60})
    assert health.check(context("loss", [1.0], new=0, since=59.0), checks, "blocking") == []
    [stall] = health.check(context("loss", [1.0], new=0, since=61.0), checks, "blocking")
    assert stall.check == "stall" and stall.data["seconds_since_heartbeat"] == 61.0
    assert health.check(context("loss", [1.0], new=0, since=61.0), active(stall=False),
                        "blocking") == []
