"""Slot snapshots written straight into the bare repository, checked against git itself."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from goldfish.errors import GoldfishError, InvalidInputError
from goldfish.snapshot import (
    EMPTY_TREE,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    Store,
    diff_listings,
    init_repository,
    read_slot_file,
    snapshot_tree,
    write_commit,
)
from ws_support import write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "versions.git"
    init_repository(path)
    return path


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def git_tree_of(folder: Path) -> str:
    """The tree id git computes for the same files (a throw-away index in folder/.git)."""
    git("init", "-q", str(folder))
    git("add", "-A", cwd=folder)
    return git("write-tree", cwd=folder)


def make_slot(root: Path) -> Path:
    write(root / "train.py", "print('hi')\n")
    write(root / "configs/train.yaml", "lr: 0.1\n")
    write(root / "pkg/deep/mod.py", "x = 1\n")
    run = write(root / "run.sh", "#!/bin/sh\necho run\n")
    run.chmod(0o755)
    write(root / "data.bin", bytes(range(256)) * 4)
    os.symlink("configs/train.yaml", root / "link.yaml")
    (root / "empty_dir").mkdir()
    return root


def test_init_repository_is_a_bare_git_repo_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "v.git"
    init_repository(path)
    init_repository(path)
    assert (path / "objects").is_dir() and (path / "HEAD").is_file()
    assert git("--git-dir", str(path), "rev-parse", "--is-bare-repository") == "true"


def test_tree_matches_git_exactly(tmp_path: Path, repo: Path) -> None:
    slot = make_slot(tmp_path / "slot")
    result = snapshot_tree(repo, slot, collect=True)
    assert result.files == 6
    assert result.listing is not None
    assert result.listing["run.sh"][0] == MODE_EXEC
    assert result.listing["train.py"][0] == MODE_FILE
    assert result.listing["link.yaml"][0] == MODE_LINK
    twin = tmp_path / "twin"
    subprocess.run(["cp", "-a", str(slot), str(twin)], check=True)
    assert result.tree == git_tree_of(twin)
    # every object is really in the store and git agrees the repository is sound
    assert git("--git-dir", str(repo), "cat-file", "-t", result.tree) == "tree"
    git("--git-dir", str(repo), "fsck", "--strict", "--no-dangling")


def test_many_objects_go_into_one_pack_that_git_reads(tmp_path: Path, repo: Path) -> None:
    slot = tmp_path / "slot"
    for i in range(150):
        write(slot / f"d{i % 5}" / f"f{i}.txt", f"file {i}\n")
    result = snapshot_tree(repo, slot)
    packs = list((repo / "objects" / "pack").glob("pack-*.pack"))
    assert len(packs) == 1
    assert result.written == 150 + 5 + 1
    git("--git-dir", str(repo), "fsck", "--strict", "--no-dangling")
    commit = write_commit(repo, result.tree, [], "m")
    assert git("--git-dir", str(repo), "show", f"{commit}:d3/f3.txt") == "file 3"


def test_resnapshot_reuses_cache_and_writes_only_changes(tmp_path: Path, repo: Path) -> None:
    slot = make_slot(tmp_path / "slot")
    cache = tmp_path / "cache" / "snap.marshal"
    first = snapshot_tree(repo, slot, cache_path=cache)
    assert cache.is_file()
    time.sleep(0.02)
    os.utime(cache)  # the cache is newer than every file: nothing is racy
    again = snapshot_tree(repo, slot, cache_path=cache)
    assert (again.tree, again.written) == (first.tree, 0)

    write(slot / "pkg/deep/mod.py", "x = 2\n")  # same size, new content
    changed = snapshot_tree(repo, slot, cache_path=cache)
    assert changed.tree != first.tree
    assert changed.written == 4  # one blob + deep, pkg and the root tree
    twin = tmp_path / "twin"
    subprocess.run(["cp", "-a", str(slot), str(twin)], check=True)
    assert changed.tree == git_tree_of(twin)


def test_an_edit_in_the_same_tick_as_the_snapshot_is_not_missed(tmp_path: Path,
                                                                 repo: Path) -> None:
    slot = tmp_path / "slot"
    f = write(slot / "a.txt", "aaaa")
    cache = tmp_path / "c.marshal"
    first = snapshot_tree(repo, slot, cache_path=cache)
    stamp = f.stat().st_mtime_ns
    os.utime(cache, ns=(stamp, stamp))  # the file and the cache were written in one clock tick
    f.write_text("bbbb")
    os.utime(f, ns=(stamp, stamp))  # edited within that tick: same size, same mtime
    second = snapshot_tree(repo, slot, cache_path=cache)
    assert second.tree != first.tree
    with Store(repo) as store:
        assert store.blob(store.listing(second.tree)["a.txt"][1]) == b"bbbb"


def test_ignored_and_special_files_are_left_out(tmp_path: Path, repo: Path) -> None:
    slot = tmp_path / "slot"
    write(slot / ".gitignore", "outputs/\n*.tmp\n")
    write(slot / "main.py", "1")
    write(slot / "outputs/big.npy", "x")
    write(slot / "scratch.tmp", "x")
    write(slot / "__pycache__/m.cpython-311.pyc", "x")
    write(slot / "pkg/m.pyc", "x")
    write(slot / ".git/config", "x")
    os.mkfifo(slot / "pipe")
    result = snapshot_tree(repo, slot, collect=True)
    assert sorted(result.listing or {}) == [".gitignore", "main.py"]
    assert set(result.ignored) == {"outputs/", "scratch.tmp", "__pycache__/", "pkg/m.pyc",
                                   ".git/"}


def test_file_over_the_limit_is_refused_and_nothing_is_written(tmp_path: Path,
                                                               repo: Path) -> None:
    slot = tmp_path / "slot"
    write(slot / "ok.py", "1")
    write(slot / "weights/model.bin", b"\0" * 5000)
    cache = tmp_path / "c.marshal"
    before = sorted(p.name for p in (repo / "objects").rglob("*"))
    with pytest.raises(GoldfishError) as err:
        snapshot_tree(repo, slot, cache_path=cache, max_file_bytes=4096)
    assert "weights/model.bin" in err.value.message and "4.9 KB" in err.value.message
    assert "goldfish sources add" in (err.value.hint or "")
    assert sorted(p.name for p in (repo / "objects").rglob("*")) == before
    assert not cache.exists()


def test_symlink_out_of_the_slot_is_refused(tmp_path: Path, repo: Path) -> None:
    slot = tmp_path / "slot"
    write(slot / "a.py", "1")
    write(tmp_path / "secret.txt", "s")
    os.symlink("../secret.txt", slot / "escape")
    with pytest.raises(InvalidInputError) as err:
        snapshot_tree(repo, slot)
    assert "'escape'" in err.value.message and "../secret.txt" in err.value.message


def test_export_round_trips_modes_and_links(tmp_path: Path, repo: Path) -> None:
    slot = make_slot(tmp_path / "slot")
    tree = snapshot_tree(repo, slot).tree
    out = tmp_path / "out"
    with Store(repo) as store:
        assert store.export(tree, out) == 6
    assert (out / "run.sh").stat().st_mode & 0o111
    assert not (out / "train.py").stat().st_mode & 0o111
    assert os.readlink(out / "link.yaml") == "configs/train.yaml"
    assert (out / "data.bin").read_bytes() == bytes(range(256)) * 4
    assert snapshot_tree(repo, out).tree == tree


def test_empty_slot_is_the_empty_tree(tmp_path: Path, repo: Path) -> None:
    slot = tmp_path / "slot"
    slot.mkdir()
    assert snapshot_tree(repo, slot).tree == EMPTY_TREE
    assert git("--git-dir", str(repo), "cat-file", "-t", EMPTY_TREE) == "tree"


def test_diff_between_tree_and_live_files(tmp_path: Path, repo: Path) -> None:
    slot = tmp_path / "slot"
    write(slot / "a.txt", "one\ntwo\nthree\n")
    write(slot / "gone.txt", "bye\n")
    write(slot / "blob.bin", b"\0\1\2")
    old = snapshot_tree(repo, slot).tree
    write(slot / "a.txt", "one\n2\nthree\nfour\n")
    (slot / "gone.txt").unlink()
    write(slot / "new.txt", "hello\n")
    write(slot / "blob.bin", b"\0\1\3")
    live = snapshot_tree(repo, slot, write=False, collect=True).listing or {}
    with Store(repo) as store:
        d = diff_listings("v1", store.listing(old), lambda _p, s: store.blob(s),
                          "slot", live, read_slot_file(slot))
    assert d.added == ["new.txt"] and d.deleted == ["gone.txt"]
    assert d.modified == ["a.txt", "blob.bin"]
    a = next(c for c in d.changes if c.path == "a.txt")
    assert (a.added, a.removed) == (2, 1)
    assert "-two\n+2\n" in a.patch and "+four" in a.patch
    assert next(c for c in d.changes if c.path == "blob.bin").binary
    assert d.lines_added == 3 and d.lines_removed == 2
    assert "4 files changed (1 added, 2 modified, 1 deleted)" in d.summary
    assert "a.txt" in d.stat()


def settled(cache: Path) -> None:
    """Make the cache newer than every file, as it is when edits come later than a snapshot."""
    time.sleep(0.01)
    os.utime(cache)


def test_cached_directories_still_see_deep_and_ignore_changes(tmp_path: Path,
                                                               repo: Path) -> None:
    slot = tmp_path / "slot"
    write(slot / "a.txt", "a")
    write(slot / "logs/run.log", "log")
    (slot / "outer/inner").mkdir(parents=True)  # empty: not part of the tree
    cache = tmp_path / "c.marshal"
    snapshot_tree(repo, slot, cache_path=cache)
    settled(cache)

    write(slot / "outer/inner/new.py", "new")  # changes inner's mtime only, not outer's
    listing = snapshot_tree(repo, slot, cache_path=cache, collect=True).listing or {}
    assert "outer/inner/new.py" in listing
    settled(cache)
    again = snapshot_tree(repo, slot, cache_path=cache)
    assert again.written == 0 and again.files == 3

    write(slot / ".gitignore", "logs/\n")  # files cached earlier are now excluded
    result = snapshot_tree(repo, slot, cache_path=cache, collect=True)
    assert sorted(result.listing or {}) == [".gitignore", "a.txt", "outer/inner/new.py"]
    assert "logs/" in result.ignored
    settled(cache)
    cached = snapshot_tree(repo, slot, cache_path=cache)
    assert cached.tree == result.tree and cached.ignored == result.ignored


def test_limit_change_invalidates_the_cache(tmp_path: Path, repo: Path) -> None:
    slot = tmp_path / "slot"
    write(slot / "big.bin", b"x" * 500)
    cache = tmp_path / "c.marshal"
    snapshot_tree(repo, slot, cache_path=cache, max_file_bytes=1000)
    settled(cache)
    with pytest.raises(GoldfishError, match=re.escape("'big.bin'")):
        snapshot_tree(repo, slot, cache_path=cache, max_file_bytes=100)
