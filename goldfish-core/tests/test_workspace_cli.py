"""The workspace commands through ``goldfish.cli.main`` and the real console script."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from goldfish.project import Project
from ws_support import cli, cli_process, disk_state, write


@pytest.fixture
def project(goldfish_project: Project) -> Project:
    return goldfish_project


def ok(project: Project, *args: str) -> str:
    result = cli(project, *args)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    return result.out


def test_full_workflow(project: Project) -> None:
    out = ok(project, "workspace", "create", "base", "--goal", "first try", "--mount")
    assert "Created workspace base at base-v1" in out and "workspaces/w1" in out
    w1 = project.slot_path("w1")
    write(w1 / "train.py", "lr = 0.1\n")
    assert "Saved base-v2" in ok(project, "save", "base", "-m", "baseline")
    assert "No changes since base-v2" in ok(project, "save", "w1", "-m", "again")
    write(w1 / "train.py", "lr = 0.2\n")
    stat = ok(project, "diff", "base", "--stat")
    assert "train.py" in stat and "+1 -1" in stat
    patch = ok(project, "diff", "base")
    assert "-lr = 0.1\n+lr = 0.2" in patch
    ok(project, "save", "w1", "-m", "higher lr")
    log = ok(project, "log", "base")
    assert log.splitlines()[0].startswith("base-v3") and "higher lr" in log
    assert ok(project, "history", "base") == log
    history = json.loads(ok(project, "history", "base", "--json"))
    assert [v["number"] for v in history] == [1, 2, 3]

    assert "base-v4" in ok(project, "rollback", "base", "v2")
    assert (w1 / "train.py").read_text() == "lr = 0.1\n"
    assert "Tagged base-v3 as best" in ok(project, "tag", "base-v3", "best")
    assert "base-v3" in ok(project, "tag")
    assert "-lr = 0.2\n+lr = 0.1" in ok(project, "diff", "best", "base-v4")

    out = ok(project, "workspace", "create", "fork", "--from", "best", "--mount", "w3")
    assert "from base-v3" in out and "workspaces/w3" in out
    assert (project.slot_path("w3") / "train.py").read_text() == "lr = 0.2\n"
    listing = json.loads(ok(project, "workspace", "list", "--json"))
    assert {w["name"]: w["slot"] for w in listing["workspaces"]} == {"base": "w1", "fork": "w3"}
    assert listing["slots"] == {"w1": "base", "w2": None, "w3": "fork"}
    human = ok(project, "workspace", "list")
    assert "free slots: w2" in human
    # columns line up under the header even when every name is shorter than "WORKSPACE"
    header, *rows, _ = human.splitlines()
    slot_at = header.index("SLOT")
    assert sorted(row[slot_at:slot_at + 3] for row in rows) == ["w1 ", "w3 "]
    show = ok(project, "workspace", "show", "fork")
    assert "forked:   base-v3" in show and "workspaces/w3" in show

    assert "Unmounted fork" in ok(project, "unmount", "w3")
    assert "Mounted fork in workspaces/w2" in ok(project, "mount", "fork")
    ok(project, "unmount", "fork")
    assert "versions are kept" in ok(project, "workspace", "delete", "fork")
    assert "fork" not in ok(project, "workspace", "list")


def test_create_from_dir(project: Project, tmp_path: Path) -> None:
    src = tmp_path / "code"
    write(src / "main.py", "print('x')\n")
    out = ok(project, "workspace", "create", "imported", "--from-dir", str(src), "--mount")
    assert "from " + str(src) in out
    assert (project.slot_path("w1") / "main.py").read_text() == "print('x')\n"


def test_real_console_script(project: Project) -> None:
    first = cli_process(project, "workspace", "create", "proc", "--mount", "w2")
    assert first.code == 0, first.err
    write(project.slot_path("w2") / "a.py", "1\n")
    saved = cli_process(project, "save", "w2", "-m", "from a subprocess", "--json")
    assert saved.code == 0, saved.err
    assert json.loads(saved.out)["tag"] == "proc-v2"
    bad = cli_process(project, "mount", "proc", "w1")
    assert bad.code != 0
    assert bad.err.startswith("error: workspace 'proc' is already mounted in slot 'w2'")
    assert "hint:" in bad.err and "Traceback" not in bad.err


@pytest.fixture
def busy(project: Project) -> Project:
    ok(project, "workspace", "create", "base", "--mount", "w1")
    write(project.slot_path("w1") / "m.py", "1\n")
    ok(project, "save", "base", "-m", "one")
    ok(project, "workspace", "create", "other")
    return project


BAD = [
    (["workspace", "create", "../up"], "contains a path", "plain name"),
    (["workspace", "create", "a/b"], "contains a path", "plain name"),
    (["workspace", "create", "UPPER"], "'UPPER' is not allowed", "lowercase"),
    (["workspace", "create", "base"], "workspace 'base' already exists", "another name"),
    (["mount", "other", "w1"], "slot 'w1' is occupied by workspace 'base'", "goldfish unmount w1"),
    (["mount", "nope"], "unknown workspace 'nope'", "existing workspaces"),
    (["mount", "other", "w7"], "slot 'w7' does not exist", "slots:"),
    (["rollback", "base", "9"], "workspace 'base' has no version v9", "goldfish history base"),
    (["workspace", "delete", "base"], "workspace 'base' is mounted in slot 'w1'",
     "goldfish unmount w1"),
    (["diff", "base-v1", "ghost-v2"], "unknown version 'ghost-v2'", ""),
    (["unmount", "w3"], "slot 'w3' has no workspace mounted", "goldfish mount NAME w3"),
    (["tag", "base-v1"], "needs a VERSION and a NAME", "goldfish tag"),
]


@pytest.mark.parametrize(("argv", "message", "hint"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input(busy: Project, argv: list[str], message: str, hint: str) -> None:
    before = disk_state(busy)
    result = cli(busy, *argv)
    assert result.code != 0
    assert result.err.startswith("error: ") and message in result.err
    assert "hint: " in result.err and hint in result.err.split("hint: ", 1)[1]
    assert "Traceback" not in result.err and len(result.err.splitlines()) <= 3
    assert disk_state(busy) == before


def test_file_over_limit_and_escaping_symlink(busy: Project, tmp_path: Path) -> None:
    config = busy.config_path.read_text().replace("max_file_mb: 50", "max_file_mb: 0.001")
    busy.config_path.write_text(config)
    write(busy.slot_path("w1") / "weights.bin", b"\1" * 2000)
    before = disk_state(busy)
    result = cli(busy, "save", "base", "-m", "big")
    assert result.code != 0
    assert "error: file 'weights.bin' in w1 is 2.0 KB, over the 1.0 KB limit" in result.err
    assert "goldfish sources add" in result.err and "Traceback" not in result.err
    assert disk_state(busy) == before

    (busy.slot_path("w1") / "weights.bin").unlink()
    write(tmp_path / "elsewhere.txt", "x")
    os.symlink(tmp_path / "elsewhere.txt", busy.slot_path("w1") / "link")
    before = disk_state(busy)
    result = cli(busy, "save", "w1", "-m", "link")
    assert result.code != 0
    assert "symlink 'link' points outside the slot" in result.err
    assert str(tmp_path / "elsewhere.txt") in result.err
    assert disk_state(busy) == before
