"""Slot → git objects, written straight into the bare repository ``.goldfish/versions.git``.

There is no work tree and no index: the slot is listed and ``lstat``-ed directory by directory,
blobs and trees are hashed and serialized here, and only objects the store lacks are written — as
loose objects for a few, as one pack for many (one file instead of thousands). A stat cache per slot
(``.goldfish/cache/snapshot-<slot>.marshal``; per directory: its tree id and, per entry, the packed
``(size, mtime_ns, st_mode)`` and blob id) means a re-snapshot compares each directory as a whole,
reads only changed files and reuses the tree id of every directory whose entries did not change.
As in git, an entry whose mtime is not older than the cache file itself is "racy" and re-read, so
an edit within one timestamp tick of a snapshot is never missed.

Reading (export, listing, diff) goes through dulwich's object store.
"""

from __future__ import annotations

import marshal
import os
import stat
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from itertools import compress, starmap
from operator import attrgetter
from pathlib import Path
from typing import Any

from goldfish import faults
from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError
from goldfish.faults import damaged_store
from goldfish.ignore import EMPTY, IGNORE_FILE, IgnoreRules
from goldfish.plain import field, record

DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
MODE_TREE = 0o040000
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

_BLOB, _TREE, _COMMIT = 3, 2, 1  # pack type numbers
_TYPE_NAMES = {_BLOB: b"blob", _TREE: b"tree", _COMMIT: b"commit"}
_MODE_BYTES = {MODE_FILE: b"100644", MODE_EXEC: b"100755", MODE_LINK: b"120000",
               MODE_TREE: b"40000"}
PACK_THRESHOLD = 64  # objects; fewer are written loose
FLUSH_BYTES = 64 * 1024 * 1024
CACHE_FORMAT = 5


def init_repository(path: str | os.PathLike[str]) -> None:
    """Create the bare repository that holds every version (idempotent)."""
    from dulwich.repo import Repo

    path = Path(path)
    if (path / "objects").is_dir() and (path / "HEAD").is_file():
        return
    path.mkdir(parents=True, exist_ok=True)
    Repo.init_bare(str(path)).close()


try:  # the interpreter's own SHA-1: hashlib would load OpenSSL (~3 ms of every `save`)
    from _sha1 import sha1 as _small_sha1
except ImportError:  # pragma: no cover - interpreters built without it
    from hashlib import sha1 as _small_sha1
#: From this size on OpenSSL's SHA-1 (through hashlib) is used: faster per byte.
_BIG_OBJECT = 1 << 20


def _sha1(data: bytes | bytearray) -> Any:
    if len(data) < _BIG_OBJECT:
        return _small_sha1(data)
    import hashlib

    return hashlib.sha1(data)


def _object_id(type_name: bytes, raw: bytes) -> bytes:
    return bytes(_sha1(b"%s %d\0%s" % (type_name, len(raw), raw)).digest())


# --- writing objects --------------------------------------------------------------------------


class ObjectWriter:
    """Adds objects to a repository's store, skipping those it already has.

    Content addressing makes concurrent writers safe: every file is written under a unique
    temporary name and renamed into place, and an object written twice is the same bytes.
    """

    def __init__(self, repo_path: Path) -> None:
        self.objects_dir = Path(repo_path) / "objects"
        if not self.objects_dir.is_dir():
            raise NotFoundError(f"no version repository at {repo_path}",
                                "the project is incomplete; re-create it with `goldfish init`")
        self._pending: list[tuple[int, bytes, bytes]] = []
        self._pending_ids: set[bytes] = set()
        self._pending_bytes = 0
        self._packed: _PackedIds | None = None
        self.written = 0

    def has(self, oid: bytes) -> bool:
        if oid in self._pending_ids:
            return True
        if self._packed is None:
            self._packed = _PackedIds(self.objects_dir / "pack")
        if oid in self._packed:
            return True
        hexsha = oid.hex()
        return _freshen(f"{self.objects_dir}/{hexsha[:2]}/{hexsha[2:]}")

    def add(self, type_num: int, oid: bytes, raw: bytes) -> None:
        """Queue an object the store lacks (``has`` was False)."""
        self._pending.append((type_num, oid, raw))
        self._pending_ids.add(oid)
        self._pending_bytes += len(raw)
        if self._pending_bytes > FLUSH_BYTES:
            self.flush()

    def add_if_missing(self, type_num: int, raw: bytes) -> bytes:
        oid = _object_id(_TYPE_NAMES[type_num], raw)
        if not self.has(oid):
            self.add(type_num, oid, raw)
        return oid

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if len(pending) >= PACK_THRESHOLD:
            self._write_pack(pending)
        else:
            for type_num, oid, raw in pending:
                self._write_loose(type_num, oid, raw)
        self.written += len(pending)
        self._pending_ids.clear()
        self._pending_bytes = 0

    def close(self) -> None:
        self._packed = None

    def _write_loose(self, type_num: int, oid: bytes, raw: bytes) -> None:
        hexsha = oid.hex()
        folder = os.path.join(self.objects_dir, hexsha[:2])
        final = os.path.join(folder, hexsha[2:])
        if _freshen(final):
            return
        os.makedirs(folder, exist_ok=True)
        data = zlib.compress(b"%s %d\0" % (_TYPE_NAMES[type_num], len(raw)) + raw, 1)
        tmp = f"{final}.tmp-{os.getpid()}-{time.monotonic_ns()}"
        with _whole_or_nothing(tmp):
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o444)
        os.replace(tmp, final)

    def write_pack(self, objects: list[tuple[int, bytes, bytes]]) -> str:
        """Write ``(type, id, raw)`` objects as one pack, whatever their number (gc's repack);
        returns the pack's file name without extension."""
        return self._write_pack(objects)

    def _write_pack(self, objects: list[tuple[int, bytes, bytes]]) -> str:
        pack = bytearray(b"PACK" + struct.pack(">II", 2, len(objects)))
        index: list[tuple[bytes, int, int]] = []
        for type_num, oid, raw in objects:
            offset = len(pack)
            size = len(raw)
            byte = (type_num << 4) | (size & 0x0F)
            size >>= 4
            header = bytearray()
            while size:
                header.append(byte | 0x80)
                byte = size & 0x7F
                size >>= 7
            header.append(byte)
            chunk = bytes(header) + zlib.compress(raw, 1)
            index.append((oid, zlib.crc32(chunk), offset))
            pack += chunk
        pack_id = bytes(_sha1(pack).digest())
        pack += pack_id
        index.sort()
        fanout = [0] * 256
        for oid, _, _ in index:
            fanout[oid[0]] += 1
        running, cumulative = 0, []
        for count in fanout:
            running += count
            cumulative.append(running)
        idx = bytearray(b"\377tOc" + struct.pack(">I", 2))
        idx += struct.pack(">256I", *cumulative)
        idx += b"".join(oid for oid, _, _ in index)
        idx += struct.pack(f">{len(index)}I", *(crc for _, crc, _ in index))
        idx += struct.pack(f">{len(index)}I", *(offset for _, _, offset in index))
        idx += pack_id
        idx += _sha1(idx).digest()
        pack_dir = self.objects_dir / "pack"
        pack_dir.mkdir(exist_ok=True)
        base = pack_dir / f"pack-{pack_id.hex()}"
        suffix = f".tmp-{os.getpid()}-{time.monotonic_ns()}"
        with _whole_or_nothing(f"{base}.pack{suffix}", f"{base}.idx{suffix}"):
            for ext, data in ((".pack", pack), (".idx", idx)):
                with open(f"{base}{ext}{suffix}", "wb") as fh:
                    fh.write(data)
        # readers index a pack once its .idx exists, so the .pack goes first
        os.replace(f"{base}.pack{suffix}", f"{base}.pack")
        os.replace(f"{base}.idx{suffix}", f"{base}.idx")
        if self._packed is not None:
            self._packed.add(oid for oid, _, _ in index)
        return base.name


def _freshen(path: str) -> bool:
    """Does the loose object exist? If so its mtime becomes now, as in git: an object a writer
    just relied on is young again, so gc's grace period keeps it until it is referenced."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:
        return os.path.exists(path)
    return True


@contextmanager
def _whole_or_nothing(*tmp_files: str) -> Iterator[None]:
    """Temporary files written inside are removed if the writing fails (a full disk, say)."""
    try:
        yield
    except BaseException:
        for tmp in tmp_files:
            with suppress(OSError):
                os.unlink(tmp)
        raise


class _PackedIds:
    """Membership of packed objects, read straight from the pack indexes.

    A few lookups (a re-snapshot) bisect the sorted id tables; many (a first snapshot) switch to
    a set. dulwich's own lookup rescans the pack directory on every call, which dominated first
    snapshots.
    """

    SET_AFTER = 256

    def __init__(self, pack_dir: Path) -> None:
        self.tables: list[tuple[tuple[int, ...], bytes]] = []
        self.extra: set[bytes] = set()
        self.lookups = 0
        self.all: set[bytes] | None = None
        try:
            names = os.listdir(pack_dir)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(".idx") and name[:-4] + ".pack" in names:
                with open(pack_dir / name, "rb") as fh:
                    data = fh.read()
                if data[:4] == b"\377tOc":  # version 2: header, fan-out, then the sorted ids
                    fanout = struct.unpack_from(">256I", data, 8)
                    table = data[1032:1032 + _ID * fanout[255]]
                else:  # version 1: fan-out, then (offset, id) records
                    fanout = struct.unpack_from(">256I", data, 0)
                    table = b"".join(data[1024 + 24 * i + 4:1024 + 24 * i + 24]
                                     for i in range(fanout[255]))
                self.tables.append((fanout, table))

    def add(self, oids: Iterator[bytes]) -> None:
        self.extra.update(oids)

    def __contains__(self, oid: bytes) -> bool:
        if oid in self.extra:
            return True
        if self.all is not None:
            return oid in self.all
        self.lookups += 1
        if self.lookups > self.SET_AFTER:
            self.all = {table[i:i + _ID] for _, table in self.tables
                        for i in range(0, len(table), _ID)}
            return oid in self.all
        first = oid[0]
        for fanout, table in self.tables:
            lo, hi = (fanout[first - 1] if first else 0), fanout[first]
            while lo < hi:
                mid = (lo + hi) // 2
                current = table[mid * _ID:(mid + 1) * _ID]
                if current < oid:
                    lo = mid + 1
                elif current > oid:
                    hi = mid
                else:
                    return True
        return False


# --- walking a slot ---------------------------------------------------------------------------


@record(frozen=True)
class SlotTree:
    """The result of walking a slot: its tree id and what was left out."""

    tree: str
    files: int
    ignored: tuple[str, ...]  # top-most ignored paths (directories end with "/")
    written: int  # objects added to the store
    listing: dict[str, tuple[int, str]] | None = None  # path -> (mode, blob id) when requested


_KEY = struct.Struct("<qqI")  # (size, mtime_ns, st_mode) of one directory entry
_KEY_SIZE = _KEY.size
_ID = 20
_NO_ID = bytes(_ID)
S_IFMT, S_IFREG, S_IFLNK, S_IFDIR = 0o170000, stat.S_IFREG, stat.S_IFLNK, stat.S_IFDIR
S_ISDIR = stat.S_ISDIR
_STAT_KEY = attrgetter("st_size", "st_mtime_ns", "st_mode")
_MODE = attrgetter("st_mode")
_MTIME = attrgetter("st_mtime_ns")
_NAME_SEP = "/"  # joins a directory's entry names in the cache: no name can contain it
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


@record
class _Dir:
    """What the cache keeps per directory (stored as a plain tuple, see ``as_tuple``).

    ``names``, ``keys`` and ``ids`` are parallel, in ``readdir`` order (stable while a
    directory is not modified): the entry's name, its packed stat key, and its blob id (zeros for
    directories and left-out entries). ``names`` is one string, the names joined by "/" (which
    no name contains): one object to load and compare instead of one per entry. A directory
    whose names and keys are unchanged, made under the same ignore rules and not racy, is not
    looked at entry by entry at all: its ``dirnames`` (every entry that is a directory, ignored
    or not; the modes are part of the keys) are the ones to descend into.
    """

    tree: bytes | None
    names: str
    keys: bytes
    ids: bytes
    signature: str
    max_mtime: int
    dirnames: tuple[str, ...]
    subdirs: tuple[str, ...]
    ignored: tuple[str, ...]
    files: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.tree, self.names, self.keys, self.ids, self.signature, self.max_mtime,
                self.dirnames, self.subdirs, self.ignored, self.files)

    def name_list(self) -> list[str]:
        return self.names.split(_NAME_SEP) if self.names else []

    def file_records(self) -> dict[str, bytes]:
        """name -> key + blob id of every file kept in the tree."""
        out: dict[str, bytes] = {}
        keys, ids = self.keys, self.ids
        for i, name in enumerate(self.name_list()):
            oid = ids[i * _ID:(i + 1) * _ID]
            if oid != _NO_ID:
                out[name] = keys[i * _KEY_SIZE:(i + 1) * _KEY_SIZE] + oid
        return out


def _cached_dir(raw: Any) -> _Dir | None:
    """A cache entry as a ``_Dir``; an entry of another shape (a cache written by another
    version) is a miss, never an error."""
    if raw is None:
        return None
    try:
        return _Dir(*raw)
    except TypeError:
        return None


class _Walker:
    def __init__(self, root: Path, writer: ObjectWriter | None,
                 cache: dict[str, tuple[Any, ...]], racy_from: int, max_file_bytes: int,
                 collect: bool) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.writer = writer
        self.old = cache
        self.new: dict[str, tuple[Any, ...]] = {}
        self.racy_from = racy_from
        self.max_file_bytes = max_file_bytes
        self.ignored: list[str] = []
        self.files = 0
        self.listing: dict[str, tuple[int, str]] | None = {} if collect else None
        self.too_big: list[tuple[str, int]] = []
        self.prefetch: _Prefetch | None = None

    def walk(self, abs_dir: str, rel: str, rules: IgnoreRules) -> tuple[bytes | None, bool]:
        """Tree id of ``abs_dir`` (None when it holds nothing) and whether it was unchanged.

        This is the hot path of every snapshot, so a directory is first compared as a whole
        (names and stat keys of all its entries against the cache); only a changed
        directory is examined entry by entry, and only changed files are read. Entries are
        listed and stat'ed relative to an open descriptor of the directory (the kernel resolves
        one name, not the whole path, per entry) and the per-entry work runs in C (``map``).
        """
        base = abs_dir if abs_dir.endswith(os.sep) else abs_dir + os.sep
        prefix = rel + "/" if rel else ""
        listed = self.prefetch.take(rel) if self.prefetch is not None else None
        if listed is not None:  # stat'ed by the prefetching child: taken only when unchanged
            names, packed = listed
            here = self._rules(base, rel, names, rules, lambda i: _KEY.unpack_from(
                packed, i * _KEY_SIZE)[2])
            old = self._old(rel, here)
            if (old is not None and self.listing is None and old.max_mtime < self.racy_from
                    and old.names == _NAME_SEP.join(names) and old.keys == packed):
                return self._unchanged(old, base, prefix, rel, here)
        names, sts = _list_dir(abs_dir)
        rules = self._rules(base, rel, names, rules, lambda i: sts[i].st_mode)
        keys = list(map(_STAT_KEY, sts))
        old = self._old(rel, rules)
        if (old is not None and self.listing is None and old.max_mtime < self.racy_from
                and old.names == _NAME_SEP.join(names)
                and list(_KEY.iter_unpack(old.keys)) == keys):
            return self._unchanged(old, base, prefix, rel, rules)
        return self._changed(old, names, sts, keys, base, prefix, rel, rules)

    @staticmethod
    def _rules(base: str, rel: str, names: list[str], rules: IgnoreRules,
               mode: Callable[[int], int]) -> IgnoreRules:
        """``rules`` with the directory's own .gitignore (if it has one) added."""
        if IGNORE_FILE in names and mode(names.index(IGNORE_FILE)) & S_IFMT == S_IFREG:
            with open(base + IGNORE_FILE, encoding="utf-8", errors="replace") as fh:
                return rules.child(rel, fh.read())
        return rules

    def _old(self, rel: str, rules: IgnoreRules) -> _Dir | None:
        """The cached directory, when it was made under the same ignore rules."""
        old = _cached_dir(self.old.get(rel))
        return old if old is not None and old.signature == rules.signature else None

    def _subdirs(self, dirnames: tuple[str, ...], base: str, prefix: str, rules: IgnoreRules,
                 ignored: list[str]) -> tuple[dict[str, bytes], bool]:
        dirs: dict[str, bytes] = {}
        clean = True
        check = rules.ignored if rules.patterns else None
        for name in dirnames:
            relpath = prefix + name
            if name in ("__pycache__", ".git") or (check and check(relpath, True)):
                ignored.append(relpath + "/")
                continue
            try:
                sub, sub_clean = self.walk(base + name, relpath, rules)
            except FileNotFoundError:  # deleted while we looked: leave it out
                clean = False
                continue
            if sub is not None:
                dirs[name] = sub
            clean = clean and sub_clean
        return dirs, clean

    def _unchanged(self, old: _Dir, base: str, prefix: str, rel: str,
                   rules: IgnoreRules) -> tuple[bytes | None, bool]:
        ignored = [i for i in old.ignored if not i.endswith("/")]  # directories are re-checked
        dirs, clean = self._subdirs(old.dirnames, base, prefix, rules, ignored)
        subdirs = tuple(sorted(dirs))
        if clean and subdirs == old.subdirs:
            tree_id = old.tree
        else:
            clean = False
            files = old.file_records()
            tree_id = self._tree(files, dirs) if files or dirs else None
        self.ignored.extend(ignored)
        self.files += old.files
        self.new[rel] = _Dir(tree_id, old.names, old.keys, old.ids, old.signature,
                             old.max_mtime, old.dirnames, subdirs, tuple(ignored),
                             old.files).as_tuple()
        return tree_id, clean

    def _changed(self, old: _Dir | None, names: list[str], sts: list[os.stat_result],
                 stat_keys: list[tuple[int, int, int]], base: str, prefix: str, rel: str,
                 rules: IgnoreRules) -> tuple[bytes | None, bool]:
        index = {n: i for i, n in enumerate(old.name_list())} if old is not None else {}
        ignored: list[str] = []
        dirnames = tuple(compress(names, map(S_ISDIR, map(_MODE, sts))))
        dirs, _ = self._subdirs(dirnames, base, prefix, rules, ignored)
        check = rules.ignored if rules.patterns else None
        files: dict[str, bytes] = {}
        keys = bytearray(b"".join(starmap(_KEY.pack, stat_keys)))
        ids = bytearray(_ID * len(names))
        listing = self.listing
        racy_from = self.racy_from
        for i, name in enumerate(names):
            st = sts[i]
            kind = st.st_mode & S_IFMT
            if kind == S_IFDIR:
                continue
            if name.endswith(".pyc") or (check and check(prefix + name, False)):
                ignored.append(prefix + name)
                continue
            if kind == S_IFREG:
                if st.st_size > self.max_file_bytes:
                    self.too_big.append((prefix + name, st.st_size))
                    continue
            elif kind == S_IFLNK:
                self._check_link(base + name, prefix + name)
            else:  # sockets, fifos, devices are not content
                continue
            key = bytes(keys[i * _KEY_SIZE:(i + 1) * _KEY_SIZE])
            j = index.get(name)
            oid = _NO_ID
            if j is not None and st.st_mtime_ns < racy_from and old is not None \
                    and old.keys[j * _KEY_SIZE:(j + 1) * _KEY_SIZE] == key:
                oid = old.ids[j * _ID:(j + 1) * _ID]
            if oid == _NO_ID:
                try:
                    oid, complete = self._blob(base + name, st.st_mode)
                except FileNotFoundError:  # deleted while we looked: leave it out
                    continue
                except OSError as exc:
                    raise GoldfishError(f"cannot read {prefix + name!r}: {exc.strerror}",
                                        "fix its permissions, or list it in .gitignore") from None
                if complete != st.st_size:  # changed while we read it: never trust this key
                    key = _KEY.pack(-1, st.st_mtime_ns, st.st_mode)
                    keys[i * _KEY_SIZE:(i + 1) * _KEY_SIZE] = key
            ids[i * _ID:(i + 1) * _ID] = oid
            files[name] = key + oid
            if listing is not None:
                listing[prefix + name] = (_git_mode(st.st_mode), oid.hex())
        tree_id = self._tree(files, dirs) if files or dirs else None
        clean = old is not None and tree_id == old.tree
        self.ignored.extend(ignored)
        self.files += len(files)
        max_mtime = max(map(_MTIME, sts), default=0)
        self.new[rel] = _Dir(tree_id, _NAME_SEP.join(names), bytes(keys), bytes(ids),
                             rules.signature, max_mtime, dirnames, tuple(sorted(dirs)),
                             tuple(ignored), len(files)).as_tuple()
        return tree_id, clean

    def _check_link(self, path: str, relpath: str) -> None:
        target = os.readlink(path)
        resolved = os.path.realpath(path)
        if resolved != self.real_root and not resolved.startswith(self.real_root + os.sep):
            raise InvalidInputError(
                f"symlink {relpath!r} points outside the slot (to {target!r})",
                "copy the file into the slot, or register the data it points to with "
                "`goldfish sources add`")

    def _blob(self, path: str, st_mode: int) -> tuple[bytes, int]:
        """Hash (and store) one file; returns its blob id and the number of bytes read."""
        if st_mode & S_IFMT == S_IFLNK:
            raw = os.fsencode(os.readlink(path))
        else:
            with open(path, "rb") as fh:
                raw = fh.read()
        oid = _object_id(b"blob", raw)
        if self.writer is not None and not self.writer.has(oid):
            self.writer.add(_BLOB, oid, raw)
        return oid, len(raw)

    def _tree(self, files: dict[str, bytes], dirs: dict[str, bytes]) -> bytes:
        entries = [(name.encode("utf-8", "surrogateescape"),
                    _MODE_BYTES[_git_mode(int.from_bytes(rec[16:_KEY_SIZE], "little"))],
                    rec[_KEY_SIZE:]) for name, rec in files.items()]
        entries += [((name + "/").encode("utf-8", "surrogateescape"), b"40000", oid)
                    for name, oid in dirs.items()]
        entries.sort()
        raw = b"".join(mode + b" " + (key[:-1] if mode == b"40000" else key) + b"\0" + oid
                       for key, mode, oid in entries)
        if self.writer is None:
            return _object_id(b"tree", raw)
        return self.writer.add_if_missing(_TREE, raw)


class _Prefetch:
    """The ``lstat`` of the later half of a big slot's directories, done by a forked child while
    the walk does the first half (what git's ``core.preloadIndex`` threads do for ``git add``).

    A walk of a slot whose files have not changed is mostly the ``lstat`` of every entry
    (~3 us each here, most of it in the kernel); Python threads cannot share it out (each
    returns to the interpreter lock between calls), a process can. The directories come from
    the cache (the previous walk), split in walk order by their number of entries; the child
    sends each one's names and packed stat keys down a pipe. The walk takes a prefetched
    directory only when it is unchanged against the cache; anything else (a changed or new
    directory, one the child could not list, a child that died) is listed again in-process, so
    the result never depends on the child. Only for slots of :data:`PARALLEL_FROM` entries or
    more, with two or more CPUs, in a process without other threads (forking one with threads
    is not safe) and where ``os.fork`` exists.
    """

    def __init__(self, pid: int, fd: int, rels: set[str]) -> None:
        self.pid = pid
        self.fd = fd
        self.rels = rels
        self.data: dict[str, tuple[list[str], bytes]] | None = None

    @classmethod
    def start(cls, root: str, cache: dict[str, tuple[Any, ...]]) -> _Prefetch | None:
        if not cache or not _may_fork():
            return None
        order: list[tuple[str, int]] = []  # (rel, entries) in the walk's order
        stack = [""]
        while stack:
            rel = stack.pop()
            cached = _cached_dir(cache.get(rel))
            if cached is None:
                continue
            order.append((rel, len(cached.keys) // _KEY_SIZE))
            prefix = rel + "/" if rel else ""
            stack.extend(prefix + name for name in reversed(cached.dirnames))
        total = sum(n for _, n in order)
        if total < PARALLEL_FROM or len(order) < 2:
            return None
        theirs: list[str] = []
        count = 0
        # the root stays here: the walk starts with it, and would wait for the child at once
        while len(order) > 1 and count < total // 2:
            rel, n = order.pop()
            theirs.append(rel)
            count += n
        theirs.reverse()
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return None
        if pid == 0:  # the child: lstat, send, leave without running anything of the parent's
            code = 1
            try:
                os.close(r)
                out = {}
                for rel in theirs:
                    try:
                        names, sts = _list_dir(os.path.join(root, rel) if rel else root)
                    except OSError:
                        continue  # listed again by the walk, which reports it
                    out[rel] = (names, b"".join(starmap(_KEY.pack, map(_STAT_KEY, sts))))
                with open(w, "wb") as fh:
                    fh.write(marshal.dumps(out))
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        return cls(pid, r, set(theirs))

    def take(self, rel: str) -> tuple[list[str], bytes] | None:
        """The child's listing of ``rel`` (waiting for the child the first time), or None."""
        if rel not in self.rels:
            return None
        if self.data is None:
            self.data = {}
            fd, self.fd = self.fd, -1  # closed by the read, also when it fails: not by close()
            try:
                with open(fd, "rb") as fh:
                    raw = fh.read()
                data = marshal.loads(raw)
                if isinstance(data, dict):
                    self.data = data
            except (OSError, EOFError, ValueError, TypeError):
                pass
            self._reap()
        return self.data.pop(rel, None)

    def close(self) -> None:
        """Stop the child if the walk ended (or failed) before it was read."""
        if self.fd >= 0:
            os.close(self.fd)  # a child still writing gets EPIPE and leaves
            self.fd = -1
        self._reap()

    def _reap(self) -> None:
        if self.pid:
            with suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


def _may_fork() -> bool:
    """Whether a prefetching child can help and is safe: ``os.fork`` exists, two CPUs or more,
    and no other thread in this process (one could hold a lock the child would need)."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1)
    return cpus >= 2


#: A slot of this many entries or more is stat'ed by two processes (see :class:`_Prefetch`).
PARALLEL_FROM = 4096


def _list_dir(path: str) -> tuple[list[str], list[os.stat_result]]:
    """The names of a directory's entries (in ``readdir`` order) and their ``lstat``."""
    fd = os.open(path, _DIR_FLAGS)
    try:
        names = os.listdir(fd)
        lstat = os.stat
        try:
            return names, [lstat(name, dir_fd=fd, follow_symlinks=False) for name in names]
        except FileNotFoundError:  # deleted while we looked: leave it out
            kept, sts = [], []
            for name in names:
                try:
                    sts.append(lstat(name, dir_fd=fd, follow_symlinks=False))
                except FileNotFoundError:
                    continue
                kept.append(name)
            return kept, sts
    finally:
        os.close(fd)


def _git_mode(st_mode: int) -> int:
    if st_mode & 0o170000 == stat.S_IFLNK:
        return MODE_LINK
    return MODE_EXEC if st_mode & stat.S_IXUSR else MODE_FILE


def _load_cache(path: Path | None, objects_dir: Path, root: str,
                max_file_bytes: int) -> tuple[dict[str, tuple[Any, ...]], int]:
    """The cache and the mtime (ns) from which entries are racy; an unusable cache is empty."""
    if path is None:
        return {}, 0
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
            racy_from = os.fstat(fh.fileno()).st_mtime_ns
        data = marshal.loads(raw)
        if (isinstance(data, dict) and data.get("format") == CACHE_FORMAT
                and data.get("store") == os.stat(objects_dir).st_ino
                and data.get("root") == root and data.get("max_file_bytes") == max_file_bytes):
            return data["dirs"], racy_from
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        pass
    return {}, 0


def _save_cache(path: Path, objects_dir: Path, root: str, max_file_bytes: int,
                dirs: dict[str, tuple[Any, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # the slot's real path and the size limit are part of the key: a moved slot must re-check its
    # symlinks, a lowered limit its big files
    data = {"format": CACHE_FORMAT, "store": os.stat(objects_dir).st_ino, "root": root,
            "max_file_bytes": max_file_bytes, "dirs": dirs}
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    with _whole_or_nothing(str(tmp)), open(tmp, "wb") as fh:
        fh.write(marshal.dumps(data))
    os.replace(tmp, path)


def snapshot_tree(repo_path: Path, slot_dir: Path, *, cache_path: Path | None = None,
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, write: bool = True,
                  collect: bool = False) -> SlotTree:
    """Write the slot's files into the store (``write``) and return its tree id.

    With ``write=False`` nothing is stored and the cache is only read (used for diffs against live
    files). ``collect`` also returns the flat listing. Raises before writing anything when a file is
    over ``max_file_bytes`` or a symlink leaves the slot.
    """
    slot_dir = Path(slot_dir)
    if not slot_dir.is_dir():
        raise NotFoundError(f"slot directory {slot_dir} does not exist",
                            "mount a workspace into it with `goldfish mount NAME SLOT`")
    objects_dir = Path(repo_path) / "objects"
    root = os.path.realpath(slot_dir)
    cache, racy_from = _load_cache(cache_path, objects_dir, root, max_file_bytes)
    writer = ObjectWriter(Path(repo_path)) if write else None
    walker = _Walker(slot_dir, writer, cache, racy_from, max_file_bytes, collect)
    try:
        if not collect:  # a listing walks every directory entry by entry anyway
            walker.prefetch = _Prefetch.start(str(slot_dir), cache)
        tree_id, _clean = walker.walk(str(slot_dir), "", EMPTY)
        if walker.too_big:
            path, size = walker.too_big[0]
            more = f" (and {len(walker.too_big) - 1} more)" if len(walker.too_big) > 1 else ""
            raise GoldfishError(
                f"file {path!r} in {slot_dir.name} is {human_size(size)}, over the "
                f"{human_size(max_file_bytes)} limit for versioned files{more}",
                f"move it out of the slot and register it as a data source "
                f"(`goldfish sources add NAME PATH`), or list it in {slot_dir.name}/.gitignore")
        if writer is not None:
            if tree_id is None:
                tree_id = writer.add_if_missing(_TREE, b"")
            writer.flush()
    finally:
        if walker.prefetch is not None:
            walker.prefetch.close()
        if writer is not None:
            writer.close()
    if write and cache_path is not None:
        _save_cache(cache_path, objects_dir, root, max_file_bytes, walker.new)
    tree = tree_id.hex() if tree_id is not None else EMPTY_TREE
    return SlotTree(tree=tree, files=walker.files, ignored=tuple(walker.ignored),
                    written=writer.written if writer else 0, listing=walker.listing)


def human_size(size: int | float) -> str:
    """``512 B``, ``3.2 KB``, ``1.5 GB``: sizes in messages (snapshot limits, gc, du)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


# --- commits and refs -------------------------------------------------------------------------


def write_commit(repo_path: Path, tree: str, parents: list[str], message: str,
                 when: float | None = None) -> str:
    """Store a commit of ``tree`` and return its id."""
    stamp = int(when if when is not None else time.time())
    ident = f"Goldfish <goldfish@localhost> {stamp} +0000"
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents), f"author {ident}",
             f"committer {ident}", "", message.rstrip("\n") + "\n"]
    raw = "\n".join(lines).encode("utf-8")
    writer = ObjectWriter(Path(repo_path))
    oid = _object_id(b"commit", raw)  # a commit carries a timestamp: it is new, write it loose
    writer.add(_COMMIT, oid, raw)
    writer.flush()
    return oid.hex()


def ensure_empty_tree(repo_path: Path) -> str:
    """Store the empty tree (the start of a workspace created from nothing)."""
    writer = ObjectWriter(Path(repo_path))
    try:
        writer.add_if_missing(_TREE, b"")
        writer.flush()
    finally:
        writer.close()
    return EMPTY_TREE


def set_ref(repo_path: Path, ref: str, sha: str) -> None:
    """Point ``ref`` (e.g. ``refs/heads/ws``) at ``sha``; callers hold the project lock."""
    path = Path(repo_path) / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    tmp.write_text(sha + "\n", encoding="ascii")
    os.replace(tmp, path)


def read_ref(repo_path: Path, ref: str) -> str | None:
    try:
        return (Path(repo_path) / ref).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


# --- reading ----------------------------------------------------------------------------------


class Store:
    """Read access to the version repository (a fresh dulwich store sees every new pack)."""

    def __init__(self, repo_path: Path) -> None:
        from dulwich.object_store import DiskObjectStore

        self.repo_path = Path(repo_path)
        self._store = DiskObjectStore(str(self.repo_path / "objects"))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self._store.close()

    def _get(self, sha: str) -> Any:
        try:
            obj = self._store[sha.encode()]  # type: ignore[index]
            obj.as_raw_chunks()  # parsed (and so checked) here, not later by a caller
            return obj
        except KeyError:
            raise damaged_store(f"object {sha} is missing", self.repo_path) from None
        except Exception as exc:
            fault = faults.name(exc)  # zlib or dulwich: a damaged object file
            if fault is None or fault.kind != "store":
                raise
            raise damaged_store(f"object {sha} cannot be read ({type(exc).__name__}: {exc})",
                                self.repo_path) from None

    def tree_of(self, commit: str) -> str:
        obj = self._get(commit)
        if obj.type_name == b"tree":
            return commit
        return str(obj.tree.decode())

    def listing(self, tree: str) -> dict[str, tuple[int, str]]:
        """Every file of ``tree``: path -> (mode, blob id)."""
        out: dict[str, tuple[int, str]] = {}
        self._list(tree, "", out)
        return out

    def _list(self, tree: str, prefix: str, out: dict[str, tuple[int, str]]) -> None:
        if tree == EMPTY_TREE:
            return
        for entry in self._get(tree).iteritems():
            name = prefix + entry.path.decode("utf-8", "surrogateescape")
            sha = entry.sha.decode()
            if stat.S_ISDIR(entry.mode):
                self._list(sha, name + "/", out)
            else:
                out[name] = (entry.mode, sha)

    def blob(self, sha: str) -> bytes:
        return bytes(self._get(sha).as_raw_string())

    def export(self, tree: str, dest: Path) -> int:
        """Write the files of ``tree`` under ``dest`` (created; must not exist). Returns the count."""
        dest.mkdir(parents=True)
        count = 0
        made: set[Path] = {dest}
        for path, (mode, sha) in self.listing(tree).items():
            target = dest / path
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            data = self.blob(sha)
            if mode == MODE_LINK:
                os.symlink(os.fsdecode(data), target)
            else:
                with open(target, "wb") as fh:
                    fh.write(data)
                if mode == MODE_EXEC:
                    os.chmod(target, 0o755)
            count += 1
        return count


# --- diffs ------------------------------------------------------------------------------------


@record(frozen=True)
class FileChange:
    path: str
    status: str  # added | modified | deleted
    added: int  # lines
    removed: int
    binary: bool
    patch: str


@record(frozen=True)
class Diff:
    """Differences from ``a`` to ``b`` (labels such as ``ws-v3`` or ``slot:w1``)."""

    a: str
    b: str
    changes: tuple[FileChange, ...]

    def paths(self, status: str) -> list[str]:
        return [c.path for c in self.changes if c.status == status]

    @property
    def added(self) -> list[str]:
        return self.paths("added")

    @property
    def modified(self) -> list[str]:
        return self.paths("modified")

    @property
    def deleted(self) -> list[str]:
        return self.paths("deleted")

    @property
    def lines_added(self) -> int:
        return sum(c.added for c in self.changes)

    @property
    def lines_removed(self) -> int:
        return sum(c.removed for c in self.changes)

    @property
    def summary(self) -> str:
        if not self.changes:
            return f"no differences between {self.a} and {self.b}"
        return (f"{len(self.changes)} file{'s' * (len(self.changes) != 1)} changed "
                f"({len(self.added)} added, {len(self.modified)} modified, "
                f"{len(self.deleted)} deleted), +{self.lines_added} -{self.lines_removed} lines")

    def text(self) -> str:
        return "".join(c.patch for c in self.changes)

    def stat(self) -> str:
        width = max((len(c.path) for c in self.changes), default=0)
        lines = [f" {c.path.ljust(width)} | {c.status:8} "
                 + ("binary" if c.binary else f"+{c.added} -{c.removed}") for c in self.changes]
        return "\n".join([*lines, " " + self.summary])

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "summary": self.summary,
                "added": self.added, "modified": self.modified, "deleted": self.deleted,
                "lines_added": self.lines_added, "lines_removed": self.lines_removed,
                "files": [{"path": c.path, "status": c.status, "added": c.added,
                           "removed": c.removed, "binary": c.binary} for c in self.changes]}


Listing = dict[str, tuple[int, str]]
Reader = Callable[[str, str], bytes]  # (path, blob id) -> bytes


def diff_listings(a: str, a_files: Listing, read_a: Reader,
                  b: str, b_files: Listing, read_b: Reader) -> Diff:
    changes: list[FileChange] = []
    for path in sorted(set(a_files) | set(b_files)):
        old, new = a_files.get(path), b_files.get(path)
        if old == new:
            continue
        status = "added" if old is None else "deleted" if new is None else "modified"
        before = read_a(path, old[1]) if old else b""
        after = read_b(path, new[1]) if new else b""
        changes.append(_file_change(path, status, before, after, a, b))
    return Diff(a, b, tuple(changes))


def _file_change(path: str, status: str, before: bytes, after: bytes, a: str, b: str) -> FileChange:
    import difflib  # diffs only: not on the path of every snapshot

    if b"\0" in before[:8000] or b"\0" in after[:8000]:
        patch = f"Binary files {a}:{path} and {b}:{path} differ\n"
        return FileChange(path, status, 0, 0, True, patch)
    old_lines = before.decode("utf-8", "replace").splitlines(keepends=True)
    new_lines = after.decode("utf-8", "replace").splitlines(keepends=True)
    fromfile = f"a/{path}" if status != "added" else "/dev/null"
    tofile = f"b/{path}" if status != "deleted" else "/dev/null"
    added = removed = 0
    out: list[str] = []
    for line in difflib.unified_diff(old_lines, new_lines, fromfile, tofile):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    if not out:  # mode change only
        out = [f"mode changed: {path}\n"]
    return FileChange(path, status, added, removed, False, "".join(out))


def read_slot_file(slot_dir: Path) -> Reader:
    def read(path: str, _sha: str) -> bytes:
        full = slot_dir / path
        if full.is_symlink():
            return os.fsencode(os.readlink(full))
        return full.read_bytes()
    return read



# --- verification (``goldfish doctor``) --------------------------------------------------------


@record
class StoreReport:
    """What :func:`verify_store` found: counts, and every damaged object and dangling ref."""

    objects: int = 0
    refs: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (object id or file, why)
    dangling: list[tuple[str, str]] = field(default_factory=list)  # (ref, why)

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.dangling


def verify_store(repo_path: Path) -> StoreReport:
    """Read every object of the version repository back (decompress, header, id) and check that
    every ref names a readable commit. Pure reads; costs one pass over the store."""
    from dulwich.object_store import DiskObjectStore

    report = StoreReport()
    objects_dir = Path(repo_path) / "objects"
    readable: dict[str, bytes] = {}  # object id -> type
    for folder in sorted(objects_dir.glob("[0-9a-f][0-9a-f]")):
        for path in sorted(folder.iterdir()):
            if len(path.name) != 38 or not path.is_file():
                continue  # a leftover temporary file is not an object
            oid = folder.name + path.name
            report.objects += 1
            kind, problem = _check_loose(path, oid)
            if problem:
                report.damaged.append((oid, problem))
            else:
                readable[oid] = kind
    store = DiskObjectStore(str(objects_dir))
    try:
        for pack in list(store.packs):
            name = f"{os.path.basename(pack._basename)}.pack"
            try:
                pack.check()
                for obj in pack.iterobjects():
                    report.objects += 1
                    readable[obj.id.decode()] = obj.type_name
            except Exception as exc:
                report.damaged.append((name, f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # an index that cannot even be opened
        report.damaged.append(("objects/pack", f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()
    report.refs, report.dangling = _check_refs(Path(repo_path), readable, objects_dir)
    return report


def _check_loose(path: Path, oid: str) -> tuple[bytes, str | None]:
    """(type, None) for a sound loose object, else (b"", what is wrong with it)."""
    try:
        raw = zlib.decompress(path.read_bytes())
    except (OSError, zlib.error) as exc:
        return b"", f"cannot be decompressed ({exc})"
    head, sep, body = raw.partition(b"\0")
    kind, _, size = head.partition(b" ")
    if not sep or kind not in (b"blob", b"tree", b"commit", b"tag") or not size.isdigit():
        return b"", "has no valid object header"
    if int(size) != len(body):
        return b"", f"is truncated ({len(body)} of {int(size)} bytes)"
    if _sha1(raw).hexdigest() != oid:
        return b"", "content does not match its id"
    return kind, None


def _check_refs(repo: Path, readable: dict[str, bytes],
                objects_dir: Path) -> tuple[int, list[tuple[str, str]]]:
    refs: dict[str, str] = {}
    packed = repo / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8", errors="replace").splitlines():
            sha, _, name = line.partition(" ")
            if name and not line.startswith(("#", "^")):
                refs[name] = sha
    for path in sorted((repo / "refs").rglob("*")):
        if path.is_file():
            refs[path.relative_to(repo).as_posix()] = path.read_text(
                encoding="utf-8", errors="replace").strip()
    dangling = []
    for name, sha in sorted(refs.items()):
        kind = readable.get(sha)
        if kind is None:
            missing = not (objects_dir / sha[:2] / sha[2:]).exists()
            dangling.append((name, f"points to {sha[:12]}, which is "
                                   f"{'missing' if missing else 'damaged'}"))
        elif kind not in (b"commit", b"tag"):
            dangling.append((name, f"points to {sha[:12]}, a {kind.decode()}, not a commit"))
    return len(refs), dangling
