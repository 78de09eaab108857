"""`goldfish backup` to a gs:// destination and `goldfish restore` from it, through the GCS
storage backend against the emulator (issue 17 item 3: backups through the storage contract)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from goldfish.backup import restore, take
from goldfish.runs.engine import Engine
from goldfish.testing.projects import CHAIN, make_project, table_rows
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator


@pytest.fixture
def gce_plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    import goldfish_gce.plugin as gce_plugin

    register_goldfish_plugin(gce_plugin, name="gce")
    return goldfish_plugins


def test_backup_to_gcs_and_restore_from_it(gcs_emulator: GcsEmulator, gce_plugins: Any,
                                            tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN, plugins=gce_plugins)
    engine = Engine(project)  # waited for in-process: no driver is left writing afterwards
    run_id = engine.run("exp", reason="before the backup", wait=True)
    assert engine.wait(run_id) == "done"
    dest = f"gs://goldfish-test/backups-{uuid.uuid4().hex}"
    first = take(project, dest)
    assert first.copied_files > 0
    again = take(project, dest)
    assert again.copied_files <= 1  # only a changed database, if any
    listed = GcsStorage(tmp_path, {}).list(f"{dest}/manifests/")
    assert listed == sorted(f"{dest}/manifests/{i}.json" for i in (first.id, again.id))

    target = tmp_path / "restored"
    done = restore(dest, target, plugins=gce_plugins)
    assert done.id == again.id
    for table in ("runs", "versions", "outputs", "stage_runs"):
        assert table_rows(target / ".goldfish" / "goldfish.db", table) == \
            table_rows(project.db_path, table), table
    assert (target / "workspaces" / "w1" / "pipeline.yaml").is_file()
