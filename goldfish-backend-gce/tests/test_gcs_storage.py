from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from goldfish.testing.contracts import StorageBackendContract
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator


class TestGcsStorage(StorageBackendContract):
    @pytest.fixture
    def storage_backend(self, gcs_emulator: GcsEmulator, tmp_path: Path) -> GcsStorage:
        # a low threshold so the contract's 3 MB object goes up as a resumable upload
        return GcsStorage(tmp_path, {"resumable_threshold_mb": 1})

    @pytest.fixture
    def storage_root(self) -> str:
        return f"gs://goldfish-test/contract-{uuid.uuid4().hex}"


def test_put_many_uploads_every_object(gcs_emulator: GcsEmulator, tmp_path: Path) -> None:
    storage = GcsStorage(tmp_path, {})
    root = f"gs://goldfish-test/many-{uuid.uuid4().hex}"
    storage.put_many((f"{root}/{i}", str(i).encode()) for i in range(40))
    listed = storage.list(root)
    assert len(listed) == 40
    assert storage.open(f"{root}/17").read() == b"17"


def test_bad_uri_names_the_form(tmp_path: Path) -> None:
    from goldfish.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="gs://bucket/path"):
        GcsStorage(tmp_path, {}).exists("s3://x/y")
