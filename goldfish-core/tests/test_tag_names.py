"""One naming rule for tags, for runs and versions alike (issue 9 item 11), `goldfish tag` listing
run tags too, and sources refused under ``.goldfish/``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from goldfish.project import Project
from goldfish.runs.records import resolve_run
from goldfish.workspaces import Workspaces
from runs_support import CHAIN, cli, make_project

BAD_NAMES = [
    ("../x", "contains a path"),
    ("a/b", "contains a path"),
    ("a\x00b", "control character"),
    ("line\nbreak", "control character"),
    ("latest", "reserved word"),
    ("Latest", "reserved word"),
    ("HEAD", "reserved word"),
    ("mine@best", "maintained by Goldfish"),
    ("exp-v9", "looks like a version tag"),
    ("r-20990101-abcdef", "looks like a run id"),
    ("w2", "looks like a slot name"),
    (".hidden", "is not allowed"),
    ("x" * 64, "is not allowed"),
    ("name.lock", "is not allowed"),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = make_project(tmp_path_factory.mktemp("tags"), CHAIN)
    result = cli(project, "run", "--wait", "exp")
    assert result.code == 0, result.err
    return project


def tag_rows(project: Project) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in project.db.query("SELECT name, kind FROM tags ORDER BY name")]


@pytest.mark.parametrize(("name", "why"), BAD_NAMES, ids=[repr(n)[:20] for n, _ in BAD_NAMES])
def test_the_same_names_are_refused_for_runs_and_versions(project: Project, name: str,
                                                          why: str) -> None:
    run_id = resolve_run(project, "latest")
    before = tag_rows(project)
    for target in (run_id, "exp-v1"):
        result = cli(project, "tag", target, name)
        assert result.code == 2, (target, result.out, result.err)
        assert result.err.startswith("error: tag name") and why in result.err, result.err
        assert "hint: " in result.err
    assert tag_rows(project) == before
    assert not (project.repo_path / "refs" / "tags" / "x").exists()


def test_good_names_work_for_both_and_tag_lists_run_tags_too(project: Project) -> None:
    run_id = resolve_run(project, "latest")
    assert cli(project, "tag", run_id, "baseline", "--note", "first").code == 0
    assert cli(project, "tag", "exp-v1", "origin").code == 0
    assert resolve_run(project, "baseline") == run_id
    assert Workspaces(project).resolve_version("origin").tag == "exp-v1"
    listing = cli(project, "tag")
    assert listing.code == 0, listing.err
    lines = listing.out.splitlines()
    assert any(line.split()[:3] == ["baseline", "run", run_id] and line.endswith("first")
               for line in lines), listing.out
    assert any(line.split()[:3] == ["origin", "version", "exp-v1"] for line in lines), \
        listing.out
    as_json = json.loads(cli(project, "tag", "--json").out)
    assert {(t["name"], t["kind"], t["target"]) for t in as_json} >= {
        ("baseline", "run", run_id), ("origin", "version", "exp-v1")}


def test_a_file_under_dot_goldfish_is_not_a_source(project: Project) -> None:
    for path in (".goldfish/goldfish.db", ".goldfish", "workspaces/w1/../../.goldfish/runs"):
        result = cli(project, "sources", "add", "owned", str(project.root / path))
        assert result.code == 2, result
        assert "inside .goldfish/, which Goldfish owns" in result.err, result.err
        assert "goldfish sources promote" in result.err
    assert project.db.query("SELECT * FROM sources") == []
    data = Path(project.root / "data.csv")
    data.write_text("a,b\n1,2\n")
    assert cli(project, "sources", "add", "mine", str(data)).code == 0
