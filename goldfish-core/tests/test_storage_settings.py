"""A storage backend declares a settings model; goldfish.yaml carries its settings next to the
``storage:`` URI, validated with located errors, and the factory receives them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from goldfish import hookimpl
from goldfish.artifacts import ArtifactStore
from goldfish.builtins.file_storage import FileStorage
from goldfish.config import Section, load_config
from goldfish.errors import GoldfishError, ProblemsError
from goldfish.plugins import Plugins
from goldfish.project import Project
from pydantic import Field


class BucketSettings(Section):
    endpoint: str = Field(description="API endpoint")
    region: str = Field("eu-west-1", description="bucket region")
    upload_concurrency: int = Field(4, ge=1, le=64, description="parallel uploads")


class BucketStorage(FileStorage):
    """``bkt://`` URIs stored under the project's ``.bucket/`` folder; remembers its settings."""

    scheme = "bkt"
    built: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, project_root: Path, config: dict[str, Any]) -> None:
        super().__init__(project_root, {})
        self.settings = dict(config)
        BucketStorage.built.append(self.settings)

    def path(self, uri: str) -> Path:
        return super().path("file://.bucket/" + uri.split("://", 1)[1])


class BucketPlugin:
    @hookimpl
    def register_storage_backends(self, register: Callable[..., None]) -> None:
        register("bkt", BucketStorage, config_model=BucketSettings)


def write(path: Path, storage: str) -> Path:
    path.write_text(f"project: p\n{storage}\n", encoding="utf-8")
    return path


@pytest.fixture
def plugins(goldfish_plugins: Plugins, register_goldfish_plugin: Callable[..., str]) -> Plugins:
    register_goldfish_plugin(BucketPlugin(), name="bucket")
    return goldfish_plugins


def test_settings_next_to_the_uri_are_validated_and_defaulted(tmp_path: Path,
                                                              plugins: Plugins) -> None:
    path = write(tmp_path / "goldfish.yaml", "storage:\n  uri: bkt://b/prefix\n"
                                             "  endpoint: http://127.0.0.1:9000\n"
                                             "  upload_concurrency: 8\n")
    config = load_config(path, plugins)
    assert config.storage == "bkt://b/prefix"
    assert config.storage_settings == {"endpoint": "http://127.0.0.1:9000",
                                       "region": "eu-west-1", "upload_concurrency": 8}


def test_bad_settings_are_located_errors(tmp_path: Path, plugins: Plugins) -> None:
    path = write(tmp_path / "goldfish.yaml", "storage:\n  uri: bkt://b/prefix\n"
                                             "  endpont: http://x\n"
                                             "  upload_concurrency: 0\n")
    with pytest.raises(ProblemsError) as info:
        load_config(path, plugins)
    shown = {(p.key, p.line): (p.message, p.hint) for p in info.value.problems}
    assert shown[("storage.endpont", 4)] == ("unknown key 'endpont'",
                                             "did you mean 'endpoint'?")
    assert shown[("storage.upload_concurrency", 5)][0] == "expected a value ≥ 1, got 0"
    # required and absent: located at the mapping
    assert shown[("storage.endpoint", 2)][0] == "missing required key 'endpoint'"
    assert len(shown) == 3


def test_required_settings_cannot_be_skipped_with_a_bare_uri(tmp_path: Path,
                                                             plugins: Plugins) -> None:
    with pytest.raises(ProblemsError) as info:
        load_config(write(tmp_path / "goldfish.yaml", "storage: bkt://b/prefix"), plugins)
    assert [p.message for p in info.value.problems] == ["missing required key 'endpoint'"]


def test_a_backend_without_a_model_takes_no_settings(tmp_path: Path, plugins: Plugins) -> None:
    path = write(tmp_path / "goldfish.yaml", "storage: {uri: file://.goldfish/store, region: x}")
    with pytest.raises(ProblemsError) as info:
        load_config(path, plugins)
    [problem] = info.value.problems
    assert (problem.key, problem.message) == ("storage.region", "unknown key 'region'")
    assert "takes no settings" in (problem.hint or "")
    missing = write(tmp_path / "goldfish.yaml", "storage: {region: x}")
    with pytest.raises(ProblemsError, match="missing required key 'uri'"):
        load_config(missing, plugins)
    listed = write(tmp_path / "goldfish.yaml", "storage: [file://x]")
    with pytest.raises(ProblemsError) as info:
        load_config(listed, plugins)
    assert [p.message for p in info.value.problems] == [
        "expected a URI or a mapping with `uri`, got a list"]


def test_the_factory_receives_the_settings(tmp_path: Path, plugins: Plugins) -> None:
    from goldfish.init import init_project

    project = init_project(tmp_path / "project", name="p", plugins=plugins)
    write(project.config_path, "storage:\n  uri: bkt://b/prefix\n  endpoint: http://e\n")
    reopened = Project.find(explicit=str(project.root), plugins=plugins)
    BucketStorage.built.clear()
    store = ArtifactStore.for_project(reopened)
    assert BucketStorage.built == [{"endpoint": "http://e", "region": "eu-west-1",
                                    "upload_concurrency": 4}]
    source = tmp_path / "blob.bin"
    source.write_bytes(b"stored through bkt://")
    ref = store.store(source)
    assert ref.uri.startswith("bkt://b/prefix/objects/sha256/")
    assert (project.root / ".bucket" / ref.uri.split("://", 1)[1]).read_bytes() == \
        b"stored through bkt://"


def test_a_typo_in_a_registered_storage_factory_is_the_plugins_error(
        goldfish_plugins: Plugins, register_goldfish_plugin: Callable[..., str]) -> None:
    class Typo:
        @hookimpl
        def register_storage_backends(self, register: Callable[..., None]) -> None:
            register("typo", "goldfish.builtins.file_storage:FileStorag")

    register_goldfish_plugin(Typo(), name="typo-plugin")
    with pytest.raises(GoldfishError) as info:
        goldfish_plugins.storage_backend("typo").load()
    assert "storage backend for typo:// (plugin 'typo-plugin') cannot be loaded" in \
        info.value.message
    assert "FileStorag" in info.value.message
    assert [e.name for e in goldfish_plugins.verify()] == ["typo-plugin"]


def test_a_real_pipeline_stores_its_outputs_through_the_configured_backend(
        plugins: Plugins, goldfish_run_pipeline: Callable[..., Any]) -> None:
    BucketStorage.built.clear()
    run = goldfish_run_pipeline(backend="local", storage={"uri": "bkt://b/runs",
                                                          "endpoint": "http://e"})
    assert run.state == "done", (run.error, [(s.stage, s.error) for s in run.stages])
    uris = [o["uri"] for s in run.stages for o in s.outputs.values()]
    assert len(uris) == 3 and all(u.startswith("bkt://b/runs/objects/") for u in uris), uris
    assert {"endpoint": "http://e", "region": "eu-west-1", "upload_concurrency": 4} in \
        BucketStorage.built
