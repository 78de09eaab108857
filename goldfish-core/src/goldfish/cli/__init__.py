"""The ``goldfish`` command line.

Built on argparse. Subcommands come from the ``register_commands`` hook — the core's own through
the built-in ``commands`` plugin, others (``goldfish serve``) from installed plugins. Handlers
import what they need.

``goldfish`` / ``goldfish --help`` is answered from a cached rendering of the help text when the
installed plugin set has not changed (see :mod:`goldfish.envcache`), so it costs neither
pluggy nor entry-point scanning.
"""

from __future__ import annotations

import os
import sys

from goldfish import __version__

# Not ``typing.TYPE_CHECKING``: typing (and the re module it pulls in) costs ~15 ms, a tenth of
# the budget of a cached ``goldfish --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

    from goldfish.errors import GoldfishError


#: Commands that come with another package, named when the command is missing: ``goldfish ui``
#: without goldfish-ui installed says what to install instead of "invalid choice".
PLUGIN_COMMANDS = {"serve": "goldfish-mcp", "ui": "goldfish-ui"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, plugins may add only that subcommand (see
    :func:`_parser_for`)."""
    return _build(command)[0]


def _build(command: str | None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    import argparse

    from goldfish.plugins import get_plugins

    parser = argparse.ArgumentParser(
        prog="goldfish",
        description="Goldfish: persistent research memory, exact provenance and one-line compute "
                    "for ML experiments run by AI coding agents.",
        epilog="More commands come with other packages: `goldfish serve` (install goldfish-mcp), "
               "`goldfish ui`, a read-only web dashboard (install goldfish-ui).",
    )
    parser.add_argument("--version", action="version", version=f"goldfish {__version__}")
    parser.add_argument("--project", "-P", metavar="PATH", default=None,
                        help="project directory (default: search upward from the current one)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    get_plugins().add_commands(sub, command)
    return parser, sub.choices


def _parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """A parser that knows the command in ``argv`` — and, to save the start-up time of every
    short command, only that one when it can. Anything it cannot place (no command, a typo,
    help) gets the full parser, so usage errors and "choose from" lists stay complete."""
    command = _command_name(argv)
    if command is not None:
        parser, choices = _build(command)
        if command in choices:
            return parser
        if command in PLUGIN_COMMANDS:
            from goldfish.errors import GoldfishError

            dist = PLUGIN_COMMANDS[command]
            raise GoldfishError(f"`goldfish {command}` comes with {dist}, which is not installed "
                                "(or not loaded)",
                                f"install it (`pip install {dist}`, or `uv add {dist}`); if it is "
                                "installed, see `goldfish plugins` (GOLDFISH_LOAD_PLUGINS may "
                                "leave it out)")
    return build_parser()


def _command_name(argv: list[str]) -> str | None:
    """The subcommand in ``argv``: the first word after the global options."""
    args = iter(argv)
    for arg in args:
        if arg in ("--project", "-P"):
            next(args, None)
        elif arg.startswith(("--project=", "-P")):
            continue
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in ([], ["--help"], ["-h"]):
        from goldfish import envcache

        cached = envcache.read()
        if cached is not None:
            sys.stdout.write(cached)
            return 0
    if argv == ["--version"]:
        print(f"goldfish {__version__}")
        return 0
    if _command_name(argv) == "save":
        from goldfish.cli import fastpath

        code = fastpath.save(argv)
        if code is not None:
            return code
    return _run(argv)


def _run(argv: list[str]) -> int:
    from goldfish.errors import GoldfishError

    try:
        parser = _parser_for(argv)
    except GoldfishError as exc:
        _report(exc)
        return 2
    if argv in ([], ["--help"], ["-h"]):
        from goldfish import envcache

        text = parser.format_help()
        envcache.write(text)
        sys.stdout.write(text)
        return 0
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return call(handler, args)


def call(handler: Callable[[Any], int | None], args: Any) -> int:
    """Run a command's handler: its exit code, or the message and exit code of what it raised
    (a Goldfish error, a fault of the machine, or — only then — an internal error)."""
    from goldfish.errors import GoldfishError

    try:
        result = handler(args)
        return int(result or 0)
    except GoldfishError as exc:
        _report(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("GOLDFISH_DEBUG") == "1":
            raise
        from goldfish import faults

        fault = faults.name(exc)
        if fault is not None:  # a full disk, a read-only project, a damaged file: not a bug
            _report(fault)
            return fault.exit_code
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: this is a bug in Goldfish or a plugin; rerun with GOLDFISH_DEBUG=1 for the "
              "traceback and report it", file=sys.stderr)
        return 1


def _report(exc: GoldfishError) -> None:
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
