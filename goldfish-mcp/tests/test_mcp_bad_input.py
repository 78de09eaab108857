"""Bad input never crashes the server: wrong types, unknown ids, paths outside the project and
oversized arguments come back as tool errors that say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp_support import call_tools, integrity, new_project, text


@pytest.fixture
def project(tmp_path: Path) -> Any:
    return new_project(tmp_path, with_workspace=True)


def test_mcp_wrong_types_are_tool_errors_naming_the_argument(project: Any) -> None:
    results = call_tools(project, [
        ("runs", {"limit": "many"}),
        ("run", {"wait_seconds": 10_000}),
        ("conclude", {"run": "latest", "outcome": "great"}),
        ("note", {"text": ["not", "text"]}),
        ("recall", {"query": "x", "kinds": ["gossip"]}),
        ("inspect_run", {}),
    ])
    for r in results:
        assert r.is_error, text(r)
    assert "limit" in text(results[0]) and "integer" in text(results[0])
    assert "wait_seconds" in text(results[1]) and "600" in text(results[1])
    assert "outcome" in text(results[2]) and "success" in text(results[2])
    assert "text" in text(results[3])
    assert "kinds" in text(results[4])
    assert "run" in text(results[5]) and "required" in text(results[5]).lower()
    integrity(project)


def test_mcp_unknown_ids_say_where_to_look(project: Any) -> None:
    results = call_tools(project, [
        ("inspect_run", {"run": "r-20990101-abcdef"}),
        ("mount", {"workspace": "nosuch"}),
        ("compare", {"a": "latest", "b": "nope"}),
        ("patterns", {"action": "approve", "id": "p-missing", "prevention": "x"}),
        ("patterns", {"action": "approve"}),
        ("logs", {"run": "zzz/train"}),
        ("runs", {"cursor": "abc"}),
        ("lineage", {"ref": "source:nothing"}),
    ])
    assert "no run 'r-20990101-abcdef'" in text(results[0]) and "hint:" in text(results[0])
    assert "nosuch" in text(results[1])
    assert results[2].is_error and "no runs yet" in text(results[2])
    assert results[3].is_error and "p-missing" in text(results[3])
    assert "needs the pattern's id" in text(results[4])
    assert results[5].is_error and "hint:" in text(results[5])
    assert "cursor" in text(results[6]) and "next_cursor" in text(results[6])
    assert "unknown source 'nothing'" in text(results[7])  # a typo is not an empty lineage
    for r in results:
        assert r.is_error
    integrity(project)


def test_mcp_paths_outside_the_project_are_refused(project: Any, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b\n1,2\n")
    results = call_tools(project, [
        ("register_source", {"name": "leak", "path": str(outside)}),
        ("register_source", {"name": "leak", "path": "../secret.csv"}),
        ("register_source", {"name": "leak", "path": "workspaces/w1/../../../secret.csv"}),
        ("create_workspace", {"name": "stolen", "from_dir": "/etc"}),
        ("create_workspace", {"name": "../escape"}),
    ])
    for r in results[:4]:
        assert r.is_error and "outside the project" in text(r), text(r)
        assert "hint: use a path inside the project" in text(r)
    assert results[4].is_error and "path" in text(results[4])
    assert project.db.query("SELECT * FROM sources") == []
    assert project.db.one("SELECT 1 FROM workspaces WHERE name = 'stolen'") is None
    integrity(project)


def test_mcp_oversized_arguments_are_refused(project: Any) -> None:
    huge = "x" * 100_000
    results = call_tools(project, [
        ("note", {"text": huge}),
        ("recall", {"query": huge}),
        ("run", {"reason": huge}),
        ("run", {"overrides": ["train.lr=1"] * 500}),
        ("plot_metrics", {"runs": ["latest"] * 50}),
    ])
    for r in results:
        assert r.is_error and "at most" in text(r), text(r)
    assert project.db.one("SELECT count(*) FROM notes")[0] == 0
    assert project.db.one("SELECT count(*) FROM runs")[0] == 0
    integrity(project)


def test_mcp_conflicts_and_domain_errors_carry_hints(project: Any) -> None:
    results = call_tools(project, [
        ("mount", {"workspace": "exp"}),  # already mounted in w1
        ("create_workspace", {"name": "exp"}),
        ("note", {"text": "   "}),
        ("run", {"workspace": "exp", "overrides": ["nonsense"]}),
    ])
    assert "already mounted" in text(results[0]) and "hint:" in text(results[0])
    assert results[1].is_error and "exp" in text(results[1])
    assert "empty" in text(results[2])
    assert "STAGE.KEY=VALUE" in text(results[3])
    integrity(project)
