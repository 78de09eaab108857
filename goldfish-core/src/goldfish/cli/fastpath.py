"""``goldfish save`` without the command line's start-up.

Saving after an edit is the command agents and people run most, and most of what the general
path costs before the snapshot is not the save's: argparse and the parser of every command,
importing and registering every installed plugin. For the plain form of the command —
``goldfish [-P PATH] save TARGET -m MESSAGE [--json]`` — :func:`save` reads the arguments
itself and takes the plugin set from the recorded :class:`goldfish.plugins.PluginIndex`, so
only the plugins whose hooks the save calls are imported (the STATE.md store for
``record_event``). It then runs the same handler (``cmd_save``) with the same error handling as
the general path, so the version, the records, STATE.md and every message are the same.

Anything else goes the general way (``save`` returns None): another spelling of the arguments
(abbreviated options, ``--``, help, a usage error — argparse words those), no index for this
installation, a plugin that registers ``save`` itself or whose commands are unknown,
``GOLDFISH_NO_CACHE=1``, ``GOLDFISH_PLUGINS_DIR``, ``GOLDFISH_TRACE_PLUGINS=1``, or a process
that already has a plugin manager (an embedding application, a test).
"""

from __future__ import annotations

from types import SimpleNamespace


def parse_save(argv: list[str]) -> SimpleNamespace | None:
    """The arguments of the plain form of ``save``, or None for any other command line."""
    rest = list(argv)
    project: str | None = None
    while rest and rest[0] != "save":
        arg = rest.pop(0)
        if arg in ("--project", "-P") and rest and not rest[0].startswith("-"):
            project = rest.pop(0)
        elif arg.startswith("--project=") and len(arg) > len("--project="):
            project = arg[len("--project="):]
        elif arg.startswith("-P") and len(arg) > 2 and arg[2] not in "-=":
            project = arg[2:]
        else:
            return None
    if not rest:
        return None
    target: str | None = None
    message: str | None = None
    as_json = False
    words = iter(rest[1:])
    for arg in words:
        if arg == "--json":
            as_json = True
        elif arg in ("-m", "--message"):
            value = next(words, None)
            if value is None or value.startswith("-") or message is not None:
                return None
            message = value
        elif arg.startswith("--message=") and message is None:
            message = arg[len("--message="):]
        elif arg.startswith("-m") and arg[2:3] not in ("-", "=") and message is None:
            message = arg[2:]
        elif not arg.startswith("-") and target is None:
            target = arg
        else:
            return None
    if target is None or message is None:
        return None
    return SimpleNamespace(command="save", project=project, target=target, message=message,
                           json=as_json)


def save(argv: list[str]) -> int | None:
    """Run ``goldfish save`` by the short cut; None when it does not apply."""
    from goldfish import plugins

    args = parse_save(argv)
    if args is None or not plugins.use_index(command="save", owner="commands"):
        return None
    from goldfish.cli import call
    from goldfish.cli.workspace_cmds import cmd_save

    return call(cmd_save, args)
