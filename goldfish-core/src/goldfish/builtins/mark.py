"""The hook-implementation marker of the built-in plugins, without importing pluggy.

A command that runs from the recorded plugin set (``goldfish save``, see
:meth:`goldfish.plugins.Plugins.from_index`) imports only the built-in plugins whose hooks it
calls, and with this marker those imports do not pull in pluggy (and the :mod:`inspect` it
imports, ~10 ms of start-up). It marks a function exactly as ``pluggy.HookimplMarker("goldfish")``
does — ``tests/test_plugins.py`` compares the two for every option — so a manager built later
registers these plugins like any other. Third-party plugins use ``goldfish.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])


@overload
def hookimpl(function: F, /) -> F: ...


@overload
def hookimpl(*, hookwrapper: bool = False, optionalhook: bool = False, tryfirst: bool = False,
             trylast: bool = False, specname: str | None = None,
             wrapper: bool = False) -> Callable[[F], F]: ...


def hookimpl(function: F | None = None, /, *, hookwrapper: bool = False,
             optionalhook: bool = False, tryfirst: bool = False, trylast: bool = False,
             specname: str | None = None, wrapper: bool = False) -> F | Callable[[F], F]:
    """``@hookimpl`` or ``@hookimpl(tryfirst=True, ...)``: pluggy's options, pluggy's marking."""
    opts = {"wrapper": wrapper, "hookwrapper": hookwrapper, "optionalhook": optionalhook,
            "tryfirst": tryfirst, "trylast": trylast, "specname": specname}

    def mark(func: F) -> F:
        func.goldfish_impl = dict(opts)  # type: ignore[attr-defined]  # pluggy's attribute
        return func

    return mark if function is None else mark(function)
