"""``goldfish gc`` on a ``gs://`` store (issue 17): it works through the storage contract alone
(``list``, ``delete``); the emulator cannot tell gc an object's age, so the grace period counts
from the pass that first saw the object unreferenced."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from goldfish.artifacts import ArtifactStore
from goldfish.lifecycle.gc import collect_garbage
from goldfish_gce.testing import GcsEmulator


@pytest.fixture
def gce_plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    import goldfish_gce.plugin as gce_plugin

    register_goldfish_plugin(gce_plugin, name="gce")
    return goldfish_plugins


def test_gc_on_gcs_keeps_referenced_objects_and_removes_the_rest_after_the_grace(
        tmp_path: Path, gce_plugins: Any, gcs_emulator: GcsEmulator) -> None:
    from goldfish.init import init_project
    from goldfish.project import Project

    project = init_project(tmp_path / "lab", name="lab", plugins=gce_plugins)
    base = f"gs://goldfish-test/gc-{uuid.uuid4().hex[:8]}"
    project.config_path.write_text(f"project: lab\nstorage: {base}\n", encoding="utf-8")
    project = Project.find(explicit=str(project.root), plugins=gce_plugins)
    store = ArtifactStore.for_project(project)
    assert store.base_uri == base
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "b.txt").write_text("beta")
    kept = store.store(folder)
    (tmp_path / "junk.bin").write_bytes(b"j" * 3000)
    junk = store.store(tmp_path / "junk.bin")
    with project.tx() as conn:
        conn.execute("INSERT INTO sources (name, type, digest, uri, size, kind, created_at) "
                     "VALUES ('kept', 'directory', ?, ?, ?, 'directory', 0)",
                     (kept.digest, kept.uri, kept.size))

    first = collect_garbage(project, grace=3600)  # first seen unreferenced now: too young
    assert not first.items and first.kept_young == 1
    assert store.storage.exists(junk.uri)

    later = time.time() + 7200
    dry = collect_garbage(project, grace=3600, dry_run=True, now=later)
    assert [(i.what, i.name, i.bytes) for i in dry.items] == [("output", junk.uri, 3000)]
    real = collect_garbage(project, grace=3600, now=later)
    assert [i.to_json() for i in real.items] == [i.to_json() for i in dry.items]
    assert not store.storage.exists(junk.uri)
    assert store.present(kept.digest)
    assert project.db.query("SELECT * FROM gc_seen") == []
