"""The walker's directory-level shortcuts (names, stat keys and subdirectories taken from the
cache) never hide a change: every result is checked against the tree git computes."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import time
from pathlib import Path

from goldfish.snapshot import init_repository, snapshot_tree
from ws_support import write


def git_tree_of(folder: Path, tmp: Path) -> str:
    twin = tmp / f"twin-{time.monotonic_ns()}"
    subprocess.run(["cp", "-a", str(folder), str(twin)], check=True)
    for args in (["init", "-q"], ["add", "-A"], ["write-tree"]):
        out = subprocess.run(["git", *args], cwd=twin, check=True, capture_output=True,
                             text=True).stdout.strip()
    shutil.rmtree(twin)
    return out


def settled(cache: Path) -> None:
    """Make the cache newer than every file, so no entry is racy."""
    time.sleep(0.02)
    os.utime(cache)


def test_cached_walk_sees_type_swaps_deep_edits_and_removals(tmp_path: Path) -> None:
    repo = tmp_path / "versions.git"
    init_repository(repo)
    slot = tmp_path / "slot"
    write(slot / "top.txt", "top")
    write(slot / "a/b/c/leaf.py", "leaf = 1\n")
    write(slot / "a/sibling.py", "s = 1\n")
    write(slot / "swap/inside.txt", "was a directory")
    cache = tmp_path / "c.marshal"
    first = snapshot_tree(repo, slot, cache_path=cache)
    assert first.tree == git_tree_of(slot, tmp_path)
    settled(cache)
    assert snapshot_tree(repo, slot, cache_path=cache).written == 0

    write(slot / "a/b/c/leaf.py", "leaf = 2\n")  # same size; a/ and a/b/ listings unchanged
    deep = snapshot_tree(repo, slot, cache_path=cache)
    assert deep.tree != first.tree and deep.tree == git_tree_of(slot, tmp_path)
    settled(cache)

    shutil.rmtree(slot / "swap")
    write(slot / "swap", "now a file")  # same name, other type
    swapped = snapshot_tree(repo, slot, cache_path=cache)
    assert swapped.tree == git_tree_of(slot, tmp_path)
    settled(cache)

    shutil.rmtree(slot / "a/b")  # a whole cached subtree disappears
    removed = snapshot_tree(repo, slot, cache_path=cache, collect=True)
    assert sorted(removed.listing or {}) == ["a/sibling.py", "swap", "top.txt"]
    assert removed.tree == git_tree_of(slot, tmp_path)
    settled(cache)
    again = snapshot_tree(repo, slot, cache_path=cache)
    assert (again.tree, again.written, again.files) == (removed.tree, 0, 3)


def test_a_cache_of_another_format_is_ignored(tmp_path: Path) -> None:
    repo = tmp_path / "versions.git"
    init_repository(repo)
    slot = tmp_path / "slot"
    write(slot / "f.txt", "real content")
    cache = tmp_path / "c.marshal"
    first = snapshot_tree(repo, slot, cache_path=cache)
    data = marshal.loads(cache.read_bytes())
    # an older layout (names as a tuple, no directory list) under the previous format number
    data["format"] -= 1
    data["dirs"] = {rel: (d[0], tuple(d[1].split("/")), *d[2:6], *d[7:])
                    for rel, d in data["dirs"].items()}
    cache.write_bytes(marshal.dumps(data))
    stamp = (slot / "f.txt").stat().st_mtime_ns
    write(slot / "f.txt", "edit content")  # same size and, below, the same mtime: only a
    os.utime(slot / "f.txt", ns=(stamp, stamp))  # cache that is not used can notice the edit
    settled(cache)
    second = snapshot_tree(repo, slot, cache_path=cache)
    assert second.tree != first.tree and second.tree == git_tree_of(slot, tmp_path)


def test_a_cache_entry_of_another_shape_is_a_miss_not_a_crash(tmp_path: Path) -> None:
    repo = tmp_path / "versions.git"
    init_repository(repo)
    slot = tmp_path / "slot"
    write(slot / "f.txt", "real content")
    cache = tmp_path / "c.marshal"
    snapshot_tree(repo, slot, cache_path=cache)
    data = marshal.loads(cache.read_bytes())
    # same format number, but an entry one field short (a cache from an unreleased build)
    data["dirs"] = {rel: d[:-1] for rel, d in data["dirs"].items()}
    cache.write_bytes(marshal.dumps(data))
    write(slot / "f.txt", "edited content")
    settled(cache)
    again = snapshot_tree(repo, slot, cache_path=cache)
    assert again.tree == git_tree_of(slot, tmp_path)
