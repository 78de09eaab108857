"""Benchmark: the `status` tool on a project with 10,000 recorded runs (budget: median round
trip ≤ 20 ms, answer ≤ ~2,000 tokens).

Run: ``.venv/bin/python tests/benchmarks/mcp_status.py [--runs 10000] [--calls 50]``

The runs (with stage runs, metric summaries, findings, conclusions and a ``@best`` tag) are
written straight into SQLite. A real ``goldfish serve`` subprocess answers over stdio through the
official client (handshake-era protocol, as today's agents speak it). Baseline in the same session: the MCP ``ping`` round trip (transport and
framing only). The answer's size counts every text block plus the structured content, at ~4
characters a token. The first call (which shows the new findings) is the one sized.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "goldfish-core" / "tests"))

from memory_support import many_runs, new_project

LATENCY_BUDGET = 0.020
TOKEN_BUDGET = 2000
GOLDFISH = str(Path(sys.executable).with_name("goldfish"))


def main() -> int:
    warnings.simplefilter("ignore")  # ping is deprecated in the newest protocol; it is our baseline
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = new_project(Path(tmp))
        t0 = time.perf_counter()
        many_runs(project, args.runs)
        print(f"generated {args.runs} runs in {time.perf_counter() - t0:.1f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
        env["GOLDFISH_LOAD_PLUGINS"] = "mcp"
        params = StdioServerParameters(command=GOLDFISH, env=env,
                                       args=["serve", "--project", str(project.root)])

        async def go() -> tuple[list[float], list[float], int]:
            async with Client(params, read_timeout_seconds=60, mode="legacy") as c:
                first = await c.call_tool("status", {})
                size = sum(len(getattr(b, "text", "")) for b in first.content)
                size += len(json.dumps(first.structured_content))
                pings, calls = [], []
                for _ in range(args.calls):
                    s = time.perf_counter()
                    await c.send_ping()
                    pings.append(time.perf_counter() - s)
                    s = time.perf_counter()
                    r = await c.call_tool("status", {})
                    calls.append(time.perf_counter() - s)
                    assert not r.is_error
            return pings, calls, size

        pings, calls, size = anyio.run(go)
    ping, status = statistics.median(pings), statistics.median(calls)
    tokens = size // 4
    ok = status <= LATENCY_BUDGET and tokens <= TOKEN_BUDGET
    print(f"baseline ping round trip: {ping * 1000:.2f} ms (median of {args.calls})")
    print(f"status round trip: {status * 1000:.2f} ms (median), ratio {status / ping:.1f}x ping; "
          f"budget {LATENCY_BUDGET * 1000:.0f} ms")
    print(f"status answer: {size} characters ≈ {tokens} tokens; budget {TOKEN_BUDGET} tokens")
    print("OK" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
