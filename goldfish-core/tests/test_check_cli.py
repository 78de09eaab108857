"""`goldfish findings`, `goldfish patterns`, `goldfish profiles`: the CLI side of checks, failure
patterns and compute, on a real project with a real failed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runs_support import CHAIN, cli, make_project

RAISING = {**CHAIN, "modules/train.py": """
    raise ValueError("boom: bad shapes 3 != 4")
"""}


@pytest.fixture
def failed(tmp_path: Path, goldfish_plugins: object):
    project = make_project(tmp_path, RAISING, goldfish_plugins)
    result = cli(project, "run", "w1", "--wait")
    assert result.code != 0
    yield project
    project.db.close()


def test_a_failure_becomes_a_pattern_that_the_cli_can_approve(failed) -> None:
    listed = cli(failed, "patterns", "--json")
    assert listed.code == 0, listed.err
    (pattern,) = json.loads(listed.out)
    assert pattern["status"] == "pending" and pattern["stage"] == "train"
    assert "ValueError" in cli(failed, "patterns").out

    refused = cli(failed, "patterns", "approve")
    assert refused.code == 2 and "needs the pattern's id" in refused.err
    assert "Traceback" not in refused.err

    approved = cli(failed, "patterns", "approve", pattern["id"], "--prevention",
                   "check shapes before fitting")
    assert approved.code == 0, approved.err
    assert "[approved]" in approved.out and "check shapes before fitting" in approved.out
    assert json.loads(cli(failed, "patterns", "--status", "approved", "--json").out)[0][
        "id"] == pattern["id"]
    assert json.loads(cli(failed, "patterns", "--status", "pending", "--json").out) == []


def test_findings_lists_the_failure_and_filters_by_run(failed) -> None:
    everything = json.loads(cli(failed, "findings", "--json").out)["findings"]
    assert any(f["stage"] == "train" for f in everything)
    run_id = everything[0]["run"]
    assert all(f["run"] == run_id for f in json.loads(
        cli(failed, "findings", run_id, "--json").out)["findings"])
    unknown = cli(failed, "findings", "r-nope")
    assert unknown.code == 2 and "Traceback" not in unknown.err


def test_profiles_shows_the_default_and_installed_backends(failed) -> None:
    shown = cli(failed, "profiles")
    assert shown.code == 0, shown.err
    assert shown.out.startswith("* local") and "backends installed:" in shown.out
    data = json.loads(cli(failed, "profiles", "--json").out)
    assert data["default"] == "local" and "local" in data["backends"]
    # each backend with its plugin and capabilities, as the MCP profiles tool gives them
    assert set(data["backends"]["local"]) == {"plugin", "capabilities"}
    assert data["backends"]["local"]["capabilities"]
