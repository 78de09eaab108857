"""Restoring a backup into a project directory (a new one, or over a damaged one with ``force``).

Every file is read from the backup and checked against the manifest's sha256 and size first,
and the restored database (fetched to a temporary name) must pass ``PRAGMA integrity_check``;
only when everything checks out are files written, so a damaged backup changes nothing (a new
target is removed again if writing fails). Files a forced restore replaces are moved to ``.goldfish/replaced/<time>/``, never
deleted. Stored outputs go into the restored project's storage backend (through the storage
contract); slots that held a workspace get the files of its last synced version.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from goldfish.artifacts import hash_file
from goldfish.backup.dest import Destination, local_target, locate, sync_filesystem
from goldfish.backup.take import COUNTED, DB_REL
from goldfish.errors import ConflictError, InvalidInputError, NotFoundError
from goldfish.faults import FaultError

if TYPE_CHECKING:
    from goldfish.plugins import Plugins



@dataclass
class RestoreResult:
    id: str
    target: str
    files: int = 0
    bytes: int = 0
    outputs: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    slots: dict[str, str] = field(default_factory=dict)  # slot -> version put there
    replaced: str | None = None  # where a forced restore moved the files it replaced

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def restore(src: str, target: str | os.PathLike[str], *, force: bool = False,
            backup_id: str | None = None, plugins: Plugins | None = None) -> RestoreResult:
    """Rebuild the project backed up at ``src`` (a destination, or one backup's manifest in
    it) in ``target``; a non-empty ``target`` needs ``force``."""
    if plugins is None:
        from goldfish.plugins import get_plugins

        plugins = get_plugins()
    root = Path(target).expanduser().absolute()
    dest, named = locate(plugins, root, src)
    backup_id = backup_id or named or _latest(dest)
    manifest = dest.read_manifest(backup_id)
    if root.exists() and not root.is_dir():
        raise InvalidInputError(f"restore target {root} is a file", "pass a directory")
    if root.exists() and any(root.iterdir()) and not force:
        raise ConflictError(
            f"restore target {root} is not empty",
            "pass an empty or new directory, or --force to restore over it (the files it "
            "replaces are moved to .goldfish/replaced/)")
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    db_tmp = root / f".goldfish-restore-{uuid.uuid4().hex[:8]}.db"
    try:
        result = RestoreResult(backup_id, str(root))
        reader = _Reader(dest)
        entries = _verify(dest, manifest, reader, result)
        db_entry = next((e for e in manifest["files"] if e["path"] == DB_REL), None)
        if db_entry is None:
            raise FaultError(f"backup {backup_id} at {dest.label} has no {DB_REL}",
                             "restore another backup", kind="backup")
        reader.write(db_entry, db_tmp)
        _check_database(db_tmp, backup_id, dest)
        if str(root) != manifest.get("source"):
            _settle_active_runs(db_tmp, backup_id)
        result.replaced = _write_files(root, entries, reader, db_tmp)
        _finish(root, manifest, reader, result, plugins)
    except BaseException:
        db_tmp.unlink(missing_ok=True)
        if created:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return result


def _latest(dest: Destination) -> str:
    ids = dest.backup_ids()
    if not ids:
        raise NotFoundError(f"no backup at {dest.label} (no manifests/ there)",
                            "pass the folder or URI `goldfish backup` wrote to")
    return ids[-1]


def _safe(rel: str) -> str:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or any(p in ("..", "") for p in parts):
        raise InvalidInputError(f"backup manifest names an unsafe path {rel!r}",
                                "the manifest was edited or damaged; restore another backup")
    return rel


class _Reader:
    """Reads entries' bytes from a destination: a pack is fetched once and sliced (entries are
    visited in pack order), a loose object is streamed."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self.pack_name: str | None = None
        self.pack = b""
        self.made: set[Path] = set()

    def chunks(self, entry: dict[str, Any]) -> Iterator[bytes]:
        uri = self.dest.object_uri(entry)
        if entry.get("pack"):
            if self.pack_name != entry["pack"]:
                self.pack_name, self.pack = None, b""
                with self.dest.storage.open(uri) as fh:
                    self.pack = fh.read()
                self.pack_name = str(entry["pack"])
            offset = int(entry["offset"])
            yield self.pack[offset:offset + int(entry["size"])]
            return
        inflate = zlib.decompressobj() if entry.get("encoding") == "zlib" else None
        with self.dest.storage.open(uri) as fh:
            while chunk := fh.read(1024 * 1024):
                yield inflate.decompress(chunk) if inflate is not None else chunk
        if inflate is not None:
            yield inflate.flush()

    def write(self, entry: dict[str, Any], target: Path) -> None:
        if target.parent not in self.made:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.made.add(target.parent)
        with open(target, "wb") as sink:
            for chunk in self.chunks(entry):
                sink.write(chunk)


def _order(entry: dict[str, Any]) -> tuple[str, int]:
    return str(entry.get("pack") or ""), int(entry.get("offset") or 0)


def _verify(dest: Destination, manifest: dict[str, Any], reader: _Reader,
            result: RestoreResult) -> list[tuple[dict[str, Any], str]]:
    """Read and check every file (nothing is written); raise naming each damaged one. Returns
    (entry, path in the project) of the project's files, in pack order."""
    damaged: list[str] = []
    entries = [(e, _safe(e["path"])) for e in manifest["files"]]
    for entry in manifest["store"]:
        _safe(entry["path"])
    for entry in sorted([*manifest["files"], *manifest["store"]], key=_order):
        want, size = str(entry["sha256"]), int(entry["size"])
        uri = dest.object_uri(entry)
        h, got = hashlib.sha256(), 0
        try:
            for chunk in reader.chunks(entry):
                h.update(chunk)
                got += len(chunk)
        except NotFoundError:
            damaged.append(f"{entry['path']}: its stored copy {uri} is missing")
            continue
        except zlib.error as exc:
            damaged.append(f"{entry['path']}: its stored copy {uri} does not decompress ({exc})")
            continue
        if h.hexdigest() != want or got != size:
            damaged.append(f"{entry['path']}: its stored copy in {uri} has sha256 "
                           f"{h.hexdigest()[:16]}… ({got} bytes), the manifest says "
                           f"{want[:16]}… ({size} bytes)")
            continue
        result.files += 1
        result.bytes += got
    if damaged:
        shown = "; ".join(damaged[:5]) + (f"; and {len(damaged) - 5} more"
                                          if len(damaged) > 5 else "")
        raise FaultError(
            f"backup {manifest['id']} at {dest.label} is damaged: {shown}",
            f"nothing was restored; restore an older backup (`goldfish backups {dest.label}` "
            "lists them, pass its manifest path to `goldfish restore`)", kind="backup")
    return sorted(entries, key=lambda item: _order(item[0]))


def _check_database(path: Path, backup_id: str, dest: Destination) -> None:
    """The copy must be sound; leases of the processes that held it then are dropped."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            verdict = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
            if verdict == "ok":
                conn.execute("DELETE FROM leases")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    if verdict != "ok":
        raise FaultError(f"backup {backup_id} at {dest.label}: its {DB_REL} fails SQLite's "
                         f"integrity check ({verdict})", "restore another backup", kind="backup")


def _settle_active_runs(path: Path, backup_id: str) -> None:
    """Runs active when the backup was taken belong to processes of the original project; in a
    restored copy elsewhere nobody drives them, so they end ``lost``, saying why. (Restored in
    place, they are left to the reconciler: their processes may still be working.)"""
    from goldfish.runs import states

    reason = (f"restored from backup {backup_id} into another place; the run was active when "
              "the backup was taken and its processes belong to the original project")
    marks = ",".join("?" * len(states.ACTIVE))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for (run_id,) in conn.execute(f"SELECT id FROM runs WHERE state IN ({marks})",
                                      states.ACTIVE).fetchall():
            for (stage,) in conn.execute(
                    f"SELECT stage FROM stage_runs WHERE run_id = ? AND state IN ({marks})",
                    (run_id, *states.ACTIVE)).fetchall():
                states.set_stage_state(conn, run_id, stage, "lost", reason, error=reason)
            states.set_run_state(conn, run_id, "lost", reason, error=reason)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _write_files(root: Path, entries: list[tuple[dict[str, Any], str]], reader: _Reader,
                 db_tmp: Path) -> str | None:
    """Write the checked files into the project. What they replace goes to
    ``.goldfish/replaced/<time>/`` (the database's -wal/-shm files too: SQLite would apply an
    old journal to the restored file); an identical file is left as it is."""
    aside = root / ".goldfish" / "replaced" / time.strftime("%Y%m%dT%H%M%S")
    moved = False
    for entry, rel in entries:
        dst = root / rel
        extra = [Path(f"{dst}-wal"), Path(f"{dst}-shm")] if rel == DB_REL else []
        for old in [dst, *extra]:
            if old.is_file() and not (old == dst and rel != DB_REL and _same(old, entry)):
                keep = aside / old.relative_to(root)
                keep.parent.mkdir(parents=True, exist_ok=True)
                os.replace(old, keep)
                moved = True
        if dst.is_file():  # identical: keep the file in place
            continue
        if rel == DB_REL:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(db_tmp, dst)
        else:
            reader.write(entry, dst)
    return str(aside) if moved else None


def _same(path: Path, entry: dict[str, Any]) -> bool:
    if path.stat().st_size != int(entry["size"]):
        return False
    return hash_file(path) == f"sha256:{entry['sha256']}"


def _finish(root: Path, manifest: dict[str, Any], reader: _Reader, result: RestoreResult,
            plugins: Plugins) -> None:
    from goldfish.artifacts import ArtifactStore
    from goldfish.project import Project

    project = Project(root, plugins)
    for folder in (project.runs_dir, project.cache_dir, project.goldfish_dir / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, project.config.slots + 1):
        project.slot_path(f"w{i}").mkdir(parents=True, exist_ok=True)
    store = ArtifactStore.for_project(project)
    for entry in sorted(manifest["store"], key=_order):
        uri = f"{store.base_uri}/{entry['path']}"
        target = local_target(store.storage, uri)
        if target is not None:  # a local store: written in place, flushed once below
            if not target.is_file():
                reader.write(entry, target)
                with contextlib.suppress(OSError):
                    os.chmod(target, 0o444)
        elif not store.storage.exists(uri):
            store.storage.put(uri, b"".join(reader.chunks(entry)))
        result.outputs += 1
    result.slots = _fill_slots(project)
    for table in COUNTED:
        with contextlib.suppress(sqlite3.DatabaseError):
            row = project.db.one(f"SELECT count(*) FROM {table}")
            result.counts[table] = int(row[0]) if row else 0
    project.db.close()
    sync_filesystem(root)


def _fill_slots(project: Any) -> dict[str, str]:
    """A slot that held a workspace gets its last synced version, unless it has files (a
    restore over a live project keeps the agent's unsaved work)."""
    from goldfish.workspaces import Workspaces

    placed: dict[str, str] = {}
    ws = Workspaces(project)
    for row in project.db.query("SELECT slot, workspace, base_version FROM slots "
                                "WHERE workspace IS NOT NULL AND base_version IS NOT NULL"):
        path = project.slot_path(row["slot"])
        if path.is_dir() and any(path.iterdir()):
            continue
        tag = f"{row['workspace']}-v{row['base_version']}"
        ws.export(tag, path)
        placed[str(row["slot"])] = tag
    return placed
