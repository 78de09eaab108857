"""Faults are named, not called bugs (issue 9 item 9).

A full disk, a read-only project, a missing, empty or malformed goldfish.db, a damaged object in
the version store, binary bytes in pipeline.yaml and a 100,000-digit override each end the command
with a message that says what happened and what to do, a non-zero exit that is not the "internal
error" one, and nothing half-written. Disks are real: a small tmpfs filled up or remounted
read-only (see :mod:`goldfish.testing.disks`).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from foundation_support import run_cli, tree_digest
from goldfish.cli.project_cmds import diagnose
from goldfish.project import Project
from goldfish.testing.disks import fill, remount, tmpfs
from goldfish.workspaces import Workspaces
from runs_support import CHAIN, Result, cli_process, make_project, slot

FAULT_EXIT = 3


def assert_named(result: Result, *needles: str, code: int = FAULT_EXIT) -> None:
    assert result.code == code, (result.code, result.out, result.err)
    assert "internal error" not in result.err and "Traceback" not in result.err, result.err
    assert result.err.startswith("error: ") and "hint: " in result.err, result.err
    for needle in needles:
        assert needle in result.err, f"{needle!r} not in {result.err!r}"


def counts(project: Project) -> tuple[int, int, int]:
    conn = sqlite3.connect(project.db_path)
    try:
        return tuple(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore
                     for table in ("runs", "versions", "notes"))
    finally:
        conn.close()


def leftovers(project: Project) -> list[str]:
    """Temporary files a failed write left behind (object files, STATE.md, job files)."""
    return [str(p) for p in project.root.rglob("*") if ".tmp" in p.name]


def doctor_failures(project: Project) -> list[str]:
    return [f"{c.subject}: {c.detail}" for c in diagnose(str(project.root))
            if c.status == "fail"]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "4m") as mounted:
        yield mounted


# --- the disk ---------------------------------------------------------------------------------


def test_disk_full_while_saving_a_run_is_named_and_leaves_nothing(disk: Path) -> None:
    project = make_project(disk, CHAIN)
    (slot(project) / "data.bin").write_bytes(os.urandom(300_000))  # cannot be stored
    before = counts(project)
    ballast = fill(disk, leave_bytes=120_000)
    result = cli_process(project, "run", "--wait", "exp")
    assert_named(result, "disk full", "No space left on device", "df -h")
    ballast.unlink()
    assert counts(project) == before  # no version, no run
    assert leftovers(project) == []
    assert doctor_failures(project) == []


def test_disk_full_when_the_database_cannot_grow_is_named(disk: Path) -> None:
    project = make_project(disk, CHAIN)
    before = counts(project)
    ballast = fill(disk)
    result = cli_process(project, "note", "a thought")
    assert_named(result, "disk full", str(project.goldfish_dir))
    ballast.unlink()
    assert counts(project) == before
    assert leftovers(project) == []
    assert doctor_failures(project) == []


def test_read_only_project_is_named_and_untouched(disk: Path) -> None:
    project = make_project(disk, CHAIN)
    project.db.close()  # a file open for writing keeps the mount from going read-only
    digest = tree_digest(project.root)
    remount(disk, "ro")
    try:
        for args in (("runs",), ("note", "a thought"), ("run", "--wait", "exp")):
            assert_named(cli_process(project, *args), "read-only", "remount it read-write")
    finally:
        remount(disk, "rw")
    assert tree_digest(project.root) == digest


def test_a_project_owned_by_someone_else_is_permission_denied_not_read_only(
        tmp_path: Path) -> None:
    """Run as another user (root ignores file modes, so the test drops to `nobody`)."""
    import shutil
    import subprocess
    import tempfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the CLI as another user")
    base = Path(tempfile.mkdtemp(prefix="goldfish-perm-"))  # /tmp/pytest-of-root is 0700
    try:
        base.chmod(0o755)
        project = make_project(base, CHAIN)
        project.db.close()
        (slot(project) / "modules" / "train.py").write_text("print('edited')\n")
        os.chmod(slot(project) / "modules" / "train.py", 0o644)
        digest = tree_digest(project.root)
        for args in (("note", "hi"), ("run", "--wait", "exp")):
            proc = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 str(Path(sys.executable).with_name("goldfish")), "--project", str(project.root),
                 *args], capture_output=True, text=True, timeout=120,
                env={"PATH": os.environ.get("PATH", ""), "GOLDFISH_LOAD_PLUGINS": "",
                     "HOME": str(base)})
            result = Result(proc.returncode, proc.stdout, proc.stderr)
            assert_named(result, "permission denied: ", "run Goldfish as the user who owns")
            assert "read-only" not in result.err
        assert tree_digest(project.root) == digest
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --- the database -----------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["missing", "empty (zero bytes)"])
def test_missing_or_empty_database_next_to_versions_is_not_a_fresh_project(
        tmp_path: Path, state: str) -> None:
    project = make_project(tmp_path, CHAIN)
    project.db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{project.db_path}{suffix}").unlink(missing_ok=True)
    if state != "missing":
        project.db_path.write_bytes(b"")
    for args in (("runs",), ("status",), ("run", "--wait", "exp")):
        assert_named(cli_process(project, *args), f"goldfish.db is {state}",
                     "saved versions", "restore goldfish.db from a backup")
    # nothing was created in its place: the backup can still be copied back
    assert not project.db_path.exists() if state == "missing" else \
        project.db_path.stat().st_size == 0
    failures = doctor_failures(project)
    assert any(f"is {state}" in f for f in failures), failures


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_malformed_database_is_named(tmp_path: Path, damage: str) -> None:
    project = make_project(tmp_path, CHAIN)
    assert cli_process(project, "run", "--wait", "exp").code == 0
    project.db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{project.db_path}{suffix}").unlink(missing_ok=True)
    raw = project.db_path.read_bytes()
    damaged = (b"this is not sqlite" * 400 if damage == "garbage"
               else raw[:len(raw) // 5])
    project.db_path.write_bytes(damaged)
    expected = "file is not a database" if damage == "garbage" else "malformed"
    for args in (("runs",), ("status",), ("note", "hello")):
        assert_named(cli_process(project, *args), "goldfish.db is damaged", expected,
                     "restore goldfish.db from a backup")
    assert project.db_path.read_bytes() == damaged
    assert any("database" in f and "damaged" in f for f in doctor_failures(project))


# --- the version store ------------------------------------------------------------------------


def _loose(project: Project, oid: str) -> Path:
    path = project.repo_path / "objects" / oid[:2] / oid[2:]
    assert path.is_file(), "the test expects loose objects"
    return path


def test_damaged_object_is_named_and_doctor_lists_it_with_the_repair(tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    assert doctor_failures(project) == []
    oid = Workspaces(project).files("exp-v1")["pipeline.yaml"]
    path = _loose(project, oid)
    path.chmod(0o644)
    path.write_bytes(zlib.compress(b"blob 9999\0short"))  # truncated content
    assert_named(cli_process(project, "run", "--dry-run", "exp"), "version store",
                 f"object {oid} cannot be read", "goldfish doctor")
    (project.repo_path / "refs" / "tags" / "ghost").write_text("ab" * 20 + "\n")
    failures = doctor_failures(project)
    assert f"version store: damaged object {oid}: is truncated (5 of 9999 bytes)" in failures
    assert ("version store: ref refs/tags/ghost points to abababababab, which is missing"
            in failures)
    assert any("to repair: restore .goldfish/versions.git from a backup" in f for f in failures)


def test_a_run_stopped_by_a_damaged_object_is_recorded_with_the_fault(tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    oid = Workspaces(project).files("exp-v1")["modules/evaluate.py"]
    path = _loose(project, oid)
    path.chmod(0o644)
    path.write_bytes(b"not zlib at all")
    (slot(project) / "modules" / "prepare.py").write_text(
        (slot(project) / "modules" / "prepare.py").read_text() + "# edited\n")
    # the reviewers plugin reads every stage's source before launch
    result = run_cli("--project", str(project.root), "run", "--wait", "exp",
                     env={"GOLDFISH_LOAD_PLUGINS": "reviewers"})
    assert_named(result, "version store", f"object {oid} cannot be read")
    project.db.close()
    row = project.db.one("SELECT state, error FROM runs ORDER BY created_at DESC LIMIT 1")
    assert row is not None and row["state"] == "failed", row
    assert row["error"].startswith("not launched: the version store"), row["error"]
    states = {r[0] for r in project.db.query("SELECT state FROM stage_runs WHERE run_id = "
                                             "(SELECT id FROM runs ORDER BY created_at DESC "
                                             "LIMIT 1)")}
    assert states == {"skipped"}


def test_doctor_reads_back_every_object_of_a_sound_store(tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    checks = {c.subject: c for c in diagnose(str(project.root))}
    assert checks["version store"].status == "ok"
    assert "object(s) readable" in checks["version store"].detail


# --- input that is not text or not a number Python reads --------------------------------------


def test_binary_pipeline_yaml_is_named(tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    text = (slot(project) / "pipeline.yaml").read_bytes()
    (slot(project) / "pipeline.yaml").write_bytes(text + b"\n\xff\xfe\x00\x93garbage\n")
    result = cli_process(project, "run", "--dry-run", "exp")
    assert_named(result, "pipeline.yaml", "not UTF-8 text (byte 0xff", "goldfish rollback",
                 code=2)


def test_hundred_thousand_digit_override_is_named(tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    before = counts(project)
    huge = "9" * 100_000
    result = cli_process(project, "run", "--wait", "exp", "--set", f"train.lr={huge}")
    assert_named(result, "train.lr", "100000 digits is too long", "write a shorter number",
                 code=2)
    assert counts(project)[0] == before[0]  # no run recorded
    # a hex number is read fine but has no decimal form for the config: the same problem
    result = cli_process(project, "run", "--dry-run", "exp", "--set", f"train.lr=0x{'f' * 5000}")
    assert_named(result, "train.lr", "5000 digits is too long", code=2)


def test_huge_number_in_a_yaml_file_is_a_located_problem(tmp_path: Path) -> None:
    project = make_project(tmp_path, CHAIN)
    with project.config_path.open("a", encoding="utf-8") as fh:
        fh.write(f"extra_number: {'7' * 5000}\n")
    result = cli_process(project, "config", "check")
    assert result.code == 2 and "internal error" not in result.err, result.err
    assert "a number with 5000 digits is too long" in result.err + result.out


def test_doctor_finds_a_damaged_pack(tmp_path: Path) -> None:
    files = dict(CHAIN)
    files.update({f"lib/m{i}.py": f"x = {i}\n" for i in range(100)})  # enough for a pack
    project = make_project(tmp_path, files)
    (pack,) = (project.repo_path / "objects" / "pack").glob("*.pack")
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    failures = doctor_failures(project)
    assert any(f"damaged object {pack.name}: ChecksumMismatch" in f for f in failures), failures
