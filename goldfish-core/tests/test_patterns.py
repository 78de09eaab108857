"""Failure patterns: deterministic signatures, candidates from real failed runs, review, and the
second occurrence of an approved failure shown as known — in the run's findings and in status."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from goldfish import hookimpl, patterns
from goldfish.errors import ConflictError, InvalidInputError, NotFoundError
from goldfish.findings import Review
from goldfish.patterns import Failure
from goldfish.runs.engine import Engine
from runs_support import make_project

FAILING = {
    "pipeline.yaml": """
        name: fragile
        stages:
          - name: prepare
            outputs: {data: {type: json}}
            config: {batch: 32}
          - name: train
            inputs: {data: {from: prepare.data}}
            outputs: {model: {type: json}}
    """,
    "modules/prepare.py": """
        from goldfish import io
        batch = io.config()["batch"]
        raise ValueError(f"batch of {batch} rows does not divide /data/set-{batch}.bin at 0x7f3a")
    """,
    "modules/train.py": """
        from goldfish import io
        io.save_output("model", {"w": 1})
    """,
}


def run(project: Any, **kwargs: Any) -> str:
    engine = Engine(project)
    run_id = engine.run("w1", **kwargs)
    assert engine.wait(run_id, timeout=60) == "failed"
    return str(run_id)


def findings(project: Any, run_id: str, check: str) -> list[Any]:
    import json

    rows = project.db.query("SELECT * FROM findings WHERE run_id = ? AND check_name = ? "
                            "ORDER BY id", (run_id, check))
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


def test_signature_ignores_numbers_ids_and_paths_but_not_stage_or_type() -> None:
    a = patterns.signature("ValueError", "batch of 32 rows at /data/a-1.bin (r-20260101-abcdef)",
                           "prepare")
    b = patterns.signature("ValueError", "batch of 64 rows at /tmp/x/y.bin (r-20261231-123456)\n"
                           "second line differs", "prepare")
    assert a == b
    assert a != patterns.signature("KeyError", "batch of 32 rows at /data/a-1.bin", "prepare")
    assert a != patterns.signature("ValueError", "batch of 32 rows at /data/a-1.bin", "train")
    assert patterns.normalize_message("loss 1.5e-3 at 'w1' step 7") == "loss <n> at <str> step <n>"


def test_a_failed_run_yields_a_pending_candidate(tmp_path: Path, goldfish_plugins: Any) -> None:
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    run_id = run(project)
    [pattern] = patterns.list_patterns(project)
    assert pattern.status == "pending" and pattern.stage == "prepare"
    assert pattern.exception == "ValueError" and pattern.occurrences == 1
    assert pattern.summary_by == "deterministic" and pattern.first_run == run_id
    assert "ValueError in prepare" in pattern.title
    assert "does not divide" in pattern.symptom
    [found] = findings(project, run_id, "failure_pattern")
    assert found["severity"] == "info" and found["stage"] == "prepare"
    assert found["data"]["pattern"]["id"] == pattern.id and found["data"]["new"] is True
    assert found["phase"] == "failure"
    kinds = [r[0] for r in project.db.query("SELECT kind FROM events WHERE subject = ?",
                                            (pattern.id,))]
    assert kinds == ["pattern.created"]
    assert patterns.hits(project, run_id)[0]["known"] is False


def test_an_approved_pattern_marks_the_next_occurrence_known(tmp_path: Path,
                                                             goldfish_plugins: Any) -> None:
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    run(project)
    [pattern] = patterns.list_patterns(project, "pending")
    approved = patterns.approve(project, pattern.id[:6], "seen twice in sweeps",
                                prevention="choose a batch size that divides the dataset")
    assert approved.status == "approved" and approved.note == "seen twice in sweeps"
    second = run(project, set_={"prepare": {"batch": 48}})  # another number, same failure
    [known] = findings(project, second, "known_failure")
    assert known["severity"] == "warning" and known["stage"] == "prepare"
    assert known["data"]["known_pattern"] == {"id": pattern.id, "title": pattern.title}
    assert known["data"]["prevention"] == "choose a batch size that divides the dataset"
    assert "choose a batch size" in known["message"]
    assert patterns.get(project, pattern.id).occurrences == 2
    assert patterns.hits(project, second) == [
        {"pattern": pattern.id, "stage": "prepare", "known": True, "title": pattern.title,
         "status": "approved", "prevention": "choose a batch size that divides the dataset"}]
    from goldfish.orientation import orient

    status = orient(project)
    [shown] = [f for f in status.findings if f.get("known_failure")]
    assert shown["run"] == second
    assert shown["known_failure"]["pattern"] == pattern.id
    assert shown["known_failure"]["prevention"] == "choose a batch size that divides the dataset"
    assert "known failure" in status.render() and "choose a batch size" in status.render()


def test_a_rejected_pattern_stays_unknown(tmp_path: Path, goldfish_plugins: Any) -> None:
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    run(project)
    [pattern] = patterns.list_patterns(project)
    patterns.reject(project, pattern.id, "flaky disk, not a pattern")
    second = run(project, set_={"prepare": {"batch": 7}})
    assert findings(project, second, "known_failure") == []
    [info] = findings(project, second, "failure_pattern")
    assert info["data"]["pattern"]["status"] == "rejected" and info["data"]["new"] is False
    with pytest.raises(ConflictError, match="already rejected"):
        patterns.reject(project, pattern.id)


def test_decisions_refuse_bad_input(tmp_path: Path, goldfish_plugins: Any) -> None:
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    run(project)
    [pattern] = patterns.list_patterns(project)
    with pytest.raises(InvalidInputError, match="no prevention advice") as exc:
        patterns.approve(project, pattern.id)
    assert "prevention=" in (exc.value.hint or "")
    with pytest.raises(InvalidInputError, match="unknown check 'nan_ratoi'") as exc:
        patterns.approve(project, pattern.id, prevention="x",
                         check={"check": "nan_ratoi", "max": 0})
    assert "nan_ratio" in (exc.value.hint or "")
    with pytest.raises(InvalidInputError, match="mapping with a 'check'"):
        patterns.approve(project, pattern.id, prevention="x", check="nan_ratio")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="no failure pattern 'p-zzz'"):
        patterns.get(project, "p-zzz")
    with pytest.raises(InvalidInputError, match="unknown pattern status 'done'"):
        patterns.list_patterns(project, "done")
    assert patterns.get(project, pattern.id).status == "pending"  # nothing half-written
    ok = patterns.approve(project, pattern.id, prevention="x",
                          check={"check": "row_count", "signal": "data", "min": 1})
    assert patterns.pattern_checks(project, "prepare") == [
        {"check": "row_count", "signal": "data", "min": 1, "stage": "prepare",
         "pattern": ok.id}]
    assert patterns.pattern_checks(project, "train") == []


def test_concurrent_failures_share_one_pattern(tmp_path: Path, goldfish_plugins: Any) -> None:
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    from goldfish.project import Project

    def fail(i: int) -> None:
        other = Project(project.root, plugins=goldfish_plugins)
        patterns.candidate_from_failure(other, Failure(f"r-2026010{i}-00000{i}", "train",
                                                       "OSError", f"disk {i} full"))

    threads = [threading.Thread(target=fail, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [pattern] = patterns.list_patterns(project)
    assert pattern.occurrences == 4


class Summarizer:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: list[Failure] = []

    @hookimpl
    def summarize_failure(self, context: Any) -> dict[str, Any] | None:
        self.seen.append(context)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_hook_summarize_failure(tmp_path: Path, goldfish_plugins: Any,
                                register_goldfish_plugin: Any) -> None:
    silent = Summarizer(None)
    llm = Summarizer({"symptom": "prepare crashes on odd batch sizes",
                      "root_cause": "the batch size must divide the dataset size",
                      "detection": "ValueError 'does not divide' in prepare",
                      "prevention": "validate batch against the dataset size in config_schema",
                      "severity": "blocking", "title": "batch does not divide the dataset"})
    register_goldfish_plugin(silent, name="silent")
    register_goldfish_plugin(llm, name="llm")
    failure = Failure("r-20260101-aaaaaa", "prepare", "ValueError", "boom")
    assert goldfish_plugins.summarize_failure(failure)["severity"] == "blocking"  # first result
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    run_id = run(project)
    [pattern] = patterns.list_patterns(project)
    assert pattern.summary_by == "plugin" and pattern.severity == "blocking"
    assert pattern.title == "batch does not divide the dataset"
    assert pattern.root_cause == "the batch size must divide the dataset size"
    seen = llm.seen[-1]
    assert (seen.run_id, seen.stage, seen.exception) == (run_id, "prepare", "ValueError")
    assert "does not divide" in seen.message and "raise ValueError" in seen.traceback_tail
    assert seen.project is not None
    # advice from the summary is enough to approve
    assert patterns.approve(project, pattern.id).prevention.startswith("validate batch")
    run(project)
    assert len(llm.seen) == 2  # a failure matching a pattern is not summarized again


def test_a_broken_summarizer_falls_back_to_the_deterministic_summary(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    register_goldfish_plugin(Summarizer(RuntimeError("model down")), name="broken")
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    run(project)
    [pattern] = patterns.list_patterns(project)
    assert pattern.summary_by == "deterministic" and "ValueError" in pattern.title


class PatternAwareReviewer:
    def __init__(self) -> None:
        self.seen: list[tuple[str, list[dict[str, Any]]]] = []

    @hookimpl
    def review_before_run(self, context: Any) -> Review:
        self.seen.append((context.phase, context.patterns))
        return Review("r", "approve")

    @hookimpl
    def review_after_run(self, context: Any) -> Review:
        self.seen.append((context.phase, context.patterns))
        return Review("r", "approve")


def test_reviewers_receive_approved_patterns(tmp_path: Path, goldfish_plugins: Any,
                                             register_goldfish_plugin: Any) -> None:
    reviewer = PatternAwareReviewer()
    register_goldfish_plugin(reviewer, name="reviewer")
    project = make_project(tmp_path, FAILING, goldfish_plugins)
    run(project)
    assert [p for _, p in reviewer.seen] == [[], []]
    [pattern] = patterns.list_patterns(project)
    patterns.approve(project, pattern.id, prevention="check the batch size")
    run(project)
    phases = [phase for phase, _ in reviewer.seen[2:]]
    assert phases == ["before", "after"]
    for _, given in reviewer.seen[2:]:
        assert [(p["id"], p["prevention"]) for p in given] == [(pattern.id,
                                                                 "check the batch size")]
