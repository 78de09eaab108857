"""Benchmark: content-addressed storing of outputs, and launching a detached local stage.

Run: ``.venv/bin/python tests/benchmarks/artifacts_and_launch.py [--mib 256] [--files 200]``

store: a directory of ``--files`` files totalling ``--mib`` MiB is stored in a ``file://`` store
twice. Baseline, measured in the same run: ``shutil.copytree`` of the same directory (what a
non-deduplicating store pays at least) and a bare sha256 pass over it (what any content hash pays).
The first store should cost about copy + hash; the second (identical content) only the hash.

materialize: hardlinking the stored directory back out vs ``shutil.copytree``.

launch: ``LocalBackend.launch`` returns once the detached supervisor is forked; baseline is
``subprocess.run([python, "-c", "pass"])`` — one interpreter start, which launch also pays.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goldfish.artifacts import ArtifactStore
from goldfish.builtins.file_storage import FileStorage
from goldfish.builtins.local_compute import LocalBackend
from goldfish.testing.contracts import wait_final, write_job_dir


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def _hash_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    h.update(chunk)


def bench_store(tmp: Path, mib: int, files: int) -> None:
    src = tmp / "src"
    per_file = mib * 1024 * 1024 // files
    for i in range(files):
        (src / f"d{i % 10}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 10}" / f"f{i}.bin").write_bytes(os.urandom(per_file))
    (tmp / "project").mkdir()
    store = ArtifactStore(FileStorage(tmp / "project", {}), "file://store")
    copy = _timed(lambda: shutil.copytree(src, tmp / "copy"))
    hashing = _timed(lambda: _hash_tree(src))
    first = _timed(lambda: store.store(src))
    second = _timed(lambda: store.store(src))
    ref = store.store(src)
    link = _timed(lambda: store.materialize(ref, tmp / "linked"))
    plain = _timed(lambda: shutil.copytree(src, tmp / "copy2"))
    print(f"store {mib} MiB in {files} files:")
    print(f"  baseline copytree {copy:.3f}s, sha256 pass {hashing:.3f}s")
    print(f"  first store  {first:.3f}s  = {first / (copy + hashing):.2f}x (copy + hash)")
    print(f"  second store {second:.3f}s  = {second / hashing:.2f}x (hash alone), "
          f"{second / first:.2f}x the first store")
    print(f"  materialize (hardlinks) {link:.3f}s = {link / plain:.2f}x copytree ({plain:.3f}s)")


def bench_launch(tmp: Path, repeat: int) -> None:
    backend = LocalBackend(tmp, {})
    launches, spawns = [], []
    for i in range(repeat):
        job = write_job_dir(tmp / f"job{i}", "pass")
        launches.append(_timed(lambda job=job: wait_handles.append(backend.launch(job))))
        spawns.append(_timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)))
    for handle in wait_handles:
        wait_final(backend, handle, 60)
    launch, spawn = statistics.median(launches), statistics.median(spawns)
    print(f"launch (median of {repeat}): {launch * 1000:.1f} ms = {launch / spawn:.2f}x one "
          f"interpreter start ({spawn * 1000:.1f} ms)")


wait_handles: list = []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as raw:
        bench_store(Path(raw), args.mib, args.files)
    with tempfile.TemporaryDirectory() as raw:
        bench_launch(Path(raw), args.repeat)


if __name__ == "__main__":
    main()
