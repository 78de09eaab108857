"""``goldfish gc``: remove what nothing references, consolidate the version store, sweep leftovers.

One pass, under the ``gc`` lease (two gcs never overlap):

1. purge pruned records whose restore window has passed (their rows, their ``.goldfish/runs/<id>``);
2. list the artifact store (``objects/`` and ``trees/``) with sizes and ages — *before* marking —
   then note since when the oldest ``finishing`` stage has been storing its outputs (the fence);
3. mark: every root of :mod:`goldfish.lifecycle.reach`, read from one database snapshot;
4. sweep what is unmarked and older than the grace period: manifests first, then objects;
5. the version store (:mod:`goldfish.lifecycle.vstore`), crash leftovers in ``.goldfish/tmp`` and
   temporary files of interrupted writes, all older than the grace period.

Why this is safe while runs start and finish: an object written after the listing is not a
candidate at all; one written before it and recorded before the mark is marked; one written
before the listing and recorded after the mark is either a finishing stage's output — no older
than the fence, so kept whatever the grace — or another writer's (a source being registered, a
snapshot being saved), kept by the grace period, which is far longer than such a step. Writers
refresh the mtime of an object they find already stored, so reusing an old unreferenced object
makes it young again, and gc re-reads the mtime right before deleting. On backends that cannot tell an
object's age, the grace period counts from the gc pass that first saw it unreferenced
(``gc_seen``). The default grace is one hour.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.errors import ConflictError, InvalidInputError
from goldfish.lifecycle import reach
from goldfish.lifecycle.vstore import VersionStoreReport
from goldfish.runs import lease
from goldfish.snapshot import human_size as human
from goldfish.storage import StoredObject, scan

if TYPE_CHECKING:
    from goldfish.artifacts import ArtifactStore
    from goldfish.project import Project

LEASE = "gc"
LEASE_TTL = 6 * 3600.0
DEFAULT_GRACE = 3600.0
SHOWN = 20
_TMP_MARK = ".tmp-"


@dataclass
class Item:
    what: str  # output | manifest | version-object | tmp | pruned-run | pruned-version
    name: str
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "name": self.name, "bytes": self.bytes}


@dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    items: list[Item] = field(default_factory=list)
    kept_young: int = 0  # unreferenced, younger than the grace period
    scanned: int = 0  # store objects looked at
    versions: VersionStoreReport = field(default_factory=VersionStoreReport)
    seconds: float = 0.0

    @property
    def freed(self) -> int:
        return sum(i.bytes for i in self.items)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for i in self.items:
            c = out.setdefault(i.what, {"count": 0, "bytes": 0})
            c["count"] += 1
            c["bytes"] += i.bytes
        return out

    def to_json(self, limit: int | None = SHOWN) -> dict[str, Any]:
        items = self.items if limit is None else self.items[:limit]
        return {"dry_run": self.dry_run, "grace_seconds": self.grace_seconds,
                "freed_bytes": self.freed, "by_kind": self.counts(),
                "items": [i.to_json() for i in items],
                "items_more": len(self.items) - len(items), "kept_young": self.kept_young,
                "scanned": self.scanned,
                "version_store": {"objects": self.versions.objects, "packs": self.versions.packs,
                                  "loose": self.versions.loose, "repacked": self.versions.repacked,
                                  "bytes_before": self.versions.bytes_before,
                                  "bytes_after": self.versions.bytes_after},
                "seconds": round(self.seconds, 3)}

    def render(self, limit: int = SHOWN) -> str:
        verb = "would remove" if self.dry_run else "removed"
        out = []
        for i in self.items[:limit]:
            out.append(f"  {i.what:15} {human(i.bytes):>9}  {i.name}")
        if len(self.items) > limit:
            out.append(f"  … and {len(self.items) - limit} more (--json lists them all)")
        kinds = ", ".join(f"{c['count']} {k}" for k, c in sorted(self.counts().items()))
        out.append(f"gc {verb} {len(self.items)} items ({kinds or 'nothing'}), "
                   f"{human(self.freed)} freed")
        if self.kept_young:
            out.append(f"kept {self.kept_young} unreferenced items younger than the grace period "
                       f"({_duration(self.grace_seconds)}); a later gc removes them")
        v = self.versions
        if v.repacked and v.bytes_after is not None:
            out.append(f"version store: {v.packs} packs and {v.loose} loose objects consolidated, "
                       f"{human(v.bytes_before)} -> {human(v.bytes_after)}")
        elif self.dry_run and (v.packs > 1 or v.loose):
            out.append(f"version store: would consolidate {v.packs} packs and {v.loose} loose "
                       "objects")
        return "\n".join(out)


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g}d"
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def parse_duration(text: str, what: str = "--grace") -> float:
    """``90s``, ``30m``, ``1h``, ``7d`` or plain seconds."""
    raw = str(text).strip().lower()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    scale = units.get(raw[-1:])
    number = raw[:-1] if scale else raw
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise InvalidInputError(f"{what} {text!r} is not a duration",
                                "write e.g. 0, 90s, 30m, 1h or 7d") from None
    if value < 0:
        raise InvalidInputError(f"{what} {text!r} is negative", "use 0 or more")
    return value


# --- the pass ---------------------------------------------------------------------------------


def collect_garbage(project: Project, *, dry_run: bool = False,
                    grace: float = DEFAULT_GRACE, now: float | None = None) -> GcReport:
    """One gc pass (see the module docstring). ``now`` is the clock (tests move it forward)."""
    from goldfish.artifacts import ArtifactStore

    started = time.monotonic()
    clock = time.time() if now is None else now
    report = GcReport(dry_run=dry_run, grace_seconds=grace)
    with lease.held(project, LEASE, ttl=LEASE_TTL) as holder:
        if holder is None:
            raise ConflictError("another gc is running on this project",
                                "wait for it to finish (it holds the `gc` lease), then retry")
        store = ArtifactStore.for_project(project)
        window = reach.window_seconds(project)
        expired = _expired_pruned(project, clock - window)
        listed = list_store(store)
        fence = _finishing_since(project)
        roots = reach.collect(project, now=clock, expired_after=window)
        trees = {o.uri for o in listed if "/trees/" in o.uri}
        marked = reach.store_uris(store, roots.digests, trees)
        marked |= _live_job_files(store, roots.jobs)
        cutoff = clock - grace
        doomed, report.kept_young = _sweepable(project, listed, marked, grace, clock, dry_run,
                                               fence)
        report.scanned = len(listed)
        for obj in doomed:
            report.items.append(Item("manifest" if "/trees/" in obj.uri else "output",
                                     obj.uri, obj.size))
        for kind, ident in expired:
            size = tree_size(project.runs_dir / ident) if kind == "run" else 0
            report.items.append(Item(f"pruned-{kind}", ident, size))
        report.items += [Item("tmp", str(p.relative_to(project.root)), size)
                         for p, size in _leftovers(project, cutoff)]
        from goldfish.lifecycle import vstore

        report.versions = vstore.collect(project.repo_path, roots.commits, cutoff,
                                         dry_run=dry_run)
        report.items += [Item("version-object", oid, size)
                         for oid, size in report.versions.dropped]
        if not dry_run:
            _delete(project, store, doomed, expired, report)
        report.seconds = time.monotonic() - started
    if not dry_run:
        project.emit("gc.finished", "", f"gc removed {len(report.items)} items, "
                     f"{human(report.freed)} freed", freed=report.freed, items=len(report.items))
    from goldfish.lifecycle import du

    du.remember(project, reclaimable_gc=0 if not dry_run else report.freed, at=clock)
    return report


def list_store(store: ArtifactStore) -> list[StoredObject]:
    """Every object and manifest of the artifact store, with size and age."""
    return [*scan(store.storage, f"{store.base_uri}/objects/"),
            *scan(store.storage, f"{store.base_uri}/trees/")]


def _live_job_files(store: ArtifactStore, jobs: set[str]) -> set[str]:
    """Objects staged for stages that have not ended (remote backends' job specs)."""
    from goldfish.runs.staging import job_prefix

    out: set[str] = set()
    for job_id in jobs:
        uri = f"{job_prefix(store.base_uri, job_id)}/spec.json"
        try:
            if not store.storage.exists(uri):
                continue
            with store.storage.open(uri) as fh:
                spec = json.loads(fh.read())
        except Exception:
            continue
        out.update(str(u) for u in (spec.get("files") or {}).values())
    return out


def _finishing_since(project: Project) -> float | None:
    """When the oldest stage now ``finishing`` entered that state: it stores its outputs and
    then records them, so an object it stored is no older than this (read after the listing,
    before the mark)."""
    row = project.db.one(
        "SELECT min(t.at) FROM stage_runs s JOIN transitions t ON t.run_id = s.run_id AND "
        "t.stage = s.stage AND t.to_state = 'finishing' WHERE s.state = 'finishing'")
    return None if row is None or row[0] is None else float(row[0])


def _sweepable(project: Project, listed: list[StoredObject], marked: set[str], grace: float,
               clock: float, dry_run: bool, fence: float | None) -> tuple[list[StoredObject], int]:
    """Unmarked objects at least ``grace`` old (and older than ``fence``, when a stage is
    finishing), and how many unmarked ones are younger."""
    unmarked = [o for o in listed if o.uri not in marked]
    ageless = [o for o in unmarked if o.mtime is None]
    seen: dict[str, float] = {}
    if ageless:
        seen = {r[0]: r[1] for r in project.db.query("SELECT uri, first_seen FROM gc_seen")}
        if not dry_run:
            with project.tx() as conn:
                conn.executemany("INSERT OR IGNORE INTO gc_seen (uri, first_seen) VALUES (?, ?)",
                                 [(o.uri, clock) for o in ageless])
                gone = set(seen) - {o.uri for o in ageless}
                conn.executemany("DELETE FROM gc_seen WHERE uri = ?", [(u,) for u in gone])
    doomed, young = [], 0
    for obj in unmarked:
        born = obj.mtime if obj.mtime is not None else seen.get(obj.uri, clock)
        if clock - born >= grace and (fence is None or obj.mtime is None or born < fence):
            doomed.append(obj)
        else:
            young += 1
    return doomed, young


def _expired_pruned(project: Project, before: float) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in project.db.query(
        "SELECT kind, id FROM pruned WHERE pruned_at < ? ORDER BY pruned_at, id", (before,))]


def tree_size(path: Path) -> int:
    """Bytes of every file under ``path`` (0 when it is absent)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


_PID = re.compile(r"-(\d+)-\d+$")


def _writer_alive(name: str) -> bool:
    """Temporary names end ``-<pid>-<ns>``: a live writer's file is not a leftover, however old."""
    m = _PID.search(name)
    return m is not None and not lease.process_dead(int(m.group(1)))


def _leftovers(project: Project, cutoff: float) -> list[tuple[Path, int]]:
    """Crash leftovers older than ``cutoff`` whose writer (the pid in the name) is gone: entries
    of ``.goldfish/tmp`` and temporary files of interrupted writes in the version store."""
    out: list[tuple[Path, int]] = []
    tmp = project.goldfish_dir / "tmp"
    if tmp.is_dir():
        for entry in os.scandir(tmp):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if st.st_mtime < cutoff and not _writer_alive(entry.name):
                path = Path(entry.path)
                size = tree_size(path) if stat.S_ISDIR(st.st_mode) else st.st_size
                out.append((path, size))
    objects = project.repo_path / "objects"
    for folder in (*objects.glob("[0-9a-f][0-9a-f]"), objects / "pack"):
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if _TMP_MARK in entry.name:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if st.st_mtime < cutoff and not _writer_alive(entry.name):
                    out.append((Path(entry.path), st.st_size))
    return sorted(out)


def _delete(project: Project, store: ArtifactStore, doomed: list[StoredObject],
            expired: list[tuple[str, str]], report: GcReport) -> None:
    # manifests first: a reader never finds a directory whose files are already gone
    for obj in sorted(doomed, key=lambda o: "/trees/" not in o.uri):
        local = store.storage.local_path(obj.uri)
        if local is not None:
            try:
                if os.stat(local).st_mtime != obj.mtime:
                    continue  # stored again since the listing: a writer relies on it
            except OSError:
                pass
        store.storage.delete(obj.uri)
    if any(o.mtime is None for o in doomed):
        with project.tx() as conn:
            conn.executemany("DELETE FROM gc_seen WHERE uri = ?",
                             [(o.uri,) for o in doomed if o.mtime is None])
    if doomed:
        for staged in project.cache_dir.glob("staged-*.txt"):  # staging's "already uploaded"
            staged.unlink(missing_ok=True)
    if expired:
        with project.tx() as conn:
            conn.executemany("DELETE FROM pruned WHERE kind = ? AND id = ?", expired)
        for kind, ident in expired:
            if kind == "run":
                shutil.rmtree(project.runs_dir / ident, ignore_errors=True)
    for item in report.items:
        if item.what == "tmp":
            path = project.root / item.name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
