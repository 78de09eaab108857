"""The Goldfish MCP server: stdio transport, one project, the reconciler in the background.

``build_server(project)`` returns an :class:`mcp.server.MCPServer` with every tool of
:class:`goldfish_mcp.tools.GoldfishTools` and the resources ``goldfish://state`` (STATE.md),
``goldfish://runs`` (recent runs) and ``goldfish://runs/{run_id}``. ``serve(path)`` runs it on
stdin/stdout until the client closes the stream. The tools are registered on first use, after the
initialize handshake (the SDK's per-tool schema building is the largest start-up cost we own).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldfish.project import Project
    from mcp.server import MCPServer

NAME = "goldfish"
RECONCILE_SECONDS = 2.0

INSTRUCTIONS = """\
Goldfish keeps an ML project's memory and provenance. Workflow:
1. Call `status` first (and after any context loss): goal, invariants, slots, running runs, new
   findings, runs awaiting a conclusion, best results, recent decisions, next actions.
2. Work in a workspace: `create_workspace` (mounted in a slot at workspaces/<slot>/) or `mount`;
   edit files there with your own tools (pipeline.yaml, modules/<stage>.py, configs/).
3. `run` with a reason and a hypothesis (`dry_run` shows what would be reused); follow with
   `inspect_run`, `logs`, `plot_metrics`; `compare` against the best run.
4. `conclude` every finished run (success / partial / miss + what was learned) and record
   choices with `note(kind="decision")`. `recall` searches all of it later.
Versions are saved automatically on every run; `rollback` and `diff` move between them.
Errors explain what to do next; ids are the same everywhere (CLI `goldfish`, STATE.md, tools)."""


#: the first reconcile pass waits this long, so the initialize handshake is not slowed by it
STARTUP_GRACE_SECONDS = 1.0


def build_server(project: Project) -> MCPServer:
    """The server, its tools registered on first use (see :func:`_defer_tools`)."""
    from goldfish import __version__
    from mcp.server import MCPServer

    server: MCPServer = MCPServer(NAME, title="Goldfish", version=__version__,
                                  instructions=INSTRUCTIONS, log_level="WARNING")

    def add_tools(target: Any) -> None:
        from goldfish_mcp.tools import GoldfishTools

        for spec in GoldfishTools(project).specs():
            target.add_tool(spec.fn, name=spec.name, title=spec.title,
                            description=" ".join((spec.fn.__doc__ or "").split()),
                            annotations=spec.annotations)

    _defer_tools(server, add_tools)
    _resources(server, project)
    return server


def _defer_tools(server: MCPServer, add_tools: Callable[[Any], None]) -> None:
    """Register the tools when the tool table is first read, not before the handshake.

    The SDK builds two pydantic models and a JSON schema per tool (~60 ms for all of them), and
    nothing in ``initialize`` depends on the tools: a client lists them afterwards. The table is
    filled, completely and once, on the first lookup, listing, call, addition or removal; the
    garbage collector is paused meanwhile, as during start-up.
    """
    from mcp.server.mcpserver.tools.tool_manager import ToolManager

    class DeferredToolManager(ToolManager):
        def __init__(self, warn_on_duplicate_tools: bool) -> None:
            super().__init__(warn_on_duplicate_tools)
            self._pending: Callable[[Any], None] | None = add_tools

        def _fill(self) -> None:
            import gc

            fill, self._pending = self._pending, None
            if fill is None:
                return
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                fill(self)
            except BaseException:
                self._tools.clear()
                self._pending = fill  # the next use raises the same error
                raise
            finally:
                if was_enabled:
                    gc.enable()

        def get_tool(self, name: str) -> Any:
            self._fill()
            return super().get_tool(name)

        def list_tools(self) -> Any:
            self._fill()
            return super().list_tools()

        def add_tool(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            self._fill()
            return super().add_tool(fn, *args, **kwargs)

        def remove_tool(self, name: str) -> None:
            self._fill()
            super().remove_tool(name)

        async def call_tool(self, name: str, *args: Any, **kwargs: Any) -> Any:
            self._fill()
            try:
                return await super().call_tool(name, *args, **kwargs)
            except Exception as exc:
                raise _schema_error(self.get_tool(name), exc) from None

    current = server._tool_manager
    if current.list_tools():  # pragma: no cover - only an empty table can be deferred
        raise RuntimeError("tools were registered before the table was deferred")
    server._tool_manager = DeferredToolManager(current.warn_on_duplicate_tools)


def _schema_error(tool: Any, exc: Exception) -> Exception:
    """Arguments that failed the tool's input schema, said in Goldfish's message + hint form
    (see :mod:`goldfish_mcp.arguments`); any other error is returned unchanged."""
    from pydantic import ValidationError

    cause = exc.__cause__
    if tool is None or not isinstance(cause, ValidationError):
        return exc
    from mcp.server.mcpserver.exceptions import ToolError

    from goldfish_mcp.arguments import explain

    return ToolError(explain(tool.name, cause.errors(include_url=False), tool.parameters))


def _resources(server: MCPServer, project: Project) -> None:
    @server.resource("goldfish://state", name="STATE.md", mime_type="text/markdown",
                     description="the project's orientation file, rendered from the database")
    def state() -> str:
        from goldfish.memory import render_state

        return render_state(project)

    @server.resource("goldfish://runs", name="runs", mime_type="application/json",
                     description="the 50 newest runs")
    def runs() -> str:
        from goldfish.runs.records import list_runs

        return json.dumps([r.__dict__ for r in list_runs(project, limit=50)], default=str)

    @server.resource("goldfish://runs/{run_id}", name="run", mime_type="application/json",
                     description="one run: reason, stages, metrics, outputs, findings")
    def run(run_id: str) -> str:
        from goldfish.errors import GoldfishError
        from goldfish.runs.records import get_run
        from mcp.server.mcpserver.exceptions import ResourceNotFoundError

        try:
            return json.dumps(get_run(project, run_id).to_json(), default=str)
        except GoldfishError as exc:
            raise ResourceNotFoundError(str(exc)) from None


def open_project(explicit: str | None) -> Project:
    from goldfish.project import Project

    project = Project.find(explicit=explicit)
    project.check_initialized()
    _ = project.config  # a broken goldfish.yaml fails here, before the client connects
    project.db.migrate()
    return project


def serve(explicit: str | None = None, *, reconcile: bool = True) -> int:
    """Serve the project over stdio until the client disconnects.

    The cyclic garbage collector is paused while the SDK's thousands of pydantic models are
    built (it would rescan them again and again for nothing), then the survivors are frozen
    out of later collections.
    """
    import gc

    gc.disable()
    try:
        project = open_project(explicit)
        server = build_server(project)
    finally:
        gc.freeze()
        gc.enable()
    reconciler = None
    if reconcile and os.environ.get("GOLDFISH_NO_RECONCILE") != "1":
        from goldfish.runs.reconciler import Reconciler

        reconciler = Reconciler(project)
        reconciler.start_background(RECONCILE_SECONDS, initial_delay=STARTUP_GRACE_SECONDS)
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        if reconciler is not None:
            reconciler.stop(timeout=5.0)
    return 0


def tool_names(project: Project) -> list[str]:
    """Names of every tool the code defines (no SDK needed beyond building the tool set)."""
    from goldfish_mcp.tools import GoldfishTools

    return [s.name for s in GoldfishTools(project).specs()]


def describe(value: Any) -> str:  # pragma: no cover - debugging aid
    return json.dumps(value, default=str, indent=2)
