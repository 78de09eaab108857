"""Benchmark: ``goldfish gc`` on a project with 10,000 runs and 100,000 stored objects.

Run: ``.venv/bin/python tests/benchmarks/gc.py [--runs 10000] [--objects 100000] [-r 3]``

The project is built fast, straight into the database and the store layout: N runs of three
stages each with one output (a file) and one pinned input, so 3N outputs referenced; the rest of
the objects are unreferenced and old (half of them) or young (the other half, kept by the grace
period). The version store holds one version per 100 runs, saved as real snapshots.

Printed (the read-only figures are the median of R repetitions; gc itself runs once, as it
removes what it finds):
- baseline: a plain ``os.scandir`` walk of the object store (names and ``stat``) — the floor of
  any gc that has to look at every object once;
- ``gc --dry-run`` (list, mark from SQLite, decide; nothing removed) and the ratio to the baseline;
- baseline: unlinking as many files of the same layout (the filesystem's floor for removal);
- ``gc`` (the same plus deleting the unreferenced old objects and consolidating the version store)
  and its ratio to the walk plus the unlinks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from goldfish.lifecycle.gc import collect_garbage
from goldfish.testing.projects import CHAIN, make_project
from goldfish.workspaces import Workspaces


def _digest(i: int) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(f"object {i}".encode()).hexdigest()


def build(root: Path, runs: int, objects: int) -> Path:
    project = make_project(root, CHAIN, name="gc-bench")
    ws = Workspaces(project)
    store = project.goldfish_dir / "store"
    old = time.time() - 7 * 86400
    referenced = runs * 3
    for i in range(objects):
        hexpart = _digest(i)[7:]
        folder = store / "objects" / "sha256" / hexpart[:2]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / hexpart[2:]
        path.write_bytes(b"x" * (64 + i % 512))
        if i < referenced or i % 2 == 0:
            os.utime(path, (old, old))
    versions = []
    for v in range(max(1, runs // 100)):
        (project.slot_path("w1") / "notes.txt").write_text(f"version {v}\n")
        versions.append(ws.save_version("w1", f"v{v}"))
    now = time.time()
    run_rows, stage_rows, output_rows, input_rows = [], [], [], []
    for r in range(runs):
        run_id = f"r-20260101-{r:06x}"
        version = versions[r * len(versions) // runs]
        run_rows.append((run_id, "exp", version.number, version.tag, version.commit,
                         version.tree, "chain", "done", now - (runs - r)))
        for s, stage in enumerate(("prepare", "train", "evaluate")):
            digest = _digest(r * 3 + s)
            pin = {"in": {"type": "json", "digest": _digest(r * 3 + s - 1)}} if s else {}
            stage_rows.append((run_id, stage, s, "done", json.dumps(pin), now))
            output_rows.append((run_id, stage, "out", "json", digest,
                                f"file://.goldfish/store/objects/sha256/{digest[7:9]}/"
                                f"{digest[9:]}", 100))
            if s:
                input_rows.append((run_id, stage, "in", "json", run_id, "x", "out",
                                   _digest(r * 3 + s - 1)))
    with project.tx() as conn:
        conn.executemany("INSERT INTO runs (id, workspace, version, version_tag, commit_sha, "
                         "tree_sha, pipeline, state, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                         run_rows)
        conn.executemany("INSERT INTO stage_runs (run_id, stage, position, state, inputs, "
                         "created_at) VALUES (?,?,?,?,?,?)", stage_rows)
        conn.executemany("INSERT INTO outputs (run_id, stage, name, type, digest, uri, size) "
                         "VALUES (?,?,?,?,?,?,?)", output_rows)
        conn.executemany("INSERT INTO stage_inputs (run_id, stage, name, type, from_run, "
                         "from_stage, from_output, digest) VALUES (?,?,?,?,?,?,?,?)", input_rows)
    project.db.close()
    return project.root


def make_floor(root: Path, count: int) -> list[Path]:
    """``count`` read-only, old files laid out like store objects (256 folders)."""
    old = time.time() - 7 * 86400
    out = []
    for i in range(count):
        hexpart = _digest(-1 - i)[7:]
        folder = root / hexpart[:2]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / hexpart[2:]
        path.write_bytes(b"x" * (64 + i % 512))
        os.chmod(path, 0o444)
        os.utime(path, (old, old))
        out.append(path)
    return sorted(out)


def scandir_walk(store: Path) -> int:
    count = 0
    stack = [str(store)]
    while stack:
        for entry in os.scandir(stack.pop()):
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            else:
                entry.stat(follow_symlinks=False)
                count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("-r", "--repeat", type=int, default=3)
    args = parser.parse_args()
    from goldfish.project import Project

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        root = build(Path(tmp), args.runs, args.objects)
        os.sync()  # the build's writeback must not land inside a measurement
        print(f"built {args.runs} runs, {args.objects} objects in "
              f"{time.monotonic() - started:.1f}s")
        project = Project(root)
        store = root / ".goldfish" / "store"
        base, dry = [], []
        for _ in range(args.repeat):  # both only read: the same store serves every repetition
            t = time.perf_counter()
            seen = scandir_walk(store)
            base.append(time.perf_counter() - t)
            assert seen == args.objects, seen
            t = time.perf_counter()
            report = collect_garbage(project, dry_run=True)
            dry.append(time.perf_counter() - t)
        floor = make_floor(Path(tmp) / "floor", len(report.items))
        os.sync()
        t = time.perf_counter()
        for path in floor:  # the filesystem's own cost of removing that many read-only files
            os.unlink(path)
        unlink = time.perf_counter() - t
        t = time.perf_counter()
        done = collect_garbage(project)  # removes: measured once
        real = time.perf_counter() - t
        assert done.freed == report.freed and len(done.items) == len(report.items)
        t = time.perf_counter()
        scandir_walk(store)
        after = time.perf_counter() - t
        project.db.close()
    b, d = statistics.median(base), statistics.median(dry)
    print(f"baseline scandir walk of {args.objects} objects: {b:.3f}s (median of {args.repeat})")
    print(f"gc --dry-run: {d:.3f}s  ({d / b:.1f}x the walk)")
    print(f"baseline unlink of {len(done.items)} files of the same layout: {unlink:.3f}s")
    print(f"gc: {real:.3f}s  ({real / (b + unlink):.1f}x the walk plus the unlinks; removed "
          f"{len(done.items)} items, {done.freed} bytes; kept {done.kept_young} young "
          f"unreferenced objects); the walk afterwards: {after:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
