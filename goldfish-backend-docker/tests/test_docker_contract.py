"""The core's ComputeBackendContract against the real Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from goldfish.compute import ComputeBackend
from goldfish.testing.contracts import ComputeBackendContract
from goldfish_docker.backend import DockerBackend


class TestDockerBackendContract(ComputeBackendContract):
    cancel_grace = 1.0

    @pytest.fixture
    def compute_backend(self, tmp_path: Path, docker_base_image: str) -> ComputeBackend:
        return DockerBackend(tmp_path / "project", {"image": docker_base_image})

    @pytest.fixture(autouse=True)
    def _no_leftovers(self, tmp_path: Path, docker_base_image: str):  # type: ignore[no-untyped-def]
        """The contract tests do not all release what they launch: remove this test's
        containers afterwards so the session leaves nothing behind."""
        yield
        backend = DockerBackend(tmp_path / "project", {"image": docker_base_image})
        from goldfish_docker import engine

        for found in backend.containers():
            engine.client().containers.get(found["name"]).remove(force=True)
