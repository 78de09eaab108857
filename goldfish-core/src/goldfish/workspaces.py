"""Workspaces, slots and versions: the provenance service.

A workspace is a named line of work; its versions are commits on ``refs/heads/<workspace>`` of the
bare repository, tagged ``refs/tags/<workspace>-v<N>`` and recorded in the ``versions`` table. A
slot (``workspaces/w1`` …) holds the plain files of one mounted workspace.

Rules that keep history exact under concurrent processes and crashes:

* version numbers are allocated inside ``project.tx()`` (``BEGIN IMMEDIATE``) from
  ``workspaces.next_version``; blobs and trees are written before the transaction (they are
  content-addressed, so an abandoned write is harmless); the commit and the refs are written inside
  it, so the database lock is also the ref lock;
* everything is validated before the disk is touched; new slot contents are built in a temporary
  directory under ``.goldfish/tmp`` and swapped in with renames, undone if the transaction fails;
* every mutation emits its event inside its transaction.
"""

from __future__ import annotations

import builtins
import os
import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.errors import ConflictError, InvalidInputError, NotFoundError, did_you_mean
from goldfish.plain import field, record
from goldfish.runs.ids import check_tag_name
from goldfish.snapshot import (
    DEFAULT_MAX_FILE_BYTES,
    EMPTY_TREE,
    Diff,
    SlotTree,
    Store,
    diff_listings,
    ensure_empty_tree,
    read_slot_file,
    set_ref,
    snapshot_tree,
    write_commit,
)

if TYPE_CHECKING:
    from goldfish.project import Project

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SLOT_RE = re.compile(r"^w[1-9][0-9]*$")
VERSION_TAG_RE = re.compile(r"^(?P<workspace>.+)-v(?P<number>[0-9]+)$")
KINDS = ("create", "save", "run", "rollback", "unmount")


@record(frozen=True)
class VersionInfo:
    workspace: str
    number: int
    tag: str
    commit: str
    tree: str
    message: str
    created_at: float
    kind: str
    created: bool = True  # False when an unchanged tree reused the latest version

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "number": self.number, "tag": self.tag,
                "commit": self.commit, "tree": self.tree, "message": self.message,
                "created_at": self.created_at, "kind": self.kind, "created": self.created}


@record(frozen=True)
class WorkspaceInfo:
    name: str
    goal: str
    created_at: float
    slot: str | None
    parent_workspace: str | None
    parent_version: int | None
    head: VersionInfo | None
    version_count: int
    versions: tuple[VersionInfo, ...] = field(default=())  # filled by ``info``

    @property
    def parent(self) -> str | None:
        """The version this workspace was forked from (``ws-v3``), if any."""
        if self.parent_workspace is None or self.parent_version is None:
            return None
        return f"{self.parent_workspace}-v{self.parent_version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "goal": self.goal, "created_at": self.created_at,
                "slot": self.slot, "parent": self.parent, "version_count": self.version_count,
                "head": self.head.to_dict() if self.head else None,
                "versions": [v.to_dict() for v in self.versions]}


@record(frozen=True)
class TagInfo:
    name: str
    target: str
    created_at: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "created_at": self.created_at,
                "note": self.note}


def _version(row: sqlite3.Row, created: bool = True) -> VersionInfo:
    return VersionInfo(workspace=row["workspace"], number=row["number"], tag=row["tag"],
                       commit=row["commit_sha"], tree=row["tree_sha"], message=row["message"],
                       created_at=row["created_at"], kind=row["kind"], created=created)


def check_name(name: str, what: str = "workspace name") -> str:
    """Refuse names that are not safe as a directory, a git ref and a CLI word."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{what} is empty", "pass a name like `baseline` or `bpe-32k`")
    if "/" in name or "\\" in name or ".." in name:
        raise InvalidInputError(f"{what} {name!r} contains a path ('/', '\\' or '..')",
                                "use a plain name like `baseline` or `bpe-32k`")
    if not NAME_RE.match(name):
        raise InvalidInputError(
            f"{what} {name!r} is not allowed",
            "use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
    if name.endswith(".") or name.endswith(".lock"):
        raise InvalidInputError(f"{what} {name!r} ends with '.' or '.lock'",
                                "drop the ending; git refuses such names")
    if SLOT_RE.match(name):
        raise InvalidInputError(f"{what} {name!r} looks like a slot name",
                                "slots are called w1, w2, …; pick a descriptive name")
    if VERSION_TAG_RE.match(name):
        raise InvalidInputError(f"{what} {name!r} looks like a version tag (<workspace>-v<N>)",
                                "pick a name that does not end in -v<number>")
    return name


class Workspaces:
    """The workspace/version/slot service of one project."""

    def __init__(self, project: Project, *, max_file_bytes: int | None = None) -> None:
        self.project = project
        self._max_file_bytes = max_file_bytes

    # --- configuration ----------------------------------------------------------------------
    @property
    def max_file_bytes(self) -> int:
        if self._max_file_bytes is not None:
            return self._max_file_bytes
        try:
            # plain data: no models built (and no pydantic imported) for a save
            max_mb = self.project.config.get("limits.max_file_mb", None)
        except (ModuleNotFoundError, AttributeError):
            max_mb = None
        return DEFAULT_MAX_FILE_BYTES if max_mb is None else int(max_mb * 1024 * 1024)

    def slots(self) -> list[str]:
        """The project's slot names, ``w1`` … ``wN``."""
        try:
            count = int(self.project.config.slots)
        except (ModuleNotFoundError, AttributeError):
            found = [p.name for p in self.project.slots_dir.glob("w*") if SLOT_RE.match(p.name)]
            count = max((int(n[1:]) for n in found), default=0)
        return [f"w{i}" for i in range(1, count + 1)]

    @property
    def _repo(self) -> Path:
        return self.project.repo_path

    def _cache_path(self, slot: str) -> Path:
        return self.project.cache_dir / f"snapshot-{slot}.marshal"

    def _tmp_dir(self, purpose: str) -> Path:
        base = self.project.goldfish_dir / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        return base / f"{purpose}-{os.getpid()}-{time.monotonic_ns()}"

    # --- lookups ----------------------------------------------------------------------------
    def _row(self, name: str) -> sqlite3.Row:
        row = self.project.db.one("SELECT * FROM workspaces WHERE name = ?", (name,))
        if row is None or row["deleted_at"] is not None:
            names = [r["name"] for r in self.project.db.query(
                "SELECT name FROM workspaces WHERE deleted_at IS NULL")]
            if row is not None:
                hint = f"it was deleted; fork its last version with `goldfish workspace create " \
                       f"NEW --from {name}`"
            else:
                hint = did_you_mean(name, names) or (
                    f"existing workspaces: {', '.join(sorted(names))}" if names else
                    "create one with `goldfish workspace create NAME`")
            raise NotFoundError(f"unknown workspace {name!r}", hint)
        return row

    def _latest(self, name: str) -> sqlite3.Row | None:
        return self.project.db.one(
            "SELECT * FROM versions WHERE workspace = ? ORDER BY number DESC LIMIT 1", (name,))

    def _mounted_slot(self, name: str) -> str | None:
        row = self.project.db.one("SELECT slot FROM slots WHERE workspace = ?", (name,))
        return row["slot"] if row else None

    def _occupant(self, slot: str) -> str | None:
        row = self.project.db.one("SELECT workspace FROM slots WHERE slot = ?", (slot,))
        return row["workspace"] if row else None

    def _check_slot(self, slot: str) -> str:
        slot = slot.removeprefix("slot:")
        slots = self.slots()
        if slot not in slots:
            span = f"{slots[0]}…{slots[-1]}" if slots else "none"
            raise NotFoundError(f"slot {slot!r} does not exist (this project has {span})",
                                f"use one of {', '.join(slots)}, or raise `slots:` in goldfish.yaml"
                                if slots else "set `slots:` in goldfish.yaml")
        return slot

    def _live(self, name_or_slot: str) -> tuple[str, str]:
        """(workspace, slot) of a mounted workspace given by name or slot."""
        if name_or_slot.startswith("slot:") or SLOT_RE.match(name_or_slot):
            slot = self._check_slot(name_or_slot)
            workspace = self._occupant(slot)
            if workspace is None:
                raise ConflictError(f"slot {slot!r} has no workspace mounted",
                                    f"mount one with `goldfish mount NAME {slot}`")
            return workspace, slot
        self._row(name_or_slot)
        slot_name = self._mounted_slot(name_or_slot)
        if slot_name is None:
            raise ConflictError(f"workspace {name_or_slot!r} is not mounted in any slot",
                                f"mount it with `goldfish mount {name_or_slot}`")
        return name_or_slot, slot_name

    def resolve_version(self, spec: str) -> VersionInfo:
        """``ws-v3``, ``ws@latest``, ``ws`` (its latest version) or a tag made by :meth:`tag`."""
        db = self.project.db
        spec = spec.strip()
        row = db.one("SELECT * FROM versions WHERE tag = ?", (spec,))
        if row is not None:
            return _version(row)
        name = spec[:-len("@latest")] if spec.endswith("@latest") else spec
        if db.one("SELECT 1 FROM workspaces WHERE name = ?", (name,)):
            latest = self._latest(name)
            if latest is not None:
                return _version(latest)
        tag = db.one("SELECT target FROM tags WHERE kind = 'version' AND name = ?", (spec,))
        if tag is not None:
            return self.resolve_version(tag["target"])
        match = VERSION_TAG_RE.match(spec)
        if match and db.one("SELECT 1 FROM workspaces WHERE name = ?", (match["workspace"],)):
            latest = self._latest(match["workspace"])
            last = f"; the latest is {latest['tag']}" if latest else ""
            from goldfish.lifecycle.prune import pruned_hint

            raise NotFoundError(f"workspace {match['workspace']!r} has no version "
                                f"v{match['number']}{last}",
                                pruned_hint(self.project, spec) or
                                f"list its versions with `goldfish history {match['workspace']}`")
        choices = [r["tag"] for r in db.query("SELECT tag FROM versions")]
        choices += [r["name"] for r in db.query("SELECT name FROM workspaces")]
        choices += [r["name"] for r in db.query("SELECT name FROM tags WHERE kind = 'version'")]
        raise NotFoundError(f"unknown version {spec!r}",
                            did_you_mean(spec, choices) or "versions look like `ws-v3`, `ws@latest` "
                            "or a workspace name; see `goldfish workspace list`")

    # --- queries ----------------------------------------------------------------------------
    def _info(self, row: sqlite3.Row, with_versions: bool = False) -> WorkspaceInfo:
        name = row["name"]
        latest = self._latest(name)
        count = self.project.db.one("SELECT COUNT(*) AS n FROM versions WHERE workspace = ?",
                                    (name,))
        versions: tuple[VersionInfo, ...] = ()
        if with_versions:
            versions = tuple(self.history(name))
        return WorkspaceInfo(name=name, goal=row["goal"], created_at=row["created_at"],
                             slot=self._mounted_slot(name),
                             parent_workspace=row["parent_workspace"],
                             parent_version=row["parent_version"],
                             head=_version(latest) if latest else None,
                             version_count=int(count["n"]) if count else 0, versions=versions)

    def list(self) -> list[WorkspaceInfo]:
        rows = self.project.db.query(
            "SELECT * FROM workspaces WHERE deleted_at IS NULL ORDER BY created_at, name")
        return [self._info(r) for r in rows]

    def info(self, name: str) -> WorkspaceInfo:
        return self._info(self._row(name), with_versions=True)

    def history(self, name: str) -> builtins.list[VersionInfo]:
        """Every version of ``name``, oldest first (deleted workspaces keep their history)."""
        rows = self.project.db.query(
            "SELECT * FROM versions WHERE workspace = ? ORDER BY number", (name,))
        if not rows:
            self._row(name)
        return [_version(r) for r in rows]

    def slot_map(self) -> dict[str, str | None]:
        """Every slot and the workspace mounted in it (None when free)."""
        rows = {r["slot"]: r["workspace"] for r in self.project.db.query("SELECT * FROM slots")}
        return {s: rows.get(s) for s in self.slots()}

    def tags(self) -> builtins.list[TagInfo]:
        rows = self.project.db.query(
            "SELECT * FROM tags WHERE kind = 'version' ORDER BY created_at, name")
        return [TagInfo(r["name"], r["target"], r["created_at"], r["note"]) for r in rows]

    def files(self, version: str) -> dict[str, str]:
        """Path → blob id of every file of a version."""
        v = self.resolve_version(version)
        with Store(self._repo) as store:
            return {path: sha for path, (_mode, sha) in store.listing(v.tree).items()}

    def read_file(self, version: str, path: str) -> bytes:
        v = self.resolve_version(version)
        with Store(self._repo) as store:
            listing = store.listing(v.tree)
            clean = path.strip("/")
            if clean not in listing:
                raise NotFoundError(f"{v.tag} has no file {path!r}",
                                    did_you_mean(clean, list(listing))
                                    or f"list its files with `goldfish workspace show {v.workspace}`")
            return store.blob(listing[clean][1])

    def export(self, version: str, dest: str | os.PathLike[str]) -> VersionInfo:
        """Write the files of a version (tag, spec or commit id) into ``dest`` (new or empty)."""
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ConflictError(f"export destination {dest} exists and is not empty",
                                "pass a new or empty directory")
        v = self._version_or_commit(version)
        tmp = self._tmp_dir("export")
        try:
            with Store(self._repo) as store:
                store.export(v.tree, tmp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                dest.rmdir()
            os.rename(tmp, dest)
        except BaseException:
            _rmtree(tmp, ignore_errors=True)
            raise
        return v

    def _version_or_commit(self, spec: str) -> VersionInfo:
        if re.fullmatch(r"[0-9a-f]{40}", spec):
            row = self.project.db.one("SELECT * FROM versions WHERE commit_sha = ?", (spec,))
            if row is not None:
                return _version(row)
            with Store(self._repo) as store:
                tree = store.tree_of(spec)
            return VersionInfo("", 0, spec, spec, tree, "", 0.0, "commit")
        return self.resolve_version(spec)

    # --- creating ---------------------------------------------------------------------------
    def create(self, name: str, *, goal: str = "", from_dir: str | os.PathLike[str] | None = None,
               from_workspace: str | None = None, from_version: str | None = None,
               mount: str | None = None) -> WorkspaceInfo:
        """A new workspace whose version 1 is empty, a fork of another's head or of a version, or
        the files of ``from_dir``; mounted into ``mount`` ("" = the first free slot) if given."""
        check_name(name)
        sources = [s for s in (from_dir, from_workspace, from_version) if s is not None]
        if len(sources) > 1:
            raise InvalidInputError("give at most one of from_dir, from_workspace, from_version",
                                    "a workspace starts from one place")
        existing = self.project.db.one("SELECT deleted_at FROM workspaces WHERE name = ?", (name,))
        if existing is not None:
            deleted = existing["deleted_at"] is not None
            raise ConflictError(
                f"workspace {name!r} already exists" + (" (deleted, history kept)" if deleted
                                                        else ""),
                "choose another name" + ("" if deleted else
                                         f", or mount it with `goldfish mount {name}`"))
        if self.project.db.one("SELECT 1 FROM tags WHERE kind = 'version' AND name = ?", (name,)):
            raise ConflictError(f"{name!r} is already a version tag",
                                "choose another workspace name (see `goldfish tag`)")
        parent: VersionInfo | None = None
        if from_workspace is not None:
            head = self._latest(self._row(from_workspace)["name"])
            if head is None:
                raise NotFoundError(f"workspace {from_workspace!r} has no versions",
                                    "save a version of it first")
            parent = _version(head)
        elif from_version is not None:
            parent = self.resolve_version(from_version)
        slot = self._free_slot(mount) if mount is not None else None
        if from_dir is not None:
            tree = self._import_tree(Path(from_dir))
        elif parent is not None:
            tree = parent.tree
        else:
            tree = ensure_empty_tree(self._repo)
        staged = self._stage(tree) if slot is not None else None
        kind_msg = (f"import {from_dir}" if from_dir is not None else
                    f"fork of {parent.tag}" if parent is not None else "empty start")
        placed = False
        try:
            with self.project.tx() as conn:
                if conn.execute("SELECT 1 FROM workspaces WHERE name = ?", (name,)).fetchone():
                    raise ConflictError(f"workspace {name!r} was just created by another "
                                        "process", "choose another name")
                conn.execute(
                    "INSERT INTO workspaces (name, goal, created_at, parent_workspace, "
                    "parent_version) VALUES (?, ?, ?, ?, ?)",
                    (name, goal, time.time(), parent.workspace if parent else None,
                     parent.number if parent else None))
                self.project.emit("workspace.created", name,
                                  f"created workspace {name} ({kind_msg})", goal=goal,
                                  parent=parent.tag if parent else None, version=f"{name}-v1",
                                  from_dir=str(from_dir) if from_dir is not None else None)
                version = self._record(conn, name, tree, "create", f"{name}: {kind_msg}",
                                       parents=[parent.commit] if parent else [])
                if slot is not None and staged is not None:
                    self._claim(conn, slot, name, version.number)
                    self._check_empty(slot)
                    self._place(staged, slot)
                    placed = True
        except BaseException:
            if placed and slot is not None and staged is not None:
                self._unplace(staged, slot)
            raise
        finally:
            if staged is not None:
                _rmtree(staged, ignore_errors=True)
        self._notify(version)
        return self._info(self._row(name))

    def _import_tree(self, source: Path) -> str:
        source = source.expanduser().absolute()
        if not source.is_dir():
            raise NotFoundError(f"directory to import {str(source)!r} does not exist"
                                if not source.exists() else
                                f"{str(source)!r} is not a directory",
                                "pass the directory that holds the code to import")
        real, root = source.resolve(), self.project.root
        if real == root or real in root.parents or self.project.goldfish_dir in (real,
                                                                                 *real.parents):
            raise InvalidInputError(f"cannot import {source}: it contains the project or its "
                                    ".goldfish directory",
                                    "import the directory that holds only the code")
        return snapshot_tree(self._repo, source, max_file_bytes=self.max_file_bytes).tree

    # --- slots ------------------------------------------------------------------------------
    def _free_slot(self, slot: str | None) -> str:
        """Validate (or pick, when empty/None) a slot that holds no workspace and no files."""
        if slot:
            slot = self._check_slot(slot)
            occupant = self._occupant(slot)
            if occupant is not None:
                raise ConflictError(f"slot {slot!r} is occupied by workspace {occupant!r}",
                                    f"unmount it first (`goldfish unmount {slot}`) or pick a free "
                                    "slot")
            self._check_empty(slot)
            return slot
        taken = self.slot_map()
        for candidate, occupant in taken.items():
            path = self.project.slot_path(candidate)
            if occupant is None and (not path.exists() or not any(path.iterdir())):
                return candidate
        listing = ", ".join(f"{s}: {w or '(stray files)'}" for s, w in taken.items())
        raise ConflictError(f"no free slot ({listing})",
                            "unmount one with `goldfish unmount SLOT`, or raise `slots:` in "
                            "goldfish.yaml")

    def _check_empty(self, slot: str) -> None:
        path = self.project.slot_path(slot)
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise ConflictError(f"slot path {path} is not a directory",
                                "remove it; Goldfish recreates the slot directory")
        if path.exists() and any(path.iterdir()):
            raise ConflictError(
                f"slot {slot!r} holds files but no workspace ({path})",
                f"move them away, or import them: `goldfish workspace create NAME --from-dir "
                f"workspaces/{slot}` after moving them out of the slot")

    def _stage(self, tree: str) -> Path:
        """Export ``tree`` into a temporary directory next to the slots' data."""
        tmp = self._tmp_dir("stage")
        try:
            with Store(self._repo) as store:
                store.export(tree, tmp)
        except BaseException:
            _rmtree(tmp, ignore_errors=True)
            raise
        return tmp

    def _place(self, staged: Path, slot: str) -> None:
        path = self.project.slot_path(slot)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.rmdir()  # checked empty
        os.rename(staged, path)

    def _unplace(self, staged: Path, slot: str) -> None:
        path = self.project.slot_path(slot)
        if path.exists() and not staged.exists():
            os.rename(path, staged)
        path.mkdir(parents=True, exist_ok=True)

    def _claim(self, conn: sqlite3.Connection, slot: str, name: str, version: int) -> None:
        row = conn.execute("SELECT workspace FROM slots WHERE slot = ?", (slot,)).fetchone()
        if row is not None and row["workspace"] is not None:
            raise ConflictError(f"slot {slot!r} is occupied by workspace {row['workspace']!r}",
                                f"unmount it first (`goldfish unmount {slot}`)")
        conn.execute(
            "INSERT INTO slots (slot, workspace, base_version, mounted_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(slot) DO UPDATE SET workspace = excluded.workspace, "
            "base_version = excluded.base_version, mounted_at = excluded.mounted_at",
            (slot, name, version, time.time()))
        self.project.emit("workspace.mounted", name, f"mounted {name} in {slot}", slot=slot,
                          version=f"{name}-v{version}")

    def mount(self, name: str, slot: str | None = None) -> str:
        """Put ``name``'s latest version into ``slot`` (default: the first free one)."""
        self._row(name)
        current = self._mounted_slot(name)
        if current is not None:
            raise ConflictError(f"workspace {name!r} is already mounted in slot {current!r}",
                                f"edit it in workspaces/{current}, or unmount it first")
        slot = self._free_slot(slot)
        head = self._latest(name)
        if head is None:
            raise NotFoundError(f"workspace {name!r} has no versions", "this should not happen; "
                                "re-create the workspace")
        staged = self._stage(head["tree_sha"])
        placed = False
        try:
            with self.project.tx() as conn:
                if conn.execute("SELECT slot FROM slots WHERE workspace = ?", (name,)).fetchone():
                    raise ConflictError(f"workspace {name!r} was mounted by another process",
                                        "run `goldfish workspace list` to see where")
                self._claim(conn, slot, name, head["number"])
                self._check_empty(slot)
                self._place(staged, slot)
                placed = True
        except BaseException:
            if placed:
                self._unplace(staged, slot)
            raise
        finally:
            _rmtree(staged, ignore_errors=True)
        self._restore_stash(name, slot)
        return slot

    def unmount(self, slot_or_name: str) -> VersionInfo:
        """Save unsaved changes (kind ``unmount``), then empty the slot. Returns the head version.

        Ignored files (local data, caches, a virtualenv) are not part of any version; they are
        kept in ``.goldfish/stash/<workspace>/`` and put back by the next ``mount``.
        """
        workspace, slot = self._live(slot_or_name)
        version = self.save_version(slot, f"unmount from {slot}", kind="unmount")
        path = self.project.slot_path(slot)
        ignored = self._snapshot(slot, write=False).ignored
        trash = self._tmp_dir("unmount")
        os.rename(path, trash)
        try:
            path.mkdir()
            with self.project.tx() as conn:
                conn.execute("UPDATE slots SET workspace = NULL, base_version = NULL, "
                             "mounted_at = NULL WHERE slot = ?", (slot,))
                self.project.emit("workspace.unmounted", workspace,
                                  f"unmounted {workspace} from {slot} at {version.tag}",
                                  slot=slot, version=version.tag, kept_ignored=len(ignored))
        except BaseException:
            _rmtree(path, ignore_errors=True)
            os.rename(trash, path)
            raise
        self._cache_path(slot).unlink(missing_ok=True)
        try:
            if ignored:
                stash = self._stash_path(workspace)
                for rel in ignored:
                    stale = stash / rel.rstrip("/")
                    if stale.is_dir() and not stale.is_symlink():
                        _rmtree(stale)
                    elif os.path.lexists(stale):
                        stale.unlink()
                _carry(trash, stash, ignored)
        except OSError as exc:
            print(f"goldfish: warning: could not keep the ignored files of {workspace} ({exc}); "
                  f"they are in {trash}", file=sys.stderr)
        else:
            _rmtree(trash, ignore_errors=True)
        return version

    def _stash_path(self, workspace: str) -> Path:
        return self.project.goldfish_dir / "stash" / workspace

    def _restore_stash(self, workspace: str, slot: str) -> None:
        """Put back the ignored files kept at the last unmount (tracked files win)."""
        stash = self._stash_path(workspace)
        if not stash.is_dir():
            return
        try:
            _merge_move(stash, self.project.slot_path(slot))
        except OSError as exc:
            print(f"goldfish: warning: could not restore the ignored files of {workspace} from "
                  f"{stash}: {exc}", file=sys.stderr)

    # --- versions ---------------------------------------------------------------------------
    def _snapshot(self, slot: str, *, write: bool = True, collect: bool = False) -> SlotTree:
        return snapshot_tree(self._repo, self.project.slot_path(slot),
                             cache_path=self._cache_path(slot), max_file_bytes=self.max_file_bytes,
                             write=write, collect=collect)

    def save_version(self, name_or_slot: str, message: str = "", *,
                     kind: str = "save") -> VersionInfo:
        """Snapshot the slot as a new version; an unchanged tree returns the latest one
        (``created=False``)."""
        if kind not in KINDS:
            raise InvalidInputError(f"version kind {kind!r} is unknown",
                                    f"use one of {', '.join(KINDS)}")
        workspace, slot = self._live(name_or_slot)
        tree = self._snapshot(slot).tree
        with self.project.tx() as conn:
            version = self._record(conn, workspace, tree, kind, message, slot=slot)
        if version.created:
            self._notify(version)
        return version

    def snapshot_for_run(self, name_or_slot: str, message: str = "") -> VersionInfo:
        """The version a run executes: the slot's files now (reusing an identical version)."""
        return self.save_version(name_or_slot, message or "snapshot for a run", kind="run")

    def preview_for_run(self, name_or_slot: str) -> tuple[VersionInfo,
                                                         dict[str, tuple[int, str]] | None]:
        """What :meth:`snapshot_for_run` would return, writing nothing (``run --dry-run``).

        An unchanged slot gives its latest version and ``None``. Otherwise the version is not
        recorded (``commit`` is empty, ``tag`` the one a run would take, ``created`` False) and
        the slot's listing (path → (mode, blob id)) comes along: its blobs are not in the store,
        so readers take the bytes from the slot (:meth:`read_slot_file`)."""
        workspace, slot = self._live(name_or_slot)
        walked = self._snapshot(slot, write=False, collect=True)
        latest = self._latest(workspace)
        if latest is not None and latest["tree_sha"] == walked.tree:
            return _version(latest, created=False), None
        row = self.project.db.one("SELECT next_version FROM workspaces WHERE name = ?",
                                  (workspace,))
        number = int(row[0]) if row is not None else 1
        return (VersionInfo(workspace, number, f"{workspace}-v{number}", "", walked.tree,
                            "not saved: dry run", time.time(), "run", created=False),
                walked.listing or {})

    def read_slot_file(self, workspace: str, path: str) -> bytes:
        """A file of ``workspace``'s slot as it is now (a dry run's unrecorded snapshot)."""
        _, slot = self._live(workspace)
        return (self.project.slot_path(slot) / path).read_bytes()

    def _record(self, conn: sqlite3.Connection, workspace: str, tree: str, kind: str,
                message: str, *, slot: str | None = None,
                parents: builtins.list[str] | None = None,
                reuse: bool = True) -> VersionInfo:
        """Inside a transaction: a new version of ``tree`` (or the latest, if identical)."""
        latest = conn.execute("SELECT * FROM versions WHERE workspace = ? ORDER BY number DESC "
                              "LIMIT 1", (workspace,)).fetchone()
        if reuse and latest is not None and latest["tree_sha"] == tree:
            return _version(latest, created=False)
        row = conn.execute("SELECT next_version FROM workspaces WHERE name = ?",
                           (workspace,)).fetchone()
        number = int(row["next_version"])
        tag = f"{workspace}-v{number}"
        if parents is None:
            parents = [latest["commit_sha"]] if latest is not None else []
        now = time.time()
        text = message.strip() or f"{kind} {tag}"
        commit = write_commit(self._repo, tree, parents, f"{text}\n\nGoldfish-Version: {tag}\n"
                              f"Goldfish-Kind: {kind}", when=now)
        conn.execute("INSERT INTO versions (workspace, number, tag, commit_sha, tree_sha, message, "
                     "kind, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (workspace, number, tag, commit, tree, message, kind, now))
        conn.execute("UPDATE workspaces SET next_version = ? WHERE name = ?",
                     (number + 1, workspace))
        conn.execute("UPDATE slots SET base_version = ? WHERE workspace = ?", (number, workspace))
        set_ref(self._repo, f"refs/heads/{workspace}", commit)
        set_ref(self._repo, f"refs/tags/{tag}", commit)
        self.project.emit("version.saved", workspace, f"saved {tag} ({kind})"
                          + (f": {message.strip()}" if message.strip() else ""),
                          version=tag, number=number, version_kind=kind, commit=commit, tree=tree,
                          slot=slot)
        return VersionInfo(workspace, number, tag, commit, tree, message, now, kind)

    def _notify(self, version: VersionInfo) -> None:
        try:
            self.project.plugins.on_version_saved(self.project, version.workspace,
                                                  version.number, version.commit)
        except Exception as exc:  # a plugin must not undo a committed version
            print(f"goldfish: warning: on_version_saved failed: {exc!r}", file=sys.stderr)

    def rollback(self, name: str, version: str | int) -> VersionInfo:
        """Make ``version`` the workspace's newest version (kind ``rollback``) and, if mounted,
        its slot's files. Unsaved changes are saved first, so nothing is lost."""
        self._row(name)
        spec = str(version)
        if re.fullmatch(r"v?[0-9]+", spec):
            spec = f"{name}-v{spec.lstrip('v')}"
        target = self.resolve_version(spec)
        if target.workspace != name:
            raise InvalidInputError(
                f"version {target.tag} belongs to workspace {target.workspace!r}, not {name!r}",
                f"fork it instead: `goldfish workspace create NEW --from {target.tag}`")
        slot = self._mounted_slot(name)
        ignored: tuple[str, ...] = ()
        if slot is not None:
            self.save_version(slot, f"unsaved changes before rollback to {target.tag}")
            ignored = self._snapshot(slot, write=False).ignored
        staged = self._stage(target.tree) if slot is not None else None
        carried: list[tuple[Path, Path]] = []
        swapped = False
        trash = self._tmp_dir("rollback")
        try:
            if slot is not None and staged is not None:
                carried = _carry(self.project.slot_path(slot), staged, ignored)
            with self.project.tx() as conn:
                result = self._record(conn, name, target.tree, "rollback",
                                      f"rollback to {target.tag}", slot=slot)
                self.project.emit("workspace.rolled_back", name,
                                  f"rolled {name} back to {target.tag} as {result.tag}",
                                  target=target.tag, version=result.tag, slot=slot)
                if slot is not None and staged is not None:
                    path = self.project.slot_path(slot)
                    os.rename(path, trash)
                    os.rename(staged, path)
                    swapped = True
        except BaseException:
            if swapped and slot is not None and staged is not None:
                path = self.project.slot_path(slot)
                os.rename(path, staged)
                os.rename(trash, path)
            if slot is not None:
                for src, dst in reversed(carried):
                    src.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(dst, src)
            raise
        finally:
            if staged is not None:
                _rmtree(staged, ignore_errors=True)
            _rmtree(trash, ignore_errors=True)
        if slot is not None:
            self._cache_path(slot).unlink(missing_ok=True)
        if result.created:
            self._notify(result)
        return result

    # --- diffs ------------------------------------------------------------------------------
    def diff(self, a: str, b: str | None = None) -> Diff:
        """Differences from ``a`` to ``b``.

        Each side is ``slot:<slot>`` or a workspace name (its slot's live files; its latest
        version when not mounted) or a version (``ws-v3``, also across workspaces). With one side:
        a live side is compared with its latest version (unsaved changes); a version with the
        version before it.
        """
        side_a = self._side(a)
        if b is None:
            if side_a[0] == "live":
                head = self._latest(side_a[1])
                if head is None:
                    raise NotFoundError(f"workspace {side_a[1]!r} has no versions",
                                        "save one with `goldfish save`")
                before = ("version", head["tag"], head["tree_sha"])
                return self._diff(before, side_a)
            ws, number = side_a[1].rsplit("-v", 1)
            prev = self.project.db.one("SELECT * FROM versions WHERE workspace = ? AND number < ? "
                                       "ORDER BY number DESC LIMIT 1", (ws, int(number)))
            before = ("version", prev["tag"], prev["tree_sha"]) if prev else \
                ("version", "(empty)", EMPTY_TREE)
            return self._diff(before, side_a)
        return self._diff(side_a, self._side(b))

    def _side(self, spec: str) -> tuple[str, str, str]:
        """("live", workspace, slot) or ("version", tag, tree)."""
        if spec.startswith("slot:") or SLOT_RE.match(spec):
            workspace, slot = self._live(spec)
            return ("live", workspace, slot)
        row = self.project.db.one("SELECT * FROM workspaces WHERE name = ? AND deleted_at IS NULL",
                                  (spec,))
        mounted = self._mounted_slot(spec) if row is not None else None
        if mounted is not None:
            return ("live", spec, mounted)
        v = self.resolve_version(spec)
        return ("version", v.tag, v.tree)

    def _diff(self, a: tuple[str, str, str], b: tuple[str, str, str]) -> Diff:
        with Store(self._repo) as store:
            sides = []
            for kind, label, ref in (a, b):
                if kind == "live":
                    slot_dir = self.project.slot_path(ref)
                    listing = self._snapshot(ref, write=False, collect=True).listing or {}
                    sides.append((f"{label} (slot {ref})", listing, read_slot_file(slot_dir)))
                else:
                    sides.append((label, store.listing(ref),
                                  lambda _path, sha: store.blob(sha)))
            (la, fa, ra), (lb, fb, rb) = sides
            return diff_listings(la, fa, ra, lb, fb, rb)

    # --- tags and deletion -----------------------------------------------------------------
    def tag(self, target_version: str, tag_name: str, note: str = "") -> TagInfo:
        """Name a version (``best``, ``paper-baseline``); the name resolves like a version."""
        check_tag_name(tag_name)
        version = self.resolve_version(target_version)
        db = self.project.db
        if db.one("SELECT 1 FROM workspaces WHERE name = ?", (tag_name,)):
            raise ConflictError(f"tag name {tag_name!r} is a workspace name",
                                "pick a name that is not a workspace")
        now = time.time()
        with self.project.tx() as conn:
            existing = conn.execute("SELECT target FROM tags WHERE kind = 'version' AND name = ?",
                                    (tag_name,)).fetchone()
            if existing is not None:
                raise ConflictError(f"tag {tag_name!r} already exists (on {existing['target']})",
                                    "pick another name")
            conn.execute("INSERT INTO tags (name, kind, target, created_at, note) "
                         "VALUES (?, 'version', ?, ?, ?)", (tag_name, version.tag, now, note))
            set_ref(self._repo, f"refs/tags/{tag_name}", version.commit)
            self.project.emit("tag.added", version.workspace, f"tagged {version.tag} as {tag_name}",
                              tag=tag_name, version=version.tag, note=note)
        return TagInfo(tag_name, version.tag, now, note)

    def references(self, name: str) -> dict[str, builtins.list[str]]:
        """What still points at workspace ``name``: its runs (active ones apart), the tags on
        its versions and runs, and the workspaces forked from it."""
        from goldfish.runs import states

        db = self.project.db
        runs = db.query("SELECT id, state FROM runs WHERE workspace = ? ORDER BY created_at DESC",
                        (name,))
        active = [str(r["id"]) for r in runs if r["state"] in states.ACTIVE]
        done = [str(r["id"]) for r in runs if r["state"] not in states.ACTIVE]
        tags = db.query(
            "SELECT t.name FROM tags t WHERE (t.kind = 'version' AND t.target IN "
            "(SELECT tag FROM versions WHERE workspace = ?)) OR (t.kind = 'run' AND t.target IN "
            "(SELECT id FROM runs WHERE workspace = ?)) ORDER BY t.name", (name, name))
        forks = db.query("SELECT name FROM workspaces WHERE parent_workspace = ? AND "
                         "deleted_at IS NULL ORDER BY name", (name,))
        return {"active_runs": active, "runs": done, "tags": [str(r[0]) for r in tags],
                "forks": [str(r[0]) for r in forks]}

    def delete(self, name: str, *, force: bool = False) -> WorkspaceInfo:
        """Retire a workspace; its versions stay in the repository and remain resolvable, and
        its runs and tags are kept. A mounted workspace, or one that runs or tags reference, is
        refused unless ``force`` (which unmounts it first, saving unsaved changes); a workspace
        with active runs is refused even then."""
        info = self._info(self._row(name))
        refs = self.references(name)
        if refs["active_runs"]:
            runs = ", ".join(refs["active_runs"][:5])
            raise ConflictError(f"workspace {name!r} has active runs ({runs})",
                                f"wait for them or cancel them (`goldfish cancel "
                                f"{refs['active_runs'][0]}`), then delete it")
        if info.slot is not None and not force:
            raise ConflictError(f"workspace {name!r} is mounted in slot {info.slot!r}",
                                f"unmount it first: `goldfish unmount {info.slot}` (or force it, CLI "
                                "`--force`, MCP `force=true`: unsaved changes are saved as a "
                                "version, then it is unmounted)")
        said = _references_text(refs)
        if said and not force:
            raise ConflictError(f"workspace {name!r} is referenced by {said}",
                                "its versions, runs and tags are kept either way (they stay "
                                "resolvable); to delete it anyway pass `--force` (MCP: `force=true`)")
        if info.slot is not None:
            self.unmount(info.slot)
        with self.project.tx() as conn:
            if conn.execute("SELECT 1 FROM slots WHERE workspace = ?", (name,)).fetchone():
                raise ConflictError(f"workspace {name!r} was mounted by another process",
                                    "unmount it first")
            conn.execute("UPDATE workspaces SET deleted_at = ? WHERE name = ?", (time.time(), name))
            self.project.emit("workspace.deleted", name,
                              f"deleted workspace {name} ({info.version_count} versions kept)",
                              versions=info.version_count, references=refs)
        row = self.project.db.one("SELECT * FROM workspaces WHERE name = ?", (name,))
        assert row is not None  # deleted, so _row would refuse it
        return self._info(row)


def _references_text(refs: dict[str, list[str]]) -> str:
    parts = []
    if refs["runs"]:
        shown = ", ".join(refs["runs"][:3]) + (", …" if len(refs["runs"]) > 3 else "")
        parts.append(f"{len(refs['runs'])} run(s) ({shown})")
    if refs["tags"]:
        parts.append(f"tag(s) {', '.join(refs['tags'][:5])}")
    if refs["forks"]:
        parts.append(f"forked workspace(s) {', '.join(refs['forks'][:5])}")
    return " and ".join(parts)

def _carry(old: Path, new: Path, ignored: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """Move ignored files (caches, local data) from the old slot contents into the new ones."""
    moved: list[tuple[Path, Path]] = []
    try:
        for rel in ignored:
            src, dst = old / rel.rstrip("/"), new / rel.rstrip("/")
            if os.path.lexists(dst) or not os.path.lexists(src):
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
            moved.append((src, dst))
    except BaseException:
        for src, dst in reversed(moved):
            os.rename(dst, src)
        raise
    return moved


def _merge_move(src: Path, dst: Path) -> None:
    """Move everything under ``src`` into ``dst`` where ``dst`` has nothing yet; what collides
    stays in ``src``. Empty directories left in ``src`` are removed."""
    for entry in list(os.scandir(src)):
        target = dst / entry.name
        if not os.path.lexists(target):
            os.rename(entry.path, target)
        elif entry.is_dir(follow_symlinks=False) and target.is_dir() and not target.is_symlink():
            _merge_move(Path(entry.path), target)
    try:
        src.rmdir()
    except OSError:
        pass  # something collided and stays here


def _rmtree(path: str | os.PathLike[str], ignore_errors: bool = False) -> None:
    # shutil (with bz2 and lzma) is imported here: `goldfish save` never removes a tree
    import shutil

    shutil.rmtree(path, ignore_errors=ignore_errors)
