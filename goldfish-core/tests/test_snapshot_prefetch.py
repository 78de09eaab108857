"""The forked stat prefetch of big slots (snapshot._Prefetch) changes nothing but speed: every
tree equals git's and the non-prefetched walk's, a child that fails is replaced by the walk's
own listing, no child outlives the walk, and a process with threads never forks."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from goldfish import snapshot
from goldfish.errors import InvalidInputError
from goldfish.snapshot import init_repository, snapshot_tree
from test_snapshot_walk_cache import git_tree_of, settled
from ws_support import write


def no_children() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A slot of 12 directories, stat'ed half by a child (PARALLEL_FROM lowered to 1)."""
    monkeypatch.setattr(snapshot, "PARALLEL_FROM", 1)
    repo = tmp_path / "versions.git"
    init_repository(repo)
    slot = tmp_path / "slot"
    for d in range(12):
        for f in range(5):
            write(slot / f"d{d:02}" / f"f{f}.py", f"x = {d * 10 + f}\n")
    write(slot / "d11/deep/er/leaf.txt", "leaf")
    cache = tmp_path / "c.marshal"
    snapshot_tree(repo, slot, cache_path=cache)
    settled(cache)
    return repo, slot, cache


def test_the_child_stats_the_later_half_and_nothing_changes(
        big: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, slot, cache = big
    started: list[set[str]] = []
    real = snapshot._Prefetch.start.__func__  # type: ignore[attr-defined]

    def spy(cls: type, root: str, cached: dict[str, tuple[object, ...]]) -> object:
        prefetch = real(cls, root, cached)
        started.append(set(prefetch.rels) if prefetch else set())
        return prefetch

    monkeypatch.setattr(snapshot._Prefetch, "start", classmethod(spy))
    same = snapshot_tree(repo, slot, cache_path=cache)
    assert same.written == 0 and same.tree == git_tree_of(slot, tmp_path)
    # the later directories in walk (readdir) order, about half the entries; the root and the
    # first ones stay in-process
    assert started[0] and "" not in started[0] and 4 <= len(started[0]) <= 10
    settled(cache)

    write(slot / "d10/f1.py", "x = 999\n")  # same size, in the child's half
    write(slot / "d11/deep/er/new.txt", "new")
    shutil.rmtree(slot / "d09")
    write(slot / "d08/.gitignore", "f2.py\n")
    edited = snapshot_tree(repo, slot, cache_path=cache)
    assert edited.tree == git_tree_of(slot, tmp_path) and edited.written > 0
    assert "d08/f2.py" in edited.ignored
    monkeypatch.setattr(snapshot, "PARALLEL_FROM", 10**9)  # the same walk, no child
    assert snapshot_tree(repo, slot, cache_path=cache).tree == edited.tree
    assert no_children()


def test_a_child_that_fails_is_replaced_by_the_walks_own_listing(
        big: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, slot, cache = big
    parent = os.getpid()
    real = snapshot._list_dir

    def dies_in_the_child(path: str) -> tuple[list[str], list[os.stat_result]]:
        if os.getpid() != parent:
            raise MemoryError("the child failed")
        return real(path)

    monkeypatch.setattr(snapshot, "_list_dir", dies_in_the_child)
    write(slot / "d11/f0.py", "x = 1000\n")
    tree = snapshot_tree(repo, slot, cache_path=cache)
    assert tree.tree == git_tree_of(slot, tmp_path)
    assert no_children()


def test_no_child_outlives_a_walk_that_fails(big: tuple[Path, Path, Path],
                                             tmp_path: Path) -> None:
    repo, slot, cache = big
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (slot / "d00" / "link").symlink_to(outside)  # the walk's own half: it raises first
    with pytest.raises(InvalidInputError, match="points outside the slot"):
        snapshot_tree(repo, slot, cache_path=cache)
    assert no_children()


def test_a_process_with_threads_or_a_small_slot_does_not_fork(
        big: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, slot, cache = big
    cached, _ = snapshot._load_cache(cache, repo / "objects", os.path.realpath(slot),
                                     snapshot.DEFAULT_MAX_FILE_BYTES)
    assert cached
    prefetch = snapshot._Prefetch.start(str(slot), cached)
    assert prefetch is not None
    prefetch.close()
    assert no_children()
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert snapshot._Prefetch.start(str(slot), cached) is None
    finally:
        release.set()
        other.join()
    monkeypatch.setattr(snapshot, "PARALLEL_FROM", 10**9)
    assert snapshot._Prefetch.start(str(slot), cached) is None
