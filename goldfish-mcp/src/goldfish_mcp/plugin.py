"""Hook implementations of goldfish-mcp (entry point ``goldfish.plugins``).

Registering costs nothing: the ``serve`` command imports the MCP SDK only when it runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from goldfish.hookspecs import hookimpl


@hookimpl
def register_commands(cli: argparse._SubParsersAction[Any]) -> None:
    serve = cli.add_parser(
        "serve", help="serve the project to an AI agent over MCP (stdio)",
        description="Start the Goldfish MCP server on stdin/stdout for an agent (Claude Code, "
                    "Codex, Gemini CLI…). The project is found from the working directory, or "
                    "--project. Runs are reconciled in the background while it serves.")
    serve.add_argument("--project", dest="serve_project", metavar="PATH", default=None,
                       help="project directory (default: search upward from the current one)")
    serve.add_argument("--no-reconcile", action="store_true",
                       help="do not advance runs in the background")
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from goldfish_mcp.server import serve

    return serve(args.serve_project or getattr(args, "project", None),
                 reconcile=not args.no_reconcile)
