"""Failure-pattern summaries (``summarize_failure``) from the model, and cheap imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import goldfish_reviewers.plugin as plugin
import pytest
from goldfish import patterns
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from reviewers_llm_server import chat_server
from reviewers_support import (
    CHAIN,
    api_key_in_env,  # noqa: F401  (autouse fixture)
    approve,
    local_review,
    make_project,
    user_text,
)

SUMMARY = {"symptom": "train fails with ValueError: shapes (64,) and (65,) not aligned",
           "root_cause": "prepare appends the label as a 65th column and train keeps it",
           "detection": "compare the feature count of prepare.data with the model's input",
           "prevention": "drop the label column before training", "severity": "critical"}

FAILING = {**CHAIN, "modules/train.py": """
    from goldfish import io
    data = io.load_input("data")
    raise ValueError("shapes (64,) and (65,) not aligned")
"""}


def test_a_new_failure_is_summarized_by_the_model_as_a_pending_pattern(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    replies = [approve(), "not json at all", json.dumps(SUMMARY), json.dumps(
        {"proposed_outcome": "miss", "concerns": []})]
    with chat_server(replies) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base), files=FAILING)
        info = get_run(project, Engine(project).run("exp", wait=True))
    assert info.state == "failed"
    asked = user_text(server.requests[1])
    assert "ValueError" in asked and "shapes (64,) and (65,) not aligned" in asked
    assert "root_cause" in server.requests[1]["messages"][0]["content"]  # the schema
    [pattern] = patterns.list_patterns(project, "pending")
    assert pattern.root_cause == SUMMARY["root_cause"]
    assert pattern.prevention == "drop the label column before training"
    assert pattern.severity == "blocking"  # "critical" normalised
    row = project.db.one("SELECT summary_by FROM patterns WHERE id = ?", (pattern.id,))
    assert row is not None and row["summary_by"] == "llm:openai/reviewer-test"


def test_without_a_model_the_deterministic_summary_stands(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin, None,
                           files=FAILING)
    Engine(project).run("exp", wait=True)
    [pattern] = patterns.list_patterns(project, "pending")
    assert pattern.root_cause.startswith("not analysed")


def test_a_failure_from_another_process_finds_its_project_from_the_cwd(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with chat_server([json.dumps(SUMMARY)]) as server:
        project = make_project(tmp_path, goldfish_plugins, register_goldfish_plugin,
                               local_review(server.api_base))
        monkeypatch.chdir(project.root)
        failure = patterns.Failure("r-20990101-000000", "train", "ValueError", "boom")
        answer = plugin.summarize_failure(failure)
    assert answer is not None and answer["root_cause"] == SUMMARY["root_cause"]
    assert answer["usage"]["tokens_in"] > 0


def test_loading_the_plugin_and_skipping_a_review_never_import_litellm(
        tmp_path: Path) -> None:
    code = """
import sys
import goldfish_reviewers.plugin
from goldfish_reviewers.reviewer import Reviewer
from goldfish_reviewers.settings import ReviewSettings
review = Reviewer(None, ReviewSettings.model_validate({})).before(None)
print(review.decision, 'litellm' in sys.modules)
print(review.summary)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    first, summary = out.stdout.splitlines()
    assert first == "skipped False"
    assert summary.startswith("review skipped: no model configured")
