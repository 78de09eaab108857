"""Reviews as the engine records them: policy (skip, cache, on_error) around one model question.

* no model, reviews disabled, or no key → a ``skipped`` review that says why (never an approval);
* a cached verdict for the same material → that verdict, ``usage.cached = true``, no request;
* a provider error, timeout or twice-unusable answer → ``on_error``: ``allow`` records a skipped
  review with a warning, ``block`` a blocking one;
* otherwise the model's verdict, with its findings and the tokens it used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from goldfish.findings import Decision, Finding, Review

from goldfish_reviewers.cache import VerdictCache, content_key
from goldfish_reviewers.prompts import PROMPT_VERSION, Part, build
from goldfish_reviewers.secrets import Scrubber, config_secrets
from goldfish_reviewers.settings import ReviewSettings
from goldfish_reviewers.skips import KIND_OFF, REVIEWER, skipped

SOURCE = "review"


def settings_of(project: Any) -> ReviewSettings:
    """The project's ``review:`` section (defaults when the section is absent or unreadable)."""
    if project is not None:
        try:
            section = project.config.section("review")
        except Exception:
            section = None
        if isinstance(section, ReviewSettings):
            return section
    return ReviewSettings.model_validate({})


def cache_dir(project: Any) -> Path | None:
    return Path(project.cache_dir) / "reviews" if project is not None else None


def _skipped(why: str, settings: ReviewSettings, **usage: Any) -> Review:
    return skipped(why, settings, **usage)


def _finding(raw: Any, check_default: str = "reviewer") -> Finding:
    data = {k: v for k, v in (("file", raw.file), ("line", raw.line),
                              ("suggested_fix", raw.suggested_fix)) if v not in (None, "")}
    where = f" ({raw.file}:{raw.line})" if raw.file and raw.line else \
        f" ({raw.file})" if raw.file else ""
    fix = f" Fix: {raw.suggested_fix}" if raw.suggested_fix else ""
    return Finding(SOURCE, raw.check or check_default, raw.severity, f"{raw.message}{where}{fix}",
                   stage=raw.stage or None, data=data)


class Reviewer:
    """Asks the configured model for one kind of review of one project."""

    def __init__(self, project: Any, settings: ReviewSettings | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.project = project
        self.settings = settings or settings_of(project)
        self.environ = environ
        where = cache_dir(project)
        self.cache = VerdictCache(where) if where is not None and self.settings.cache else None

    # --- the question, with policy ---------------------------------------------------------
    def _ask(self, kind: str, material: Callable[[], list[Part]], model: type[Any],
             secrets: Callable[[], set[str]] | None = None) -> tuple[Any, dict[str, Any]]:
        """(parsed answer, usage); raises ``_Skip`` or ProviderError. ``material`` is gathered
        only when a model can be asked; ``secrets`` are values to redact besides the
        environment's."""
        from goldfish_reviewers.client import ask

        settings = self.settings
        key, why = settings.credentials(self.environ)
        if why:
            raise _Skip(why)
        parts = material()
        scrub = Scrubber(extra=(secrets() if secrets else set()) | ({key} if key else set()),
                         environ=self.environ)
        prompt = build(kind, parts, budget_tokens=settings.max_input_tokens, scrub=scrub)
        ck = content_key(PROMPT_VERSION, kind, settings.model, settings.max_tokens,
                         prompt.system.replace(prompt.nonce, ""),
                         [(p.title, scrub(p.text)) for p in parts if p.keyed])
        if self.cache is not None:
            hit = self.cache.get(ck)
            if hit is not None:
                usage = {"model": settings.model, "cached": True, "tokens_in": 0,
                         "tokens_out": 0, "cost_usd": 0.0, "key": ck[:16],
                         "saved": hit.get("usage", {})}
                return model.model_validate(hit["answer"]), usage
        answer = ask(settings, key, prompt, model)
        answer.usage["key"] = ck[:16]
        if self.cache is not None:
            self.cache.put(ck, {"answer": answer.value.model_dump(), "usage": answer.usage,
                                "kind": kind})
        return answer.value, answer.usage

    def _failed(self, exc: Exception, *, can_block: bool = True) -> Review:
        from goldfish_reviewers.client import ProviderError

        kind = exc.kind if isinstance(exc, ProviderError) else "error"
        usage = {"model": self.settings.model, "cached": False, "tokens_in": 0, "tokens_out": 0,
                 **(exc.usage if isinstance(exc, ProviderError) else {}),
                 "error": str(exc), "on_error": self.settings.on_error}
        if self.settings.on_error == "block" and can_block:
            return Review(REVIEWER, "block", [Finding(
                SOURCE, f"review_{kind}", "blocking",
                f"the review could not be done ({exc}); on_error: block stops the run",
                data={"on_error": "block"})],
                summary=f"review failed: {exc}", usage=usage)
        return Review(REVIEWER, "skipped", [Finding(
            SOURCE, f"review_{kind}", "warning",
            f"the review could not be done ({exc}); "
            + ("on_error: allow lets the run go on unreviewed" if can_block else
               "the run stands unreviewed"), data={"on_error": self.settings.on_error})],
            summary=f"review skipped: {exc}", usage=usage)

    # --- the three reviews -----------------------------------------------------------------
    def before(self, context: Any) -> Review:
        from goldfish_reviewers.material import before_parts
        from goldfish_reviewers.verdict import PreRunVerdict

        if not self.settings.before_run:
            return _skipped(KIND_OFF["before"], self.settings)
        try:
            verdict, usage = self._ask("before", lambda: before_parts(context), PreRunVerdict,
                                       lambda: config_secrets(context.configs))
        except _Skip as skip:
            return _skipped(str(skip), self.settings)
        except Exception as exc:
            return self._failed(exc)
        findings = [_finding(f) for f in verdict.findings]
        decision: Decision = "block" if verdict.decision == "block" or any(f.blocking for f in findings) \
            else "approve"
        if decision == "block" and not any(f.blocking for f in findings):
            findings.append(Finding(SOURCE, "reviewer", "blocking",
                                    verdict.summary or "the reviewer blocked the run"))
        return Review(REVIEWER, decision, findings, summary=verdict.summary, usage=usage)

    def after(self, context: Any) -> Review:
        from goldfish_reviewers.material import after_parts
        from goldfish_reviewers.verdict import PostRunVerdict

        if not self.settings.after_run:
            return _skipped(KIND_OFF["after"], self.settings)
        try:
            verdict, usage = self._ask("after", lambda: after_parts(context), PostRunVerdict,
                                       lambda: config_secrets(context.configs))
        except _Skip as skip:
            return _skipped(str(skip), self.settings)
        except Exception as exc:  # after a run nothing is left to stop
            return self._failed(exc, can_block=False)
        findings = [_finding(f, "concern") for f in verdict.concerns]
        supported = {True: "supported", False: "not supported", None: "undecided"}[
            verdict.hypothesis_supported]
        findings.insert(0, Finding(SOURCE, "proposed_outcome", "info",
                                   f"proposed outcome: {verdict.proposed_outcome} (hypothesis "
                                   f"{supported}); conclude the run to record yours",
                                   data={"proposed_outcome": verdict.proposed_outcome,
                                         "hypothesis_supported": verdict.hypothesis_supported}))
        usage = {**usage, "proposed_outcome": verdict.proposed_outcome}
        # The verdict on a finished run never blocks or concludes anything: it informs.
        findings = [Finding(f.source, f.check, "warning", f.message, f.stage, f.signal, f.data)
                    if f.blocking else f for f in findings]
        summary = f"proposed outcome: {verdict.proposed_outcome}. {verdict.summary}".strip()
        return Review(REVIEWER, "approve", findings, summary=summary, usage=usage)

    def summarize(self, failure: Any) -> dict[str, Any] | None:
        """A failure pattern summary, or None (the deterministic summary then stands)."""
        from goldfish_reviewers.material import failure_parts
        from goldfish_reviewers.verdict import FailureSummary

        try:
            summary, usage = self._ask("failure", lambda: failure_parts(failure),
                                      FailureSummary)
        except Exception:
            return None
        return {**summary.model_dump(), "by": f"{REVIEWER}:{self.settings.model}",
                "usage": usage}


class _Skip(Exception):
    """No review can be asked for; the message says why."""
