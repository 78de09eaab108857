"""Silent failures caught on real data through real runs (engine + local backend + subprocess
stages): NaNs, a collapsed embedding, train/test leakage, single-class labels, a loss that
diverges to inf, a stage that hangs without a heartbeat. Blocking findings fail or stop the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import goldfish_svs.plugin as svs_plugin
import pytest
from svs_support import findings, make_project, run, stage_error, state


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(svs_plugin, name="svs")
    return goldfish_plugins


def one_stage(outputs: str, body: str, checks: str = "", config: str = "") -> dict[str, str]:
    lines = ["name: data", "stages:", "  - name: make", f"    outputs: {outputs}"]
    if checks:
        lines.append(f"    checks: {checks}")
    if config:
        lines.append(f"    config: {config}")
    return {"pipeline.yaml": "\n".join(lines) + "\n",
            "modules/make.py": "import numpy as np\nfrom goldfish import io\n"
                               "rng = np.random.default_rng(0)\n" + body}


def test_a_stage_writing_nans_fails_with_the_nan_ratio(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, one_stage(
        "{features: {type: npy, contract: {shape: [null, 8], dtype: float32}}}",
        "x = rng.normal(size=(1000, 8)).astype(np.float32)\n"
        "x[:100] = np.nan\n"
        "io.save_output('features', x)\n"), plugins)
    run_id = run(project)
    assert state(project, run_id) == "failed"
    assert state(project, run_id, "make") == "failed"
    [nan] = findings(project, run_id, "nan_ratio")
    assert nan["severity"] == "blocking" and nan["signal"] == "features"
    assert nan["data"]["count"] == 800 and nan["data"]["total"] == 8000
    assert nan["data"]["value"] == pytest.approx(0.1) and nan["data"]["exact"] is True
    assert "10% NaN" in nan["message"]
    assert "outputs rejected" in stage_error(project, run_id, "make")
    assert project.db.query("SELECT * FROM outputs WHERE run_id = ?", (run_id,)) == []
    [inf] = findings(project, run_id, "inf_ratio")
    assert inf["severity"] == "info" and inf["data"]["count"] == 0


def test_a_collapsed_embedding_is_blocked(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, one_stage(
        "{embedding: {type: npy}}",
        "row = rng.normal(size=16).astype(np.float32)\n"
        "io.save_output('embedding', np.tile(row, (500, 1)))\n"), plugins)
    run_id = run(project)
    assert state(project, run_id) == "failed"
    [collapsed] = findings(project, run_id, "collapsed")
    assert collapsed["severity"] == "blocking"
    assert collapsed["data"]["distinct"] == 1
    assert collapsed["data"]["value"] == pytest.approx(1 / 500)
    [top] = findings(project, run_id, "top_k_concentration")
    assert top["data"]["value"] == 1.0 and top["severity"] == "warning"
    assert findings(project, run_id, "nan_ratio")[0]["severity"] == "info"


def test_five_percent_overlap_between_train_and_test_is_leakage(tmp_path: Path,
                                                                plugins: Any) -> None:
    project = make_project(tmp_path, one_stage(
        "{train: {type: npy}, test: {type: npy}}",
        "train = rng.normal(size=(2000, 8))\n"
        "test = rng.normal(size=(400, 8))\n"
        "test[::20] = train[:20]\n"
        "io.save_output('train', train)\n"
        "io.save_output('test', test)\n"), plugins)
    run_id = run(project)
    assert state(project, run_id) == "failed"
    [leak] = findings(project, run_id, "leakage")
    assert leak["severity"] == "blocking" and leak["signal"] == "test"
    assert leak["data"]["shared_rows"] == 20 and leak["data"]["rows"] == 400
    assert leak["data"]["value"] == pytest.approx(0.05)
    assert leak["data"]["between"] == ["train", "test"]


def test_declared_leakage_between_an_input_and_an_output(tmp_path: Path, plugins: Any) -> None:
    files = {
        "pipeline.yaml": """
            name: data
            stages:
              - name: split
                outputs: {pool: {type: npy}}
              - name: holdout
                inputs: {pool: {from: split.pool}}
                outputs: {scores: {type: npy}}
                checks: {leakage: {between: [pool, scores]}}
            """,
        "modules/split.py": "import numpy as np\nfrom goldfish import io\n"
                            "io.save_output('pool', np.arange(300.0).reshape(100, 3))\n",
        "modules/holdout.py": "import numpy as np\nfrom goldfish import io\n"
                              "pool = io.load_input('pool')\n"
                              "io.save_output('scores', np.vstack([pool[:5], "
                              "np.arange(1e4, 1e4 + 285.0).reshape(95, 3)]))\n",
    }
    project = make_project(tmp_path, files, plugins)
    run_id = run(project)
    assert state(project, run_id, "split") == "done"
    assert state(project, run_id, "holdout") == "failed"
    [leak] = findings(project, run_id, "leakage")
    assert leak["data"]["shared_rows"] == 5 and leak["data"]["value"] == pytest.approx(0.05)


def test_labels_of_a_single_class_are_blocked(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, one_stage(
        "{labels: {type: npy, contract: {rank: 1}}}",
        "io.save_output('labels', np.zeros(1000, dtype=np.int64))\n"), plugins)
    run_id = run(project)
    assert state(project, run_id) == "failed"
    [balance] = findings(project, run_id, "class_balance")
    assert balance["severity"] == "blocking"
    assert balance["data"]["classes"] == 1 and balance["data"]["counts"] == {"0": 1000}
    assert "1 class(es)" in balance["message"]
    assert findings(project, run_id, "constant") == []  # labels are judged by class balance


def test_healthy_data_passes_with_every_number_recorded(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, one_stage(
        "{features: {type: npy, contract: {shape: [null, '{dim}']}}, labels: {type: npy}}",
        "dim = io.config()['dim']\n"
        "io.save_output('features', rng.normal(size=(1000, dim)).astype(np.float32))\n"
        "io.save_output('labels', rng.integers(0, 3, size=1000))\n",
        config="{dim: 4}"), plugins)
    run_id = run(project)
    assert state(project, run_id) == "done"
    found = findings(project, run_id)
    assert {f["severity"] for f in found} == {"info"}
    by = {(f["check"], f["signal"]): f for f in found}
    assert by[("nan_ratio", "features")]["data"]["value"] == 0
    assert by[("collapsed", "features")]["data"]["distinct"] == 1000
    assert by[("class_balance", "labels")]["data"]["classes"] == 3
    assert by[("entropy", "features")]["data"]["value"] > 3


def test_enforcement_warning_records_but_never_blocks(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, one_stage(
        "{features: {type: npy}}",
        "x = rng.normal(size=(100, 4))\nx[0, 0] = np.inf\nio.save_output('features', x)\n"),
        plugins, svs="enforcement: warning")
    run_id = run(project)
    assert state(project, run_id) == "done"
    [inf] = findings(project, run_id, "inf_ratio")
    assert inf["severity"] == "warning" and inf["data"]["count"] == 1


def test_per_signal_checks_override_the_defaults(tmp_path: Path, plugins: Any) -> None:
    project = make_project(tmp_path, one_stage(
        "{features: {type: npy, contract: {checks: {nan_ratio: {max: 0.2}, "
        "range: {min: -10, max: 10}}}}}",
        "x = rng.normal(size=(100, 4))\nx[:10] = np.nan\nx[50, 1] = 11\n"
        "io.save_output('features', x)\n"), plugins)
    run_id = run(project)
    [nan] = findings(project, run_id, "nan_ratio")
    assert nan["severity"] == "info" and nan["data"]["max"] == 0.2  # 10% allowed here
    [rng] = findings(project, run_id, "range")
    assert rng["severity"] == "blocking" and rng["data"]["max_seen"] == 11
    assert state(project, run_id) == "failed"


LOSS = """
import math, time
from goldfish import io
for step, loss in enumerate([1.0, 0.6, 0.4, 0.3, 0.5, 4.0, 80.0, math.inf]):
    io.log_metric("loss", loss, step=step)
io.flush()
deadline = time.time() + 60
while not io.should_stop() and time.time() < deadline:
    time.sleep(0.05)
print("stopped cooperatively" if io.should_stop() else "never asked to stop", flush=True)
io.save_output("model", {"w": 1})
"""


def test_a_loss_diverging_to_inf_stops_the_run(tmp_path: Path, plugins: Any) -> None:
    files = {"pipeline.yaml": """
                name: train
                stages:
                  - name: train
                    outputs: {model: {type: json}}
                """,
             "modules/train.py": LOSS}
    project = make_project(tmp_path, files, plugins)
    run_id = run(project)
    assert state(project, run_id) == "failed"
    assert state(project, run_id, "train") == "failed"
    [nonfinite] = findings(project, run_id, "nonfinite_metric")
    assert nonfinite["severity"] == "blocking" and nonfinite["signal"] == "loss"
    assert nonfinite["data"]["value"] == "inf" and nonfinite["data"]["step"] == 7
    [div] = findings(project, run_id, "divergence")
    assert div["severity"] == "blocking" and div["data"]["window_min"] == 0.3
    assert div["phase"] == "metrics"
    assert stage_error(project, run_id, "train").startswith("stopped by a blocking finding")
    log = (project.runs_dir / run_id / "train" / "log.txt").read_text()
    assert "stopped cooperatively" in log  # should_stop saw the stop file; no kill needed
    assert project.db.query("SELECT * FROM outputs WHERE run_id = ?", (run_id,)) == []


HANG = """
import time
from goldfish import io
io.should_stop()  # it listens for stops, then hangs where it cannot see one
print("working", flush=True)
time.sleep(300)
"""


def test_a_stage_hanging_without_heartbeat_is_stopped_hard(tmp_path: Path, plugins: Any) -> None:
    files = {"pipeline.yaml": """
                name: hang
                stages:
                  - name: train
                    outputs: {model: {type: json}}
                """,
             "modules/train.py": HANG}
    project = make_project(tmp_path, files, plugins,
                           svs="stop_grace_seconds: 1\nchecks: {stall: {seconds: 1.5}}")
    run_id = run(project)
    assert state(project, run_id) == "failed"
    [stall] = findings(project, run_id, "stall")
    assert stall["severity"] == "blocking"
    assert stall["data"]["seconds_since_heartbeat"] > 1.5 and stall["data"]["max_seconds"] == 1.5
    assert stall["data"]["grace_seconds"] == 1
    job = project.runs_dir / run_id / "train"
    assert (job / "stop").exists() and (job / "cancel").exists()  # cooperative, then hard
    row = project.db.one("SELECT exit_code, cause FROM stage_runs WHERE run_id = ?", (run_id,))
    assert row is not None
    assert row["cause"] == "cancelled" and row["exit_code"] == 143


def test_grad_norm_explosion_is_reported_with_its_value(tmp_path: Path, plugins: Any) -> None:
    files = {"pipeline.yaml": """
                name: train
                stages:
                  - name: train
                    outputs: {model: {type: json}}
                    checks: {grad_norm: {severity: warning}}
                """,
             "modules/train.py": """
                import time
                from goldfish import io
                for step, g in enumerate([1.0, 2.0, 250.0, 3.0]):
                    io.log_metric("grad_norm", g, step=step)
                io.flush()
                time.sleep(1.5)
                io.save_output("model", {"w": 1})
                """}
    project = make_project(tmp_path, files, plugins)
    run_id = run(project)
    assert state(project, run_id) == "done"  # a warning does not stop anything
    [grad] = findings(project, run_id, "grad_norm")
    assert grad["severity"] == "warning" and grad["data"]["value"] == 250.0
    assert grad["data"]["step"] == 2
