"""The tag naming rule and the `.goldfish/` source rule hold in the MCP tools as in the CLI
(issue 9 item 11)."""

from __future__ import annotations

from pathlib import Path

from goldfish.runs.records import resolve_run
from mcp_support import call_tools, integrity, new_project, text


def test_mcp_tags_follow_the_one_naming_rule(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    (run,) = call_tools(project, [("run", {"workspace": "exp", "wait": True})])
    assert not run.is_error, text(run)
    run_id = resolve_run(project, "latest")
    bad = {"../x": "contains a path", "a\x00b": "control character",
           "latest": "reserved word", "exp-v7": "looks like a version tag",
           "r-20990101-abcdef": "looks like a run id"}
    calls = [("tag", {"target": target, "name": name, "kind": kind})
             for name in bad for target, kind in ((run_id, "run"), ("exp-v1", "version"))]
    results = call_tools(project, calls)
    for (_, args), result in zip(calls, results, strict=True):
        body = text(result)
        assert result.is_error, body
        assert f"tag name {args['name']!r}" in body and bad[args["name"]] in body, body
        assert "\nhint: " in body
    assert project.db.query("SELECT * FROM tags WHERE name NOT LIKE '%@best'") == []
    good = call_tools(project, [("tag", {"target": run_id, "name": "baseline"}),
                            ("tag", {"target": "exp-v1", "name": "origin", "kind": "version"})])
    assert not any(r.is_error for r in good), [text(r) for r in good]
    integrity(project)


def test_mcp_refuses_a_source_under_dot_goldfish(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    results = call_tools(project, [
        ("register_source", {"name": "db", "path": ".goldfish/goldfish.db"}),
        ("register_source", {"name": "store", "path": str(project.goldfish_dir / "versions.git")}),
    ])
    for r in results:
        assert r.is_error and "inside .goldfish/, which Goldfish owns" in text(r), text(r)
        assert "promote_output" in text(r)
    assert project.db.query("SELECT * FROM sources") == []
