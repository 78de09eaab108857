"""Benchmark: `goldfish serve` from spawn to an initialized MCP session (budget 1.0 s).

Run: ``.venv/bin/python tests/benchmarks/mcp_startup.py [--rounds 7]``

Measured with the official MCP client over stdio: spawn the real ``goldfish serve`` console
script on a small project, then the initialize handshake, until the session is usable. Baseline
in the same run: spawning ``python -c 'print(1)'`` until its output line (one interpreter start,
which any stdio server pays). Prints the medians, their ratio, and whether the budget holds.
"""

from __future__ import annotations

import argparse
import os
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


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    out["GOLDFISH_LOAD_PLUGINS"] = "mcp"
    return out


def baseline() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, check=True)
    return time.perf_counter() - start


def spawn_to_initialized(root: Path) -> float:
    params = StdioServerParameters(command=GOLDFISH, args=["serve", "--project", str(root)],
                                   env=env())

    async def go() -> float:
        start = time.perf_counter()
        async with Client(params, mode="legacy") as client:
            elapsed = time.perf_counter() - start
            assert client.server_info is not None
        return elapsed

    return anyio.run(go)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from goldfish.init import init_project

    with tempfile.TemporaryDirectory() as tmp:
        project = init_project(Path(tmp) / "project", name="bench", goal="startup")
        spawn_to_initialized(project.root)  # warm the page cache and .pyc files
        base = statistics.median(baseline() for _ in range(args.rounds))
        serve = statistics.median(spawn_to_initialized(project.root) for _ in range(args.rounds))
    ok = serve <= BUDGET
    print(f"baseline python -c print(1): {base * 1000:.0f} ms")
    print(f"goldfish serve spawn → initialized: {serve * 1000:.0f} ms (median of {args.rounds})")
    print(f"ratio: {serve / base:.1f}x baseline; budget {BUDGET * 1000:.0f} ms: "
          f"{'OK' if ok else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
