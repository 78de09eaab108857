"""Helpers for the project/config/plugin tests: run the real ``goldfish`` console script."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from goldfish.testing.projects import GOLDFISH, Result


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            cache: Path | None = None) -> Result:
    """Run ``goldfish ARGS`` in a subprocess with an isolated help cache."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("GOLDFISH_") or k == "GOLDFISH_NO_CACHE"}
    if cache is not None:
        full["XDG_CACHE_HOME"] = str(cache)
    full.update(env or {})
    proc = subprocess.run([GOLDFISH, *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def tree_digest(root: Path) -> str:
    """A digest of every path, size and content under ``root`` (to prove nothing changed)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()
