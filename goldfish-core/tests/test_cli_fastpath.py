"""`goldfish save`'s short cut (goldfish.cli.fastpath) does what the general path does.

The short cut reads the plain form of the command itself and takes the plugin set from the
recorded plugin index instead of building the parser and importing every plugin. These tests
run the real console script twice — once by the short cut, once by the general path (the same
command spelled with an abbreviated option, which only argparse understands) — on twin
projects and compare what each recorded and said, including the failures.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from foundation_support import Result, run_cli
from goldfish import envcache, plugins
from goldfish.cli.fastpath import parse_save
from test_cli_startup import modules_after

FAST = ("-m", "tune the learning rate")
FULL = ("--messa", "tune the learning rate")  # an abbreviation: argparse only


def cli(*args: str, cwd: Path, cache: Path) -> Result:
    """The console script with the caches on (whatever the environment running the tests)."""
    return run_cli(*args, cwd=cwd, cache=cache, env={"GOLDFISH_NO_CACHE": ""})


@pytest.fixture
def twins(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two projects made alike, each with a workspace mounted in w1, and one cache."""
    cache = tmp_path / "xdg"
    roots = []
    for name in ("fast", "full"):
        root = tmp_path / name
        assert cli("init", str(root), "--name", "lab", cwd=tmp_path, cache=cache).code == 0
        assert cli("workspace", "create", "exp", "--mount", "w1", cwd=root, cache=cache).code == 0
        (root / "workspaces" / "w1" / "train.py").write_text("print('v1')\n")
        (root / "workspaces" / "w1" / ".gitignore").write_text("*.log\n")
        (root / "workspaces" / "w1" / "noise.log").write_text("ignored\n")
        roots.append(root)
    return roots[0], roots[1], cache


def records(root: Path) -> dict[str, Any]:
    """What a save leaves behind, without times and commit ids (which carry the time)."""
    conn = sqlite3.connect(root / ".goldfish" / "goldfish.db")
    try:
        versions = conn.execute("SELECT workspace, number, tag, tree_sha, message, kind "
                                "FROM versions ORDER BY number").fetchall()
        events = conn.execute("SELECT kind, subject, summary FROM events ORDER BY id").fetchall()
        slots = conn.execute("SELECT slot, workspace, base_version FROM slots").fetchall()
    finally:
        conn.close()
    state = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?", "<time>",
                   (root / "STATE.md").read_text())
    return {"versions": versions, "events": events, "slots": slots, "state": state}


TIMED = re.compile(r'\([0-9a-f]{10}\)|"commit": "[0-9a-f]{40}"|"created_at": [0-9.]+')


def same_output(a: Result, b: Result) -> None:
    """The same exit code and words; commit ids and times (a commit id carries its time)
    aside."""
    assert a.code == b.code, (a, b)
    assert TIMED.sub("<t>", a.out) == TIMED.sub("<t>", b.out)
    assert a.err == b.err


def test_a_save_by_the_short_cut_records_and_says_what_the_general_path_does(
        twins: tuple[Path, Path, Path]) -> None:
    fast, full, cache = twins
    for i, edit in enumerate(["print('v2')\n", "print('v3')\n", None]):
        for root in (fast, full):
            if edit is not None:
                (root / "workspaces" / "w1" / "train.py").write_text(edit)
        as_json = ("--json",) if i == 1 else ()
        a = cli("save", "w1", *FAST, *as_json, cwd=fast, cache=cache)
        b = cli("save", "w1", *FULL, *as_json, cwd=full, cache=cache)
        same_output(a, b)
    assert "No changes since exp-v3" in a.out  # the third save found nothing new
    assert records(fast) == records(full)
    assert [v[2] for v in records(fast)["versions"]] == ["exp-v1", "exp-v2", "exp-v3"]


def test_the_short_cut_builds_no_parser_and_imports_no_other_plugin(
        twins: tuple[Path, Path, Path]) -> None:
    """The dev environment has plugins installed that add commands (goldfish-mcp's `serve`,
    the example plugin's `hello`, docker's `image`): the short cut still applies, and none of
    them is imported."""
    fast, _, cache = twins
    assert cli("status", cwd=fast, cache=cache).code == 0  # a full build records the index
    (fast / "workspaces" / "w1" / "train.py").write_text("print('v2')\n")
    loaded = modules_after(["save", "w1", "-m", "edit"], fast, cache)
    assert "argparse" not in loaded
    assert not {m for m in loaded if m.startswith(("goldfish_", "stevedore"))}
    assert "goldfish.builtins.state_md" in loaded  # STATE.md is still rewritten
    # records are goldfish.plain classes and the built-ins' marker is pluggy-free: neither
    # dataclasses nor pluggy, nor the inspect both import (~30 ms of a 10,000-file save)
    assert not {"dataclasses", "inspect", "pluggy", "signal"} & loaded
    (fast / "workspaces" / "w1" / "train.py").write_text("print('v3')\n")
    loaded = modules_after(["save", "w1", "--messa", "edit"], fast, cache)
    assert "argparse" in loaded and "goldfish_example" in loaded  # the general path


def test_a_broken_goldfish_yaml_fails_the_same_way(twins: tuple[Path, Path, Path]) -> None:
    fast, full, cache = twins
    for root in (fast, full):
        config = root / "goldfish.yaml"
        config.write_text(config.read_text().replace("slots: 3", "slots: 3\nslotz: 4"))
        (root / "workspaces" / "w1" / "train.py").write_text("print('v2')\n")
    a = cli("save", "w1", *FAST, cwd=fast, cache=cache)
    b = cli("save", "w1", *FULL, cwd=full, cache=cache)
    same_output(a, b.__class__(b.code, b.out, b.err.replace(str(full), str(fast))))
    assert a.code != 0 and "slotz" in a.err and "goldfish.yaml:" in a.err
    assert "Traceback" not in a.err and "internal error" not in a.err
    assert records(fast)["versions"] == records(full)["versions"]
    assert len(records(fast)["versions"]) == 1  # nothing saved


def test_outside_a_project_the_message_is_the_same(tmp_path: Path) -> None:
    cache = tmp_path / "xdg"
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    a = cli("save", "w1", *FAST, cwd=nowhere, cache=cache)
    b = cli("save", "w1", *FULL, cwd=nowhere, cache=cache)
    same_output(a, b)
    assert a.code != 0 and "no goldfish project" in a.err.lower() and "hint:" in a.err


def test_an_unknown_slot_and_a_read_only_file_fail_the_same_way(
        twins: tuple[Path, Path, Path]) -> None:
    fast, full, cache = twins
    same_output(cli("save", "w9", *FAST, cwd=fast, cache=cache),
                cli("save", "w9", *FULL, cwd=full, cache=cache))
    for root in (fast, full):
        secret = root / "workspaces" / "w1" / "secret.py"
        secret.write_text("x = 1\n")
        secret.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        a = cli("save", "w1", *FAST, cwd=fast, cache=cache)
        same_output(a, cli("save", "w1", *FULL, cwd=full, cache=cache))
        assert "secret.py" in a.err


@pytest.mark.parametrize(("argv", "expected"), [
    (["save", "w1", "-m", "x"], ("w1", "x", False, None)),
    (["save", "-m", "x", "w1", "--json"], ("w1", "x", True, None)),
    (["save", "w1", "--message=a b"], ("w1", "a b", False, None)),
    (["save", "w1", "-mfix"], ("w1", "fix", False, None)),
    (["save", "w1", "--message", ""], ("w1", "", False, None)),
    (["-P", "lab", "save", "w1", "-m", "x"], ("w1", "x", False, "lab")),
    (["--project=lab", "save", "w1", "-m", "x"], ("w1", "x", False, "lab")),
    (["-Plab", "save", "w1", "-m", "x"], ("w1", "x", False, "lab")),
])
def test_the_plain_form_is_read(argv: list[str],
                                expected: tuple[str, str, bool, str | None]) -> None:
    args = parse_save(argv)
    assert args is not None
    assert (args.target, args.message, args.json, args.project) == expected


@pytest.mark.parametrize("argv", [
    ["save", "w1"],                           # usage error: argparse words it
    ["save", "-m", "x"],
    ["save", "w1", "-m", "x", "w2"],
    ["save", "w1", "-m", "x", "-m", "y"],
    ["save", "w1", "-m", "-x"],
    ["save", "w1", "-m=x"],
    ["save", "w1", "--mess", "x"],            # abbreviations are argparse's
    ["save", "w1", "-m", "x", "--js"],
    ["save", "--help"],
    ["save", "w1", "-m", "x", "--"],
    ["-P", "save", "w1", "-m", "x"],
    ["-P=lab", "save", "w1", "-m", "x"],
    ["--verbose", "save", "w1", "-m", "x"],
])
def test_anything_else_goes_the_general_way(argv: list[str]) -> None:
    assert parse_save(argv) is None


def write_index(commands: dict[str, list[str]]) -> None:
    envcache.write(json.dumps({"format": plugins.PluginIndex.FORMAT, "builtins": ["commands"],
                               "errors": [], "plugins": [], "calls": {},
                               "commands": commands}), plugins.PluginIndex.KIND,
                   installation=True)


def test_a_plugin_that_registers_save_or_unknown_commands_disables_the_short_cut(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in ("GOLDFISH_NO_CACHE", "GOLDFISH_PLUGINS_DIR", "GOLDFISH_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    previous = plugins.set_plugins(None)
    try:
        write_index({"commands": ["save", "status"], "mine": ["hello"]})
        assert plugins.use_index(command="save", owner="commands")
        assert plugins.set_plugins(None) is not None
        for other in (["save"], ["*"]):
            write_index({"commands": ["save", "status"], "mine": other})
            assert not plugins.use_index(command="save", owner="commands")
        write_index({"commands": ["save"]})
        monkeypatch.setenv("GOLDFISH_NO_CACHE", "1")
        assert not plugins.use_index(command="save", owner="commands")
    finally:
        plugins.set_plugins(previous)


def test_an_edited_plugin_file_makes_the_index_unusable(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in ("GOLDFISH_NO_CACHE", "GOLDFISH_PLUGINS_DIR", "GOLDFISH_TRACE_PLUGINS",
                 "GOLDFISH_LOAD_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    built = plugins.build()  # records the index of this installation
    index = plugins.PluginIndex.read()
    assert index is not None
    assert sorted(n for n, *_ in index.plugins) == sorted(n for n, _ in
                                                          built.pm.list_name_plugin())
    lazy = plugins.Plugins.from_index(index)
    assert lazy.describe() == built.describe()  # the config record's key is the same
    assert [e.error for e in lazy.load_errors] == [e.error for e in built.load_errors]
    module = tmp_path / "edited_plugin.py"
    module.write_text("x = 1\n")
    data = json.loads(envcache.read(plugins.PluginIndex.KIND, installation=True) or "")
    data["plugins"].append(["edited", "edited_plugin", "module edited_plugin", str(module),
                            envcache.stamp(str(module))])
    envcache.write(json.dumps(data), plugins.PluginIndex.KIND, installation=True)
    assert plugins.PluginIndex.read() is not None
    module.write_text("x = 22\n")  # an editable plugin changed under the index
    assert plugins.PluginIndex.read() is None


def test_the_lazy_plugin_set_builds_the_manager_when_asked(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for name in ("GOLDFISH_NO_CACHE", "GOLDFISH_PLUGINS_DIR", "GOLDFISH_TRACE_PLUGINS",
                 "GOLDFISH_LOAD_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    built = plugins.build()
    index = plugins.PluginIndex.read()
    assert index is not None
    lazy = plugins.Plugins.from_index(index)
    lazy.load_errors.append(plugins.LoadError("late", "a hook failed"))
    assert sorted(lazy.registries.compute) == sorted(built.registries.compute)
    assert [e.name for e in lazy.load_errors] == [e.name for e in built.load_errors] + ["late"]
