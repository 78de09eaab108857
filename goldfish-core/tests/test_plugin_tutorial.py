"""docs/plugins.md's tutorial is followed literally: its code blocks are the example plugin, and
installed alone with goldfish-core in a fresh virtual environment they pass their own tests (the
conformance suites and a real pipeline)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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

    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", package / "tests",
                timeout=600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    summary = tests.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed", summary) and "failed" not in summary, summary
