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
