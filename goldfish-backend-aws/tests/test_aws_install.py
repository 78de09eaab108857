"""`pip install goldfish-core goldfish-backend-aws` in a fresh virtual environment: nothing else
of this workspace comes along, `goldfish plugins` lists s3:// and ec2, and `goldfish --help`
loads neither boto3 nor the member's modules beyond its registrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from goldfish.testing.install import fresh_install, modules_after

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = ("goldfish-core", "goldfish-backend-aws")


@pytest.mark.slow
def test_fresh_venv_installs_only_core_and_the_aws_member(tmp_path: Path) -> None:
    install = fresh_install(tmp_path, ROOT, MEMBERS)
    assert {"goldfish-core", "goldfish-backend-aws", "boto3"} <= install.names
    assert install.others(MEMBERS) == set(), install.others(MEMBERS)
    assert "moto" not in install.names  # a test tool, not a dependency
    env = {**install.env, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first, block = install.plugin_listing("aws", cwd=tmp_path, env=env)
    assert "goldfish-backend-aws" in first and "ERROR" not in block
    assert "backends: ec2" in block and "storage: s3://" in block
    for run_env in ({**env, "GOLDFISH_NO_CACHE": "1"}, env):
        names = modules_after(install, "--help", cwd=tmp_path, env=run_env)
        assert "goldfish" in names
        assert sorted(n for n in names if n.split(".")[0] in ("boto3", "botocore", "s3transfer")
                      or (n.startswith("goldfish_aws.") and n != "goldfish_aws.plugin")) == []
