"""Policy: malformed answers, timeouts and provider errors under on_error, the verdict cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from reviewers_llm_server import chat_server
from reviewers_support import (
    api_key_in_env,  # noqa: F401  (autouse fixture: the review key is set)
    approve,
    edit,
    local_review,
    make_project,
    outcome,
    set_review,
)


def _before(info: Any) -> dict[str, Any]:
    return next(r for r in info.reviews if r["phase"] == "before")


def test_a_malformed_answer_is_asked_again_once_and_the_retry_counts(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    replies = ["Sure! Here is my review: the decision is approve, looks good.",
               '{"decision": "approve", "summary": "fine on second try", "findings": []}',
               outcome()]
    with chat_server(replies) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base))
        info = get_run(project, Engine(project).run("exp", wait=True))
    assert info.state == "done"
    review = _before(info)
    assert review["decision"] == "approve" and review["summary"] == "fine on second try"
    assert review["usage"]["calls"] == 2 and review["usage"]["retried"] is True
    retry = server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": replies[0]}
    assert "could not be used: the answer is not a JSON object" in retry[-1]["content"]
    # Usage adds both calls: the retry repeats the whole prompt.
    assert review["usage"]["tokens_in"] > 2 * 500


def test_an_answer_that_fails_the_schema_twice_follows_on_error(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    bad = '{"decision": "maybe", "findings": []}'
    with chat_server([bad, bad]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, on_error="block", after_run=False))
        info = get_run(project, Engine(project).run("exp", wait=True))
        assert len(server.requests) == 2
    assert "decision: Input should be 'approve' or 'block'" in server.requests[1]["messages"][-1][
        "content"]
    assert info.state == "failed" and {s.state for s in info.stages} == {"skipped"}
    assert "the answer was not usable twice" in (info.error or "")
    finding = next(f for f in info.findings if f["severity"] == "blocking")
    assert finding["check"] == "review_malformed"


def test_a_timeout_with_on_error_allow_lets_the_run_go_on_unreviewed(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    with chat_server([{"content": approve(), "delay": 5}]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, timeout_seconds=0.5,
                                            after_run=False))
        info = get_run(project, Engine(project).run("exp", wait=True))
        assert len(server.requests) == 1  # no silent retries
    assert info.state == "done"
    review = _before(info)
    assert review["decision"] == "skipped"  # never an approval
    assert "no answer within 0.5s" in review["summary"]
    assert review["usage"]["on_error"] == "allow"
    warning = next(f for f in info.findings if f["check"] == "review_timeout")
    assert warning["severity"] == "warning" and "on_error: allow" in warning["message"]
    assert next(r for r in info.reviews if r["phase"] == "after")["decision"] == "skipped"


def test_a_timeout_with_on_error_block_stops_the_run_before_launch(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    with chat_server([{"content": approve(), "delay": 5}]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, timeout_seconds=0.5,
                                            on_error="block"))
        run_id = Engine(project).run("exp", wait=True)
    info = get_run(project, run_id)
    assert info.state == "failed" and {s.state for s in info.stages} == {"skipped"}
    assert not (project.runs_dir / run_id).exists()
    assert "blocked by review (llm)" in (info.error or "") and "no answer within 0.5s" in (
        info.error or "")
    assert _before(info)["decision"] == "block"


def test_a_provider_error_follows_on_error(tmp_path: Path, goldfish_plugins: Any,
                                           register_goldfish_plugin: Any) -> None:
    with chat_server([{"status": 500, "content": "upstream exploded"}]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, after_run=False))
        info = get_run(project, Engine(project).run("exp", wait=True))
        assert info.state == "done"
        assert _before(info)["decision"] == "skipped"
        assert any(f["check"] == "review_error" for f in info.findings)
        set_review(project, local_review(server.api_base, after_run=False, on_error="block"))
        info = get_run(project, Engine(project).run("exp", force=True, wait=True))
    assert info.state == "failed"
    assert any(f["check"] == "review_error" and f["severity"] == "blocking"
               for f in info.findings)


def test_the_same_code_config_and_inputs_never_pay_twice(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    with chat_server([approve("first look")]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, after_run=False))
        first = get_run(project, Engine(project).run("exp", wait=True))
        assert len(server.requests) == 1
        # Same snapshot again (forced, so every stage runs): the verdict comes from the cache.
        second = get_run(project, Engine(project).run("exp", force=True, wait=True))
        assert len(server.requests) == 1
        hit = _before(second)
        assert hit["decision"] == "approve" and hit["summary"] == "first look"
        assert hit["usage"]["cached"] is True and hit["usage"]["tokens_in"] == 0
        assert hit["usage"]["saved"]["tokens_in"] == _before(first)["usage"]["tokens_in"]
        assert list((project.cache_dir / "reviews").glob("*.json"))
        # Changed code is new material: it is reviewed (and paid for) again.
        edit(project, "modules/train.py",
             "from goldfish import io\nio.save_output('model', {'w': 1.0})\n")
        third = get_run(project, Engine(project).run("exp", wait=True))
        assert third.state == "done" and len(server.requests) == 2
        assert "io.save_output('model', {'w': 1.0})" in server.requests[1]["messages"][1][
            "content"]


def test_the_cache_can_be_turned_off(tmp_path: Path, goldfish_plugins: Any,
                                     register_goldfish_plugin: Any) -> None:
    with chat_server([approve()]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, after_run=False, cache=False))
        Engine(project).run("exp", wait=True)
        Engine(project).run("exp", force=True, wait=True)
        assert len(server.requests) == 2
    assert not (project.cache_dir / "reviews").exists()
