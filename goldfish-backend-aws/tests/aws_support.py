"""Helpers of the aws tests: projects whose goldfish.yaml is edited, the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from goldfish.testing.projects import CHAIN, make_project

GOLDFISH = str(Path(sys.executable).with_name("goldfish"))


@dataclass
class Result:
    code: int
    out: str
    err: str


def aws_project(tmp_path: Path, files: dict[str, str] | None = None,
                **config: Any) -> Path:
    """A project (slot w1 holds ``files``, default CHAIN) with ``config`` merged into its
    goldfish.yaml; built with only the aws plugin loaded."""
    plugins = aws_plugins()
    project = make_project(tmp_path, files or CHAIN, plugins=plugins)
    data = yaml.safe_load(project.config_path.read_text(encoding="utf-8")) or {}
    data.update(config)
    project.config_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    if "db" in project.__dict__:
        project.db.close()
    return project.root


def aws_plugins() -> Any:
    """The built-ins and goldfish-backend-aws, nothing else installed."""
    import goldfish_aws.plugin as aws_plugin
    from goldfish.plugins import build

    return build(load_entry_points=False, extra=[("aws", aws_plugin)])


def goldfish(root: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 180) -> Result:
    """The real console script in a subprocess, with only the aws plugin's entry point."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    full["GOLDFISH_LOAD_PLUGINS"] = "aws"
    full.update(env or {})
    proc = subprocess.run([GOLDFISH, "--project", str(root), *args], env=full,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return Result(proc.returncode, proc.stdout, proc.stderr)
