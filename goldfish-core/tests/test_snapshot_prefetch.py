"""The forked stat prefetch of big slots (snapshot._Prefetch) changes nothing but speed: every
tree equals git's and the non-prefetched walk's, a child that fails is replaced by the walk's
own listing, no child outlives the walk, and a process with threads never forks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from goldfish import snapshot
from goldfish.errors import InvalidInputError
from goldfish.snapshot import init_repository, snapshot_tree
from test_snapshot_walk_cache import git_tree_of, settled
from ws_support import write


class Big:
    """A slot of 12 directories whose walks are prefetched half by a child (PARALLEL_FROM
    lowered to 1; the guard is bypassed: the test process may have threads left by other
    tests, see the last test), and every child started, with its pid."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.repo = tmp_path / "versions.git"
        init_repository(self.repo)
        self.slot = tmp_path / "slot"
        for d in range(12):
            for f in range(5):
                write(self.slot / f"d{d:02}" / f"f{f}.py", f"x = {d * 10 + f}\n")
        write(self.slot / "d11/deep/er/leaf.txt", "leaf")
        self.cache = tmp_path / "c.marshal"
        self.children: list[tuple[int, set[str]]] = []  # (pid, directories) of each child

    def snapshot(self, **kwargs: object) -> snapshot.SlotTree:
        return snapshot_tree(self.repo, self.slot, cache_path=self.cache, **kwargs)  # type: ignore[arg-type]

    def all_reaped(self) -> bool:
        """Every child started is gone and reaped (waitpid on its pid: no other child of the
        test process is touched)."""
        for pid, _ in self.children:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            return False
        return True


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Big:
    monkeypatch.setattr(snapshot, "PARALLEL_FROM", 1)
    monkeypatch.setattr(snapshot, "_may_fork", lambda: True)
    made = Big(tmp_path)
    real = snapshot._Prefetch.start.__func__  # type: ignore[attr-defined]

    def spy(cls: type, root: str, cached: dict[str, tuple[object, ...]]) -> object:
        prefetch = real(cls, root, cached)
        if prefetch is not None:
            made.children.append((prefetch.pid, set(prefetch.rels)))
        return prefetch

    monkeypatch.setattr(snapshot._Prefetch, "start", classmethod(spy))
    made.snapshot()
    settled(made.cache)
    return made


def test_the_child_stats_the_later_half_and_nothing_changes(
        big: Big, monkeypatch: pytest.MonkeyPatch) -> None:
    parent, real = os.getpid(), snapshot._list_dir
    listed_here: list[str] = []  # the directories the walk listed itself

    def lists(path: str) -> tuple[list[str], list[os.stat_result]]:
        if os.getpid() == parent:
            listed_here.append(os.path.relpath(path, big.slot).replace(os.sep, "/"))
        return real(path)

    monkeypatch.setattr(snapshot, "_list_dir", lists)
    same = big.snapshot()
    assert same.written == 0 and same.tree == git_tree_of(big.slot, big.tmp)
    # the later directories in walk (readdir) order, about half the entries; the root and the
    # first ones stay in-process
    _, theirs = big.children[0]
    assert theirs and "" not in theirs and 4 <= len(theirs) <= 10
    # unchanged, so what the child listed is used, not listed again; the rest is listed here
    assert not theirs & {"" if d == "." else d for d in listed_here} and "." in listed_here
    assert len(listed_here) + len(theirs) == 15  # the root, d00-d11, d11/deep, d11/deep/er
    monkeypatch.setattr(snapshot, "_list_dir", real)
    settled(big.cache)

    write(big.slot / "d10/f1.py", "x = 999\n")  # same size
    write(big.slot / "d11/deep/er/new.txt", "new")
    shutil.rmtree(big.slot / "d09")
    write(big.slot / "d08/.gitignore", "f2.py\n")
    edited = big.snapshot()
    assert edited.tree == git_tree_of(big.slot, big.tmp) and edited.written > 0
    assert "d08/f2.py" in edited.ignored
    assert len(big.children) == 2 and big.all_reaped()
    monkeypatch.setattr(snapshot, "PARALLEL_FROM", 10**9)  # the same walk, no child
    assert big.snapshot().tree == edited.tree and len(big.children) == 2


def test_a_child_that_fails_is_replaced_by_the_walks_own_listing(
        big: Big, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    real = snapshot._list_dir

    def dies_in_the_child(path: str) -> tuple[list[str], list[os.stat_result]]:
        if os.getpid() != parent:
            raise MemoryError("the child failed")
        return real(path)

    monkeypatch.setattr(snapshot, "_list_dir", dies_in_the_child)
    for d in range(12):  # one edit in every directory: whichever half the child had
        write(big.slot / f"d{d:02}/f0.py", f"x = {1000 + d}\n")
    tree = big.snapshot()
    assert tree.tree == git_tree_of(big.slot, big.tmp)
    assert len(big.children) == 1 and big.all_reaped()  # (the first walk had no cache)


def test_a_pipe_that_fails_to_read_is_closed_once(
        big: Big, monkeypatch: pytest.MonkeyPatch) -> None:
    class Failing:
        def __init__(self, fd: int) -> None:
            self.fd = fd

        def __enter__(self) -> Failing:
            return self

        def __exit__(self, *exc: object) -> None:
            os.close(self.fd)

        def read(self) -> bytes:
            raise OSError("read failed")

    real = open

    def opens(file: object, *args: object, **kwargs: object) -> object:
        return Failing(file) if isinstance(file, int) else real(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(snapshot, "open", opens, raising=False)
    write(big.slot / "d00/f0.py", "x = 1000\n")
    # the read closed the pipe: closing it again would raise EBADF (or close a reused fd)
    assert big.snapshot().tree == git_tree_of(big.slot, big.tmp)
    assert len(big.children) == 1 and big.all_reaped()


def test_no_child_outlives_a_walk_that_fails(big: Big) -> None:
    outside = big.tmp / "outside.txt"
    outside.write_text("secret")
    for d in range(12):  # in every directory: the walk raises in its own half, first
        (big.slot / f"d{d:02}" / "link").symlink_to(outside)
    with pytest.raises(InvalidInputError, match="points outside the slot"):
        big.snapshot()
    assert len(big.children) == 1 and big.all_reaped()


def test_a_process_with_threads_or_a_small_slot_does_not_fork(
        big: Big, monkeypatch: pytest.MonkeyPatch) -> None:
    cached, _ = snapshot._load_cache(big.cache, big.repo / "objects",
                                     os.path.realpath(big.slot), snapshot.DEFAULT_MAX_FILE_BYTES)
    assert cached
    monkeypatch.setattr(snapshot, "PARALLEL_FROM", 10**9)  # a small slot
    assert snapshot._Prefetch.start(str(big.slot), cached) is None
    monkeypatch.setattr(snapshot, "PARALLEL_FROM", 1)
    flat = big.tmp / "flat"  # one directory: the root, which the walk lists itself first
    for f in range(20):
        write(flat / f"f{f}.py", f"x = {f}\n")
    for _ in range(2):  # the second walk has a cache of one directory: no child either
        snapshot_tree(big.repo, flat, cache_path=big.tmp / "flat.marshal")
    assert big.children == []
    cached, _ = snapshot._load_cache(big.tmp / "flat.marshal", big.repo / "objects",
                                     os.path.realpath(flat), snapshot.DEFAULT_MAX_FILE_BYTES)
    assert list(cached) == [""] and snapshot._Prefetch.start(str(flat), cached) is None
    # the real guard, in a process of our own (this one may have threads left by other tests)
    probe = ("import os, threading\n"
             "from goldfish import snapshot\n"
             "alone = snapshot._may_fork()\n"
             "release = threading.Event()\n"
             "threading.Thread(target=release.wait).start()\n"
             "print(alone, snapshot._may_fork(), len(os.sched_getaffinity(0)))\n"
             "release.set()\n")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout.split()
    assert out[:2] == [str(int(out[2]) >= 2), "False"]  # another thread: never fork
