"""One structured question to a model through litellm, asked again once when the answer is bad.

litellm is imported here, lazily, the first time a review really calls a model (its import takes
seconds); ``LITELLM_LOCAL_MODEL_COST_MAP`` keeps it from fetching the price list over the network.
Nothing here retries a provider error or a timeout: ``on_error`` decides what those mean.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from goldfish_reviewers.prompts import Prompt
from goldfish_reviewers.settings import ReviewSettings
from goldfish_reviewers.verdict import Malformed, parse

M = TypeVar("M", bound=BaseModel)
RETRY_NOTE = ("Your previous answer could not be used: {error}. Answer again with ONE JSON "
              "object matching the schema, and nothing else.")


class ProviderError(Exception):
    """The model could not be asked (network, auth, rate limit, timeout) or never answered usably."""

    def __init__(self, message: str, usage: dict[str, Any] | None = None,
                 kind: str = "error") -> None:
        super().__init__(message)
        self.usage = usage or {}
        self.kind = kind  # error | timeout | malformed


@dataclass
class Answer:
    value: Any
    usage: dict[str, Any] = field(default_factory=dict)


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def price(model: str) -> tuple[float, float] | None:
    """(USD per prompt token, USD per completion token) from litellm's bundled cost map."""
    costs = _litellm().model_cost
    for name in (model, model.split("/", 1)[-1]):
        entry = costs.get(name)
        if entry and entry.get("input_cost_per_token") is not None:
            return float(entry["input_cost_per_token"]), float(entry["output_cost_per_token"])
    return None


def _call(settings: ReviewSettings, key: str | None, messages: list[dict[str, str]]) -> Any:
    litellm = _litellm()
    kwargs: dict[str, Any] = {"model": settings.model, "messages": messages,
                              "timeout": settings.timeout_seconds,
                              "max_tokens": settings.max_tokens, "temperature": 0,
                              "num_retries": 0, "max_retries": 0, "drop_params": True}
    if settings.api_base:
        kwargs["api_base"] = settings.api_base
    # A keyless local server still needs some key for OpenAI-style clients.
    kwargs["api_key"] = key or ("not-needed" if settings.key_env() is None else None)
    try:
        return litellm.completion(**kwargs)
    except Exception as exc:
        timeout = isinstance(exc, litellm.Timeout) or "timeout" in type(exc).__name__.lower() \
            or "timed out" in str(exc).lower()
        kind = "timeout" if timeout else "error"
        what = (f"no answer within {settings.timeout_seconds:g}s" if timeout
                else f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
        raise ProviderError(f"{settings.model}: {what}", kind=kind) from None


def _text_and_usage(response: Any) -> tuple[str, int, int]:
    try:
        text = response.choices[0].message.content or ""
    except (AttributeError, IndexError):
        text = ""
    usage = getattr(response, "usage", None)
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
    return text, tokens_in, tokens_out


def ask(settings: ReviewSettings, key: str | None, prompt: Prompt, model: type[M]) -> Answer:
    """Ask once; when the answer is not the JSON asked for, ask again once with the reason."""
    assert settings.model
    messages = prompt.messages()
    usage: dict[str, Any] = {"model": settings.model, "cached": False, "tokens_in": 0,
                             "tokens_out": 0, "calls": 0, "prompt_chars_cut": prompt.cut}
    error: Malformed | None = None
    for _attempt in range(2):
        try:
            response = _call(settings, key, messages)
        except ProviderError as exc:
            exc.usage = _priced(usage)
            raise
        text, tokens_in, tokens_out = _text_and_usage(response)
        usage["calls"] += 1
        usage["tokens_in"] += tokens_in
        usage["tokens_out"] += tokens_out
        try:
            value = parse(text, model)
        except Malformed as exc:
            error = exc
            messages = [*messages, {"role": "assistant", "content": text[:4000]},
                        {"role": "user", "content": RETRY_NOTE.format(error=exc)}]
            usage["retried"] = True
            continue
        return Answer(value, _priced(usage))
    raise ProviderError(f"{settings.model}: the answer was not usable twice ({error})",
                        usage=_priced(usage), kind="malformed")


def _priced(usage: dict[str, Any]) -> dict[str, Any]:
    try:
        rates = price(str(usage["model"]))
    except Exception:
        rates = None
    if rates is not None:
        usage["cost_usd"] = round(usage["tokens_in"] * rates[0] + usage["tokens_out"] * rates[1], 6)
    return dict(usage)
