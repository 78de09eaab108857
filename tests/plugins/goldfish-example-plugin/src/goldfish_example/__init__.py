"""The example Goldfish plugin (``goldfish plugin new example``; docs/plugins.md walks through it).

Hook implementations only, cheap to import: backends and models are named by ``"module:attr"``
strings and imported when a project uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from goldfish import hookimpl


@hookimpl
def register_compute_backends(register: Callable[..., None]) -> None:
    register("example", "goldfish_example.backend:ExampleBackend",
             config_model="goldfish_example.settings:ExampleProfile")


@hookimpl
def register_storage_backends(register: Callable[..., None]) -> None:
    register("dir", "goldfish_example.storage:DirStorage",
             config_model="goldfish_example.settings:DirSettings")


@hookimpl
def register_config_sections(register: Callable[..., None]) -> None:
    register("example", "goldfish_example.settings:ExampleSettings")


@hookimpl
def register_commands(cli: Any) -> None:
    parser = cli.add_parser("hello", help="say hello (from the example plugin)")
    parser.set_defaults(handler=lambda args: print("hello from goldfish-example-plugin"))
