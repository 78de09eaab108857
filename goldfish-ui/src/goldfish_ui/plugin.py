"""Hook implementations of goldfish-ui (entry point ``goldfish.plugins``).

Registering costs nothing: the ``ui`` command imports Starlette, uvicorn and Jinja2 only when it
runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from goldfish.hookspecs import hookimpl

DEFAULT_PORT = 8765


@hookimpl
def register_commands(cli: argparse._SubParsersAction[Any], command: str | None) -> None:
    if command not in (None, "ui"):
        return
    ui = cli.add_parser(
        "ui", help="a local, read-only web dashboard of the project (runs, plots, compare)",
        description="Serve a read-only dashboard of the project: status, runs (filter, sort by a "
                    "metric), a run with its metric plots, logs and lineage, comparisons, "
                    "workspaces and versions, STATE.md and failure patterns. Active runs update "
                    "live. Binds to 127.0.0.1 unless told otherwise; opens a browser only with "
                    "--open.")
    ui.add_argument("--project", dest="ui_project", metavar="PATH", default=None,
                    help="project directory (default: search upward from the current one)")
    ui.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1; any other needs --allow-remote)")
    ui.add_argument("--port", type=int, default=DEFAULT_PORT,
                    help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    ui.add_argument("--allow-remote", action="store_true",
                    help="allow a non-loopback --host: anyone who reaches it reads the project")
    ui.add_argument("--open", action="store_true", help="open the dashboard in a browser")
    ui.set_defaults(handler=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    from goldfish_ui.server import serve

    return serve(args.ui_project or getattr(args, "project", None), host=args.host,
                 port=args.port, allow_remote=args.allow_remote, open_browser=args.open)
