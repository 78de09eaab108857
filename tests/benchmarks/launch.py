"""Benchmark: launch overhead from ``run`` to the stage's first line, on a 1,000-file workspace.

Run: ``.venv/bin/python tests/benchmarks/launch.py [--files 1000]``

A workspace of ``--files`` small files plus a one-stage pipeline whose module prints a line at
once. Measured, as a long-lived Goldfish process (the MCP server) pays it: ``Engine.run(..,
force=True)`` — snapshot (stat-cached), load and plan from the snapshot, record, preflight hooks,
export the snapshot into the job directory, write job.json, launch the detached supervisor,
which starts the stage — until ``log.txt`` holds the stage's first line. Each round edits one
file so every run snapshots a new version. Baseline in the same run: ``python -c 'print(1)'``
from spawn to its output line — one interpreter start, which the stage pays anyway. Budget: the
difference ≤ 300 ms. Also shown: the same through the ``goldfish run`` console script.
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

from goldfish.init import init_project
from goldfish.runs.engine import Engine

BUDGET = 0.3
PIPELINE = """name: one
stages:
  - name: hello
    outputs: {out: {type: json}}
"""
MODULE = """print("first line", flush=True)
from goldfish import io
io.save_output("out", {"ok": True})
"""


def make_workspace(root: Path, files: int) -> None:
    (root / "modules").mkdir(parents=True)
    (root / "pipeline.yaml").write_text(PIPELINE)
    (root / "modules" / "hello.py").write_text(MODULE)
    for i in range(files - 2):
        sub = root / "lib" / f"pkg{i % 20}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"mod{i}.py").write_text(f"VALUE = {i}\n" + "# padding\n" * 20)


def first_line(log: Path, deadline: float) -> float:
    while time.monotonic() < deadline:
        try:
            if b"\n" in log.read_bytes():
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.001)
    raise TimeoutError(f"no first line in {log}")


def python_baseline() -> float:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "print(1)"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    end = time.perf_counter()
    proc.wait()
    return end - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        make_workspace(tmp / "src", args.files)
        project = init_project(tmp / "project", name="bench", from_dir=tmp / "src",
                               workspace="big")
        engine = Engine(project)
        touched = project.slot_path("w1") / "lib" / "pkg0" / "mod0.py"
        times = []
        for i in range(args.rounds + 1):
            touched.write_text(f"VALUE = {i}\n")
            start = time.perf_counter()
            run_id = engine.run("w1", force=True)
            log = project.runs_dir / run_id / "hello" / "log.txt"
            end = first_line(log, time.monotonic() + 30)
            engine.wait(run_id, timeout=30)
            if i:  # the first round warms the snapshot's stat cache, like any earlier run
                times.append(end - start)
        cli_times = []
        goldfish = str(Path(sys.executable).with_name("goldfish"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
        for i in range(3):
            touched.write_text(f"VALUE = cli{i}\n")
            start = time.perf_counter()
            out = subprocess.run([goldfish, "--project", str(project.root), "run", "w1",
                                  "--no-cache"], env=env, capture_output=True, text=True,
                                 check=True).stdout
            run_id = out.split()[1]
            end = first_line(project.runs_dir / run_id / "hello" / "log.txt",
                             time.monotonic() + 30)
            engine.wait(run_id, timeout=30)
            cli_times.append(end - start)
        base = statistics.median(python_baseline() for _ in range(7))
        t = statistics.median(times)
        overhead = t - base
        print(f"run → first line of the stage, {args.files}-file workspace: {t * 1000:.1f} ms "
              f"(median of {len(times)})")
        print(f"  baseline python -c 'print(1)': {base * 1000:.1f} ms; ratio {t / base:.2f}")
        print(f"  overhead beyond Python's start: {overhead * 1000:.1f} ms; budget "
              f"{BUDGET * 1000:.0f} ms: ratio {overhead / BUDGET:.2f} "
              f"({'OK' if overhead <= BUDGET else 'OVER'})")
        print(f"  through the `goldfish run` console script (incl. its own start and imports): "
              f"{statistics.median(cli_times) * 1000:.1f} ms")
        project.db.close()
        return 0 if overhead <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
