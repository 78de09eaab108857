"""The tool table is built on first use (after the handshake), completely and exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from goldfish_mcp.server import build_server, tool_names
from mcp import Client
from mcp_support import new_project, text


def test_tools_are_registered_on_first_use_not_at_build(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    server: Any = build_server(project)
    assert server._tool_manager._pending is not None  # nothing built before the handshake

    async def go() -> tuple[Any, list[str], list[str]]:
        async with Client(server) as c:
            # a call before any listing fills the table first
            status = await c.call_tool("status", {})
            first = [t.name for t in (await c.list_tools()).tools]
            again = [t.name for t in (await c.list_tools()).tools]
            return status, first, again

    status, first, again = anyio.run(go)
    assert not status.is_error, text(status)
    assert first == tool_names(project) == again  # every tool, once, in definition order
    assert server._tool_manager._pending is None


def test_a_failing_tool_table_fails_every_use_the_same_way() -> None:
    from goldfish_mcp import server as server_module
    from mcp.server import MCPServer

    server: Any = MCPServer("broken")
    calls: list[int] = []

    def broken(target: Any) -> None:
        calls.append(1)
        target.add_tool(lambda: 1, name="half")
        raise RuntimeError("tool table broken")

    server_module._defer_tools(server, broken)
    for _ in range(2):
        try:
            server._tool_manager.list_tools()
        except RuntimeError as exc:
            assert "tool table broken" in str(exc)
        else:  # pragma: no cover
            raise AssertionError("the broken table was used")
    assert calls == [1, 1]  # retried, never half-filled
    assert server._tool_manager._tools == {}
