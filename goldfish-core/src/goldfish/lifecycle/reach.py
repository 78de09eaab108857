"""What the project still references: the mark phase shared by gc, du and prune.

Roots are read from the database, never from the store: every output and pinned input of every
recorded stage run (a queued or running stage's pins included), every registered source, every
version, ref and run snapshot, and everything a pruned record held while its restore window is
open. A directory artifact reaches its manifest and every file the manifest lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goldfish.lifecycle import DAY

if TYPE_CHECKING:
    from goldfish.artifacts import ArtifactStore
    from goldfish.project import Project

DEFAULT_WINDOW_DAYS = 30.0


@dataclass
class Roots:
    digests: set[str] = field(default_factory=set)  # artifact digests (file or directory)
    commits: set[str] = field(default_factory=set)  # version store commits
    runs: set[str] = field(default_factory=set)  # run ids whose .goldfish/runs/<id> stays
    jobs: set[str] = field(default_factory=set)  # job ids of stages that have not ended


def window_seconds(project: Project) -> float:
    days = project.config.get("retention.window_days")
    return float(days if days is not None else DEFAULT_WINDOW_DAYS) * DAY


def pins(raw: str | None) -> list[dict[str, Any]]:
    """The pinned inputs of a stage run (its ``stage_runs.inputs``, live or archived); none when
    it does not parse."""
    try:
        data = json.loads(raw or "{}")
    except (ValueError, TypeError):
        return []
    return [p for p in data.values() if isinstance(p, dict)] if isinstance(data, dict) else []


def _pin_digests(raw: str | None) -> Iterable[str]:
    return [str(p["digest"]) for p in pins(raw) if p.get("digest")]


def _add_rows(roots: Roots, tables: dict[str, list[dict[str, Any]]]) -> None:
    """What one pruned record's rows reference (same rules as live rows)."""
    for row in tables.get("outputs", []) + tables.get("stage_inputs", []):
        if row.get("digest"):
            roots.digests.add(str(row["digest"]))
    for row in tables.get("stage_runs", []):
        roots.digests.update(_pin_digests(row.get("inputs")))
    for row in tables.get("runs", []) + tables.get("versions", []):
        if row.get("commit_sha"):
            roots.commits.add(str(row["commit_sha"]))
        if row.get("id"):
            roots.runs.add(str(row["id"]))


def collect(project: Project, *, now: float, expired_after: float | None = None,
            exclude_runs: Iterable[str] = (), exclude_versions: Iterable[str] = ()) -> Roots:
    """Every root. Pruned records count until ``now - expired_after`` (default: the retention
    window); ``exclude_*`` leave records out, to ask what pruning them would free."""
    with project.db.snapshot():  # a stage recorded halfway through the mark: whole or not at all
        return _collect(project, now, expired_after, set(exclude_runs), set(exclude_versions))


def _collect(project: Project, now: float, expired_after: float | None, skip_runs: set[str],
             skip_versions: set[str]) -> Roots:
    from goldfish.runs.states import FINAL_STAGE

    db = project.db
    roots = Roots()
    for run_id, digest in db.query("SELECT run_id, digest FROM outputs UNION ALL "
                                   "SELECT run_id, digest FROM stage_inputs"):
        if digest and run_id not in skip_runs:
            roots.digests.add(digest)
    finals = tuple(FINAL_STAGE)
    marks = ",".join("?" * len(finals))
    for row in db.query(f"SELECT run_id, inputs, job_id, state FROM stage_runs "
                        f"WHERE inputs != '{{}}' OR state NOT IN ({marks})", finals):
        if row["run_id"] in skip_runs:
            continue
        roots.digests.update(_pin_digests(row["inputs"]))
        if row["state"] not in finals and row["job_id"]:
            roots.jobs.add(row["job_id"])
    roots.digests.update(r[0] for r in db.query("SELECT digest FROM sources"))
    for run_id, commit in db.query("SELECT id, commit_sha FROM runs"):
        if run_id in skip_runs:
            continue
        roots.runs.add(run_id)
        if commit:
            roots.commits.add(commit)
    for tag, commit in db.query("SELECT tag, commit_sha FROM versions"):
        if tag not in skip_versions:
            roots.commits.add(commit)
    window = window_seconds(project) if expired_after is None else expired_after
    for kind, ident, rows in db.query("SELECT kind, id, rows FROM pruned WHERE pruned_at >= ?",
                                      (now - window,)):
        if (kind == "run" and ident in skip_runs) or (kind == "version" and ident in skip_versions):
            continue
        _add_rows(roots, json.loads(rows))
    return roots


def store_uris(store: ArtifactStore, digests: Iterable[str], trees: set[str]) -> set[str]:
    """The store URIs that ``digests`` reach: the object of a file, the manifest and every file
    of a directory (``trees``: the manifest URIs that exist, so absent ones are not read)."""
    from goldfish.errors import GoldfishError

    out: set[str] = set()
    for digest in digests:
        if not digest.startswith("sha256:"):
            continue
        try:
            tree = store.tree_uri(digest)
        except GoldfishError:
            continue
        out.add(store.object_uri(digest))
        if tree in trees:
            out.add(tree)
            try:
                files = store.manifest(digest)
            except GoldfishError:
                continue
            out.update(store.object_uri(f["digest"]) for f in files.values())
    return out
