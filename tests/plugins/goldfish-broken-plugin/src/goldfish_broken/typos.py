"""A plugin with typos that only show when something is imported or called by name.

* ``register_compute_backend`` (missing ``s``) is reported, while the valid ``register_commands``
  hook below stays registered: ``goldfish typos-ok`` works.
* The ``typo`` backend names a factory and a config model that do not exist; ``goldfish doctor``
  imports them and reports both as this plugin's errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from goldfish import hookimpl


@hookimpl
def register_compute_backend(register: Callable[..., None]) -> None:
    register("never", "goldfish_broken.typos:Nothing")


@hookimpl
def register_storage_backends(register: Callable[..., None]) -> None:
    register("typo", "goldfish_broken.typos:TypoStorag",
             config_model="goldfish_broken.typos:TypoSettings")


@hookimpl
def register_commands(cli: Any) -> None:
    parser = cli.add_parser("typos-ok", help="a valid hook of a plugin that also has a typo")
    parser.set_defaults(handler=lambda args: print("the valid hook was kept"))
