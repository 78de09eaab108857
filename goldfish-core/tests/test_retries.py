"""A preempted stage is relaunched and resumes from its last checkpoint (local `simulate:`)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from goldfish.runs.engine import Engine
from goldfish.runs.ids import attempt_of, job_id
from goldfish.runs.retries import metrics_up_to
from goldfish.testing.projects import make_project, resumable, update_config

RESUMABLE = resumable()


def _project(tmp_path: Path, goldfish_plugins: Any, **local: Any) -> Any:
    project = make_project(tmp_path, RESUMABLE, plugins=goldfish_plugins)
    update_config(project, profiles={"local": {"backend": "local", **local}})
    return project


def test_simulated_preemption_relaunches_and_resumes_from_the_checkpoint(
        tmp_path: Path, goldfish_plugins: Any) -> None:
    project = _project(tmp_path, goldfish_plugins,
                       simulate={"preempt_after_seconds": 1.2, "preemptions": 1})
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, timeout=120) == "done"
    row = project.db.one("SELECT * FROM stage_runs WHERE run_id = ? AND stage = 'train'",
                         (run_id,))
    assert row["job_id"] == f"{run_id}.train.attempt2"
    reasons = [r["reason"] for r in project.db.query(
        "SELECT reason FROM transitions WHERE run_id = ? AND stage = 'train'", (run_id,))]
    assert "relaunched after preemption (attempt 2 of 4)" in reasons
    job_dir = project.runs_dir / run_id / "train"
    log = (job_dir / "log.txt").read_text()
    resumed = int(log.split("resumed from step", 1)[1].split()[0])
    assert resumed > 0 and resumed % 10 == 0
    steps = [json.loads(line)["s"] for line in (job_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(100))  # continuous: nothing twice, nothing missing
    loss = project.db.one("SELECT * FROM metric_summaries WHERE run_id = ? AND stage = 'train' "
                          "AND name = 'loss'", (run_id,))
    assert loss["count"] == 100
    assert json.loads((job_dir / "outputs" / "model.json").read_text()) == {
        "resumed_from": resumed}


def test_the_retry_budget_ends_with_a_preempted_failure(tmp_path: Path,
                                                        goldfish_plugins: Any) -> None:
    project = _project(tmp_path, goldfish_plugins,
                       simulate={"preempt_after_seconds": 0.5, "preemptions": 9})
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, timeout=120) in ("failed", "lost")  # the engine's call
    row = project.db.one("SELECT * FROM stage_runs WHERE run_id = ? AND stage = 'train'",
                         (run_id,))
    assert row["cause"] == "preempted" and row["job_id"].endswith(".attempt4")  # 1 + 3 retries


def test_attempt_ids_and_metric_truncation() -> None:
    assert job_id("r-1", "train") == "r-1.train"
    assert job_id("r-1", "train", 3) == "r-1.train.attempt3"
    assert attempt_of("r-1.train.attempt3") == 3 and attempt_of("r-1.attempt-stage") == 1
    text = "".join(json.dumps({"n": "loss", "v": 1, "s": s}) + "\n" for s in range(5))
    assert [json.loads(x)["s"] for x in metrics_up_to(text, 2).splitlines()] == [0, 1, 2]


def _with_retries(value: str) -> dict[str, str]:
    pipeline = textwrap.dedent(RESUMABLE["pipeline.yaml"]) + f"    retries: {value}\n"
    return {**RESUMABLE, "pipeline.yaml": pipeline}


def test_the_stage_retries_key_sets_the_budget(tmp_path: Path, goldfish_plugins: Any) -> None:
    project = make_project(tmp_path, _with_retries("1"), plugins=goldfish_plugins)
    update_config(project, profiles={"local": {"backend": "local", "simulate": {
        "preempt_after_seconds": 0.5, "preemptions": 9}}})
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, timeout=120) in ("failed", "lost")
    row = project.db.one("SELECT * FROM stage_runs WHERE run_id = ? AND stage = 'train'",
                         (run_id,))
    assert json.loads(row["spec"])["retries"] == 1  # in the run record
    assert row["cause"] == "preempted" and row["job_id"].endswith(".attempt2")  # 1 + 1 retry
    reasons = [r["reason"] for r in project.db.query(
        "SELECT reason FROM transitions WHERE run_id = ? AND stage = 'train'", (run_id,))]
    assert [r for r in reasons if r.startswith("relaunched")] == [
        "relaunched after preemption (attempt 2 of 2)"]


def test_a_bad_retries_value_is_a_located_error() -> None:
    from goldfish.errors import ProblemsError
    from goldfish.pipeline import load_pipeline

    for bad in ("-1", "2.5", "true", "many"):
        text = ("name: p\nstages:\n  - name: train\n    outputs: {m: {type: json}}\n"
                f"    retries: {bad}\n")
        with pytest.raises(ProblemsError) as info:
            load_pipeline(text, "pipeline.yaml")
        [problem] = info.value.problems
        assert (problem.key, problem.line) == ("stages.train.retries", 5), problem
        assert problem.message.startswith("retries must be a whole number ≥ 0, got")
        assert "retries: 0" in (problem.hint or "")
    good = load_pipeline("name: p\nstages:\n  - name: train\n    retries: 0\n", "pipeline.yaml")
    assert good.stages[0].retries == 0
