"""The ``gs://`` storage backend: objects in Google Cloud Storage.

URIs: ``gs://bucket/path/to/object``. google-cloud-storage is imported on first use, never at
plugin discovery. Settings (:class:`~goldfish_gce.settings.GcsSettings`) sit beside the URI:
``storage: {uri: gs://bucket/prefix, project: ..., credentials_file: ..., parallel_transfers: 8}``;
``project`` and ``credentials_file`` left unset fall back to the ``gce:`` section. Credentials are
Application Default Credentials unless ``credentials_file`` names a service-account key; with
``STORAGE_EMULATOR_HOST`` set (the GCS emulator, tests) the client is anonymous.

A GCS upload is atomic by itself (an object appears whole or not at all), so ``put`` needs no
temp object. Objects larger than ``resumable_threshold_mb`` go up as resumable uploads in chunks
(an interrupted chunk is retried, not the whole file); :meth:`GcsStorage.put_many` moves many small
objects in parallel threads.
"""

from __future__ import annotations

import builtins
import functools
import io
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError
from goldfish.storage import StoredObject, split_bucket_uri, validate_settings

PREFIX = "gs://"
CHUNK_MB = 8


def split_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/key`` → ``(bucket, key)``; a bad URI says what a good one looks like."""
    return split_bucket_uri(uri, "gs")


@functools.cache
def _client(project: str | None, credentials_file: str | None) -> Any:
    from google.cloud import storage  # type: ignore[attr-defined]

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "goldfish-emulator",
                              credentials=AnonymousCredentials())
    if credentials_file:
        return storage.Client.from_service_account_json(credentials_file, project=project)
    try:
        return storage.Client(project=project)
    except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and kin
        raise GoldfishError(
            f"no Google Cloud credentials for gs:// storage ({type(exc).__name__})",
            "run `gcloud auth application-default login`, or set credentials_file to a "
            "service-account key in goldfish.yaml") from None


class GcsStorage:
    """Objects in a GCS bucket (see the module docstring)."""

    scheme = "gs"

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        """``config`` is the settings beside the URI (:class:`~goldfish_gce.settings.GcsSettings`,
        validated by the config loader); ``project`` and ``credentials_file`` left unset come
        from the ``gce:`` section of the project's goldfish.yaml."""
        from goldfish_gce.settings import GcsSettings, project_settings

        self.project_root = Path(project_root)
        settings = validate_settings(GcsSettings, config, self.scheme)
        if settings.project is None or settings.credentials_file is None:
            section = project_settings(self.project_root)  # compatibility: the gce: section
            if settings.project is None:
                settings.project = section.get("project_id")
            if settings.credentials_file is None:
                settings.credentials_file = section.get("credentials_file")
        if settings.credentials_file and not os.path.isabs(settings.credentials_file):
            settings.credentials_file = str(self.project_root / settings.credentials_file)
        self.settings = settings
        self.config = settings.model_dump()
        self.resumable_threshold = int(settings.resumable_threshold_mb * 1024 * 1024)
        self.parallel = settings.parallel_transfers

    @property
    def client(self) -> Any:
        key = self.settings.credentials_file
        if key and not os.environ.get("STORAGE_EMULATOR_HOST") and not Path(key).is_file():
            raise GoldfishError(f"gs:// storage: credentials_file {key} does not exist",
                                "fix storage.credentials_file (or gce.credentials_file) in "
                                "goldfish.yaml, or remove it to use Application Default "
                                "Credentials")
        return _client(self.settings.project, self.settings.credentials_file)

    def _blob(self, uri: str) -> Any:
        bucket, key = split_uri(uri)
        if not key or key.endswith("/"):
            raise InvalidInputError(f"{uri!r} names no object", "write gs://bucket/path/object")
        return self.client.bucket(bucket).blob(key)

    def put(self, uri: str, src: Path | bytes) -> None:
        blob = self._blob(uri)
        if isinstance(src, bytes | bytearray | memoryview):
            data, size = bytes(src), len(src)
        else:
            path = Path(src)
            if not path.is_file():
                raise NotFoundError(f"cannot store {path} at {uri}: no such file")
            data, size = None, path.stat().st_size
        if size > self.resumable_threshold:
            blob.chunk_size = CHUNK_MB * 1024 * 1024  # resumable, chunk by chunk
        if data is not None:
            blob.upload_from_file(io.BytesIO(data), size=size, rewind=True)
        else:
            blob.upload_from_filename(str(src))

    def put_many(self, items: Iterable[tuple[str, Path | bytes]]) -> None:
        """Upload many objects in parallel (the first error is raised after all finished)."""
        with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
            for future in [pool.submit(self.put, uri, src) for uri, src in items]:
                future.result()

    def _not_found(self, uri: str) -> NotFoundError:
        return NotFoundError(f"no object at {uri}",
                             "check the URI; list the prefix to see what is stored")

    def get(self, uri: str, dest: Path) -> Path:
        from google.api_core.exceptions import NotFound

        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".goldfish-tmp-{os.getpid()}-{dest.name}")
        try:
            self._blob(uri).download_to_filename(str(tmp))
        except NotFound:
            tmp.unlink(missing_ok=True)
            raise self._not_found(uri) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, dest)
        return dest

    def open(self, uri: str) -> BinaryIO:
        from google.api_core.exceptions import NotFound

        try:
            return io.BytesIO(self._blob(uri).download_as_bytes())
        except NotFound:
            raise self._not_found(uri) from None

    def read(self, uri: str) -> bytes | None:
        """The object's bytes, or None when it is absent (one request, no ``exists`` first)."""
        from google.api_core.exceptions import NotFound

        try:
            return bytes(self._blob(uri).download_as_bytes())
        except NotFound:
            return None

    def exists(self, uri: str) -> bool:
        return bool(self._blob(uri).exists())

    def _listing(self, prefix: str) -> list[tuple[str, int]]:
        """Every object under ``prefix`` (directory-style) with its size, as GCS lists them."""
        bucket, key = split_uri(prefix)
        if key and not key.endswith("/"):
            key += "/"  # directory-style, like the file:// backend
        return sorted((f"{PREFIX}{bucket}/{blob.name}", int(blob.size or 0))
                      for blob in self.client.list_blobs(bucket, prefix=key or None))

    def list(self, prefix: str) -> list[str]:
        return [uri for uri, _ in self._listing(prefix)]

    def scan(self, prefix: str) -> builtins.list[StoredObject]:
        """Sizes from the listing itself (:func:`goldfish.storage.scan` would otherwise open,
        i.e. download, every object for gc and du). No mtime, as before: gc counts the grace of
        these objects from the first gc that saw them unreferenced."""
        return [StoredObject(uri, size, None) for uri, size in self._listing(prefix)]

    def delete(self, uri: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._blob(uri).delete()
        except NotFound:
            pass

    def local_path(self, uri: str) -> Path | None:
        return None
