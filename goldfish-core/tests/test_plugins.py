"""Plugin discovery end to end: the example and broken plugins are real installed distributions
(tests/plugins/*, in the dev group), found through their ``goldfish.plugins`` entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from foundation_support import run_cli
from goldfish import hookimpl
from goldfish.errors import GoldfishError
from goldfish.plugins import Plugins, build, get_plugins


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def plugins_json(cache: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    result = run_cli("plugins", "--json", env=env, cache=cache)
    data: dict[str, object] = json.loads(result.out)
    assert result.code == (1 if data["errors"] else 0), result.err  # non-zero: a plugin failed
    return data


def names(report: dict[str, object], key: str = "plugins") -> list[str]:
    return [p["name"] for p in report[key]]  # type: ignore[attr-defined]


def test_installed_plugin_is_discovered_through_its_entry_point(cache: Path) -> None:
    report = plugins_json(cache)
    example = next(p for p in report["plugins"] if p["name"] == "example")  # type: ignore[attr-defined]
    assert example["builtin"] is False and example["version"] == "0.1.0"
    assert example["hooks"] == ["register_commands", "register_compute_backends",
                                "register_config_sections", "register_storage_backends"]
    assert report["compute_backends"]["example"] == "example"  # type: ignore[index]
    assert "example" in report["config_sections"]  # type: ignore[operator]
    builtins = [p["name"] for p in report["plugins"] if p["builtin"]]  # type: ignore[attr-defined]
    assert {"core_config", "local_compute", "file_storage", "commands"} <= set(builtins)
    hello = run_cli("hello", cache=cache)
    assert (hello.code, hello.out) == (0, "hello from goldfish-example-plugin\n")


def test_example_backend_and_section_work_in_process(tmp_path: Path) -> None:
    from goldfish.testing.contracts import wait_final, write_job_dir

    plugins = build()
    assert any(i.name == "example" and not i.builtin for i in plugins.infos())
    backend_cls = plugins.compute_backend("example").load()
    backend = backend_cls(tmp_path, {"niceness": 3})
    job = write_job_dir(tmp_path / "job", "import os; print('nice', os.nice(0)); "
                                          "raise SystemExit(3)")
    handle = backend.launch(job)
    status = wait_final(backend, handle, 60)
    assert (status.state, status.exit_code) == ("exited", 3)
    assert "nice 3" in backend.logs(handle).text
    (tmp_path / "goldfish.yaml").write_text(
        "project: p\nexample: {greeting: hi, repeat: 2}\n"
        "profiles:\n  ex: {backend: example, niceness: 4}\n")
    from goldfish.config import load_config

    config = load_config(tmp_path / "goldfish.yaml", plugins)
    assert config.section("example").repeat == 2
    assert config.profile("ex").backend_config == {"niceness": 4, "kill_grace_seconds": 10.0}


def test_broken_plugins_are_reported_and_do_not_crash_the_cli(cache: Path) -> None:
    result = run_cli("plugins", cache=cache)
    assert result.code == 1 and "Traceback" not in result.err
    lines = {line.split()[0]: line for line in result.out.splitlines() if line.strip()}
    assert "ERROR" in lines["broken"]
    assert "RuntimeError: goldfish-broken-plugin fails to import on purpose" in lines["broken"]
    assert "unknown hook 'register_comands' (did you mean 'register_commands'?)" in \
        lines["misspelt"]
    assert "GOLDFISH_LOAD_PLUGINS" in result.out  # the way out is named
    hello = run_cli("hello", cache=cache)  # other commands keep working, silently
    assert hello.code == 0 and hello.err == ""


def test_allow_list_loads_only_the_named_plugins(cache: Path) -> None:
    only = plugins_json(cache, {"GOLDFISH_LOAD_PLUGINS": "example"})
    external = [p["name"] for p in only["plugins"] if not p["builtin"]]  # type: ignore[attr-defined]
    assert external == ["example"]
    assert only["errors"] == []  # the broken plugin was not even imported
    none = plugins_json(cache, {"GOLDFISH_LOAD_PLUGINS": ""})
    assert [p["name"] for p in none["plugins"] if not p["builtin"]] == []  # type: ignore[attr-defined]
    assert "core_config" in names(none)  # built-ins always load
    missing = plugins_json(cache, {"GOLDFISH_LOAD_PLUGINS": "exampel"})
    assert names(missing, "errors") == ["exampel"]


def test_allow_list_hides_plugin_commands(cache: Path) -> None:
    result = run_cli("hello", env={"GOLDFISH_LOAD_PLUGINS": ""}, cache=cache)
    assert result.code == 2 and "invalid choice: 'hello'" in result.err
    assert "Traceback" not in result.err


def test_trace_prints_every_hook_call(cache: Path) -> None:
    result = run_cli("plugins", env={"GOLDFISH_TRACE_PLUGINS": "1",
                                     "GOLDFISH_LOAD_PLUGINS": "example"}, cache=cache)
    assert result.code == 0
    assert "[goldfish trace] register_commands(" in result.err
    assert "'commands'" in result.err and "'example'" in result.err  # the plugins called
    assert "[goldfish trace] register_commands returned" in result.err
    quiet = run_cli("plugins", env={"GOLDFISH_LOAD_PLUGINS": "example"}, cache=cache)
    assert "[goldfish trace]" not in quiet.err


class Misspelt:
    @hookimpl
    def validate_pipelines(self, pipeline: object) -> list[object]:
        return []


def test_unknown_hook_name_is_rejected_when_registered(goldfish_plugins: Plugins) -> None:
    with pytest.raises(GoldfishError) as info:
        goldfish_plugins.register(Misspelt(), name="misspelt-test")
    assert "unknown hook 'validate_pipelines' (did you mean 'validate_pipeline'?)" in str(info.value)
    assert not goldfish_plugins.pm.has_plugin("misspelt-test")
    goldfish_plugins.pm.check_pending()  # the manager stays usable


def test_unknown_hook_name_is_reported_at_build() -> None:
    plugins = build(load_entry_points=False, extra=[("misspelt-test", Misspelt())])
    assert [e.name for e in plugins.load_errors] == ["misspelt-test"]
    assert "unknown hook 'validate_pipelines'" in plugins.load_errors[0].error
    assert not plugins.pm.has_plugin("misspelt-test")
    plugins.pm.check_pending()


class BadArguments:
    @hookimpl
    def validate_outputs(self, context: object, extra: object) -> None:
        return None


def test_hook_with_arguments_the_spec_lacks_is_rejected(goldfish_plugins: Plugins) -> None:
    with pytest.raises(GoldfishError) as info:
        goldfish_plugins.register(BadArguments(), name="bad-args")
    assert info.value.message == (
        "plugin 'bad-args' cannot be registered: hook 'validate_outputs' takes argument(s) "
        "'extra' the spec does not have; expected names: context")


def test_goldfish_plugins_fixture_is_isolated_and_restored(goldfish_plugins: Plugins) -> None:
    assert get_plugins() is goldfish_plugins
    assert not goldfish_plugins.pm.has_plugin("example")
    assert all(i.builtin for i in goldfish_plugins.infos())


def test_pytest_plugin_is_registered_for_plugin_authors(tmp_path: Path) -> None:
    """A plugin author's test suite gets the fixtures just by installing goldfish-core."""
    (tmp_path / "test_author.py").write_text(
        "def test_fixtures(goldfish_project, register_goldfish_plugin, goldfish_plugins):\n"
        "    assert goldfish_project.config.project == 'test-project'\n"
        "    assert goldfish_project.plugins is goldfish_plugins\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_author.py")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_recorded_entry_points_load_the_same_plugins_and_errors_as_stevedore(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from goldfish import envcache, plugins

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("GOLDFISH_NO_CACHE", raising=False)
    monkeypatch.delenv("GOLDFISH_LOAD_PLUGINS", raising=False)
    assert envcache.read("plugins") is None
    scanned = plugins.build()  # stevedore scan, then the record is written
    assert envcache.read("plugins") is not None
    recorded = plugins.build()  # from the record

    def summary(p: plugins.Plugins) -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
        return ([(i.name, i.hooks) for i in p.infos()], sorted(e.name for e in p.load_errors))

    assert summary(recorded) == summary(scanned)
    assert "example" in [i.name for i in recorded.infos()]
    assert "broken" in summary(recorded)[1]

    monkeypatch.setenv("GOLDFISH_LOAD_PLUGINS", "example,nosuch")
    only = plugins.build()
    assert [i.name for i in only.infos() if not i.builtin] == ["example"]
    assert [e.name for e in only.load_errors] == ["nosuch"]


def test_a_corrupt_entry_point_record_falls_back_to_stevedore(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from goldfish import envcache, plugins

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("GOLDFISH_NO_CACHE", raising=False)
    monkeypatch.delenv("GOLDFISH_LOAD_PLUGINS", raising=False)
    envcache.write("{not json", "plugins")
    rebuilt = plugins.build()
    assert "example" in [i.name for i in rebuilt.infos()]
    assert (envcache.read("plugins") or "").startswith("[")


# --- tooling for plugin authors: goldfish plugins / doctor on the broken plugins ---------------


def test_plugins_lists_distribution_and_what_each_plugin_registers(cache: Path) -> None:
    report = plugins_json(cache)
    example = next(p for p in report["plugins"] if p["name"] == "example")  # type: ignore[attr-defined]
    assert example["distribution"] == "goldfish-example-plugin"
    assert example["registers"] == {"compute_backends": ["example"], "storage_schemes": ["dir://"],
                                    "config_sections": ["example"], "commands": ["hello"]}
    files = next(p for p in report["plugins"] if p["name"] == "file_storage")  # type: ignore[attr-defined]
    assert (files["distribution"], files["registers"]) == (
        "goldfish-core", {"storage_schemes": ["file://"]})
    text = run_cli("plugins", cache=cache).out
    assert "goldfish-example-plugin" in text and "backends: example" in text
    assert "commands: hello" in text
    clean = run_cli("plugins", env={"GOLDFISH_LOAD_PLUGINS": "example"}, cache=cache)
    assert clean.code == 0, clean.out  # nothing failed: success


def test_a_wrong_hook_argument_is_one_line_with_the_expected_names(cache: Path) -> None:
    report = plugins_json(cache)
    errors = {e["name"]: e["error"] for e in report["errors"]}  # type: ignore[attr-defined]
    assert errors["badargs"] == (
        "plugin 'badargs' not loaded: hook 'register_commands' takes argument(s) 'parser' the "
        "spec does not have; expected names: cli, command")


def test_a_hook_typo_is_reported_and_the_plugins_valid_hooks_are_kept(cache: Path) -> None:
    report = plugins_json(cache)
    errors = {e["name"]: e["error"] for e in report["errors"]}  # type: ignore[attr-defined]
    assert "unknown hook 'register_compute_backend' (did you mean 'register_compute_backends'?)" \
        in errors["typos"]
    typos = next(p for p in report["plugins"] if p["name"] == "typos")  # type: ignore[attr-defined]
    assert typos["hooks"] == ["register_commands", "register_storage_backends"]
    kept = run_cli("typos-ok", cache=cache)
    assert (kept.code, kept.out) == (0, "the valid hook was kept\n")


def test_doctor_imports_registered_names_and_blames_the_plugin(tmp_path: Path,
                                                               cache: Path) -> None:
    result = run_cli("doctor", "--json", cwd=tmp_path, cache=cache)
    checks = json.loads(result.out)
    typos = [c["detail"] for c in checks if c["subject"] == "plugin typos"]
    assert ("storage backend typo:// factory: 'goldfish_broken.typos:TypoStorag' cannot be "
            "imported (AttributeError: module 'goldfish_broken.typos' has no attribute "
            "'TypoStorag')") in typos
    assert any("config_model: 'goldfish_broken.typos:TypoSettings' cannot be imported" in d
               for d in typos)
    assert result.code == 0  # no project uses it: a warning


def _project(tmp_path: Path, cache: Path, yaml_tail: str) -> Path:
    root = tmp_path / "lab"
    assert run_cli("init", str(root), "--name", "lab", cache=cache).code == 0
    (root / "goldfish.yaml").write_text(f"project: lab\n{yaml_tail}", encoding="utf-8")
    return root


def test_a_project_on_a_typo_registered_storage_fails_doctor(tmp_path: Path,
                                                             cache: Path) -> None:
    root = _project(tmp_path, cache, "storage: typo://bucket/x\n")
    result = run_cli("config", "check", cwd=root, cache=cache)
    assert result.code != 0 and "Traceback" not in result.err
    assert "the typo:// storage backend (plugin 'typos') is broken" in result.err
    assert "TypoSettings" in result.err


def test_a_backend_whose_plugin_failed_to_import_says_so(tmp_path: Path, cache: Path) -> None:
    root = _project(tmp_path, cache, "profiles:\n  remote: {backend: broken}\n")
    result = run_cli("config", "check", cwd=root, cache=cache)
    assert result.code != 0 and "Traceback" not in result.err
    assert ("compute backend 'broken' is not available: plugin 'broken' failed to load: "
            "RuntimeError: goldfish-broken-plugin fails to import on purpose") in result.err
    assert "pip install" not in result.err


def test_plugins_dir_loads_modules_without_packaging(tmp_path: Path, cache: Path) -> None:
    folder = tmp_path / "dev-plugins"
    folder.mkdir()
    (folder / "devhello.py").write_text(
        "from goldfish import hookimpl\n\n\n@hookimpl\ndef register_commands(cli):\n"
        "    p = cli.add_parser('devhello', help='from a plugins folder')\n"
        "    p.set_defaults(handler=lambda args: print('hello from the folder'))\n")
    (folder / "devbroken.py").write_text("raise ImportError('devbroken fails on purpose')\n")
    (folder / "_private.py").write_text("raise SystemExit('never imported')\n")
    env = {"GOLDFISH_PLUGINS_DIR": str(folder)}
    assert "devhello" not in run_cli("--help", cache=cache).out  # caches the help text
    assert "devhello" in run_cli("--help", env=env, cache=cache).out
    hello = run_cli("devhello", env=env, cache=cache)
    assert (hello.code, hello.out) == (0, "hello from the folder\n"), hello.err
    report = json.loads(run_cli("plugins", "--json", env=env, cache=cache).out)
    dev = next(p for p in report["plugins"] if p["name"] == "devhello")
    assert dev["registers"] == {"commands": ["devhello"]} and dev["builtin"] is False
    errors = {e["name"]: e["error"] for e in report["errors"]}
    assert errors["devbroken"] == "ImportError: devbroken fails on purpose"
    assert "_private" not in errors
    only = json.loads(run_cli("plugins", "--json", env={**env, "GOLDFISH_LOAD_PLUGINS": ""},
                              cache=cache).out)
    assert "devhello" not in [p["name"] for p in only["plugins"]]


def test_a_project_whose_storage_factory_has_a_typo_fails_doctor(tmp_path: Path,
                                                                  cache: Path) -> None:
    folder = tmp_path / "dev-plugins"
    folder.mkdir()
    (folder / "typostore.py").write_text(
        "from goldfish import hookimpl\n\n\n@hookimpl\ndef register_storage_backends(register):\n"
        "    register('tst', 'goldfish.builtins.file_storage:FileStorag')\n")
    env = {"GOLDFISH_PLUGINS_DIR": str(folder)}
    root = tmp_path / "lab"
    assert run_cli("init", str(root), "--name", "lab", env=env, cache=cache).code == 0
    (root / "goldfish.yaml").write_text("project: lab\nstorage: tst://store\n", encoding="utf-8")
    result = run_cli("doctor", "--json", cwd=root, env=env, cache=cache)
    assert result.code == 1, result.out
    checks = {(c["status"], c["subject"]): c["detail"] for c in json.loads(result.out)}
    assert checks[("fail", "storage")].startswith(
        "storage backend for tst:// (plugin 'typostore') cannot be loaded: "
        "'goldfish.builtins.file_storage:FileStorag' raised AttributeError")
    assert "plugin typostore" in {subject for _, subject in checks}
