"""`pip install goldfish-core goldfish-backend-docker` in a fresh virtual environment: nothing else
of this workspace comes along, and `goldfish plugins` lists the backend."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from goldfish.testing.install import fresh_install

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = ("goldfish-core", "goldfish-backend-docker")


@pytest.mark.slow
def test_fresh_venv_installs_only_core_and_the_backend(tmp_path: Path) -> None:
    install = fresh_install(tmp_path, ROOT, MEMBERS)
    env = install.env
    assert {"goldfish-core", "goldfish-backend-docker", "docker"} <= install.names
    assert install.others(MEMBERS) == set(), install.others(MEMBERS)
    first, block = install.plugin_listing(
        "docker", cwd=tmp_path, env={**env, "GOLDFISH_NO_CACHE": "1", "HOME": str(tmp_path)},
        lines=4)
    assert "goldfish-backend-docker" in first and "ERROR" not in first
    assert "backends: docker" in block and "register_compute_backends" in block
    # listing plugins never imported the docker SDK
    probe = subprocess.run([str(install.python), "-c", "import sys; from goldfish.plugins import "
                            "get_plugins; get_plugins(); print('docker' in sys.modules)"],
                           capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert probe.stdout.strip() == "False", probe.stderr
