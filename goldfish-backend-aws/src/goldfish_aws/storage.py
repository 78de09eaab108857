"""The ``s3://`` storage backend: objects in Amazon S3 or an S3-compatible store (MinIO, R2).

URIs: ``s3://bucket/path/to/object``. boto3 is imported on first use, never at plugin discovery
nor by commands that do not touch storage. Settings (:class:`~goldfish_aws.settings.S3Settings`)
sit beside the URI: ``storage: {uri: s3://bucket/prefix, region: ..., profile: ...,
endpoint_url: ..., multipart_threshold_mb: 8, max_concurrency: 8, parallel_transfers: 8}``.

Credentials come only from boto3's standard chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``/``profile``, ``~/.aws``, an instance role); they are never a setting and never
written anywhere by Goldfish: no message of this module shows a key or a signature.

An S3 PUT, and the completion of a multipart upload, is atomic (an object appears whole or not
at all), so ``put`` needs no temp object. Objects larger than ``multipart_threshold_mb`` move in
parts of ``multipart_chunk_mb``, ``max_concurrency`` at once (boto3's transfer manager), both
ways; :meth:`S3Storage.put_many` uploads many objects in parallel threads. Faults are named with
the bucket and key and what to do: a missing bucket, access denied, missing credentials, an
endpoint that does not answer.
"""

from __future__ import annotations

import builtins
import functools
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError
from goldfish.storage import StoredObject, split_bucket_uri, validate_settings

PREFIX = "s3://"
MB = 1024 * 1024
#: Error codes S3 (and compatible stores) answer when the credentials may not do something.
DENIED = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem",
                    "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                    "ExpiredToken", "TokenRefreshRequired", "InvalidSecurity"})
MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
#: Downloads started over when the object was replaced during one (see ``_download``).
REPLACED_RETRIES = 5
REPLACED = "did not match expected ETag"  # s3transfer's words for a 412 between two parts


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; a bad URI says what a good one looks like."""
    return split_bucket_uri(uri, "s3")


@functools.cache
def _client(region: str | None, profile: str | None, endpoint_url: str | None,
            addressing_style: str, connect_timeout: float, max_attempts: int,
            pool: int) -> Any:
    """One S3 client per distinct setting (clients are thread-safe; sessions are not)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise GoldfishError(f"s3:// storage: AWS profile {profile!r} is not in ~/.aws/config "
                            "or ~/.aws/credentials",
                            "fix storage.profile in goldfish.yaml, or create the profile with "
                            f"`aws configure --profile {profile}`") from None
    config = Config(s3={"addressing_style": addressing_style}, connect_timeout=connect_timeout,
                    read_timeout=max(60.0, connect_timeout), max_pool_connections=pool,
                    retries={"max_attempts": max_attempts, "mode": "standard"})
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3Storage:
    """Objects in an S3 bucket (see the module docstring)."""

    scheme = "s3"
    #: keys per listing request (S3's maximum; tests lower it to see the paging)
    list_page = 1000

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        """``config`` is the settings beside the URI (:class:`~goldfish_aws.settings.S3Settings`,
        validated by the config loader; validated again here for direct use)."""
        from goldfish_aws.settings import S3Settings

        self.project_root = Path(project_root)
        settings = validate_settings(S3Settings, config, self.scheme)
        self.settings = settings
        self.config = settings.model_dump()
        self.multipart_threshold = int(settings.multipart_threshold_mb * MB)
        self.parallel = settings.parallel_transfers

    # --- plumbing -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        s = self.settings
        pool = max(10, s.max_concurrency + s.parallel_transfers)
        return _client(s.region, s.profile, s.endpoint_url, s.addressing_style,
                       s.connect_timeout_seconds, s.max_attempts, pool)

    @functools.cached_property
    def transfer(self) -> Any:
        """boto3's TransferConfig: multipart above the threshold, parts moved in threads."""
        from boto3.s3.transfer import TransferConfig

        s = self.settings
        return TransferConfig(multipart_threshold=self.multipart_threshold,
                              multipart_chunksize=int(s.multipart_chunk_mb * MB),
                              max_concurrency=s.max_concurrency, use_threads=True)

    def _where(self) -> str:
        return self.settings.endpoint_url or "AWS S3"

    def _named(self, exc: BaseException, uri: str, action: str) -> BaseException:
        """The boto3/botocore fault ``exc`` as a GoldfishError naming the bucket, the key and
        the fix; anything else comes back unchanged."""
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )
        from s3transfer.exceptions import RetriesExceededError, S3DownloadFailedError

        bucket, key = split_uri(uri)
        if isinstance(exc, RetriesExceededError) and isinstance(exc.last_exception, Exception):
            exc = exc.last_exception
        if isinstance(exc, S3DownloadFailedError):
            if REPLACED in str(exc):
                return GoldfishError(f"{uri} was replaced {REPLACED_RETRIES} times while it "
                                     "was being read", "something keeps rewriting it; read it "
                                     "again once the writer is done")
            return GoldfishError(f"could not {action} {uri}: {exc}",
                                 "try again; if it persists, check the endpoint and bucket")
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return GoldfishError(
                f"no AWS credentials to {action} {uri}",
                "boto3 looks in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or "
                "storage.profile), ~/.aws/credentials and the instance role: set one of them "
                "(`aws configure`); Goldfish never stores keys")
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError
                      | ConnectionError):
            return GoldfishError(
                f"cannot reach the S3 endpoint {self._where()} to {action} {uri} "
                f"({type(exc).__name__})",
                "check storage.endpoint_url in goldfish.yaml and that the store is running and "
                "reachable from here" if self.settings.endpoint_url else
                "check the network and storage.region in goldfish.yaml")
        if not isinstance(exc, ClientError):
            return exc
        error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {})
                   .get("HTTPStatusCode", "?"))
        if code == "NoSuchBucket":
            return self._no_bucket(bucket, uri, action)
        if code in DENIED:
            return GoldfishError(
                f"access denied to {action} {uri} (S3 said {code})",
                f"check which identity boto3 uses (`aws sts get-caller-identity`"
                f"{' --profile ' + self.settings.profile if self.settings.profile else ''}) "
                f"and that it may s3:ListBucket on {bucket} and s3:GetObject, s3:PutObject, "
                f"s3:DeleteObject on {bucket}/{key.rsplit('/', 1)[0] if '/' in key else key}*")
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "301",
                    "IllegalLocationConstraintException"):
            return GoldfishError(f"bucket {bucket} is in another region than the client's "
                                 f"(S3 said {code}) while trying to {action} {uri}",
                                 "set storage.region in goldfish.yaml to the bucket's region")
        detail = str(error.get("Message") or "")[:200]
        return GoldfishError(f"S3 refused to {action} {uri}: {code}" +
                             (f": {detail}" if detail else ""),
                             "check the bucket, the credentials boto3 finds and "
                             "storage.endpoint_url/region in goldfish.yaml")

    def _no_bucket(self, bucket: str, uri: str, action: str) -> GoldfishError:
        return GoldfishError(
            f"S3 bucket {bucket!r} does not exist (on {self._where()}), so cannot {action} {uri}",
            f"create it (`aws s3 mb s3://{bucket}`"
            f"{' --endpoint-url ' + self.settings.endpoint_url if self.settings.endpoint_url else ''}"
            ") or fix the bucket in `storage:` of goldfish.yaml")

    def _is_missing(self, exc: BaseException) -> bool:
        from botocore.exceptions import ClientError

        if not isinstance(exc, ClientError):
            return False
        error = exc.response.get("Error", {})
        return str(error.get("Code")) in MISSING or \
            exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404

    def _not_found(self, uri: str, action: str) -> GoldfishError:
        """A 404 on an object: the object is missing, or its whole bucket is (HEAD cannot
        tell; one more request on this path only says which)."""
        bucket, _ = split_uri(uri)
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception as exc:
            if self._is_missing(exc):
                return self._no_bucket(bucket, uri, action)
            named = self._named(exc, uri, action)
            if isinstance(named, GoldfishError):
                return named
        return NotFoundError(f"no object at {uri}",
                             "check the URI; list the prefix to see what is stored")

    def _object(self, uri: str) -> tuple[str, str]:
        bucket, key = split_uri(uri)
        if not key or key.endswith("/"):
            raise InvalidInputError(f"{uri!r} names no object", "write s3://bucket/path/object")
        return bucket, key

    def _download(self, bucket: str, key: str, sink: Callable[[], BinaryIO]) -> BinaryIO:
        """Download into a fresh ``sink()`` (rewound, open), in parallel ranged parts when large.
        The parts are pinned to one ETag; an object replaced meanwhile (a concurrent ``put``)
        fails that check, and the download starts over on the new version."""
        from s3transfer.exceptions import S3DownloadFailedError

        for attempt in range(REPLACED_RETRIES):
            fh = sink()
            try:
                self.client.download_fileobj(bucket, key, fh, Config=self.transfer)
                fh.seek(0)
                return fh
            except S3DownloadFailedError as exc:
                fh.close()
                if REPLACED not in str(exc) or \
                        attempt == REPLACED_RETRIES - 1:
                    raise
            except BaseException:
                fh.close()
                raise
        raise AssertionError("unreachable")

    # --- the contract ---------------------------------------------------------------------
    def put(self, uri: str, src: Path | bytes) -> None:
        bucket, key = self._object(uri)
        try:
            if isinstance(src, bytes | bytearray | memoryview):
                data = bytes(src)
                if len(data) > self.multipart_threshold:
                    self.client.upload_fileobj(io.BytesIO(data), bucket, key,
                                               Config=self.transfer)
                else:
                    self.client.put_object(Bucket=bucket, Key=key, Body=data)
                return
            path = Path(src)
            if not path.is_file():
                raise NotFoundError(f"cannot store {path} at {uri}: no such file")
            if path.stat().st_size > self.multipart_threshold:
                self.client.upload_file(str(path), bucket, key, Config=self.transfer)
            else:
                self.client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        except GoldfishError:
            raise
        except Exception as exc:
            raise self._named(exc, uri, "write") from None

    def put_many(self, items: Iterable[tuple[str, Path | bytes]]) -> None:
        """Upload many objects in parallel (the first error is raised after all finished)."""
        with ThreadPoolExecutor(max_workers=max(1, self.parallel)) as pool:
            for future in [pool.submit(self.put, uri, src) for uri, src in items]:
                future.result()

    def get(self, uri: str, dest: Path) -> Path:
        bucket, key = self._object(uri)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".goldfish-tmp-{os.getpid()}-{dest.name}")
        try:
            self._download(bucket, key, lambda: tmp.open("w+b")).close()
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if not isinstance(exc, Exception):
                raise
            if self._is_missing(exc):
                raise self._not_found(uri, "read") from None
            raise self._named(exc, uri, "read") from None
        os.replace(tmp, dest)
        return dest

    def open(self, uri: str) -> BinaryIO:
        """Small objects come back in memory; large ones spooled to a temporary file (moved in
        parallel parts), so reading a big output never holds it all in memory."""
        bucket, key = self._object(uri)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            with response["Body"] as body:
                if int(response.get("ContentLength") or 0) <= self.multipart_threshold:
                    return io.BytesIO(body.read())  # one request for the common small case
            return self._download(bucket, key,
                                  lambda: tempfile.TemporaryFile(prefix="goldfish-s3-"))
        except Exception as exc:
            if self._is_missing(exc):
                raise self._not_found(uri, "read") from None
            raise self._named(exc, uri, "read") from None

    def read(self, uri: str) -> bytes | None:
        """The object's bytes, or None when it is absent (one request, no ``exists`` first)."""
        bucket, key = self._object(uri)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            with body:
                return bytes(body.read())
        except Exception as exc:
            if self._is_missing(exc):
                return None
            raise self._named(exc, uri, "read") from None

    def exists(self, uri: str) -> bool:
        bucket, key = self._object(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
            return True
        except Exception as exc:
            if self._is_missing(exc):
                return False
            raise self._named(exc, uri, "look up") from None

    def _listing(self, prefix: str) -> builtins.list[tuple[str, int]]:
        """Every object under ``prefix`` (directory-style) with its size, as S3 lists them."""
        bucket, key = split_uri(prefix)
        if key and not key.endswith("/"):
            key += "/"  # directory-style, like the file:// backend
        out: builtins.list[tuple[str, int]] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=key, PaginationConfig={"PageSize": self.list_page})
            for page in pages:
                out += [(f"{PREFIX}{bucket}/{item['Key']}", int(item.get("Size") or 0))
                        for item in page.get("Contents", ())]
        except Exception as exc:
            raise self._named(exc, prefix, "list") from None
        return sorted(out)

    def list(self, prefix: str) -> list[str]:
        return [uri for uri, _ in self._listing(prefix)]

    def scan(self, prefix: str) -> builtins.list[StoredObject]:
        """Sizes from the listing itself (:func:`goldfish.storage.scan` would otherwise open,
        i.e. download, every object for gc and du). No mtime: a ``put`` of an object already
        stored does not refresh its age here, so gc treats these objects as ageless."""
        return [StoredObject(uri, size, None) for uri, size in self._listing(prefix)]

    def delete(self, uri: str) -> None:
        bucket, key = self._object(uri)
        try:
            self.client.delete_object(Bucket=bucket, Key=key)  # absent: S3 answers 204 too
        except Exception as exc:
            if self._is_missing(exc):
                return
            raise self._named(exc, uri, "delete") from None

    def local_path(self, uri: str) -> Path | None:
        return None

