"""Hook implementations of goldfish-backend-docker (entry point ``goldfish.plugins``).

Importing this module is cheap: the backend, its settings model and the docker SDK are named as
``"module:attr"`` strings and imported only when a docker profile is used.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from goldfish import hookimpl


@hookimpl
def register_compute_backends(register: Callable[..., None]) -> None:
    # imported here: goldfish.compute (the compute contract's dataclasses) is needed when the
    # registry is first collected, not by every command that builds the plugin manager
    from goldfish.compute import Capabilities

    capabilities = Capabilities(gpu=False, spot=False, live_logs=True, detached=True,
                                shares_filesystem=True)
    register("docker", "goldfish_docker.backend:DockerBackend",
             config_model="goldfish_docker.settings:DockerSettings", capabilities=capabilities)


@hookimpl
def register_commands(cli: argparse._SubParsersAction[Any]) -> None:
    from goldfish_docker import commands

    commands.register(cli)


@hookimpl
def validate_pipeline(pipeline: Any, project: Any) -> list[Any] | None:
    from goldfish_docker import preflight

    return preflight.validate(pipeline, project)
