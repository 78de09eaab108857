"""The core's CLI commands, contributed through the ``register_commands`` hook like any plugin's.

Each command group lives in its own ``goldfish.cli.<group>`` module with a ``register(cli)``
function; modules that do not exist yet are skipped. When the CLI names the command being run,
only the module that has it is imported and registered.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from goldfish.builtins.mark import hookimpl

#: Each command module and the subcommands (aliases included) its ``register`` adds, so that
#: ``goldfish save`` imports and builds only the module that has ``save``. A test keeps this true.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "goldfish.cli.project_cmds": ("init", "config", "plugins", "plugin", "doctor"),
    "goldfish.cli.workspace_cmds": ("workspace", "mount", "unmount", "save", "rollback", "diff",
                                    "history", "log", "tag"),
    "goldfish.cli.run_cmds": ("run", "runs", "show", "logs", "cancel", "compare", "conclude",
                              "sources", "lineage"),
    "goldfish.cli.lifecycle_cmds": ("gc", "prune", "du"),
    "goldfish.cli.demo_cmd": ("demo",),
    "goldfish.cli.check_cmds": ("findings", "patterns", "profiles", "pool"),
    "goldfish.cli.memory_cmds": ("status", "note", "recall"),
    "goldfish.cli.backup_cmds": ("backup", "backups", "restore"),
}


@hookimpl(tryfirst=True)  # the core's commands come first in `goldfish --help`
def register_commands(cli: argparse._SubParsersAction[Any], command: str | None) -> None:
    for name, commands in COMMAND_MODULES.items():
        if command is not None and command not in commands:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(cli)
