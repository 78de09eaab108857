"""``goldfish du``: what the store holds, by workspace and by run, and what gc/prune would free.

``du`` walks the store; ``status`` never does: it reads the figure the last ``du`` or ``gc``
left in ``.goldfish/cache/du.json`` and shows a line when the reclaimable part is large.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.errors import GoldfishError
from goldfish.plain import field, record
from goldfish.snapshot import human_size as human

if TYPE_CHECKING:
    from goldfish.project import Project

CACHE = "du.json"
#: status shows a line when this much can be reclaimed (and it is a tenth of the store or more)
LARGE = 1024 ** 3


@record
class DuReport:
    total: int = 0  # artifact store + version store + run folders + tmp + backups
    store: int = 0
    store_objects: int = 0
    versions: int = 0
    runs_dirs: int = 0
    tmp: int = 0
    backups: int = 0  # .goldfish/backups (`goldfish backup`'s default destination)
    by_workspace: list[dict[str, Any]] = field(default_factory=list)
    by_run: list[dict[str, Any]] = field(default_factory=list)
    pruned: dict[str, int] = field(default_factory=dict)
    reclaimable: dict[str, Any] = field(default_factory=dict)

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        out = dict(self.__dict__)
        if limit is not None:
            out["by_run"] = self.by_run[:limit]
            out["by_run_more"] = max(0, len(self.by_run) - limit)
        return out

    def render(self, limit: int = 10) -> str:
        out = [f"total {human(self.total)}: outputs {human(self.store)} "
               f"({self.store_objects} objects), versions {human(self.versions)}, run folders "
               f"{human(self.runs_dirs)}, tmp {human(self.tmp)}"
               + (f", backups {human(self.backups)}" if self.backups else "")]
        if self.by_workspace:
            out.append("by workspace (outputs and run folders; shared objects count in each):")
            out += [f"  {w['workspace']:20} {human(w['bytes']):>9}  {w['runs']} runs"
                    for w in self.by_workspace]
        if self.by_run:
            out.append(f"largest runs (of {len(self.by_run)}):")
            out += [f"  {r['run']:20} {human(r['bytes']):>9}  {r['workspace']} {r['state']}"
                    for r in self.by_run[:limit]]
        if self.pruned.get("records"):
            out.append(f"pruned, restorable: {self.pruned['records']} records holding "
                       f"{human(self.pruned['bytes'])} (freed by gc after their window)")
        r = self.reclaimable
        line = f"reclaimable: gc {human(r.get('gc', 0))}"
        if r.get("prune") is not None:
            line += (f", prune {human(r['prune'])} ({r.get('prune_runs', 0)} runs, "
                     f"{r.get('prune_versions', 0)} versions; freed by gc once their window "
                     "passes)")
        else:
            line += " (prune: set retention: in goldfish.yaml to see what it would free)"
        out.append(line)
        return "\n".join(out)


def disk_usage(project: Project, *, now: float | None = None,
               grace: float | None = None) -> DuReport:
    from goldfish.artifacts import ArtifactStore
    from goldfish.lifecycle import reach
    from goldfish.lifecycle.gc import DEFAULT_GRACE, collect_garbage, list_store, tree_size
    from goldfish.lifecycle.prune import plan

    grace = DEFAULT_GRACE if grace is None else grace
    clock = time.time() if now is None else now
    store = ArtifactStore.for_project(project)
    listed = list_store(store)
    sizes = {o.uri: o.size for o in listed}
    trees = {o.uri for o in listed if "/trees/" in o.uri}
    report = DuReport(store=sum(sizes.values()), store_objects=len(sizes))
    report.versions = tree_size(project.repo_path)
    report.tmp = tree_size(project.goldfish_dir / "tmp")
    report.backups = tree_size(project.goldfish_dir / "backups")
    db = project.db
    digests_by_run: dict[str, set[str]] = {}
    for run_id, digest in db.query("SELECT run_id, digest FROM outputs"):
        digests_by_run.setdefault(run_id, set()).add(digest)
    runs = db.query("SELECT id, workspace, state FROM runs")
    dirs = _run_dirs(project.runs_dir)
    report.runs_dirs = sum(dirs.values())
    per_ws: dict[str, set[str]] = {}
    ws_runs: dict[str, int] = {}
    ws_dirs: dict[str, int] = {}
    for row in runs:
        uris = reach.store_uris(store, digests_by_run.get(row["id"], ()), trees)
        own = sum(sizes.get(u, 0) for u in uris) + dirs.get(row["id"], 0)
        report.by_run.append({"run": row["id"], "workspace": row["workspace"],
                              "state": row["state"], "bytes": own})
        per_ws.setdefault(row["workspace"], set()).update(uris)
        ws_runs[row["workspace"]] = ws_runs.get(row["workspace"], 0) + 1
        ws_dirs[row["workspace"]] = ws_dirs.get(row["workspace"], 0) + dirs.get(row["id"], 0)
    report.by_run.sort(key=lambda r: (-r["bytes"], r["run"]))
    report.by_workspace = sorted(
        ({"workspace": ws, "runs": ws_runs[ws],
          "bytes": sum(sizes.get(u, 0) for u in uris) + ws_dirs[ws]}
         for ws, uris in per_ws.items()), key=lambda w: (-w["bytes"], w["workspace"]))
    report.total = (report.store + report.versions + report.runs_dirs + report.tmp
                    + report.backups)
    everything = reach.collect(project, now=clock)
    live = reach.collect(project, now=clock, expired_after=-1.0)  # without pruned records
    reachable = reach.store_uris(store, everything.digests, trees)  # reads every manifest once
    held = reachable - reach.store_uris(store, live.digests, trees)
    pruned_dirs = everything.runs - live.runs
    report.pruned = {"records": int(db.one("SELECT count(*) FROM pruned")[0]),  # type: ignore[index]
                     "bytes": sum(sizes.get(u, 0) for u in held)
                     + sum(dirs.get(r, 0) for r in pruned_dirs)}
    gc = collect_garbage(project, dry_run=True, grace=grace, now=clock)
    report.reclaimable = {"gc": gc.freed, "prune": None}
    try:
        run_ids, tags, _ = plan(project, now=clock)
    except GoldfishError:
        pass
    else:
        without = reach.collect(project, now=clock, exclude_runs=run_ids, exclude_versions=tags)
        freed = reachable - reach.store_uris(store, without.digests, trees)
        report.reclaimable.update(
            prune=sum(sizes.get(u, 0) for u in freed) + sum(dirs.get(r, 0) for r in run_ids),
            prune_runs=len(run_ids), prune_versions=len(tags))
    remember(project, reclaimable_gc=gc.freed, at=clock, total=report.total,
             reclaimable_prune=report.reclaimable.get("prune") or 0)
    return report


def _run_dirs(runs_dir: Path) -> dict[str, int]:
    from goldfish.lifecycle.gc import tree_size

    try:
        entries = list(os.scandir(runs_dir))
    except FileNotFoundError:
        return {}
    return {e.name: tree_size(Path(e.path)) for e in entries if e.is_dir(follow_symlinks=False)}


def remember(project: Project, *, reclaimable_gc: int, at: float, total: int | None = None,
             reclaimable_prune: int | None = None) -> None:
    """Keep the figures status shows (after every du and gc); never fails the caller."""
    path = project.cache_dir / CACHE
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    data = {"at": at, "total": total if total is not None else old.get("total", 0),
            "reclaimable_gc": reclaimable_gc,
            "reclaimable_prune": (reclaimable_prune if reclaimable_prune is not None
                                  else old.get("reclaimable_prune", 0))}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{CACHE}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def status_line(project: Project, *, now: float | None = None) -> str | None:
    """One line for ``status`` when the last du/gc found a lot to reclaim; reads one small file."""
    try:
        data = json.loads((project.cache_dir / CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    reclaim = int(data.get("reclaimable_gc", 0)) + int(data.get("reclaimable_prune", 0))
    total = int(data.get("total", 0))
    if reclaim < LARGE or (total and reclaim * 10 < total):
        return None
    age = ((time.time() if now is None else now) - float(data.get("at", 0))) / 3600
    parts = []
    if data.get("reclaimable_gc"):
        parts.append(f"`goldfish gc` frees {human(data['reclaimable_gc'])}")
    if data.get("reclaimable_prune"):
        parts.append(f"`goldfish prune` {human(data['reclaimable_prune'])}")
    return (f"storage: {human(reclaim)} reclaimable of {human(total)} (as of {age:.0f} h ago): "
            + ", ".join(parts) + "; `goldfish du` for details")
