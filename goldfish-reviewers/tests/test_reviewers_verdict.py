"""Verdict parsing and credential resolution (pure functions, no model)."""

from __future__ import annotations

import pytest
from goldfish_reviewers.settings import ReviewSettings
from goldfish_reviewers.verdict import Malformed, PreRunVerdict, parse


def test_a_verdict_is_found_in_fences_or_prose_and_synonyms_are_normalised() -> None:
    text = ("Here is my review.\n```json\n{\"decision\": \"Block\", \"summary\": \"s\", "
            "\"findings\": [{\"severity\": \"critical\", \"message\": \"m\", "
            "\"line\": \"12-14\", \"file\": \"modules/a.py\"}]}\n```\nThanks!")
    verdict = parse(text, PreRunVerdict)
    assert verdict.decision == "block"
    assert verdict.findings[0].severity == "blocking" and verdict.findings[0].line == 12


@pytest.mark.parametrize(("text", "says"), [
    ("", "the answer was empty"),
    ("approve!", "not a JSON object"),
    ("[1, 2]", "not an object"),
    ('{"decision": "maybe"}', "decision: Input should be 'approve' or 'block'"),
    ('{"decision": "approve", "findings": [{"severity": "meh", "message": "x"}]}',
     "findings.0.severity"),
])
def test_a_malformed_answer_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(Malformed) as err:
        parse(text, PreRunVerdict)
    assert says in str(err.value)


def test_credentials_come_from_the_named_or_the_provider_variable() -> None:
    def settings(**raw: object) -> ReviewSettings:
        return ReviewSettings.model_validate(raw)

    assert settings().credentials({}) == (None, "no model configured: set review.model in "
                                               "goldfish.yaml (e.g. anthropic/claude-sonnet-4-5)")
    assert settings(model="anthropic/claude-sonnet-4-5").credentials({}) == (
        None, "no credentials: environment variable ANTHROPIC_API_KEY is not set")
    assert settings(model="anthropic/claude-sonnet-4-5").credentials(
        {"ANTHROPIC_API_KEY": "k"}) == ("k", None)
    assert settings(model="openai/gpt-4.1", api_key_env="TEAM_KEY").credentials(
        {"OPENAI_API_KEY": "x", "TEAM_KEY": "t"}) == ("t", None)
    assert settings(model="ollama/llama3.1").credentials({}) == (None, None)
    assert settings(model="openai/local", api_base="http://127.0.0.1:8000/v1").credentials(
        {}) == (None, None)
    assert settings(model="openai/gpt-4.1", enabled=False).credentials({})[1] == (
        "reviews are disabled (review.enabled: false in goldfish.yaml)")
