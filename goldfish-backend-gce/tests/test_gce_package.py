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
