"""The core's ComputeBackendContract against the real Docker engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from goldfish.compute import ComputeBackend
from goldfish.testing.contracts import ComputeBackendContract
from goldfish_docker.backend import DockerBackend

try:  # the suite builds backends the way Goldfish does (goldfish.testing.contracts)
    from goldfish.testing.contracts import BackendFactory  # type: ignore[attr-defined]
except ImportError:  # an older core: the suite takes a built backend
    BackendFactory = None


class TestDockerBackendContract(ComputeBackendContract):
    cancel_grace = 1.0
    config_model = "goldfish_docker.settings:DockerSettings"

    if BackendFactory is not None:
        @pytest.fixture
        def backend_factory(self, tmp_path: Path, docker_base_image: str) -> Any:
            return BackendFactory("goldfish_docker.backend:DockerBackend", tmp_path / "project",
                                  {"image": docker_base_image})
    else:
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
