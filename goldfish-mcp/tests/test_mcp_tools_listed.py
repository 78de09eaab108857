"""Every tool the code defines is listed by a real client over stdio, with its annotations and
schemas, and docs/tools.md is exactly what the server generates."""

from __future__ import annotations

from pathlib import Path

import anyio
from goldfish_mcp import reference
from goldfish_mcp.server import tool_names
from mcp_support import new_project, stdio_client
from mcp_types import Tool

LIFECYCLE = {"gc", "prune", "du"}  # issue 17 items 1, 2, 4
EXPECTED = LIFECYCLE | {"status", "note", "recall", "create_workspace", "mount", "unmount", "save_version",
            "rollback", "diff", "workspaces", "run", "inspect_run", "logs", "cancel", "runs",
            "compare", "conclude", "tag", "plot_metrics", "register_source", "sources",
            "promote_output", "lineage", "findings", "patterns", "profiles",
            "pool_drain"}
EXPECTED |= {"delete_workspace", "backup", "backups"}  # issue 17 item 5


def test_mcp_every_defined_tool_is_listed_by_a_stdio_client(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    defined = tool_names(project)
    assert set(defined) == EXPECTED and len(defined) == len(EXPECTED)

    async def listed() -> list[Tool]:
        async with stdio_client(project) as c:
            result = await c.list_tools()
            resources = await c.list_resources()
            templates = await c.list_resource_templates()
            assert {str(r.uri) for r in resources.resources} >= {"goldfish://state",
                                                                   "goldfish://runs"}
            assert [t.uri_template for t in templates.resource_templates] == [
                "goldfish://runs/{run_id}"]
            return list(result.tools)

    tools = anyio.run(listed)
    by_name = {t.name: t for t in tools}
    assert list(by_name) == defined
    for name, tool in by_name.items():
        assert tool.description and tool.title, name
        assert tool.annotations is not None and tool.annotations.read_only_hint is not None
        assert tool.input_schema["type"] == "object"
    annotations = {name: t.annotations for name, t in by_name.items()}
    assert annotations["recall"] and annotations["recall"].read_only_hint is True
    assert annotations["rollback"] and annotations["rollback"].destructive_hint is True
    assert annotations["run"] and annotations["run"].read_only_hint is False
    assert by_name["status"].output_schema is not None
    run_props = by_name["run"].input_schema["properties"]
    assert run_props["wait_seconds"]["maximum"] == 600


def test_mcp_tools_reference_matches_the_server(tmp_path: Path) -> None:
    generated = reference.render(reference.list_tools())
    assert reference.DOCS.read_text(encoding="utf-8") == generated, (
        "docs/tools.md is stale: run `python -m goldfish_mcp.reference`")
    for name in EXPECTED:
        assert f"\n## {name}\n" in generated
    stale = tmp_path / "tools.md"
    stale.write_text(generated.replace("## recall", "## recal"), encoding="utf-8")
    assert reference.main(["--check", "--output", str(stale)]) == 1
    assert reference.main(["--output", str(stale)]) == 0
    assert reference.main(["--check", "--output", str(stale)]) == 0
