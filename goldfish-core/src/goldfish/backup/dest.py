"""Where backups live: a folder or a storage URI, always driven through the storage contract.

Layout under a destination ``<base>``::

    <base>/objects/sha256/<2 hex>/<62 hex>   a backed-up file's bytes (files over 1 MB), once
    <base>/packs/<backup id>-<n>.pack        smaller files' bytes, concatenated (one object
                                             instead of thousands); manifests give the offset
    <base>/manifests/<id>.json               one backup: which file (path in the project) is
                                             which object, with sizes, the versions and counts

A folder is the ``file://`` backend with an absolute URI; ``storage:`` is the project's own
storage backend under ``<storage>/backups``; any other ``scheme://`` URI goes to the backend
registered for that scheme.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from goldfish.plugins import Plugins
    from goldfish.project import Project
    from goldfish.storage import StorageBackend

DEFAULT_DEST = ".goldfish/backups"
MANIFEST_FORMAT = "goldfish-backup/1"


@dataclass
class Destination:
    storage: StorageBackend
    base: str  # URI without a trailing slash
    label: str  # what to show and to pass to `goldfish restore`
    _dirty: bool = False

    def put(self, uri: str, src: bytes | Path) -> None:
        """Store one object. A folder is written without the ``file://`` backend's fsync per
        object; :meth:`commit` flushes them all at once before the manifest names them."""
        path = local_target(self.storage, uri)
        if path is None:
            self.storage.put(uri, src)
            return
        from goldfish.builtins.file_storage import write_atomic

        write_atomic(path, src, sync=False)
        self._dirty = True

    def commit(self) -> None:
        if self._dirty:
            sync_filesystem(Path(self.base[len("file://"):]))
            self._dirty = False

    def blob_uri(self, sha256: str) -> str:
        return f"{self.base}/objects/sha256/{sha256[:2]}/{sha256[2:]}"

    def manifest_uri(self, backup_id: str) -> str:
        return f"{self.base}/manifests/{backup_id}.json"

    def backup_ids(self) -> list[str]:
        """Every backup here, oldest first (ids sort by time)."""
        prefix = f"{self.base}/manifests/"
        return sorted(uri[len(prefix):-5] for uri in self.storage.list(prefix)
                      if uri.startswith(prefix) and uri.endswith(".json"))

    def read_manifest(self, backup_id: str) -> dict[str, Any]:
        uri = self.manifest_uri(backup_id)
        try:
            with self.storage.open(uri) as fh:
                data = json.loads(fh.read().decode("utf-8"))
        except NotFoundError:
            raise NotFoundError(f"no backup {backup_id!r} at {self.label}",
                                f"`goldfish backups {self.label}` lists the backups there") from None
        except (ValueError, UnicodeDecodeError) as exc:
            from goldfish.faults import FaultError

            raise FaultError(f"the backup manifest {uri} is damaged ({exc})",
                             "restore another backup (`goldfish backups` lists them)",
                             kind="backup") from None
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise InvalidInputError(f"{uri} is not a Goldfish backup manifest",
                                    f"expected format {MANIFEST_FORMAT!r}")
        return data

    def pack_uri(self, name: str) -> str:
        return f"{self.base}/packs/{name}.pack"

    def locations(self, ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Where the manifests (``ids``, default: all) keep each sha256: ``{}`` for a loose
        object, ``{"pack": name, "offset": n}`` for one inside a pack."""
        out: dict[str, dict[str, Any]] = {}
        for backup_id in self.backup_ids() if ids is None else ids:
            manifest = self.read_manifest(backup_id)
            for entry in [*manifest["files"], *manifest["store"]]:
                out[str(entry["sha256"])] = where(entry)
        return out

    def object_uri(self, entry: dict[str, Any]) -> str:
        """The URI holding a manifest entry's bytes (a pack, or its loose object)."""
        pack = entry.get("pack")
        return self.pack_uri(str(pack)) if pack else self.blob_uri(str(entry["sha256"]))


def where(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's placement: its pack and offset, or its encoding as a loose object."""
    if entry.get("pack"):
        return {"pack": entry["pack"], "offset": int(entry["offset"])}
    return {"encoding": entry["encoding"]} if entry.get("encoding") else {}


def local_target(storage: StorageBackend, uri: str) -> Path | None:
    """The file a ``file://`` backend stores ``uri`` in (None for any other backend)."""
    path_of = getattr(storage, "path", None)
    if storage.scheme != "file" or not callable(path_of):
        return None
    return Path(path_of(uri))


def sync_filesystem(path: Path) -> None:
    """Flush the file system holding ``path`` (``syncfs``; ``sync`` where it is missing)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _is_uri(text: str) -> bool:
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isidentifier()


def resolve(project: Project, dest: str | None) -> Destination:
    """``dest`` (None: the configured ``backup.dest`` or ``.goldfish/backups``) as a
    destination; relative folders are relative to the project."""
    if dest is None:
        dest = project.config.get("backup.dest", None) or DEFAULT_DEST
    dest = str(dest)
    if dest.startswith("storage:") and not dest.startswith("storage://"):
        sub = dest[len("storage:"):].strip("/")
        base = project.config.storage.rstrip("/") + "/backups" + (f"/{sub}" if sub else "")
        return _for_uri(project.plugins, project.root, base, base,
                        project.config.storage_settings)
    if _is_uri(dest):
        settings = (project.config.storage_settings
                    if dest.partition("://")[0] == project.config.storage.partition("://")[0]
                    else {})
        return _for_uri(project.plugins, project.root, dest.rstrip("/"), dest, settings)
    path = Path(dest).expanduser()
    path = path if path.is_absolute() else project.root / path
    return folder(project.plugins, project.root, path)


def folder(plugins: Plugins, root: Path, path: Path) -> Destination:
    path = Path(os.path.normpath(path.absolute()))
    return _for_uri(plugins, root, f"file://{path}", str(path), {})


def _for_uri(plugins: Plugins, root: Path, base: str, label: str,
             settings: dict[str, Any]) -> Destination:
    scheme = base.partition("://")[0]
    if base.startswith("file://") and not base.startswith("file:///"):
        # relative to the project (`storage: file://.goldfish/store`): anchored, so the same
        # text restores from anywhere
        base = label = f"file://{os.path.normpath(root / base[len('file://'):])}"
    factory = plugins.storage_backend(scheme).load()
    return Destination(factory(root, dict(settings)), base.rstrip("/"), label)


def locate(plugins: Plugins, root: Path, src: str) -> tuple[Destination, str | None]:
    """A restore source: a destination (folder or URI), or one backup's manifest in it
    (``<dest>/manifests/<id>.json``); the backup id when the source names one."""
    backup_id = None
    text = src.rstrip("/")
    if text.endswith(".json") and "/manifests/" in text:
        head, _, name = text.rpartition("/manifests/")
        text, backup_id = head, name[:-5]
    if _is_uri(text):
        return _for_uri(plugins, root, text, text, {}), backup_id
    path = Path(text).expanduser()
    if not path.is_dir():
        raise NotFoundError(f"no backup at {src} ({path} is not a directory)",
                            "pass the backup folder (e.g. .goldfish/backups of the project) or "
                            "a storage URI")
    dest = folder(plugins, root, path)
    return dest, backup_id
