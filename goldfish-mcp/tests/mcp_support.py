"""Helpers for the goldfish-mcp tests: a project, a tiny pipeline, clients over stdio or in-process."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from goldfish.project import Project
from goldfish.testing.projects import GOLDFISH
from goldfish.testing.projects import write_files as shared_write_files
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult

GOAL = "predict y from x; reach accuracy 0.9"

#: prepare → train; train logs a loss curve and a final accuracy that grows with lr.
FILES = {
    "pipeline.yaml": """
        name: tiny
        results: {metric: accuracy, direction: max}
        stages:
          - name: prepare
            outputs: {data: {type: json}}
            config: {n: 4}
          - name: train
            inputs: {data: {from: prepare.data}}
            outputs: {model: {type: json}}
            config: {lr: 0.1, epochs: 5}
    """,
    "modules/prepare.py": """
        from goldfish import io
        io.save_output("data", {"xs": list(range(io.config()["n"]))})
        print("prepared")
    """,
    "modules/train.py": """
        from goldfish import io
        cfg = io.config()
        data = io.load_input("data")
        for epoch in range(cfg["epochs"]):
            io.log_metric("loss", 1.0 / (epoch + 1 + cfg["lr"]), step=epoch)
        io.log_metric("accuracy", min(1.0, 0.5 + cfg["lr"] / 2))
        io.save_output("model", {"w": len(data["xs"]) * cfg["lr"]})
        print("trained with lr", cfg["lr"])
    """,
}


def write_files(root: Path, files: dict[str, str] = FILES) -> None:
    shared_write_files(root, files)


def new_project(tmp_path: Path, *, with_workspace: bool = False) -> Project:
    """An initialized project (goal set, one invariant); optionally workspace ``exp`` in w1."""
    from goldfish.init import init_project

    kwargs: dict[str, Any] = {}
    if with_workspace:
        src = tmp_path / "src"
        write_files(src)
        kwargs = {"from_dir": src, "workspace": "exp"}
    project = init_project(tmp_path / "project", name="tiny-lab", goal=GOAL, **kwargs)
    config = project.config_path.read_text(encoding="utf-8")
    project.config_path.write_text(
        config.replace("invariants: []", "invariants: [evaluate on the frozen split]"),
        encoding="utf-8")
    project.reload_config()
    return project


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["GOLDFISH_LOAD_PLUGINS"] = "mcp"  # only this package's plugin: no svs/reviewers noise
    return env


def stdio_params(project: Project, *, cwd: Path | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=GOLDFISH, args=["serve", "--project", str(project.root)],
                                 env=server_env(), cwd=str(cwd) if cwd else None)


@asynccontextmanager
async def stdio_client(project: Project) -> AsyncIterator[Client]:
    """The official client talking to a real ``goldfish serve`` subprocess."""
    with open(os.devnull, "w") as devnull:
        async with Client(stdio_params(project), read_timeout_seconds=120) as client:
            _ = devnull
            yield client


def call_tools(project: Project, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    """Each ``(tool, arguments)`` called in turn on one in-process server."""
    import anyio
    from goldfish_mcp.server import build_server

    async def go() -> list[CallToolResult]:
        async with Client(build_server(project)) as c:
            return [await c.call_tool(name, args) for name, args in calls]

    return anyio.run(go)


def tool_annotations(project: Project) -> dict[str, Any]:
    """Tool name → its annotations, as a client lists them."""
    import anyio
    from goldfish_mcp.server import build_server

    async def go() -> dict[str, Any]:
        async with Client(build_server(project)) as c:
            return {t.name: t.annotations for t in (await c.list_tools()).tools}

    return anyio.run(go)


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


def text(result: CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def integrity(project: Project) -> None:
    """The database is intact and its invariants hold."""
    db = project.db
    assert db.one("PRAGMA integrity_check")[0] == "ok"  # type: ignore[index]
    assert db.query("PRAGMA foreign_key_check") == []
    # every mounted workspace exists, and each is mounted at most once
    for row in db.query("SELECT slot, workspace FROM slots WHERE workspace IS NOT NULL"):
        assert db.one("SELECT 1 FROM workspaces WHERE name = ?", (row[1],)), row
    # version numbers of each workspace are 1..n without gaps, and below next_version
    for w in db.query("SELECT name, next_version FROM workspaces"):
        numbers = [r[0] for r in db.query("SELECT number FROM versions WHERE workspace = ? "
                                          "ORDER BY number", (w[0],))]
        assert numbers == list(range(1, len(numbers) + 1)), (w[0], numbers)
        assert not numbers or numbers[-1] < w[1]
    # every note is indexed for recall
    notes = db.one("SELECT count(*) FROM notes")[0]  # type: ignore[index]
    indexed = db.one("SELECT count(*) FROM memory_fts WHERE kind IN "  # type: ignore[index]
                     "('note', 'decision', 'question')")[0]
    assert notes == indexed
    json.loads(json.dumps([dict(r) for r in db.query("SELECT * FROM runs")], default=str))
