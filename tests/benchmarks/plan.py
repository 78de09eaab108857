"""Benchmark: planning a 500-stage chain with nothing changed (every stage reused).

Run: ``.venv/bin/python tests/benchmarks/plan.py [--stages 500]``

A project holds a chain ``s0 → s1 → … → s499`` (json signals). Its history is seeded with one
successful run of every stage — the records the engine writes (cache key, key parts, output
digest in the artifact store) computed by the engine's own planner functions — so the plan must
find every stage reusable. Measured: ``Engine.prepare`` (snapshot of the slot, load pipeline.yaml
and configs from the snapshot, merge configs, cache keys, one cache lookup per stage), median of
five. Budget: 0.2 s. Baselines in the same run: ``python -c pass`` (one interpreter start) and
parsing the same pipeline.yaml with PyYAML's C loader alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from goldfish.artifacts import ArtifactStore
from goldfish.init import init_project
from goldfish.runs import states
from goldfish.runs.engine import Engine
from goldfish.runs.plan import cache_key, runtime_hash

BUDGET = 0.2


def write_chain(root: Path, n: int) -> str:
    lines = ["name: chain", "stages:"]
    for i in range(n):
        lines.append(f"  - name: s{i}")
        lines.append("    module: modules/step.py")
        if i:
            lines.append(f"    inputs: {{x: {{from: s{i - 1}.x}}}}")
        lines.append("    outputs: {x: {type: json}}")
        lines.append(f"    config: {{k: {i}}}")
    text = "\n".join(lines) + "\n"
    (root / "modules").mkdir(parents=True)
    (root / "pipeline.yaml").write_text(text)
    (root / "modules" / "step.py").write_text(
        "from goldfish import io\nio.save_output('x', {'k': io.config()['k']})\n")
    return text


def seed_history(project, engine: Engine, tmp: Path) -> None:
    """One done stage run per stage, recorded as the engine records it."""
    loaded, plan = engine.prepare("w1")
    store = ArtifactStore.for_project(project)
    runtime = runtime_hash(project, project.config.default_profile)
    run_id = "r-20000101-000000"
    now = time.time()
    digest = None
    stages = {s.name: s for s in loaded.pipeline.stages}
    with project.tx() as conn:
        conn.execute("INSERT INTO runs (id, workspace, version_tag, state, created_at) "
                     "VALUES (?, 'chain', ?, 'done', ?)", (run_id, loaded.version.tag, now))
        for step in plan.steps:
            for pin in step.inputs.values():
                pin.digest = digest
            key, parts = cache_key(stages[step.stage], step.code_hash, step.config, step.inputs,
                                   runtime)
            out = tmp / f"{step.stage}.json"
            out.write_text(json.dumps({"k": step.config["k"]}))
            ref = store.store(out)
            digest = ref.digest
            conn.execute(
                "INSERT INTO stage_runs (run_id, stage, position, state, module, profile, "
                "cache_key, key_parts, created_at, finished_at) VALUES "
                "(?, ?, ?, 'done', ?, 'local', ?, ?, ?, ?)",
                (run_id, step.stage, step.position, step.module, key, json.dumps(parts), now,
                 now))
            conn.execute("INSERT INTO outputs (run_id, stage, name, type, digest, uri, size, "
                         "kind) VALUES (?, ?, 'x', 'json', ?, ?, ?, 'file')",
                         (run_id, step.stage, ref.digest, ref.uri, ref.size))
    assert states.FINAL_RUN


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        text = write_chain(tmp / "src", args.stages)
        project = init_project(tmp / "project", name="bench", from_dir=tmp / "src",
                               workspace="chain")
        engine = Engine(project)
        seed_history(project, engine, tmp)
        times, plan = [], None
        for _ in range(5):
            fresh = Engine(project)
            start = time.perf_counter()
            _, plan = fresh.prepare("w1")
            times.append(time.perf_counter() - start)
        assert plan is not None
        reused = sum(s.action == "reuse" for s in plan.steps)
        assert reused == args.stages, f"only {reused} of {args.stages} stages reusable"
        python = statistics.median(
            timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
            for _ in range(5))
        parse = statistics.median(timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader))
                                  for _ in range(5))
        t = statistics.median(times)
        print(f"plan of a {args.stages}-stage chain, nothing changed ({reused} reused): "
              f"{t * 1000:.1f} ms (median of 5; best {min(times) * 1000:.1f} ms)")
        print(f"  budget {BUDGET * 1000:.0f} ms: ratio {t / BUDGET:.2f} "
              f"({'OK' if t <= BUDGET else 'OVER'})")
        print(f"  baseline python -c pass: {python * 1000:.1f} ms, ratio {t / python:.2f}")
        print(f"  baseline yaml C-parse of pipeline.yaml alone: {parse * 1000:.1f} ms, "
              f"ratio {t / parse:.2f}")
        project.db.close()
        return 0 if t <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
