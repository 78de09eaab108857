"""Reviews through real engine runs, litellm and a local OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from reviewers_llm_server import chat_server
from reviewers_support import (
    KEY_ENV,
    api_key_in_env,  # noqa: F401  (autouse fixture: the review key is set)
    approve,
    block,
    cli,
    local_review,
    make_project,
    outcome,
    system_text,
    user_text,
)


def test_an_approved_run_launches_and_records_the_review_with_its_usage(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    with chat_server([approve("pipeline is consistent"), outcome("success")]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base))
        run_id = Engine(project).run("exp", reason="baseline", hypothesis="lr 0.1 is enough",
                                     wait=True)
    info = get_run(project, run_id)
    assert info.state == "done"
    before = next(r for r in info.reviews if r["phase"] == "before")
    assert before["decision"] == "approve" and before["summary"] == "pipeline is consistent"
    usage = before["usage"]
    assert usage["model"] == "openai/reviewer-test" and usage["cached"] is False
    assert usage["tokens_in"] > 500 and usage["tokens_out"] > 5 and usage["calls"] == 1
    # One pre-run request before any stage, one post-run request after the last one.
    assert len(server.requests) == 2
    first = server.requests[0]
    assert first["model"] == "reviewer-test" and first["max_tokens"] == 4000
    for path in ("modules/prepare.py", "modules/train.py", "modules/evaluate.py"):
        assert path in user_text(first)
    assert "lr 0.1 is enough" in user_text(first)
    assert "[hypothesis_vs_code]" in system_text(first)
    after = next(r for r in info.reviews if r["phase"] == "after")
    assert after["decision"] == "approve"
    assert after["usage"]["proposed_outcome"] == "success"
    proposed = [f for f in info.findings if f["check"] == "proposed_outcome"]
    assert proposed and proposed[0]["phase"] == "review_after"
    assert info.conclusion is None  # the reviewer proposes; it never concludes a run
    second = user_text(server.requests[1])
    assert "accuracy" in second and "Log tail of prepare" in second and "prepared 5" in second


def test_a_block_stops_the_run_before_launch_with_its_findings_shown(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    verdict = block({"severity": "blocking", "check": "key_names", "stage": "train",
                     "file": "modules/train.py", "line": 3,
                     "message": "train reads data['xs'] but epochs is never used",
                     "suggested_fix": "loop over cfg['epochs']"},
                    {"severity": "warning", "check": "metrics", "stage": "evaluate",
                     "message": "only one metric is logged"},
                    summary="train will not do what the hypothesis says")
    with chat_server([verdict]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base))
        run_id = Engine(project).run("exp", hypothesis="more epochs help", wait=True)
        assert len(server.requests) == 1  # no post-run review for a run that never ran
    info = get_run(project, run_id)
    assert info.state == "failed"
    assert {s.state for s in info.stages} == {"skipped"}
    assert not (project.runs_dir / run_id).exists()  # nothing was launched
    assert "blocked by review (llm): train reads data['xs']" in (info.error or "")
    blocking = next(f for f in info.findings if f["severity"] == "blocking")
    assert blocking["phase"] == "review_before" and blocking["stage"] == "train"
    assert blocking["check"] == "key_names"
    assert blocking["data"] == {"file": "modules/train.py", "line": 3,
                                "suggested_fix": "loop over cfg['epochs']"}
    assert "(modules/train.py:3) Fix: loop over cfg['epochs']" in blocking["message"]
    assert info.reviews[0]["decision"] == "block"
    code, out = cli(project, "show", run_id)
    assert code == 0
    assert "finding blocking: [train] review.key_names: train reads data['xs']" in out
    assert "finding warning: [evaluate] review.metrics: only one metric is logged" in out
    assert "review (before) llm: block" in out
    code, status = cli(project, "status")
    assert code == 0
    assert f"review (before) block on {run_id} by llm: train will not do what" in status
    assert f"new finding blocking {run_id}/train key_names: train reads data['xs']" in status


def test_without_a_model_the_review_is_skipped_and_says_why(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin, None)
    run_id = Engine(project).run("exp", wait=True)
    info = get_run(project, run_id)
    assert info.state == "done"
    decisions = {(r["phase"], r["decision"]) for r in info.reviews}
    assert decisions == {("before", "skipped"), ("after", "skipped")}
    assert all("no model configured: set review.model" in r["summary"] for r in info.reviews)
    _, out = cli(project, "show", run_id)
    assert "review (before) llm: skipped review skipped: no model configured" in out
    _, status = cli(project, "status")
    assert f"reviews skipped (before, after) on {run_id} by llm: no model configured" in status
    # the same skip on the next run is not news: status said it once
    second = Engine(project).run("exp", wait=True, force=True)
    _, status = cli(project, "status")
    assert "no model configured" not in status and second not in status.split("awaiting")[0]


def test_without_credentials_the_review_is_skipped_and_names_the_variable(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    with chat_server([approve()]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base))
        run_id = Engine(project).run("exp", wait=True)
        assert server.requests == []
    info = get_run(project, run_id)
    assert info.state == "done"
    before = next(r for r in info.reviews if r["phase"] == "before")
    assert before["decision"] == "skipped"
    assert f"no credentials: environment variable {KEY_ENV} is not set" in before["summary"]
    assert before["usage"]["skipped"].startswith("no credentials")
