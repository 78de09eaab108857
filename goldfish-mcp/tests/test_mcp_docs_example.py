"""The Python MCP client example in docs/agents.md runs as written against a real project."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from goldfish.runs.engine import Engine
from mcp_support import GOAL, new_project, server_env, write_files

DOC = Path(__file__).resolve().parents[2] / "docs" / "agents.md"


def example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## From Python: the official MCP client", 1)
    assert len(section) == 2, "docs/agents.md lost its Python client section"
    block = re.search(r"```python\n(.*?)```", section[1], re.S)
    assert block is not None
    return block.group(1)


def test_the_python_client_example_in_the_docs_runs(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    write_files(project.slot_path("w1"))
    run_id = Engine(project).run("exp", reason="baseline", wait=True)
    script = tmp_path / "goldfish_client.py"
    script.write_text(example(), encoding="utf-8")
    env = server_env()  # `goldfish` on PATH, as the docs assume
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run([sys.executable, str(script), str(project.root)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"^\d+ tools, e\.g\. status, ", out, re.M)
    assert f"goal: {GOAL}" in out
    assert f"run {run_id} done" in out
    assert "no run 'r-20000101-000000'" in out and "hint: list runs" in out
    assert project.db.one("SELECT 1 FROM notes WHERE text = 'checked from a script'")


def test_the_readme_says_how_an_agent_starts_a_project(tmp_path: Path) -> None:
    """The README's agent start-up commands, run as written: `goldfish init`, then the server
    command the client is given, then `status` — the goal is there and the next step is named."""
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Agents: the MCP server", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "the README's agent section has no commands"
    lines = block.group(1).strip().splitlines()
    init = [line for line in lines if line.startswith("goldfish init ")]
    serve = [line for line in lines if "goldfish serve --project" in line]
    assert init and serve, lines
    env = server_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PWD"] = str(tmp_path)
    done = subprocess.run(["bash", "-c", init[0]], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    goal = re.search(r'--goal "([^"]+)"', init[0])
    assert goal is not None
    args = subprocess.run(["bash", "-c", "printf '%s\\n' " + serve[0].split(" -- ", 1)[1]],
                          env=env, cwd=tmp_path, capture_output=True, text=True).stdout.split()
    assert args[:3] == ["goldfish", "serve", "--project"]

    async def first_call() -> str:
        command = shutil.which(args[0], path=env["PATH"])
        assert command is not None
        params = StdioServerParameters(command=command, args=args[1:], env=env)
        async with Client(params, read_timeout_seconds=60) as c:
            status = await c.call_tool("status", {})
            assert not status.is_error
            return "\n".join(getattr(part, "text", "") for part in status.content)

    text = anyio.run(first_call)
    assert goal.group(1) in text and "create_workspace(name, goal)" in text
