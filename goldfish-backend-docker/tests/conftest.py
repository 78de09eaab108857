from __future__ import annotations

from goldfish_docker.testing import docker_base_image, docker_engine  # noqa: F401
