"""What the pre-run review shows: diffs since the last success, inputs, invariants, patterns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from goldfish import patterns
from goldfish.runs.engine import Engine
from goldfish.runs.sources import register_source
from reviewers_llm_server import chat_server
from reviewers_support import (
    CHAIN,
    api_key_in_env,  # noqa: F401  (autouse fixture: the review key is set)
    approve,
    edit,
    local_review,
    make_project,
    set_review,
    user_text,
)


def test_the_review_shows_the_diff_since_each_stage_last_succeeded(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    with chat_server([approve()]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, after_run=False))
        Engine(project).run("exp", wait=True)
        assert "no earlier successful run: everything is new" in user_text(server.requests[0])
        edit(project, "modules/train.py",
             CHAIN["modules/train.py"].replace("1.0 / (epoch + 1)", "2.0 / (epoch + 1)"))
        Engine(project).run("exp", wait=True)
    second = user_text(server.requests[1])
    assert "## Changes since the last successful run of prepare, train, evaluate" in second
    assert "exp-v1 → exp-v2: 1 file changed" in second
    assert "-    io.log_metric(\"loss\", 1.0 / (epoch + 1), step=epoch)" in second
    assert "+    io.log_metric(\"loss\", 2.0 / (epoch + 1), step=epoch)" in second


SOURCED = {
    **CHAIN,
    "pipeline.yaml": """
        name: sourced
        stages:
          - name: prepare
            inputs: {raw: {source: shards, type: directory}}
            outputs: {data: {type: json, contract: {required_keys: [xs]}}}
            config: {n: 5}
    """,
    "modules/prepare.py": """
        import os
        from goldfish import io
        files = sorted(os.listdir(io.input_path("raw")))
        io.save_output("data", {"xs": files})
    """,
}


def test_inputs_invariants_goal_and_approved_patterns_are_shown(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin, None,
                           files=SOURCED)
    shards = project.root / "shards"
    shards.mkdir()
    for i in range(3):
        (shards / f"part-{i}.csv").write_text("a,b\n1,2\n" * (i + 1))
    register_source(project, "shards", shards, description="raw shards from the crawler")
    failure = patterns.Failure("r-20260101-abcdef", "prepare", "KeyError", "'label'",
                               "", "", None)
    pattern, _ = patterns.candidate_from_failure(project, failure)
    patterns.approve(project, pattern.id, prevention="read the label column by its real name")
    data = yaml.safe_load(project.config_path.read_text())
    data.update(goal="beat 0.9 accuracy",
                invariants=["evaluate only on the frozen test split"])
    project.config_path.write_text(yaml.safe_dump(data))
    with chat_server([approve()]) as server:
        set_review(project, local_review(server.api_base, after_run=False))
        Engine(project).run("exp", wait=True)
    text = user_text(server.requests[0])
    assert "goal: beat 0.9 accuracy" in text
    assert "- evaluate only on the frozen test split" in text
    assert '"source": "shards"' in text and "raw shards from the crawler" in text
    assert '"files": {"part-0.csv": 8, "part-1.csv": 16, "part-2.csv": 24}' in text
    assert '"contract": {"required_keys": ["xs"]}' in text
    assert "## Approved failure patterns" in text
    assert "read the label column by its real name" in text


def test_a_prompt_larger_than_the_budget_is_cut_and_says_so(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    big = "\n".join(f"X_{i} = {i}  # filler line to make the module large" for i in range(3000))
    files = {**CHAIN, "modules/train.py": CHAIN["modules/train.py"] + big}
    with chat_server([approve()]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base, after_run=False,
                                            max_input_tokens=4000), files=files)
        info_id = Engine(project).run("exp", wait=True)
    request = server.requests[0]
    sent = sum(len(m["content"]) for m in request["messages"])
    assert sent < 4000 * 3 + 2000
    assert "characters cut to fit the review budget" in user_text(request)
    assert "modules/prepare.py" in user_text(request)  # small parts survive whole
    from goldfish.runs.records import get_run

    usage = get_run(project, info_id).reviews[0]["usage"]
    assert usage["prompt_chars_cut"] > 100_000 and usage["tokens_in"] <= 4000
