"""Metric health while a stage runs: points reach the host within about a second (the in-stage
flusher), every watch tick checks them, and a diverging loss stops the stage long before the end
of training. Real runs: engine + local backend + a subprocess stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import goldfish_svs.plugin as svs_plugin
import pytest
from svs_support import findings, make_project, run, stage_error, state


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(svs_plugin, name="svs")
    return goldfish_plugins


def inf_at_50(cooperative: bool) -> str:
    """500 steps, one point per 10 ms; the loss is Inf from step 50 on."""
    poll = "    if io.should_stop():\n        break\n" if cooperative else ""
    return ("import math, time\nfrom goldfish import io\nfor step in range(500):\n"
            "    io.log_metric('loss', math.inf if step >= 50 else 1.0 / (step + 1), step=step)\n"
            + poll + "    time.sleep(0.01)\nio.save_output('model', {'w': 1})\n")


def _last_step(project: Any, run_id: str, stage: str) -> int:
    lines = (project.runs_dir / run_id / stage / "metrics.jsonl").read_text().splitlines()
    return max(int(json.loads(line)["s"]) for line in lines)


@pytest.mark.parametrize("cooperative", [True, False], ids=["polls-should_stop", "never-polls"])
def test_a_loss_going_to_inf_at_step_50_is_stopped_before_step_150(
        tmp_path: Path, plugins: Any, cooperative: bool) -> None:
    files = {"pipeline.yaml": """
                name: train
                stages:
                  - name: train
                    outputs: {model: {type: json}}
                """,
             "modules/train.py": inf_at_50(cooperative)}
    project = make_project(tmp_path, files, plugins)
    run_id = run(project)  # Engine.run + Engine.wait, goldfish-svs loaded
    assert state(project, run_id, "train") == "failed"
    assert stage_error(project, run_id, "train").startswith("stopped by a blocking finding")
    [nonfinite] = findings(project, run_id, "nonfinite_metric")
    assert nonfinite["data"]["step"] == 50 and nonfinite["phase"] == "metrics"
    last = _last_step(project, run_id, "train")
    assert 50 <= last < 150, f"the stage logged up to step {last} before it was stopped"


RISE = """
import time
from goldfish import io
losses = [1.0, 0.6, 0.4, 0.3] + [0.9] * 12
for step, loss in enumerate(losses):
    io.log_metric("val_loss", loss, step=step)
    time.sleep(0.01)
time.sleep(1.5)  # no io.flush(): the periodic flush brings the points to the host's ticks
io.save_output("model", {"w": 1})
"""


def test_a_loss_that_rises_and_stays_is_a_warning_on_a_run_that_finishes(
        tmp_path: Path, plugins: Any) -> None:
    files = {"pipeline.yaml": """
                name: train
                stages:
                  - name: train
                    outputs: {model: {type: json}}
                """,
             "modules/train.py": RISE}
    project = make_project(tmp_path, files, plugins)
    run_id = run(project)
    assert state(project, run_id) == "done"  # a warning stops nothing
    [rise] = findings(project, run_id, "loss_rise")
    assert rise["severity"] == "warning" and rise["signal"] == "val_loss"
    assert rise["data"]["best"] == 0.3 and rise["data"]["window_min"] == 0.9
    assert rise["data"]["ratio"] == pytest.approx(3.0)
