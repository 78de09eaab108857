"""Taking a backup: a consistent, incremental copy of the project's memory.

Order matters for consistency while other processes write: the database is copied first (one
read transaction of SQLite's online backup API: a snapshot, writers go on), then the version
store's refs (read into memory), then its objects, then the run logs and the stored outputs the
copied database references. Everything written later than the database copy is either not
referenced by it (ignored on restore) or a newer object a ref needs; nothing the copy references
can be missing, because Goldfish writes objects before the records that name them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.artifacts import hash_file
from goldfish.backup.dest import MANIFEST_FORMAT, Destination, local_target, resolve

if TYPE_CHECKING:
    from goldfish.project import Project

DB_REL = ".goldfish/goldfish.db"
LOCK_FILE = "backup.lock"
RECORD_FILE = "last-backup.json"
DIGEST_CACHE = "backup-digests.json"
SMALL = 64 * 1024 * 1024  # read whole (hash and copy the same bytes); larger files are immutable
PACKED_MAX = 1024 * 1024  # files up to this size go into packs
PACK_MAX = 64 * 1024 * 1024
COUNTED = ("runs", "versions", "notes", "findings", "patterns", "outputs", "sources")
RUN_FILES = ("log.txt", "metrics.jsonl", "exit.json", "error.json")


@dataclass
class BackupResult:
    id: str
    dest: str
    source: str  # what `goldfish restore` takes to restore exactly this backup
    reason: str
    dry_run: bool
    files: int = 0
    bytes: int = 0
    copied_files: int = 0
    copied_bytes: int = 0
    seconds: float = 0.0
    schema_version: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    to_copy: list[tuple[str, int]] = field(default_factory=list)  # (path, size), dry runs
    pruned: list[str] = field(default_factory=list)
    missing_outputs: int = 0

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["to_copy"] = [{"path": p, "size": s} for p, s in self.to_copy]
        return data


def new_id(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}{int(now * 1000) % 1000:03d}Z-{uuid.uuid4().hex[:4]}"


@contextlib.contextmanager
def lease(project: Project, *, wait: bool) -> Iterator[bool]:
    """At most one backup of a project at a time: an exclusive lock on ``.goldfish/backup.lock``
    (it dies with its holder, so a killed backup never blocks the next one). Yields False when
    ``wait`` is false and another process holds it."""
    path = project.goldfish_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def take(project: Project, dest: str | None = None, *, keep: int | None = None,
         dry_run: bool = False) -> BackupResult:
    """Back up ``project`` to ``dest`` (see :func:`goldfish.backup.dest.resolve`), after any
    backup under way."""
    target = resolve(project, dest)
    with lease(project, wait=True):
        return _take(project, target, keep, dry_run, "manual")


def _take(project: Project, dest: Destination, keep: int | None, dry_run: bool,
          reason: str) -> BackupResult:
    from goldfish import __version__

    started = time.monotonic()
    now = time.time()
    backup_id = new_id(now)
    result = BackupResult(backup_id, dest.label, source_of(dest, backup_id), reason, dry_run)
    known = dest.locations()
    packer = _Packer(dest, backup_id)
    cache = _DigestCache(project.cache_dir / DIGEST_CACHE)
    tmp_dir = project.goldfish_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    db_copy = tmp_dir / f"backup-{backup_id}.db"
    try:
        result.schema_version, result.counts, referenced = copy_database(project.db_path, db_copy)
        files: list[dict[str, Any]] = []
        store: list[dict[str, Any]] = []
        entries: list[tuple[str, Path, bytes | None]] = [(DB_REL, db_copy, None)]
        entries += _project_files(project)
        for rel, path, data in entries:
            entry = _entry(rel, path, data, cache, packer, known, result, dry_run)
            if entry is not None:
                files.append(entry)
        for rel, path in _store_files(project, referenced, result):
            entry = _entry(rel, path, None, cache, packer, known, result, dry_run)
            if entry is not None:
                store.append(entry)
        manifest = {
            "format": MANIFEST_FORMAT, "id": backup_id, "created_at": now, "reason": reason,
            "goldfish_version": __version__, "schema_version": result.schema_version,
            "project": _project_name(project), "source": str(project.root),
            "storage": project.config.storage, "counts": result.counts,
            "files": files, "store": store,
            "bytes": result.bytes, "copied": {"files": result.copied_files,
                                              "bytes": result.copied_bytes},
        }
        if not dry_run:
            packer.flush()
            dest.commit()  # every object durable before the manifest names it
            dest.storage.put(dest.manifest_uri(backup_id),
                             json.dumps(manifest, indent=1, sort_keys=True).encode())
            cache.save()
            _write_record(project, result, now)
            result.pruned = prune(dest, keep if keep is not None else _keep(project))
    finally:
        db_copy.unlink(missing_ok=True)
        db_copy.with_name(db_copy.name + ".z").unlink(missing_ok=True)
    result.seconds = time.monotonic() - started
    return result


def copy_database(db_path: Path, target: Path) -> tuple[int, dict[str, int], list[tuple[str, str]]]:
    """A consistent copy of the database (SQLite's online backup API, in one step: a single read
    transaction, so WAL writers are never blocked and the copy never restarts); returns its
    schema version, record counts and the (digest, kind) of every stored output and source."""
    if not db_path.is_file():
        from goldfish.errors import NotFoundError

        raise NotFoundError(f"no database to back up at {db_path}",
                            "is this an initialized project? (`goldfish doctor`)")
    src = sqlite3.connect(db_path, timeout=30)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            verdict = str(dst.execute("PRAGMA quick_check").fetchone()[0])
            if verdict != "ok":  # never let a damaged copy rotate good backups out
                from goldfish.faults import damaged_database

                raise damaged_database(db_path, verdict)
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE "
                                                "type = 'table'")}
            counts = {t: int(dst.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                      for t in COUNTED if t in tables}
            referenced: list[tuple[str, str]] = []
            for table in ("outputs", "sources"):
                if table in tables:
                    referenced += [(str(d), str(k)) for d, k in dst.execute(
                        f"SELECT DISTINCT digest, kind FROM {table}")]
        finally:
            dst.close()
    finally:
        src.close()
    return version, counts, referenced


def _project_files(project: Project) -> list[tuple[str, Path, bytes | None]]:
    """(path in the project, file, bytes read now or None) of what a backup holds besides the
    database: goldfish.yaml, STATE.md, the version store (refs first, see the module docstring)
    and the runs' logs and metrics."""
    root = project.root
    out: list[tuple[str, Path, bytes | None]] = []
    for name in ("goldfish.yaml", "STATE.md", ".gitignore"):
        data = _read(root / name)
        if data is not None:
            out.append((name, root / name, data))
    repo = project.repo_path
    objects: list[tuple[str, Path, bytes | None]] = []
    for path in _walk(repo):
        rel = path.relative_to(root).as_posix()
        inner = path.relative_to(repo).parts
        if inner[0] == "objects":
            objects.append((rel, path, None))
        else:
            data = _read(path)  # refs, HEAD, config: small and mutable
            if data is not None:
                out.append((rel, path, data))
    names = {p.name for _, p, _ in objects}
    out += [o for o in objects if not (o[1].suffix == ".pack" and
                                       o[1].with_suffix(".idx").name not in names)]
    out += [(path.relative_to(root).as_posix(), path, None) for path in _run_files(project)]
    return out


def _run_files(project: Project) -> list[Path]:
    """Each run's driver.log and each stage's log, metrics and exit records (one directory
    listing per run and per stage; the stages' scratch folders are not entered)."""
    found: list[Path] = []
    try:
        runs = sorted(os.scandir(project.runs_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return found
    for run in runs:
        if not run.is_dir(follow_symlinks=False):
            continue
        for entry in sorted(os.scandir(run.path), key=lambda e: e.name):
            if entry.name == "driver.log" and entry.is_file(follow_symlinks=False):
                found.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                names = set(os.listdir(entry.path))
                found += [Path(entry.path, n) for n in RUN_FILES if n in names]
    return found


def _store_files(project: Project, referenced: list[tuple[str, str]],
                 result: BackupResult) -> list[tuple[str, Path]]:
    """Stored outputs and sources the copied database references, when the storage backend
    keeps them on this machine (a remote bucket is its own durable copy: referenced, not
    copied). Paths are relative to the storage base."""
    from goldfish.artifacts import ArtifactStore

    store = ArtifactStore.for_project(project)
    base = store.base_uri + "/"
    out: dict[str, Path] = {}
    folder = local_target(store.storage, store.base_uri)  # file://: plain joins, no resolving

    def add(uri: str) -> Path | None:
        rel = uri[len(base):]
        local = Path(folder, rel) if folder is not None else store.storage.local_path(uri)
        if local is None or (folder is not None and not local.is_file()):
            result.missing_outputs += 1
            return None
        out[rel] = local
        return local

    if not _local(store):
        return []
    for digest, kind in referenced:
        try:
            if kind == "directory":
                if add(store.tree_uri(digest)) is None:
                    continue
                for entry in store.manifest(digest).values():
                    add(store.object_uri(entry["digest"]))
            else:
                add(store.object_uri(digest))
        except Exception:  # an unreadable manifest: that output is reported missing
            result.missing_outputs += 1
    return sorted(out.items())


def _local(store: Any) -> bool:
    probe = store.base_uri + "/objects"
    try:
        return store.storage.scheme == "file" or store.storage.local_path(probe) is not None
    except Exception:
        return False


class _Packer:
    """Small files newly copied go into packs (``packs/<id>-<n>.pack``, up to 64 MB each): a
    backup of thousands of small objects writes a few objects, not thousands."""

    def __init__(self, dest: Destination, backup_id: str) -> None:
        self.dest, self.backup_id = dest, backup_id
        self.buf = bytearray()
        self.count = 0

    @property
    def name(self) -> str:
        return f"{self.backup_id}-{self.count}"

    def add(self, data: bytes) -> dict[str, Any]:
        if len(self.buf) + len(data) > PACK_MAX:
            self.flush()
        place = {"pack": self.name, "offset": len(self.buf)}
        self.buf += data
        return place

    def put(self, digest: str, data: bytes | None, path: Path, size: int,
            loose: bool = False) -> dict[str, Any]:
        if data is not None and size <= PACKED_MAX and not loose:
            return self.add(data)
        if loose:  # the database: compressed (3-5x smaller, ~10 ms/MB)
            self.dest.put(self.dest.blob_uri(digest), zlib.compress(data, 1)
                          if data is not None else _compress_file(path))
            return {"encoding": "zlib"}
        self.dest.put(self.dest.blob_uri(digest), data if data is not None else path)
        return {}

    def flush(self) -> None:
        if self.buf:
            self.dest.put(self.dest.pack_uri(self.name), bytes(self.buf))
            self.count += 1
            self.buf = bytearray()


def _entry(rel: str, path: Path, data: bytes | None, cache: _DigestCache, packer: _Packer,
           known: dict[str, dict[str, Any]], result: BackupResult,
           dry_run: bool) -> dict[str, Any] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None  # removed meanwhile (a finished run's scratch): not part of this backup
    digest = cache.get(rel, st) if data is None else hashlib.sha256(data).hexdigest()
    size = len(data) if data is not None else st.st_size
    if digest is None or digest not in known:
        if data is None and st.st_size <= SMALL:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                return None
            size = len(data)
        if data is not None:
            digest = hashlib.sha256(data).hexdigest()
        elif digest is None:
            digest = hash_file(path).removeprefix("sha256:")
        if data is None or size == st.st_size:
            cache.put(rel, st, digest)
    if digest not in known:
        if dry_run:
            result.to_copy.append((rel, size))
            known[digest] = {}
        else:
            # the database copy changes every time and is what pruning frees: never packed
            known[digest] = packer.put(digest, data, path, size, loose=rel == DB_REL)
        result.copied_files += 1
        result.copied_bytes += size
    result.files += 1
    result.bytes += size
    return {"path": rel, "sha256": digest, "size": size, **known[digest]}


def _compress_file(path: Path) -> Path:
    """``path`` deflated next to it (``.z``), in 1 MiB chunks."""
    out = path.with_name(path.name + ".z")
    deflate = zlib.compressobj(1)
    with open(path, "rb") as src, open(out, "wb") as sink:
        while chunk := src.read(1024 * 1024):
            sink.write(deflate.compress(chunk))
        sink.write(deflate.flush())
    return out


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        out += [Path(dirpath, f) for f in sorted(filenames)
                if ".tmp-" not in f and not f.startswith(".goldfish-tmp-")]
    return out


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None


class _DigestCache:
    """(size, mtime_ns, inode) → sha256 per file, so an unchanged file is not read again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.entries: dict[str, list[Any]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}
        self.fresh: dict[str, list[Any]] = {}

    def get(self, rel: str, st: os.stat_result) -> str | None:
        entry = self.entries.get(rel)
        if entry and entry[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]:
            self.fresh[rel] = entry
            return str(entry[3])
        return None

    def put(self, rel: str, st: os.stat_result, digest: str) -> None:
        self.fresh[rel] = [st.st_size, st.st_mtime_ns, st.st_ino, digest]

    def save(self) -> None:
        from goldfish.builtins.file_storage import write_atomic

        with contextlib.suppress(OSError):
            write_atomic(self.path, json.dumps(self.fresh, separators=(",", ":")).encode())


def prune(dest: Destination, keep: int) -> list[str]:
    """Keep the newest ``keep`` backups at ``dest``; delete the rest and every object no kept
    backup uses. Returns the ids deleted."""
    ids = dest.backup_ids()
    old = ids[:-keep] if keep > 0 and len(ids) > keep else []
    if not old:
        return []
    for backup_id in old:
        dest.storage.delete(dest.manifest_uri(backup_id))
    used = {dest.object_uri({"sha256": d, **place})
            for d, place in dest.locations(ids[-keep:]).items()}
    for folder in ("objects", "packs"):
        for uri in dest.storage.list(f"{dest.base}/{folder}/"):
            if uri not in used:
                dest.storage.delete(uri)
    return old


def source_of(dest: Destination, backup_id: str) -> str:
    if dest.base.startswith("file:///"):
        return str(Path(dest.base[len("file://"):]) / "manifests" / f"{backup_id}.json")
    return dest.manifest_uri(backup_id)


def listing(dest: Destination, limit: int | None = None) -> list[dict[str, Any]]:
    """The backups at ``dest``, newest first (``goldfish backups`` and the MCP tool): id, time,
    reason, files, bytes, schema and Goldfish versions, counts, and the source to restore."""
    items = []
    for backup_id in list(reversed(dest.backup_ids()))[:limit]:
        m = dest.read_manifest(backup_id)
        items.append({"id": backup_id, "created_at": m["created_at"], "reason": m["reason"],
                      "files": len(m["files"]) + len(m["store"]), "bytes": m["bytes"],
                      "schema_version": m["schema_version"],
                      "goldfish_version": m["goldfish_version"], "counts": m["counts"],
                      "source": source_of(dest, backup_id)})
    return items


def _keep(project: Project) -> int:
    try:
        return int(project.config.get("backup.keep", 7))
    except Exception:
        return 7


def _project_name(project: Project) -> str:
    try:
        return project.config.project
    except Exception:
        return project.root.name


def _write_record(project: Project, result: BackupResult, now: float) -> None:
    from goldfish.builtins.file_storage import write_atomic

    record = {"id": result.id, "at": now, "dest": result.dest, "source": result.source,
              "reason": result.reason, "files": result.files, "bytes": result.bytes,
              "schema_version": result.schema_version}
    try:
        write_atomic(project.goldfish_dir / RECORD_FILE, json.dumps(record, indent=1).encode())
    except OSError as exc:
        print(f"goldfish: warning: backup {result.id} taken, but {RECORD_FILE} could not be "
              f"written ({exc})", file=sys.stderr)


def last_backup(goldfish_dir: Path) -> dict[str, Any] | None:
    """The record of the last backup this project took (any destination), or None."""
    try:
        data = json.loads((goldfish_dir / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict) and data.get("source"):
        return data
    return None


def latest_known(goldfish_dir: Path) -> dict[str, Any] | None:
    """:func:`last_backup`, or, without its record, the newest backup in the default folder
    (``.goldfish/backups``), read without opening the project."""
    record = last_backup(goldfish_dir)
    if record is not None:
        return record
    folder = goldfish_dir / "backups" / "manifests"
    try:
        newest = max(p for p in folder.iterdir() if p.suffix == ".json")
        data = json.loads(newest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"id": newest.stem, "at": float(data.get("created_at", 0)), "dest": str(folder.parent),
            "source": str(newest)}
