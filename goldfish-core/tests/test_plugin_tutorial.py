"""docs/plugins.md's tutorial is followed literally: its code blocks are the example plugin (which
``goldfish plugin new example`` writes too), and installed alone with goldfish-core in a fresh
virtual environment they pass their own tests (the conformance suites and a real pipeline) — as
does a package scaffolded under another name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from foundation_support import run_cli
from goldfish.errors import GoldfishError
from goldfish.scaffold import create, render

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "plugins.md"
EXAMPLE = REPO / "tests" / "plugins" / "goldfish-example-plugin"
CORE = REPO / "goldfish-core"
BLOCK = re.compile(r"^```[a-z]*\n# file: (?P<path>\S+)\n(?P<body>.*?)^```$", re.M | re.S)


def tutorial_files() -> dict[str, str]:
    """Every code block of the tutorial that starts with ``# file: PATH``."""
    section = DOC.read_text(encoding="utf-8").split("## Tutorial: a backend package", 1)[1]
    section = section.split("\n## ", 1)[0]
    return {m["path"]: m["body"] for m in BLOCK.finditer(section)}


def test_the_tutorial_is_the_example_plugin() -> None:
    files = tutorial_files()
    assert set(files) == {"pyproject.toml", "src/goldfish_example/__init__.py",
                          "src/goldfish_example/settings.py", "src/goldfish_example/backend.py",
                          "src/goldfish_example/storage.py", "tests/test_example.py"}
    shipped = {p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == set(files), "every file of the example plugin is in the tutorial"
    for rel, body in files.items():
        assert (EXAMPLE / rel).read_text(encoding="utf-8") == body, rel
    assert "workspace" not in files["pyproject.toml"]  # it works outside this repository


def test_the_scaffold_for_example_is_the_example_plugin() -> None:
    assert render("example") == {rel: (EXAMPLE / rel).read_text(encoding="utf-8")
                                 for rel in tutorial_files()}


def test_plugin_new_writes_a_renamed_package(tmp_path: Path) -> None:
    result = run_cli("plugin", "new", "my-gpu", "--dir", str(tmp_path))
    assert result.code == 0, result.err
    root = tmp_path / "goldfish-my-gpu-plugin"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "pyproject.toml", "src/goldfish_my_gpu/__init__.py", "src/goldfish_my_gpu/backend.py",
        "src/goldfish_my_gpu/settings.py", "src/goldfish_my_gpu/storage.py",
        "tests/test_my_gpu.py"]
    init = (root / "src/goldfish_my_gpu/__init__.py").read_text()
    assert 'register("my-gpu", "goldfish_my_gpu.backend:MyGpuBackend",' in init
    assert "example" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())
    again = run_cli("plugin", "new", "my-gpu", "--dir", str(tmp_path))
    assert again.code != 0 and "already exists" in again.err and "Traceback" not in again.err
    bad = run_cli("plugin", "new", "My_GPU", "--dir", str(tmp_path))
    assert bad.code != 0 and "lower-case words" in bad.err
    with pytest.raises(GoldfishError):
        create("my-gpu", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["goldfish-my-gpu-plugin"]  # nothing half-made


@pytest.mark.slow
def test_the_tutorial_passes_its_tests_in_a_fresh_environment(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    package = tmp_path / "goldfish-example-plugin"
    for rel, body in tutorial_files().items():
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(body, encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOLDFISH_", "VIRTUAL_ENV", "PYTHON"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"

    def run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=timeout)

    made = run(uv, "venv", "-q", venv, "--python", sys.executable)
    assert made.returncode == 0, made.stderr
    installed = run(uv, "pip", "install", "-q", "--python", python, CORE, package,
                    "pytest==9.0.3")
    assert installed.returncode == 0, installed.stderr
    listed = run(python, "-c", "import importlib.metadata as m; "
                               "print(sorted(d.metadata['Name'] for d in m.distributions()))")
    names = listed.stdout
    assert "goldfish-core" in names and "goldfish-example-plugin" in names
    assert "goldfish-svs" not in names and "goldfish-mcp" not in names  # only goldfish-core

    plugins = run(venv / "bin" / "goldfish", "plugins")
    assert plugins.returncode == 0, plugins.stdout + plugins.stderr
    assert "backends: example" in plugins.stdout and "storage: dir://" in plugins.stdout

    def passes(tests_dir: Path) -> None:
        tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests_dir,
                    timeout=600)
        assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
        summary = tests.stdout.strip().splitlines()[-1]
        assert re.match(r"\d+ passed", summary) and "failed" not in summary, summary

    passes(package / "tests")

    # a package scaffolded under another name passes its tests too
    scaffolded = create("my-gpu", tmp_path / "scaffold")
    swapped = run(uv, "pip", "uninstall", "-q", "--python", python, "goldfish-example-plugin")
    assert swapped.returncode == 0, swapped.stderr
    installed = run(uv, "pip", "install", "-q", "--python", python, scaffolded)
    assert installed.returncode == 0, installed.stderr
    passes(scaffolded / "tests")
