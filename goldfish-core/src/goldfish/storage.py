"""The storage backend contract: bytes addressed by URI (public API, see docs/plugins.md).

Built-in: ``file://`` (paths relative to the project root are allowed: ``file://.goldfish/store``).
Plugins add ``gs://``, ``s3://``. Content addressing lives above this layer
(:mod:`goldfish.artifacts`), so a backend only moves bytes.

Layout under the project's storage URI ``<base>``: ``<base>/objects/sha256/<2 hex>/<62 hex>``
(output files), ``<base>/trees/sha256/<2>/<62>`` (directory manifests), ``<base>/jobs/<job_id>/``
(reserved for staging jobs of backends that do not share the filesystem). Objects there are
immutable once written, yet ``put`` over an existing URI must replace it. Settings written next to
the URI (``storage: {uri: ..., region: ...}``) are validated by the backend's registered
``config_model`` and passed to the factory as ``config``. The conformance suite is
:class:`goldfish.testing.contracts.StorageBackendContract`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from pydantic import BaseModel

_M = TypeVar("_M", bound="BaseModel")


@runtime_checkable
class StorageBackend(Protocol):
    """Instances are built per project: ``factory(project_root: Path, config: dict)``."""

    scheme: str

    def put(self, uri: str, src: Path | bytes) -> None:
        """Store a file's bytes (or ``bytes``) at ``uri``, atomically: readers never see half."""

    def get(self, uri: str, dest: Path) -> Path:
        """Copy the object at ``uri`` to ``dest``; raises NotFoundError if absent."""

    def open(self, uri: str) -> BinaryIO:
        """Open for binary reading."""

    def exists(self, uri: str) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """Every object URI under ``prefix`` (recursive; ``prefix`` is a directory with or
        without a trailing ``/``), sorted by URI, each usable as is; never a temporary name."""

    def delete(self, uri: str) -> None:
        """Remove ``uri``; absent is not an error."""

    def local_path(self, uri: str) -> Path | None:
        """A path on this machine holding the bytes, if there is one (no copy); else None."""


@dataclass(frozen=True)
class StoredObject:
    """One object found by :func:`scan`: its URI, size in bytes and modification time (seconds
    since the epoch; None when the backend cannot tell)."""

    uri: str
    size: int
    mtime: float | None


def scan(storage: StorageBackend, prefix: str) -> list[StoredObject]:
    """Every object under ``prefix`` with its size and age, for gc and du.

    A backend may offer ``scan(prefix) -> list[StoredObject]`` (optional, like ``put_many``): the
    filesystem backend walks the directory once. Otherwise ``list`` names the objects and each is
    sized through ``local_path`` or by seeking to the end of ``open``.
    """
    fast = getattr(storage, "scan", None)
    if callable(fast):
        found: list[StoredObject] = fast(prefix)
        return found
    out: list[StoredObject] = []
    for uri in storage.list(prefix):
        local = storage.local_path(uri)
        if local is not None:
            try:
                st = local.stat()
            except FileNotFoundError:
                continue
            out.append(StoredObject(uri, st.st_size, st.st_mtime))
            continue
        try:
            with storage.open(uri) as fh:
                size = fh.seek(0, 2)
        except Exception:  # gone between list and open, or a stream that cannot seek
            size = 0
        out.append(StoredObject(uri, size, None))
    return out


def split_bucket_uri(uri: str, scheme: str) -> tuple[str, str]:
    """``<scheme>://bucket/key`` → ``(bucket, key)`` for object stores (``gs``, ``s3``); a bad
    URI says what a good one looks like."""
    from goldfish.errors import InvalidInputError

    prefix = f"{scheme}://"
    if not isinstance(uri, str) or not uri.startswith(prefix):
        raise InvalidInputError(f"{uri!r} is not {'an' if scheme[0] in 'aeiosx' else 'a'} "
                                f"{prefix} URI", f"write {prefix}bucket/path")
    bucket, _, key = uri[len(prefix):].partition("/")
    if not bucket:
        raise InvalidInputError(f"{uri!r} names no bucket", f"write {prefix}bucket/path")
    return bucket, key


def validate_settings(model: type[_M], config: dict[str, Any] | None, scheme: str) -> _M:
    """The settings beside a storage URI, validated by a backend's pydantic ``model`` (the config
    loader has done it already; a backend built directly does it again here); the first error
    names the setting and where to fix it."""
    from pydantic import ValidationError

    from goldfish.errors import InvalidInputError

    try:
        return model.model_validate(dict(config or {}))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "storage"
        raise InvalidInputError(
            f"{scheme}:// storage setting storage.{where}: {first['msg']}",
            "fix it beside `uri:` under `storage:` in goldfish.yaml; the settings are "
            "listed in docs/config.md (Storage backend settings)") from None
