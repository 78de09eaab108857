"""The example plugin proves itself with Goldfish's conformance suites and a real pipeline."""

from __future__ import annotations

from pathlib import Path

import goldfish_example
import pytest
from goldfish.testing.contracts import (
    BackendFactory,
    ComputeBackendContract,
    StorageBackendContract,
)
from goldfish_example.storage import DirStorage


class TestExampleBackend(ComputeBackendContract):
    config_model = "goldfish_example.settings:ExampleProfile"

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        return BackendFactory("goldfish_example.backend:ExampleBackend", tmp_path,
                              {"niceness": 5, "kill_grace_seconds": 1})


class TestDirStorage(StorageBackendContract):
    @pytest.fixture
    def storage_backend(self, tmp_path: Path) -> DirStorage:
        return DirStorage(tmp_path, {"root": str(tmp_path / "objects")})

    @pytest.fixture
    def storage_root(self) -> str:
        return "dir://contract"


def test_a_real_pipeline_runs_with_outputs_in_dir_storage(
        register_goldfish_plugin, goldfish_run_pipeline, tmp_path: Path) -> None:
    register_goldfish_plugin(goldfish_example, name="example")
    run = goldfish_run_pipeline(backend="example", profile={"niceness": 7},
                                storage={"uri": "dir://runs", "root": str(tmp_path / "bucket")})
    assert run.state == "done", run.error
    assert run.stage("train").outputs["model"]["uri"].startswith("dir://runs/objects/")
    assert any((tmp_path / "bucket" / "runs" / "objects").rglob("*"))
