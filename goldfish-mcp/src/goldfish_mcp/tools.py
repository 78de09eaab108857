"""The agent's tools: thin wrappers over Goldfish's core services.

Every tool calls the same service the CLI calls (``Workspaces``, ``Engine``, ``runs.records``,
``memory``, ``orientation``, ``patterns``…) and only shapes the answer: compact JSON as
structured content plus a short text, lists bounded and paginated by cursor, long text clipped.
A :class:`goldfish.errors.GoldfishError` becomes a tool error carrying its message and hint;
anything else becomes a tool error that says it is a bug — the server never goes down.

Deliberately no ``from __future__ import annotations``: the SDK reads these signatures at runtime
to build each tool's input schema.
"""

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from goldfish import faults
from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError
from goldfish.project import Project
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

Answer = Annotated[CallToolResult, dict[str, Any]]
TEXT_CAP = 12_000  # characters of free text (diffs, logs) in one answer
PAGE_MAX = 100
PLOT_PANELS = 9   # metrics (panels) in one plot_metrics image
PLOT_CURVES = 32  # curves in one image (runs x metrics)

Name = Annotated[str, Field(min_length=1, max_length=100, description="a name")]
RunRef = Annotated[str, Field(min_length=1, max_length=200, description=(
    "a run: id (r-20260101-a1b2c3), unique prefix, a tag, `latest`, `@best` or "
    "`<workspace>@best`"))]
Text = Annotated[str, Field(max_length=4000)]
Cursor = Annotated[str | None, Field(default=None, max_length=20, description=(
    "pass the `next_cursor` of the previous page; omit for the first page"))]
Limit = Annotated[int, Field(ge=1, le=PAGE_MAX, description="items per page (1-100)")]


@dataclass(frozen=True)
class ToolSpec:
    fn: Callable[..., Any]
    name: str
    title: str
    annotations: ToolAnnotations


def _error_text(exc: GoldfishError) -> str:
    return f"{exc.message}\nhint: {exc.hint}" if exc.hint else exc.message


def answer(data: Any, text: str | None = None) -> CallToolResult:
    """Structured content (``data``) plus a text for clients that show only text."""
    payload = data if isinstance(data, dict) else {"items": data}
    body = text if text is not None else json.dumps(payload, default=str, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=body)],
                          structured_content=json.loads(json.dumps(payload, default=str)))


def clip(text: str | None, limit: int = TEXT_CAP) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit} more characters clipped]"


def _offset(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit():
        raise InvalidInputError(f"cursor {cursor!r} is not one this server returned",
                                "pass the `next_cursor` of the previous page, or omit it")
    return int(cursor)


class GoldfishTools:
    """The tool set bound to one project. :meth:`specs` lists them for the server."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._specs: list[ToolSpec] = []
        self._register()

    # --- registration ---------------------------------------------------------------------
    def specs(self) -> list[ToolSpec]:
        return list(self._specs)

    def _add(self, fn: Callable[..., Any], title: str, *, read_only: bool = False,
             destructive: bool = False, idempotent: bool = False) -> None:
        name = fn.__name__

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except ToolError:
                raise
            except GoldfishError as exc:
                raise ToolError(_error_text(exc)) from None
            except RecursionError:
                raise ToolError(f"{name}: the argument is nested too deeply\nhint: pass plain "
                                "values") from None
            except Exception as exc:
                fault = faults.name(exc)  # a full disk, a read-only project, a damaged file
                if fault is not None:
                    raise ToolError(_error_text(fault)) from None
                raise ToolError(f"{name} failed unexpectedly: {type(exc).__name__}: {exc}\n"
                                "hint: this is a bug in Goldfish or a plugin; the call may be "
                                "retried, and `status` shows the project's state") from None

        annotations = ToolAnnotations(title=title, read_only_hint=read_only,
                                      destructive_hint=destructive, idempotent_hint=idempotent,
                                      open_world_hint=False)
        self._specs.append(ToolSpec(guarded, name, title, annotations))

    def _register(self) -> None:
        ro = {"read_only": True, "idempotent": True}
        self._add(self.status, "Where am I? Orientation after context loss")
        self._add(self.note, "Record a note, decision or open question")
        self._add(self.recall, "Search everything recorded", **ro)
        self._add(self.create_workspace, "Create a workspace")
        self._add(self.mount, "Mount a workspace into a slot")
        self._add(self.unmount, "Save and unmount a slot")
        self._add(self.save_version, "Save the slot as a new version", idempotent=True)
        self._add(self.rollback, "Roll a workspace back to a version", destructive=True)
        self._add(self.diff, "Diff slots and versions", **ro)
        self._add(self.workspaces, "List workspaces and slots", **ro)
        self._add(self.delete_workspace, "Delete a workspace (versions, runs, tags kept)",
                  destructive=True)
        self._add(self.backup, "Back up the project's memory")
        self._add(self.backups, "List the project's backups", **ro)
        self._add(self.run, "Run a workspace's pipeline")
        self._add(self.inspect_run, "Inspect a run", **ro)
        self._add(self.logs, "Read a stage's log", **ro)
        self._add(self.cancel, "Cancel a run", destructive=True, idempotent=True)
        self._add(self.runs, "List runs", **ro)
        self._add(self.compare, "Compare two runs", **ro)
        self._add(self.conclude, "Record the verdict on a run", idempotent=True)
        self._add(self.tag, "Tag a run or a version", idempotent=True)
        self._add(self.plot_metrics, "Plot metric curves (PNG)", **ro)
        self._add(self.register_source, "Register a data source")
        self._add(self.sources, "List data sources", **ro)
        self._add(self.promote_output, "Promote a run output to a source")
        self._add(self.lineage, "Lineage of a run or source", **ro)
        self._add(self.gc, "Remove stored objects nothing references", destructive=True)
        self._add(self.prune, "Retire old runs and versions (restorable)", destructive=True)
        self._add(self.du, "What the store holds and what is reclaimable", **ro)
        self._add(self.findings, "List check findings", **ro)
        self._add(self.patterns, "Failure patterns: list, approve, reject")
        self._add(self.profiles, "Compute profiles and backends", **ro)
        self._add(self.pool_drain, "Delete idle warm-pool workers", destructive=True,
                  idempotent=True)

    # --- helpers --------------------------------------------------------------------------
    @property
    def _ws(self) -> Any:
        from goldfish.workspaces import Workspaces

        return Workspaces(self.project)

    def _inside(self, path: str, what: str) -> Path:
        return self.project.inside(path, what=what)

    # --- orientation & memory -------------------------------------------------------------
    def status(self, peek: Annotated[bool, Field(description=(
            "true: do not mark new findings as seen"))] = False) -> Answer:
        """Orientation: goal and invariants, slots, active runs with progress, findings not yet
        seen (each shown once), runs awaiting a conclusion (failed ones with their error), best
        result per workspace with trend, regressions and the distance to the goal's number,
        latest decisions and notes, and suggested next actions. Call it first, and after any
        context loss."""
        from goldfish.orientation import orient

        o = orient(self.project, mark_seen=not peek)
        return answer(o.to_json(), o.render())

    def note(self, text: Annotated[str, Field(min_length=1, max_length=4000, description=(
                 "the thought, decision or question, in a sentence or two"))],
             kind: Annotated[Literal["note", "decision", "question"], Field(description=(
                 "decision: a choice made and why; question: something still open"))] = "note",
             run: Annotated[str | None, Field(max_length=200, description=(
                 "the run it is about, if any"))] = None,
             workspace: Annotated[str | None, Field(max_length=100)] = None) -> Answer:
        """Record a note, a decision or an open question. Decisions and notes come back in
        `status` and STATE.md and are searchable with `recall`."""
        from goldfish.memory import add_note

        n = add_note(self.project, text, kind=kind, run=run, workspace=workspace)
        return answer(n.to_json(), f"{kind} {n.id} recorded")

    def recall(self, query: Annotated[str, Field(max_length=500, description=(
                   "keywords; every word must match (prefixes count), else any word"))],
               kinds: Annotated[list[Literal["note", "decision", "question", "run",
                                             "conclusion", "finding", "pattern"]] | None,
                                Field(max_length=7, description="only these kinds")] = None,
               workspace: Annotated[str | None, Field(max_length=100)] = None,
               since_hours: Annotated[float | None, Field(gt=0, le=1e6, description=(
                   "only entries from the last N hours"))] = None,
               limit: Annotated[int, Field(ge=1, le=50)] = 10) -> Answer:
        """Search everything recorded — notes, decisions, run reasons and hypotheses,
        conclusions, findings, failure patterns — with full-text search, best matches first."""
        from goldfish.memory import recall

        since = time.time() - since_hours * 3600 if since_hours else None
        hits = recall(self.project, query, kinds=list(kinds) if kinds else None,
                      workspace=workspace, since=since, limit=limit)
        items = [{"kind": h.kind, "id": h.id, "text": clip(h.text, 400),
                  "score": round(h.score, 3), "at": h.at,
                  "workspace": h.data.get("workspace")} for h in hits]
        text = "\n".join(f"[{i['kind']} {i['id']}] {i['text']}" for i in items) or "no match"
        return answer({"hits": items}, text)

    # --- workspaces -----------------------------------------------------------------------
    def create_workspace(
            self, name: Annotated[str, Field(min_length=1, max_length=63, description=(
                "lowercase letters, digits, '.', '_' or '-' (e.g. `baseline`)"))],
            goal: Annotated[str, Field(max_length=2000)] = "",
            from_workspace: Annotated[str | None, Field(max_length=100, description=(
                "fork the head of this workspace"))] = None,
            from_version: Annotated[str | None, Field(max_length=100, description=(
                "fork this version (`ws-v3` or a version tag)"))] = None,
            from_dir: Annotated[str | None, Field(max_length=1000, description=(
                "import the files of this directory (inside the project)"))] = None,
            mount: Annotated[bool, Field(description="mount it into a free slot")] = True,
            slot: Annotated[str | None, Field(max_length=10, description=(
                "the slot to mount into (default: the first free one)"))] = None) -> Answer:
        """Create a workspace (a named line of work with versioned files): empty, forked from
        another workspace or version, or imported from a directory; mounted by default so you
        can write its files into `workspaces/<slot>/`."""
        source = str(self._inside(from_dir, "from_dir")) if from_dir else None
        info = self._ws.create(name, goal=goal, from_dir=source, from_workspace=from_workspace,
                               from_version=from_version,
                               mount=(slot or "") if mount or slot else None)
        data = info.to_dict()
        data.pop("versions", None)
        if info.slot:
            data["path"] = str(self.project.slot_path(info.slot))
        where = f", mounted in {info.slot} ({data['path']})" if info.slot else ""
        return answer(data, f"workspace {name} created{where}")

    def mount(self, workspace: Name,
              slot: Annotated[str | None, Field(max_length=10)] = None) -> Answer:
        """Put a workspace's latest version into a slot (default: the first free one), where
        you edit its files."""
        where = self._ws.mount(workspace, slot)
        path = str(self.project.slot_path(where))
        return answer({"workspace": workspace, "slot": where, "path": path},
                      f"{workspace} mounted in {where} ({path})")

    def unmount(self, slot: Annotated[str, Field(min_length=1, max_length=100, description=(
            "a slot (w1) or a mounted workspace's name"))]) -> Answer:
        """Save unsaved changes as a version, then empty the slot."""
        v = self._ws.unmount(slot)
        return answer(v.to_dict(), f"unmounted; head is {v.tag}")

    def save_version(self, workspace: Annotated[str, Field(min_length=1, max_length=100,
                                                           description="workspace or slot")],
                     message: Annotated[str, Field(max_length=2000)] = "") -> Answer:
        """Snapshot the slot's files as a new version (an unchanged tree returns the latest
        version, `created: false`)."""
        v = self._ws.save_version(workspace, message)
        return answer(v.to_dict(), f"{v.tag} {'saved' if v.created else 'unchanged'}")

    def rollback(self, workspace: Name,
                 version: Annotated[str, Field(min_length=1, max_length=100, description=(
                     "`3`, `v3` or `ws-v3`"))]) -> Answer:
        """Make an earlier version the newest (and the slot's files, if mounted). Unsaved
        changes are saved first, so nothing is lost."""
        v = self._ws.rollback(workspace, version)
        return answer(v.to_dict(), f"{workspace} rolled back as {v.tag}")

    def diff(self, a: Annotated[str, Field(min_length=1, max_length=200, description=(
                 "a workspace (its live slot), `slot:w1`, or a version `ws-v3`"))],
             b: Annotated[str | None, Field(max_length=200, description=(
                 "the other side; omitted: unsaved changes, or the version before"))] = None,
             max_chars: Annotated[int, Field(ge=200, le=50_000)] = TEXT_CAP) -> Answer:
        """Differences between two sides (slot or version, across workspaces too): summary,
        per-file stat and the unified diff (clipped)."""
        d = self._ws.diff(a, b)
        data = d.to_dict()
        data["diff"] = clip(d.text(), max_chars)
        data.pop("changes", None)
        data["stat"] = d.stat() if d.changes else ""
        return answer(data, f"{d.summary}\n{data['stat']}\n{data['diff']}".strip())

    def workspaces(self) -> Answer:
        """Every workspace (goal, head version, slot) and every slot's occupant."""
        items = []
        for w in self._ws.list():
            items.append({"name": w.name, "goal": clip(w.goal, 300), "slot": w.slot,
                          "head": w.head.tag if w.head else None, "versions": w.version_count,
                          "parent": w.parent})
        slots = self._ws.slot_map()
        text = "\n".join(f"{i['name']}: {i['head']} slot={i['slot'] or '-'}" for i in items)
        return answer({"workspaces": items, "slots": slots}, text or "no workspaces yet")

    def delete_workspace(self, workspace: Name,
                         force: Annotated[bool, Field(description=(
                             "delete it although it is mounted (unsaved changes are saved as a "
                             "version first) or runs, tags or forks reference it"))] = False
                         ) -> Answer:
        """Retire a workspace: it leaves listings and its slot; its versions, runs and tags are
        kept and stay resolvable. Refused, with what references it, when it is mounted or runs,
        tags or forks reference it, unless `force`; refused while it has active runs."""
        info = self._ws.delete(workspace, force=force)
        data = {"workspace": info.name, "versions_kept": info.version_count,
                "head": info.head.tag if info.head else None}
        return answer(data, f"workspace {workspace} deleted; {info.version_count} version(s) "
                            "kept")

    # --- backups --------------------------------------------------------------------------
    def _backup_dest(self, dest: str | None) -> str | None:
        """The configured destination, `storage:...`, or a folder inside the project: an agent
        does not send the project's memory anywhere else."""
        if dest is None or (dest.startswith("storage:") and "://" not in dest):
            return dest
        if "://" in dest:
            raise InvalidInputError(f"backup destination {dest!r} is a URI",
                                    "omit dest (the configured `backup.dest`), or pass "
                                    "`storage:` or a folder inside the project")
        return str(self._inside(dest, "dest"))

    def backup(self, dest: Annotated[str | None, Field(max_length=1000, description=(
                   "omit: the configured `backup.dest` (default .goldfish/backups); or "
                   "`storage:` (the project's storage backend) or a folder in the project"))
                   ] = None,
               dry_run: Annotated[bool, Field(description=(
                   "list what would be copied; copy nothing"))] = False) -> Answer:
        """Take a backup of the project's memory (database, versions, run logs, local
        outputs): incremental (only what earlier backups lack is copied) and safe while runs go
        on. Restoring is a human's step: the answer names the `goldfish restore` command."""
        from goldfish.backup import take

        r = take(self.project, self._backup_dest(dest), dry_run=dry_run)
        data = r.to_json()
        data["to_copy"] = data["to_copy"][:PAGE_MAX]
        if dry_run:
            lines = [f"would copy {r.copied_files} of {r.files} files ({r.copied_bytes} of "
                     f"{r.bytes} bytes) to {r.dest}"]
            lines += [f"  {p} ({n} bytes)" for p, n in r.to_copy[:PAGE_MAX]]
            return answer(data, "\n".join(lines))
        return answer(data, f"backup {r.id}: {r.files} files, {r.copied_files} copied to "
                            f"{r.dest}; restore with `goldfish restore {r.source} PATH`")

    def backups(self, dest: Annotated[str | None, Field(max_length=1000, description=(
                    "omit for the configured destination"))] = None,
                limit: Limit = 20) -> Answer:
        """The backups at the destination, newest first: id, time, reason, files, size, schema
        and Goldfish versions, counts, and the source to pass to `goldfish restore`."""
        from goldfish.backup.dest import resolve
        from goldfish.backup.take import listing

        where = resolve(self.project, self._backup_dest(dest))
        items = listing(where, limit)
        text = "\n".join(f"{i['id']} {i['reason']} {i['bytes']} bytes" for i in items)
        return answer({"dest": where.label, "backups": items}, text or "no backups yet")

    # --- runs -----------------------------------------------------------------------------
    def run(self,
            workspace: Annotated[str | None, Field(max_length=100, description=(
                "workspace or slot to run (default: the only mounted one)"))] = None,
            reason: Annotated[str, Field(max_length=2000, description=(
                "why this run: what it tries"))] = "",
            hypothesis: Annotated[str | None, Field(max_length=2000, description=(
                "what you expect and why"))] = None,
            goal: Annotated[str | None, Field(max_length=1000, description=(
                "the result that would count as success"))] = None,
            overrides: Annotated[list[Annotated[str, Field(max_length=500)]], Field(
                max_length=50, description="config overrides `STAGE.KEY=VALUE` (YAML value)"
            )] = [],  # noqa: B006 - never mutated; a list default gives clients a plain schema
            inputs: Annotated[list[Annotated[str, Field(max_length=500)]], Field(
                max_length=50, description="`STAGE.INPUT=SOURCE` or `STAGE.INPUT=RUN/STAGE.OUTPUT`"
            )] = [],  # noqa: B006
            dry_run: Annotated[bool, Field(description="only plan: what would run or be "
                                                       "reused, and why")] = False,
            wait: Annotated[bool, Field(description="wait for the run to end (bounded by "
                                                    "wait_seconds)")] = False,
            wait_seconds: Annotated[float, Field(gt=0, le=600)] = 120.0,
            no_cache: Annotated[bool, Field(description="rerun every stage")] = False,
            rerun: Annotated[list[Annotated[str, Field(max_length=100)]], Field(
                max_length=50, description="stages to rerun even if reusable")] = [],  # noqa: B006
            ) -> Answer:
        """Run a workspace's pipeline from a fresh snapshot of its slot. Stages whose code,
        config and inputs are unchanged are reused. Returns the run id at once, or waits up to
        `wait_seconds` (then returns the state so far; the run goes on)."""
        from goldfish.runs.engine import Engine, parse_set

        engine = Engine(self.project)
        common: dict[str, Any] = {"reason": reason or None, "hypothesis": hypothesis,
                                  "goal": goal, "set_": parse_set(overrides),
                                  "inputs": list(inputs), "force": no_cache,
                                  "rerun": list(rerun)}
        if dry_run:
            plan = engine.run(workspace, dry_run=True, **common)
            return answer(plan.to_json(), plan.render())
        run_id = engine.run(workspace, **common)
        if wait:
            engine.wait(run_id, timeout=wait_seconds)
        data = self._run_summary(run_id)
        return answer(data, _run_text(data))

    def _run_summary(self, ref: str, *, history: bool = False,
                     all_findings: bool = False) -> dict[str, Any]:
        from goldfish.findings import by_severity, info_summary, is_passed_check
        from goldfish.runs.records import get_run, transitions

        info = get_run(self.project, ref)
        stages = []
        for s in info.stages:
            item: dict[str, Any] = {"stage": s.stage, "state": s.state}
            if s.note and s.state in ("reused", "skipped", "queued"):
                item["note"] = clip(s.note, 300)
            if s.metrics:
                item["metrics"] = {n: {"last": m["last"], "min": m["min"], "max": m["max"],
                                       "count": m["count"], "trend": m.get("trend")}
                                   for n, m in list(s.metrics.items())[:20]}
            if s.outputs:
                item["outputs"] = {n: {"type": o["type"], "digest": o["digest"][:19],
                                       "size": o["size"]} for n, o in s.outputs.items()}
            if s.error and s.state in ("failed", "lost"):
                item["error"] = clip(s.error, 3000)
            stages.append(item)
        data: dict[str, Any] = {
            "id": info.id, "state": info.state, "workspace": info.workspace,
            "version": info.version, "reason": info.reason, "error": clip(info.error, 2000),
            "stages": stages,
            "findings": [{**f, "message": clip(f["message"], 300), "data": None}
                         for f in by_severity([f for f in info.findings[::-1] if all_findings
                                               or not is_passed_check(f)])[:20]],
            "passed": [] if all_findings else [
                p["text"] for p in info_summary(info.findings)][:20],
            "reviews": [{**r, "summary": clip(r["summary"], 500)} for r in info.reviews[:10]],
            "conclusion": info.conclusion, "tags": info.tags, "results": info.results,
            "created_at": info.created_at, "finished_at": info.finished_at}
        if info.results and info.results.get("metric"):
            data["result"] = {"metric": info.results["metric"],
                              "value": info.metric(str(info.results["metric"]))}
        if history:
            data["transitions"] = transitions(self.project, info.id)[-100:]
        return data

    def inspect_run(self, run: RunRef,
                    history: Annotated[bool, Field(description=(
                        "include state transitions"))] = False,
                    wait_seconds: Annotated[float, Field(ge=0, le=600, description=(
                        "wait up to this long for an active run to end first"))] = 0.0,
                    all: Annotated[bool, Field(description=(
                        "list passing checks (info) one by one in `findings`, instead of one "
                        "summary line per output in `passed`"))] = False
                    ) -> Answer:
        """A run: reason and hypothesis, state, stages with metrics (last/min/max/trend),
        outputs, errors, findings (blocking, then warnings; passing checks summarized in
        `passed`), reviews, conclusion and tags."""
        from goldfish.runs import states
        from goldfish.runs.engine import Engine
        from goldfish.runs.records import resolve_run

        run_id = resolve_run(self.project, run)
        if wait_seconds > 0:
            row = self.project.db.one("SELECT state FROM runs WHERE id = ?", (run_id,))
            if row is not None and row[0] in states.ACTIVE:
                Engine(self.project).wait(run_id, timeout=wait_seconds)
        data = self._run_summary(run_id, history=history, all_findings=all)
        return answer(data, _run_text(data))

    def logs(self, run: Annotated[str, Field(min_length=1, max_length=300, description=(
                 "RUN or RUN/STAGE (default stage: the running one, else the last launched)"))],
             tail: Annotated[int | None, Field(ge=1, le=10_000, description=(
                 "only the last N lines"))] = None,
             cursor: Annotated[int, Field(ge=0, description=(
                 "byte offset to read from: 0, or `cursor` of the previous read"))] = 0
             ) -> Answer:
        """A stage's log, from a byte cursor (follow by passing back `cursor` until `complete`)
        or its last lines."""
        from goldfish.runs.logs import read_log

        r = read_log(self.project, run, tail=tail, cursor=cursor)
        return answer(r.to_json(), r.text or "(no new log text)")

    def cancel(self, run: RunRef) -> Answer:
        """Stop a run: queued stages are cancelled, running ones are asked to stop."""
        from goldfish.runs.engine import Engine
        from goldfish.runs.records import resolve_run

        run_id = resolve_run(self.project, run)
        state = Engine(self.project).cancel(run_id)
        return answer({"run": run_id, "state": state}, f"run {run_id} {state}")

    def runs(self, workspace: Annotated[str | None, Field(max_length=100)] = None,
             state: Annotated[Literal["queued", "preparing", "running", "finishing", "done",
                                      "failed", "cancelled", "lost", "active"] | None,
                              Field(description="filter by state (`active`: not ended)")] = None,
             tag: Annotated[str | None, Field(max_length=100, description=(
                 "`@best`, `<workspace>@best` or a tag you set"))] = None,
             sort: Annotated[str | None, Field(max_length=100, description=(
                 "order by a metric's last value: `accuracy:desc`, `evaluate.loss:asc`"))] = None,
             limit: Limit = 20, cursor: Cursor = None) -> Answer:
        """Runs, newest first or sorted by a metric, filtered by workspace, state or tag;
        paginated (`next_cursor`)."""
        from goldfish.runs.records import list_runs

        offset = _offset(cursor)
        rows = list_runs(self.project, workspace=workspace, state=state, tag=tag, sort=sort,
                         limit=limit + 1, offset=offset)
        more = len(rows) > limit
        items = [{"id": r.id, "workspace": r.workspace, "version": r.version, "state": r.state,
                  "description": clip(r.description, 200), "metric": r.metric,
                  "outcome": r.outcome, "tags": r.tags, "created_at": r.created_at}
                 for r in rows[:limit]]
        next_cursor = str(offset + limit) if more else None
        text = "\n".join(f"{i['id']} {i['state']} {i['version']} "
                         f"{'' if i['metric'] is None else format(i['metric'], '.4g')} "
                         f"{i['outcome'] or ''} {i['description']}".rstrip() for i in items)
        return answer({"runs": items, "next_cursor": next_cursor}, text or "no runs")

    def compare(self, a: RunRef, b: RunRef,
                code: Annotated[bool, Field(description="include the unified code diff")] = True,
                max_chars: Annotated[int, Field(ge=200, le=50_000)] = 6000) -> Answer:
        """Compare two runs: config keys that differ, inputs whose data differ, metric deltas,
        and the code diff of their versions."""
        from goldfish.runs.compare import compare

        c = compare(self.project, a, b)
        data = c.to_json()
        data["code_diff"] = clip(c.code_diff, max_chars) if code else ""
        return answer(data, clip(c.render(code=code), max_chars + 2000))

    def conclude(self, run: RunRef,
                 outcome: Annotated[Literal["success", "partial", "miss"], Field(description=(
                     "did the run confirm the hypothesis?"))],
                 notes: Annotated[str, Field(max_length=4000, description=(
                     "what was learned"))] = "",
                 metric: Annotated[str | None, Field(max_length=100, description=(
                     "the metric judged (default: the results spec)"))] = None,
                 force: Annotated[bool, Field(description=(
                     "allow `success` on a run that ended failed, lost or cancelled"))] = False
                 ) -> Answer:
        """Record the authoritative verdict on a finished run (refused while it is active;
        `success` on a run that did not end `done` needs `force`)."""
        from goldfish.runs.records import conclude

        result = conclude(self.project, run, outcome, notes, metric, force=force)
        forced = f" (forced: the run ended {result['state']})" if result["forced"] else ""
        return answer(result, f"run {result['run_id']} concluded {outcome}{forced}")

    def tag(self, target: Annotated[str, Field(min_length=1, max_length=200, description=(
                "a run (id, prefix, `latest`) or a version (`ws-v3`)"))],
            name: Annotated[str, Field(min_length=1, max_length=63)],
            kind: Annotated[Literal["run", "version"], Field(description=(
                "what `target` is"))] = "run",
            note: Annotated[str, Field(max_length=1000)] = "") -> Answer:
        """Name a run or a version (`paper-baseline`); the name then resolves like an id."""
        if kind == "version":
            t = self._ws.tag(target, name, note)
            return answer(t.to_dict(), f"{t.target} tagged {name}")
        from goldfish.runs.records import tag_run

        run_id = tag_run(self.project, target, name, note)
        return answer({"run": run_id, "tag": name}, f"{run_id} tagged {name}")

    def plot_metrics(self, runs: Annotated[list[Annotated[str, Field(max_length=200)]], Field(
                         min_length=1, max_length=8, description="1-8 runs")],
                     metrics: Annotated[list[Annotated[str, Field(max_length=100)]] | None,
                                        Field(max_length=8, description=(
                                            "metric names (`loss` or `train.loss`); default: "
                                            "every metric of the runs, up to 9 panels"))] = None,
                     width: Annotated[int | None, Field(ge=160, le=1600, description=(
                         "image width in pixels; default: 460 per column of panels"))] = None,
                     height: Annotated[int | None, Field(ge=120, le=1200, description=(
                         "image height in pixels; default: 300 per row of panels"))] = None,
                     ) -> CallToolResult:
        """A PNG of metric curves (value by step) for one or several runs: one panel per metric
        (small multiples, each with its own y-axis, title, axis labels and ticks; log scale when
        positive values span more than 1000x), one colour per run, named in the legend. The
        text lists the panels, the colours and each curve's steps, last, min and max."""
        import base64

        from goldfish_mcp.png import COLOUR_NAMES, render

        curves = metric_curves(self.project, list(runs), list(metrics) if metrics else None)
        if not curves:
            raise NotFoundError("no metric points recorded for these runs",
                                "check the names with inspect_run; metrics come from "
                                "io.log_metric in stage code")
        png, panels, (w, h) = render(curves, width, height)
        order = list(dict.fromkeys(c.run for c in curves))
        legend = {run: COLOUR_NAMES[i % len(COLOUR_NAMES)] for i, run in enumerate(order)}
        lines = [f"{w}x{h} PNG, {len(panels)} panel{'s' * (len(panels) > 1)}, one per metric: "
                 + ", ".join(p.metric + (" (log scale)" if p.log_scale else "") for p in panels),
                 "legend: " + ", ".join(f"{legend[r]} = {r}" for r in order)]
        for c in curves:
            ys = [y for _, y in c.points]
            lines.append(f"{c.run} {c.metric}: {len(ys)} point{'s' * (len(ys) > 1)}, steps "
                         f"{c.points[0][0]:g}..{c.points[-1][0]:g}, last {ys[-1]:.4g} "
                         f"(min {min(ys):.4g}, max {max(ys):.4g})")
        data = {"size": [w, h], "legend": [{"run": r, "colour": legend[r]} for r in order],
                "panels": [{"metric": p.metric, "runs": p.runs, "log_scale": p.log_scale,
                            "y_range": list(p.y_range), "x_range": list(p.x_range)}
                           for p in panels]}
        return CallToolResult(content=[
            ImageContent(type="image", data=base64.b64encode(png).decode(),
                         mime_type="image/png"),
            TextContent(type="text", text="\n".join(lines))], structured_content=data)

    # --- data -----------------------------------------------------------------------------
    def register_source(self, name: Annotated[str, Field(min_length=1, max_length=64)],
                        path: Annotated[str, Field(min_length=1, max_length=1000, description=(
                            "a file or directory inside the project (relative to its root)"))],
                        description: Annotated[str, Field(max_length=2000)] = "",
                        type: Annotated[Literal["npy", "csv", "json", "file", "directory"] | None,
                                        Field(description="default: from the path")] = None,
                        replace: Annotated[bool, Field(description=(
                            "point an existing name at new content"))] = False) -> Answer:
        """Register a file or directory as a named data source (stored by content digest)
        that stages read with `inputs: {x: {source: NAME}}`."""
        from goldfish.runs.sources import register_source

        resolved = self._inside(path, "path")
        s = register_source(self.project, name, resolved, description, type, replace=replace)
        return answer(s.to_json(), f"source {s.name} ({s.type}, {s.size} bytes)")

    def sources(self, limit: Limit = 50, cursor: Cursor = None) -> Answer:
        """Registered data sources: name, type, digest, size, origin, description."""
        from goldfish.runs.sources import list_sources

        offset = _offset(cursor)
        items = list_sources(self.project)
        page = [{**s.to_json(), "description": clip(s.description, 300)}
                for s in items[offset:offset + limit]]
        more = len(items) > offset + limit
        return answer({"sources": page, "next_cursor": str(offset + limit) if more else None},
                      "\n".join(f"{s['name']} {s['type']} {s['size']}" for s in page)
                      or "no sources")

    def promote_output(self, output: Annotated[str, Field(min_length=1, max_length=300,
                                                          description="RUN/STAGE.OUTPUT")],
                       name: Annotated[str, Field(min_length=1, max_length=64)],
                       description: Annotated[str, Field(max_length=2000)] = "",
                       replace: bool = False) -> Answer:
        """Make a run's output a named source (same bytes, nothing copied)."""
        from goldfish.runs.ids import parse_ref
        from goldfish.runs.sources import promote_output

        r = parse_ref(output, what="output")
        if not r.stage or not r.output:
            raise InvalidInputError(f"output {output!r} must be RUN/STAGE.OUTPUT",
                                    "e.g. r-20260101-a1b2c3/prepare.train")
        s = promote_output(self.project, r.run, r.stage, r.output, name, description,
                           replace=replace)
        return answer(s.to_json(), f"source {s.name} from {s.origin}")

    def lineage(self, ref: Annotated[str, Field(min_length=1, max_length=300, description=(
                    "RUN, RUN/STAGE or source:NAME"))],
                direction: Annotated[Literal["up", "down"], Field(description=(
                    "up: where its inputs came from; down: who used its outputs"))] = "up",
                limit: Limit = 100) -> Answer:
        """Lineage edges (from → to, with digests), transitively up to sources or down to
        every consumer. `source:NAME` goes down to every stage that read the source, or up to
        the run output it was promoted from."""
        from goldfish.runs.records import lineage, no_lineage

        edges = lineage(self.project, ref, direction)
        shown = edges[:limit]
        return answer({"edges": shown, "total": len(edges)},
                      "\n".join(f"{e['from']} -> {e['to']}" for e in shown)
                      or no_lineage(self.project, ref, direction))

    # --- checks & knowledge ---------------------------------------------------------------
    def findings(self, run: Annotated[str | None, Field(max_length=200)] = None,
                 severity: Literal["info", "warning", "blocking"] | None = None,
                 unseen: Annotated[bool, Field(description=(
                     "only findings `status` has not shown yet"))] = False,
                 all: Annotated[bool, Field(description=(
                     "list passing checks (info) one by one too, instead of one summary line "
                     "per output"))] = False,
                 limit: Limit = 20, cursor: Cursor = None) -> Answer:
        """Findings of checks and reviewers: blocking first, then warnings (newest first within
        each), including known failures with their prevention advice; passing checks are
        summarized in `passed`, one line per output (all=true lists them)."""
        from goldfish.orientation import list_findings, passed_findings

        offset = _offset(cursor)
        items = list_findings(self.project, run=run, severity=severity, unseen=unseen,
                              limit=limit + 1, offset=offset, include_info=all)
        more = len(items) > limit
        items = items[:limit]
        passed: list[dict[str, Any]] = []
        total = 0
        if not (all or severity) and offset == 0:
            passed, total = passed_findings(self.project, run=run, unseen=unseen, limit=limit)
        lines = [_finding_line(f) for f in items]
        lines += [f"passed {p['text']}" for p in passed]
        if total > len(passed):
            lines.append(f"passed … {total - len(passed)} more outputs (all=true lists them)")
        return answer({"findings": items, "passed": [p["text"] for p in passed],
                       "passed_total": total,
                       "next_cursor": str(offset + limit) if more else None},
                      "\n".join(lines) or "no findings")

    def patterns(self, action: Annotated[Literal["list", "approve", "reject"], Field(
                     description="list, or decide on a pending pattern")] = "list",
                 id: Annotated[str | None, Field(max_length=100, description=(
                     "the pattern (for approve/reject)"))] = None,
                 status: Annotated[Literal["pending", "approved", "rejected"] | None, Field(
                     description="list only these")] = None,
                 note: Annotated[str, Field(max_length=2000)] = "",
                 prevention: Annotated[str | None, Field(max_length=2000, description=(
                     "approve: what to do so it does not happen again"))] = None,
                 limit: Limit = 20) -> Answer:
        """Failure patterns learned from failed stages: list them, approve one (with prevention
        advice: later matching failures become known failures) or reject one."""
        from goldfish import patterns

        if action == "list":
            items = patterns.list_patterns(self.project, status, limit=limit)
            data = [{k: (clip(v, 400) if isinstance(v, str) else v)
                     for k, v in p.to_json().items()} for p in items]
            return answer({"patterns": data}, "\n".join(p.render() for p in items)
                          or "no failure patterns")
        if not id:
            raise InvalidInputError(f"patterns action {action!r} needs the pattern's id",
                                    "list them first: patterns(action='list')")
        if action == "approve":
            p = patterns.approve(self.project, id, note, prevention=prevention)
        else:
            p = patterns.reject(self.project, id, note)
        return answer(p.to_json(), p.render())

    def profiles(self) -> Answer:
        """Compute profiles (backend and resources) with where each comes from (`sources`:
        goldfish.yaml, built-in, or the plugin that offers it), the default profile, the installed
        backends with their capabilities, what runs now (VMs with their hourly price),
        `cannot_run`: profiles whose backend refuses every run (a stub), with why and what to
        use instead, and the warm pool (`pool`: each worker's state, profile, zone, idle since,
        hourly price)."""
        from goldfish.runs.backends import profiles_report
        from goldfish.runs.workers import pool_lines

        data = profiles_report(self.project)
        sources = data["sources"]
        return answer(data, "\n".join([
            *(f"{n}: {p} [{sources[n]}]" for n, p in data["profiles"].items()),
            *(f"{n} cannot run stages: {r['message']} (hint: {r['hint']})"
              for n, r in data["cannot_run"].items()),
            *(f"running: {r}" for r in data["running"]), *pool_lines(data["pool"])]))

    def pool_drain(self) -> Answer:
        """Delete every idle warm-pool worker now (they cost money until their idle timeout)
        and list what was deleted; busy workers are left to finish their jobs."""
        from goldfish.runs.backends import drain_pool

        drained = drain_pool(self.project)
        text = "\n".join(
            f"could not drain {d['name']}: {d['error']}" if "error" in d
            else f"deleted {d['name']} ({d.get('profile') or '?'}, {d.get('zone') or '?'})"
            for d in drained) or "no idle workers to drain"
        return answer({"drained": drained}, text)

    # --- data lifecycle -------------------------------------------------------------------
    def gc(self, dry_run: Annotated[bool, Field(description=(
               "list what would go and the bytes freed; change nothing"))] = True,
           grace_hours: Annotated[float, Field(ge=0, le=24 * 365, description=(
               "keep unreferenced objects younger than this (an output being stored right "
               "now is not referenced yet)"))] = 1.0) -> Answer:
        """Garbage-collect the store: objects no run, version, tag, source, pinned input or
        restorable pruned record references, once older than the grace period; consolidate the
        version store; sweep crash leftovers. Safe while runs are active. Dry run by default."""
        from goldfish.lifecycle.gc import collect_garbage

        report = collect_garbage(self.project, dry_run=dry_run, grace=grace_hours * 3600)
        return answer(report.to_json(), report.render())

    def prune(self, dry_run: Annotated[bool, Field(description=(
                  "list what would go; change nothing"))] = True,
              older_than_days: Annotated[float | None, Field(ge=0, description=(
                  "runs and untagged versions older than this (default: retention.max_age_days "
                  "of goldfish.yaml)"))] = None,
              keep_last: Annotated[int | None, Field(ge=0, le=100000, description=(
                  "keep the newest N per workspace (default: retention.keep_last)"))] = None,
              restore: Annotated[str | None, Field(max_length=200, description=(
                  "bring back this pruned run (id) or version (tag) instead"))] = None
              ) -> Answer:
        """Retire runs that ended and untagged versions past the retention limits — never tagged
        ones, `@best`, runs concluded success or anything a kept run needs. Pruned records stay
        restorable (`restore`) for retention.window_days; gc frees their space after that."""
        from goldfish.lifecycle import prune

        if restore:
            restored = prune.restore(self.project, restore)
            return answer({"restored": restored}, "restored " + ", ".join(restored))
        report = prune.prune(self.project, older_than_days=older_than_days, keep_last=keep_last,
                             dry_run=dry_run)
        return answer(report.to_json(), report.render())

    def du(self, limit: Limit = 10) -> Answer:
        """Disk usage: bytes by workspace and by run (largest first), the version store, run
        folders, restorable pruned records, and what gc and prune would free."""
        from goldfish.lifecycle.du import disk_usage

        report = disk_usage(self.project)
        return answer(report.to_json(limit=limit), report.render(limit=limit))


def _finding_line(f: dict[str, Any], run: bool = True) -> str:
    where = "/".join(str(p) for p in (f.get("stage"), f.get("signal")) if p)
    where = f" [{where}]" if where else ""
    return f"{f['run'] + ' ' if run else ''}{f['severity']} {f['check']}{where}: {f['message']}"


def _run_text(data: dict[str, Any]) -> str:
    lines = [f"run {data['id']} {data['state']} ({data['workspace']} {data['version']})"]
    if data.get("error"):
        lines.append(f"error: {data['error'][:500]}")
    for s in data["stages"]:
        line = f"  {s['stage']}: {s['state']}"
        for n, m in (s.get("metrics") or {}).items():
            last = m["last"]
            line += f"; {n}={'-' if last is None else format(last, '.4g')}"
        lines.append(line)
    if data.get("result"):
        r = data["result"]
        lines.append(f"result {r['metric']}={r['value']}")
    lines += [_finding_line(f, run=False) for f in data.get("findings") or []]
    lines += [f"passed {p}" for p in data.get("passed") or []]
    return "\n".join(lines)


def metric_curves(project: Project, runs: list[str],
                  metrics: list[str] | None) -> list[Any]:
    """The curves of ``plot_metrics``: :func:`goldfish.metrics.metric_curves`, at most
    ``PLOT_PANELS`` metrics and ``PLOT_CURVES`` curves."""
    from goldfish.metrics import metric_curves as curves

    return curves(project, runs, metrics, max_panels=PLOT_PANELS, max_curves=PLOT_CURVES)
