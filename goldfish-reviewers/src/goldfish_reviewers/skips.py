"""Why a review cannot be asked, from the ``review:`` settings alone (no pydantic, no litellm).

The reasons that need no key look-up (reviews off, no model, this kind of review off) are read
here from any object with the settings' attributes: the validated ``ReviewSettings`` or the
plain view of a configuration read from its validation record
(``ProjectConfig.section_view``). So a run whose review is skipped for one of these reasons
imports neither the reviewer nor pydantic (:mod:`goldfish_reviewers.plugin`).
"""

from __future__ import annotations

from typing import Any

from goldfish.findings import Review

REVIEWER = "llm"
DISABLED = "reviews are disabled (review.enabled: false in goldfish.yaml)"
NO_MODEL = ("no model configured: set review.model in goldfish.yaml "
            "(e.g. anthropic/claude-sonnet-4-5)")
KIND_OFF = {"before": "pre-run reviews are off (review.before_run: false)",
            "after": "post-run reviews are off (review.after_run: false)"}


def settings_skip(settings: Any) -> str | None:
    """Reviews off or no model: the reason, else None (the key is looked at elsewhere)."""
    if not settings.enabled:
        return DISABLED
    if not settings.model:
        return NO_MODEL
    return None


def kind_skip(settings: Any, kind: str) -> str | None:
    """Why a ``before``/``after`` review is not asked, in the order the reviewer checks."""
    if not getattr(settings, f"{kind}_run"):
        return KIND_OFF[kind]
    return settings_skip(settings)


def skipped(why: str, settings: Any, **usage: Any) -> Review:
    """The review recorded when none could be asked."""
    return Review(REVIEWER, "skipped", summary=f"review skipped: {why}",
                  usage={"model": settings.model, "cached": False, "tokens_in": 0,
                         "tokens_out": 0, "skipped": why, **usage})
