"""The ec2 backend is a stub and says so: its profiles validate and are listed, a run that needs
it stops at preflight before any snapshot work, and doctor says the same words."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from aws_support import aws_plugins, aws_project, goldfish, plugin_env
from goldfish.testing.projects import CHAIN, GOLDFISH

EC2 = {"backend": "ec2", "instance_type": "g5.xlarge", "region": "us-east-1",
       "ami": "ami-0123456789abcdef0", "subnet": "subnet-0a1b2c3d", "spot": True}
#: CHAIN with its train stage on the ec2 profile.
FILES = {**CHAIN, "pipeline.yaml": CHAIN["pipeline.yaml"].replace(
    "inputs: {data: {from: prepare.data}}\n            outputs: {model: {type: json}}",
    "inputs: {data: {from: prepare.data}}\n            outputs: {model: {type: json}}\n"
    "            profile: aws-gpu")}
MESSAGE = ("profile 'aws-gpu' uses backend 'ec2', which cannot run stages: goldfish-backend-aws "
           "implements S3 storage only")


def _counts(root: Path) -> dict[str, object]:
    db = sqlite3.connect(root / ".goldfish" / "goldfish.db")
    try:
        counts: dict[str, object] = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                                     for t in ("versions", "runs", "stage_runs")}
    finally:
        db.close()
    counts["files"] = sorted(str(p.relative_to(root)) for p in (root / ".goldfish").rglob("*")
                             if p.is_file() and "goldfish.db" not in p.name
                             and p.suffix not in (".lock", ".log"))
    return counts


@pytest.fixture
def stub_project(tmp_path: Path) -> Path:
    assert "profile: aws-gpu" in FILES["pipeline.yaml"]
    root = aws_project(tmp_path, FILES, profiles={"local": {"backend": "local"}, "aws-gpu": EC2})
    (root / "workspaces" / "w1" / "modules" / "evaluate.py").write_text(
        "print('an unsaved edit: a run would snapshot it as a new version')\n")
    return root


def test_a_run_on_ec2_stops_at_preflight_before_any_snapshot(stub_project: Path) -> None:
    before = _counts(stub_project)
    for args in (["run", "w1", "--wait"], ["run", "w1"], ["run", "w1", "--dry-run"]):
        result = goldfish(stub_project, *args)
        assert result.code == 2, result.out + result.err
        assert MESSAGE in result.err
        assert "hint: run these stages on a local or docker profile" in result.err
        assert 'docs/plugins.md § "Writing a compute backend"' in result.err
        assert "Traceback" not in result.err
    # no version, no run, no staged or stored object: nothing was snapshotted or launched
    assert _counts(stub_project) == before


def test_doctor_says_the_same(stub_project: Path) -> None:
    result = goldfish(stub_project, "doctor")
    line = next(x for x in result.out.splitlines() if "ec2 backend" in x)
    assert line.startswith("warn  ec2 backend (aws-gpu): backend 'ec2' cannot run stages: "
                           "goldfish-backend-aws implements S3 storage only")
    assert "run these stages on a local or docker profile" in line
    assert "Writing a compute backend" in line


def test_profiles_list_the_ec2_profile_and_why_it_cannot_run(stub_project: Path) -> None:
    result = goldfish(stub_project, "profiles")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    row = next(i for i, x in enumerate(lines) if x.split()[:2] == ["aws-gpu", "ec2"])
    assert "instance_type=g5.xlarge" in lines[row] and "ami=ami-0123456789abcdef0" in lines[row]
    assert "spot=True" in lines[row] and "subnet=subnet-0a1b2c3d" in lines[row]
    assert lines[row + 1].strip().startswith(MESSAGE)
    assert lines[row + 2].strip().startswith("hint: run these stages on a local")
    assert "backends installed: ec2, local" in lines
    data = json.loads(goldfish(stub_project, "profiles", "--json").out)
    assert list(data["cannot_run"]) == ["aws-gpu"]
    assert data["cannot_run"]["aws-gpu"]["message"].startswith(MESSAGE)
    assert data["profiles"]["aws-gpu"]["region"] == "us-east-1"


def test_plugins_lists_the_member_with_s3_and_ec2(tmp_path: Path) -> None:
    result = goldfish(tmp_path, "plugins")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("aws "))
    assert "goldfish-backend-aws" in lines[at]
    block = "\n".join(lines[at:at + 4])
    assert "backends: ec2" in block and "storage: s3" in block
    data = json.loads(goldfish(tmp_path, "plugins", "--json").out)
    assert data["compute_backends"]["ec2"] == "aws" and data["storage_schemes"]["s3"] == "aws"


def test_a_bad_ec2_profile_is_a_located_configuration_problem(tmp_path: Path) -> None:
    from goldfish.config import load_config
    from goldfish.errors import ProblemsError

    path = tmp_path / "goldfish.yaml"
    path.write_text("project: lab\nprofiles:\n  aws:\n    backend: ec2\n    ami: ubuntu\n"
                    "    instance_typ: g5.xlarge\n", encoding="utf-8")
    with pytest.raises(ProblemsError) as info:
        load_config(path, aws_plugins())
    shown = {p.key: (p.message, p.hint, p.line) for p in info.value.problems}
    assert shown["profiles.aws.instance_typ"][:2] == ("unknown key 'instance_typ'",
                                                      "did you mean 'instance_type'?")
    assert shown["profiles.aws.ami"][2] == 5 and "ami-" in shown["profiles.aws.ami"][0]


def test_a_pipeline_that_does_not_use_ec2_is_not_refused(tmp_path: Path) -> None:
    root = aws_project(tmp_path, CHAIN, profiles={"local": {"backend": "local"}, "aws-gpu": EC2})
    result = goldfish(root, "run", "w1", "--wait")
    assert result.code == 0, result.out + result.err
    assert "ec2" not in result.err


def test_without_the_member_ec2_and_s3_name_the_package_to_install(tmp_path: Path) -> None:
    from goldfish.config import load_config
    from goldfish.errors import ProblemsError
    from goldfish.plugins import build

    path = tmp_path / "goldfish.yaml"
    path.write_text("project: lab\nstorage: s3://b/p\nprofiles:\n  aws: {backend: ec2}\n",
                    encoding="utf-8")
    with pytest.raises(ProblemsError) as info:
        load_config(path, build(load_entry_points=False))
    hints = {p.key: p.hint or "" for p in info.value.problems}
    assert "pip install goldfish-backend-aws" in hints["profiles.aws.backend"]
    assert "pip install goldfish-backend-aws" in hints["storage"]


def test_an_agent_gets_the_same_words_over_mcp(stub_project: Path) -> None:
    """The official MCP client against a real `goldfish serve`: the profiles tool lists the
    refusal, the run tool fails with the stub's message and hint, and nothing was snapshotted."""
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    before = _counts(stub_project)
    params = StdioServerParameters(command=GOLDFISH,
                                   args=["serve", "--project", str(stub_project)],
                                   env=plugin_env("aws,mcp"))

    async def go() -> list[object]:
        async with Client(params, read_timeout_seconds=120) as client:
            return [await client.call_tool("profiles", {}),
                    await client.call_tool("run", {"workspace": "w1", "reason": "try ec2"})]

    profiles, run = anyio.run(go)
    refused = profiles.structured_content["cannot_run"]  # type: ignore[attr-defined]
    assert list(refused) == ["aws-gpu"] and refused["aws-gpu"]["message"].startswith(MESSAGE)
    body = "\n".join(getattr(c, "text", "") for c in run.content)  # type: ignore[attr-defined]
    assert run.is_error and MESSAGE in body  # type: ignore[attr-defined]
    assert "hint: run these stages on a local or docker profile" in body
    assert _counts(stub_project) == before
