"""`pip install goldfish-core goldfish-backend-gce` in a fresh virtual environment: nothing else
of this workspace comes along, `goldfish plugins` lists the backend, and `goldfish --help` loads
neither a Google SDK nor the backend's modules (its speed is measured against core alone by
tests/benchmarks/gce_help.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from goldfish.testing.install import fresh_install, modules_after

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = ("goldfish-core", "goldfish-backend-gce")


def loaded_by_help(names: set[str]) -> list[str]:
    """Modules `goldfish --help` must not import: cloud SDKs, pydantic, the backend's insides
    (``goldfish_gce.plugin``, registrations only, is allowed)."""
    return sorted(n for n in names if n.split(".")[0] in ("google", "pydantic", "grpc")
                  or (n.startswith("goldfish_gce.") and n != "goldfish_gce.plugin"))


@pytest.mark.slow
def test_fresh_venv_installs_only_core_and_the_gce_backend(tmp_path: Path) -> None:
    install = fresh_install(tmp_path, ROOT, MEMBERS)
    assert {"goldfish-core", "goldfish-backend-gce", "google-cloud-compute",
            "google-cloud-storage"} <= install.names
    assert install.others(MEMBERS) == set(), install.others(MEMBERS)
    env = {**install.env, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first, block = install.plugin_listing("gce", cwd=tmp_path, env=env)
    assert "goldfish-backend-gce" in first and "ERROR" not in block
    assert "backends: gce" in block and "storage: gs://" in block
    # the help path: without the cache, then the first call (fills it) and the next (served)
    for run_env in ({**env, "GOLDFISH_NO_CACHE": "1"}, env, env):
        names = modules_after(install, "--help", cwd=tmp_path, env=run_env)
        assert "goldfish" in names  # the probe ran goldfish
        assert loaded_by_help(names) == []
    shown = subprocess.run([str(install.goldfish), "--help"], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path, env=env)
    assert shown.returncode == 0 and "usage" in shown.stdout.lower(), shown.stderr
