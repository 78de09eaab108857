"""Benchmark: the dashboard's live run page asks for a running stage's curves every second.

Run: ``.venv/bin/python tests/benchmarks/live_curves.py [--sizes 10000,100000,1000000]``

For each size, a ``metrics.jsonl`` of that many points (two metrics, interleaved, as a training
loop logs them) is followed by :class:`goldfish.metrics.CurveTails` (what ``metric_curves``
uses); then 1,000 points are appended, as a second of training would, and the page asks
again. Baseline, in the same run: the earlier path, which read and decoded the whole file on
every request. Printed: the first request, the next ones (median of 5 rounds of append + ask),
the earlier full read, and the ratio next / earlier.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

from goldfish import metrics
from goldfish.metrics import MetricPoint, read_all

APPENDED = 1000


def lines(start: int, n: int) -> str:
    out = []
    for i in range(start, start + n):
        name = "loss" if i % 2 == 0 else "acc"
        out.append(json.dumps({"n": name, "v": 1.0 / (i + 1), "s": i // 2, "t": 1.7e9 + i}))
    return "\n".join(out) + "\n"


def earlier(path: Path) -> dict[str, list[tuple[float, float, float]]]:
    """The earlier metric_curves body: the whole file, every request."""
    by_name: dict[str, list[MetricPoint]] = {}
    for p in read_all(path):
        by_name.setdefault(p.name, []).append(p)
    out = {}
    for name, points in by_name.items():
        series = [(float(p.step if p.step is not None else i), p.value, p.time)
                  for i, p in enumerate(points)]
        out[name] = [x for x in series if math.isfinite(x[1])][-metrics.CURVE_POINTS:]
    return out


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    print(f"live run page: curves of a growing metrics.jsonl ({APPENDED} points appended "
          "between requests)")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"m{n}.jsonl"
            path.write_text(lines(0, n))
            tails = metrics.CurveTails()
            first = timed(lambda: tails.of(path))  # noqa: B023
            nexts, fulls = [], []
            for r in range(5):
                with open(path, "a") as fh:
                    fh.write(lines(n + r * APPENDED, APPENDED))
                nexts.append(timed(lambda: tails.of(path)))  # noqa: B023
                fulls.append(timed(lambda: earlier(path)))  # noqa: B023
            assert tails.of(path) == earlier(path), "the tails differ from a full read"
            nxt, full = statistics.median(nexts), statistics.median(fulls)
            print(f"  {n:>9,} points: first request {first * 1000:8.1f} ms; next ones "
                  f"{nxt * 1000:6.1f} ms; earlier full read {full * 1000:8.1f} ms, "
                  f"ratio {nxt / full:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
