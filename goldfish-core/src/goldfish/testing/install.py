"""Releases of this workspace, as users get them: the members found in the root pyproject, their
wheels and sdists built with ``uv build``, and fresh virtual environments with some of them
installed (`pip install goldfish-core goldfish-backend-x`).

Everything works offline once ``uv sync`` has run: the build backend comes from uv's cache, the
members from the wheels built here, and third-party packages from uv's cache at the versions the
workspace's ``uv.lock`` pins (``uv export``), installed without resolving again (``--no-deps``;
``uv pip check`` then proves that every installed requirement, the members' own included, holds).

Used by ``tools/release.py`` (``build``, ``cut``), the release tests (``tests/test_release.py``),
the install tests of the backend packages and ``tests/benchmarks/gce_help.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: Workspace members that are never released: the test plugins.
NOT_RELEASED = ("tests/plugins/*",)

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*$")


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to build wheels and make the environment "
                           "(pip install uv)")
    return uv


def workspace_members(root: Path, *, released: bool = True) -> dict[str, Path]:
    """Distribution name -> folder of each member in the root pyproject's
    ``[tool.uv.workspace] members`` (globs expanded, ``exclude`` honoured); ``released=True``
    leaves out the test plugins (:data:`NOT_RELEASED`)."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    workspace = config.get("tool", {}).get("uv", {}).get("workspace", {})
    excluded = list(workspace.get("exclude", []))
    if released:
        excluded += NOT_RELEASED
    skip = {path.resolve() for pattern in excluded for path in root.glob(pattern)}
    found: dict[str, Path] = {}
    for pattern in workspace.get("members", []):
        for folder in sorted(root.glob(pattern)):
            pyproject = folder / "pyproject.toml"
            if folder.resolve() in skip or not pyproject.is_file():
                continue
            name = tomllib.loads(pyproject.read_text())["project"]["name"]
            found[_normalize(name)] = folder
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(requirement: str) -> tuple[str, list[str]]:
    """``"goldfish-core[demo]"`` -> ``("goldfish-core", ["demo"])``."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"not a distribution name with optional extras: {requirement!r}")
    extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
    return _normalize(match.group(1)), extras


def build_dists(root: Path, out: Path, members: Iterable[str] | None = None, *,
                sdist: bool = True) -> Path:
    """Build ``members`` (distribution names; default: every released member) into ``out``
    with ``uv build --offline``: with ``sdist``, the sdist and then the wheel from that sdist
    (what an index's users rebuild), else the wheel from the source tree."""
    uv = _uv()
    folders = workspace_members(root, released=False)
    names = list(workspace_members(root)) if members is None else [_split(m)[0] for m in members]
    for name in names:
        if name not in folders:
            raise ValueError(f"{name!r} is not a member of the workspace at {root}")
        kind = [] if sdist else ["--wheel"]
        built = subprocess.run([uv, "build", "--offline", "-q", *kind, "-o", str(out),
                                str(folders[name])], capture_output=True, text=True, timeout=300)
        if built.returncode != 0:
            raise RuntimeError(f"uv build {folders[name]} failed:\n{built.stderr}")
    return out


def built_wheel(dists: Path, name: str) -> Path:
    """The wheel of distribution ``name`` in ``dists`` (exactly one is expected)."""
    stem = _normalize(name).replace("-", "_")
    wheels = sorted(dists.glob(f"{stem}-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel of {name} in {dists}, found "
                           f"{[w.name for w in wheels]}")
    return wheels[0]


@dataclass
class FreshInstall:
    venv: Path
    env: dict[str, str]
    names: set[str] = field(default_factory=set)  # installed distributions, lower case
    workspace: set[str] = field(default_factory=set)  # every distribution of the workspace

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def goldfish(self) -> Path:
        return self.venv / "bin" / "goldfish"

    def others(self, members: tuple[str, ...]) -> set[str]:
        """Workspace distributions installed beyond ``members``."""
        return (self.names & self.workspace) - {_split(m)[0] for m in members}

    def plugin_listing(self, name: str, *, cwd: Path, env: dict[str, str],
                       lines: int = 5) -> tuple[str, str]:
        """``goldfish plugins`` run in this environment: the first line of plugin ``name``'s
        entry and the entry's first ``lines`` lines (it must be listed, the command must
        succeed)."""
        proc = subprocess.run([str(self.goldfish), "plugins"], capture_output=True, text=True,
                              timeout=120, cwd=cwd, env=env)
        if proc.returncode != 0:
            raise AssertionError(f"goldfish plugins failed:\n{proc.stderr}")
        out = proc.stdout.splitlines()
        at = next((i for i, ln in enumerate(out) if ln.startswith(f"{name} ")), None)
        if at is None:
            raise AssertionError(f"goldfish plugins does not list {name}:\n{proc.stdout}")
        return out[at], "\n".join(out[at:at + lines])


def pinned_dependencies(root: Path, members: Iterable[str], *,
                        env: dict[str, str] | None = None) -> str:
    """The third-party requirements of ``members`` (extras allowed), every one pinned to the
    version ``uv.lock`` holds, as a requirements file's text (``uv export``)."""
    selection = [arg for name, extras in map(_split, members)
                 for arg in ("--package", name, *(a for e in extras for a in ("--extra", e)))]
    pins = subprocess.run([_uv(), "export", "--frozen", "--offline", "--no-emit-workspace",
                           "--no-dev", "--no-hashes", "--no-header", "--no-annotate",
                           *selection], capture_output=True, text=True, timeout=120, cwd=root,
                          env=env)
    if pins.returncode != 0:
        raise RuntimeError(f"uv export of the pinned dependencies of {' '.join(members)} failed "
                           f"(run `uv sync` in {root} first):\n{pins.stderr}")
    return pins.stdout


def repack_installed(requirements: str, out: Path) -> list[Path]:
    """Wheels of the distributions named in ``requirements`` (a requirements file's text),
    rebuilt from this environment's installed files and their RECORD: a wheelhouse for pip's
    ``--no-index --find-links`` where no wheel files are kept (uv's cache holds them unpacked).
    Entries under ``..`` (console scripts) are left out: the installer writes those again."""
    import base64
    import hashlib
    import zipfile
    from importlib import metadata

    out.mkdir(parents=True, exist_ok=True)
    skipped = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
    wheels = []
    for line in requirements.splitlines():
        name = re.split(r"[\s=<>!~;\[]", line.strip(), maxsplit=1)[0]
        if not name or name.startswith(("#", "-")):
            continue
        dist = metadata.distribution(name)
        tags = [v for k, v in (ln.split(": ", 1) for ln in
                               (dist.read_text("WHEEL") or "").splitlines() if ": " in ln)
                if k == "Tag"]
        if not tags:
            raise RuntimeError(f"{name} was not installed from a wheel: no tags to repack with")
        interpreters, abis, platforms = (sorted({t.split("-")[i] for t in tags}) for i in range(3))
        stem = f"{_normalize(dist.metadata['Name']).replace('-', '_')}-{dist.version}"
        wheel = out / f"{stem}-{'.'.join(interpreters)}-{'.'.join(abis)}-{'.'.join(platforms)}.whl"
        record, info = [], f"{stem}.dist-info"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in dist.files or []:
                rel = file.as_posix()
                if rel.startswith("..") or "__pycache__" in rel or (
                        rel.split("/")[0].endswith(".dist-info")
                        and rel.split("/")[-1] in skipped):
                    continue
                data = Path(str(dist.locate_file(file))).read_bytes()
                if rel.split("/")[0].endswith(".dist-info"):
                    rel = f"{info}/{rel.split('/', 1)[1]}"
                archive.writestr(rel, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                record.append(f"{rel},sha256={digest.decode()},{len(data)}")
            record.append(f"{info}/RECORD,,")
            archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
        wheels.append(wheel)
    return wheels


def fresh_install(workdir: Path, root: Path, members: tuple[str, ...], *,
                  dists: Path | None = None) -> FreshInstall:
    """A new environment ``workdir/venv`` with ``members`` (distribution names, extras allowed:
    ``"goldfish-core[demo]"``) installed from their wheels — those in ``dists`` when given
    (built once by :func:`build_dists`), else built now into ``workdir/wheels``."""
    uv = _uv()
    parsed = [_split(m) for m in members]
    if dists is None:
        dists = build_dists(root, workdir / "wheels", [name for name, _ in parsed], sdist=False)
    venv = workdir / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True,
                   capture_output=True, timeout=120)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH") and not k.startswith("GOLDFISH_")}
    done = FreshInstall(venv, env, workspace=set(workspace_members(root, released=False)))
    third_party = workdir / "third-party.txt"
    third_party.write_text(pinned_dependencies(root, members, env=env))
    wheels = [str(built_wheel(dists, name)) for name, _ in parsed]
    installed = subprocess.run(
        [uv, "pip", "install", "-q", "--offline", "--no-deps", "--python", str(done.python),
         "-r", str(third_party), *wheels], capture_output=True, text=True, timeout=600, env=env)
    if installed.returncode != 0:
        raise RuntimeError(f"uv pip install {' '.join(members)} failed:\n{installed.stderr}")
    check = subprocess.run([uv, "pip", "check", "--python", str(done.python)],
                           capture_output=True, text=True, timeout=120, env=env)
    if check.returncode != 0:
        raise RuntimeError(f"the environment with {' '.join(members)} has unmet requirements:\n"
                           f"{check.stdout}{check.stderr}")
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
