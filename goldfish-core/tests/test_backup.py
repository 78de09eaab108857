"""Backup and restore (issue 17 item 3).

Real processes throughout: writers are separate Python processes doing runs and notes through
the project's services, `goldfish backup` / `restore` / `doctor` are the console script, the
database is real SQLite and the version store a real repository checked with ``verify_store``.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from goldfish.artifacts import ArtifactStore
from goldfish.backup import restore, take
from goldfish.backup.schedule import Schedule
from goldfish.backup.take import lease
from goldfish.db import all_migrations
from goldfish.errors import ConflictError
from goldfish.faults import FaultError
from goldfish.project import Project
from goldfish.snapshot import verify_store
from goldfish.testing.projects import table_rows
from runs_support import CHAIN, GOLDFISH, cli_env, cli_process, edit, make_project, wait_for

#: CHAIN, with a train stage whose loss can be made NaN (a metric-health finding)
FILES = {**CHAIN,
         "pipeline.yaml": CHAIN["pipeline.yaml"].replace("config: {lr: 0.1, epochs: 3}",
                                                         "config: {lr: 0.1, epochs: 3, scale: '1'}"),
         "modules/train.py": CHAIN["modules/train.py"].replace(
             "1.0 / (epoch + 1)", "float(cfg['scale']) / (epoch + 1)")}
assert FILES["modules/train.py"] != CHAIN["modules/train.py"]
RECORDS = ("runs", "versions", "notes", "findings", "patterns")
#: rows never change once written (runs and stage runs move on, patterns count hits, `@best`
#: tags move)
IMMUTABLE = ("versions", "notes", "findings", "outputs", "stage_inputs", "conclusions", "sources")

WRITER = """
import pathlib, sys
from goldfish.project import Project
root, kind, stop = sys.argv[1:4]
project = Project(pathlib.Path(root))
i = 0
while not pathlib.Path(stop).exists():
    if kind == "notes":
        from goldfish.memory import add_note
        add_note(project, f"note {i} written while a backup may be running")
    else:
        from goldfish.runs.engine import Engine
        engine = Engine(project)
        run_id = engine.run("exp", reason=f"writer run {i}", set_={"train": {"lr": 0.2 + i / 100}})
        engine.wait(run_id, timeout=60)
    i += 1
    print(i, flush=True)
"""


def ids(db: Path, table: str) -> set[Any]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute(f"SELECT rowid FROM {table}")} if table in (
            "notes", "findings") else {r[0] for r in conn.execute(
                f"SELECT {'tag' if table == 'versions' else 'id'} FROM {table}")}
    finally:
        conn.close()


def count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def goldfish(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GOLDFISH, *args], env=cli_env(), capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def history(project: Project) -> Project:
    """A first run, a failed run (a finding and a failure pattern), a note and a conclusion."""
    assert cli_process(project, "run", "--wait", "exp").code == 0
    failed = cli_process(project, "run", "--wait", "exp", "--set", "train.scale=oops")
    assert failed.code == 1, failed.err
    assert cli_process(project, "run", "--wait", "exp", "--set", "train.scale=nan").code in (0, 1)
    assert cli_process(project, "note", "the first run is the baseline").code == 0
    assert cli_process(project, "conclude", "latest", "miss", "-n", "epochs must be a "
                       "number").code in (0, 2)
    for table in RECORDS:
        assert count(project.db_path, table) > 0, table
    return project


@pytest.fixture
def lab(tmp_path: Path) -> Project:
    return history(make_project(tmp_path, FILES))


# --- the done-when tests ----------------------------------------------------------------------


def test_backup_while_two_processes_write_then_restore_elsewhere(tmp_path: Path,
                                                                  lab: Project) -> None:
    db = lab.db_path
    before = {t: ids(db, t) for t in RECORDS}
    stop = tmp_path / "stop-writers"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(lab.root), kind, str(stop)],
                                env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for kind in ("notes", "runs")]
    try:
        wait_for(lambda: count(db, "notes") >= len(before["notes"]) + 3
                 and count(db, "runs") >= len(before["runs"]) + 1, 90, "writers to write")
        result = take(lab)
        notes_then = count(db, "notes")
        wait_for(lambda: count(db, "notes") > notes_then + 2, 60, "writers to go on")
    finally:
        stop.touch()
        outs = [w.communicate(timeout=120) for w in writers]
    for writer, (_out, err) in zip(writers, outs, strict=True):
        assert writer.returncode == 0, err

    target = tmp_path / "elsewhere" / "lab"
    done = goldfish("restore", result.source, str(target))
    assert done.returncode == 0, done.stderr
    assert "checksums verified" in done.stdout
    restored = Project(target)
    rdb = restored.db_path
    # whole and consistent
    assert integrity(rdb) == "ok"
    assert verify_store(restored.repo_path).ok
    # every record taken before the backup is there, and what the manifest counted
    for table in RECORDS:
        assert before[table] <= ids(rdb, table), table
        assert count(rdb, table) == result.counts[table], table
    # the writers wrote on while the backup ran: the restored records are the source's own
    for table in IMMUTABLE:
        assert table_rows(rdb, table) <= table_rows(db, table), table
    source_runs = {r[0]: r for r in table_rows(db, "runs")}
    for run in table_rows(rdb, "runs"):
        assert run[0] in source_runs
        if run[7] != "lost":  # state; runs active at backup time end `lost` elsewhere
            assert run == source_runs[run[0]]
    # every output is there, byte for byte, through the restored project's storage
    src_store, new_store = ArtifactStore.for_project(lab), ArtifactStore.for_project(restored)
    outputs = table_rows(rdb, "outputs")
    assert outputs
    for _run, _stage, _name, _type, digest, _uri, _size, kind in outputs:
        assert new_store.present(digest), digest
        if kind == "file":
            with new_store.open(digest) as a, src_store.open(digest) as b:
                assert a.read() == b.read()
        else:
            assert new_store.manifest(digest) == src_store.manifest(digest)
    # the run logs and metrics came along
    assert list(restored.runs_dir.glob("*/train/metrics.jsonl"))
    # and the restored project works: the pipeline again, every stage reused
    again = cli_process(restored, "run", "--wait", "exp")
    assert again.code == 0, again.err
    assert "reused 3 of 3 stages" in again.out, again.out


def test_a_truncated_database_is_recovered_by_following_doctor(tmp_path: Path,
                                                                lab: Project) -> None:
    made = cli_process(lab, "backup")
    assert made.code == 0, made.err
    expected = {t: table_rows(lab.db_path, t) for t in ("runs", "notes", "versions", "patterns")}
    lab.db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{lab.db_path}{suffix}").unlink(missing_ok=True)
    raw = lab.db_path.read_bytes()
    lab.db_path.write_bytes(raw[:len(raw) // 5])
    broken = cli_process(lab, "runs")
    assert broken.code == 3 and "goldfish doctor" in broken.err

    doctor = goldfish("doctor", cwd=lab.root)
    assert doctor.returncode == 1
    line = next(ln for ln in doctor.stdout.splitlines() if ln.startswith("fail  restore:"))
    command = shlex.split(line[line.index("goldfish restore"):])
    assert command[:2] == ["goldfish", "restore"] and "--force" in command
    followed = subprocess.run([GOLDFISH, *command[1:]], env=cli_env(), capture_output=True,
                              text=True, timeout=120, cwd=lab.root)
    assert followed.returncode == 0, followed.stderr

    assert integrity(lab.db_path) == "ok"
    for table, want in expected.items():
        assert table_rows(lab.db_path, table) == want, table
    assert cli_process(lab, "runs").code == 0
    healthy = goldfish("doctor", cwd=lab.root)
    assert "ok    database: schema" in healthy.stdout, healthy.stdout
    assert "ok    backup: last taken" in healthy.stdout
    # the damaged file was kept, not deleted
    kept = list((lab.goldfish_dir / "replaced").glob("*/.goldfish/goldfish.db"))
    assert [p.read_bytes() for p in kept] == [raw[:len(raw) // 5]]


# --- incremental, checked, refused ------------------------------------------------------------


def test_a_second_backup_copies_only_what_changed(tmp_path: Path, lab: Project) -> None:
    first = take(lab, str(tmp_path / "bk"))
    listed = json.loads(Path(first.source).read_text())
    unique = {e["sha256"] for e in [*listed["files"], *listed["store"]]}
    assert first.copied_files == len(unique)  # identical files are stored once
    repeat = take(lab, str(tmp_path / "bk"), dry_run=True)
    assert repeat.to_copy == []  # nothing changed: nothing to copy
    edit(lab, "modules/extra.py", "print('new file')\n")
    assert cli_process(lab, "save", "exp", "-m", "an extra module").code == 0
    preview = take(lab, str(tmp_path / "bk"), dry_run=True)
    planned = {path for path, _ in preview.to_copy}
    assert ".goldfish/goldfish.db" in planned and "STATE.md" in planned
    assert ".goldfish/versions.git/refs/heads/exp" in planned  # the saved version moved it
    before = {e["path"] for e in json.loads(Path(first.source).read_text())["files"]}
    objects = {p for p in planned if "/objects/" in p}
    assert objects and not objects & before  # only the new version's objects
    second = take(lab, str(tmp_path / "bk"))
    assert second.copied_files == len(planned) < second.files
    assert not (tmp_path / "bk" / "manifests" / f"{preview.id}.json").exists()  # dry run


def test_restore_refuses_a_non_empty_target_and_a_damaged_backup(tmp_path: Path,
                                                                 lab: Project) -> None:
    result = take(lab, str(tmp_path / "bk"))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    refused = goldfish("restore", str(tmp_path / "bk"), str(busy))
    assert refused.returncode != 0 and "is not empty" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]

    manifest = json.loads(Path(result.source).read_text())
    entry = next(e for e in manifest["files"] if e["path"] == "goldfish.yaml")
    pack = tmp_path / "bk" / "packs" / f"{entry['pack']}.pack"  # small files live in packs
    raw = bytearray(pack.read_bytes())
    raw[entry["offset"]] ^= 0xFF  # one flipped byte
    pack.write_bytes(bytes(raw))
    with pytest.raises(FaultError) as caught:
        restore(str(tmp_path / "bk"), tmp_path / "fresh")
    assert "goldfish.yaml" in caught.value.message and "damaged" in caught.value.message
    assert "older backup" in (caught.value.hint or "")
    assert not (tmp_path / "fresh").exists()  # nothing half-written
    cli = goldfish("restore", str(tmp_path / "bk"), str(tmp_path / "fresh"))
    assert cli.returncode == 3 and "goldfish.yaml" in cli.stderr and "Traceback" not in cli.stderr


def test_keep_drops_old_backups_and_the_objects_only_they_used(tmp_path: Path,
                                                               lab: Project) -> None:
    dest = str(tmp_path / "bk")
    taken = []
    for i in range(3):
        assert cli_process(lab, "note", f"note {i}").code == 0
        r = take(lab, dest, keep=2)
        taken.append(r.id)
        if i == 0:
            first_source = tmp_path / "first.json"
            first_source.write_bytes(Path(r.source).read_bytes())
    manifests = sorted(p.stem for p in (tmp_path / "bk" / "manifests").iterdir())
    assert manifests == taken[1:]
    used = set()
    for name in manifests:
        m = json.loads((tmp_path / "bk" / "manifests" / f"{name}.json").read_text())
        used |= {f"packs/{e['pack']}.pack" if e.get("pack") else
                 f"objects/sha256/{e['sha256'][:2]}/{e['sha256'][2:]}"
                 for e in [*m["files"], *m["store"]]}
    stored = {p.relative_to(tmp_path / "bk").as_posix() for p in (tmp_path / "bk").rglob("*")
              if p.is_file() and p.parent.name != "manifests"}
    assert stored == used
    first_db = next(e for e in json.loads(Path(first_source).read_text())["files"]
                    if e["path"] == ".goldfish/goldfish.db")
    assert f"objects/sha256/{first_db['sha256'][:2]}/{first_db['sha256'][2:]}" not in stored


def test_backup_to_the_storage_backend(tmp_path: Path, lab: Project) -> None:
    result = take(lab, "storage:")
    assert result.dest.startswith("file:///") and result.dest.endswith(".goldfish/store/backups")
    assert Path(result.source).is_file()  # a local storage backup restores from its path
    target = tmp_path / "from-storage"
    done = goldfish("restore", result.source, str(target))
    assert done.returncode == 0, done.stderr
    assert table_rows(Project(target).db_path, "runs") == table_rows(lab.db_path, "runs")


# --- automatic backups ------------------------------------------------------------------------


def test_a_backup_is_taken_before_a_migration_and_never_for_a_new_database(
        tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    assert not (project.goldfish_dir / "backups").exists()  # init migrated an empty database
    assert cli_process(project, "note", "recorded under the old schema").code == 0
    project.db.close()
    *older, (latest, _, _) = all_migrations()
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    for number, _name, sql in older:
        conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("ATTACH ? AS cur", (str(project.db_path),))
    tables = [r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = "
                                         "'table' AND name NOT LIKE 'sqlite_%' AND name NOT "
                                         "LIKE 'memory_fts%'")]
    for table in tables:
        cols = ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM cur.{table}")
    conn.commit()
    conn.execute("DETACH cur")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{project.db_path}{suffix}").unlink(missing_ok=True)
    old.replace(project.db_path)

    assert cli_process(project, "runs").code == 0  # migrates, after a backup
    assert Project(project.root).db.schema_version() == latest
    (manifest,) = (project.goldfish_dir / "backups" / "manifests").iterdir()
    data = json.loads(manifest.read_text())
    assert data["schema_version"] == latest - 1
    assert data["reason"] == f"before migration {latest - 1}->{latest}"
    assert cli_process(project, "runs").code == 0
    assert len(list((project.goldfish_dir / "backups" / "manifests").iterdir())) == 1


def test_scheduled_backups_come_when_due_one_at_a_time(tmp_path: Path, lab: Project) -> None:
    config = lab.config_path
    config.write_text(config.read_text() + "backup: {every_hours: 1, keep: 3}\n")
    lab.reload_config(cached=False)
    schedule = Schedule(check_seconds=0)
    first = schedule.tick(lab)
    assert first is not None and first.reason == "scheduled"
    assert schedule.tick(lab) is None  # the last one is not an hour old
    record = lab.goldfish_dir / "last-backup.json"
    stale = json.loads(record.read_text())
    stale["at"] -= 2 * 3600
    record.write_text(json.dumps(stale))
    with lease(lab, wait=False) as held:  # another process is taking one right now
        assert held
        assert schedule.tick(lab) is None
    second = schedule.tick(lab)
    assert second is not None and second.id != first.id


def test_the_mcp_servers_reconciler_loop_takes_scheduled_backups(lab: Project) -> None:
    from goldfish.runs.reconciler import Reconciler

    lab.config_path.write_text(lab.config_path.read_text() + "backup: {every_hours: 24}\n")
    project = Project(lab.root)
    reconciler = Reconciler(project, start_drivers=False)
    reconciler.start_background(0.05)
    try:
        wait_for(lambda: (project.goldfish_dir / "last-backup.json").is_file(), 30,
                 "a scheduled backup")
    finally:
        reconciler.stop()
    record = json.loads((project.goldfish_dir / "last-backup.json").read_text())
    assert record["reason"] == "scheduled"
    assert Path(record["source"]).is_file()


def test_backup_of_a_damaged_database_is_refused(tmp_path: Path, lab: Project) -> None:
    good = take(lab)
    lab.db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{lab.db_path}{suffix}").unlink(missing_ok=True)
    raw = lab.db_path.read_bytes()
    lab.db_path.write_bytes(raw[:len(raw) // 5])
    made = cli_process(lab, "backup", "--keep", "1")
    assert made.code == 3 and "damaged" in made.err and "Traceback" not in made.err
    # the good backup was not rotated out by a copy of the damaged file
    assert Path(good.source).is_file()


def test_restore_over_the_same_place_needs_force_and_keeps_what_it_replaces(
        tmp_path: Path, lab: Project) -> None:
    result = take(lab)
    with pytest.raises(ConflictError, match="is not empty"):
        restore(result.source, lab.root)
    lab.state_path.write_text("edited by hand\n")
    done = restore(result.source, lab.root, force=True)
    assert done.replaced is not None
    assert (Path(done.replaced) / "STATE.md").read_text() == "edited by hand\n"
    assert lab.state_path.read_text() != "edited by hand\n"
    # restore in place leaves live slots alone
    assert (lab.slot_path("w1") / "pipeline.yaml").is_file()


def test_a_run_driver_takes_scheduled_backups(lab: Project) -> None:
    lab.config_path.write_text(lab.config_path.read_text() + "backup: {every_hours: 24}\n")
    record = lab.goldfish_dir / "last-backup.json"
    assert not record.exists()
    started = cli_process(lab, "run", "exp", "--no-cache")  # returns; its driver runs it
    assert started.code == 0, started.err
    wait_for(record.is_file, 60, "the driver's scheduled backup")
    assert json.loads(record.read_text())["reason"] == "scheduled"
