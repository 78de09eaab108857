"""A plugin implementing a hook name that does not exist (``register_comands``)."""

from __future__ import annotations

from typing import Any

from goldfish import hookimpl


@hookimpl
def register_comands(cli: Any) -> None:
    cli.add_parser("misspelt", help="never added: the hook name is misspelt")
