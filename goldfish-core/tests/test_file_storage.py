"""The built-in file:// storage: the storage contract plus URI rules specific to local paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from goldfish import plugins
from goldfish.builtins.file_storage import FileStorage
from goldfish.errors import InvalidInputError, NotFoundError
from goldfish.testing.contracts import StorageBackendContract


class TestFileStorageRelative(StorageBackendContract):
    """URIs relative to the project root, as goldfish.yaml writes them."""

    @pytest.fixture
    def storage_backend(self, tmp_path: Path) -> FileStorage:
        (tmp_path / "project").mkdir()
        return FileStorage(tmp_path / "project", {})

    @pytest.fixture
    def storage_root(self) -> str:
        return "file://.goldfish/store"


class TestFileStorageAbsolute(StorageBackendContract):
    @pytest.fixture
    def storage_backend(self, tmp_path: Path) -> FileStorage:
        return FileStorage(tmp_path / "elsewhere", {})

    @pytest.fixture
    def storage_root(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}/abs-store"


def test_relative_uris_resolve_under_the_project(tmp_path: Path) -> None:
    store = FileStorage(tmp_path, {})
    store.put("file://data/x.bin", b"12")
    assert (tmp_path / "data" / "x.bin").read_bytes() == b"12"
    assert store.local_path("file://data/x.bin") == tmp_path / "data" / "x.bin"
    assert store.path(f"file://{tmp_path}/data/x.bin") == tmp_path / "data" / "x.bin"


@pytest.mark.parametrize("uri", ["file://../outside", "file://a/../../outside",
                                 "file://.goldfish/../../etc/passwd"])
def test_relative_uris_may_not_escape_the_project(tmp_path: Path, uri: str) -> None:
    store = FileStorage(tmp_path / "p", {})
    for call in (lambda: store.put(uri, b"x"), lambda: store.exists(uri),
                 lambda: store.list(uri), lambda: store.delete(uri)):
        with pytest.raises(InvalidInputError) as excinfo:
            call()
        assert uri in str(excinfo.value) and "outside the project" in str(excinfo.value)
    assert not (tmp_path / "outside").exists()


def test_non_file_uris_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        FileStorage(tmp_path, {}).put("gs://bucket/x", b"x")
    assert "gs://bucket/x" in str(excinfo.value)


def test_temp_files_of_an_interrupted_put_are_never_listed(tmp_path: Path) -> None:
    store = FileStorage(tmp_path, {})
    store.put("file://s/kept", b"1")
    (tmp_path / "s" / ".goldfish-tmp-0123-kept").write_bytes(b"half")  # as a crash leaves it
    assert store.list("file://s") == ["file://s/kept"]


def test_failed_put_leaves_nothing(tmp_path: Path) -> None:
    store = FileStorage(tmp_path, {})
    with pytest.raises(NotFoundError) as excinfo:
        store.put("file://s/obj", tmp_path / "no-such-source")
    assert "no-such-source" in str(excinfo.value)
    assert store.list("file://s") == []


def test_list_prefix_root_forms(tmp_path: Path) -> None:
    store = FileStorage(tmp_path, {})
    store.put("file://a/b", b"1")
    assert store.list("file://") == ["file://a/b"]
    assert store.list("file://a/b") == ["file://a/b"]
    absolute = FileStorage(Path("/"), {})
    assert f"file://{tmp_path}/a/b" in absolute.list(f"file://{tmp_path}/a")


def test_registered_as_the_file_scheme() -> None:
    manager = plugins.build(load_entry_points=False)
    factory = manager.storage_backend("file").load()
    assert factory is FileStorage
