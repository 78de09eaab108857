"""The one place that imports the docker SDK, and turns its errors into Goldfish errors.

``import docker`` costs ~0.2 s, so it happens here on first use, never when the plugin is loaded
(listing backends, ``goldfish --help``).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

from goldfish.errors import GoldfishError

START_HINT = ("start the Docker engine (`sudo systemctl start docker`, or `dockerd &`) or point "
              "DOCKER_HOST at it; a run waiting on it resumes when it is back")


class DockerUnavailable(GoldfishError):
    """The Docker engine cannot be reached (not installed, not running, no permission)."""


def sdk() -> Any:
    import docker

    return docker


def where() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@functools.cache
def _client(host: str) -> Any:
    docker = sdk()
    try:
        return docker.DockerClient(base_url=host, timeout=60)
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(f"the Docker engine at {host} is not reachable: {exc}",
                                START_HINT) from None


def client() -> Any:
    """A docker client for ``DOCKER_HOST`` (default: the local socket), made once per process."""
    return _client(where())


@contextlib.contextmanager
def reachable(what: str) -> Iterator[None]:
    """Translate "engine not there" failures while doing ``what`` into :class:`DockerUnavailable`.

    API errors (not found, conflict, bad request) pass through for the caller to handle.
    """
    docker = sdk()
    try:
        yield
    except docker.errors.APIError:
        raise
    except (docker.errors.DockerException, ConnectionError, OSError) as exc:
        raise DockerUnavailable(f"the Docker engine at {where()} is not reachable while "
                                f"{what}: {_short(exc)}", START_HINT) from None
    except Exception as exc:
        # requests' ConnectionError is not a builtin ConnectionError subclass in every version
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise DockerUnavailable(f"the Docker engine at {where()} is not reachable while "
                                    f"{what}: {_short(exc)}", START_HINT) from None
        raise


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "…"


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, sdk().errors.NotFound)


def image_id(image: str) -> str:
    """The id (``sha256:…``) of a local image; a missing one is an error saying how to get it."""
    docker = sdk()
    with reachable(f"looking up image {image!r}"):
        try:
            return str(client().images.get(image).id)
        except docker.errors.ImageNotFound:
            raise GoldfishError(
                f"docker image {image!r} is not on this machine",
                f"build it with `goldfish image build` (from the workspace's Dockerfile or "
                f"requirements.txt) or `docker build -t {image} .`, or fetch it with "
                f"`docker pull {image}`") from None


def info() -> dict[str, Any]:
    """What ``goldfish doctor`` shows: reachable, version, runtimes."""
    try:
        with reachable("asking for its version"):
            c = client()
            version = c.version()
            raw = c.info()
    except GoldfishError as exc:
        return {"reachable": False, "host": where(), "error": exc.message}
    return {"reachable": True, "host": where(), "version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "runtimes": sorted((raw.get("Runtimes") or {}).keys()),
            "default_runtime": raw.get("DefaultRuntime"),
            "cgroup_version": raw.get("CgroupVersion")}


def has_nvidia_runtime() -> bool:
    """Whether the engine can honour a GPU device request (the NVIDIA runtime is registered)."""
    facts = info()
    return bool(facts.get("reachable")) and "nvidia" in facts.get("runtimes", [])
