"""``goldfish gc``: unreferenced objects go once older than the grace period, nothing referenced
ever does, the version store is consolidated and checked, crash leftovers are swept, two gcs never
overlap, and a run that is running while gc sweeps finishes ``done`` with its outputs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from goldfish.artifacts import ArtifactStore
from goldfish.errors import ConflictError
from goldfish.lifecycle.gc import collect_garbage
from goldfish.project import Project
from goldfish.runs import lease
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from goldfish.snapshot import verify_store
from goldfish.workspaces import Workspaces
from lifecycle_support import age, assert_everything_reachable_is_readable, junk
from runs_support import GOLDFISH, cli, cli_env, edit, wait_for


def test_unreferenced_objects_go_after_the_grace_period_referenced_ones_never(
        project: Project) -> None:
    run_id = Engine(project).run("w1", wait=True)
    digest, path = junk(project, b"nobody wants me" * 100)
    store = ArtifactStore.for_project(project)

    young = collect_garbage(project, grace=3600)
    assert path.exists() and young.kept_young == 1 and young.freed == 0

    age(path, 7200)
    report = collect_garbage(project, grace=3600)
    assert not path.exists()
    assert [(i.what, i.name) for i in report.items if i.what == "output"] == [
        ("output", store.object_uri(digest))]
    assert report.freed >= 1500
    assert get_run(project, run_id).state == "done"
    assert_everything_reachable_is_readable(project)


def test_dry_run_lists_what_would_go_and_the_real_run_reports_the_same(project: Project) -> None:
    Engine(project).run("w1", wait=True)
    paths = [junk(project, f"junk {i}".encode() * 50)[1] for i in range(3)]
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover = project.goldfish_dir / "tmp" / f"export-{dead.pid}-456"
    leftover.mkdir(parents=True)
    (leftover / "half.txt").write_text("half written")
    in_use = project.goldfish_dir / "tmp" / f"stage-{os.getpid()}-789"  # its writer is alive
    in_use.mkdir()
    for p in (*paths, leftover, in_use):
        age(p, 7200)

    dry = collect_garbage(project, dry_run=True, grace=3600)
    assert all(p.exists() for p in (*paths, leftover))
    real = collect_garbage(project, grace=3600)
    assert [i.to_json() for i in dry.items] == [i.to_json() for i in real.items]
    assert dry.freed == real.freed > 0
    assert {i.what for i in real.items} >= {"output", "tmp"}
    assert not any(p.exists() for p in (*paths, leftover))
    assert in_use.exists()

    result = cli(project, "gc", "--dry-run", "--grace", "0", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["dry_run"] is True


def test_directory_outputs_keep_their_manifest_and_files_and_lose_them_together(
        project: Project, tmp_path: Path) -> None:
    store = ArtifactStore.for_project(project)
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    ref = store.store(folder)
    with project.tx() as conn:  # a source keeps the directory
        conn.execute("INSERT INTO sources (name, type, digest, uri, size, kind, created_at) "
                     "VALUES ('d', 'directory', ?, ?, ?, 'directory', 0)",
                     (ref.digest, ref.uri, ref.size))
    collect_garbage(project, grace=0)
    assert store.present(ref.digest)
    with project.tx() as conn:
        conn.execute("DELETE FROM sources")
    report = collect_garbage(project, grace=0)
    assert not store.present(ref.digest)
    assert sorted(i.what for i in report.items if i.what in ("output", "manifest")) == [
        "manifest", "output", "output"]


def test_the_version_store_is_consolidated_and_checked_and_every_version_checks_out(
        project: Project) -> None:
    ws = Workspaces(project)
    for i in range(5):
        edit(project, f"notes/n{i}.txt", f"note {i}\n" * 20)
        ws.save_version("w1", f"save {i}")
    objects = project.repo_path / "objects"
    assert len(list(objects.glob("[0-9a-f][0-9a-f]/*"))) > 10
    report = collect_garbage(project, grace=0)
    assert report.versions.repacked
    assert not list(objects.glob("[0-9a-f][0-9a-f]/*"))
    assert len(list((objects / "pack").glob("*.pack"))) == 1
    assert verify_store(project.repo_path).ok
    assert_everything_reachable_is_readable(project)
    again = collect_garbage(project, grace=0)  # nothing to do: no rewrite
    assert not again.versions.repacked and not again.items


def test_a_crashed_write_in_the_version_store_is_swept_once_old(project: Project) -> None:
    objects = project.repo_path / "objects"
    folder = objects / "ab"
    folder.mkdir(exist_ok=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    crashed = folder / f"cdef.tmp-{gone.pid}-1"
    crashed.write_bytes(b"half an object")
    fresh = folder / "cdef.tmp-999-2"
    fresh.write_bytes(b"being written")
    slow = folder / f"cdef.tmp-{os.getpid()}-3"  # old, but its writer is alive
    slow.write_bytes(b"still being written")
    age(crashed, 7200)
    age(slow, 7200)
    collect_garbage(project, grace=3600)
    assert not crashed.exists() and fresh.exists() and slow.exists()


def test_two_gcs_never_overlap(project: Project) -> None:
    other = subprocess.Popen(["sleep", "30"])  # a live holder on this host
    try:
        holder = f"{socket.gethostname()}:{other.pid}:feedbeef"
        assert lease.acquire(project, "gc", holder, ttl=600)
        with pytest.raises(ConflictError, match="another gc is running"):
            collect_garbage(project, grace=0)
        result = cli(project, "gc")
        assert result.code != 0 and "another gc is running" in result.err
        assert "Traceback" not in result.err
    finally:
        other.kill()
        other.wait()
    collect_garbage(project, grace=0)  # the dead holder's lease is taken over at once


GATED_TRAIN = """
    import pathlib, time
    from goldfish import io
    data = io.load_input("data")
    print("train started", flush=True)
    deadline = time.time() + 60
    while not pathlib.Path({gate!r}).exists() and time.time() < deadline:
        time.sleep(0.05)
    io.save_output("model", {{"w": sum(data["xs"]) * 0.5}})
"""


def test_gc_with_no_grace_during_an_active_run_removes_nothing_it_needs(
        project: Project, tmp_path: Path) -> None:
    engine = Engine(project)
    first = engine.run("w1", wait=True)
    gate = tmp_path / "gate"
    edit(project, "modules/train.py", GATED_TRAIN.format(gate=str(gate)))
    edit(project, "configs/prepare.yaml", "n: 7\n")  # prepare runs again: fresh objects
    second = engine.run("w1")  # a detached driver takes it to its end

    def train_running() -> bool:
        rows = project.db.query("SELECT state FROM stage_runs WHERE run_id = ? AND "
                                "stage = 'train'", (second,))
        return bool(rows) and rows[0][0] == "running"

    wait_for(train_running, 60, "train to run")
    _, unwanted = junk(project, b"unreferenced while a run is active")
    # gc in another process, as an agent would run it, with no grace and a clock far ahead
    proc = subprocess.run([GOLDFISH, "--project", str(project.root), "gc", "--grace", "0",
                           "--json"], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    swept = json.loads(proc.stdout)
    assert swept["freed_bytes"] > 0 and not unwanted.exists()  # gc really swept
    collect_garbage(project, grace=0, now=time.time() + 365 * 86400)
    gate.write_text("go")

    wait_for(lambda: get_run(project, second).state not in ("queued", "preparing", "running",
                                                           "finishing"), 90, "the run to end")
    info = get_run(project, second)
    assert info.state == "done", info.error
    assert [s.state for s in info.stages] == ["done", "done", "done"]
    store = ArtifactStore.for_project(project)
    for stage in info.stages:
        for output in stage.outputs.values():
            assert store.present(output["digest"])
    assert get_run(project, first).state == "done"
    assert_everything_reachable_is_readable(project)


def test_an_old_unreferenced_object_a_writer_reuses_becomes_young_and_stays(
        project: Project, tmp_path: Path) -> None:
    """Content addressing lets a writer skip an object that is already stored; it refreshes the
    object's age, so gc (which keeps what is younger than the grace) cannot sweep it between
    the writer's check and its record."""
    digest, path = junk(project, b"the same bytes again" * 10)
    age(path, 7200)
    again = tmp_path / "again.bin"
    again.write_bytes(b"the same bytes again" * 10)
    assert ArtifactStore.for_project(project).store(again).digest == digest  # reused, not put
    collect_garbage(project, grace=3600)
    assert path.exists()

    from goldfish.snapshot import ObjectWriter, _object_id

    raw = b"a blob nobody references"
    oid = _object_id(b"blob", raw)
    writer = ObjectWriter(project.repo_path)
    writer.add(3, oid, raw)
    writer.flush()
    loose = project.repo_path / "objects" / oid.hex()[:2] / oid.hex()[2:]
    age(loose, 7200)
    assert ObjectWriter(project.repo_path).has(oid)  # a snapshot finds it and skips writing it
    report = collect_garbage(project, grace=3600)
    assert oid.hex() not in {i.name for i in report.items}
    assert report.versions.young >= 1


def test_an_object_a_writer_stores_again_after_the_listing_is_not_deleted(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc re-reads an object's mtime right before deleting it: one refreshed since the listing
    (a writer found it stored and relies on it) stays."""
    from goldfish.lifecycle import reach

    _, path = junk(project, b"stored again while gc marks" * 10)
    age(path, 7200)
    mark = reach.collect

    def a_writer_reuses_it_during_the_mark(*args: object, **kwargs: object) -> reach.Roots:
        os.utime(path)  # what ArtifactStore._freshen does
        return mark(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reach, "collect", a_writer_reuses_it_during_the_mark)
    collect_garbage(project, grace=3600)
    assert path.exists()


def test_what_a_finishing_stage_stored_stays_until_it_is_recorded_even_with_no_grace(
        project: Project) -> None:
    """A stage stores its outputs after entering ``finishing`` and records them after: gc keeps
    every object no older than the oldest finishing stage's transition, whatever the grace."""
    now = time.time()
    with project.tx() as conn:
        conn.execute("INSERT INTO runs (id, workspace, state, created_at) "
                     "VALUES ('r-20260101-aaaaaa', 'exp', 'running', ?)", (now - 300,))
        conn.execute("INSERT INTO stage_runs (run_id, stage, position, state, created_at) "
                     "VALUES ('r-20260101-aaaaaa', 'prepare', 0, 'finishing', ?)", (now - 300,))
        conn.execute("INSERT INTO transitions (run_id, stage, from_state, to_state, at) "
                     "VALUES ('r-20260101-aaaaaa', 'prepare', 'running', 'finishing', ?)",
                     (now - 100,))
    _, stored = junk(project, b"an output being stored, not yet recorded")
    age(stored, 50)  # stored after the stage began finishing
    _, older = junk(project, b"unreferenced from before")
    age(older, 200)
    collect_garbage(project, grace=0)
    assert stored.exists() and not older.exists()
    with project.tx() as conn:  # the stage ended without recording it: now it is garbage
        conn.execute("UPDATE stage_runs SET state = 'failed'")
    collect_garbage(project, grace=0)
    assert not stored.exists()
