"""A second, independent client: the MCP Inspector CLI (Node, from npm) lists the tools of a real
`goldfish serve` and calls `status`. The inspector is installed by tests/mcp_inspector_setup.sh
(which .ci/run calls); when it is missing, this test runs the script — it is never skipped."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from goldfish_mcp.server import tool_names
from mcp_support import GOAL, GOLDFISH, new_project, server_env

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "tests" / "mcp_inspector_setup.sh"


def inspector() -> str:
    """The inspector binary, installed by the setup script if needed (fails if it cannot be)."""
    proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"installing the MCP Inspector failed:\n{proc.stderr}"
    binary = proc.stdout.strip().splitlines()[-1]
    assert os.access(binary, os.X_OK), binary
    return binary


def _inspect(binary: str, project_root: Path, home: Path, *args: str) -> dict[str, object]:
    env = {**server_env(), "HOME": str(home)}
    proc = subprocess.run([binary, "--cli", GOLDFISH, "serve", "--project", str(project_root),
                           *args], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_mcp_inspector_cli_lists_tools_and_calls_status(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    binary = inspector()
    listed = _inspect(binary, project.root, tmp_path, "--method", "tools/list")
    tools: list[dict[str, object]] = listed["tools"]  # type: ignore[assignment]
    names = [t["name"] for t in tools]
    assert names == tool_names(project)
    called = _inspect(binary, project.root, tmp_path, "--method", "tools/call",
                      "--tool-name", "status", "--tool-arg", "peek=true")
    assert not called.get("isError")
    structured = called["structuredContent"]
    assert structured["goal"] == GOAL  # type: ignore[index]
    assert structured["slots"][0]["workspace"] == "exp"  # type: ignore[index]
    body = called["content"][0]["text"]  # type: ignore[index]
    assert GOAL in body and "next:" in body
