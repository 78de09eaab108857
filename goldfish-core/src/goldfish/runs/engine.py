"""The run engine: snapshot → load → preflight → plan → review → launch → watch → finish.

Orchestration state lives in the database, not in a process. :meth:`Engine.run` records a run and
its plan; :meth:`Engine.advance` looks at the world once (polls running stages, finishes exited
ones, skips stages behind a failure, launches ready ones, closes the run) and is idempotent, so
``run --wait``, any CLI command's reconcile pass and a server's timer all call the same thing.
A lease per run (``run:<id>``) makes sure only one process acts on a run at a time.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish import faults
from goldfish.errors import ConflictError, GoldfishError, InvalidInputError, NotFoundError
from goldfish.findings import (
    Finding,
    MetricContext,
    OutputContext,
    Review,
    ReviewContext,
    coerce_finding,
    coerce_review,
)
from goldfish.runs import lease, preflight, retries, staging, states
from goldfish.runs.ids import job_id, new_run_id
from goldfish.runs.ingest import CATCH_UP_BYTES, TICK_SECONDS, Batch, Ingest
from goldfish.runs.plan import (
    Loaded,
    Pinned,
    Plan,
    PlanStep,
    build_plan,
    cache_key,
    find_reusable,
)
from goldfish.runs.plan import load as load_pipeline

if TYPE_CHECKING:
    from goldfish.compute import ComputeBackend, Handle, JobStatus
    from goldfish.project import Project

DEFAULT_MAX_PARALLEL = 4
#: The slow fallback poll of :meth:`Engine.wait`: it wakes on events before that (see
#: ``runs/waiting.py``); a backend that cannot signal them is looked at this often.
POLL_SECONDS = 0.5
METRICS_EVERY = 2.0  # seconds between live metric lines in wait()
ERROR_TAIL_LINES = 30
REASON_KEYS = ("description", "hypothesis", "goal", "approach", "min_result")
OUTPUT_SUFFIX = {"npy": ".npy", "csv": ".csv", "json": ".json", "file": "", "directory": ""}
STOPPED = "stopped by a blocking finding"
#: Seconds a stage asked to stop cooperatively (``stop`` file) may take before it is cancelled;
#: a blocking finding may set its own with ``data["grace_seconds"]``.
STOP_GRACE_SECONDS = 30.0


class LazyRun:
    """A :class:`goldfish.runs.records.RunInfo` read from the database on first attribute use."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._run: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._run is None:
            self._run = self._load()
        return getattr(self._run, name)


class _LeaseLost(Exception):
    """Our lease expired and another process holds it: stop acting on the run."""


@dataclass
class Progress:
    """One thing that happened to a run, as ``--wait`` shows it."""

    run_id: str
    stage: str  # '' for the run itself
    state: str
    reason: str
    at: float

    def render(self) -> str:
        who = self.stage or "run"
        why = f"  ({self.reason})" if self.reason else ""
        return f"{who:<14} {self.state}{why}"


def parse_reason(reason: str | dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A run's structured reason: {description, hypothesis, goal, approach, min_result}."""
    out: dict[str, Any] = {}
    if isinstance(reason, str):
        out["description"] = reason
    elif isinstance(reason, dict):
        unknown = [k for k in reason if k not in REASON_KEYS]
        if unknown:
            raise InvalidInputError(f"unknown reason key {unknown[0]!r}",
                                    f"a reason has: {', '.join(REASON_KEYS)}")
        out.update(reason)
    out.update({k: v for k, v in extra.items() if v is not None})
    return {k: v for k, v in out.items() if v not in (None, "")}


def parse_set(values: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``stage.key=value`` (value parsed as YAML) → {stage: {key: value}}; keys may be dotted.

    Values are read like pipeline.yaml (``goldfish.yamlpos``), so ``lr=1e-3`` is the same float
    in both places (plain YAML 1.1 would make it a string)."""
    from goldfish.yamlpos import TOO_MANY_DIGITS, parse

    out: dict[str, dict[str, Any]] = {}
    for text in values:
        target, sep, raw = text.partition("=")
        stage, dot, key = target.partition(".")
        if not sep or not dot or not stage or not key:
            raise InvalidInputError(f"config override {text!r} is not STAGE.KEY=VALUE",
                                    "e.g. --set train.lr=0.05")
        parsed = parse(raw, "--set") if raw.strip() else None
        for problem in parsed.problems if parsed is not None else ():
            if problem.message.startswith(TOO_MANY_DIGITS):
                raise InvalidInputError(f"config override {stage}.{key}: {problem.message}",
                                        problem.hint)
        value = "" if parsed is None else raw if parsed.problems else parsed.data
        out.setdefault(stage, {})[key] = value
    return out


class Engine:
    """Runs pipelines of one project. Cheap to build; services are created on first use."""

    def __init__(self, project: Project, *, max_parallel: int | None = None) -> None:
        self.project = project
        self.max_parallel = max_parallel
        self._backends: dict[str, ComputeBackend] = {}
        self._workspaces: Any = None
        self._artifacts: Any = None
        self._lease: tuple[str, str] | None = None
        #: the last look left metrics unread (a stage logging faster than one tick reads):
        #: :meth:`wait` looks again at once instead of waiting for a change
        self.backlog = False

    # --- services -------------------------------------------------------------------------
    @property
    def workspaces(self) -> Any:
        if self._workspaces is None:
            from goldfish.workspaces import Workspaces

            self._workspaces = Workspaces(self.project)
        return self._workspaces

    @property
    def artifacts(self) -> Any:
        if self._artifacts is None:
            from goldfish.artifacts import ArtifactStore

            self._artifacts = ArtifactStore.for_project(self.project)
        return self._artifacts

    def backend_for(self, profile_name: str) -> ComputeBackend:
        if profile_name not in self._backends:
            profile = self.project.config.profile(profile_name)
            factory = self.project.plugins.compute_backend(profile.backend).load()
            config = profile.backend_config if hasattr(profile, "backend_config") else {}
            self._backends[profile_name] = factory(self.project.root, config)
        return self._backends[profile_name]

    # --- plan -----------------------------------------------------------------------------
    def prepare(self, target: str | None = None, *, set_: dict[str, dict[str, Any]] | None = None,
                inputs: Iterable[str] = (), force: bool = False,
                rerun: Iterable[str] = (), preview: bool = False) -> tuple[Loaded, Plan]:
        """Snapshot ``target`` (workspace or slot), load its pipeline, plan. Starts nothing.

        ``preview`` (a dry run) writes nothing at all: the slot is walked without recording a
        version, and the pipeline is read from the slot's files."""
        from goldfish.runs.plan import parse_input_override
        from goldfish.runs.records import resolve_run

        target = target or self._default_target()
        preflight.check(self, target)  # a backend that cannot run refuses before the snapshot
        unsaved = None
        if preview:
            version, unsaved = self.workspaces.preview_for_run(target)
        else:
            version = self.workspaces.snapshot_for_run(target)
        loaded = load_pipeline(self.project, self.workspaces, version, set_, unsaved=unsaved)
        pinned: dict[tuple[str, str], Pinned] = {}
        for text in inputs:
            stage, name, pin = parse_input_override(
                self.project, text, lambda ref: resolve_run(self.project, ref))
            pinned[(stage, name)] = pin
        plan = build_plan(self.project, loaded, input_overrides=pinned, force=force,
                          rerun=tuple(rerun))
        return loaded, plan

    def _default_target(self) -> str:
        rows = self.project.db.query(
            "SELECT slot FROM slots WHERE workspace IS NOT NULL ORDER BY slot")
        if len(rows) == 1:
            return str(rows[0][0])
        mounted = ", ".join(str(r[0]) for r in rows) or "none"
        raise InvalidInputError("which workspace should run? name a workspace or slot",
                                f"mounted slots: {mounted}; e.g. `goldfish run w1`")

    # --- run ------------------------------------------------------------------------------
    def run(self, target: str | None = None, *, reason: str | dict[str, Any] | None = None,
            hypothesis: str | None = None, goal: str | None = None,
            set_: dict[str, dict[str, Any]] | None = None, inputs: Iterable[str] = (),
            force: bool = False, rerun: Iterable[str] = (), dry_run: bool = False,
            wait: bool = False, on_progress: Callable[[Progress], None] | None = None,
            results: dict[str, Any] | None = None, detach: bool = True) -> Any:
        """Start a run of ``target``'s pipeline from a fresh snapshot; returns its id.

        ``dry_run`` returns the :class:`~goldfish.runs.plan.Plan` instead; ``wait`` blocks until
        the run ends (``on_progress`` sees every state change) and returns its id as well.
        Without ``wait``, a detached driver process (:mod:`goldfish.runs.driver`) takes the run
        to its end unless ``detach`` is False; the first stages are launched here either way.
        """
        why = parse_reason(reason, hypothesis=hypothesis, goal=goal)
        loaded, plan = self.prepare(target, set_=set_, inputs=inputs, force=force, rerun=rerun,
                                    preview=dry_run)
        if dry_run:
            return plan
        run_id = self._create(loaded, plan, why, set_ or {}, list(inputs), force, tuple(rerun),
                              results or loaded.results)
        if wait:
            self.wait(run_id, on_progress=on_progress)
        else:
            if detach:
                from goldfish.runs import driver

                driver.start(self.project, run_id)  # it needs a moment to start: launch here
            self.advance(run_id)
        return run_id

    def _create(self, loaded: Loaded, plan: Plan, reason: dict[str, Any],
                set_: dict[str, Any], inputs: list[str], force: bool, rerun: tuple[str, ...],
                results: dict[str, Any] | None) -> str:
        project = self.project
        run_id = new_run_id()
        now = time.time()
        version = loaded.version
        holder = lease.new_holder()
        lease.acquire(project, f"run:{run_id}", holder)
        try:
            with project.tx() as conn:
                conn.execute(
                    "INSERT INTO runs (id, workspace, version, version_tag, commit_sha, tree_sha, "
                    "pipeline, state, reason, overrides, options, results_spec, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                    (run_id, loaded.workspace, getattr(version, "number", None), version.tag,
                     version.commit, getattr(version, "tree", ""), plan.pipeline,
                     json.dumps(reason), json.dumps({"config": set_, "inputs": inputs}),
                     json.dumps({"force": force, "rerun": list(rerun),
                                 "max_parallel": self.max_parallel}),
                     json.dumps(results) if results else None, now))
                conn.execute("INSERT INTO transitions (run_id, stage, from_state, to_state, at, "
                             "reason) VALUES (?, '', NULL, 'queued', ?, ?)",
                             (run_id, now, f"{loaded.workspace} at {version.tag}"))
                stages = {s.name: s for s in loaded.pipeline.stages}
                for step in plan.steps:
                    self._insert_stage(conn, run_id, step, stages[step.stage], now)
                project.emit("run.created", run_id,
                             f"run {run_id} of {loaded.workspace} at {version.tag}",
                             workspace=loaded.workspace, version=version.tag, reason=reason,
                             plan=[{"stage": s.stage, "action": s.action, "why": s.why}
                                   for s in plan.steps])
            try:
                self._preflight(run_id, loaded, plan, reason)
            except Exception as exc:
                self._not_launched(run_id, exc)
                raise
        finally:
            lease.release(project, f"run:{run_id}", holder)
        return run_id

    def _not_launched(self, run_id: str, exc: Exception) -> None:
        """A named error before launch (a damaged store, a full disk) ends the run ``failed``
        with that message, not later as "the process preparing this run ended"."""
        named = exc if isinstance(exc, GoldfishError) else faults.name(exc)
        if named is None:
            return
        why = f"not launched: {named.message}"
        try:  # the database itself may be what failed
            with self.project.tx() as conn:
                for row in conn.execute("SELECT stage FROM stage_runs WHERE run_id = ? AND "
                                        "state = 'queued'", (run_id,)).fetchall():
                    states.set_stage_state(conn, run_id, row[0], "skipped",
                                           "run failed before launch", note=why)
                states.set_run_state(conn, run_id, "failed", why, error=why)
        except Exception:
            pass  # the reconciler ends it later

    def _insert_stage(self, conn: Any, run_id: str, step: PlanStep, stage: Any,
                      now: float) -> None:
        from goldfish.runs.plan import _plain, signal_json

        spec = {"outputs": {n: signal_json(s) for n, s in stage.outputs.items()},
                "checks": _plain(getattr(stage, "checks", None)) or {},
                "timeout_minutes": getattr(stage, "timeout_minutes", None),
                "retries": getattr(stage, "retries", None),
                "code_hash": step.code_hash,
                "runtime": step.key_parts.get("runtime") or _runtime(self.project, step.profile)}
        conn.execute(
            "INSERT INTO stage_runs (run_id, stage, position, state, module, profile, backend, "
            "upstream, config, spec, inputs, cacheable, cache_key, key_parts, note, created_at) "
            "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step.stage, step.position, step.module, step.profile,
             self.project.config.profile(step.profile).backend, json.dumps(step.upstream),
             json.dumps(step.config), json.dumps(spec),
             json.dumps({k: v.to_json() for k, v in step.inputs.items()}),
             int(step.cacheable), step.cache_key, json.dumps(step.key_parts), step.why, now))
        conn.execute("INSERT INTO transitions (run_id, stage, from_state, to_state, at, reason) "
                     "VALUES (?, ?, NULL, 'queued', ?, ?)", (run_id, step.stage, now, step.why))

    def _preflight(self, run_id: str, loaded: Loaded, plan: Plan, reason: dict[str, Any]) -> None:
        """``validate_pipeline`` and ``review_before_run``; a blocking result fails the run."""
        project = self.project
        with project.tx() as conn:
            states.set_run_state(conn, run_id, "preparing", "preflight and review")
        findings = _findings("validate_pipeline",
                             lambda: project.plugins.validate_pipeline(loaded.pipeline, project))
        reviews: list[Review] = []
        blocked = [f for f in findings if f.blocking]
        if not blocked and project.plugins.pm.hook.review_before_run.get_hookimpls():
            context = ReviewContext(
                run_id=run_id, phase="before", workspace=loaded.workspace,
                version=loaded.version.tag, pipeline=loaded.pipeline, reason=reason,
                configs=loaded.configs, files=self._stage_sources(loaded),
                plan=[{"stage": s.stage, "action": s.action, "why": s.why} for s in plan.steps],
                patterns=_approved_patterns(project), project=project)
            reviews, errors = _reviews("review_before_run",
                                       lambda: project.plugins.review_before_run(context))
            findings += errors
        with project.tx() as conn:
            _record_findings(conn, run_id, "preflight", findings)
            for review in reviews:
                _record_review(conn, run_id, "before", review)
            why = ""
            if blocked:
                why = "blocked by preflight: " + "; ".join(f.message for f in blocked)
            elif any(r.blocking for r in reviews):
                r = next(r for r in reviews if r.blocking)
                msgs = [f.message for f in r.findings if f.blocking] or [r.summary or "blocked"]
                why = f"blocked by review ({r.reviewer}): " + "; ".join(msgs)
            if why:
                for step in plan.steps:
                    states.set_stage_state(conn, run_id, step.stage, "skipped",
                                           "run blocked before launch", note=why)
                states.set_run_state(conn, run_id, "failed", why, error=why)
                project.emit("run.finished", run_id, f"run {run_id} failed: {why}",
                             state="failed", error=why)
                return
            states.set_run_state(conn, run_id, "running", "launching")
            project.emit("run.started", run_id, f"run {run_id} started",
                         workspace=loaded.workspace, version=loaded.version.tag)
        _notify("on_run_started", lambda: project.plugins.on_run_started(
            project, self._run_obj(run_id)))

    def _stage_sources(self, loaded: Loaded) -> dict[str, str]:
        from goldfish.runs.codecache import read_blob

        out = {}
        for stage in loaded.pipeline.stages:
            sha = loaded.files.get(stage.module)
            if sha and stage.module not in out:  # stages sharing a module: read it once
                out[stage.module] = read_blob(self.project, sha).decode("utf-8", "replace")
        return out

    def _run_obj(self, run_id: str) -> Any:
        from goldfish.runs.records import get_run

        return get_run(self.project, run_id)

    # --- advance --------------------------------------------------------------------------
    def advance(self, run_id: str) -> bool:
        """Act once on ``run_id`` if no other process is; True when this call acted."""
        if lease.busy(self.project, f"run:{run_id}"):
            return False  # known from a read: no write transaction queued behind the holder
        with lease.held(self.project, f"run:{run_id}") as holder:
            if holder is None:
                return False
            self._lease = (f"run:{run_id}", holder)
            self.backlog = False
            try:
                with self.project.deferred_events():  # STATE.md once per pass, not per stage
                    self._advance(run_id)
            except _LeaseLost:
                pass  # another process took over after our lease lapsed; it acts now
            finally:
                self._lease = None
            return True

    def _renew(self) -> None:
        """Extend the lease before slow work (exporting, storing outputs) so it cannot lapse."""
        if self._lease is not None and not lease.acquire(self.project, *self._lease):
            raise _LeaseLost(self._lease[0])

    def _advance(self, run_id: str) -> None:
        project = self.project
        run = project.db.one("SELECT * FROM runs WHERE id = ?", (run_id,))
        if run is None:
            raise NotFoundError(f"no run {run_id!r}", "list runs with `goldfish runs`")
        if run["state"] in states.FINAL_RUN:
            return
        if run["state"] in ("queued", "preparing"):
            # The creating process holds the lease until the run is running; we got it, so it died.
            why = "the process preparing this run ended before launch"
            with project.tx() as conn:
                for row in self._stages(run_id):
                    if row["state"] not in states.FINAL_STAGE:
                        states.set_stage_state(conn, run_id, row["stage"], "skipped", why)
                states.set_run_state(conn, run_id, "failed", why, error=why)
            return
        cancel = bool(run["cancel_requested"])
        for row in self._stages(run_id):
            if row["state"] in ("preparing", "running", "finishing"):
                self._observe(run, row, cancel)
        if cancel:
            with project.tx() as conn:
                for row in self._stages(run_id):
                    if row["state"] == "queued":
                        states.set_stage_state(conn, run_id, row["stage"], "cancelled",
                                               "run cancelled")
        else:
            self._schedule(run)
        rows = self._stages(run_id)
        if all(r["state"] in states.FINAL_STAGE for r in rows):
            self._close(run, rows)

    def _stages(self, run_id: str) -> list[Any]:
        return self.project.db.query(
            "SELECT * FROM stage_runs WHERE run_id = ? ORDER BY position", (run_id,))

    def _schedule(self, run: Any) -> None:
        run_id = run["id"]
        limit = self._limit(run)
        rows = self._stages(run_id)
        by_name = {r["stage"]: r for r in rows}
        active = sum(r["state"] in ("preparing", "running", "finishing") for r in rows)
        for row in rows:
            if row["state"] != "queued":
                continue
            upstream = json.loads(row["upstream"])
            ups = [by_name[u] for u in upstream if u in by_name]
            bad = [u for u in ups if u["state"] in ("failed", "cancelled", "lost", "skipped")]
            if bad:
                why = f"upstream {bad[0]['stage']} {bad[0]['state']}"
                with self.project.tx() as conn:
                    states.set_stage_state(conn, run_id, row["stage"], "skipped", why, note=why)
                by_name[row["stage"]] = self.project.db.one(
                    "SELECT * FROM stage_runs WHERE run_id = ? AND stage = ?",
                    (run_id, row["stage"]))
                self._stage_finished(run_id, row["stage"], "skipped")
                continue
            if not all(u["state"] in states.SUCCEEDED for u in ups):
                continue
            row = self._pin_inputs(run_id, row)
            gone = None
            if row["cacheable"] and row["cache_key"]:
                found = find_reusable(self.project, row["cache_key"], exclude_run=run_id,
                                      store=self.artifacts)
                if found.hit:
                    self._reuse(run_id, row, found.hit)
                    by_name[row["stage"]] = self.project.db.one(
                        "SELECT * FROM stage_runs WHERE run_id = ? AND stage = ?",
                        (run_id, row["stage"]))
                    continue
                gone = found.gone
            if active >= limit:
                continue
            active += 1
            self._launch(run, row, note=gone)

    def _limit(self, run: Any) -> int:
        options = json.loads(run["options"] or "{}")
        return int(options.get("max_parallel") or self.max_parallel or DEFAULT_MAX_PARALLEL)

    def _pin_inputs(self, run_id: str, row: Any) -> Any:
        """Fill upstream inputs with the exact stage runs and digests, then the cache key."""
        inputs = {k: Pinned.from_json(v) for k, v in json.loads(row["inputs"]).items()}
        changed = False
        for pin in inputs.values():
            if pin.source or (pin.digest and pin.from_run):
                continue
            up = self.project.db.one(
                "SELECT o.digest, s.reused_from FROM outputs o JOIN stage_runs s ON "
                "s.run_id = o.run_id AND s.stage = o.stage WHERE o.run_id = ? AND o.stage = ? "
                "AND o.name = ?", (run_id, pin.from_stage, pin.from_output))
            if up is None:
                raise GoldfishError(f"{run_id}/{pin.from_stage} finished without output "
                                    f"{pin.from_output!r}")
            pin.from_run, pin.digest = run_id, str(up["digest"])
            changed = True
        key = row["cache_key"]
        parts = json.loads(row["key_parts"] or "{}")
        if key is None:
            spec = json.loads(row["spec"])
            stage = _StageView(row["module"], spec["outputs"])
            key, parts = cache_key(stage, spec["code_hash"], json.loads(row["config"]), inputs,
                                   spec["runtime"])
            changed = True
        if changed:
            with self.project.tx() as conn:
                conn.execute("UPDATE stage_runs SET inputs = ?, cache_key = ?, key_parts = ? "
                             "WHERE run_id = ? AND stage = ?",
                             (json.dumps({k: v.to_json() for k, v in inputs.items()}), key,
                              json.dumps(parts), run_id, row["stage"]))
            row = self.project.db.one("SELECT * FROM stage_runs WHERE run_id = ? AND stage = ?",
                                      (run_id, row["stage"]))
        return row

    def _reuse(self, run_id: str, row: Any, hit: str) -> None:
        src_run, _, src_stage = hit.partition("/")
        why = f"reused from {hit}: same code, config and inputs"
        with self.project.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO outputs (run_id, stage, name, type, digest, uri, size, "
                "kind) SELECT ?, ?, name, type, digest, uri, size, kind FROM outputs "
                "WHERE run_id = ? AND stage = ?", (run_id, row["stage"], src_run, src_stage))
            conn.execute(
                "INSERT OR REPLACE INTO metric_summaries (run_id, stage, name, last, min, max, "
                "count, slope, last_step, updated_at) SELECT ?, ?, name, last, min, max, count, "
                "slope, last_step, updated_at FROM metric_summaries WHERE run_id = ? AND "
                "stage = ?", (run_id, row["stage"], src_run, src_stage))
            _record_inputs(conn, run_id, row["stage"], json.loads(row["inputs"]))
            states.set_stage_state(conn, run_id, row["stage"], "reused", why, reused_from=hit,
                                   note=why)
        self._stage_finished(run_id, row["stage"], "reused")

    # --- launch ---------------------------------------------------------------------------
    def job_dir(self, run_id: str, stage: str) -> Path:
        return self.project.runs_dir / run_id / stage

    def _launch(self, run: Any, row: Any, note: str | None = None) -> None:
        """Prepare the job directory and launch; ``note`` (why it runs) replaces the plan's."""
        from goldfish.compute import Job, Resources

        run_id, stage = run["id"], row["stage"]
        jid = retries.job_id_for(self.project, run_id, stage)
        self._renew()
        with self.project.tx() as conn:
            extra = {"note": note} if note else {}
            states.set_stage_state(conn, run_id, stage, "preparing",
                                   note or "exporting code and inputs",
                                   job_id=jid, **extra)
        job_dir = self.job_dir(run_id, stage)
        try:
            if not (job_dir / "launch.lock").exists():
                self._prepare_job_dir(run, row, job_dir)
            backend = self.backend_for(row["profile"])
            profile = self.project.config.profile(row["profile"])
            spec = json.loads(row["spec"])
            resources = profile.resources() if hasattr(profile, "resources") else None
            if spec.get("timeout_minutes"):
                from dataclasses import replace

                resources = replace(resources or Resources(),
                                    timeout_seconds=float(spec["timeout_minutes"]) * 60)
            python = sys.executable if backend.capabilities.shares_filesystem else "python"
            job = Job(job_id=jid, run_id=run_id, stage=stage, job_dir=job_dir,
                      command=[python, "-m", "goldfish._stage"],
                      env=dict(getattr(profile, "env", {}) or {}), profile=row["profile"],
                      resources=resources or Resources(),
                      profile_config=(profile.backend_config
                                      if hasattr(profile, "backend_config") else {}),
                      image=getattr(profile, "image", None))
            if not backend.capabilities.shares_filesystem:
                job, _ = staging.stage_job(self.artifacts, job, self.project.cache_dir)
            handle = backend.launch(job)
        except GoldfishError as exc:
            self._fail_stage(run_id, stage, f"could not launch: {exc.message}")
            return
        except Exception as exc:  # a stage must end, not retry a broken launch forever
            fault = faults.name(exc)
            what = repr(exc) if fault is None else str(fault).replace("\n  hint:", ";")
            self._fail_stage(run_id, stage, f"could not prepare or launch the job: {what}")
            return
        with self.project.tx() as conn:
            states.set_stage_state(conn, run_id, stage, "running", f"launched on {row['profile']}",
                                   handle=json.dumps(handle.to_json()))

    def _prepare_job_dir(self, run: Any, row: Any, job_dir: Path) -> None:
        resume = None
        if job_dir.exists():
            resume = retries.set_aside(job_dir)  # a relaunch resumes from its checkpoints
            shutil.rmtree(job_dir)
        job_dir.mkdir(parents=True)
        retries.put_back(job_dir, resume)
        from goldfish.runs.codecache import export_code

        export_code(self.project, run["tree_sha"], job_dir / "code")
        inputs = json.loads(row["inputs"])
        job_inputs: dict[str, Any] = {}
        if inputs:
            (job_dir / "inputs").mkdir()
        for name, raw in inputs.items():
            pin = Pinned.from_json(raw)
            rel = f"inputs/{name}{OUTPUT_SUFFIX.get(pin.type, '')}"
            self.artifacts.materialize(pin.digest, job_dir / rel)
            job_inputs[name] = {"type": pin.type, "path": rel, "digest": pin.digest,
                                "from": pin.ref}
        spec = json.loads(row["spec"])
        (job_dir / "outputs").mkdir()
        manifest = {"run_id": run["id"], "stage": row["stage"],
                    "job_id": job_id(run["id"], row["stage"]), "module": row["module"],
                    "config": json.loads(row["config"]), "inputs": job_inputs,
                    "outputs": spec["outputs"],
                    "metrics": {"max_names": _max_metric_names(self.project)}}
        tmp = job_dir / ".job.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(job_dir / "job.json")

    def _fail_stage(self, run_id: str, stage: str, error: str, cause: str | None = None) -> None:
        with self.project.tx() as conn:
            states.set_stage_state(conn, run_id, stage, "failed", error.splitlines()[0][:200],
                                   error=error, cause=cause)
        self._learn_failure(run_id, stage, error, cause)
        self._stage_finished(run_id, stage, "failed")

    def _learn_failure(self, run_id: str, stage: str, error: str | None,
                       cause: str | None) -> None:
        """Match the failure against known patterns (or make it a candidate) and record that as
        a finding, so a known failure shows its prevention advice with the run."""
        from goldfish import patterns

        try:
            failure = patterns.failure_from_job(run_id, stage, self.job_dir(run_id, stage),
                                                error, cause)
            found = [*patterns.contract_findings(failure),
                     patterns.record_failure(self.project, failure)]
        except Exception as exc:  # never lose the failure itself to the pattern store
            found = [_plugin_error("failure patterns", exc, stage)]
        with self.project.tx() as conn:
            _record_findings(conn, run_id, "failure", found, stage)

    # --- watch ----------------------------------------------------------------------------
    def _handle(self, row: Any) -> Handle | None:
        from goldfish.compute import Handle

        return Handle.from_json(json.loads(row["handle"])) if row["handle"] else None

    def _observe(self, run: Any, row: Any, cancel: bool) -> None:
        run_id, stage = run["id"], row["stage"]
        handle = self._handle(row)
        if row["state"] == "preparing" and handle is None:
            self._launch(run, row)  # the process that prepared it died before launching
            return
        if handle is None:  # pragma: no cover - running without a handle cannot be recorded
            self._fail_stage(run_id, stage, "no compute handle recorded")
            return
        backend = self.backend_for(row["profile"])
        if row["state"] == "finishing":
            self._finish_safely(run, row, backend, handle, None)
            return
        status = backend.poll(handle)
        if status.final and retries.relaunch(self.project, row, backend, handle, status):
            return
        if status.final:
            with self.project.tx() as conn:
                states.set_stage_state(conn, run_id, stage, "finishing",
                                       f"exit {status.exit_code}" if status.state == "exited"
                                       else "lost", exit_code=status.exit_code,
                                       cause=status.cause or ("lost" if status.state == "lost"
                                                              else None),
                                       error=row["error"] or (status.message if status.state
                                                              == "lost" else None))
            row = self.project.db.one("SELECT * FROM stage_runs WHERE run_id = ? AND stage = ?",
                                      (run_id, stage))
            self._finish_safely(run, row, backend, handle, status)
            return
        if cancel:
            backend.cancel(handle)
            return
        self._tick(run, row, backend, handle, status)

    def _tick(self, run: Any, row: Any, backend: ComputeBackend, handle: Handle,
              status: JobStatus) -> None:
        """Live metric summaries and ``check_metrics`` for a running stage.

        ``check_metrics`` runs on every tick, also when nothing new was logged, so a stage that
        hangs without a heartbeat is noticed (``seconds_since_heartbeat`` counts from the start
        when the stage never beat). On an idle tick only findings not yet recorded for the stage
        are kept. A blocking finding asks the stage to stop (the ``stop`` file, seen by
        ``io.should_stop``); after the grace period the backend cancels it. Metrics are read
        from the stage's cursor (``runs/ingest.py``), a batch at a time, each batch checked and
        committed with the cursor; a backlog gets ``TICK_SECONDS`` per tick, and then the waiter
        looks again at once (:attr:`backlog`); batches far behind the end of the file are folded
        without handing their points over one by one (``CATCH_UP_BYTES``).
        """
        run_id, stage = run["id"], row["stage"]
        job_dir = self.job_dir(run_id, stage)
        if not backend.capabilities.shares_filesystem:
            with contextlib.suppress(GoldfishError):  # the next tick tries again
                backend.fetch(handle, job_dir)  # live metrics, heartbeat and log
        if (row["error"] or "").startswith(STOPPED):
            self._escalate(backend, handle, job_dir)
            return
        ingest = Ingest(job_dir / "metrics.jsonl", row["metrics_offset"], row["metrics_state"])
        hooks = bool(self.project.plugins.pm.hook.check_metrics.get_hookimpls())
        beat = status.heartbeat_at or status.started_at or row["started_at"]
        since = max(0.0, time.time() - beat) if beat else None
        batches = ingest.batches(points=hooks, behind=CATCH_UP_BYTES)
        deadline = time.monotonic() + TICK_SECONDS
        batch = next(batches, None)
        idle = (batch is None and ingest.offset == row["metrics_offset"]
                and row["heartbeat_at"] == status.heartbeat_at)
        while True:  # one check_metrics call and one transaction per batch (or one, when idle)
            current = batch or Batch.empty()
            findings: list[Finding] = []
            if hooks:
                context = MetricContext(run_id=run_id, stage=stage, new=current.points,
                                        history=ingest.history(current),
                                        earlier=ingest.stats(current),
                                        seconds_since_heartbeat=since,
                                        config=json.loads(row["config"]), project=self.project)
                findings = _findings("check_metrics",
                                     partial(self.project.plugins.check_metrics, context), stage)
            if findings and (idle or not current.points):
                findings = self._unseen(run_id, stage, findings)
            if idle and not findings:
                return
            blocked = [f for f in findings if f.blocking]
            with self.project.tx() as conn:
                ingest.write(conn, run_id, stage)
                _record_findings(conn, run_id, "metrics", findings, stage)
                error = None
                if blocked:
                    error = f"{STOPPED}: " + "; ".join(f.message for f in blocked)
                conn.execute("UPDATE stage_runs SET metrics_offset = ?, metrics_state = ?, "
                             "heartbeat_at = ?, error = COALESCE(?, error) WHERE run_id = ? "
                             "AND stage = ?", (ingest.offset, ingest.state(), status.heartbeat_at,
                                               error, run_id, stage))
            if blocked:
                graces = [float(f.data["grace_seconds"]) for f in blocked
                          if isinstance(f.data.get("grace_seconds"), (int, float))]
                grace = max(graces) if graces else STOP_GRACE_SECONDS
                self._request_stop(backend, handle, job_dir, grace, error or STOPPED)
                return
            if time.monotonic() > deadline:  # a backlog: let the next poll see the exit sooner
                self.backlog = True
                return
            batch = next(batches, None)
            if batch is None:
                return
            self._renew()

    def _unseen(self, run_id: str, stage: str, findings: list[Finding]) -> list[Finding]:
        """Drop findings whose check (and signal) is already recorded for this stage."""
        seen = {(r["source"], r["check_name"], r["signal"]) for r in self.project.db.query(
            "SELECT source, check_name, signal FROM findings WHERE run_id = ? AND stage = ? AND "
            "phase = 'metrics'", (run_id, stage))}
        return [f for f in findings if (f.source, f.check, f.signal) not in seen]

    def _request_stop(self, backend: ComputeBackend, handle: Handle, job_dir: Path,
                      grace: float, reason: str) -> None:
        """Cooperative first: the ``stop`` file (records when and the grace); hard later."""
        from goldfish.compute import request_stop

        request_stop(backend, handle, job_dir, grace, reason)

    def _escalate(self, backend: ComputeBackend, handle: Handle, job_dir: Path) -> None:
        """A stage asked to stop that is still running after its grace is cancelled."""
        if not backend.capabilities.shares_filesystem:
            return  # the backend escalates on its own after the grace it was given
        try:
            raw = json.loads((job_dir / "stop").read_text(encoding="utf-8"))
            grace, at = float(raw["grace_seconds"]), float(raw["at"])
        except (OSError, ValueError, KeyError, TypeError):
            grace, at = STOP_GRACE_SECONDS, 0.0
        if time.time() - at >= grace:
            backend.cancel(handle, grace_seconds=10.0)

    # --- finish ---------------------------------------------------------------------------
    def _finish_safely(self, run: Any, row: Any, backend: ComputeBackend, handle: Handle,
                       status: JobStatus | None) -> None:
        """Finish; an unexpected error fails the stage (with the error) instead of leaving it
        ``finishing`` for every later reconcile pass to trip over."""
        try:
            self._finish(run, row, backend, handle, status)
        except _LeaseLost:
            raise
        except GoldfishError as exc:
            self._fail_stage(run["id"], row["stage"], f"could not finish: {exc.message}")
        except Exception as exc:
            self._fail_stage(run["id"], row["stage"], f"could not finish: {exc!r}")

    def _finish(self, run: Any, row: Any, backend: ComputeBackend, handle: Handle,
                status: JobStatus | None) -> None:
        run_id, stage = run["id"], row["stage"]
        job_dir = self.job_dir(run_id, stage)
        self._renew()
        try:
            backend.fetch(handle, job_dir)
        except GoldfishError as exc:
            row = dict(row)
            row["exit_code"], row["cause"] = None, "lost"
            row["error"] = f"results could not be fetched: {exc.message}"
        ingest = Ingest(job_dir / "metrics.jsonl", row["metrics_offset"], row["metrics_state"])
        for _ in ingest.batches():
            pass
        cancel = bool(self._state(run_id, "cancel_requested"))
        exit_code, cause, error = row["exit_code"], row["cause"], row["error"]
        findings: list[Finding] = []
        outputs: dict[str, Any] = {}
        if cancel and (cause == "cancelled" or exit_code != 0):
            final, why = "cancelled", "run cancelled"
        elif error and error.startswith("stopped by a blocking finding"):
            final, why = "failed", error
        elif exit_code is None or cause in ("killed", "lost", "preempted"):
            text = (status.message if status is not None and status.message else
                    error or "the stage process vanished without an exit code")
            final, why, error = "lost", f"{cause or 'lost'}: {text}", f"{cause or 'lost'}: {text}"
        elif exit_code != 0:
            final = "failed"
            error = _error_text(job_dir, exit_code, cause)
            why = error.splitlines()[0][:200]
        else:
            final, why, error, findings, outputs = self._accept_outputs(run, row, job_dir)
        with self.project.tx() as conn:
            ingest.write(conn, run_id, stage, every=True)
            _record_findings(conn, run_id, "outputs", findings, stage)
            for name, ref in outputs.items():
                conn.execute(
                    "INSERT OR REPLACE INTO outputs (run_id, stage, name, type, digest, uri, "
                    "size, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, stage, name, ref[0], ref[1].digest, ref[1].uri, ref[1].size,
                     ref[1].kind))
            _record_inputs(conn, run_id, stage, json.loads(row["inputs"]))
            states.set_stage_state(conn, run_id, stage, final, why, error=error,
                                   metrics_offset=ingest.offset, metrics_state=None)
        if final == "failed":
            self._learn_failure(run_id, stage, error, cause)
        try:
            backend.release(handle)
        except GoldfishError:
            pass
        self._stage_finished(run_id, stage, final)

    def _accept_outputs(self, run: Any, row: Any, job_dir: Path) -> tuple[
            str, str, str | None, list[Finding], dict[str, Any]]:
        spec = json.loads(row["spec"])
        paths: dict[str, Path] = {}
        for name, signal in spec["outputs"].items():
            kind = signal.get("type") or "file"
            path = job_dir / "outputs" / f"{name}{OUTPUT_SUFFIX.get(kind, '')}"
            present = path.is_dir() if kind == "directory" else path.is_file()
            if not present:
                msg = (f"declared output {name!r} was never written (expected "
                       f"outputs/{path.name}{'/' if kind == 'directory' else ''}); call "
                       f"goldfish.io.save_output({name!r}, ...)")
                return "failed", msg, msg, [], {}
            paths[name] = path
        upstream = {n: job_dir / v["path"] for n, v in _job_inputs(job_dir).items()}
        context = OutputContext(run_id=run["id"], stage=row["stage"], signals=spec["outputs"],
                                paths=paths, config=json.loads(row["config"]), upstream=upstream,
                                checks=spec.get("checks") or {}, project=self.project)
        findings = _findings("validate_outputs",
                             lambda: self.project.plugins.validate_outputs(context), row["stage"])
        blocked = [f for f in findings if f.blocking]
        if blocked:
            msg = "outputs rejected: " + "; ".join(f.render() for f in blocked)
            return "failed", msg.splitlines()[0][:200], msg, findings, {}
        stored = {}
        for name, path in paths.items():
            stored[name] = (spec["outputs"][name].get("type") or "file",
                            self.artifacts.store(path))
        return "done", "outputs stored", None, findings, stored

    def _stage_finished(self, run_id: str, stage: str, state: str) -> None:
        """Record the event and call ``on_stage_finished``, whose ``run`` is loaded only when a
        plugin reads it: loading every stage of the run per finished stage made a run's cost
        grow with the square of its stages."""
        self.project.emit("stage.finished", f"{run_id}/{stage}", f"{run_id}/{stage} {state}",
                          run_id=run_id, stage=stage, state=state)
        if self.project.plugins.pm.hook.on_stage_finished.get_hookimpls():
            run = LazyRun(lambda: self._run_obj(run_id))
            _notify("on_stage_finished", lambda: self.project.plugins.on_stage_finished(
                self.project, run, stage, state))

    def _close(self, run: Any, rows: list[Any]) -> None:
        run_id = run["id"]
        found = {r["state"] for r in rows}
        cancel = bool(run["cancel_requested"])
        if cancel:
            final = "cancelled"
        elif "failed" in found or ("skipped" in found and "lost" not in found):
            final = "failed"
        elif "lost" in found:
            final = "lost"
        else:
            final = "done"
        bad = next((r for r in rows if r["state"] in ("failed", "lost")), None)
        error = (f"{bad['stage']} {bad['state']}: {(bad['error'] or '').splitlines()[0][:200]}"
                 if bad is not None else None)
        with self.project.tx() as conn:
            states.set_run_state(conn, run_id, "finishing", "every stage ended")
        self._review_after(run_id, final)
        from goldfish.runs.records import update_best

        with self.project.tx() as conn:
            states.set_run_state(conn, run_id, final, error or "", error=error)
            if final == "done":
                update_best(self.project, conn, run_id)
            self.project.emit("run.finished", run_id, f"run {run_id} {final}", state=final,
                              error=error, workspace=run["workspace"])
        _notify("on_run_finished", lambda: self.project.plugins.on_run_finished(
            self.project, self._run_obj(run_id)))

    def _review_after(self, run_id: str, final: str) -> None:
        plugins = self.project.plugins
        if not plugins.pm.hook.review_after_run.get_hookimpls():
            return
        from goldfish.runs.records import get_run, metric_summaries

        info = get_run(self.project, run_id)
        findings = [Finding.from_json(f) for f in info.findings]
        outputs: dict[str, dict[str, Any]] = {}
        for o in self.project.db.query("SELECT * FROM outputs WHERE run_id = ?", (run_id,)):
            outputs.setdefault(o["stage"], {})[o["name"]] = {"type": o["type"],
                                                             "digest": o["digest"]}
        context = ReviewContext(
            run_id=run_id, phase="after", workspace=info.workspace, version=info.version,
            pipeline=None, reason=info.reason, configs={s.stage: s.config for s in info.stages},
            outputs=outputs, metrics=metric_summaries(self.project, run_id), findings=findings,
            state=final, patterns=_approved_patterns(self.project), project=self.project)
        reviews, errors = _reviews("review_after_run", lambda: plugins.review_after_run(context))
        with self.project.tx() as conn:
            for review in reviews:
                _record_review(conn, run_id, "after", review)
            _record_findings(conn, run_id, "review_after", errors)

    # --- wait / cancel --------------------------------------------------------------------
    def wait(self, run_id: str, *, on_progress: Callable[[Progress], None] | None = None,
             timeout: float | None = None, poll: float = POLL_SECONDS,
             on_tick: Callable[[], None] | None = None,
             detach_after: float | None = None) -> str:
        """Advance ``run_id`` until it ends (or ``timeout``); returns its state.

        Between two looks it blocks on events (a stage's exit, a metrics flush, another
        process's commit; :mod:`goldfish.runs.waiting`), at most ``poll`` seconds. ``on_tick``
        runs after every look (the driver renews its lease there); after ``detach_after``
        seconds a driver is started, so the run goes on if this waiter is killed.
        """
        from goldfish.runs.waiting import data_version, wait_for_change

        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        seen = 0
        shown_metrics: dict[tuple[str, str], float] = {}
        next_metrics = began + METRICS_EVERY
        while True:
            since = data_version(self.project)
            acted = self.advance(run_id)
            if on_tick is not None:
                on_tick()
            if on_progress is not None and time.monotonic() >= next_metrics:
                next_metrics = time.monotonic() + METRICS_EVERY
                for p in self._live_metrics(run_id, shown_metrics):
                    on_progress(p)
            # the state first, then the transitions: another process (the run's driver) may end
            # the run in between, and every transition up to the state read must be shown
            state = self._state(run_id)
            rows = self.project.db.query(
                "SELECT id, stage, to_state, reason, at FROM transitions WHERE run_id = ? AND "
                "id > ? ORDER BY id", (run_id, seen))
            for r in rows:
                seen = r["id"]
                if on_progress is not None:
                    on_progress(Progress(run_id, r["stage"], r["to_state"], r["reason"], r["at"]))
            if state in states.FINAL_RUN:
                return str(state)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return str(state)
            if detach_after is not None and now - began >= detach_after:
                from goldfish.runs import driver

                driver.start(self.project, run_id)
                detach_after = None
            if acted and self.backlog:
                continue  # metrics left unread: read on (polling first) while the stage runs
            left = poll if deadline is None else min(poll, deadline - now)
            wait_for_change(self, run_id, acted, left, since)

    def _state(self, run_id: str, column: str = "state") -> Any:
        rows = self.project.db.query(f"SELECT {column} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"no run {run_id!r}", "list runs with `goldfish runs`")
        return rows[0][0]

    def _live_metrics(self, run_id: str, shown: dict[tuple[str, str], float]) -> list[Progress]:
        """One line per metric of a running stage that changed since it was last shown."""
        from goldfish.runs.records import trend_word

        out = []
        for m in self.project.db.query(
                "SELECT m.* FROM metric_summaries m JOIN stage_runs s ON s.run_id = m.run_id AND "
                "s.stage = m.stage WHERE m.run_id = ? AND s.state = 'running' ORDER BY m.name",
                (run_id,)):
            key = (m["stage"], m["name"])
            if shown.get(key) == m["updated_at"]:
                continue
            shown[key] = m["updated_at"]
            step = f" step {m['last_step']}" if m["last_step"] is not None else ""
            # a summary of only non-finite points stores NULL (NaN is not a number in SQLite)
            last, low = (f"{v:.4g}" if v is not None else "nan" for v in (m["last"], m["min"]))
            out.append(Progress(run_id, m["stage"], "running",
                                f"{m['name']} {last}{step}, min {low}, "
                                f"{trend_word(m['slope'], m['last'])}", time.time()))
        return out

    def cancel(self, run_id: str) -> str:
        """Ask a run to stop: queued stages end ``cancelled``, running ones are stopped."""
        row = self.project.db.one("SELECT state FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFoundError(f"no run {run_id!r}", "list runs with `goldfish runs`")
        if row[0] in states.FINAL_RUN:
            raise ConflictError(f"run {run_id} already ended ({row[0]})",
                                "only queued or running runs can be cancelled")
        with self.project.tx() as conn:
            conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            self.project.emit("run.cancel_requested", run_id, f"cancel requested for {run_id}")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if not self.advance(run_id):
                time.sleep(0.05)
                continue
            state = self._state(run_id)
            if state in states.FINAL_RUN:
                return str(state)
            time.sleep(0.05)
        return str(self._state(run_id))


# --- helpers ------------------------------------------------------------------------------------


def _plugin_error(hook: str, exc: BaseException, stage: str | None = None) -> Finding:
    """A plugin that raised: recorded as a warning, never a reason to lose a run."""
    return Finding("engine", "plugin_error", "warning", f"{hook} raised {exc!r}; ignored",
                   stage=stage, data={"hook": hook})


def _findings(hook: str, call: Callable[[], list[Any]], stage: str | None = None) -> list[Finding]:
    try:
        return [coerce_finding(f, source=hook) for f in call()]
    except Exception as exc:
        return [_plugin_error(hook, exc, stage)]


def _reviews(hook: str, call: Callable[[], list[Any]]) -> tuple[list[Review], list[Finding]]:
    try:
        return [coerce_review(r) for r in call()], []
    except Exception as exc:
        return [], [_plugin_error(hook, exc)]


def _notify(hook: str, call: Callable[[], None]) -> None:
    try:
        call()
    except Exception as exc:
        print(f"goldfish: warning: plugin hook {hook} failed: {exc!r}", file=sys.stderr)


@dataclass
class _StageView:
    module: str
    outputs_raw: dict[str, Any]

    @property
    def outputs(self) -> dict[str, Any]:
        return {n: _SignalView(v.get("type"), v.get("contract"))
                for n, v in self.outputs_raw.items()}


@dataclass
class _SignalView:
    type: Any
    contract: Any


def _approved_patterns(project: Project) -> list[dict[str, Any]]:
    """Approved failure patterns for reviewers; a store that cannot be read gives none."""
    from goldfish import patterns

    try:
        return patterns.for_review(project)
    except Exception:
        return []


def _runtime(project: Project, profile: str) -> str:
    from goldfish.runs.plan import runtime_hash

    return runtime_hash(project, profile)


def _max_metric_names(project: Project) -> int:
    try:
        return int(project.config.get("limits.max_metric_names", 200))
    except Exception:
        return 200


def _job_inputs(job_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((job_dir / "job.json").read_text()).get("inputs") or {})
    except (OSError, ValueError):
        return {}


def _record_findings(conn: Any, run_id: str, phase: str, findings: list[Finding],
                     stage: str | None = None) -> None:
    now = time.time()
    for f in findings:
        conn.execute(
            "INSERT INTO findings (run_id, stage, phase, source, check_name, severity, message, "
            "signal, data, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, f.stage or stage, phase, f.source, f.check, f.severity, f.message, f.signal,
             json.dumps(_json_safe(f.data), default=str), now))


def _json_safe(value: Any) -> Any:
    """Non-finite floats as the strings ``"nan"``/``"inf"``/``"-inf"`` (SQLite's JSON rejects
    them), as in ``metrics.jsonl``."""
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _record_review(conn: Any, run_id: str, phase: str, review: Review) -> None:
    now = time.time()
    conn.execute("INSERT INTO reviews (run_id, phase, reviewer, decision, summary, usage, at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (run_id, phase, review.reviewer, review.decision, review.summary,
                  json.dumps(review.usage, default=str), now))
    _record_findings(conn, run_id, f"review_{phase}", list(review.findings))


def _record_inputs(conn: Any, run_id: str, stage: str, inputs: dict[str, Any]) -> None:
    for name, raw in inputs.items():
        pin = Pinned.from_json(raw)
        conn.execute(
            "INSERT OR REPLACE INTO stage_inputs (run_id, stage, name, type, source, from_run, "
            "from_stage, from_output, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, stage, name, pin.type, pin.source, pin.from_run, pin.from_stage,
             pin.from_output, pin.digest or ""))


def _error_text(job_dir: Path, exit_code: int | None, cause: str | None) -> str:
    """The error of a failed stage: error.json's message and traceback tail, else the log tail."""
    head = f"exit code {exit_code}" + (f" ({cause})" if cause else "")
    try:
        raw = json.loads((job_dir / "error.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = None
    if isinstance(raw, dict):
        text = f"{raw.get('type', 'Error')}: {raw.get('message', '')}"
        tail = str(raw.get("traceback_tail") or "").strip()
        return f"{text}\n{tail}\n[{head}]" if tail else f"{text}\n[{head}]"
    try:
        lines = (job_dir / "log.txt").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    tail = "\n".join(lines[-ERROR_TAIL_LINES:])
    return f"{head}\n{tail}" if tail else head
