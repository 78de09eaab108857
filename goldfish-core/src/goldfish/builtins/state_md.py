"""The default memory store: keeps ``STATE.md`` current and answers ``recall`` from SQLite FTS5.

``record_event`` rewrites STATE.md atomically after every committed event (once per batch of
events published together, ``Project.deferred_events``), so a human (or an
agent that lost its context) reading the file sees the project as the database has it. The file
is a rendering, never a source: deleting it loses nothing, the next event writes it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from goldfish.builtins.mark import hookimpl

if TYPE_CHECKING:
    from goldfish.events import Event
    from goldfish.project import Project


@hookimpl
def record_event(event: Event, project: Project) -> None:
    from goldfish.memory import write_state

    if not project.goldfish_dir.is_dir():  # a project being created renders once at the end
        return
    if project.more_events:  # a batch (a pass of the run engine): its last event renders
        return
    write_state(project)


@hookimpl
def recall(query: str, project: Project, kinds: list[str] | None, limit: int) -> list[Any]:
    from goldfish.memory import search_index

    return search_index(project, query, kinds, limit)


@hookimpl
def render_orientation(project: Project) -> str | None:
    from goldfish.memory import render_state

    return render_state(project)
