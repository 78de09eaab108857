"""Content-addressed outputs on top of any storage backend.

A file is stored once under its sha256 (``<base>/objects/sha256/ab/cdef…``); storing identical
bytes again costs a hash and an ``exists``. A directory is stored as its files plus a *manifest*
(``<base>/trees/sha256/…``): compact sorted JSON mapping each relative path to its digest, size
and mode. The manifest's own sha256 is the directory's digest, so it depends only on the names,
bytes and executable bits of the files — never on mtimes or the order they were written.

Modes are normalised to ``0o644`` / ``0o755`` (only the executable bit is kept); empty
directories and the directory's own metadata are not part of an artifact. Symbolic links to files
are stored as the file they point at; links to directories, or broken ones, are refused.

``materialize`` hardlinks from a local store when it can. Store objects are made read-only, and
so are the hardlinked copies: a stage that writes into an input in place gets an error instead of
silently corrupting every run that shares the object. Executable files are copied (a hardlink
shares the mode of the stored object).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from goldfish.project import Project
    from goldfish.storage import StorageBackend

DEFAULT_STORE = "file://.goldfish/store"
CHUNK = 1024 * 1024
MANIFEST_FORMAT = "goldfish-tree/1"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ArtifactRef:
    """A stored output: its digest is its identity; ``uri`` is where its object/manifest lives."""

    digest: str
    uri: str
    size: int
    kind: Literal["file", "directory"]
    files: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ArtifactRef:
        return cls(digest=raw["digest"], uri=raw["uri"], size=int(raw["size"]),
                   kind=raw["kind"], files=int(raw["files"]))


def hash_file(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def hash_bytes(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:`` + 64 lowercase hex digits, else raise."""
    hexpart = digest[7:] if isinstance(digest, str) and digest.startswith("sha256:") else ""
    if len(hexpart) != 64 or not set(hexpart) <= _HEX:
        raise InvalidInputError(f"{digest!r} is not an artifact digest",
                                "digests look like sha256:<64 hex digits>")
    return digest


def _mode(st_mode: int) -> int:
    return 0o755 if st_mode & stat.S_IXUSR else 0o644


class ArtifactStore:
    """Content-addressed artifacts under ``base_uri`` of one storage backend."""

    def __init__(self, storage: StorageBackend, base_uri: str) -> None:
        self.storage = storage
        self.base_uri = base_uri.rstrip("/")

    @classmethod
    def for_project(cls, project: Project) -> ArtifactStore:
        """The store named by ``storage:`` in ``goldfish.yaml`` (default ``file://.goldfish/store``)."""
        try:
            uri = getattr(project.config, "storage", None) or DEFAULT_STORE
        except ModuleNotFoundError as exc:  # the config module is not there yet
            if exc.name != "goldfish.config":
                raise
            uri = DEFAULT_STORE
        uri = str(uri)
        scheme, sep, _ = uri.partition("://")
        if not sep or not scheme:
            raise InvalidInputError(f"storage {uri!r} in goldfish.yaml is not a URI",
                                    f"e.g. storage: {DEFAULT_STORE}  or  gs://bucket/prefix")
        factory = project.plugins.storage_backend(scheme).load()
        settings = dict(getattr(project.config, "storage_settings", None) or {})
        return cls(factory(project.root, settings), uri)

    # --- addresses --------------------------------------------------------------------------
    def object_uri(self, digest: str) -> str:
        hexpart = check_digest(digest)[7:]
        return f"{self.base_uri}/objects/sha256/{hexpart[:2]}/{hexpart[2:]}"

    def tree_uri(self, digest: str) -> str:
        hexpart = check_digest(digest)[7:]
        return f"{self.base_uri}/trees/sha256/{hexpart[:2]}/{hexpart[2:]}"

    # --- store ------------------------------------------------------------------------------
    def store(self, path: Path) -> ArtifactRef:
        """Store a file or directory; content already present is not written again."""
        path = Path(path)
        if path.is_file():
            digest, size = self._store_blob(path)
            return ArtifactRef(digest, self.object_uri(digest), size, "file", 1)
        if path.is_dir():
            return self._store_tree(path)
        raise NotFoundError(f"cannot store output {path}: no such file or directory")

    def _store_blob(self, path: Path) -> tuple[str, int]:
        digest = hash_file(path)
        uri = self.object_uri(digest)
        if not self.storage.exists(uri):
            self.storage.put(uri, path)
            self._protect(uri)
        else:
            self._freshen(uri)
        return digest, path.stat().st_size

    def _freshen(self, uri: str) -> None:
        """An object stored again becomes young: gc keeps unreferenced objects younger than its
        grace period, so one a writer relies on is not swept before the writer records it."""
        local = self.storage.local_path(uri)
        if local is not None:
            try:
                os.utime(local)
            except OSError:
                pass

    def _protect(self, uri: str) -> None:
        local = self.storage.local_path(uri)
        if local is not None:
            try:
                os.chmod(local, 0o444)
            except OSError:
                pass

    def _store_tree(self, root: Path) -> ArtifactRef:
        files: dict[str, dict[str, Any]] = {}
        total = 0
        for rel, full in _walk(root):
            digest, size = self._store_blob(full)
            files[rel] = {"digest": digest, "size": size, "mode": _mode(full.stat().st_mode)}
            total += size
        manifest = json.dumps({"format": MANIFEST_FORMAT, "files": files}, sort_keys=True,
                              separators=(",", ":")).encode()
        digest = hash_bytes(manifest)
        uri = self.tree_uri(digest)
        if not self.storage.exists(uri):
            self.storage.put(uri, manifest)
        else:
            self._freshen(uri)
        return ArtifactRef(digest, uri, total, "directory", len(files))

    # --- read -------------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        return self.storage.exists(self.object_uri(digest)) or self.storage.exists(
            self.tree_uri(digest))

    def present(self, digest: str) -> bool:
        """Is every stored object of the artifact still there? An ``exists`` per object (for a
        directory: its manifest and each file it lists), never a re-hash of the content."""
        if self.storage.exists(self.object_uri(digest)):
            return True
        try:
            files = self.manifest(digest)
        except GoldfishError:
            return False
        return all(self.storage.exists(self.object_uri(f["digest"])) for f in files.values())

    def ref(self, digest: str) -> ArtifactRef:
        """Rebuild the reference of a stored artifact from its digest alone."""
        tree = self.tree_uri(digest)
        if self.storage.exists(tree):
            files = self.manifest(digest)
            return ArtifactRef(digest, tree, sum(f["size"] for f in files.values()), "directory",
                               len(files))
        uri = self.object_uri(digest)
        if not self.storage.exists(uri):
            raise self._missing(digest)
        local = self.storage.local_path(uri)
        if local is not None:
            size = local.stat().st_size
        else:
            with self.storage.open(uri) as fh:
                size = sum(len(c) for c in iter(lambda: fh.read(CHUNK), b""))
        return ArtifactRef(digest, uri, size, "file", 1)

    def manifest(self, digest: str) -> dict[str, dict[str, Any]]:
        """A directory artifact's files: relative path → {digest, size, mode}."""
        uri = self.tree_uri(digest)
        if not self.storage.exists(uri):
            raise self._missing(digest, "directory artifact")
        with self.storage.open(uri) as fh:
            raw = fh.read()
        if hash_bytes(raw) != digest:
            raise GoldfishError(f"manifest {uri} is corrupt (its content does not hash to "
                                f"{digest})", "delete the object and store the output again")
        files: dict[str, dict[str, Any]] = json.loads(raw)["files"]
        return files

    def open(self, digest: str) -> BinaryIO:
        """Open a file artifact for reading."""
        uri = self.object_uri(digest)
        if not self.storage.exists(uri):
            if self.storage.exists(self.tree_uri(digest)):
                raise InvalidInputError(f"artifact {digest} is a directory",
                                        "use materialize() to get its files")
            raise self._missing(digest)
        return self.storage.open(uri)

    def materialize(self, ref_or_digest: ArtifactRef | str, dest: Path, *,
                    link: bool = True) -> Path:
        """Recreate the artifact at ``dest`` (a file, or a new/empty directory). Atomic: on
        error nothing is left at ``dest``."""
        digest = ref_or_digest.digest if isinstance(ref_or_digest, ArtifactRef) else ref_or_digest
        dest = Path(dest)
        if self.storage.exists(self.tree_uri(digest)):
            return self._materialize_tree(digest, dest, link)
        uri = self.object_uri(digest)
        if not self.storage.exists(uri):
            raise self._missing(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".goldfish-tmp-{os.urandom(16).hex()}-{dest.name}")  # not uuid: platform
        try:
            self._place(digest, uri, tmp, 0o644, link)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest

    def _materialize_tree(self, digest: str, dest: Path, link: bool) -> Path:
        files = self.manifest(digest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise GoldfishError(f"cannot materialize {digest} at {dest}: it exists and is not an "
                                "empty directory", "choose a new destination or remove it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".goldfish-tmp-", dir=dest.parent))
        try:
            for rel, entry in files.items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                self._place(entry["digest"], self.object_uri(entry["digest"]), target,
                            int(entry["mode"]), link)
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    def _place(self, digest: str, uri: str, target: Path, mode: int, link: bool) -> None:
        local = self.storage.local_path(uri)
        if local is not None:
            if link and not mode & 0o111:
                try:
                    os.link(local, target)
                    return
                except OSError:
                    pass  # another filesystem, or links not allowed: copy
            shutil.copyfile(local, target)
        else:
            self.storage.get(uri, target)
            if hash_file(target) != digest:
                raise GoldfishError(f"object {uri} is corrupt (its content does not hash to "
                                    f"{digest})", "delete the object and store the output again")
        os.chmod(target, mode)

    def _missing(self, digest: str, what: str = "artifact") -> NotFoundError:
        return NotFoundError(f"{what} {digest} is not in the store {self.base_uri}",
                             "it was never stored here, or the store was cleaned; re-run the stage "
                             "that produced it")


def _walk(root: Path) -> list[tuple[str, Path]]:
    """Every file under ``root`` as (posix relative path, path), sorted; refuses odd links."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in dirnames:
            if (here / d).is_symlink():
                raise InvalidInputError(f"{here / d} is a symbolic link to a directory",
                                        "outputs must hold real files; copy the directory in")
        for f in filenames:
            full = here / f
            if not full.is_file():
                raise InvalidInputError(f"{full} is not a regular file (broken link, socket…)",
                                        "outputs must hold regular files")
            out.append((full.relative_to(root).as_posix(), full))
    return sorted(out)
