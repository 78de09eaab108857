"""Creating a project: ``goldfish init``.

Everything is built in a staging directory next to (or, for an existing directory, inside) the
target and moved into place only when complete, with ``goldfish.yaml`` last: a project is found by
its ``goldfish.yaml`` plus ``.goldfish/``, so an interrupted init never leaves something that looks
like a project. Importing existing code (``from_dir``) runs after the move; if it fails, everything
init created is removed again.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from goldfish.errors import ConflictError, GoldfishError, InvalidInputError, NotFoundError
from goldfish.project import CONFIG_FILE, GOLDFISH_DIR, SLOTS_DIR, STATE_FILE, Project

if TYPE_CHECKING:
    from goldfish.plugins import Plugins

MAX_SLOTS = 20
GITIGNORE_LINE = ".goldfish/"
#: What init creates at the root of the target, in the order it is moved into place.
CREATED = (GOLDFISH_DIR, SLOTS_DIR, STATE_FILE, CONFIG_FILE)

CONFIG_TEMPLATE = """\
# Goldfish project configuration. Every key is described in docs/config.md;
# check this file with `goldfish config check`.

project: {name}

# What this project is trying to achieve; heads STATE.md.
goal: {goal}

# Workspace slots: workspaces/w1 … w{slots} hold the code agents edit (1–20).
slots: {slots}

# Rules every experiment must respect, shown in STATE.md and to reviewers, e.g.
#   - evaluate only on the frozen test split
invariants: []

# Where stages run. A profile names a compute backend (`goldfish doctor` lists the installed
# ones) plus resources: image, cpus, memory_gb, gpu: {{type, count}}, spot, timeout_minutes, env.
profiles:
  local: {{backend: local}}
default_profile: local

# Where outputs are kept: file://PATH (relative to the project), gs://bucket/prefix, s3://...
storage: file://.goldfish/store

limits:
  max_file_mb: 50        # larger workspace files are refused; register them as data sources
"""


def render_config(name: str, slots: int, goal: str) -> str:
    # JSON strings are valid YAML scalars, so any name or goal is quoted safely.
    return CONFIG_TEMPLATE.format(name=json.dumps(name), goal=json.dumps(goal), slots=slots)


def render_state(name: str, goal: str, slots: int, invariants: list[str],
                 mounted: dict[str, str] | None = None) -> str:
    """The first STATE.md, before the memory plugin takes over."""
    mounted = mounted or {}
    lines = [f"# {name}", "", "## Goal", "", goal or "_No goal set yet: add `goal:` to "
             "goldfish.yaml._", "", "## Workspaces", ""]
    for i in range(1, slots + 1):
        slot = f"w{i}"
        lines.append(f"- `{slot}`: {mounted.get(slot, '(empty)')}")
    lines += ["", "## Invariants (do not change)", ""]
    lines += [f"- {rule}" for rule in invariants] or ["_None recorded._"]
    lines += ["", "## Runs", "", "_No runs yet._", ""]
    return "\n".join(lines)


def init_project(path: str | os.PathLike[str] | None = None, *, name: str | None = None,
                 slots: int = 3, from_dir: str | os.PathLike[str] | None = None,
                 workspace: str | None = None, goal: str = "",
                 plugins: Plugins | None = None) -> Project:
    """Create a project at ``path`` (default: the current directory) and return it.

    ``from_dir`` imports existing code as version 1 of workspace ``workspace`` (default: the
    directory's name), mounted in slot ``w1``.
    """
    target = Path(path if path is not None else Path.cwd()).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{target} exists and is not a directory",
                                "pass a directory (new or existing) to `goldfish init`")
    if not isinstance(slots, int) or isinstance(slots, bool) or not 1 <= slots <= MAX_SLOTS:
        raise InvalidInputError(f"--slots {slots!r} is out of range",
                                f"use a number of slots between 1 and {MAX_SLOTS}")
    name = (name if name is not None else target.name).strip()
    if not name or "\n" in name:
        raise InvalidInputError(f"project name {name!r} is not usable",
                                "pass --name with a short one-line name")
    _refuse_existing(target)
    if workspace is not None and from_dir is None:
        raise InvalidInputError(f"--workspace {workspace!r} names the workspace that --from "
                                "imports, but no --from DIR was given",
                                "add --from DIR, or create an empty workspace after init with "
                                "`goldfish workspace create NAME --mount`")
    source = _check_source(from_dir, target) if from_dir is not None else None
    ws_name = (workspace or _slug(source.name if source else "")) if source else None
    if source is not None and not ws_name:
        raise InvalidInputError(f"cannot derive a workspace name from {source}",
                                "pass --workspace NAME")
    if plugins is None:
        from goldfish.plugins import get_plugins

        plugins = get_plugins()

    created_parents = _make_parents(target.parent)
    fresh = not target.exists()
    staging_parent = target.parent if fresh else target
    stem = target.name if fresh else "init"
    staging = staging_parent / f".{stem}.goldfish-init-{secrets.token_hex(4)}"
    moved: list[Path] = []
    gitignore_before: str | None = None
    try:
        staging.mkdir()
        _build(staging, name=name, slots=slots, goal=goal, plugins=plugins)
        if fresh:
            os.rename(staging, target)
            moved.append(target)
        else:
            gitignore_before = _read(target / ".gitignore")
            for entry in CREATED:
                os.rename(staging / entry, target / entry)
                moved.append(target / entry)
            _add_gitignore(target / ".gitignore")
            shutil.rmtree(staging)
        project = Project(target, plugins)
        project.emit("project.created", subject=name, summary=f"created project {name!r}",
                     slots=slots, goal=goal)
        if source is not None and ws_name is not None:
            _import(project, ws_name, source)
        _refresh_state(project)
    except OSError as exc:
        _undo(staging, moved, target, gitignore_before, created_parents)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise ConflictError(f"{exc.filename2 or exc.filename or target} appeared while "
                                "the project was being created (another `goldfish init`?)",
                                "nothing was written; check the directory and retry") from None
        raise GoldfishError(f"cannot create the project at {target}: {exc.strerror or exc}",
                            "check the path, its permissions and the free disk space") from None
    except BaseException:
        _undo(staging, moved, target, gitignore_before, created_parents)
        raise
    return project


def _refuse_existing(target: Path) -> None:
    real = target.resolve()
    for outer in real.parents:
        # a project inside another's slot would be versioned into that workspace, .goldfish/ is
        # Goldfish's own; elsewhere inside a project nesting is harmless
        inside = [d for d in (outer / SLOTS_DIR, outer / GOLDFISH_DIR) if d in (real, *real.parents)]
        if inside and (outer / CONFIG_FILE).is_file():
            raise ConflictError(f"{target} is inside {inside[0]} of the Goldfish project at "
                                f"{outer}", "create the new project outside that directory (a "
                                "project in a slot would be saved into the slot's workspace)")
    if (target / CONFIG_FILE).exists():
        raise ConflictError(f"a Goldfish project already exists at {target} "
                            f"({target / CONFIG_FILE})",
                            "use it as it is, or pass another directory to `goldfish init`")
    for entry in CREATED:
        if os.path.lexists(target / entry):
            raise ConflictError(f"{target / entry} already exists, so `goldfish init` would "
                                "overwrite it", f"move {entry} away or initialize another "
                                "directory")


def _check_source(from_dir: str | os.PathLike[str], target: Path) -> Path:
    source = Path(from_dir).expanduser().absolute()
    if not source.exists():
        raise NotFoundError(f"--from {str(from_dir)!r}: {source} does not exist",
                            "pass the directory that holds the code to import")
    if not source.is_dir():
        raise InvalidInputError(f"--from {str(from_dir)!r}: {source} is not a directory",
                                "pass the directory that holds the code to import")
    real_source, real_target = source.resolve(), target.resolve()
    if real_source == real_target or real_source in real_target.parents:
        raise InvalidInputError(
            f"--from {str(from_dir)!r} contains the new project directory {target}",
            f"create the project elsewhere, e.g. `goldfish init ../{target.name}-lab --from "
            f"{from_dir}`")
    return source


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _make_parents(parent: Path) -> list[Path]:
    missing = []
    for folder in (parent, *parent.parents):
        if folder.exists():
            break
        missing.append(folder)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GoldfishError(f"cannot create {parent}: {exc.strerror}",
                            "check the path and its permissions") from None
    return missing


def _build(root: Path, *, name: str, slots: int, goal: str, plugins: Plugins) -> None:
    from goldfish.config import validate_config

    text = render_config(name, slots, goal)
    validate_config(text, root / CONFIG_FILE, plugins)  # the template must always be valid
    project = Project(root, plugins)
    for folder in (project.runs_dir, project.cache_dir):
        folder.mkdir(parents=True)
    for i in range(1, slots + 1):
        project.slot_path(f"w{i}").mkdir(parents=True)
    project.db.migrate()  # before the repository: a database missing next to one is a fault
    project.db.close()
    init_repository(project.repo_path)
    (root / STATE_FILE).write_text(render_state(name, goal, slots, []), encoding="utf-8")
    (root / ".gitignore").write_text(f"{GITIGNORE_LINE}\n", encoding="utf-8")
    (root / CONFIG_FILE).write_text(text, encoding="utf-8")


def init_repository(path: Path) -> None:
    """The bare version repository (through the snapshot service when it provides one)."""
    try:
        from goldfish import snapshot
    except ModuleNotFoundError as exc:
        if exc.name != "goldfish.snapshot":
            raise
        snapshot = None  # type: ignore[assignment]
    init = getattr(snapshot, "init_repository", None)
    if init is not None:
        init(path)
        return
    from dulwich.repo import Repo

    Repo.init_bare(str(path), mkdir=True).close()


def _import(project: Project, workspace: str, source: Path) -> None:
    from goldfish.workspaces import Workspaces

    Workspaces(project).create(workspace, from_dir=source, mount="w1")


def _refresh_state(project: Project) -> None:
    """Let the memory plugin render STATE.md now that the project is in place."""
    import sys

    try:
        text = project.plugins.render_orientation(project)
    except Exception as exc:
        print(f"goldfish: warning: could not render {STATE_FILE}: {exc!r}", file=sys.stderr)
        return
    if not text:
        config = project.config
        mounted = {row["slot"]: f"{row['workspace']}" for row in project.db.query(
            "SELECT slot, workspace FROM slots WHERE workspace IS NOT NULL")}
        text = render_state(config.project, config.goal, config.slots, config.invariants,
                            mounted)
    if text:
        tmp = project.state_path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, project.state_path)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _add_gitignore(path: Path) -> None:
    before = _read(path)
    if before is not None and any(line.strip() in (GITIGNORE_LINE, GOLDFISH_DIR, f"/{GITIGNORE_LINE}")
                                  for line in before.splitlines()):
        return
    text = (before or "")
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(f"{text}{GITIGNORE_LINE}\n", encoding="utf-8")


def _undo(staging: Path, moved: list[Path], target: Path, gitignore_before: str | None,
          created_parents: list[Path]) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    for path in reversed(moved):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if moved and target.is_dir() and target not in moved:
        gitignore = target / ".gitignore"
        if gitignore_before is None:
            gitignore.unlink(missing_ok=True)
        else:
            gitignore.write_text(gitignore_before, encoding="utf-8")
    for folder in created_parents:
        try:
            folder.rmdir()
        except OSError:
            break
