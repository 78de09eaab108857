"""The ``goldfish demo`` project: a digits-like pipeline (prepare → train → evaluate) in numpy.

``files/`` holds the workspace exactly as a user would write it; :func:`create_demo` turns it into
a project with :func:`goldfish.init.init_project`. Numpy is needed only by the stage processes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goldfish.project import Project

PROJECT_NAME = "goldfish-demo"
WORKSPACE = "digits"
GOAL = "classify 8x8 digit-like glyphs; beat 90% test accuracy with a linear model"
RESULTS = {"metric": "accuracy", "direction": "max"}
MARKER = "goldfish-demo"


def files_dir() -> Path:
    return Path(str(resources.files("goldfish.demo") / "files"))


def is_demo(path: Path) -> bool:
    import yaml

    config = path / "goldfish.yaml"
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("project") == MARKER


def create_demo(path: Path) -> Project:
    """A new demo project at ``path`` with workspace ``digits`` mounted in ``w1``."""
    from goldfish.init import init_project

    return init_project(path, name=PROJECT_NAME, from_dir=files_dir(), workspace=WORKSPACE,
                        goal=GOAL)
