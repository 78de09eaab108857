"""The structured answers we ask models for, validated with pydantic.

Models are lenient where it costs nothing (severity synonyms, a line given as a string, a JSON
object wrapped in a code fence or prose) and strict where it matters: a decision must be
``approve`` or ``block`` and every finding must say something. :func:`parse` raises
:class:`Malformed` with a message we can send back to the model when asking again.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SEVERITY_ALIASES = {
    "info": "info", "note": "info", "low": "info", "minor": "info", "suggestion": "info",
    "warning": "warning", "warn": "warning", "medium": "warning", "moderate": "warning",
    "blocking": "blocking", "block": "blocking", "error": "blocking", "critical": "blocking",
    "high": "blocking", "severe": "blocking", "fatal": "blocking",
}


class Malformed(ValueError):
    """The model's answer is not the JSON we asked for; the message says what is wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _severity(value: Any) -> str:
    key = str(value).strip().lower()
    if key not in SEVERITY_ALIASES:
        raise ValueError(f"severity must be info, warning or blocking, not {value!r}")
    return SEVERITY_ALIASES[key]


class VerdictFinding(_Model):
    severity: Literal["info", "warning", "blocking"]
    message: str = Field(min_length=1)
    check: str = "reviewer"
    stage: str | None = None
    file: str | None = None
    line: int | None = None
    suggested_fix: str | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _sev(cls, value: Any) -> str:
        return _severity(value)

    @field_validator("line", mode="before")
    @classmethod
    def _line(cls, value: Any) -> Any:
        if isinstance(value, str):
            digits = re.match(r"\s*(\d+)", value)
            return int(digits.group(1)) if digits else None
        return value


class PreRunVerdict(_Model):
    """The answer to a pre-run review."""

    decision: Literal["approve", "block"]
    summary: str = ""
    findings: list[VerdictFinding] = Field(default_factory=list)

    @field_validator("decision", mode="before")
    @classmethod
    def _decision(cls, value: Any) -> Any:
        return str(value).strip().lower() if isinstance(value, str) else value


class PostRunVerdict(_Model):
    """The answer to a post-run review: a proposed outcome, never a conclusion."""

    proposed_outcome: Literal["success", "partial", "miss", "inconclusive"]
    summary: str = ""
    hypothesis_supported: bool | None = None
    concerns: list[VerdictFinding] = Field(default_factory=list)

    @field_validator("proposed_outcome", mode="before")
    @classmethod
    def _outcome(cls, value: Any) -> Any:
        return str(value).strip().lower() if isinstance(value, str) else value


class FailureSummary(_Model):
    """A failure pattern for the SVS workflow."""

    symptom: str = Field(min_length=1)
    root_cause: str = Field(min_length=1)
    detection: str = Field(min_length=1)
    prevention: str = Field(min_length=1)
    severity: Literal["info", "warning", "blocking"]

    @field_validator("severity", mode="before")
    @classmethod
    def _sev(cls, value: Any) -> str:
        return _severity(value)


M = TypeVar("M", bound=BaseModel)


def extract_json(text: str) -> Any:
    """The JSON object in an answer: bare, in a ```json fence, or the outermost {...} in prose."""
    text = (text or "").strip()
    if not text:
        raise Malformed("the answer was empty")
    candidates = [text]
    fence = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.DOTALL)
    if fence:
        candidates.append(fence.group(1))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    error = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError as exc:
            error = exc
    raise Malformed(f"the answer is not a JSON object ({error})")


def parse(text: str, model: type[M]) -> M:
    raw = extract_json(text)
    if not isinstance(raw, dict):
        raise Malformed(f"the answer is JSON but not an object (got {type(raw).__name__})")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
                             for e in exc.errors()[:8])
        raise Malformed(f"the JSON does not match the schema: {problems}") from None


def schema_text(model: type[BaseModel]) -> str:
    """A compact JSON schema for the prompt."""
    return json.dumps(model.model_json_schema(), separators=(",", ":"))
