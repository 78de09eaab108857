"""Helpers shared by CLI command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from goldfish.project import Project


def open_project(args: argparse.Namespace) -> Project:
    """The project for this invocation (``--project`` or discovery upward from the cwd)."""
    return Project.find(explicit=getattr(args, "project", None))


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
