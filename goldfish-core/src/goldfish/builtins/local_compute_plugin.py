"""Hook implementations of the built-in ``local`` compute backend (plugin name ``local_compute``).

Apart from :mod:`goldfish.builtins.local_compute`, the backend itself (subprocess, the supervisor,
the compute contract's dataclasses), because every command builds the plugin manager and most never
look at a compute backend: the backend module is imported when the registry is first collected.
"""

from __future__ import annotations

from typing import Any

from goldfish.builtins.mark import hookimpl


@hookimpl
def register_compute_backends(register: Any) -> None:
    from goldfish.builtins.local_compute import CAPABILITIES

    register("local", "goldfish.builtins.local_compute:LocalBackend",
             config_model="goldfish.builtins.local_compute:LocalConfig", capabilities=CAPABILITIES)
