"""An example Goldfish plugin, installed through its entry point to test discovery end to end.

It adds a ``goldfish hello`` command, a compute backend ``example`` (named by a ``"module:attr"``
string, so the backend module is imported only when a profile uses it) and a ``example:`` section
of ``goldfish.yaml``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from goldfish import hookimpl


@hookimpl
def register_commands(cli: argparse._SubParsersAction[Any]) -> None:
    parser = cli.add_parser("hello", help="say hello (from the example plugin)")
    parser.set_defaults(handler=lambda args: print("hello from goldfish-example-plugin"))


@hookimpl
def register_compute_backends(register: Callable[..., None]) -> None:
    register("example", "goldfish_example.backend:ExampleBackend",
             "goldfish_example.settings:ExampleProfile")


@hookimpl
def register_config_sections(register: Callable[..., None]) -> None:
    register("example", "goldfish_example.settings:ExampleSettings")
