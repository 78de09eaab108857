"""Benchmark: ``runs --sort METRIC``, a sorted first page, at 1k / 10k / 100k runs.

Run: ``.venv/bin/python tests/benchmarks/runs_sort.py [--sizes 1000,10000,100000]``

A project database holds N finished runs of a two-stage pipeline (``train`` logs ``loss``,
``evaluate`` logs ``accuracy`` in nine runs of ten), with reasons, some tags and conclusions, as
the engine records them. Measured in-process: ``records.list_runs(sort="accuracy:desc",
limit=20)`` (and a filtered one), median of five after one warm-up. Budget: 50 ms at 100k runs.
Baseline in the same run: the earlier ``list_runs`` (every run fetched, each reason decoded, the
metric of every run looked up, sorted in Python before the limit), reimplemented here as it was.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from goldfish.runs.records import _metric_values, list_runs
from goldfish.testing.projects import make_project

BUDGET = 0.050
FILES = {"pipeline.yaml": "name: x\nstages:\n  - name: a\n    outputs: {o: {type: json}}\n",
         "modules/a.py": "from goldfish import io\nio.save_output('o', {})\n"}


def seed(project: Any, n: int) -> None:
    rng = random.Random(n)
    runs, stages, metrics, tags, conclusions = [], [], [], [], []
    for i in range(n):
        run_id = f"r-20250101-{i:06x}"
        runs.append((run_id, f"ws{i % 5}", f"ws{i % 5}-v{i}", "done" if i % 10 else "failed",
                     json.dumps({"description": f"try {i}: lr sweep " + "x" * 60,
                                 "hypothesis": "a lower lr helps " * 5}), 1.7e9 + i))
        stages += [(run_id, "train", 0), (run_id, "evaluate", 1)]
        metrics.append((run_id, "train", "loss", rng.random()))
        if i % 10:
            metrics.append((run_id, "evaluate", "accuracy", rng.random()))
        if i % 50 == 0:
            tags.append((f"t{i}", run_id))
        if i % 7 == 0:
            conclusions.append((run_id, "success"))
    with project.tx() as conn:
        conn.executemany("INSERT INTO runs (id, workspace, version_tag, state, reason, "
                         "created_at) VALUES (?, ?, ?, ?, ?, ?)", runs)
        conn.executemany("INSERT INTO stage_runs (run_id, stage, position, state, created_at) "
                         "VALUES (?, ?, ?, 'done', 0)", stages)
        conn.executemany("INSERT INTO metric_summaries (run_id, stage, name, last, min, max, "
                         "count, updated_at) VALUES (?, ?, ?, ?, 0, 1, 10, 0)", metrics)
        conn.executemany("INSERT INTO tags (name, kind, target, created_at) VALUES "
                         "(?, 'run', ?, 0)", tags)
        conn.executemany("INSERT INTO conclusions (run_id, outcome, at) VALUES (?, ?, 0)",
                         conclusions)


def earlier_list_runs(project: Any, sort: str, limit: int = 20, workspace: str | None = None,
                      ) -> list[tuple[str, float | None]]:
    """``list_runs`` before issue 10: fetch and decode every run, sort in Python, then limit."""
    where, params = "", []
    if workspace:
        where, params = " WHERE r.workspace = ?", [workspace]
    rows = project.db.query(
        "SELECT r.id, r.workspace, r.version_tag, r.state, r.reason, r.created_at, c.outcome "
        f"FROM runs r LEFT JOIN conclusions c ON c.run_id = r.id{where} "
        "ORDER BY r.created_at DESC", params)
    out = [{"id": r["id"], "description": json.loads(r["reason"]).get("description", ""),
            "metric": None} for r in rows]
    tags: dict[str, list[str]] = {}
    for t in project.db.query("SELECT name, target FROM tags WHERE kind = 'run'"):
        tags.setdefault(t["target"], []).append(t["name"])
    name, _, direction = sort.partition(":")
    values = _metric_values(project, [r["id"] for r in out], name)
    for r in out:
        r["metric"] = values.get(r["id"])
    present = [r for r in out if r["metric"] is not None]
    missing = [r for r in out if r["metric"] is None]
    present.sort(key=lambda r: r["metric"], reverse=(direction or "desc") == "desc")
    return [(r["id"], r["metric"]) for r in (present + missing)[:limit]]


def timed(fn: Any, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    ok = True
    print("runs --sort accuracy:desc, first page of 20, in-process")
    with tempfile.TemporaryDirectory() as tmpdir:
        for n in (int(s) for s in args.sizes.split(",")):
            project = make_project(Path(tmpdir) / f"p{n}", FILES)
            seed(project, n)
            new = [(r.id, r.metric) for r in list_runs(project, sort="accuracy:desc")]
            assert new == earlier_list_runs(project, "accuracy:desc"), "orders differ"
            t = timed(lambda: list_runs(project, sort="accuracy:desc"))  # noqa: B023
            f = timed(lambda: list_runs(project, sort="accuracy:desc", workspace="ws2"))  # noqa: B023
            base = timed(lambda: earlier_list_runs(project, "accuracy:desc"), 3)  # noqa: B023
            line = (f"  {n:>7,} runs: {t * 1000:.2f} ms (workspace filter {f * 1000:.2f} ms); "
                    f"earlier list_runs {base * 1000:.1f} ms, ratio {t / base:.2g}")
            if n == 100_000:
                ok &= t <= BUDGET
                line += f"; budget {BUDGET * 1000:.0f} ms: {'OK' if t <= BUDGET else 'OVER'}"
            print(line)
            project.db.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
