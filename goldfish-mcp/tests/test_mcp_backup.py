"""MCP tools of issue 17 item 5: `delete_workspace`, `backup` (with dry_run) and `backups`,
through the official client against the real server."""

from __future__ import annotations

import json
from pathlib import Path

from goldfish.workspaces import Workspaces
from mcp_support import call_tools, data, new_project, text, tool_annotations


def test_delete_workspace_refuses_mounted_and_referenced_ones_without_force(
        tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    notes = tool_annotations(project)["delete_workspace"]
    assert notes is not None and notes.destructive_hint is True and not notes.read_only_hint
    mounted, run = call_tools(project, [("delete_workspace", {"workspace": "exp"}),
                                    ("run", {"workspace": "exp", "wait": True})])
    assert mounted.is_error and "is mounted in slot 'w1'" in text(mounted)
    assert "\nhint: " in text(mounted) and "MCP `force=true`" in text(mounted)
    assert not run.is_error, text(run)
    (unmounted, referenced) = call_tools(project, [("unmount", {"slot": "w1"}),
                                               ("delete_workspace", {"workspace": "exp"})])
    assert not unmounted.is_error
    body = text(referenced)
    assert referenced.is_error and "is referenced by 1 run(s) (r-" in body, body
    assert [w.name for w in Workspaces(project).list()] == ["exp"]
    (forced,) = call_tools(project, [("delete_workspace", {"workspace": "exp", "force": True})])
    assert not forced.is_error, text(forced)
    assert data(forced)["versions_kept"] >= 1
    assert Workspaces(project).list() == []
    assert Workspaces(project).resolve_version("exp-v1").workspace == "exp"  # versions kept
    assert project.db.one("SELECT count(*) FROM runs")[0] == 1  # runs kept


def test_delete_workspace_force_unmounts_first_and_saves_unsaved_work(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    (project.slot_path("w1") / "notes.md").write_text("unsaved\n")
    (forced,) = call_tools(project, [("delete_workspace", {"workspace": "exp", "force": True})])
    assert not forced.is_error, text(forced)
    assert not any(project.slot_path("w1").iterdir())
    ws = Workspaces(project)
    head = ws.resolve_version(f"exp-v{data(forced)['versions_kept']}")
    assert ws.read_file(head.tag, "notes.md") == b"unsaved\n"


def test_backup_dry_run_lists_and_copies_nothing_then_backup_and_list(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    dry, = call_tools(project, [("backup", {"dry_run": True})])
    assert not dry.is_error, text(dry)
    planned = {i["path"] for i in data(dry)["to_copy"]}
    assert {".goldfish/goldfish.db", "goldfish.yaml", "STATE.md"} <= planned
    assert any(p.startswith(".goldfish/versions.git/objects/") for p in planned)
    assert not (project.goldfish_dir / "backups").exists()
    made, listed, outside, uri = call_tools(project, [
        ("backup", {}), ("backups", {}),
        ("backup", {"dest": str(tmp_path / "elsewhere")}),
        ("backup", {"dest": "s3://bucket/steal"})])
    assert not made.is_error, text(made)
    assert "goldfish restore" in text(made)
    backup_id = data(made)["id"]
    assert [b["id"] for b in data(listed)["backups"]] == [backup_id]
    manifest = Path(data(listed)["backups"][0]["source"])
    m = json.loads(manifest.read_text())
    assert m["id"] == backup_id
    # the items of `goldfish backups --json` (one function builds both)
    assert {k: v for k, v in data(listed)["backups"][0].items() if k not in ("id", "source")} \
        == {"created_at": m["created_at"], "reason": m["reason"],
            "files": len(m["files"]) + len(m["store"]), "bytes": m["bytes"],
            "schema_version": m["schema_version"], "goldfish_version": m["goldfish_version"],
            "counts": m["counts"]}
    for refused in (outside, uri):
        assert refused.is_error and "\nhint: " in text(refused), text(refused)
    assert "outside the project" in text(outside)
    assert not (tmp_path / "elsewhere").exists()
