"""The core's own sections of ``goldfish.yaml``, registered like any plugin's.

Models are named by ``"module:attr"`` strings so that building the plugin manager (every CLI
call) does not import pydantic; :mod:`goldfish.config` resolves them when a config is loaded.
"""

from __future__ import annotations

from collections.abc import Callable

from goldfish.builtins.mark import hookimpl

#: Top-level key → its type in :mod:`goldfish.config`, in the order the docs list them.
SECTIONS: dict[str, str] = {
    "project": "goldfish.config:ProjectName",
    "goal": "goldfish.config:Goal",
    "slots": "goldfish.config:Slots",
    "invariants": "goldfish.config:Invariants",
    "profiles": "goldfish.config:Profiles",
    "default_profile": "goldfish.config:DefaultProfile",
    "storage": "goldfish.config:Storage",
    "retention": "goldfish.config:Retention",
    "limits": "goldfish.config:Limits",
    "backup": "goldfish.config:BackupSettings",
}


@hookimpl
def register_config_sections(register: Callable[..., None]) -> None:
    for section, model in SECTIONS.items():
        register(section, model)
