"""Hook implementations of the built-in ``file://`` storage backend (plugin name
``file_storage``); the backend, :mod:`goldfish.builtins.file_storage`, is imported on use."""

from __future__ import annotations

from typing import Any

from goldfish.builtins.mark import hookimpl


@hookimpl
def register_storage_backends(register: Any) -> None:
    register("file", "goldfish.builtins.file_storage:FileStorage")
