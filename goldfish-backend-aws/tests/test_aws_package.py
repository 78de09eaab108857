"""Packaging rules: the member installs next to goldfish-core alone, and nothing imports boto3
until an s3:// object is touched."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from aws_support import aws_project, plugin_env
from goldfish.testing.projects import GOLDFISH

MEMBER = Path(__file__).resolve().parents[1]
SDK = ("boto3", "botocore", "s3transfer")


def test_dependencies_are_core_and_boto3_only() -> None:
    project = tomllib.loads((MEMBER / "pyproject.toml").read_text())["project"]
    names = sorted(d.split(">")[0].split("=")[0].split("<")[0].strip()
                   for d in project["dependencies"])
    assert names == ["boto3", "goldfish-core"]
    assert project["entry-points"]["goldfish.plugins"] == {"aws": "goldfish_aws.plugin"}
    assert project["readme"] == "README.md" and project["license"] == "Apache-2.0"


def test_plugin_discovery_imports_no_sdk_nor_pydantic() -> None:
    code = ("import sys, goldfish_aws.plugin as p\n"
            "p.register_compute_backends(lambda *a, **k: None)\n"
            "p.register_storage_backends(lambda *a, **k: None)\n"
            f"print(sorted(m for m in sys.modules if m.startswith({(*SDK, 'pydantic')!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_status_of_an_s3_project_imports_no_boto3(tmp_path: Path) -> None:
    """`goldfish status` (and the plugin's import) on a project whose storage is s3:// and
    which has an ec2 profile: the console script, with the aws plugin loaded from its entry
    point, never imports boto3."""
    root = aws_project(tmp_path, storage={"uri": "s3://goldfish-test/status",
                                          "endpoint_url": "http://127.0.0.1:9",
                                          "region": "us-east-1"},
                       profiles={"local": {"backend": "local"},
                                 "aws": {"backend": "ec2", "instance_type": "c7i.large"}})
    probe = ("import runpy, sys\n"
             f"sys.argv = [{GOLDFISH!r}, '--project', {str(root)!r}, 'status']\n"
             "try:\n"
             f"    runpy.run_path({GOLDFISH!r}, run_name='__main__')\n"
             "except SystemExit as exc:\n"
             "    assert not exc.code, exc.code\n"
             "assert 'goldfish_aws.plugin' in sys.modules, 'the aws plugin was not loaded'\n"
             f"sys.stderr.write('\\n@@' + repr(sorted(m for m in sys.modules "
             f"if m.split('.')[0] in {SDK!r})))\n")
    proc = subprocess.run([sys.executable, "-c", probe], env=plugin_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.rsplit("@@", 1)[1] == "[]"
