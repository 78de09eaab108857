"""The ``review:`` section of ``goldfish.yaml``.

The key itself never lives in ``goldfish.yaml`` (it is committed with the project): the section
names the environment variable that holds it. ``credentials`` answers "can we call the model at
all?" without importing litellm, so a project with no model or no key records a *skipped* review
cheaply, and says why.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from goldfish.config import Section
from pydantic import Field, field_validator

from goldfish_reviewers.skips import settings_skip

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: Where each provider's SDK looks for its key when ``api_key_env`` is not set.
DEFAULT_KEY_ENV: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "cohere": "COHERE_API_KEY",
    "xai": "XAI_API_KEY",
}
#: Providers that run locally and need no key.
KEYLESS = frozenset({"ollama", "ollama_chat", "lm_studio", "llamafile", "vllm", "hosted_vllm"})


class ReviewSettings(Section):
    """LLM reviews before and after runs (goldfish-reviewers), through litellm."""

    enabled: bool = Field(True, description="run reviews at all; `false` records every review as "
                                            "skipped")
    model: str | None = Field(None, description=(
        "any litellm model string: `anthropic/claude-sonnet-4-5`, `openai/gpt-4.1`, "
        "`gemini/gemini-2.5-flash`, `ollama/llama3.1`, or `openai/<name>` with `api_base` for an "
        "OpenAI-compatible server; unset = reviews are recorded as skipped"))
    api_base: str | None = Field(None, description="base URL of the provider or a local "
                                                   "OpenAI-compatible server "
                                                   "(`http://127.0.0.1:8000/v1`)")
    api_key_env: str | None = Field(None, description=(
        "name of the environment variable that holds the API key (never the key itself); default "
        "the provider's usual one (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`, `GEMINI_API_KEY`)"))
    timeout_seconds: float = Field(120, gt=0, description="give up on one model call after this "
                                                          "long; then `on_error` applies")
    max_tokens: int = Field(4000, ge=256, description=(
        "completion tokens per model call: the answer budget (a review makes one call, two "
        "when the first answer is malformed)"))
    max_input_tokens: int = Field(60000, ge=2000, description=(
        "prompt tokens one review may use (estimated at 3 characters a token); larger code, "
        "diffs and listings are cut to fit, and the cut is said in the prompt"))
    on_error: Literal["allow", "block"] = Field("allow", description=(
        "what a provider error, timeout or unusable answer does: `allow` records the review as "
        "skipped and runs, `block` stops the run before launch"))
    before_run: bool = Field(True, description="review the whole pipeline before any compute")
    after_run: bool = Field(True, description="review finished runs against their hypothesis")
    cache: bool = Field(True, description=(
        "reuse a verdict when the same code, config and inputs were reviewed before (by content "
        "hash, in `.goldfish/cache/reviews/`)"))

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (e.g. "
                             "ANTHROPIC_API_KEY), not the key itself")
        return value

    @property
    def provider(self) -> str:
        return (self.model or "").split("/", 1)[0] if "/" in (self.model or "") else "openai"

    def key_env(self) -> str | None:
        """The environment variable the key is read from (None: this model needs no key)."""
        if self.api_key_env:
            return self.api_key_env
        if self.provider in KEYLESS or self.api_base:
            return None
        return DEFAULT_KEY_ENV.get(self.provider)

    def credentials(self, environ: dict[str, str] | None = None) -> tuple[str | None, str | None]:
        """(api key or None, why we cannot review or None)."""
        env = os.environ if environ is None else environ
        why = settings_skip(self)
        if why:
            return None, why
        name = self.key_env()
        if name is None:
            return None, None
        key = env.get(name, "")
        if not key:
            return None, f"no credentials: environment variable {name} is not set"
        return key, None
