"""Content-addressed artifacts over real storage backends."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest
from goldfish import plugins
from goldfish.artifacts import DEFAULT_STORE, ArtifactRef, ArtifactStore, hash_file
from goldfish.builtins.file_storage import FileStorage
from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError
from goldfish.project import Project


class CopyOnlyStorage(FileStorage):
    """A working file store that, like a remote bucket, has no local paths."""

    def local_path(self, uri: str) -> Path | None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    (tmp_path / "project").mkdir()
    return ArtifactStore(FileStorage(tmp_path / "project", {}), DEFAULT_STORE)


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _objects(store: ArtifactStore) -> list[str]:
    return store.storage.list(f"{store.base_uri}/objects")


def test_file_digest_is_the_sha256_of_its_bytes(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    ref = store.store(src)
    assert ref.digest == "sha256:" + hashlib.sha256(src.read_bytes()).hexdigest()
    assert ref.kind == "file" and ref.files == 1 and ref.size == src.stat().st_size
    with store.open(ref.digest) as fh:
        assert fh.read() == src.read_bytes()
    assert ArtifactRef.from_json(json.loads(json.dumps(ref.to_json()))) == ref


def test_identical_content_is_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    tree = _tree(tmp_path / "d", {"x": b"same bytes", "sub/y": b"same bytes", "z": b"other"})
    refs = [store.store(a), store.store(b)]
    assert refs[0] == refs[1]
    store.store(tree)
    store.store(tree)
    assert len(_objects(store)) == 2  # "same bytes" and "other"
    assert len(store.storage.list(f"{store.base_uri}/trees")) == 1


def test_directory_digest_ignores_mtimes_and_write_order(store: ArtifactStore,
                                                         tmp_path: Path) -> None:
    files = {"model/weights.bin": b"\x00\x01" * 1000, "model/config.json": b"{}", "README": b"r"}
    first = _tree(tmp_path / "one", files)
    second = _tree(tmp_path / "two", dict(reversed(files.items())))
    os.utime(second / "README", (1, 1))
    os.utime(second / "model" / "config.json", (2_000_000_000, 2_000_000_000))
    r1, r2 = store.store(first), store.store(second)
    assert r1.digest == r2.digest
    assert r1.kind == "directory" and r1.files == 3 and r1.size == sum(map(len, files.values()))
    (second / "README").write_bytes(b"changed")
    assert store.store(second).digest != r1.digest
    (second / "README").write_bytes(b"r")
    os.chmod(second / "README", 0o755)
    assert store.store(second).digest != r1.digest  # the executable bit is content


def test_directory_round_trip_with_hardlinks(store: ArtifactStore, tmp_path: Path) -> None:
    files = {"a.txt": b"alpha", "deep/er/b.bin": os.urandom(2048), "empty": b""}
    src = _tree(tmp_path / "src", files)
    os.chmod(src / "a.txt", 0o755)
    ref = store.store(src)
    out = store.materialize(ref, tmp_path / "out" / "restored")
    assert {p.relative_to(out).as_posix(): p.read_bytes()
            for p in out.rglob("*") if p.is_file()} == files
    assert os.stat(out / "a.txt").st_mode & stat.S_IXUSR
    b_obj = store.storage.local_path(store.object_uri(hash_file(src / "deep/er/b.bin")))
    assert b_obj is not None and os.stat(out / "deep/er/b.bin").st_ino == os.stat(b_obj).st_ino
    # read-only, so a stage writing into a linked input fails instead of corrupting the store
    assert stat.S_IMODE(os.stat(out / "deep/er/b.bin").st_mode) == 0o444
    assert store.manifest(ref.digest)["a.txt"]["mode"] == 0o755
    assert store.ref(ref.digest) == ref


def test_materialize_without_local_paths_verifies_content(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    store = ArtifactStore(CopyOnlyStorage(tmp_path / "p", {}), "file://store")
    src = _tree(tmp_path / "src", {"k": b"kept", "n/m": b"nested"})
    ref = store.store(src)
    out = store.materialize(ref.digest, tmp_path / "out")
    assert (out / "k").read_bytes() == b"kept" and (out / "n/m").read_bytes() == b"nested"
    single = store.store(src / "k")
    assert store.materialize(single, tmp_path / "one.txt").read_bytes() == b"kept"
    obj = FileStorage(tmp_path / "p", {}).path(single.uri)
    os.chmod(obj, 0o644)
    obj.write_bytes(b"rotten")  # bit rot in a remote bucket
    with pytest.raises(GoldfishError, match="corrupt"):
        store.materialize(single, tmp_path / "two.txt")
    assert not (tmp_path / "two.txt").exists()


def test_materialize_a_file_replaces_the_destination(store: ArtifactStore,
                                                     tmp_path: Path) -> None:
    src = tmp_path / "v"
    src.write_bytes(b"new")
    dest = tmp_path / "dest"
    dest.write_bytes(b"old")
    store.materialize(store.store(src), dest, link=False)
    assert dest.read_bytes() == b"new" and os.stat(dest).st_mode & 0o777 == 0o644


def test_materialize_refuses_a_non_empty_directory(store: ArtifactStore, tmp_path: Path) -> None:
    ref = store.store(_tree(tmp_path / "src", {"f": b"1"}))
    dest = _tree(tmp_path / "busy", {"mine": b"keep me"})
    with pytest.raises(GoldfishError, match="not an empty directory"):
        store.materialize(ref, dest)
    assert (dest / "mine").read_bytes() == b"keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (store.materialize(ref, empty) / "f").read_bytes() == b"1"


def test_empty_directory_is_an_artifact(store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    ref = store.store(tmp_path / "e")
    assert ref.kind == "directory" and ref.files == 0 and ref.size == 0
    assert store.materialize(ref, tmp_path / "e2").is_dir()


def test_missing_and_malformed_digests(store: ArtifactStore, tmp_path: Path) -> None:
    absent = "sha256:" + "0" * 64
    assert not store.exists(absent)
    with pytest.raises(NotFoundError, match=absent):
        store.materialize(absent, tmp_path / "x")
    with pytest.raises(NotFoundError):
        store.open(absent)
    with pytest.raises(InvalidInputError, match="'md5:abc'"):
        store.exists("md5:abc")
    with pytest.raises(NotFoundError, match="no-such"):
        store.store(tmp_path / "no-such")
    tree = store.store(_tree(tmp_path / "t", {"a": b"1"}))
    assert store.exists(tree.digest)
    with pytest.raises(InvalidInputError, match="is a directory"):
        store.open(tree.digest)


def test_links_to_directories_are_refused(store: ArtifactStore, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", {"f": b"1"})
    os.symlink(tmp_path, src / "loop")
    with pytest.raises(InvalidInputError, match="symbolic link"):
        store.store(src)


def test_for_project_uses_the_configured_store(tmp_path: Path) -> None:
    (tmp_path / "goldfish.yaml").write_text("project: demo\n")
    (tmp_path / ".goldfish").mkdir()
    project = Project(tmp_path, plugins.build(load_entry_points=False))
    store = ArtifactStore.for_project(project)
    assert store.base_uri == getattr(project.config, "storage", DEFAULT_STORE)
    src = tmp_path / "out.txt"
    src.write_bytes(b"project output")
    ref = store.store(src)
    assert ref.uri.startswith("file://.goldfish/store/objects/sha256/")
    assert store.storage.local_path(ref.uri) is not None
    assert str(store.storage.local_path(ref.uri)).startswith(str(tmp_path / ".goldfish/store"))


def test_artifact_open_returns_binary_handle(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "b"
    src.write_bytes(b"\xff\x00")
    fh: BinaryIO = store.open(store.store(src).digest)
    with fh:
        assert fh.read() == b"\xff\x00"
