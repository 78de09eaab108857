"""Benchmark: host-side metric ingestion, and a stage's end to its metrics being queryable.

Run: ``.venv/bin/python tests/benchmarks/metric_ingest.py [--sizes 10000,100000,1000000]``

1. Ingestion per point, at each size: one pass of ``goldfish.runs.ingest.Ingest`` over a
   ``metrics.jsonl`` of N points as ``goldfish.io`` writes them (three metrics), summaries written
   to the project's SQLite. Baselines in the same run: ``json.loads`` per line alone (the floor
   of a line-by-line reader) and the engine's earlier reader (``_read_points`` + ``summarize``,
   reimplemented here as it was). Budget 2 µs per point.
2. A watched stage, at each size: the file grows over 50 watch ticks; total host work of the
   ticks plus the final pass. The earlier engine re-read the file from byte 0 on every tick
   (quadratic; measured up to 10^5 points, where it already takes seconds), the new one reads
   from the cursor.
3. End to end at the largest size: a real run whose stage logs N points (``goldfish.io``) while
   ``Engine.wait`` watches it (goldfish-svs's ``check_metrics`` included when installed);
   measured from the stage's exit (``exit.json`` written) to the stage recorded ``done`` with its
   summaries. Budget 0.5 s, for a stage that trains between logging bursts (20 ms every 3,000
   points: 10^6 points in about 10 s). Printed too, without a budget: a stage that does nothing
   but log (10^6 points in 2-3 s), faster than the host checks them, so what is left at its
   exit is read then. Baseline in the same run: what the earlier engine did after the stage
   ended, two full reads of that file (the last tick and the finish).

Each figure is the median of R runs (default 3); the machine is shared, so run it a few times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from goldfish.runs.ingest import Ingest
from goldfish.runs.records import summarize
from goldfish.testing.projects import make_project

BUDGET_US = 2.0
BUDGET_END = 0.5
TICKS = 50
NAMES = ("loss", "lr", "grad_norm")


def write_metrics(path: Path, n: int) -> bytes:
    line = '{"n":"%s","v":%r,"s":%d,"t":%.3f}\n'
    text = "".join(line % (NAMES[i % 3], 1.0 / (i + 1), i // 3, 1.7e9 + i * 1e-3)
                   for i in range(n)).encode()
    path.write_bytes(text)
    return text


def old_read(path: Path) -> dict[str, dict[str, Any]]:
    """The engine's reader before issue 10: every line from byte 0, then summarize each metric."""
    history: dict[str, list[float]] = {}
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                raw = json.loads(line)
                value = float(raw["v"])
            except (ValueError, KeyError, TypeError):
                continue
            history.setdefault(str(raw.get("n")), []).append(value)
    return {name: summarize(values) for name, values in history.items()}


def loads_per_line(path: Path) -> None:
    loads = json.loads
    with open(path, "rb") as fh:
        for line in fh:
            loads(line)


def new_pass(project: Any, path: Path, offset: int = 0, state: str | None = None,
             ) -> tuple[int, str]:
    ingest = Ingest(path, offset, state)
    for _ in ingest.batches():
        pass
    with project.tx() as conn:
        ingest.write(conn, "r-bench", "train")
    return ingest.offset, ingest.state()


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(fn: Any, repeat: int) -> float:
    return statistics.median(timed(fn) for _ in range(repeat))


def per_point(project: Any, tmp: Path, sizes: list[int], repeat: int) -> bool:
    print("1. host-side ingestion, one pass (µs per point)")
    ok = True
    for n in sizes:
        path = tmp / f"m{n}.jsonl"
        write_metrics(path, n)
        new_pass(project, path)  # warm-up: the file in the page cache, lazy imports done
        new = median(lambda: new_pass(project, path), repeat) / n * 1e6  # noqa: B023
        floor = median(lambda: loads_per_line(path), repeat) / n * 1e6  # noqa: B023
        old = median(lambda: old_read(path), repeat) / n * 1e6  # noqa: B023
        ok &= new <= BUDGET_US
        print(f"  {n:>9,} points: {new:.2f} µs/pt  (json.loads per line {floor:.2f}, ratio "
              f"{new / floor:.2f}; earlier reader {old:.2f}, ratio {new / old:.2f}; budget "
              f"{BUDGET_US} µs: {'OK' if new <= BUDGET_US else 'OVER'})")
    return ok


def watched(project: Any, tmp: Path, sizes: list[int]) -> None:
    print(f"2. a watched stage: {TICKS} ticks while the file grows, then the final pass (s)")
    for n in sizes:
        path = tmp / f"w{n}.jsonl"
        text = write_metrics(tmp / "full.jsonl", n)
        cuts = [text.rfind(b"\n", 0, len(text) * (t + 1) // TICKS) + 1 for t in range(TICKS)]
        path.write_bytes(b"")
        new_total = 0.0
        cursor: tuple[int, str | None] = (0, None)
        for cut in cuts:
            with open(path, "ab") as fh:
                fh.write(text[path.stat().st_size:cut])
            new_total += timed(lambda: new_pass(project, path, *cursor))  # noqa: B023
            cursor = new_pass(project, path, *cursor)  # already at the end: a no-op pass
        old_total = None
        if n <= 100_000:
            path.write_bytes(b"")
            old_total = 0.0
            for cut in cuts:
                with open(path, "ab") as fh:
                    fh.write(text[path.stat().st_size:cut])
                old_total += timed(lambda: old_read(path))  # noqa: B023
            old_total += timed(lambda: old_read(path))  # noqa: B023  (the finish: all again)
        old = (f"earlier engine {old_total:.2f} s, ratio {new_total / old_total:.3f}"
               if old_total is not None else "earlier engine not run (quadratic: minutes)")
        print(f"  {n:>9,} points: {new_total:.3f} s ({new_total / n * 1e6:.2f} µs/pt); {old}")


STAGE = {
    "pipeline.yaml": """
        name: bench
        stages:
          - name: train
            outputs: {model: {type: json}}
            config: {n: 1000, pause: 0.0}
    """,
    "modules/train.py": """
        import time
        from goldfish import io
        n, pause = io.config()["n"], io.config()["pause"]
        log = io.log_metric
        for i in range(n // 3):
            log("loss", 1.0 / (i + 1), i)
            log("lr", 0.1, i)
            log("grad_norm", 1.0 + i % 7, i)
            if pause and i % 1000 == 999:
                time.sleep(pause)  # the training step between logging bursts
        io.save_output("model", {"w": 1.0})
    """,
}


def end_to_end(tmp: Path, n: int, repeat: int, pause: float) -> bool:
    from goldfish.runs.engine import Engine
    from goldfish.testing.projects import write_files

    what = (f"a pause of {pause * 1000:.0f} ms every 3,000 points (a training step)" if pause
            else "a tight loop of log_metric, nothing else: the host cannot keep up, worst case")
    print(f"3. end to end, {n:,} points logged by a real stage with {what}: stage exit → "
          "queryable")
    project = make_project(tmp / f"e2e{pause}", STAGE, workspace="bench")
    ends, olds = [], []
    for i in range(repeat):
        write_files(project.slot_path("w1"),
                    {"configs/train.yaml": f"n: {n + i * 3}\npause: {pause}\n"})
        engine = Engine(project)
        run_id = engine.run("w1", wait=True)
        row = project.db.one("SELECT state, finished_at FROM stage_runs WHERE run_id = ?",
                             (run_id,))
        assert row is not None and row[0] == "done", row
        job = engine.job_dir(run_id, "train")
        exited = (job / "exit.json").stat().st_mtime
        count = project.db.one("SELECT count FROM metric_summaries WHERE run_id = ? AND "
                               "name = 'loss'", (run_id,))
        assert count is not None and count[0] == (n + i * 3) // 3, count
        ends.append(row[1] - exited)
        olds.append(2 * timed(lambda: old_read(job / "metrics.jsonl")))  # noqa: B023
    end, old = statistics.median(ends), statistics.median(olds)
    print(f"  {end:.3f} s (median of {repeat}; runs {', '.join(f'{e:.3f}' for e in ends)}); "
          f"earlier engine's two full reads {old:.2f} s, ratio {end / old:.3f}; budget "
          f"{BUDGET_END} s: {'OK' if end <= BUDGET_END else 'OVER'}")
    project.db.close()
    return end <= BUDGET_END


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        project = make_project(tmp / "p", STAGE, workspace="bench")
        ok = per_point(project, tmp, sizes, args.repeat)
        watched(project, tmp, sizes)
        project.db.close()
        ok &= end_to_end(tmp, sizes[-1], args.repeat, pause=0.02)
        end_to_end(tmp, sizes[-1], 1, pause=0.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
