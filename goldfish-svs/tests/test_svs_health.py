"""Metric health on real metric streams: NaN/Inf, divergence, exploding gradients, stalls; a
condition is reported when it becomes true, not on every tick after."""

from __future__ import annotations

import math
from typing import Any

import pytest
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


def test_a_loss_that_rises_above_its_best_and_stays_is_a_warning_with_its_numbers() -> None:
    falling = [1.0, 0.5, 0.3, 0.25, 0.26]
    risen = [*falling, *[0.6] * 10]
    [rise] = health.check(context("loss", risen), active(), "blocking")
    assert rise.check == "loss_rise" and rise.severity == "warning"
    assert rise.data["best"] == 0.25 and rise.data["window_min"] == 0.6
    assert rise.data["ratio"] == pytest.approx(2.4) and rise.data["max_ratio"] == 2.0
    assert rise.data["step"] == 14 and "2.4× its best 0.25" in rise.message
    assert "`checks: {loss_rise: false}`" in rise.message  # how to switch it off
    # not yet: only 9 points above; not again: it was already true before the new point
    assert health.check(context("loss", risen[:-1]), active(), "blocking") == []
    assert health.check(context("loss", [*risen, 0.7]), active(), "blocking") == []
    # a spike that recovers, noise within 2x of the best, and a metric that is not a loss
    assert health.check(context("loss", [*falling, *[0.6] * 9, 0.3]), active(), "blocking") == []
    assert health.check(context("loss", [*falling, *[0.45] * 10]), active(), "blocking") == []
    assert health.check(context("accuracy", risen), active(), "blocking") == []
    assert health.check(context("loss", risen), active(loss_rise=False), "blocking") == []
    [custom] = health.check(context("loss", [*falling, *[0.4] * 3]),
                            active(loss_rise={"ratio": 1.5, "window": 3}), "blocking")
    assert custom.data["window"] == 3


def test_loss_rise_works_from_a_recent_window_and_the_running_best() -> None:
    window = [MetricPoint("loss", 0.6, step=1000 + i, at=1.0) for i in range(10)]
    ctx = MetricContext(run_id="r", stage="train", new=window[-1:], history={"loss": window},
                        earlier={"loss": MetricStats(count=1009, min=0.2, max=0.9)})
    [rise] = health.check(ctx, active(), "blocking")
    assert rise.data["best"] == 0.2 and rise.data["ratio"] == pytest.approx(3.0)
    # without a running best, the minimum of the window is all there is: nothing to compare
    plain = MetricContext(run_id="r", stage="train", new=window[-1:], history={"loss": window})
    assert health.check(plain, active(), "blocking") == []
