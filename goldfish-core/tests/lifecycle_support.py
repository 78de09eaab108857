"""Helpers for the data lifecycle tests (gc, prune, du): reading everything a project references."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from goldfish.artifacts import ArtifactStore
from goldfish.project import Project
from goldfish.snapshot import verify_store
from goldfish.workspaces import Workspaces

DAY = 86400.0


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def junk(project: Project, payload: bytes) -> tuple[str, Path]:
    """An unreferenced object in the artifact store: (digest, its file)."""
    store = ArtifactStore.for_project(project)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "junk.bin"
        src.write_bytes(payload)
        ref = store.store(src)
    path = store.storage.local_path(ref.uri)
    assert path is not None
    return ref.digest, path


def assert_everything_reachable_is_readable(project: Project) -> None:
    """Every recorded output and pinned input materializes, every version exports, the version
    store's own check passes."""
    store = ArtifactStore.for_project(project)
    digests = {r[0] for r in project.db.query(
        "SELECT digest FROM outputs UNION SELECT digest FROM stage_inputs "
        "UNION SELECT digest FROM sources") if r[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for i, digest in enumerate(sorted(digests)):
            assert store.present(digest), f"{digest} is referenced but gone"
            store.materialize(digest, Path(tmp) / f"o{i}")
        ws = Workspaces(project)
        for (tag,) in project.db.query("SELECT tag FROM versions"):
            ws.export(tag, Path(tmp) / f"v-{tag}")
        for (commit,) in project.db.query("SELECT DISTINCT commit_sha FROM runs "
                                          "WHERE commit_sha != ''"):
            ws.export(commit, Path(tmp) / f"c-{commit}")
    report = verify_store(project.repo_path)
    assert report.ok, report
