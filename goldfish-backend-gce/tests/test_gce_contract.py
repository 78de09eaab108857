from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from goldfish.artifacts import ArtifactStore
from goldfish.compute import Job
from goldfish.runs.staging import stage_job
from goldfish.testing.contracts import BackendFactory, ComputeBackendContract, write_job_dir
from goldfish_gce.backend import GceBackend
from goldfish_gce.fake import FakeCompute
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator


def gce_config(fake: FakeCompute, **extra: Any) -> dict[str, Any]:
    return {"project_id": "test-project", "api_endpoint": fake.endpoint,
            "zones": ["us-central1-a", "us-central1-b"], "sync_seconds": 0.3,
            "heartbeat_stale_seconds": 10.0, **extra}


def gce_backend(root: Path, fake: FakeCompute, **extra: Any) -> GceBackend:
    return GceBackend(root, gce_config(fake, **extra))


class TestGceBackend(ComputeBackendContract):
    job_timeout = 90.0
    config_model = "goldfish_gce.settings:GceProfile"
    pipeline_storage = "gs://goldfish-test/contract-e2e"

    @pytest.fixture(autouse=True)
    def _gs_storage(self, register_goldfish_plugin: Callable[..., str]) -> None:
        """The end-to-end test's project keeps its outputs in gs://: the plugin's storage."""
        import goldfish_gce.plugin

        register_goldfish_plugin(goldfish_gce.plugin, name="gce")

    @pytest.fixture
    def backend_factory(self, fake_gce: FakeCompute, gcs_emulator: GcsEmulator,
                        tmp_path: Path) -> BackendFactory:
        return BackendFactory("goldfish_gce.backend:GceBackend", tmp_path, gce_config(fake_gce))

    @pytest.fixture
    def make_job(self, tmp_path: Path, stage_command: list[str],
                 gcs_emulator: GcsEmulator) -> Callable[..., Job]:
        store = ArtifactStore(GcsStorage(tmp_path, {}),
                              f"gs://goldfish-test/contract-{uuid.uuid4().hex[:8]}")
        counter = iter(range(1_000_000))

        def make(source: str, **kwargs: Any) -> Job:
            kwargs.setdefault("command", stage_command)
            job = write_job_dir(tmp_path / f"job{next(counter)}", source, **kwargs)
            staged, _ = stage_job(store, job, tmp_path / "cache")
            return staged

        return make
