"""The profiles tool says where each profile comes from: goldfish.yaml, built-in, or the plugin
that offers it (issue 13: ready profiles from plugins)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
from goldfish import hookimpl
from goldfish.init import init_project
from goldfish.plugins import Plugins
from goldfish_mcp.server import build_server
from mcp import Client


class Offers:
    @hookimpl
    def register_profiles(self, register: Callable[..., None]) -> None:
        register("roomy", {"backend": "local", "cpus": 16})


def test_profiles_tool_shows_each_profiles_source(
        tmp_path: Path, goldfish_plugins: Plugins,
        register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(Offers(), name="offers")
    project = init_project(tmp_path / "p", name="p", plugins=goldfish_plugins)

    async def go() -> object:
        async with Client(build_server(project)) as c:
            return await c.call_tool("profiles", {})

    result = anyio.run(go)
    data = result.structured_content  # type: ignore[attr-defined]
    assert data["profiles"]["roomy"]["cpus"] == 16
    assert data["sources"] == {"local": "goldfish.yaml", "roomy": "plugin offers"}
    assert "roomy: " in result.content[0].text and "[plugin offers]" in result.content[0].text  # type: ignore[attr-defined]
