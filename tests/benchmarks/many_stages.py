"""Benchmark: runs of a many-stage chain, linear in the number of stages.

Run: ``.venv/bin/python tests/benchmarks/many_stages.py [--sizes 50,200,500] [--full 50]``

1. Every stage reused, at each size: a chain ``s0 → … → sN-1`` (json signals) run once, then
   ``Engine.run(wait=True)`` again with nothing changed, so every stage is reused. Measured: the
   second run, whole (snapshot, plan, records, every stage's reuse, closing the run). Budget:
   1.0 s at 500 stages. Baseline in the same run: the plan alone (``Engine.prepare``), which the
   issue measured at 0.5 s of the earlier 10.4 s; the growth per size is printed (linear: the
   time per stage stays flat).
2. The first full run at ``--full`` stages (real stage processes): wall time per stage. Budget
   150 ms. Baseline in the same run: starting one stage process by hand
   (``python -m goldfish._stage`` is what a stage costs at least: ``python -c "import
   goldfish.io"``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goldfish.init import init_project
from goldfish.runs.engine import Engine
from plan import seed_history, write_chain

BUDGET_REUSED = 1.0
BUDGET_STAGE = 0.150


def reused(tmp: Path, n: int, full: bool) -> tuple[float, float, float | None]:
    src = tmp / f"src{n}"
    write_chain(src, n)
    project = init_project(tmp / f"p{n}", name="bench", from_dir=src, workspace="chain")
    start = time.perf_counter()
    first = Engine(project).run("w1", wait=True) if full else None
    first_time = time.perf_counter() - start if full else None
    if first is None:
        seed_history(project, Engine(project), tmp)  # one done run, as plan.py records it
    start = time.perf_counter()
    _, plan = Engine(project).prepare("w1")
    plan_time = time.perf_counter() - start
    assert sum(s.action == "reuse" for s in plan.steps) == n, "not every stage is reusable"
    start = time.perf_counter()
    run_id = Engine(project).run("w1", wait=True)
    run_time = time.perf_counter() - start
    states = {r[0] for r in project.db.query("SELECT state FROM stage_runs WHERE run_id = ?",
                                             (run_id,))}
    assert states == {"reused"}, states
    project.db.close()
    return run_time, plan_time, first_time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="50,200,500")
    parser.add_argument("--full", type=int, default=50, help="stages of the first full run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ok = True
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        print("1. a second run with every stage reused")
        for n in sizes:
            runs = [reused(tmp / f"r{n}-{i}", n, full=False) for i in range(args.repeat)]
            run_time = statistics.median(r[0] for r in runs)
            plan_time = statistics.median(r[1] for r in runs)
            line = (f"  {n:>4} stages: {run_time:.3f} s ({run_time / n * 1000:.2f} ms/stage); "
                    f"plan alone {plan_time:.3f} s, ratio {run_time / plan_time:.2f}")
            if n == 500:
                ok &= run_time <= BUDGET_REUSED
                line += f"; budget {BUDGET_REUSED} s: "
                line += "OK" if run_time <= BUDGET_REUSED else "OVER"
            print(line)
        print(f"2. the first full run of {args.full} stages (a process per stage)")
        full = reused(tmp / "full", args.full, full=True)[2]
        assert full is not None
        per_stage = full / args.full
        starts = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import goldfish.io"], check=True)
            starts.append(time.perf_counter() - start)
        floor = statistics.median(starts)
        ok &= per_stage <= BUDGET_STAGE
        print(f"  {full:.2f} s, {per_stage * 1000:.0f} ms/stage; one stage process alone "
              f"{floor * 1000:.0f} ms, ratio {per_stage / floor:.2f}; budget "
              f"{BUDGET_STAGE * 1000:.0f} ms: {'OK' if per_stage <= BUDGET_STAGE else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
