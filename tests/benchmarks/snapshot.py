"""Benchmark: saving a version of a 10,000-file slot, against ``git add -A && git commit``.

Run: ``.venv/bin/python tests/benchmarks/snapshot.py [--dirs 100] [--files 100] [--rounds 3]``

Each round builds a fresh project (``goldfish init``) with one mounted workspace whose slot holds
``dirs × files`` files of ~256 bytes, and an identical git work tree next to it. It times:

Git runs with ``gc.auto=0`` so that no background repacking overlaps the measurements.

* first: ``Workspaces.save_version`` (walk, hash, store, commit, tag, database row and event) vs
  ``git add -A && git commit`` (one shell, two git processes) on the fresh tree;
* re-snapshot: after the same one-file edit in both trees, the same two operations again
  (several edits per round).

Goldfish is timed in-process (the CLI adds its start-up, ~0.1 s, on top). The two sides of each
step run back to back, so the ratio reported is the median of the per-step ratios goldfish / git
(robust against other processes loading the machine); medians and minima of the times are shown
too. Targets: first ≤ 1.5×, re-snapshot ≤ 1.0×; the exit code is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

FIRST_TARGET = 1.5
RESNAPSHOT_TARGET = 1.0
EDITS = 10


def fill_tree(root: Path, dirs: int, files: int) -> None:
    """``dirs`` folders of ``files`` 256-byte source files under ``root``."""
    for d in range(dirs):
        folder = root / f"pkg{d:03d}"
        folder.mkdir(parents=True)
        for f in range(files):
            line = f"# module {d}.{f}: some representative source text\n"
            (folder / f"mod{f:03d}.py").write_text((line * 8)[:256])


def _git(tree: Path, message: str) -> float:
    start = time.perf_counter()
    subprocess.run(f"git add -A && git commit -q -m '{message}'", shell=True, cwd=tree,
                   check=True)
    return time.perf_counter() - start


def _round(base: Path, dirs: int, files: int) -> tuple[float, float, list[float], list[float]]:
    from goldfish.init import init_project
    from goldfish.plugins import build
    from goldfish.workspaces import Workspaces

    project = init_project(base / "project", name="bench", slots=1,
                           plugins=build(load_entry_points=False))
    ws = Workspaces(project)
    ws.create("bench", mount="w1")
    slot = project.slot_path("w1")
    fill_tree(slot, dirs, files)
    tree = base / "git-tree"
    shutil.copytree(slot, tree)
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    os.environ.update(env)
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    # no background `git gc --auto` (10,000 loose objects trigger it): it would run during the
    # next measurements of both sides
    subprocess.run(["git", "config", "gc.auto", "0"], cwd=tree, check=True)

    start = time.perf_counter()
    version = ws.save_version("w1", "first")
    ours_first = time.perf_counter() - start
    assert version.number == 2
    git_first = _git(tree, "first")

    ours_again: list[float] = []
    git_again: list[float] = []
    for i in range(EDITS):
        rel = Path(f"pkg{(i * 37) % dirs:03d}") / f"mod{(i * 11) % files:03d}.py"
        for root in (slot, tree):
            with open(root / rel, "a") as fh:
                fh.write(f"# edit {i}\n")
        start = time.perf_counter()
        v = ws.save_version("w1", f"edit {i}")
        ours_again.append(time.perf_counter() - start)
        assert v.created
        git_again.append(_git(tree, f"edit {i}"))
    # both sides stored the same content
    head = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=tree, check=True,
                          capture_output=True, text=True).stdout.strip()
    assert head == ws.history("bench")[-1].tree, "goldfish and git disagree on the tree"
    return ours_first, git_first, ours_again, git_again


def _stats(values: Iterable[float], scale: float = 1.0) -> str:
    data = [v * scale for v in values]
    digits = 1 if scale > 1 else 3
    return f"{statistics.median(data):.{digits}f} ({min(data):.{digits}f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    firsts: list[tuple[float, float]] = []
    agains: list[tuple[float, float]] = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="gf-snapshot-bench-") as tmp:
            ours, git, ours_again, git_again = _round(Path(tmp), args.dirs, args.files)
            firsts.append((ours, git))
            agains += list(zip(ours_again, git_again, strict=True))
            print(f"round {r + 1}: first {ours:.3f}s vs git {git:.3f}s; re-snapshot "
                  f"{statistics.median(ours_again) * 1000:.1f} ms vs git "
                  f"{statistics.median(git_again) * 1000:.1f} ms")

    files = args.dirs * args.files
    first_ratio = statistics.median(o / g for o, g in firsts)
    again_ratio = statistics.median(o / g for o, g in agains)
    print(f"\n{files} files, {args.rounds} rounds ({len(agains)} re-snapshots); times as "
          "median (min)")
    print(f"  first snapshot: goldfish {_stats(o for o, _ in firsts)} s   git add+commit "
          f"{_stats(g for _, g in firsts)} s   ratio {first_ratio:.2f}x (target <= {FIRST_TARGET}x)")
    print(f"  re-snapshot:    goldfish {_stats((o for o, _ in agains), 1000)} ms   git add+commit "
          f"{_stats((g for _, g in agains), 1000)} ms   ratio {again_ratio:.2f}x "
          f"(target <= {RESNAPSHOT_TARGET}x)")
    ok = first_ratio <= FIRST_TARGET and again_ratio <= RESNAPSHOT_TARGET
    print("  result: " + ("targets met" if ok else "TARGET MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
