"""Hook implementations of goldfish-backend-gce (registrations only; nothing heavy imported)."""

from __future__ import annotations

from typing import Any

from goldfish.hookspecs import hookimpl


@hookimpl
def register_storage_backends(register: Any) -> None:
    register("gs", "goldfish_gce.storage:GcsStorage",
             config_model="goldfish_gce.settings:GcsSettings")


@hookimpl
def register_compute_backends(register: Any) -> None:
    from goldfish.compute import Capabilities  # the registry is collected only when used

    register("gce", "goldfish_gce.backend:GceBackend",
             config_model="goldfish_gce.settings:GceProfile", capabilities=Capabilities(
                 gpu=True, spot=True, live_logs=True, detached=True, shares_filesystem=False))


@hookimpl
def register_config_sections(register: Any) -> None:
    register("gce", "goldfish_gce.settings:GceSection")
