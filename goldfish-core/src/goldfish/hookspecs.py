"""Every hook a Goldfish plugin can implement.

A plugin is a module (or object) with functions decorated by ``goldfish.hookimpl`` whose names match
the specs below; it is published through the ``goldfish.plugins`` entry-point group. Only
``goldfish.plugins`` calls these hooks (through the typed facade :class:`goldfish.plugins.Plugins`).

Families:

* registries — ``register_*`` hooks receive a ``register`` callback; every plugin's call is used.
* validators — ``validate_pipeline``, ``validate_outputs``, ``check_metrics``: fan-out, the lists of
  findings from every plugin are concatenated.
* reviewers — ``review_before_run``, ``review_after_run``: fan-out, each plugin returns a review or
  None; ``summarize_failure`` first result wins.
* memory — ``record_event`` fan-out to every store; ``recall`` fan-out, hits merged;
  ``render_orientation`` first result wins.
* lifecycle — ``on_*`` notifications, fan-out, return values ignored.

Arguments are passed by keyword; a plugin may implement a hook with any subset of the arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from goldfish.events import Event
    from goldfish.project import Project

hookspec = pluggy.HookspecMarker("goldfish")
hookimpl = pluggy.HookimplMarker("goldfish")


# --- registries -------------------------------------------------------------------------------


@hookspec
def register_compute_backends(register: Callable[..., None]) -> None:
    """Declare compute backends.

    Called once when the plugin manager is built. Call
    ``register(name, factory, config_model=None, capabilities=None)`` for each backend: ``name`` is
    what a profile's ``backend:`` names; ``factory`` is a class (or a ``"module:attr"`` string,
    imported only when the backend is used) whose instances satisfy
    :class:`goldfish.compute.ComputeBackend`; ``config_model`` is the pydantic model of the profile
    keys the backend accepts beyond the common ones (a class or a ``"module:attr"`` string;
    subclass :class:`goldfish.config.Section` so unknown keys are errors); the validated keys
    reach the backend as ``Profile.backend_config``.
    Returns nothing; every plugin's registrations are kept (a later duplicate name is an error that
    ``goldfish plugins`` reports).
    """


@hookspec
def register_storage_backends(register: Callable[..., None]) -> None:
    """Declare storage backends by URI scheme.

    Called once when the plugin manager is built. Call
    ``register(scheme, factory, config_model=None)`` where ``scheme`` is ``"file"``, ``"gs"``,
    ``"s3"``… and ``factory`` is a class (or ``"module:attr"``) satisfying
    :class:`goldfish.storage.StorageBackend`. ``config_model`` (a class or ``"module:attr"``;
    subclass :class:`goldfish.config.Section`) declares the settings the backend accepts next
    to the URI in ``goldfish.yaml`` (``storage: {uri: s3://bucket/prefix, region: ...}``); they
    are validated with located errors and reach the factory as its ``config`` dict. Returns
    nothing.
    """


@hookspec
def register_config_sections(register: Callable[..., None]) -> None:
    """Declare sections of ``goldfish.yaml``.

    Called when configuration is loaded. Call ``register(section, model)`` where ``section`` is the
    top-level key (``"gce"``, ``"svs"``, ``"review"``) and ``model`` a pydantic model class
    (subclass :class:`goldfish.config.Section`), an ``Annotated[type, Field(default, ...)]`` for
    a single value, or a ``"module:attr"`` string naming either. An absent section takes the
    model built from no keys (None when it has required keys) or the ``Field`` default. Unknown
    top-level keys are errors, so a plugin must register the section it reads. Returns nothing.
    """


@hookspec
def register_profiles(register: Callable[..., None]) -> None:
    """Offer named compute profiles, so ``profile: h100-spot`` works with no ``profiles:`` entry.

    Called when configuration is loaded. Call ``register(name, settings)`` where ``settings`` is
    the profile as it would be written under ``profiles:`` in ``goldfish.yaml`` (``{"backend":
    "gce", "preset": "h100-spot"}``). Offered profiles are validated like written ones (an invalid
    one is a configuration problem naming the plugin); a profile of the same name in
    ``goldfish.yaml`` wins, then the core's ``local``, then the first plugin that offered it.
    ``goldfish profiles`` shows where each profile comes from. Returns nothing.
    """


@hookspec
def register_commands(cli: argparse._SubParsersAction[Any], command: str | None) -> None:
    """Add CLI subcommands.

    Called when the ``goldfish`` CLI is built (so keep it cheap: import heavy modules inside the
    handler). ``cli`` is the argparse sub-parsers object; call ``cli.add_parser(name, help=...)``
    and ``parser.set_defaults(handler=fn)`` where ``fn(args) -> int | None``. ``command`` is the
    subcommand being run (``"save"`` for ``goldfish save w1``), or None when every command is
    needed (help, an unknown command): a plugin may then add only that one, if it is one of its
    own. Ignoring ``command`` and adding them all is correct, only slower. Returns nothing.
    """


# --- validators -------------------------------------------------------------------------------


@hookspec
def validate_pipeline(pipeline: Any, project: Project) -> list[Any] | None:
    """Check a pipeline before any compute (preflight).

    Called once per run after ``pipeline.yaml`` and the stage configs are loaded from the snapshot.
    ``pipeline`` is a :class:`goldfish.pipeline.Pipeline`. Returns a list of
    :class:`goldfish.findings.Finding` (or None); fan-out, all lists are concatenated. A finding
    with severity ``"blocking"`` stops the run before launch.
    """


@hookspec
def validate_outputs(context: Any) -> list[Any] | None:
    """Check a stage's outputs after it exited successfully.

    ``context`` is a :class:`goldfish.findings.OutputContext` (run id, stage, declared signals,
    local paths of the outputs, stage config, upstream outputs). Returns findings; fan-out. A
    blocking finding fails the stage.
    """


@hookspec
def check_metrics(context: Any) -> list[Any] | None:
    """Check a running stage's metric stream (host side, on every watch tick).

    ``context`` is a :class:`goldfish.findings.MetricContext` (run id, stage, the points new since
    the last call, a bounded per-name history — the last 200 points before them, then them —,
    ``earlier``: per-name count, finite min/max and non-finite count of every point before them,
    seconds since the last heartbeat). A tick with a large backlog calls it once per batch of
    about 25k points. Returns findings; fan-out. A blocking finding stops the stage:
    cooperatively through ``should_stop``, then hard after a grace period.
    """


# --- reviewers --------------------------------------------------------------------------------


@hookspec
def review_before_run(context: Any) -> Any | None:
    """Review the whole pipeline once before any compute is spent.

    ``context`` is a :class:`goldfish.findings.ReviewContext`. Returns a
    :class:`goldfish.findings.Review` or None (not reviewing); fan-out. A review whose decision is
    ``"block"`` stops the run before launch.
    """


@hookspec
def review_after_run(context: Any) -> Any | None:
    """Review a finished run against its hypothesis.

    ``context`` is a :class:`goldfish.findings.ReviewContext` with outputs, findings and metric
    summaries filled in. Returns a :class:`goldfish.findings.Review` or None; fan-out. Never
    concludes a run by itself.
    """



@hookspec(firstresult=True)
def summarize_failure(context: Any) -> dict[str, Any] | None:
    """Explain a failed stage so the failure becomes a reviewable pattern.

    Called once per new failure signature (a failure that matches a known pattern is not
    summarized again). ``context`` is a :class:`goldfish.patterns.Failure`: ``run_id``,
    ``stage``, ``exception`` (type name or cause), ``message``, ``traceback_tail``, ``log_tail``,
    ``cause``. Returns a dict with ``symptom``, ``root_cause``, ``detection``, ``prevention`` and
    ``severity`` (``info``/``warning``/``blocking``), optionally ``title`` and ``check`` (a
    ``{"check": name, ...settings}`` that would have caught it), or None to let another plugin —
    or the deterministic summary — answer. First result wins.
    """

# --- memory -----------------------------------------------------------------------------------


@hookspec
def record_event(event: Event, project: Project) -> None:
    """Observe a domain event (workspace created, version saved, run finished, note…).

    Called after the event is committed to the project database; fan-out to every memory store.
    Errors are caught and reported, never raised into the operation that emitted the event.
    """


@hookspec
def recall(query: str, project: Project, kinds: list[str] | None, limit: int) -> list[Any] | None:
    """Search what was recorded.

    Returns a list of :class:`goldfish.events.Hit` (kind, id, text, score, at) or None; fan-out, hits
    from every store are merged by score.
    """


@hookspec(firstresult=True)
def render_orientation(project: Project) -> str | None:
    """Render the human-readable orientation (``STATE.md``) for a project.

    First result wins: the built-in STATE.md store answers unless another plugin does first.
    """


# --- lifecycle --------------------------------------------------------------------------------


@hookspec
def on_version_saved(project: Project, workspace: str, version: int, commit: str) -> None:
    """A workspace version was saved (by ``save_version``, a run's snapshot, or a rollback)."""


@hookspec
def on_run_started(project: Project, run: Any) -> None:
    """A run passed preflight and review and its first stage is launching."""


@hookspec
def on_run_finished(project: Project, run: Any) -> None:
    """A run reached a final state (``done``, ``failed``, ``cancelled`` or ``lost``)."""


@hookspec
def on_stage_finished(project: Project, run: Any, stage: str, state: str) -> None:
    """One stage of a run reached a final state (including ``reused``)."""
