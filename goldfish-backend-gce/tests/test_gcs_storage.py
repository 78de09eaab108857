from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

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


# --- settings beside the URI (storage: {uri: gs://..., project: ..., ...}) --------------------

@pytest.fixture
def gce_plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    import goldfish_gce.plugin as gce_plugin

    register_goldfish_plugin(gce_plugin, name="gce")
    return goldfish_plugins


def test_gs_settings_are_validated_with_located_errors(tmp_path: Path, gce_plugins: Any) -> None:
    from goldfish.config import load_config
    from goldfish.errors import ProblemsError

    path = tmp_path / "goldfish.yaml"
    path.write_text("project: lab\nstorage:\n  uri: gs://goldfish-test/p\n  projet: x\n"
                    "  parallel_transfers: 0\n", encoding="utf-8")
    with pytest.raises(ProblemsError) as info:
        load_config(path, gce_plugins)
    shown = {(p.key, p.line): (p.message, p.hint) for p in info.value.problems}
    assert shown[("storage.projet", 4)] == ("unknown key 'projet'", "did you mean 'project'?")
    assert shown[("storage.parallel_transfers", 5)][0] == "expected a value ≥ 1, got 0"
    path.write_text("project: lab\nstorage: {uri: gs://goldfish-test/p, project: billed}\n",
                    encoding="utf-8")
    assert load_config(path, gce_plugins).storage_settings == {
        "project": "billed", "credentials_file": None, "parallel_transfers": 8,
        "resumable_threshold_mb": 8.0}


def test_the_store_uses_the_storage_settings_against_the_emulator(
        tmp_path: Path, gce_plugins: Any, gcs_emulator: GcsEmulator) -> None:
    from goldfish.artifacts import ArtifactStore
    from goldfish.init import init_project
    from goldfish.project import Project

    project = init_project(tmp_path / "lab", name="lab", plugins=gce_plugins)
    base = f"gs://goldfish-test/settings-{uuid.uuid4().hex[:8]}"
    project.config_path.write_text(
        f"project: lab\ngce: {{project_id: from-gce, credentials_file: gce-key.json}}\n"
        f"storage:\n  uri: {base}\n  project: from-storage\n  parallel_transfers: 3\n"
        f"  resumable_threshold_mb: 0.5\n", encoding="utf-8")
    reopened = Project.find(explicit=str(project.root), plugins=gce_plugins)
    store = ArtifactStore.for_project(reopened)
    storage = store.storage
    assert isinstance(storage, GcsStorage)
    assert (storage.settings.project, storage.parallel) == ("from-storage", 3)
    assert storage.resumable_threshold == 512 * 1024
    # unset credentials fall back to the gce: section, resolved against the project
    assert storage.settings.credentials_file == str(project.root / "gce-key.json")
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 4096)  # 1 MB: above the threshold, resumable
    ref = store.store(source)
    assert ref.uri.startswith(f"{base}/objects/sha256/")
    assert storage.open(ref.uri).read() == source.read_bytes()


def test_the_gce_backend_stages_through_the_storage_settings(tmp_path: Path) -> None:
    from goldfish_gce.backend import GceBackend

    (tmp_path / "goldfish.yaml").write_text(
        "project: lab\ngce: {project_id: vm-project}\n"
        "storage: {uri: gs://b/p, project: bucket-project, parallel_transfers: 2}\n")
    backend = GceBackend(tmp_path, {})
    assert backend.storage.settings.project == "bucket-project"
    assert backend.storage.parallel == 2
    (tmp_path / "goldfish.yaml").write_text(
        "project: lab\ngce: {project_id: vm-project}\nstorage: gs://b/p\n")
    assert GceBackend(tmp_path, {}).storage.settings.project == "vm-project"


def test_a_bad_setting_given_directly_names_the_key(tmp_path: Path) -> None:
    from goldfish.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"storage\.parallel_transfers") as info:
        GcsStorage(tmp_path, {"parallel_transfers": "many"})
    assert "goldfish.yaml" in (info.value.hint or "")


def test_a_missing_credentials_file_is_named(tmp_path: Path, monkeypatch: Any) -> None:
    from goldfish.errors import GoldfishError

    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    storage = GcsStorage(tmp_path, {"credentials_file": "keys/sa.json"})
    with pytest.raises(GoldfishError, match=r"credentials_file \S*keys/sa\.json does not exist"):
        storage.exists("gs://b/x")
