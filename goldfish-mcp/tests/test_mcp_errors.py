"""Tool errors all take one form: "message + hint" (issue 9 items 9 and 10).

Arguments that fail a tool's input schema name the argument, the value given and the limit, in
Goldfish's words rather than pydantic's (no "validation error for …Arguments", no URL); the limits
are the ones docs/tools.md lists. Faults of the machine (a full disk) reach the agent named, not
as "failed unexpectedly". Checked with the official MCP client against a real ``goldfish serve``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
from goldfish.testing.disks import fill, tmpfs
from goldfish_mcp.server import build_server
from mcp import Client
from mcp_support import new_project, stdio_client, text

ROOT = Path(__file__).resolve().parents[2]


def _calls(project: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Each call in turn over stdio, against a real ``goldfish serve``."""
    async def go() -> list[Any]:
        async with stdio_client(project) as c:
            return [await c.call_tool(name, args) for name, args in calls]

    return anyio.run(go)


def assert_goldfish_form(result: Any) -> str:
    body = text(result)
    assert result.is_error, body
    assert "validation error" not in body and "pydantic" not in body, body
    assert "http" not in body and "[type=" not in body and "input_value" not in body, body
    message, _, hint = body.partition("\nhint: ")
    assert message.startswith("Error executing tool ") and hint, body
    return body


def test_schema_errors_name_the_argument_the_value_and_the_limit(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("runs", {"limit": "many"}, ["argument `limit` must be a whole number", "'many'",
                                     "1-100"]),
        ("runs", {"limit": 1000}, ["argument `limit` is 1000", "at most 100"]),
        ("recall", {"query": "x", "since_hours": -1}, ["`since_hours` is -1", "more than 0"]),
        ("note", {"text": "x" * 5000}, ["argument `text` has 5000 characters",
                                        "at most 4000"]),
        ("run", {"overrides": ["a.b=1"] * 60}, ["argument `overrides` has 60 items",
                                                "at most 50"]),
        ("run", {"overrides": ["a.b=" + "1" * 600]}, ["argument `overrides[0]` has 604 "
                                                      "characters", "at most 500"]),
        ("conclude", {"run": "latest", "outcome": "great"},
         ["argument `outcome` is 'great'", "'success', 'partial', 'miss'"]),
        ("recall", {"query": "x", "kinds": ["gossip"]}, ["argument `kinds[0]` is 'gossip'"]),
        ("inspect_run", {}, ["argument `run` is required", "1-200 characters"]),
        ("note", {"text": ["not", "text"]}, ["argument `text` must be a string"]),
    ]
    results = _calls(project, [(name, args) for name, args, _ in cases])
    for (name, _args, needles), result in zip(cases, results, strict=True):
        body = assert_goldfish_form(result)
        assert body.startswith(f"Error executing tool {name}: "), body
        for needle in needles:
            assert needle in body, f"{needle!r} not in {body!r}"
    # a huge value is clipped in the message, not echoed whole
    assert len(text(results[3])) < 400


def test_the_limits_in_errors_are_the_ones_docs_tools_md_lists() -> None:
    docs = (ROOT / "docs" / "tools.md").read_text(encoding="utf-8")
    assert "| argument | type | default | limits | description |" in docs
    runs = docs[docs.index("## runs\n"):]
    assert re.search(r"\| `limit` \| integer \| `20` \| 1-100 \|", runs)
    note = docs[docs.index("## note\n"):]
    assert re.search(r"\| `text` \| string \| required \| 1-4000 characters \|", note)
    run = docs[docs.index("## run\n"):]
    assert "≤ 50 items, each ≤ 500 characters" in run


def test_a_full_disk_reaches_the_agent_named(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        project = new_project(disk)

        async def go() -> tuple[Any, Any]:
            async with Client(build_server(project)) as c:
                assert not (await c.call_tool("note", {"text": "before"})).is_error
                ballast = fill(disk)
                full = await c.call_tool("note", {"text": "x" * 3000})
                ballast.unlink()
                after = await c.call_tool("note", {"text": "after"})
                return full, after

        full, after = anyio.run(go)
        body = assert_goldfish_form(full)
        assert "disk full" in body and "failed unexpectedly" not in body, body
        assert "df -h" in body
        assert not after.is_error, text(after)
        notes = [r[0] for r in project.db.query("SELECT text FROM notes ORDER BY id")]
        assert notes == ["before", "after"]  # the failed note left nothing behind
