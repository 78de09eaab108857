"""`goldfish workspace delete` shares the MCP tool's core function (issue 17 item 5): refused
for a mounted workspace, one with active runs, or one runs/tags reference, unless --force."""

from __future__ import annotations

from pathlib import Path

import pytest
from goldfish.workspaces import Workspaces
from runs_support import CHAIN, cli, cli_process, make_project


def test_workspace_delete_names_what_references_it_and_force_deletes(tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    assert cli_process(project, "run", "--wait", "exp").code == 0
    assert cli(project, "tag", "exp-v1", "baseline").code == 0
    mounted = cli(project, "workspace", "delete", "exp")
    assert mounted.code != 0 and "is mounted in slot 'w1'" in mounted.err
    assert cli(project, "unmount", "w1").code == 0
    refused = cli(project, "workspace", "delete", "exp")
    assert refused.code != 0
    assert "is referenced by 1 run(s) (r-" in refused.err and "tag(s) baseline" in refused.err
    assert "to delete it anyway pass `--force` (MCP: `force=true`)" in refused.err
    assert [w.name for w in Workspaces(project).list()] == ["exp"]
    done = cli(project, "workspace", "delete", "exp", "--force")
    assert done.code == 0, done.err
    assert "versions are kept" in done.out
    assert Workspaces(project).list() == []
    assert Workspaces(project).resolve_version("baseline").tag == "exp-v1"


def test_a_workspace_with_an_active_run_is_refused_even_with_force(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLDFISH_NO_RECONCILE", "1")  # the hand-made run stays active
    project = make_project(tmp_path, CHAIN)
    with project.tx() as conn:
        conn.execute("INSERT INTO runs (id, workspace, state, created_at) VALUES "
                     "('r-20990101-abcdef', 'exp', 'running', 0)")
    refused = cli(project, "workspace", "delete", "exp", "--force")
    assert refused.code != 0 and "has active runs (r-20990101-abcdef)" in refused.err
    assert "goldfish cancel r-20990101-abcdef" in refused.err
    assert [w.name for w in Workspaces(project).list()] == ["exp"]
