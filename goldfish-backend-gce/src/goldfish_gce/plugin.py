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


#: the presets of :data:`goldfish_gce.settings.PRESETS`, offered as ready profiles (named here so
#: listing them imports nothing; a test keeps the two in step)
PRESET_NAMES = ("cpu-small", "cpu-large", "h100-spot", "h100-on-demand", "a100-spot",
                "a100-on-demand")


@hookimpl
def register_profiles(register: Any) -> None:
    for name in PRESET_NAMES:
        register(name, {"backend": "gce", "preset": name})
