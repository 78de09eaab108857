"""The s3:// backend against moto's server over real HTTP: the storage contract, multipart and
parallel transfers, settings from goldfish.yaml, and faults named with the bucket, key and fix."""

from __future__ import annotations

import io
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError
from goldfish.testing.contracts import StorageBackendContract
from goldfish_aws.storage import S3Storage
from goldfish_aws.testing import MotoS3


class TestS3Storage(StorageBackendContract):
    @pytest.fixture
    def storage_backend(self, moto_s3: MotoS3, tmp_path: Path) -> S3Storage:
        # a low threshold so the contract's 3 MB object goes up (and down) in parts
        return S3Storage(tmp_path, moto_s3.settings(multipart_threshold_mb=1,
                                                    multipart_chunk_mb=5))

    @pytest.fixture
    def storage_root(self) -> str:
        return f"s3://goldfish-test/contract-{uuid.uuid4().hex}"


def _uploads(moto_s3: MotoS3, bucket: str) -> list[str]:
    return [u["Key"] for u in moto_s3.client().list_multipart_uploads(Bucket=bucket)
            .get("Uploads", [])]


def test_a_large_object_goes_up_in_parts(moto_s3: MotoS3, tmp_path: Path) -> None:
    storage = S3Storage(tmp_path, moto_s3.settings(multipart_threshold_mb=5,
                                                   multipart_chunk_mb=5, max_concurrency=4))
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(256)) * (12 * 4096 + 7))  # 12 MB + 1.75 KB: three parts
    uri = f"s3://goldfish-test/multipart-{uuid.uuid4().hex}/big.bin"
    storage.put(uri, src)
    _, key = uri[5:].split("/", 1)
    head = moto_s3.client().head_object(Bucket="goldfish-test", Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a 3-part upload
    assert head["ContentLength"] == src.stat().st_size
    with storage.open(uri) as fh:  # above the threshold: spooled, not held in memory
        assert not isinstance(fh, io.BytesIO)
        assert fh.read() == src.read_bytes()
    small = f"s3://goldfish-test/multipart-{uuid.uuid4().hex}/small"
    storage.put(small, b"x" * 1024)
    head = moto_s3.client().head_object(Bucket="goldfish-test",
                                        Key=small[len("s3://goldfish-test/"):])
    assert "-" not in head["ETag"].strip('"')  # below the threshold: one PUT
    assert _uploads(moto_s3, "goldfish-test") == []  # nothing left half-written


def test_put_many_uploads_every_object_in_parallel(moto_s3: MotoS3, tmp_path: Path) -> None:
    storage = S3Storage(tmp_path, moto_s3.settings(parallel_transfers=6))
    threads: set[int] = set()
    put = storage.put

    def put_in_thread(uri: str, src: Path | bytes) -> None:  # the real put, its thread noted
        threads.add(threading.get_ident())
        put(uri, src)

    storage.put = put_in_thread  # type: ignore[method-assign]
    root = f"s3://goldfish-test/many-{uuid.uuid4().hex}"
    storage.put_many((f"{root}/{i}", str(i).encode()) for i in range(40))
    assert 1 < len(threads) <= 6 and threading.get_ident() not in threads
    assert len(storage.list(root)) == 40
    assert storage.open(f"{root}/17").read() == b"17"
    assert storage.read(f"{root}/18") == b"18" and storage.read(f"{root}/none") is None


def test_list_follows_every_page(moto_s3: MotoS3, tmp_path: Path) -> None:
    storage = S3Storage(tmp_path, moto_s3.settings())
    storage.list_page = 4  # S3 pages by 1000 keys; 4 shows the same paging with 11
    root = f"s3://goldfish-test/pages-{uuid.uuid4().hex}"
    storage.put_many((f"{root}/{i:02d}", b"") for i in range(11))
    assert storage.list(root) == [f"{root}/{i:02d}" for i in range(11)]


def test_bad_uri_names_the_form(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="s3://bucket/path"):
        S3Storage(tmp_path, {}).exists("gs://x/y")
    with pytest.raises(InvalidInputError, match="names no object"):
        S3Storage(tmp_path, {}).put("s3://bucket/", b"")


def test_a_bad_setting_given_directly_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError,
                       match=r"^s3:// storage setting storage\.multipart_chunk_mb") as info:
        S3Storage(tmp_path, {"multipart_chunk_mb": 1})
    assert "goldfish.yaml" in (info.value.hint or "")


# --- faults ----------------------------------------------------------------------------------


def test_a_missing_bucket_is_named_with_the_fix(moto_s3: MotoS3, tmp_path: Path) -> None:
    storage = S3Storage(tmp_path, moto_s3.settings())
    uri = "s3://no-such-bucket-goldfish/store/objects/a"
    for action in (lambda: storage.put(uri, b"x"), lambda: storage.get(uri, tmp_path / "g"),
                   lambda: storage.open(uri),
                   lambda: storage.list("s3://no-such-bucket-goldfish/store")):
        with pytest.raises(GoldfishError) as info:
            action()
        assert not isinstance(info.value, NotFoundError)
        assert "bucket 'no-such-bucket-goldfish' does not exist" in info.value.message
        assert "aws s3 mb s3://no-such-bucket-goldfish" in (info.value.hint or "")
        assert f"--endpoint-url {moto_s3.endpoint}" in (info.value.hint or "")
    assert not (tmp_path / "g").exists()
    assert not list(tmp_path.glob(".goldfish-tmp-*"))
    with pytest.raises(NotFoundError, match="no object at s3://goldfish-test/absent"):
        storage.get("s3://goldfish-test/absent", tmp_path / "g")  # the bucket is there


def test_access_denied_names_the_uri_and_the_permissions(moto_s3: MotoS3,
                                                         tmp_path: Path) -> None:
    import boto3

    iam = boto3.client("iam", endpoint_url=moto_s3.endpoint, region_name="us-east-1")
    user = f"reader-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)  # no policy at all: every S3 call is denied
    key = iam.create_access_key(UserName=user)["AccessKey"]
    storage = S3Storage(tmp_path, moto_s3.settings())
    uri = "s3://goldfish-test/denied/objects/x"
    import os

    saved = {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = key["AccessKeyId"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = key["SecretAccessKey"]
    try:
        from goldfish_aws import storage as module

        module._client.cache_clear()  # a client keeps the credentials it was built with
        with moto_s3.enforcing_auth():
            for action in (lambda: storage.put(uri, b"x"), lambda: storage.exists(uri)):
                with pytest.raises(GoldfishError) as info:
                    action()
                assert info.value.message.startswith("access denied to")
                # a PUT says AccessDenied; a HEAD has no body, only its status
                assert re.search(r"\(S3 said (AccessDenied|403)\)$", info.value.message)
                assert uri in info.value.message
                assert "aws sts get-caller-identity" in (info.value.hint or "")
                assert "s3:PutObject" in (info.value.hint or "")
                assert key["SecretAccessKey"] not in str(info.value)
    finally:
        os.environ.update(saved)
        module._client.cache_clear()


def test_an_unreachable_endpoint_is_named(tmp_path: Path, moto_s3: MotoS3) -> None:
    import socket

    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{bound.getsockname()[1]}"
        storage = S3Storage(tmp_path, {"endpoint_url": endpoint, "max_attempts": 1,
                                       "connect_timeout_seconds": 1})
        with pytest.raises(GoldfishError) as info:
            storage.put("s3://goldfish-test/x", b"x")
    assert info.value.message.startswith(f"cannot reach the S3 endpoint {endpoint} to write "
                                         "s3://goldfish-test/x")
    assert "storage.endpoint_url" in (info.value.hint or "")


def test_missing_credentials_are_named(tmp_path: Path, moto_s3: MotoS3,
                                       monkeypatch: Any) -> None:
    from goldfish_aws import storage as module

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    module._client.cache_clear()
    try:
        with pytest.raises(GoldfishError) as info:
            S3Storage(tmp_path, moto_s3.settings()).exists("s3://goldfish-test/x")
    finally:
        module._client.cache_clear()
    assert info.value.message == "no AWS credentials to look up s3://goldfish-test/x"
    assert "AWS_ACCESS_KEY_ID" in (info.value.hint or "")


def test_an_unknown_profile_is_named(tmp_path: Path, moto_s3: MotoS3) -> None:
    with pytest.raises(GoldfishError, match="AWS profile 'nobody' is not in"):
        S3Storage(tmp_path, moto_s3.settings(profile="nobody")).exists("s3://goldfish-test/x")


# --- settings beside the URI (storage: {uri: s3://..., region: ..., ...}) --------------------


def test_s3_settings_are_validated_with_located_errors(tmp_path: Path) -> None:
    from aws_support import aws_plugins
    from goldfish.config import load_config
    from goldfish.errors import ProblemsError

    path = tmp_path / "goldfish.yaml"
    path.write_text("project: lab\nstorage:\n  uri: s3://goldfish-test/p\n  regoin: eu-west-1\n"
                    "  multipart_chunk_mb: 1\n  endpoint_url: localhost:9000\n",
                    encoding="utf-8")
    with pytest.raises(ProblemsError) as info:
        load_config(path, aws_plugins())
    shown = {(p.key, p.line): (p.message, p.hint) for p in info.value.problems}
    assert shown[("storage.regoin", 4)] == ("unknown key 'regoin'", "did you mean 'region'?")
    assert shown[("storage.multipart_chunk_mb", 5)][0] == "expected a value ≥ 5.0, got 1"
    assert ("storage.endpoint_url", 6) in shown
    path.write_text("project: lab\nstorage: {uri: s3://goldfish-test/p, region: eu-west-1, "
                    "max_concurrency: 3}\n", encoding="utf-8")
    settings = load_config(path, aws_plugins()).storage_settings
    assert settings["region"] == "eu-west-1" and settings["max_concurrency"] == 3
    assert settings["multipart_threshold_mb"] == 8.0 and "aws_secret_access_key" not in settings


def test_the_store_uses_the_settings_of_goldfish_yaml(moto_s3: MotoS3, tmp_path: Path) -> None:
    from aws_support import aws_plugins, aws_project
    from goldfish.artifacts import ArtifactStore
    from goldfish.project import Project

    base = f"s3://goldfish-test/settings-{uuid.uuid4().hex[:8]}"
    root = aws_project(tmp_path, storage={"uri": base, **moto_s3.settings(
        multipart_threshold_mb=5, multipart_chunk_mb=5, max_concurrency=3,
        parallel_transfers=2, addressing_style="path")})
    store = ArtifactStore.for_project(Project(root, plugins=aws_plugins()))
    storage = store.storage
    assert isinstance(storage, S3Storage)
    assert (storage.multipart_threshold, storage.parallel) == (5 * 1024 * 1024, 2)
    assert storage.transfer.max_request_concurrency == 3
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * (24 * 1024 + 1))  # 6 MB + 256 B: two parts
    ref = store.store(source)
    assert ref.uri.startswith(f"{base}/objects/sha256/")
    head = moto_s3.client().head_object(Bucket="goldfish-test", Key=ref.uri.split("/", 3)[3])
    assert head["ETag"].strip('"').endswith("-2")
    with store.open(ref.digest) as fh:
        assert fh.read() == source.read_bytes()
