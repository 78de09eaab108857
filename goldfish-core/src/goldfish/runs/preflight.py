"""Compute preflight: the backends a run will use may refuse it before any work is done.

A compute backend class may define ``preflight(profile: str) -> None`` (see
:mod:`goldfish.compute`): raise a :class:`~goldfish.errors.GoldfishError` when no stage can run
on that profile now (a stub backend, a missing prerequisite it can see without a network call).
:func:`check` asks every backend named by the stages of the slot's ``pipeline.yaml`` *before* the
run's snapshot is taken, so a refused run records no version, no run and no staged object.
``goldfish profiles`` shows the same refusals (:func:`refusals`). Backends without the method
are neither built nor asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from goldfish.errors import GoldfishError

if TYPE_CHECKING:
    from goldfish.project import Project

PIPELINE_FILE = "pipeline.yaml"


def stage_profiles(project: Project, workspaces: Any, target: str) -> list[str]:
    """Profiles the stages of ``target``'s ``pipeline.yaml`` run on (the default profile for
    a stage that names none), in order, read leniently: a file that cannot be read or parsed
    gives ``[]`` (the run's own load of the snapshot reports it with its location)."""
    import yaml

    try:
        data = yaml.load(workspaces.read_slot_file(target, PIPELINE_FILE),
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: ~10x
    except Exception:
        return []
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, list):
        return []
    config = project.config
    names: list[str] = []
    for stage in stages:
        if not isinstance(stage, dict):
            continue
        name = stage.get("profile") or config.default_profile
        if isinstance(name, str) and name in config.profiles and name not in names:
            names.append(name)
    return names


def _declares_preflight(project: Project, profile: str) -> bool:
    spec = project.plugins.registries.compute.get(project.config.profile(profile).backend)
    if spec is None:
        return False  # the configuration check names the missing backend
    return callable(getattr(spec.load(), "preflight", None))


def check(engine: Any, target: str) -> None:
    """Ask each backend of ``target``'s stages that declares ``preflight``; the first refusal
    is raised as it is (a GoldfishError naming what is missing and what to do)."""
    project = engine.project
    for profile in stage_profiles(project, engine.workspaces, target):
        if _declares_preflight(project, profile):
            engine.backend_for(profile).preflight(profile)


def refusals(project: Project) -> dict[str, GoldfishError]:
    """Profile → why its backend refuses to run stages now (``goldfish profiles``)."""
    from goldfish.runs.backends import offering

    out: dict[str, GoldfishError] = {}
    for name, ask in offering(project, "preflight"):
        try:
            ask(name)
        except GoldfishError as exc:
            out[name] = exc
    return out
