"""Named data sources: registered files or directories, stored by content digest.

A source is what a stage's ``inputs: {raw: {source: NAME}}`` reads. Registering stores the bytes
in the artifact store (identical content is stored once) and records name, type, digest and where
it came from; promoting a run's output makes that exact artifact a source without copying it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.errors import ConflictError, InvalidInputError, NotFoundError, did_you_mean

if TYPE_CHECKING:
    from goldfish.project import Project

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
TYPES = ("npy", "csv", "json", "file", "directory")


@dataclass
class Source:
    name: str
    type: str
    digest: str
    uri: str
    size: int
    description: str
    origin: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise InvalidInputError(f"source name {name!r} is not valid",
                                "start with a letter; use letters, digits, '_' or '-' (≤ 64)")


def _guess_type(path: Path) -> str:
    if path.is_dir():
        return "directory"
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in ("npy", "csv", "json") else "file"


def register_source(project: Project, name: str, path: str | Path, description: str = "",
                    type: str | None = None, *, replace: bool = False) -> Source:
    """Store ``path`` (inside the project) as source ``name``."""
    from goldfish.artifacts import ArtifactStore

    _check_name(name)
    resolved = project.inside(path, what="source path", base=Path.cwd())
    owned = project.goldfish_dir.resolve()
    if resolved == owned or owned in resolved.parents:
        raise InvalidInputError(
            f"source path {str(path)!r} is inside {owned.name}/, which Goldfish owns (its "
            "database, versions and stored outputs)",
            "register a file of your own; to make a run's output a source, promote it "
            "(`goldfish sources promote RUN/STAGE.OUTPUT NAME`, MCP `promote_output`)")
    if not resolved.exists():
        raise NotFoundError(f"source path {str(path)!r} does not exist",
                            "give a file or directory inside the project")
    kind = type or _guess_type(resolved)
    if kind not in TYPES:
        raise InvalidInputError(f"unknown source type {kind!r}",
                                did_you_mean(kind, TYPES) or f"one of: {', '.join(TYPES)}")
    if kind == "directory" and not resolved.is_dir():
        raise InvalidInputError(f"source {name!r} is declared a directory but {path} is a file",
                                "drop --type or point at a directory")
    if kind != "directory" and resolved.is_dir():
        raise InvalidInputError(f"source {name!r} is declared {kind} but {path} is a directory",
                                "use --type directory")
    existing = project.db.one("SELECT digest FROM sources WHERE name = ?", (name,))
    if existing is not None and not replace:
        raise ConflictError(f"source {name!r} already exists",
                            "choose another name, or replace it explicitly (--replace); runs "
                            "that used the old content keep pointing at it by digest")
    ref = ArtifactStore.for_project(project).store(resolved)
    origin = str(resolved.relative_to(project.root))
    return _save(project, name, kind, ref, description, origin)


def _save(project: Project, name: str, kind: str, ref: Any, description: str,
          origin: str) -> Source:
    now = time.time()
    with project.tx() as conn:
        conn.execute("INSERT OR REPLACE INTO sources (name, type, digest, uri, size, kind, "
                     "description, origin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (name, kind, ref.digest, ref.uri, ref.size, ref.kind, description, origin,
                      now))
        project.emit("source.registered", name, f"source {name} ({kind}) from {origin}",
                     type=kind, digest=ref.digest, origin=origin, description=description)
    return get_source(project, name)


def promote_output(project: Project, run_ref: str, stage: str, output: str, name: str,
                   description: str = "", *, replace: bool = False) -> Source:
    """Make a run's output a named source (same digest; nothing is copied)."""
    from goldfish.runs.plan import output_row
    from goldfish.runs.records import resolve_run

    _check_name(name)
    run_id = resolve_run(project, run_ref)
    row = output_row(project, run_id, stage, output)
    if project.db.one("SELECT 1 FROM sources WHERE name = ?", (name,)) and not replace:
        raise ConflictError(f"source {name!r} already exists", "choose another name")
    full = project.db.query("SELECT * FROM outputs WHERE run_id = ? AND stage = ? AND name = ?",
                            (run_id, stage, output))[0]

    class _Ref:
        digest, uri, size, kind = full["digest"], full["uri"], full["size"], full["kind"]

    return _save(project, name, str(row["type"]), _Ref, description,
                 f"{run_id}/{stage}.{output}")


def get_source(project: Project, name: str) -> Source:
    row = project.db.one("SELECT * FROM sources WHERE name = ?", (name,))
    if row is None:
        names = [r[0] for r in project.db.query("SELECT name FROM sources")]
        raise NotFoundError(f"unknown source {name!r}",
                            did_you_mean(name, names) or "list sources with `goldfish sources`")
    return Source(name=row["name"], type=row["type"], digest=row["digest"], uri=row["uri"],
                  size=row["size"], description=row["description"], origin=row["origin"],
                  created_at=row["created_at"])


def list_sources(project: Project) -> list[Source]:
    return [get_source(project, r[0])
            for r in project.db.query("SELECT name FROM sources ORDER BY name")]
