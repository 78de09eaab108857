"""Benchmark: ``goldfish backup`` / ``goldfish restore`` against a plain ``tar`` of ``.goldfish/``.

Run: ``.venv/bin/python tests/benchmarks/backup.py [--runs 3000] [--versions 150] [--rounds 3]``

The project is built once: a real workspace saved ``--versions`` times (one changed file each:
loose objects and packs in the version store), ``--runs`` recorded runs with a stage run, two
transitions, a note and an output each (every output a distinct stored object, a few of them
1 MB, the rest small), written through the services' tables and the artifact store, plus real
run logs. Then, per round and alternating, as whole processes (what a user runs):

* a full backup into an empty folder vs ``tar -cf`` of ``.goldfish/``,
* after a small change (a note and a saved version), a second backup into the same folder (the
  incremental case) vs ``tar -cf`` again (tar has no increments),
* ``goldfish restore`` into an empty folder vs ``tar -xf``.

Printed: medians of each (seconds), the ratios goldfish/tar, and the sizes (the backup folder
after the first and after the second backup vs one tar file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goldfish.testing.projects import GOLDFISH


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["GOLDFISH_LOAD_PLUGINS"] = ""
    env["GOLDFISH_NO_RECONCILE"] = "1"
    return env


def build(root: Path, runs: int, versions: int) -> Path:
    from goldfish.artifacts import ArtifactStore
    from goldfish.testing.projects import CHAIN, make_project
    from goldfish.workspaces import Workspaces

    project = make_project(root, CHAIN, name="bench-backup")
    ws = Workspaces(project)
    for i in range(versions):
        (project.slot_path("w1") / "configs").mkdir(exist_ok=True)
        (project.slot_path("w1") / "configs" / "train.yaml").write_text(f"lr: {i / 1000}\n")
        ws.save_version("w1", f"lr {i}")
    store = ArtifactStore.for_project(project)
    scratch = root / "scratch"
    scratch.mkdir()
    now = time.time()
    rows_runs, rows_stages, rows_out, rows_tr, rows_notes = [], [], [], [], []
    for i in range(runs):
        run_id = f"r-20260101-{i:06x}"
        blob = scratch / "out.bin"
        size = 1024 * 1024 if i % 500 == 0 else 2048
        blob.write_bytes(os.urandom(size))
        ref = store.store(blob)
        rows_runs.append((run_id, "exp", 1, "exp-v1", "done", "{}", now - runs + i))
        rows_stages.append((run_id, "train", 0, "done", now - runs + i))
        rows_out.append((run_id, "train", "model", "file", ref.digest, ref.uri, ref.size, "file"))
        rows_tr += [(run_id, "", "queued", "running", now), (run_id, "", "running", "done", now)]
        rows_notes.append(("note", f"run {i}: lr {i / 1000}", now))
        log_dir = project.runs_dir / run_id / "train"
        log_dir.mkdir(parents=True)
        (log_dir / "log.txt").write_text(f"epoch 1 loss {1 / (i + 1)}\n" * 20)
        (log_dir / "metrics.jsonl").write_text(
            "".join(f'{{"name":"loss","value":{1 / (s + 1)},"step":{s}}}\n' for s in range(30)))
    db = sqlite3.connect(project.db_path)
    db.executemany("INSERT INTO runs (id, workspace, version, version_tag, state, reason, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", rows_runs)
    db.executemany("INSERT INTO stage_runs (run_id, stage, position, state, created_at) "
                   "VALUES (?, ?, ?, ?, ?)", rows_stages)
    db.executemany("INSERT INTO outputs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows_out)
    db.executemany("INSERT INTO transitions (run_id, stage, from_state, to_state, at) "
                   "VALUES (?, ?, ?, ?, ?)", rows_tr)
    db.executemany("INSERT INTO notes (kind, text, at) VALUES (?, ?, ?)", rows_notes)
    db.commit()
    db.close()
    shutil.rmtree(scratch)
    return project.root


def timed(*cmd: str, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=cwd)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return took


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def change(root: Path, i: int) -> None:
    subprocess.run([GOLDFISH, "--project", str(root), "note", f"round {i}"], env=_env(),
                   check=True, capture_output=True)
    (root / "workspaces" / "w1" / f"round{i}.txt").write_text(f"{i}\n")
    subprocess.run([GOLDFISH, "--project", str(root), "save", "w1", "-m", f"round {i}"],
                   env=_env(), check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--versions", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="gf-bench-backup-"))
    try:
        t0 = time.perf_counter()
        root = build(base / "p", args.runs, args.versions)
        gd = root / ".goldfish"
        files = sum(1 for p in gd.rglob("*") if p.is_file())
        print(f"project: {args.runs} runs, {args.versions} versions, {files} files in .goldfish/ "
              f"({du(gd) / 1e6:.1f} MB), built in {time.perf_counter() - t0:.1f}s")
        res: dict[str, list[float]] = {k: [] for k in (
            "tar", "full", "tar2", "incr", "untar", "restore")}
        sizes: dict[str, int] = {}
        for i in range(args.rounds):
            work = base / f"round{i}"
            work.mkdir()
            tar_file = work / "goldfish.tar"
            res["tar"].append(timed("tar", "-cf", str(tar_file), "-C", str(root), ".goldfish"))
            dest = work / "bk"
            res["full"].append(timed(GOLDFISH, "--project", str(root), "backup", str(dest)))
            sizes["tar"], sizes["full"] = du(tar_file), du(dest)
            change(root, i)
            tar_file.unlink()
            res["tar2"].append(timed("tar", "-cf", str(tar_file), "-C", str(root), ".goldfish"))
            res["incr"].append(timed(GOLDFISH, "--project", str(root), "backup", str(dest)))
            sizes["after_incr"] = du(dest)
            out = work / "untar"
            out.mkdir()
            res["untar"].append(timed("tar", "-xf", str(tar_file), "-C", str(out)))
            res["restore"].append(timed(GOLDFISH, "restore", str(dest), str(work / "restored")))
            shutil.rmtree(work)
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"rounds: {args.rounds} (medians, seconds; whole processes)")
        print(f"  full backup  {med['full']:.2f}  vs tar -cf {med['tar']:.2f}   "
              f"ratio {med['full'] / med['tar']:.2f}")
        print(f"  incremental  {med['incr']:.2f}  vs tar -cf {med['tar2']:.2f}   "
              f"ratio {med['incr'] / med['tar2']:.2f}")
        print(f"  restore      {med['restore']:.2f}  vs tar -xf {med['untar']:.2f}   "
              f"ratio {med['restore'] / med['untar']:.2f}")
        print(f"  size: backup folder {sizes['full'] / 1e6:.1f} MB (after the incremental one "
              f"{sizes['after_incr'] / 1e6:.1f} MB, +{(sizes['after_incr'] - sizes['full']) / 1e3:.0f}"
              f" KB) vs tar {sizes['tar'] / 1e6:.1f} MB; ratio "
              f"{sizes['full'] / sizes['tar']:.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
