"""Hook implementations of goldfish-reviewers (entry point ``goldfish.plugins``).

Building the plugin manager imports only this module: the config model is named by a string and
everything else (pydantic models, litellm) is imported when a review actually happens.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from goldfish.hookspecs import hookimpl

#: run id → project root, remembered from the hooks that carry a project, so
#: ``summarize_failure`` (whose context has none) reads the right ``review:`` section.
_ROOTS: dict[str, Path] = {}
_ROOTS_KEPT = 256  # a long-lived server sees many runs; failures come soon after their start


def _remember(run_id: str, root: Path) -> None:
    _ROOTS[run_id] = root
    while len(_ROOTS) > _ROOTS_KEPT:
        del _ROOTS[next(iter(_ROOTS))]


@hookimpl
def register_config_sections(register: Callable[..., None]) -> None:
    register("review", "goldfish_reviewers.settings:ReviewSettings")


def _skip_early(project: Any, kind: str) -> Any | None:
    """The skipped review when the settings alone rule a review out (reviews off, no model,
    this kind off), read from the configuration's plain data: no reviewer or pydantic import.
    None when a question might be asked (the reviewer decides, key look-up included)."""
    if project is None:
        return None
    from goldfish_reviewers.skips import kind_skip, skipped

    try:
        settings = project.config.section_view("review")
    except Exception:
        return None
    if settings is None:
        return None
    why = kind_skip(settings, kind)
    return skipped(why, settings) if why else None


@hookimpl
def review_before_run(context: Any) -> Any | None:
    if context.project is not None:
        _remember(context.run_id, Path(context.project.root))
    early = _skip_early(context.project, "before")
    if early is not None:
        return early
    from goldfish_reviewers.reviewer import Reviewer

    return Reviewer(context.project).before(context)


@hookimpl
def review_after_run(context: Any) -> Any | None:
    early = _skip_early(context.project, "after")
    if early is not None:
        return early
    from goldfish_reviewers.reviewer import Reviewer

    return Reviewer(context.project).after(context)


@hookimpl
def on_run_started(project: Any, run: Any) -> None:
    _remember(str(getattr(run, "id", "")), Path(project.root))


@hookimpl
def summarize_failure(context: Any) -> dict[str, Any] | None:
    from goldfish_reviewers.reviewer import Reviewer

    project = _project_for(context)
    if project is None:
        return None
    return Reviewer(project).summarize(context)


def _project_for(context: Any) -> Any:
    """The project a failure belongs to: the context's, the run's remembered root, or the cwd's."""
    project = getattr(context, "project", None)
    if project is not None:
        return project
    from goldfish.errors import GoldfishError
    from goldfish.project import Project

    root = _ROOTS.get(str(getattr(context, "run_id", "")))
    try:
        return Project(root) if root is not None else Project.find()
    except GoldfishError:
        return None
