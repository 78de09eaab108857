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


def test_settings_come_from_the_gce_section(tmp_path: Path) -> None:
    (tmp_path / "goldfish.yaml").write_text(
        "project: lab\nstorage: gs://b/p\ngce: {project_id: my-proj, credentials_file: /k.json}\n")
    storage = GcsStorage(tmp_path, {})
    assert storage.config["project"] == "my-proj"
    assert storage.config["credentials_file"] == "/k.json"
    assert GcsStorage(tmp_path, {"project": "explicit"}).config["project"] == "explicit"
