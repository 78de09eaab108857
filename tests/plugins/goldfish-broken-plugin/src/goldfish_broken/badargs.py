"""A plugin whose hook takes an argument the spec does not have (``parser`` for ``cli``)."""

from __future__ import annotations

from typing import Any

from goldfish import hookimpl


@hookimpl
def register_commands(parser: Any) -> None:
    parser.add_parser("badargs", help="never added: the hook argument is misnamed")
