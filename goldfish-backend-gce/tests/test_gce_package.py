"""Packaging rules: the member installs next to goldfish-core alone, the plugin imports no SDK,
and the worker shipped to VMs is standard library only."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import goldfish_gce

MEMBER = Path(__file__).resolve().parents[1]
SRC = Path(goldfish_gce.__file__).parent


def test_dependencies_are_core_and_the_google_sdks_only() -> None:
    project = tomllib.loads((MEMBER / "pyproject.toml").read_text())["project"]
    names = sorted(d.split(">")[0].split("=")[0].split("<")[0].strip()
                   for d in project["dependencies"])
    assert names == ["goldfish-core", "google-cloud-compute", "google-cloud-storage"]
    assert project["entry-points"]["goldfish.plugins"] == {"gce": "goldfish_gce.plugin"}


def test_plugin_discovery_imports_no_cloud_sdk_nor_pydantic() -> None:
    code = ("import sys, goldfish_gce.plugin as p\n"
            "p.register_compute_backends(lambda *a, **k: None)\n"
            "p.register_storage_backends(lambda *a, **k: None)\n"
            "p.register_config_sections(lambda *a, **k: None)\n"
            "p.register_profiles(lambda *a, **k: None)\n"
            "heavy = sorted(m for m in sys.modules if m.startswith(('google', 'pydantic')))\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_worker_is_standard_library_only() -> None:
    tree = ast.parse((SRC / "worker.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert imported - set(sys.stdlib_module_names) == set()
    assert {"urllib", "json", "subprocess"} <= imported


def test_presets_are_ready_profiles_with_no_profiles_written(tmp_path: Path) -> None:
    """`pip install goldfish-backend-gce`, then `profile: h100-spot` with nothing under
    `profiles:`; a profile of the same name in goldfish.yaml wins."""
    from goldfish.config import load_config
    from goldfish.plugins import build
    from goldfish_gce.plugin import PRESET_NAMES
    from goldfish_gce.settings import PRESETS, GceProfile

    assert set(PRESET_NAMES) == set(PRESETS)
    plugins = build(load_entry_points=True)
    path = tmp_path / "goldfish.yaml"
    path.write_text("project: p\nprofiles:\n  cpu-small: {backend: gce, machine_type: e2-micro}\n")
    config = load_config(path, plugins)
    for name in PRESET_NAMES:
        assert config.profile(name).backend == "gce"
    spot = GceProfile(**config.profile("h100-spot").backend_config).machine(False)
    assert spot == {"machine_type": "a3-highgpu-1g", "gpu_type": "nvidia-h100-80gb",
                    "gpu_count": 1, "spot": True}
    assert config.profile_source("h100-spot") == "plugin gce"
    assert config.profile("cpu-small").backend_config["machine_type"] == "e2-micro"
    assert config.profile_source("cpu-small") == "goldfish.yaml"
