"""What goldfish-backend-docker ships to users' tests (and uses in its own).

* :func:`require_engine` / :func:`require_image` fail a test with a message that says how to get
  the engine or the image — never a skip: a docker test that did not run is not a pass.
* fixtures ``docker_engine`` and ``docker_base_image`` (session-scoped: one engine check and one
  image per session); import them into a ``conftest.py``::

      from goldfish_docker.testing import docker_base_image, docker_engine  # noqa: F401

* :class:`DockerContractMixin`'s ``backend_config`` — profile keys for the core's
  ``ComputeBackendContract`` run against the real engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

#: The small Python + numpy image ``tests/docker_setup.sh`` builds locally (no pulls needed).
DEFAULT_TEST_IMAGE = "goldfish-ci/python-numpy:bookworm"
SETUP = ("run `bash tests/docker_setup.sh` from the Goldfish repository (installs the Docker engine, "
         "starts dockerd, builds the base image), or start your Docker engine")


def test_image() -> str:
    return os.environ.get("GOLDFISH_DOCKER_TEST_IMAGE", DEFAULT_TEST_IMAGE)


def require_engine() -> dict[str, Any]:
    from goldfish_docker import engine

    facts = engine.info()
    if not facts.get("reachable"):
        pytest.fail(f"these tests need a Docker engine and none is reachable: "
                    f"{facts.get('error')}; {SETUP}", pytrace=False)
    return facts


def require_image(image: str) -> str:
    """The image's id; fails the test when the image is not on this machine."""
    from goldfish.errors import GoldfishError

    from goldfish_docker import engine

    require_engine()
    try:
        return engine.image_id(image)
    except GoldfishError as exc:
        pytest.fail(f"{exc.message}; {SETUP}", pytrace=False)


@pytest.fixture(scope="session")
def docker_engine() -> dict[str, Any]:
    """Facts about the reachable engine (version, runtimes); fails when there is none."""
    return require_engine()


@pytest.fixture(scope="session")
def docker_base_image(docker_engine: dict[str, Any]) -> Iterator[str]:
    """A local image with Python 3 and numpy (``GOLDFISH_DOCKER_TEST_IMAGE``)."""
    image = test_image()
    require_image(image)
    yield image
