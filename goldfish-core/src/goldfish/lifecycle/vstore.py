"""gc of the version store (``.goldfish/versions.git``): drop unreachable objects, consolidate.

Reachable: every commit gc is given (versions, runs, refs, pruned records inside their window),
its tree and everything below it. Parents are *not* followed: a version pruned out of the middle
of a workspace's history leaves its child with a parent id that no longer resolves, as in a
shallow git clone; history is read from the database, never by walking parents.

Objects are rewritten into packs of our own writer (no deltas; ``ObjectWriter.write_pack``), the
new packs are checked (dulwich's own pack check, and every kept id present in their indexes)
before any old pack or loose object is removed; what was written after gc listed the store is
never touched. An unreachable object younger than the grace period stays (loose objects by their
mtime, packed ones by their pack's), and writers refresh the mtime of a loose object they reuse.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldfish.errors import GoldfishError
from goldfish.snapshot import FLUSH_BYTES, ObjectWriter

_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}


@dataclass
class VersionStoreReport:
    objects: int = 0  # before gc
    dropped: list[tuple[str, int]] = field(default_factory=list)  # (object id, bytes on disk)
    young: int = 0  # unreachable, kept because younger than the grace period
    packs: int = 0
    loose: int = 0
    bytes_before: int = 0
    bytes_after: int | None = None  # after repacking (None: dry run or nothing to do)
    repacked: bool = False

    @property
    def freed(self) -> int:
        return sum(b for _, b in self.dropped)


@dataclass
class _Obj:
    type_num: int
    raw: bytes | None  # None until needed (packed objects are read lazily)
    disk: int  # compressed bytes on disk
    mtime: float
    pack: str | None  # basename of its pack, or None for a loose object


def _reachable(objects: dict[str, _Obj], commits: set[str],
               get: Callable[[str], bytes]) -> set[str]:
    """Ids reachable from ``commits`` through trees (parents not followed)."""
    seen: set[str] = set()
    stack = [c for c in commits if c in objects]
    while stack:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        obj = objects.get(oid)
        if obj is None:
            continue
        if obj.type_num == 3:
            continue
        raw = get(oid)
        if obj.type_num == 1:
            tree = raw[5:45].decode()
            stack.append(tree)
        elif obj.type_num == 2:
            i = 0
            while i < len(raw):
                space = raw.index(b" ", i)
                nul = raw.index(b"\0", space)
                mode = raw[i:space]
                sha = raw[nul + 1:nul + 21].hex()
                if mode != b"160000":
                    stack.append(sha)
                i = nul + 21
        elif obj.type_num == 4:
            stack.append(raw[7:47].decode())
    return seen


def _open_pack(base: str) -> Any:
    from dulwich.object_format import DEFAULT_OBJECT_FORMAT
    from dulwich.pack import Pack

    return Pack(base, object_format=DEFAULT_OBJECT_FORMAT)


def collect(repo_path: Path, commits: set[str], cutoff: float, *,
            dry_run: bool) -> VersionStoreReport:

    objects_dir = Path(repo_path) / "objects"
    report = VersionStoreReport()
    objects: dict[str, _Obj] = {}
    loose_paths: list[tuple[str, float]] = []
    for folder in sorted(objects_dir.glob("[0-9a-f][0-9a-f]")):
        for entry in os.scandir(folder):
            if len(entry.name) != 38:
                continue
            st = entry.stat()
            with open(entry.path, "rb") as fh:
                data = fh.read()
            try:
                raw = zlib.decompress(data)
            except zlib.error:
                continue  # damaged: doctor's business, never gc's
            head, _, body = raw.partition(b"\0")
            oid = folder.name + entry.name
            objects[oid] = _Obj(_TYPES.get(head.split(b" ")[0], 3), body, st.st_size,
                                st.st_mtime, None)
            loose_paths.append((entry.path, st.st_mtime))
            report.bytes_before += st.st_size
    report.loose = len(loose_paths)
    packs: dict[str, Any] = {}
    pack_dir = objects_dir / "pack"
    names = sorted(os.listdir(pack_dir)) if pack_dir.is_dir() else []
    try:
        for name in names:
            if not name.endswith(".idx") or name[:-4] + ".pack" not in names:
                continue
            base = str(pack_dir / name[:-4])
            pack = _open_pack(base)
            packs[base] = pack
            size = os.path.getsize(base + ".pack")
            mtime = os.path.getmtime(base + ".pack")
            report.bytes_before += size + os.path.getsize(base + ".idx")
            entries = sorted((offset, sha) for sha, offset, _ in pack.index.iterentries())
            with open(base + ".pack", "rb") as fh:
                data = fh.read()
            for i, (offset, sha) in enumerate(entries):
                end = entries[i + 1][0] if i + 1 < len(entries) else size - 20
                oid = sha.hex() if len(sha) == 20 else sha.decode()
                if oid in objects:
                    continue  # loose and packed: the loose copy is used
                type_num = (data[offset] >> 4) & 7  # 6, 7: a delta, typed once resolved
                objects[oid] = _Obj(type_num if type_num in (1, 2, 3, 4) else 0, None,
                                    end - offset, mtime, base)
            del data
        report.packs = len(packs)
        report.objects = len(objects)

        def read(oid: str) -> bytes:
            obj = objects[oid]
            if obj.raw is None:
                type_num, raw = packs[str(obj.pack)].get_raw(oid.encode())
                obj.type_num, obj.raw = type_num, bytes(raw)
            return obj.raw

        for oid, obj in objects.items():
            if obj.type_num not in (1, 2, 3, 4):
                read(oid)
        reachable = _reachable(objects, commits, read)
        keep: list[str] = []
        for oid, obj in objects.items():
            if oid in reachable:
                keep.append(oid)
            elif obj.mtime >= cutoff:
                report.young += 1
                keep.append(oid)
            else:
                report.dropped.append((oid, obj.disk))
        report.dropped.sort()
        if dry_run or (not report.dropped and report.packs <= 1 and not report.loose):
            return report
        writer = ObjectWriter(Path(repo_path))
        written: list[str] = []
        batch: list[tuple[int, bytes, bytes]] = []
        size = 0
        for oid in sorted(keep):
            raw = read(oid)
            batch.append((objects[oid].type_num, bytes.fromhex(oid), raw))
            size += len(raw)
            if size > FLUSH_BYTES:
                written.append(writer.write_pack(batch))
                batch, size = [], 0
        if batch:
            written.append(writer.write_pack(batch))
        _check_new_packs(pack_dir, written, set(keep))
    finally:
        for pack in packs.values():
            pack.close()
    fresh = {str(pack_dir / w) for w in written}
    for base in packs:
        if base in fresh:
            continue  # identical content was rewritten under the same name
        for ext in (".idx", ".pack"):  # the index first: readers skip a pack without one
            try:
                os.unlink(base + ext)
            except FileNotFoundError:
                pass
    for path, mtime in loose_paths:
        try:
            if os.stat(path).st_mtime != mtime:
                continue  # a writer reused it since we looked: it stays, loose
            os.unlink(path)
        except FileNotFoundError:
            pass
    for folder in objects_dir.glob("[0-9a-f][0-9a-f]"):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty: something new arrived
    report.repacked = True
    report.bytes_after = sum(os.path.getsize(pack_dir / f"{w}{ext}") for w in written
                             for ext in (".pack", ".idx"))
    return report


def _check_new_packs(pack_dir: Path, written: list[str], keep: set[str]) -> None:
    found: set[str] = set()
    for name in written:
        pack = _open_pack(str(pack_dir / name))
        try:
            pack.check()
            found.update(sha.hex() if len(sha) == 20 else sha.decode()
                         for sha, _, _ in pack.index.iterentries())
        except Exception as exc:
            raise GoldfishError(f"gc: the consolidated pack {name} failed its check ({exc}); "
                                "nothing was removed",
                                "run `goldfish doctor`, then `goldfish gc` again") from exc
        finally:
            pack.close()
    missing = keep - found
    if missing:
        raise GoldfishError(f"gc: {len(missing)} objects are missing from the consolidated "
                            f"packs (e.g. {sorted(missing)[0]}); nothing was removed",
                            "run `goldfish doctor`, then `goldfish gc` again")
