"""Failure patterns meet the checks: a pattern that states a check is enforced as one, and a
drift check against a reference run, all through real runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import goldfish_svs.plugin as svs_plugin
import pytest
from goldfish import patterns
from svs_support import edit_pipeline, findings, make_project, run, state


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(svs_plugin, name="svs")
    return goldfish_plugins


SCORES = {
    "pipeline.yaml": "name: s\nstages:\n  - name: score\n    outputs: {scores: {type: npy}}\n"
                     "    config: {scale: 1.0, crash: false}\n",
    "modules/score.py": """
        import numpy as np
        from goldfish import io
        cfg = io.config()
        scores = np.random.default_rng(0).random(1000) * cfg["scale"]
        if cfg["crash"]:
            raise FloatingPointError(f"probability {scores.max():.3f} above 1 in calibration")
        io.save_output("scores", scores)
        """,
}


def test_a_pattern_that_states_a_check_becomes_one(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, SCORES, plugins)
    crashed = run(project, set_={"score": {"crash": True, "scale": 1.5}})
    assert state(project, crashed) == "failed"
    [pattern] = patterns.list_patterns(project, "pending")
    assert pattern.exception == "FloatingPointError"
    patterns.approve(project, pattern.id, prevention="keep probabilities in [0, 1]",
                     check={"check": "range", "signal": "scores", "min": 0, "max": 1})
    silent = run(project, set_={"score": {"scale": 1.5}})  # no crash, but the same bad values
    assert state(project, silent) == "failed"
    [rng] = findings(project, silent, "range")
    assert rng["severity"] == "blocking" and rng["data"]["pattern"] == pattern.id
    assert rng["data"]["max_seen"] > 1 and rng["data"]["max"] == 1
    healthy = run(project)
    assert state(project, healthy) == "done"
    assert findings(project, healthy, "range")[0]["severity"] == "info"


def test_drift_against_a_reference_run(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, SCORES, plugins)
    reference = run(project)
    assert state(project, reference) == "done"
    edit_pipeline(project, "name: s\nstages:\n  - name: score\n"
                  "    outputs: {scores: {type: npy}}\n"
                  "    config: {scale: 1.0, crash: false}\n"
                  f"    checks: {{drift: {{reference: {reference}, max_psi: 0.2}}}}\n")
    shifted = run(project, set_={"score": {"scale": 3.0}})
    [drift] = findings(project, shifted, "drift")
    assert drift["severity"] == "warning" and state(project, shifted) == "done"
    assert drift["data"]["psi"] > 0.2 and drift["data"]["reference"] == reference
    assert drift["data"]["sample_size"] == 1000
    same = run(project, set_={"score": {"scale": 1.0}}, force=True)
    [calm] = findings(project, same, "drift")
    assert calm["severity"] == "info" and calm["data"]["psi"] == pytest.approx(0.0, abs=1e-9)
