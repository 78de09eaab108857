"""`goldfish serve`: found through the CLI hook, the project from the working directory or
--project, the reconciler running in the background, and no traceback when there is no project."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import anyio
from goldfish.runs.engine import Engine
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_support import GOAL, GOLDFISH, data, new_project, server_env, write_files


def test_mcp_serve_is_a_goldfish_command_without_importing_the_sdk() -> None:
    proc = subprocess.run([GOLDFISH, "serve", "--help"], capture_output=True, text=True,
                          env=server_env(), timeout=60)
    assert proc.returncode == 0 and "--project" in proc.stdout and "MCP server" in proc.stdout
    probe = subprocess.run(
        [str(Path(GOLDFISH).with_name("python")), "-c",
         "import sys, goldfish.plugins as p; p.build(); print('mcp' in sys.modules)"],
        capture_output=True, text=True, env=server_env(), timeout=60)
    assert probe.stdout.strip() == "False", probe.stderr


def test_mcp_serve_finds_the_project_from_the_working_directory(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    params = StdioServerParameters(command=GOLDFISH, args=["serve"], env=server_env(),
                                   cwd=str(project.slot_path("w1")))

    async def go() -> dict[str, object]:
        async with Client(params) as c:
            return data(await c.call_tool("status", {"peek": True}))

    assert anyio.run(go)["goal"] == GOAL


def test_mcp_serve_outside_a_project_fails_with_a_hint(tmp_path: Path) -> None:
    proc = subprocess.run([GOLDFISH, "serve"], cwd=tmp_path, capture_output=True, text=True,
                          env=server_env(), timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "no Goldfish project" in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_mcp_serve_reconciles_runs_in_the_background(tmp_path: Path) -> None:
    """A run started elsewhere and left alone finishes while the server merely runs."""
    project = new_project(tmp_path, with_workspace=True)
    write_files(project.slot_path("w1"))
    # launched without a driver, so nobody advances it but the server
    run_id = Engine(project).run("exp", reason="left alone", detach=False)

    async def go() -> str:
        async with Client(StdioServerParameters(
                command=GOLDFISH, args=["serve", "--project", str(project.root)],
                env=server_env())) as c:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                # peek at the database directly: the tool call must not be what advances it
                state = project.db.one("SELECT state FROM runs WHERE id = ?", (run_id,))
                if state is not None and state[0] == "done":
                    return "done"
                await anyio.sleep(0.2)
            return str(data(await c.call_tool("inspect_run", {"run": run_id}))["state"])

    assert anyio.run(go) == "done"
