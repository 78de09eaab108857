"""``goldfish plugin new NAME``: a backend package to copy from, with the suites wired in.

The template (``scaffold/backend/**.tmpl``) is the example plugin of docs/plugins.md with its
names replaced by ``{{name}}`` (backend, entry point, section), ``{{Name}}`` (class prefix),
``{{module}}`` (the Python package), ``{{ident}}``, ``{{distribution}}`` and
``{{core_requirement}}`` (the core, pinned to this version's minor); a test renders it for
``example`` and compares it with ``tests/plugins/goldfish-example-plugin`` file for file.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import goldfish
from goldfish.errors import GoldfishError, InvalidInputError

TEMPLATE = Path(__file__).with_name("backend")
NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def names(name: str) -> dict[str, str]:
    if not NAME.match(name):
        raise InvalidInputError(f"plugin name {name!r} is not lower-case words joined by '-'",
                                "e.g. goldfish plugin new docker  or  goldfish plugin new my-gpu")
    ident = name.replace("-", "_")
    return {"name": name, "ident": ident, "module": f"goldfish_{ident}",
            "Name": "".join(part.capitalize() for part in name.split("-")),
            "distribution": f"goldfish-{name}-plugin",
            "core_requirement": "goldfish-core" + compatible(goldfish.__version__)}


def compatible(version: str) -> str:
    """The versions that work with ``version``: it, up to the next minor version (before 1.0 a
    minor version may break plugins). Members of the workspace require each other this way
    (``tools/release.py cut``) and so does a scaffolded plugin. ``""`` when ``version`` is not
    a release number (a source tree never built)."""
    match = re.match(r"(\d+)\.(\d+)\.\d+", version)
    return f">={version},<{match[1]}.{int(match[2]) + 1}" if match else ""


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def render(name: str) -> dict[str, str]:
    """Every file of the package for ``name``: relative path → text."""
    values = names(name)
    return {_fill(p.relative_to(TEMPLATE).as_posix()[:-len(".tmpl")], values):
            _fill(p.read_text(encoding="utf-8"), values)
            for p in sorted(TEMPLATE.rglob("*.tmpl"))}


def create(name: str, parent: Path) -> Path:
    """Write the package into ``parent/goldfish-NAME-plugin`` (which must not exist yet); all
    files or none."""
    files = render(name)
    target = Path(parent) / names(name)["distribution"]
    if target.exists():
        raise GoldfishError(f"{target} already exists", "choose another name or --dir")
    Path(parent).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".goldfish-plugin-", dir=parent))
    try:
        for rel, text in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(text, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
