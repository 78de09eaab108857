"""Helpers of the aws tests: projects whose goldfish.yaml is edited, the real console script."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from goldfish.testing.projects import CHAIN, GOLDFISH, Result, make_project, update_config


def aws_project(tmp_path: Path, files: dict[str, str] | None = None,
                **config: Any) -> Path:
    """A project (slot w1 holds ``files``, default CHAIN) with ``config`` merged into its
    goldfish.yaml; built with only the aws plugin loaded."""
    plugins = aws_plugins()
    project = make_project(tmp_path, files or CHAIN, plugins=plugins)
    update_config(project, **config)
    if "db" in project.__dict__:
        project.db.close()
    return project.root


def aws_plugins() -> Any:
    """The built-ins and goldfish-backend-aws, nothing else installed."""
    import goldfish_aws.plugin as aws_plugin
    from goldfish.plugins import build

    return build(load_entry_points=False, extra=[("aws", aws_plugin)])


def plugin_env(plugins: str = "aws") -> dict[str, str]:
    """This environment without GOLDFISH_* settings, loading only the ``plugins`` entry points."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["GOLDFISH_LOAD_PLUGINS"] = plugins
    return env


def goldfish(root: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 180) -> Result:
    """The real console script in a subprocess, with only the aws plugin's entry point."""
    full = {**plugin_env(), **(env or {})}
    proc = subprocess.run([GOLDFISH, "--project", str(root), *args], env=full,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return Result(proc.returncode, proc.stdout, proc.stderr)
