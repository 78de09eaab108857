"""The gc, prune and du tools (issue 17): dry run by default, destructive annotations, the same
services and numbers as the CLI, errors with hints."""

from __future__ import annotations

import os
import time
from pathlib import Path

from goldfish.artifacts import ArtifactStore
from goldfish.runs.records import list_runs
from mcp_support import call_tools, integrity, new_project, text, tool_annotations


def test_gc_prune_and_du_tools(tmp_path: Path) -> None:
    project = new_project(tmp_path, with_workspace=True)
    store = ArtifactStore.for_project(project)
    junk_uri = store.object_uri("sha256:" + "b" * 64)
    store.storage.put(junk_uri, b"unreferenced" * 1000)
    junk = store.storage.local_path(junk_uri)
    assert junk is not None
    then = time.time() - 7200
    os.utime(junk, (then, then))

    results = call_tools(project, [
        ("run", {"workspace": "exp", "wait": True, "overrides": ["prepare.n=5"]}),
        ("run", {"workspace": "exp", "wait": True, "overrides": ["prepare.n=6", "train.lr=0.3"]}),
        ("du", {}),
        ("gc", {}),  # a dry run unless told otherwise
        ("prune", {"keep_last": 1}),
    ])
    assert not any(r.is_error for r in results), [text(r) for r in results]
    notes = tool_annotations(project)
    for name in ("gc", "prune"):
        assert notes[name].destructive_hint is True
        assert notes[name].read_only_hint is False
    assert notes["du"].read_only_hint is True
    _, _, du, dry_gc, dry_prune = results
    assert du.structured_content["reclaimable"]["gc"] >= 12000
    assert dry_gc.structured_content["dry_run"] is True and junk.exists()
    assert dry_gc.structured_content["freed_bytes"] == du.structured_content["reclaimable"]["gc"]
    assert len(dry_prune.structured_content["runs"]) == 1
    assert len(list_runs(project, limit=10)) == 2  # the dry run changed nothing

    results = call_tools(project, [
        ("gc", {"dry_run": False}),
        ("prune", {"keep_last": 1, "dry_run": False}),
        ("prune", {"restore": "r-19990101-000000"}),
    ])
    gc, pruned, bad = results
    assert not gc.is_error and not junk.exists()
    assert gc.structured_content["freed_bytes"] == dry_gc.structured_content["freed_bytes"]
    assert not pruned.is_error and len(list_runs(project, limit=10)) == 1
    assert bad.is_error and "nothing pruned is called" in text(bad) and "\nhint: " in text(bad)
    gone = pruned.structured_content["runs"][0]["id"]
    (restored,) = call_tools(project, [("prune", {"restore": gone})])
    assert not restored.is_error, text(restored)
    assert len(list_runs(project, limit=10)) == 2
    integrity(project)
