"""Benchmark: what a `plot_metrics` image costs now that matplotlib draws it.

Run: ``.venv/bin/python tests/benchmarks/plot_metrics.py [--rounds 5]``

first: a fresh interpreter imports ``goldfish_mcp.png`` and renders 3 panels (two 500-point loss
curves, a 500-point accuracy curve per run, a final value per run) — the cost of the first plot
in a server process, matplotlib's import included. next: the same render again in that process.
Baseline, measured in the same run: a fresh interpreter that only starts (``python -c pass``).
Prints the medians and the ratio first/baseline. The server's start-up does not pay any of this
(matplotlib is imported inside ``render``; `goldfish-mcp/tests/test_mcp_plot.py` checks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = """
import json, math, time
t0 = time.perf_counter()
from goldfish_mcp.png import Curve, render
curves = []
for run, k in (("r-20260101-aaaaaa", 40.0), ("r-20260101-bbbbbb", 90.0)):
    curves.append(Curve(run, "train.loss", [(i, 2.3 * math.exp(-i / k)) for i in range(500)]))
    curves.append(Curve(run, "train.accuracy", [(i, 1 - math.exp(-i / k)) for i in range(500)]))
    curves.append(Curve(run, "evaluate.accuracy", [(0, 0.9 if k < 50 else 0.8)]))
png, panels, size = render(curves)
t1 = time.perf_counter()
render(curves)
t2 = time.perf_counter()
print(json.dumps({"first": t1 - t0, "next": t2 - t1, "bytes": len(png), "panels": len(panels)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base, first, again = [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - start)
        out = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True,
                             text=True).stdout
        row = json.loads(out)
        first.append(row["first"])
        again.append(row["next"])
    b, f, n = (statistics.median(x) for x in (base, first, again))
    print(f"interpreter start (baseline): {b * 1000:.0f} ms")
    print(f"first plot (import + draw):   {f * 1000:.0f} ms  ({f / b:.1f}x baseline)")
    print(f"next plot (draw):             {n * 1000:.0f} ms  ({n / b:.1f}x baseline)")
    print(f"image: {row['bytes']} bytes, {row['panels']} panels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
