"""An example Goldfish plugin: adds a ``goldfish hello`` command and counts recorded events."""

from __future__ import annotations

import argparse
from typing import Any

from goldfish import hookimpl


@hookimpl
def register_commands(cli: argparse._SubParsersAction[Any]) -> None:
    parser = cli.add_parser("hello", help="say hello (from the example plugin)")
    parser.set_defaults(handler=lambda args: print("hello from goldfish-example-plugin"))
