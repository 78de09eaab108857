"""The workspace service on a real project: real SQLite, a real bare repository, real files."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from goldfish import hookimpl
from goldfish.errors import ConflictError, GoldfishError, InvalidInputError, NotFoundError
from goldfish.events import from_row
from goldfish.project import Project
from goldfish.snapshot import EMPTY_TREE
from goldfish.workspaces import Workspaces
from ws_support import disk_state, write


class Recorder:
    def __init__(self) -> None:
        self.saved: list[tuple[str, int, str]] = []

    @hookimpl
    def on_version_saved(self, workspace: str, version: int, commit: str) -> None:
        self.saved.append((workspace, version, commit))


@pytest.fixture
def recorder(register_goldfish_plugin: Any) -> Recorder:
    rec = Recorder()
    register_goldfish_plugin(rec, name="recorder")
    return rec


@pytest.fixture
def ws(goldfish_project: Project, recorder: Recorder) -> Workspaces:
    return Workspaces(goldfish_project)


def slot(ws: Workspaces, name: str = "w1") -> Path:
    return ws.project.slot_path(name)


def git(ws: Workspaces, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(ws.project.repo_path), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def events(ws: Workspaces) -> list[str]:
    return [from_row(r).kind for r in ws.project.db.query("SELECT * FROM events ORDER BY id")]


def test_create_empty_and_mount(ws: Workspaces) -> None:
    info = ws.create("base", goal="beat 0.9", mount="")
    assert (info.name, info.goal, info.slot) == ("base", "beat 0.9", "w1")
    assert info.head is not None and info.head.tag == "base-v1" and info.head.kind == "create"
    assert info.head.tree == EMPTY_TREE
    assert git(ws, "rev-parse", "refs/heads/base") == info.head.commit
    assert git(ws, "rev-parse", "refs/tags/base-v1") == info.head.commit
    assert list(slot(ws).iterdir()) == []
    assert events(ws)[-3:] == ["workspace.created", "version.saved", "workspace.mounted"]


def test_save_numbers_versions_and_reuses_unchanged(ws: Workspaces, recorder: Recorder) -> None:
    ws.create("base", mount="w2")
    write(slot(ws, "w2") / "train.py", "print(1)\n")
    v2 = ws.save_version("base", "first model")
    assert (v2.number, v2.tag, v2.kind, v2.created) == (2, "base-v2", "save", True)
    again = ws.save_version("w2", "nothing new")
    assert (again.tag, again.created) == ("base-v2", False)
    write(slot(ws, "w2") / "train.py", "print(2)\n")
    run = ws.snapshot_for_run("slot:w2")
    assert (run.number, run.kind) == (3, "run")
    assert [v.tag for v in ws.history("base")] == ["base-v1", "base-v2", "base-v3"]
    assert git(ws, "show", "base-v3:train.py") == "print(2)"
    assert git(ws, "rev-parse", "base-v3^") == v2.commit  # parent = previous head
    assert [(w, n) for w, n, _ in recorder.saved] == [("base", 1), ("base", 2), ("base", 3)]
    assert recorder.saved[-1][2] == run.commit
    assert events(ws).count("version.saved") == 3


def test_fork_from_workspace_version_and_directory(ws: Workspaces, tmp_path: Path) -> None:
    ws.create("base", mount="w1")
    write(slot(ws) / "model.py", "A\n")
    v2 = ws.save_version("base", "A")
    write(slot(ws) / "model.py", "B\n")
    ws.save_version("base", "B")

    fork = ws.create("fork", from_workspace="base")
    assert fork.parent == "base-v3" and fork.head is not None
    assert ws.read_file("fork", "model.py") == b"B\n"
    old = ws.create("old", from_version="base-v2", mount="")
    assert old.parent == "base-v2" and old.slot == "w2"
    assert (slot(ws, "w2") / "model.py").read_text() == "A\n"
    assert git(ws, "rev-parse", "old-v1^") == v2.commit  # lineage lives in git too

    src = tmp_path / "code"
    write(src / "main.py", "print('imported')\n")
    write(src / "__pycache__/x.pyc", "junk")
    imported = ws.create("imported", from_dir=src)
    assert imported.head is not None and imported.head.kind == "create"
    assert ws.files("imported-v1").keys() == {"main.py"}
    info = ws.info("old")
    assert [v.tag for v in info.versions] == ["old-v1"]


def test_resolve_version_forms(ws: Workspaces) -> None:
    ws.create("base", mount="w1")
    write(slot(ws) / "a.txt", "1")
    ws.save_version("w1", "one")
    assert ws.resolve_version("base-v1").number == 1
    assert ws.resolve_version("base").number == 2
    assert ws.resolve_version("base@latest").number == 2
    ws.tag("base-v1", "origin")
    assert ws.resolve_version("origin").tag == "base-v1"
    assert [t.name for t in ws.tags()] == ["origin"]
    assert git(ws, "rev-parse", "refs/tags/origin") == ws.resolve_version("base-v1").commit
    with pytest.raises(NotFoundError, match="has no version v9; the latest is base-v2"):
        ws.resolve_version("base-v9")
    with pytest.raises(NotFoundError, match="unknown version 'bsae-v1'") as err:
        ws.resolve_version("bsae-v1")
    assert "base-v1" in (err.value.hint or "")


def test_rollback_restores_files_keeps_history_and_unsaved_work(ws: Workspaces) -> None:
    ws.create("base", mount="w1")
    write(slot(ws) / ".gitignore", "cache/\n")
    write(slot(ws) / "m.py", "v2\n")
    ws.save_version("base", "v2")
    write(slot(ws) / "m.py", "v3\n")
    write(slot(ws) / "extra.py", "x\n")
    ws.save_version("base", "v3")
    write(slot(ws) / "m.py", "unsaved\n")
    write(slot(ws) / "cache/blob.bin", "keep me")

    result = ws.rollback("base", "2")
    assert (result.number, result.kind) == (5, "rollback")
    unsaved = ws.resolve_version("base-v4")
    assert unsaved.kind == "save" and "before rollback" in unsaved.message
    assert ws.read_file("base-v4", "m.py") == b"unsaved\n"
    assert (slot(ws) / "m.py").read_text() == "v2\n"
    assert not (slot(ws) / "extra.py").exists()
    assert (slot(ws) / "cache/blob.bin").read_text() == "keep me"  # ignored files stay
    assert result.tree == ws.resolve_version("base-v2").tree
    assert "workspace.rolled_back" in events(ws)
    assert ws.diff("base").changes == ()


def test_rollback_of_unmounted_workspace_moves_its_head(ws: Workspaces) -> None:
    ws.create("base", mount="w1")
    write(slot(ws) / "m.py", "x")
    ws.save_version("base", "x")
    ws.unmount("w1")
    back = ws.rollback("base", "base-v1")
    assert back.tree == EMPTY_TREE and back.number == 3
    assert ws.mount("base") == "w1"
    assert list(slot(ws).iterdir()) == []


def test_unmount_saves_changes_then_empties_slot(ws: Workspaces) -> None:
    ws.create("base", mount="w3")
    write(slot(ws, "w3") / "a.py", "changed")
    version = ws.unmount("base")
    assert (version.tag, version.kind, version.created) == ("base-v2", "unmount", True)
    assert slot(ws, "w3").is_dir() and list(slot(ws, "w3").iterdir()) == []
    assert ws.info("base").slot is None
    assert ws.mount("base", "w3") == "w3"
    assert (slot(ws, "w3") / "a.py").read_text() == "changed"
    unchanged = ws.unmount("w3")
    assert (unchanged.tag, unchanged.created) == ("base-v2", False)


def test_ignored_files_survive_unmount_and_come_back_on_mount(ws: Workspaces) -> None:
    ws.create("base", mount="w1")
    write(slot(ws) / ".gitignore", "data/\n*.log\n")
    write(slot(ws) / "data/train.csv", "1,2\n")
    write(slot(ws) / "pkg/run.log", "log")
    write(slot(ws) / "pkg/m.py", "x")
    ws.unmount("w1")
    assert list(slot(ws).iterdir()) == []
    assert ws.files("base").keys() == {".gitignore", "pkg/m.py"}
    assert ws.mount("base", "w2") == "w2"
    assert (slot(ws, "w2") / "data/train.csv").read_text() == "1,2\n"
    assert (slot(ws, "w2") / "pkg/run.log").read_text() == "log"
    assert not ws._stash_path("base").exists()
    assert ws.diff("base").changes == ()


def test_diff_forms(ws: Workspaces) -> None:
    ws.create("a", mount="w1")
    write(slot(ws) / "f.txt", "1\n2\n")
    ws.save_version("a", "two lines")
    write(slot(ws) / "f.txt", "1\n2\n3\n")
    live = ws.diff("a")
    assert live.modified == ["f.txt"] and live.lines_added == 1
    assert live.b == "a (slot w1)"
    assert ws.diff("slot:w1").modified == ["f.txt"]
    first = ws.diff("a-v2")  # a version against the one before it
    assert first.added == ["f.txt"] and first.a == "a-v1"
    ws.create("b", from_version="a-v2", mount="w2")
    write(slot(ws, "w2") / "g.txt", "g\n")
    across = ws.diff("a-v2", "b")
    assert across.added == ["g.txt"] and across.modified == []
    assert ws.diff("a-v1", "a-v2").added == ["f.txt"]


def test_export_and_read_file(ws: Workspaces, tmp_path: Path) -> None:
    ws.create("a", mount="w1")
    script = write(slot(ws) / "run.sh", "#!/bin/sh\n")
    script.chmod(0o755)
    os.symlink("run.sh", slot(ws) / "alias.sh")
    v = ws.save_version("w1", "script")
    dest = tmp_path / "exported"
    assert ws.export("a-v2", dest).tag == "a-v2"
    assert os.access(dest / "run.sh", os.X_OK)
    assert os.readlink(dest / "alias.sh") == "run.sh"
    by_commit = tmp_path / "by-commit"
    ws.export(v.commit, by_commit)
    assert (by_commit / "run.sh").read_text() == "#!/bin/sh\n"
    assert ws.files("a-v2")["run.sh"] == git(ws, "rev-parse", "a-v2:run.sh")
    with pytest.raises(ConflictError, match="not empty"):
        ws.export("a-v2", dest)
    with pytest.raises(NotFoundError, match=re.escape("a-v2 has no file 'nope.sh'")):
        ws.read_file("a-v2", "nope.sh")


def test_delete_keeps_versions(ws: Workspaces) -> None:
    ws.create("gone", mount="w1")
    write(slot(ws) / "x", "1")
    ws.unmount("w1")
    ws.delete("gone")
    assert [i.name for i in ws.list()] == []
    assert ws.resolve_version("gone-v2").kind == "unmount"
    assert git(ws, "rev-parse", "gone-v2") == ws.resolve_version("gone-v2").commit
    with pytest.raises(NotFoundError, match="unknown workspace 'gone'"):
        ws.mount("gone")
    with pytest.raises(ConflictError, match="already exists"):
        ws.create("gone")
    assert "workspace.deleted" in events(ws)


def test_list_and_slot_map(ws: Workspaces) -> None:
    ws.create("a", mount="")
    ws.create("b")
    assert [(i.name, i.slot, i.version_count) for i in ws.list()] == [("a", "w1", 1),
                                                                     ("b", None, 1)]
    assert ws.slot_map() == {"w1": "a", "w2": None, "w3": None}
    assert ws.mount("b") == "w2"


def test_max_file_bytes_comes_from_the_service_argument(goldfish_project: Project) -> None:
    small = Workspaces(goldfish_project, max_file_bytes=10)
    small.create("a", mount="w1")
    write(goldfish_project.slot_path("w1") / "big.txt", "x" * 11)
    with pytest.raises(GoldfishError, match=re.escape("'big.txt' in w1 is 11 B, over the 10 B limit")):
        small.save_version("a", "too big")
    assert Workspaces(goldfish_project).save_version("a", "fine").number == 2


# --- bad input: a short error naming problem and fix, and nothing changes on disk -------------


@pytest.fixture
def busy(ws: Workspaces) -> Workspaces:
    ws.create("base", mount="w1")
    write(slot(ws) / "m.py", "1\n")
    ws.save_version("base", "one")
    ws.create("other")
    return ws


BAD_CALLS: list[tuple[str, Any, type[GoldfishError], str]] = [
    ("path name", lambda ws: ws.create("../evil"), InvalidInputError, "contains a path"),
    ("slash name", lambda ws: ws.create("a/b"), InvalidInputError, "contains a path"),
    ("bad chars", lambda ws: ws.create("Bad Name!"), InvalidInputError, "is not allowed"),
    ("slot-like name", lambda ws: ws.create("w2"), InvalidInputError, "looks like a slot"),
    ("exists", lambda ws: ws.create("base"), ConflictError, "already exists"),
    ("occupied", lambda ws: ws.mount("other", "w1"), ConflictError,
     "slot 'w1' is occupied by workspace 'base'"),
    ("create into occupied", lambda ws: ws.create("new", mount="w1"), ConflictError,
     "occupied"),
    ("unknown ws", lambda ws: ws.mount("nope"), NotFoundError, "unknown workspace 'nope'"),
    ("missing slot", lambda ws: ws.mount("other", "w9"), NotFoundError,
     "slot 'w9' does not exist"),
    ("missing version", lambda ws: ws.rollback("base", "7"), NotFoundError,
     "has no version v7"),
    ("foreign version", lambda ws: ws.rollback("other", "base-v2"), InvalidInputError,
     "belongs to workspace 'base'"),
    ("delete mounted", lambda ws: ws.delete("base"), ConflictError, "is mounted in slot 'w1'"),
    ("diff unknown", lambda ws: ws.diff("base-v1", "nope-v3"), NotFoundError,
     "unknown version 'nope-v3'"),
    ("unmount empty", lambda ws: ws.unmount("w2"), ConflictError, "no workspace mounted"),
    ("save unmounted", lambda ws: ws.save_version("other", "x"), ConflictError,
     "not mounted"),
    ("tag reserved", lambda ws: ws.tag("base-v1", "x-v2"), InvalidInputError,
     "looks like a version tag"),
]


@pytest.mark.parametrize(("label", "call", "error", "text"), BAD_CALLS,
                         ids=[c[0] for c in BAD_CALLS])
def test_bad_input_changes_nothing(busy: Workspaces, label: str, call: Any,
                                   error: type[GoldfishError], text: str) -> None:
    before = disk_state(busy.project)
    with pytest.raises(error) as err:
        call(busy)
    assert text in err.value.message
    assert err.value.hint
    assert disk_state(busy.project) == before


def test_occupied_by_stray_files_is_refused(busy: Workspaces) -> None:
    write(slot(busy, "w2") / "stray.txt", "mine")
    before = disk_state(busy.project)
    with pytest.raises(ConflictError, match="holds files but no workspace"):
        busy.mount("other", "w2")
    assert disk_state(busy.project) == before


def test_oversized_file_and_escaping_symlink_change_nothing(busy: Workspaces,
                                                            tmp_path: Path) -> None:
    big = Workspaces(busy.project, max_file_bytes=100)
    write(slot(busy) / "data.csv", "x" * 200)
    before = disk_state(busy.project)
    with pytest.raises(GoldfishError, match=re.escape("'data.csv'")) as err:
        big.save_version("base", "big")
    assert "goldfish sources add" in (err.value.hint or "")
    assert disk_state(busy.project) == before
    (slot(busy) / "data.csv").unlink()
    write(tmp_path / "outside.txt", "secret")
    os.symlink(tmp_path / "outside.txt", slot(busy) / "leak.txt")
    before = disk_state(busy.project)
    with pytest.raises(InvalidInputError, match=re.escape("symlink 'leak.txt' points outside the slot")):
        busy.save_version("base", "leak")
    assert disk_state(busy.project) == before
