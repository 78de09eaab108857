"""`status`: what an agent needs after a context loss, each new finding shown once, bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from goldfish import memory
from goldfish.orientation import list_findings, orient
from goldfish.project import Project
from memory_support import add_finding, add_review, add_run, many_runs, new_project, set_best


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return new_project(tmp_path)


def test_fresh_project_says_to_create_a_workspace(tmp_path: Path) -> None:
    project = new_project(tmp_path, workspace=None)
    o = orient(project)
    assert o.goal == "beat 0.9 accuracy" and o.invariants == ["evaluate on the frozen split"]
    assert o.runs_total == 0 and o.best == [] and o.active == []
    assert "create_workspace" in o.next[0]
    assert "invariants: evaluate on the frozen split" in o.render()


def test_mounted_workspace_without_runs_suggests_a_run_with_a_hypothesis(project: Project) -> None:
    o = orient(project)
    assert o.slots[0] == {"slot": "w1", "workspace": "exp", "version": "exp-v1",
                          "goal": "tune the model"}
    assert any(n.startswith("run exp with a hypothesis") for n in o.next)


def test_findings_are_shown_once_most_severe_first(project: Project) -> None:
    add_run(project, "r-20260101-000001", value=0.7)
    add_finding(project, "r-20260101-000001", severity="info", message="fine")
    add_finding(project, "r-20260101-000001", severity="blocking", message="labels leak")
    add_finding(project, "r-20260101-000001", severity="warning", message="drift")
    peek = orient(project, mark_seen=False)
    # an info finding records a passing check: `findings` lists it, status does not raise it
    assert [f["message"] for f in peek.findings] == ["labels leak", "drift"]
    first = orient(project)
    assert [f["severity"] for f in first.findings] == ["blocking", "warning"]
    assert "read the blocking finding" in " ".join(first.next)
    assert orient(project).findings == []
    assert {f["message"]: f["seen"] for f in list_findings(project, include_info=True)} == {
        "labels leak": True, "drift": True, "fine": False}


def test_many_new_findings_are_bounded_and_counted(project: Project) -> None:
    add_run(project, "r-20260101-000001", value=0.7)
    for i in range(12):
        add_finding(project, "r-20260101-000001", message=f"finding {i}")
    o = orient(project)
    assert len(o.findings) == 5 and o.findings_more == 7
    assert "(+7 more new findings" in o.render()
    assert len(orient(project).findings) == 5  # the next five


def test_known_failures_show_their_pattern_and_prevention(project: Project) -> None:
    add_run(project, "r-20260101-000001", state="failed")
    add_finding(project, "r-20260101-000001", check="known_failure",
                message="known failure p-1 (OOM at batch 512)",
                data={"known_pattern": {"id": "p-1", "title": "OOM at batch 512"},
                      "prevention": "use batch 128 or gradient accumulation"})
    o = orient(project)
    known = o.findings[0]["known_failure"]
    assert known == {"pattern": "p-1", "title": "OOM at batch 512",
                     "prevention": "use batch 128 or gradient accumulation"}
    assert "known failure p-1: use batch 128" in o.render()


def test_skipped_and_blocking_reviews_are_visible_once(project: Project) -> None:
    add_run(project, "r-20260101-000001", value=0.7)
    add_review(project, "r-20260101-000001", "skipped", "no model configured")
    add_review(project, "r-20260101-000001", "approve", "looks fine")
    add_review(project, "r-20260101-000001", "block", "the test split is used for tuning")
    o = orient(project)
    assert [(r["decision"], r["summary"]) for r in o.reviews] == [
        ("block", "the test split is used for tuning"), ("skipped", "no model configured")]
    assert "reviews skipped (before) on r-20260101-000001" in o.render()
    assert orient(project).reviews == []


def test_best_result_trend_and_regression(project: Project) -> None:
    for i, value in enumerate([0.6, 0.7, 0.8, 0.75]):
        add_run(project, f"r-20260101-00000{i}", value=value, at=1000.0 + i)
    set_best(project, "exp", "r-20260101-000002")
    o = orient(project)
    (best,) = o.best
    assert (best["run"], best["value"], best["trend"]) == ("r-20260101-000002", 0.8, "improving")
    assert best["regression"] == {"run": "r-20260101-000003", "value": 0.75,
                                  "delta": pytest.approx(-0.05)}
    assert any("compare('r-20260101-000002', 'r-20260101-000003')" in n for n in o.next)
    assert "REGRESSION" in o.render()


def test_runs_awaiting_conclusion_and_active_progress(project: Project) -> None:
    from goldfish.runs.records import conclude

    add_run(project, "r-20260101-000001", value=0.7, at=1.0)
    add_run(project, "r-20260101-000002", state="failed", at=2.0)
    add_run(project, "r-20260101-000003", state="running", at=3.0, value=0.5)
    o = orient(project)
    assert o.unconcluded_count == 2
    assert [u["run"] for u in o.unconcluded] == ["r-20260101-000002", "r-20260101-000001"]
    (active,) = o.active
    assert active["run"] == "r-20260101-000003"
    assert "0/1 stages final" in active["progress"] and "accuracy 0.5@9" in active["progress"]
    assert o.next[0].startswith("follow r-20260101-000003")
    conclude(project, "r-20260101-000002", "miss", "crashed on purpose")
    assert orient(project).unconcluded_count == 1


def test_latest_notes_decisions_and_questions(project: Project) -> None:
    for i in range(5):
        memory.add_note(project, f"decision {i}", kind="decision")
    memory.add_note(project, "is the split stratified?", kind="question")
    o = orient(project)
    assert [d["text"] for d in o.decisions] == ["decision 4", "decision 3", "decision 2"]
    assert o.questions[0]["text"] == "is the split stratified?"


def test_pending_failure_patterns_are_counted(project: Project) -> None:
    from goldfish import patterns

    add_run(project, "r-20260101-000001", state="failed")
    patterns.candidate_from_failure(project, patterns.Failure(
        "r-20260101-000001", "train", "ValueError", "shapes (3,) and (4,) not aligned"))
    o = orient(project)
    assert o.patterns_pending == 1
    assert any("pending failure pattern" in n for n in o.next)


def test_status_stays_small_on_thousands_of_runs(project: Project) -> None:
    many_runs(project, 3000)
    for _i in range(10):
        memory.add_note(project, "a long decision " * 200, kind="decision")
    o = orient(project)
    size = len(json.dumps(o.to_json(), default=str)) + len(o.render())
    assert o.runs_total == 3000 and o.unconcluded_count > 0
    assert size < 8000, size  # ~2,000 tokens at 4 characters a token


def test_the_same_skipped_review_on_many_runs_is_one_line(project: Project) -> None:
    for i in range(1, 4):
        run_id = f"r-20260101-00000{i}"
        add_run(project, run_id, value=0.5)
        with project.tx() as conn:
            conn.execute("INSERT INTO reviews (run_id, phase, reviewer, decision, summary, "
                         "usage, at) VALUES (?, 'before', 'llm', 'skipped', "
                         "'no model configured', '{}', 0)", (run_id,))
    o = orient(project)
    assert len(o.reviews) == 1 and o.reviews[0]["times"] == 3
    assert "skipped (before) on r-20260101-000003 and 2 earlier runs by llm" in o.render()
    assert orient(project).reviews == []


def test_a_skip_reason_is_shown_once_not_after_every_run(project: Project) -> None:
    reason = "review skipped: no model configured: set review.model in goldfish.yaml"
    add_run(project, "r-20260101-000001", value=0.5)
    add_review(project, "r-20260101-000001", "skipped", reason, phase="before")
    add_review(project, "r-20260101-000001", "skipped", reason, phase="after")
    first = orient(project)
    # before and after, one line, without repeating "review skipped"
    assert len(first.reviews) == 1 and first.reviews[0]["phases"] == ["before", "after"]
    line = first.render()
    assert line.count("no model configured") == 1
    assert "reviews skipped (before, after) on r-20260101-000001 by llm: no model configured" \
        in line
    for i in range(2, 5):  # more runs, the same skip: status does not say it again
        add_run(project, f"r-20260101-00000{i}", value=0.5)
        add_review(project, f"r-20260101-00000{i}", "skipped", reason, phase="before")
        add_review(project, f"r-20260101-00000{i}", "skipped", reason, phase="after")
        again = orient(project)
        assert again.reviews == [] and "no model configured" not in again.render()
    # a different reason, or a blocking review, is news
    add_review(project, "r-20260101-000004", "skipped", "review skipped: budget spent")
    add_review(project, "r-20260101-000004", "block", "test split used for tuning")
    assert [r["decision"] for r in orient(project).reviews] == ["block", "skipped"]


def test_repeated_identical_notes_are_one_line(project: Project) -> None:
    memory.add_note(project, "batch 512 runs out of memory")
    for _ in range(4):
        memory.add_note(project, "lr 0.1 is stable")
    memory.add_note(project, "try label smoothing")
    o = orient(project)
    assert [(n["text"], n.get("times", 1)) for n in o.notes] == [
        ("try label smoothing", 1), ("lr 0.1 is stable", 4), ("batch 512 runs out of memory", 1)]
    text = o.render()
    assert text.count("lr 0.1 is stable") == 1 and "lr 0.1 is stable (recorded 4 times)" in text
    assert "lr 0.1 is stable (recorded 4 times)" in memory.render_state(project)


def test_failed_runs_awaiting_conclusion_show_their_error(project: Project) -> None:
    add_run(project, "r-20260101-000001", value=0.7, at=1.0)
    add_run(project, "r-20260101-000002", state="failed", at=2.0)
    with project.tx() as conn:
        conn.execute("UPDATE runs SET error = ? WHERE id = 'r-20260101-000002'",
                     ("train failed: ValueError: shapes (3,) and (4,) not aligned\n"
                      "Traceback (most recent call last): ...",))
    o = orient(project)
    assert o.unconcluded[0]["error"] == "train failed: ValueError: shapes (3,) and (4,) not aligned"
    text = o.render()
    assert "awaiting conclusion (2): r-20260101-000001 done" in text
    assert ("  r-20260101-000002 failed: train failed: ValueError: shapes (3,) and (4,) "
            "not aligned") in text
    assert "- r-20260101-000002 failed: train failed: ValueError" in memory.render_state(project)


@pytest.mark.parametrize(("goal", "value", "expected"), [
    ("a digits classifier above 98% on the frozen test split", 0.926,
     "accuracy 0.926 vs goal 0.98: 0.054 short"),
    ("beat 0.9 accuracy", 0.926, "accuracy 0.926 vs goal 0.9: met, 0.026 above"),
    ("classify 8x8 glyphs; beat 90% test accuracy", 0.926,
     "accuracy 0.926 vs goal 0.9: met, 0.026 above"),
    ("accuracy above 98%", 92.6, "accuracy 92.6 vs goal 98: 5.4 short"),  # a 0-100 metric
])
def test_the_best_result_is_set_against_the_goal(tmp_path: Path, goal: str, value: float,
                                                 expected: str) -> None:
    project = new_project(tmp_path, goal=goal)
    add_run(project, "r-20260101-000001", value=value)
    set_best(project, "exp", "r-20260101-000001")
    o = orient(project)
    assert o.best[0]["goal"]["text"] == expected
    assert expected in o.render() and expected in memory.render_state(project)


def test_a_goal_without_a_number_compares_nothing(tmp_path: Path) -> None:
    project = new_project(tmp_path, goal="a small, fast tokenizer for 8x8 glyph sheets")
    add_run(project, "r-20260101-000001", value=0.9)
    set_best(project, "exp", "r-20260101-000001")
    o = orient(project)
    assert "goal" not in o.best[0] and " vs goal " not in o.render()


def test_a_workspace_goal_with_a_number_comes_before_the_project_goal(tmp_path: Path) -> None:
    project = new_project(tmp_path, goal="beat 0.9 accuracy", workspace=None)
    from goldfish.workspaces import Workspaces

    Workspaces(project).create("exp", goal="this line of work: accuracy above 95%", mount="")
    add_run(project, "r-20260101-000001", value=0.93)
    set_best(project, "exp", "r-20260101-000001")
    assert orient(project).best[0]["goal"]["text"] == "accuracy 0.93 vs goal 0.95: 0.02 short"
