"""Helpers for the workspace/snapshot tests: disk and database fingerprints, a CLI runner."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from goldfish.cli import main
from goldfish.project import Project
from goldfish.testing.projects import GOLDFISH, Result

TABLES = ("workspaces", "versions", "slots", "tags", "events")


def cli(project: Project, *args: str) -> Result:
    """``goldfish --project ROOT ARGS`` in this process, through ``goldfish.cli.main``."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--project", str(project.root), *args])
    return Result(code, out.getvalue(), err.getvalue())


def cli_process(project: Project, *args: str) -> Result:
    """The real console script in a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["GOLDFISH_LOAD_PLUGINS"] = ""
    proc = subprocess.run([GOLDFISH, "--project", str(project.root), *args], env=env,
                          capture_output=True, text=True, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def disk_state(project: Project) -> dict[str, str]:
    """Every file under the project (except the database files and the config validation record)
    with its mode and content digest, plus a dump of the workspace tables: equal states mean
    nothing changed."""
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(project.root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(project.root))
            if rel.startswith(".goldfish/goldfish.db"):
                continue
            if rel == ".goldfish/cache/config.json":
                continue  # goldfish.yaml's validation record: any command that validated writes it
            st = path.lstat()
            if path.is_symlink():
                state[rel] = f"link:{os.readlink(path)}"
            elif path.is_file():
                state[rel] = f"{oct(st.st_mode)}:{hashlib.sha1(path.read_bytes()).hexdigest()}"
            else:
                state[rel] = "dir"
    for table in TABLES:
        rows = project.db.query(f"SELECT * FROM {table}")
        state[f"db:{table}"] = repr(sorted(tuple(r) for r in rows))
    return state


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
