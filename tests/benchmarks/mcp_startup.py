"""Benchmark: `goldfish serve` from spawn to an initialized MCP session (budget 1.0 s), and how
much of it is the mcp SDK's.

Run: ``.venv/bin/python tests/benchmarks/mcp_startup.py [--rounds 7]``

Measured with the official MCP client over stdio, interleaved round by round:

* ``goldfish serve`` (the real console script, small project, ``GOLDFISH_LOAD_PLUGINS=mcp``):
  spawn, initialize handshake, until the session is usable;
* the SDK's share: a bare SDK server (``MCPServer("bare").run("stdio")``, nothing of Goldfish,
  the garbage collector paused during the import as ``goldfish serve`` does) measured the same
  way — interpreter start, ``import mcp.server`` and the handshake;
* ``python -c 'import mcp.server'`` (the SDK's import alone) and ``python -c pass`` (the
  interpreter), for information.

What Goldfish adds is the difference between the first two (plugins, the CLI parser, project
discovery, goldfish.yaml from its validation record, the database, the server's resources).
For information, the same with ``GOLDFISH_NO_CACHE=1`` (goldfish.yaml validated with pydantic,
plugin entry points scanned: the earlier path). Prints medians (min) and ratios; the exit code is
1 when the budget is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

BUDGET = 1.0
GOLDFISH = str(Path(sys.executable).with_name("goldfish"))
# with the garbage collector paused while the SDK builds its models, as `goldfish serve` does
BARE_SERVER = ("import gc\n"
               "gc.disable()\n"
               "from mcp.server import MCPServer\n"
               "server = MCPServer('bare')\n"
               "gc.freeze()\n"
               "gc.enable()\n"
               "server.run('stdio')\n")


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items()
           if not k.startswith("GOLDFISH_") and k != "PYTHONDONTWRITEBYTECODE"}
    out["GOLDFISH_LOAD_PLUGINS"] = "mcp"
    out.update(extra)
    return out


def process(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, env=env())
    return time.perf_counter() - start


CPU: dict[str, list[float]] = {}


def spawn_to_initialized(command: str, args: list[str], environ: dict[str, str],
                         label: str = "") -> float:
    """Seconds from spawn to a usable session. The server's CPU time (user + system, from
    spawn to its exit when the client closes) is kept under ``label``: less disturbed than
    wall time by other processes competing for the cores."""
    params = StdioServerParameters(command=command, args=args, env=environ)

    async def go() -> float:
        start = time.perf_counter()
        async with Client(params, mode="legacy") as client:
            elapsed = time.perf_counter() - start
            assert client.server_info is not None
        return elapsed

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = anyio.run(go)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        CPU.setdefault(label, []).append(after.ru_utime - before.ru_utime
                                         + after.ru_stime - before.ru_stime)
    return elapsed


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:6.0f} ms (min {min(values) * 1000:4.0f})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from goldfish.init import init_project

    with tempfile.TemporaryDirectory() as tmp:
        project = init_project(Path(tmp) / "project", name="bench", goal="startup")
        serve_args = ["serve", "--project", str(project.root)]
        warm = env(XDG_CACHE_HOME=str(Path(tmp) / "xdg"))
        cold = {**warm, "GOLDFISH_NO_CACHE": "1"}
        for _ in range(2):  # warm-up: .pyc files, the caches, the page cache
            spawn_to_initialized(GOLDFISH, serve_args, warm)
            spawn_to_initialized(sys.executable, ["-c", BARE_SERVER], warm)
        serve, bare, sdk_import, python = [], [], [], []
        for _ in range(args.rounds):
            serve.append(spawn_to_initialized(GOLDFISH, serve_args, warm, "serve"))
            bare.append(spawn_to_initialized(sys.executable, ["-c", BARE_SERVER], warm, "bare"))
            sdk_import.append(process("import mcp.server"))
            python.append(process("pass"))
        uncached = [spawn_to_initialized(GOLDFISH, serve_args, cold) for _ in range(3)]

    ours = statistics.median(s - b for s, b in zip(serve, bare, strict=True))
    total = statistics.median(serve)
    ok = total <= BUDGET
    print(f"rounds: {args.rounds} (median, min)")
    print(f"  goldfish serve, spawn -> initialized:  {ms(serve)}")
    print(f"  bare SDK server, spawn -> initialized: {ms(bare)}   (the SDK's share)")
    print(f"  python -c 'import mcp.server':        {ms(sdk_import)}")
    print(f"  python -c pass:                       {ms(python)}")
    print(f"  ratio goldfish serve / bare SDK server: "
          f"{statistics.median(s / b for s, b in zip(serve, bare, strict=True)):.2f}x")
    print(f"  Goldfish's own share (serve - bare, per round): {ours * 1000:.0f} ms "
          f"({ours / total:.0%} of serve)")
    cpu_ours = statistics.median(s - b for s, b in zip(CPU["serve"], CPU["bare"], strict=True))
    print(f"  CPU time (user+sys), median: serve {statistics.median(CPU['serve']) * 1000:.0f} ms, "
          f"bare SDK server {statistics.median(CPU['bare']) * 1000:.0f} ms; Goldfish's share "
          f"{cpu_ours * 1000:.0f} ms")
    print(f"  without caches (GOLDFISH_NO_CACHE=1, the earlier path), for information: "
          f"{ms(uncached)}")
    print(f"  budget {BUDGET * 1000:.0f} ms: {'OK' if ok else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
