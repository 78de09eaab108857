"""The CLI's bad-input corpus and the cached top-level help.

Every bad input must give a short error that names the problem and the fix, a non-zero exit, no
traceback, and leave the disk untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from foundation_support import Result, run_cli, tree_digest
from goldfish import envcache as helpcache


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "lab"
    result = run_cli("init", str(root), "--name", "lab", cache=root.parent / "cache")
    assert result.code == 0, result.err
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def assert_clean_failure(result: Result, *needles: str, code: int = 2) -> None:
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert result.err.startswith(("error:", "usage:")), result.err
    assert len(result.err.splitlines()) <= 12, result.err
    for needle in needles:
        assert needle in result.err, f"{needle!r} not in {result.err!r}"


CONFIG_CORPUS = [
    ("unknown top-level key", "project: lab\nslot: 3\n",
     ["goldfish.yaml:2: slot: unknown key 'slot'", "did you mean 'slots'?"]),
    ("unknown profile key", "project: lab\nprofiles:\n  big: {backend: local, memory: 4}\n",
     ["goldfish.yaml:3: profiles.big.memory: unknown key", "did you mean 'memory_gb'?"]),
    ("wrong type", "project: lab\nslots: \"three\"\n",
     ["goldfish.yaml:2: slots: expected an integer, got 'three'", "set `slots` to an integer"]),
    ("slots out of range", "project: lab\nslots: 40\n",
     ["goldfish.yaml:2: slots: expected a value ≤ 20, got 40"]),
    ("default profile missing", "project: lab\ndefault_profile: gpu\n",
     ["goldfish.yaml:2: default_profile: names profile 'gpu', which is not defined",
      "add it under `profiles:`"]),
    ("unknown backend", "project: lab\nprofiles:\n  h100: {backend: tpu}\n",
     ["goldfish.yaml:3: profiles.h100.backend: unknown compute backend 'tpu'",
      "pip install goldfish-backend-tpu"]),
    ("yaml syntax error", "project: lab\nprofiles:\n  local: {backend: local\n",
     ["goldfish.yaml:4: YAML syntax error", "fix the YAML syntax"]),
    ("a list", "- project: lab\n", ["found a list", "write `key: value` lines"]),
    ("empty", "", ["the file is empty", "write at least `project: NAME`"]),
    ("binary garbage", b"\x00\xff\xfe\x01GIF89a\x00", ["not UTF-8 text", "goldfish init"]),
]


@pytest.mark.parametrize("content, needles", [c[1:] for c in CONFIG_CORPUS],
                         ids=[c[0] for c in CONFIG_CORPUS])
@pytest.mark.parametrize("command", [("config", "check"), ("config", "show")])
def test_bad_config_is_reported_cleanly(lab: Path, cache: Path, content: str | bytes,
                                        needles: list[str], command: tuple[str, ...]) -> None:
    config = lab / "goldfish.yaml"
    original = config.read_bytes()
    try:
        config.write_bytes(content if isinstance(content, bytes) else content.encode())
        before = tree_digest(lab)
        result = run_cli(*command, cwd=lab, cache=cache)
        assert_clean_failure(result, *needles)
        assert result.out == ""
        assert tree_digest(lab) == before
    finally:
        config.write_bytes(original)


def test_all_config_problems_come_in_one_report(lab: Path, cache: Path) -> None:
    config = lab / "goldfish.yaml"
    original = config.read_bytes()
    try:
        config.write_text("project: lab\nslots: 99\nprofil: {}\ndefault_profile: x\n")
        result = run_cli("config", "check", cwd=lab, cache=cache)
        assert_clean_failure(result, "(3 problems)", ":2: slots", ":3: profil", ":4: default")
    finally:
        config.write_bytes(original)


def test_config_check_ok_prints_a_summary(lab: Path, cache: Path) -> None:
    result = run_cli("config", "check", cwd=lab / "workspaces" / "w1", cache=cache)
    assert result.code == 0, result.err
    assert result.out.startswith(f"OK: {lab / 'goldfish.yaml'} is valid")
    assert "profiles: local (local) (default: local)" in result.out


def test_config_show_prints_defaults_as_yaml_and_json(lab: Path, cache: Path) -> None:
    import json

    import yaml

    shown = run_cli("config", "show", cwd=lab, cache=cache)
    assert shown.code == 0
    data = yaml.safe_load(shown.out)
    assert data["limits"]["max_file_mb"] == 50 and data["slots"] == 3
    as_json = run_cli("config", "show", "--json", cwd=lab, cache=cache)
    assert json.loads(as_json.out) == data


def test_init_into_an_existing_project_changes_nothing(lab: Path, cache: Path) -> None:
    before = tree_digest(lab)
    result = run_cli("init", str(lab), "--slots", "5", cache=cache)
    assert_clean_failure(result, "a Goldfish project already exists", str(lab / "goldfish.yaml"),
                         "hint:")
    assert tree_digest(lab) == before


def test_init_from_a_missing_directory_creates_nothing(tmp_path: Path, cache: Path) -> None:
    result = run_cli("init", "lab", "--from", "no-such-code", cwd=tmp_path, cache=cache)
    assert_clean_failure(result, "--from 'no-such-code'", "does not exist",
                         "pass the directory that holds the code")
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == []


def test_init_with_bad_slots_is_an_argument_error(tmp_path: Path, cache: Path) -> None:
    result = run_cli("init", "lab", "--slots", "many", cwd=tmp_path, cache=cache)
    assert_clean_failure(result, "--slots: 'many' is not a number (use 1–20)")
    assert not (tmp_path / "lab").exists()


def test_init_prints_what_it_created(tmp_path: Path, cache: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("print('hi')\n")
    result = run_cli("init", "lab", "--slots", "2", "--from", "code", "--workspace", "base",
                     "--goal", "find out", cwd=tmp_path, cache=cache)
    assert result.code == 0, result.err
    assert "Created Goldfish project 'lab'" in result.out
    assert "workspaces/w1, workspaces/w2" in result.out
    assert (tmp_path / "lab" / "workspaces" / "w1" / "train.py").is_file()


def test_project_option_pointing_nowhere(tmp_path: Path, cache: Path) -> None:
    result = run_cli("--project", str(tmp_path / "nowhere"), "config", "check", cache=cache)
    assert_clean_failure(result, "no Goldfish project at", "check --project")


def test_command_outside_any_project(tmp_path: Path, cache: Path) -> None:
    result = run_cli("config", "check", cwd=tmp_path, cache=cache)
    assert_clean_failure(result, "no Goldfish project in", "goldfish init")
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == []


@pytest.mark.parametrize("args, needle", [
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["init", "--colour", "red"], "unrecognized arguments: --colour"),
    (["config"], "the following arguments are required: ACTION"),
    (["config", "chek"], "invalid choice: 'chek'"),
])
def test_unknown_commands_and_arguments(tmp_path: Path, cache: Path, args: list[str],
                                        needle: str) -> None:
    result = run_cli(*args, cwd=tmp_path, cache=cache)
    assert_clean_failure(result, needle)
    assert not (tmp_path / "goldfish.yaml").exists()


def test_doctor_reports_a_healthy_project(lab: Path, cache: Path) -> None:
    result = run_cli("doctor", cwd=lab, cache=cache)
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    for subject in ("python", "goldfish", "compute backends", "storage schemes", "project",
                    "config", "database", "versions repository"):
        assert any(line.split(":")[0].split(None, 1)[1] == subject for line in lines), subject
    assert any(line.startswith("ok    database: schema") and "journal wal" in line
               for line in lines)
    assert any(line.startswith("warn  plugin broken") for line in lines)  # reported, not fatal


def test_doctor_fails_on_a_broken_config_and_a_missing_backend(lab: Path, cache: Path) -> None:
    config = lab / "goldfish.yaml"
    original = config.read_bytes()
    try:
        config.write_text("project: lab\nprofiles:\n  h100: {backend: tpu}\n")
        before = tree_digest(lab)
        result = run_cli("doctor", "--json", cwd=lab, cache=cache)
        assert result.code == 1 and "Traceback" not in result.err
        import json

        checks = {(c["status"], c["subject"]) for c in json.loads(result.out)}
        assert ("fail", "config") in checks and ("fail", "profile h100") in checks
        assert ("ok", "database") in checks
        assert tree_digest(lab) == before
    finally:
        config.write_bytes(original)


def test_doctor_outside_a_project_warns(tmp_path: Path, cache: Path) -> None:
    result = run_cli("doctor", cwd=tmp_path, cache=cache)
    assert result.code == 0
    assert "warn  project: no Goldfish project in" in result.out


# --- cached top-level help --------------------------------------------------------------------


def test_cached_help_equals_the_freshly_built_help(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_cli("--help", cache=cache)  # cache miss: builds the parser and stores the text
    files = list((cache / "goldfish").glob("help-*.txt"))
    assert len(files) == 1
    second = run_cli("--help", cache=cache)  # served from the cache
    fresh = run_cli("--help", cache=cache, env={"GOLDFISH_NO_CACHE": "1"})
    assert first.code == second.code == fresh.code == 0
    assert first.out == second.out == fresh.out == files[0].read_text()
    assert "init" in fresh.out and "hello" in fresh.out and "doctor" in fresh.out


def test_cache_is_invalidated_when_the_fingerprint_changes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    full = run_cli("--help", cache=cache)
    limited = run_cli("--help", cache=cache, env={"GOLDFISH_LOAD_PLUGINS": ""})
    assert "hello" in full.out and "hello" not in limited.out
    assert len(list((cache / "goldfish").glob("help-*.txt"))) == 2
    again = run_cli("--help", cache=cache, env={"GOLDFISH_LOAD_PLUGINS": ""})
    assert again.out == limited.out


def test_a_stale_cache_file_is_never_served_after_a_change(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("GOLDFISH_NO_CACHE", raising=False)
    monkeypatch.delenv("GOLDFISH_LOAD_PLUGINS", raising=False)
    helpcache.write("old help\n")
    assert helpcache.read() == "old help\n"
    before = helpcache.fingerprint()
    monkeypatch.setenv("GOLDFISH_LOAD_PLUGINS", "example")
    assert helpcache.fingerprint() != before
    assert helpcache.read() is None
    (tmp_path / "new-site-dir").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "new-site-dir"))  # a new distribution location
    assert helpcache.fingerprint() != before


def test_no_cache_disables_reading_and_writing(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("GOLDFISH_NO_CACHE", "1")
    helpcache.write("text\n")
    assert helpcache.read() is None
    assert not (tmp_path / "goldfish").exists()


def test_version_flag(cache: Path) -> None:
    from goldfish import __version__

    result = run_cli("--version", cache=cache)
    assert (result.code, result.out) == (0, f"goldfish {__version__}\n")


def test_building_the_help_never_imports_config_or_heavy_modules(tmp_path: Path) -> None:
    """Even without the cache, `goldfish --help` must not load pydantic, yaml, dulwich, sqlite3
    or goldfish.config: every command module has to keep its imports inside handlers."""
    import subprocess
    import sys

    from foundation_support import GOLDFISH

    env = {"XDG_CACHE_HOME": str(tmp_path), "GOLDFISH_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}
    # Run the console script itself, then dump sys.modules (``-X importtime`` misses modules
    # loaded through importlib.import_module, which is how command modules are found).
    probe = ("import runpy, sys\n"
             f"sys.argv = [{GOLDFISH!r}, '--help']\n"
             "try:\n"
             f"    runpy.run_path({GOLDFISH!r}, run_name='__main__')\n"
             "except SystemExit:\n"
             "    pass\n"
             "sys.stderr.write('\\n'.join(sorted(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = set(proc.stderr.splitlines())
    assert "goldfish.cli.project_cmds" in modules  # the parser really was built
    loaded = sorted(m for m in modules if m.split(".")[0] in (
        "pydantic", "yaml", "dulwich", "sqlite3", "_sqlite3", "numpy") or m == "goldfish.config")
    assert loaded == [], f"`goldfish --help` imported {loaded}"
