"""Helpers shared by CLI command modules."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from goldfish import faults
from goldfish.project import Project

if TYPE_CHECKING:
    import argparse


def open_project(args: argparse.Namespace, *, reconcile: bool = True) -> Project:
    """The project for this invocation (``--project`` or discovery upward from the cwd).

    Opening a project runs one reconcile pass (see :mod:`goldfish.runs.reconciler`): stages that
    ended while nobody watched are finished and their pipelines move on. It costs one indexed
    query when no run is active. ``GOLDFISH_NO_RECONCILE=1`` turns it off. ``goldfish.yaml`` is
    loaded (and so validated) first.
    """
    project = Project.find(explicit=getattr(args, "project", None))
    # Validate goldfish.yaml before the command does anything, so a broken config fails the
    # command up front instead of halfway through its output.
    _ = project.config
    if reconcile and os.environ.get("GOLDFISH_NO_RECONCILE") != "1":
        reconcile_project(project)
    return project


def reconcile_project(project: Project) -> None:
    """One reconcile pass; a failure is a warning, never the command's failure."""
    _ = project.db  # a missing or damaged database is the command's error, not a warning
    try:
        from goldfish.runs.reconciler import Reconciler

        Reconciler(project).reconcile_once()
    except Exception as exc:
        print(f"goldfish: warning: reconcile pass failed: {faults.name(exc) or exc}",
              file=sys.stderr)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def fmt(value: Any) -> str:
    """A value as the CLI and the dashboard print it: 4 significant digits, ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def ago(at: float | None) -> str:
    """``5m ago``: how long ago a timestamp was."""
    if not at:
        return "-"
    delta = max(0.0, time.time() - at)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit} ago"
    return f"{int(delta)}s ago"
