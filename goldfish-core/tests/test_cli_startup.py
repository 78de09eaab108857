"""What a short command pays before it works: only its own parser, no backend code, no models.

Start-up time itself is measured by tests/benchmarks/cli_commands.py; these tests pin the
mechanisms (what is built and imported), which do not depend on the machine's speed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from foundation_support import GOLDFISH, run_cli
from goldfish.builtins.commands import COMMAND_MODULES
from goldfish.cli import _command_name, main
from goldfish.plugins import Plugins


def modules_after(args: list[str], cwd: Path, xdg: Path) -> set[str]:
    """Every module in ``sys.modules`` after ``goldfish ARGS`` ran (the console script itself,
    run by runpy so that its ``sys.path`` is the one users get)."""
    probe = ("import runpy, sys\n"
             f"sys.argv = [{GOLDFISH!r}, *{args!r}]\n"
             f"sys.path[0] = {str(Path(GOLDFISH).parent)!r}\n"
             "try:\n"
             f"    runpy.run_path({GOLDFISH!r}, run_name='__main__')\n"
             "except SystemExit as exc:\n"
             "    assert not exc.code, exc.code\n"
             "sys.stderr.write('\\n@@' + '\\n@@'.join(sorted(sys.modules)))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["XDG_CACHE_HOME"] = str(xdg)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {line[2:] for line in proc.stderr.splitlines() if line.startswith("@@")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("startup") / "lab"
    result = run_cli("init", str(root), "--name", "lab", cache=root.parent / "xdg")
    assert result.code == 0, result.err
    return root


def test_command_modules_list_exactly_what_each_registers() -> None:
    for module, commands in COMMAND_MODULES.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(sub)
        assert tuple(sub.choices) == commands, module


@pytest.mark.parametrize(("argv", "command"), [
    (["save", "w1", "-m", "x"], "save"),
    (["--project", "p", "status"], "status"),
    (["-P", "p", "runs", "--json"], "runs"),
    (["--project=p", "log", "ws"], "log"),
    (["-Pp", "diff", "a"], "diff"),
    (["--help"], None),
    (["-h", "save"], None),
    ([], None),
])
def test_the_command_is_found_after_the_global_options(argv: list[str],
                                                       command: str | None) -> None:
    assert _command_name(argv) == command


def test_a_short_command_builds_and_imports_only_its_own_command_module(lab: Path) -> None:
    loaded = modules_after(["status", "--peek"], lab, lab.parent / "xdg")
    cli_modules = {m for m in loaded if m.startswith("goldfish.cli.")}
    assert cli_modules == {"goldfish.cli.common", "goldfish.cli.memory_cmds"}


def test_a_typo_still_lists_every_command(goldfish_plugins: Plugins,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["sav", "w1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'sav'" in err
    choices = err.split("choose from", 1)[1]
    for name in (c for commands in COMMAND_MODULES.values() for c in commands):
        assert f"'{name}'" in choices


def test_a_subcommand_help_and_usage_errors_are_its_own(goldfish_plugins: Plugins,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    with pytest.raises(SystemExit):
        main(["save", "--help"])
    assert capsys.readouterr().out.startswith("usage: goldfish save ")
    with pytest.raises(SystemExit) as info:
        main(["save", "w1"])
    assert info.value.code == 2
    assert "the following arguments are required: -m/--message" in capsys.readouterr().err


def test_building_the_plugin_manager_imports_no_backend() -> None:
    code = ("import sys\nfrom goldfish.plugins import build\np = build(load_entry_points=False)\n"
            "before = sorted(m for m in ('goldfish.builtins.local_compute', "
            "'goldfish.builtins.file_storage', 'goldfish.compute', 'subprocess') "
            "if m in sys.modules)\n"
            "local = p.registries.compute['local']\n"
            "print(before, local.capabilities.detached, local.load().__name__, "
            "p.registries.storage['file'].load().__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "True", "LocalBackend", "FileStorage"]


def test_cached_status_and_save_import_no_models_yaml_or_backends(lab: Path) -> None:
    xdg = lab.parent / "xdg"
    assert run_cli("workspace", "create", "exp", "--mount", "w1", cwd=lab, cache=xdg).code == 0
    (lab / "workspaces" / "w1" / "train.py").write_text("print(1)\n")
    heavy = {"pydantic", "yaml", "dulwich", "goldfish.config", "goldfish.pipeline",
             "goldfish.builtins.local_compute", "goldfish.compute", "importlib.resources",
             "goldfish.patterns", "goldfish.findings", "tempfile", "goldfish.goals"}
    for args in (["status", "--peek"], ["save", "w1", "-m", "one edit"]):
        loaded = modules_after(args, lab, xdg)
        assert not heavy & loaded, (args, sorted(heavy & loaded))
    assert run_cli("history", "exp", cwd=lab, cache=xdg).out.count("one edit") == 1


PIPELINE = """name: two
stages:
  - name: prepare
    outputs: {data: {type: json}}
  - name: train
    inputs: {data: {from: prepare.data}}
    outputs: {model: {type: json}}
"""


def test_a_cached_run_imports_no_models_and_no_reviewer(tmp_path: Path) -> None:
    """`goldfish run --wait` with a recorded config: profiles, svs and review settings and the
    storage settings come from the record's plain data, and the skipped review (no model) is
    recorded without importing the reviewer."""
    src, root, xdg = tmp_path / "src", tmp_path / "lab", tmp_path / "xdg"
    (src / "modules").mkdir(parents=True)
    (src / "pipeline.yaml").write_text(PIPELINE)
    (src / "modules" / "prepare.py").write_text(
        "from goldfish import io\nio.save_output('data', {'xs': [1, 2]})\n")
    (src / "modules" / "train.py").write_text(
        "from goldfish import io\nio.save_output('model', {'w': sum(io.load_input('data')['xs'])})\n")
    assert run_cli("init", str(root), "--name", "lab", "--from", str(src), "--workspace", "exp",
                   cache=xdg).code == 0
    first = run_cli("run", "w1", "--wait", "--no-cache", cwd=root, cache=xdg)  # records config
    assert first.code == 0, first.err
    heavy = {"pydantic", "goldfish.config", "goldfish_reviewers.reviewer",
             "goldfish_reviewers.settings", "goldfish_svs.config"}
    loaded = modules_after(["run", "w1", "--wait", "--no-cache"], root, xdg)
    assert not heavy & loaded, sorted(heavy & loaded)
    shown = run_cli("runs", cwd=root, cache=xdg)
    assert shown.code == 0 and shown.out.count("done") >= 2, shown.out
