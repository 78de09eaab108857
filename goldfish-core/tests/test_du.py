"""``goldfish du``: bytes by workspace and run, what gc and prune would free; ``status`` shows a
line from the figure the last du/gc cached, without walking the store."""

from __future__ import annotations

import json
import time

import pytest
from goldfish.lifecycle import du as du_module
from goldfish.lifecycle.du import disk_usage
from goldfish.lifecycle.gc import collect_garbage
from goldfish.orientation import orient
from goldfish.project import Project
from goldfish.runs.engine import Engine
from lifecycle_support import age, junk
from runs_support import cli


def test_du_splits_the_store_by_workspace_and_run_and_says_what_is_reclaimable(
        project: Project) -> None:
    engine = Engine(project)
    first = engine.run("w1", wait=True, set_={"prepare": {"n": 1000}})
    second = engine.run("w1", wait=True, set_={"prepare": {"n": 3}})
    _, path = junk(project, b"x" * 50_000)
    age(path, 7200)

    report = disk_usage(project)
    runs = {r["run"]: r for r in report.by_run}
    assert set(runs) == {first, second}
    assert runs[first]["bytes"] > runs[second]["bytes"]  # 1000 numbers against 3
    assert [w["workspace"] for w in report.by_workspace] == ["exp"]
    assert report.reclaimable["gc"] >= 50_000
    assert report.reclaimable["prune"] is None  # no retention configured
    assert report.store >= 50_000 and report.total >= report.store + report.versions

    result = cli(project, "du", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["reclaimable"]["gc"] == report.reclaimable["gc"]
    text = cli(project, "du")
    assert "reclaimable: gc" in text.out and first in text.out

    config = project.config_path
    config.write_text(config.read_text() + "retention:\n  keep_last: 1\n")
    project.reload_config(cached=False)
    with_prune = disk_usage(project)
    assert with_prune.reclaimable["prune_runs"] == 1
    assert with_prune.reclaimable["prune"] > 0


def test_status_says_when_much_is_reclaimable_from_the_cached_figure(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(du_module, "LARGE", 10_000)
    _, path = junk(project, b"y" * 40_000)
    age(path, 7200)
    assert orient(project, mark_seen=False).storage is None  # nothing measured yet
    disk_usage(project)
    line = orient(project, mark_seen=False).storage
    assert line is not None and "reclaimable" in line and "goldfish gc" in line
    assert line in orient(project, mark_seen=False).render()

    path.chmod(0o644)
    path.unlink()  # status reads the cache: it does not notice until the next du/gc
    assert orient(project, mark_seen=False).storage is not None
    collect_garbage(project)
    assert orient(project, mark_seen=False).storage is None
    assert du_module.status_line(project, now=time.time()) is None


def test_du_counts_the_default_backup_folder_in_the_total(project: Project) -> None:
    from goldfish.backup import take
    from goldfish.lifecycle.gc import tree_size
    from goldfish.snapshot import human_size

    before = disk_usage(project)
    assert before.backups == 0 and ", backups " not in before.render()
    take(project)
    report = disk_usage(project)
    assert report.backups == tree_size(project.goldfish_dir / "backups") > 0
    assert report.total == (report.store + report.versions + report.runs_dirs + report.tmp
                            + report.backups)
    assert f", backups {human_size(report.backups)}" in report.render()
    assert json.loads(cli(project, "du", "--json").out)["backups"] == report.backups
