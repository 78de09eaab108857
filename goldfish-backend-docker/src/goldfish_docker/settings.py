"""The pydantic model of a ``backend: docker`` profile's own keys.

The common profile keys (``image``, ``cpus``, ``memory_gb``, ``gpu``, ``env``, ``timeout_minutes``)
belong to the core's ``Profile``; these are the rest. Unknown keys are errors with did-you-mean
(the core's config loader does that for every backend's model).
"""

from __future__ import annotations

import os
import re

from goldfish.config import Section
from pydantic import Field, field_validator

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def invoking_user() -> str:
    """``uid:gid`` of this process: files a stage writes into the job directory belong to it."""
    return f"{os.getuid()}:{os.getgid()}"


class DockerSettings(Section):
    """Keys a ``backend: docker`` profile accepts beyond the common ones."""

    shm_size_gb: float | None = Field(
        None, gt=0, description="size of /dev/shm in GB (PyTorch data loaders want more than "
                                "docker's 64 MB)")
    network: str = Field(
        "none", description="docker network mode: `none` (default: no network), `host`, "
                            "`bridge` or a network's name")
    user: str | None = Field(
        None, description="`uid:gid` the stage runs as; default: the invoking user's, so files "
                          "written into the job directory belong to you")
    env_passthrough: list[str] = Field(
        default_factory=list,
        description="variables of the calling environment passed to the stage by name (the "
                    "stage sees no host environment otherwise)")
    mounts: dict[str, str] = Field(
        default_factory=dict,
        description="extra read-only data mounts `{host_path: container_path}` (registered "
                    "sources are materialized into the job directory already)")
    base_image: str | None = Field(
        None, description="image `goldfish image build` starts from when the workspace has a "
                          "requirements.txt but no Dockerfile")
    python: str = Field("python3", description="the image's Python 3.9+ interpreter")
    kill_grace_seconds: float = Field(
        10.0, ge=0, description="after a timeout's SIGTERM, seconds before SIGKILL")
    stop_grace_seconds: float = Field(
        30.0, ge=0, description="after a cooperative stop request, seconds before the stage is "
                                "terminated")

    @field_validator("env_passthrough")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        bad = [n for n in value if not NAME.match(n)]
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(map(repr, bad))}")
        return value

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$", value):
            raise ValueError(f"user must be `uid:gid` (or a name the image knows), got {value!r}")
        return value

    @field_validator("mounts")
    @classmethod
    def _mounts(cls, value: dict[str, str]) -> dict[str, str]:
        for host, inside in value.items():
            if not os.path.isabs(os.path.expanduser(host)) or not inside.startswith("/"):
                raise ValueError(f"mount {host!r}: {inside!r}: both paths must be absolute")
        return value
