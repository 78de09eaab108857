"""Goldfish: an ML-experimentation backbone for AI coding agents.

This package is imported inside stage processes (``from goldfish import io``), so it must stay
standard-library only and cheap to import. Everything heavier lives in submodules.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs ~10 ms here
if TYPE_CHECKING:  # for type checkers only: at run time pluggy is imported on first use
    from goldfish.hookspecs import hookimpl as hookimpl


def _installed_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("goldfish-core")
    except metadata.PackageNotFoundError:
        return "0+unknown"


try:  # written by the build from the repository's VERSION file (see pyproject.toml)
    from goldfish._version import __version__
except ImportError:  # never built, or the runtime copied into a stage: looked up when asked for
    pass

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> object:
    # ``goldfish.hookimpl`` is the marker plugin authors decorate with; pluggy is only imported
    # when a plugin asks for it, never inside a stage.
    if name == "__version__":
        return _installed_version()
    if name == "hookimpl":
        from goldfish.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'goldfish' has no attribute {name!r}")
