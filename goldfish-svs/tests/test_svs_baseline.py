"""Automatic checks judge only what they can: a correct 3-class baseline with
train_x/train_y/test_x/test_y outputs and no declared checks runs to `done` with no blocking
finding (labels repeat by nature; train_x is never compared with test_y), while the same project
with 10% of the test rows copied from train is blocked by leakage. Real runs: engine, local
backend, numpy stages, goldfish-svs loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import goldfish_svs.plugin as svs_plugin
import numpy as np
import pytest
from goldfish.runs.engine import Engine, parse_set
from svs_support import findings, make_project, state


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(svs_plugin, name="svs")
    return goldfish_plugins


BASELINE = {
    "pipeline.yaml": """
        name: blobs
        stages:
          - name: prepare
            outputs:
              train_x: {type: npy}
              train_y: {type: npy}
              test_x: {type: npy}
              test_y: {type: npy}
            config: {leak: 0.0}
          - name: train
            inputs: {x: {from: prepare.train_x}, y: {from: prepare.train_y}}
            outputs: {model: {type: json}}
          - name: evaluate
            inputs: {model: {from: train.model}, x: {from: prepare.test_x}, y: {from: prepare.test_y}}
            outputs: {scores: {type: json}}
        """,
    "modules/prepare.py": """
        import numpy as np
        from goldfish import io
        rng = np.random.default_rng(7)
        centres = np.array([[0, 0, 0, 0], [4, 4, 0, 0], [0, 4, 4, 0]], dtype=np.float32)
        def blobs(n):
            y = rng.integers(0, 3, size=n)
            return (centres[y] + rng.normal(size=(n, 4))).astype(np.float32), y
        train_x, train_y = blobs(600)
        test_x, test_y = blobs(150)
        k = int(round(io.config()["leak"] * len(test_x)))
        test_x[:k], test_y[:k] = train_x[:k], train_y[:k]  # rows copied from train
        for name, value in [("train_x", train_x), ("train_y", train_y),
                            ("test_x", test_x), ("test_y", test_y)]:
            io.save_output(name, value)
        """,
    "modules/train.py": """
        import numpy as np
        from goldfish import io
        x, y = io.load_input("x"), io.load_input("y")
        centroids = [x[y == c].mean(axis=0).tolist() for c in range(3)]
        io.log_metric("loss", float(np.mean([np.min(np.linalg.norm(x - np.array(c), axis=1))
                                              for c in centroids])), step=0)
        io.save_output("model", {"centroids": centroids})
        """,
    "modules/evaluate.py": """
        import numpy as np
        from goldfish import io
        c = np.array(io.load_input("model")["centroids"])
        x, y = io.load_input("x"), io.load_input("y")
        pred = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        accuracy = float((pred == y).mean())
        io.log_metric("accuracy", accuracy)
        io.save_output("scores", {"accuracy": accuracy})
        """,
}


def test_a_correct_baseline_passes_and_copied_test_rows_are_blocked(tmp_path: Path,
                                                                     plugins: Any) -> None:
    project = make_project(tmp_path, BASELINE, plugins)
    engine = Engine(project)
    clean = engine.run("w1", wait=True)
    assert state(project, clean) == "done", findings(project, clean)
    found = findings(project, clean)
    assert [f for f in found if f["severity"] != "info"] == []  # no blocking, no warning
    judged, explained = sorted(findings(project, clean, "leakage"),
                               key=lambda f: f["signal"] != "test_x")
    assert judged["data"]["between"] == ["train_x", "test_x"] and judged["data"]["value"] == 0
    assert judged["data"]["automatic"] is True  # train_x is never compared with test_y
    assert explained["data"]["between"] == ["train_y", "test_y"]
    assert explained["data"]["judged"] is False and "repeat by nature" in explained["message"]
    label_checks = {f["check"] for f in found if f["signal"] in ("train_y", "test_y")}
    assert label_checks == {"class_balance", "leakage"}  # no collapse/entropy on labels

    leaky = engine.run("w1", wait=True, set_=parse_set(["prepare.leak=0.1"]))
    assert state(project, leaky) == "failed"
    assert state(project, leaky, "prepare") == "failed"
    blocking = [f for f in findings(project, leaky) if f["severity"] == "blocking"]
    assert [(f["check"], f["signal"]) for f in blocking] == [("leakage", "test_x")]
    [leak] = blocking
    assert leak["data"]["shared_rows"] == 15 and leak["data"]["rows"] == 150
    assert leak["data"]["value"] == pytest.approx(0.1)
    assert "`checks: {leakage: false}`" in leak["message"]  # says how to switch it off

    # ... and saying so works: the same leaky data with the check switched off on the stage
    slot = project.slot_path("w1") / "pipeline.yaml"
    slot.write_text(slot.read_text().replace("config: {leak: 0.0}",
                                             "config: {leak: 0.0}\n    checks: {leakage: false}"))
    off = engine.run("w1", wait=True, set_=parse_set(["prepare.leak=0.1"]))
    assert state(project, off) == "done"
    assert findings(project, off, "leakage") == []


def test_labels_pairs_are_explained_not_judged(tmp_path: Path, plugins: Any) -> None:
    from goldfish_svs import plugin, stats

    assert plugin._auto_pairs(["train_x", "train_y", "test_x", "test_y", "x_val"]) == [
        ("train_x", "test_x"), ("train_x", "x_val"), ("train_y", "test_y")]
    assert plugin._auto_pairs(["train", "validation", "train_mask"]) == [("train", "validation")]
    np.save(tmp_path / "y.npy", np.arange(600) % 3)
    hashes, _ = stats.array_hashes(tmp_path / "y.npy", 10_000)
    assert stats.distinct_share(hashes) == pytest.approx(3 / 600)
