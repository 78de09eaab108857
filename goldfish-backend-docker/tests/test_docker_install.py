"""`pip install goldfish-core goldfish-backend-docker` in a fresh virtual environment: nothing else
of this workspace comes along, and `goldfish plugins` lists the backend."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OTHER_MEMBERS = ("goldfish-mcp", "goldfish-svs", "goldfish-reviewers", "goldfish-example-plugin",
                 "goldfish-broken-plugin")


@pytest.mark.slow
def test_fresh_venv_installs_only_core_and_the_backend(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to build wheels and make the environment (pip install uv)"
    wheels = tmp_path / "wheels"
    for member in ("goldfish-core", "goldfish-backend-docker"):
        subprocess.run([uv, "build", "--wheel", "-q", "-o", str(wheels), str(ROOT / member)],
                       check=True, capture_output=True, timeout=300)
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    installed = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(python), "--find-links", str(wheels),
         "goldfish-core", "goldfish-backend-docker"],
        capture_output=True, text=True, timeout=600, env=env)
    assert installed.returncode == 0, installed.stderr
    listed = subprocess.run([uv, "pip", "list", "--python", str(python), "--format", "freeze"],
                            capture_output=True, text=True, check=True, env=env).stdout
    names = {line.split("==")[0].lower() for line in listed.splitlines() if "==" in line}
    assert {"goldfish-core", "goldfish-backend-docker", "docker"} <= names
    assert not names & set(OTHER_MEMBERS), names & set(OTHER_MEMBERS)
    plugins = subprocess.run([str(venv / "bin" / "goldfish"), "plugins"], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path,
                             env={**env, "GOLDFISH_NO_CACHE": "1", "HOME": str(tmp_path)})
    assert plugins.returncode == 0, plugins.stderr
    lines = plugins.stdout.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("docker "))
    block = "\n".join(lines[at:at + 4])
    assert "goldfish-backend-docker" in lines[at] and "ERROR" not in lines[at]
    assert "backends: docker" in block and "register_compute_backends" in block
    # listing plugins never imported the docker SDK
    probe = subprocess.run([str(python), "-c", "import sys; from goldfish.plugins import "
                            "get_plugins; get_plugins(); print('docker' in sys.modules)"],
                           capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert probe.stdout.strip() == "False", probe.stderr
