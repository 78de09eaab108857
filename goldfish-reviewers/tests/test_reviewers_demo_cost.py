"""What a review of the demo project costs: tokens measured here, prices from litellm's map.

The demo (``goldfish demo``: prepare → train → evaluate in numpy) is reviewed before and after
its run against the local server, which counts tokens with tiktoken ``cl100k_base``. The answers are
typical verdicts (two findings before; an outcome and one concern after). ``docs/reviews.md``
states the figures; this test fails when they drift by more than a quarter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import goldfish_reviewers.plugin as reviewers_plugin
import pytest
from goldfish.demo import RESULTS, WORKSPACE, create_demo
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from goldfish_reviewers.client import price
from reviewers_llm_server import chat_server
from reviewers_support import KEY, KEY_ENV, local_review, set_review

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reviews.md"
PRICED = ("anthropic/claude-sonnet-4-5", "openai/gpt-4.1", "gemini/gemini-2.5-flash",
          "anthropic/claude-haiku-4-5", "openai/gpt-4.1-mini")

BEFORE = json.dumps({
    "decision": "approve",
    "summary": "The pipeline is consistent: prepare writes 64 features plus the label as "
               "float32 columns, train splits them off and evaluate uses the held-out split.",
    "findings": [
        {"severity": "warning", "check": "hyperparameters", "stage": "train",
         "file": "modules/train.py", "line": 20,
         "message": "lr 0.5 with full-batch gradient descent may oscillate for noisier data",
         "suggested_fix": "log the loss per epoch and lower lr if it rises"},
        {"severity": "info", "check": "evaluation", "stage": "evaluate",
         "file": "modules/evaluate.py", "line": 12,
         "message": "only accuracy is reported; per-class accuracy would show confusions",
         "suggested_fix": "log a per-class accuracy metric"}]})
AFTER = json.dumps({
    "proposed_outcome": "success", "hypothesis_supported": True,
    "summary": "Test accuracy 0.93 beats the 0.90 goal; loss fell steadily over 40 epochs.",
    "concerns": [{"severity": "info", "check": "evaluation", "stage": "evaluate",
                  "message": "a single seed: repeat with two more seeds before trusting "
                             "the margin"}]})


def test_the_demo_review_costs_what_the_docs_say(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    register_goldfish_plugin(reviewers_plugin, name="reviewers")
    project = create_demo(tmp_path / "demo")
    with chat_server([BEFORE, AFTER]) as server:
        set_review(project, local_review(server.api_base))
        run_id = Engine(project).run(
            WORKSPACE, reason="demo: softmax regression on digit-like glyphs",
            hypothesis="a linear model separates 10 noisy glyph classes well",
            results=RESULTS, wait=True)
    info = get_run(project, run_id)
    assert info.state == "done"
    assert [r["decision"] for r in info.reviews] == ["approve", "approve"]
    usage = {r["phase"]: r["usage"] for r in info.reviews}
    measured = {"before_in": usage["before"]["tokens_in"],
                "before_out": usage["before"]["tokens_out"],
                "after_in": usage["after"]["tokens_in"],
                "after_out": usage["after"]["tokens_out"]}
    rows = []
    for model in PRICED:
        rates = price(model)
        assert rates is not None, model
        cost = {phase: usage[phase]["tokens_in"] * rates[0] + usage[phase]["tokens_out"] *
                rates[1] for phase in ("before", "after")}
        rows.append(f"| `{model}` | ${rates[0] * 1e6:g} / ${rates[1] * 1e6:g} | "
                    f"${cost['before']:.4f} | ${cost['after']:.4f} |")
    print("\nmeasured:", measured)
    print("\n".join(rows))
    stated = re.search(r"<!-- measured: (.*?) -->", DOCS.read_text(encoding="utf-8"))
    assert stated is not None, f"{DOCS} has no '<!-- measured: ... -->' line"
    documented = {k: int(v) for k, v in (p.split("=") for p in stated.group(1).split())}
    for key, value in measured.items():
        assert abs(documented[key] - value) <= 0.25 * value, (key, documented[key], value)
