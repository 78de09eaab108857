"""A fresh virtual environment with some members of this workspace installed as users install
them (`pip install goldfish-core goldfish-backend-x`): wheels built from the local paths, then
``uv venv`` + ``uv pip install`` of the distribution names from those wheels.

Used by the install tests of the backend packages and by ``tests/benchmarks/gce_help.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

#: Every distribution of this workspace (and its test plugins): what must NOT come along.
WORKSPACE_MEMBERS = ("goldfish-core", "goldfish-mcp", "goldfish-svs", "goldfish-reviewers",
                     "goldfish-backend-docker", "goldfish-backend-gce",
                     "goldfish-example-plugin", "goldfish-broken-plugin")


@dataclass
class FreshInstall:
    venv: Path
    env: dict[str, str]
    names: set[str] = field(default_factory=set)  # installed distributions, lower case

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def goldfish(self) -> Path:
        return self.venv / "bin" / "goldfish"

    def others(self, members: tuple[str, ...]) -> set[str]:
        """Workspace distributions installed beyond ``members``."""
        return (self.names & set(WORKSPACE_MEMBERS)) - set(members)


def fresh_install(workdir: Path, root: Path, members: tuple[str, ...]) -> FreshInstall:
    """Build wheels of ``members`` (folders under ``root``) into ``workdir/wheels`` and install
    them by name into the new environment ``workdir/venv``."""
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to build wheels and make the environment "
                           "(pip install uv)")
    wheels = workdir / "wheels"
    for member in members:
        subprocess.run([uv, "build", "--wheel", "-q", "-o", str(wheels), str(root / member)],
                       check=True, capture_output=True, timeout=300)
    venv = workdir / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   capture_output=True, timeout=120)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("GOLDFISH_")}
    done = FreshInstall(venv, env)
    installed = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(done.python), "--find-links", str(wheels),
         *members], capture_output=True, text=True, timeout=600, env=env)
    if installed.returncode != 0:
        raise RuntimeError(f"uv pip install {' '.join(members)} failed:\n{installed.stderr}")
    listed = subprocess.run([uv, "pip", "list", "--python", str(done.python), "--format",
                             "freeze"], capture_output=True, text=True, check=True, env=env).stdout
    done.names = {line.split("==")[0].lower() for line in listed.splitlines() if "==" in line}
    return done


def modules_after(install: FreshInstall, *args: str, cwd: Path, env: dict[str, str]) -> set[str]:
    """Every module in ``sys.modules`` after running ``goldfish ARGS`` in that environment
    (through its console script, as a user would; ``-X importtime`` would miss modules loaded
    with importlib)."""
    script = str(install.goldfish)
    probe = ("import runpy, sys\n"
             f"sys.argv = [{script!r}, *{list(args)!r}]\n"
             "try:\n"
             f"    runpy.run_path({script!r}, run_name='__main__')\n"
             "except SystemExit:\n"
             "    pass\n"
             "sys.stderr.write('\\n' + '\\n'.join(sorted(sys.modules)))\n")
    proc = subprocess.run([str(install.python), "-c", probe], env=env, capture_output=True,
                          text=True, check=True, cwd=cwd, timeout=120)
    return set(proc.stderr.splitlines())
