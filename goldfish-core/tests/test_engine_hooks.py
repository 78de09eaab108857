"""Validators, reviewers and lifecycle hooks are called at their points and can stop a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from goldfish import hookimpl
from goldfish.findings import Finding, Review
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from runs_support import CHAIN, edit, make_project


class Recorder:
    """A real plugin: records what it saw and returns configured findings."""

    def __init__(self, **returns: Any) -> None:
        self.returns = returns
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def validate_pipeline(self, pipeline: Any, project: Any) -> list[Finding]:
        self.calls.append(("validate_pipeline", [s.name for s in pipeline.stages]))
        return list(self.returns.get("validate_pipeline", []))

    @hookimpl
    def review_before_run(self, context: Any) -> Review | None:
        self.calls.append(("review_before_run", (context.phase, sorted(context.configs),
                                                 sorted(context.files))))
        return self.returns.get("review_before_run")

    @hookimpl
    def validate_outputs(self, context: Any) -> list[Finding]:
        self.calls.append(("validate_outputs", (context.stage, sorted(context.paths),
                                                all(p.exists() for p in context.paths.values()))))
        return [f for f in self.returns.get("validate_outputs", []) if f.stage == context.stage]

    @hookimpl
    def check_metrics(self, context: Any) -> list[Finding]:
        self.calls.append(("check_metrics", (context.stage, [p.name for p in context.new])))
        if context.stage == "train" and "check_metrics" in self.returns:
            return list(self.returns["check_metrics"])
        return []

    @hookimpl
    def review_after_run(self, context: Any) -> Review | None:
        self.calls.append(("review_after_run", (context.state, sorted(context.metrics))))
        return Review("after-bot", "approve", summary="looks fine")

    @hookimpl
    def on_run_started(self, run: Any) -> None:
        self.calls.append(("on_run_started", run.id))

    @hookimpl
    def on_stage_finished(self, run: Any, stage: str, state: str) -> None:
        self.calls.append(("on_stage_finished", (stage, state)))

    @hookimpl
    def on_run_finished(self, run: Any) -> None:
        self.calls.append(("on_run_finished", run.state))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def setup(tmp_path: Path, plugins: Any, register: Any, **returns: Any) -> tuple[Any, Recorder]:
    recorder = Recorder(**returns)
    register(recorder, name="recorder")
    return make_project(tmp_path, CHAIN, plugins), recorder


def test_every_hook_is_called_at_its_point(tmp_path: Path, goldfish_plugins: Any,
                                           register_goldfish_plugin: Any) -> None:
    project, rec = setup(tmp_path, goldfish_plugins, register_goldfish_plugin)
    run_id = Engine(project).run("w1", wait=True)
    names = rec.names()
    assert names[:3] == ["validate_pipeline", "review_before_run", "on_run_started"]
    assert names[-2:] == ["review_after_run", "on_run_finished"]
    assert rec.calls[0][1] == ["prepare", "train", "evaluate"]
    assert rec.calls[1][1] == ("before", ["evaluate", "prepare", "train"],
                               ["modules/evaluate.py", "modules/prepare.py", "modules/train.py"])
    outputs = [c[1] for c in rec.calls if c[0] == "validate_outputs"]
    assert outputs == [("prepare", ["data"], True), ("train", ["model"], True),
                       ("evaluate", ["scores"], True)]
    finished = [c[1] for c in rec.calls if c[0] == "on_stage_finished"]
    assert finished == [("prepare", "done"), ("train", "done"), ("evaluate", "done")]
    assert rec.calls[-1] == ("on_run_finished", "done")
    assert ("review_after_run", ("done", ["evaluate", "train"])) in rec.calls
    info = get_run(project, run_id)
    assert info.reviews == [{"phase": "after", "reviewer": "after-bot", "decision": "approve",
                             "summary": "looks fine", "usage": {}}]


def test_a_blocking_preflight_finding_stops_the_run_before_launch(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    bad = Finding("svs", "leakage", "blocking", "test rows appear in train", stage="prepare")
    project, rec = setup(tmp_path, goldfish_plugins, register_goldfish_plugin,
                         validate_pipeline=[bad])
    run_id = Engine(project).run("w1", wait=True)
    info = get_run(project, run_id)
    assert info.state == "failed"
    assert "blocked by preflight: test rows appear in train" in (info.error or "")
    assert {s.state for s in info.stages} == {"skipped"}
    assert info.findings[0]["check"] == "leakage" and info.findings[0]["phase"] == "preflight"
    assert "review_before_run" not in rec.names()
    assert not (project.runs_dir / run_id).exists()


def test_a_blocking_review_stops_the_run_and_is_recorded(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    review = Review("llm", "block", [Finding("review", "shapes", "blocking",
                                             "train reads 64 columns, prepare writes 65")],
                    summary="shape mismatch")
    project, _ = setup(tmp_path, goldfish_plugins, register_goldfish_plugin,
                       review_before_run=review)
    run_id = Engine(project).run("w1", wait=True)
    info = get_run(project, run_id)
    assert info.state == "failed"
    assert "blocked by review (llm): train reads 64 columns" in (info.error or "")
    assert info.reviews[0]["decision"] == "block"
    assert info.findings[0]["phase"] == "review_before"
    assert not (project.runs_dir / run_id).exists()


def test_a_warning_does_not_stop_anything(tmp_path: Path, goldfish_plugins: Any,
                                          register_goldfish_plugin: Any) -> None:
    project, _ = setup(tmp_path, goldfish_plugins, register_goldfish_plugin,
                       validate_pipeline=[Finding("svs", "style", "warning", "long stage")])
    info = get_run(project, Engine(project).run("w1", wait=True))
    assert info.state == "done"
    assert info.findings[0]["severity"] == "warning"


def test_a_blocking_output_finding_fails_the_stage(tmp_path: Path, goldfish_plugins: Any,
                                                   register_goldfish_plugin: Any) -> None:
    bad = Finding("svs", "constant", "blocking", "model weights are all zero", stage="train",
                  signal="model")
    project, _ = setup(tmp_path, goldfish_plugins, register_goldfish_plugin,
                       validate_outputs=[bad])
    info = get_run(project, Engine(project).run("w1", wait=True))
    assert info.stage("train").state == "failed"
    assert "model weights are all zero" in (info.stage("train").error or "")
    assert info.stage("train").outputs == {}  # rejected outputs are not kept
    assert info.stage("evaluate").state == "skipped"


def test_a_blocking_metric_finding_stops_the_running_stage(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    bad = Finding("svs", "nan_loss", "blocking", "loss is NaN", stage="train", signal="loss")
    project, rec = setup(tmp_path, goldfish_plugins, register_goldfish_plugin,
                         check_metrics=[bad])
    edit(project, "modules/train.py", """
        import time
        from goldfish import io
        io.load_input("data")
        for step in range(400):
            io.log_metric("loss", float("nan"), step=step)
            io.flush()
            if io.should_stop():
                break
            time.sleep(0.05)
        else:
            io.save_output("model", {"w": 0})
    """)
    info = get_run(project, Engine(project).run("w1", wait=True))
    train = info.stage("train")
    assert train.state == "failed"
    assert "stopped by a blocking finding: loss is NaN" in (train.error or "")
    assert any(c == ("check_metrics", ("train", ["loss"])) or
               (c[0] == "check_metrics" and c[1][0] == "train") for c in rec.calls)
    assert any(f["check"] == "nan_loss" for f in info.findings)


def test_no_plugins_means_no_op_hooks(tmp_path: Path, goldfish_plugins: Any) -> None:
    project = make_project(tmp_path, CHAIN, goldfish_plugins)
    info = get_run(project, Engine(project).run("w1", wait=True))
    assert info.state == "done" and info.findings == [] and info.reviews == []


@pytest.mark.parametrize("decision", ["maybe"])
def test_review_and_finding_types_reject_bad_values(decision: str) -> None:
    with pytest.raises(ValueError):
        Review("x", decision)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Finding("x", "y", "fatal", "z")  # type: ignore[arg-type]


class Broken:
    @hookimpl
    def validate_outputs(self, context: Any) -> list[Finding]:
        raise RuntimeError("checker crashed")

    @hookimpl
    def on_run_finished(self, run: Any) -> None:
        raise RuntimeError("notifier crashed")


def test_a_crashing_plugin_is_a_warning_not_a_lost_run(tmp_path: Path, goldfish_plugins: Any,
                                                       register_goldfish_plugin: Any) -> None:
    register_goldfish_plugin(Broken(), name="broken")
    project = make_project(tmp_path, CHAIN, goldfish_plugins)
    info = get_run(project, Engine(project).run("w1", wait=True))
    assert info.state == "done"
    crashes = [f for f in info.findings if f["check"] == "plugin_error"]
    assert len(crashes) == 3 and "checker crashed" in crashes[0]["message"]
    assert {f["severity"] for f in crashes} == {"warning"}
