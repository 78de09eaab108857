"""Load a pipeline from a snapshot and plan it: cache keys, reuse decisions, pinned inputs.

Everything here reads the *snapshot* (never the live slot) and the database; it starts nothing.
``dry_run`` returns the :class:`Plan` this module builds, and a real run records the same plan.

Cache key of a stage (sha256, see ``docs/architecture.md`` § "Cache keys"): the code it can see,
its definition (module path, declared inputs and outputs), its merged config as canonical JSON, the
content digests of its inputs and the runtime (Python minor version and the profile's settings).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from goldfish.errors import GoldfishError, InvalidInputError, NotFoundError, did_you_mean
from goldfish.yamlpos import decode

if TYPE_CHECKING:
    from goldfish.project import Project

KEY_VERSION = "goldfish-stage-key-v1"
PIPELINE_FILE = "pipeline.yaml"
CONFIGS_DIR = "configs/"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sha(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


@dataclass
class Pinned:
    """One input of one stage run, pinned to exactly what it reads."""

    name: str
    type: str
    source: str | None = None  # a registered source
    from_run: str | None = None  # or an upstream stage run's output
    from_stage: str | None = None
    from_output: str | None = None
    digest: str | None = None  # None until the upstream stage has finished

    @property
    def ref(self) -> str:
        if self.source:
            return f"source:{self.source}"
        run = self.from_run or "(this run)"
        return f"{run}/{self.from_stage}.{self.from_output}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Pinned:
        return cls(**raw)


@dataclass
class PlanStep:
    stage: str
    position: int
    action: str  # "run" | "reuse"
    why: str
    module: str
    profile: str
    upstream: list[str]
    config: dict[str, Any]
    inputs: dict[str, Pinned]
    cacheable: bool
    code_hash: str
    cache_key: str | None = None
    key_parts: dict[str, str] = field(default_factory=dict)
    reused_from: str | None = None  # "<run_id>/<stage>"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["inputs"] = {k: v.to_json() for k, v in self.inputs.items()}
        return out


@dataclass
class Plan:
    workspace: str
    version: str  # version tag
    commit: str
    pipeline: str
    steps: list[PlanStep]
    results: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"workspace": self.workspace, "version": self.version, "commit": self.commit,
                "pipeline": self.pipeline, "results": self.results,
                "steps": [s.to_json() for s in self.steps]}

    def render(self) -> str:
        unsaved = "" if self.commit else ", not saved: a run would record it"
        lines = [f"plan for {self.workspace} at {self.version} ({self.pipeline}{unsaved}):"]
        for step in self.steps:
            lines.append(f"  {step.stage:<16} {step.action:<6} {step.why}")
        return "\n".join(lines)


@dataclass
class Loaded:
    """A pipeline loaded from a snapshot, with merged configs."""

    workspace: str
    version: Any  # goldfish.workspaces.VersionInfo
    files: dict[str, str]  # path -> blob sha
    pipeline: Any  # goldfish.pipeline.Pipeline
    configs: dict[str, dict[str, Any]]
    code_hashes: dict[str, str]
    results: dict[str, Any] | None


# --- loading ----------------------------------------------------------------------------------


_RESTORE = ("save it as UTF-8 text, or restore it from an earlier version (`goldfish diff` "
            "shows what changed, `goldfish rollback` restores)")


def load(project: Project, workspaces: Any, version: Any,
         config_overrides: dict[str, dict[str, Any]] | None = None, *,
         unsaved: dict[str, tuple[int, str]] | None = None) -> Loaded:
    """Read ``pipeline.yaml`` and ``configs/<stage>.yaml`` from the snapshot and merge configs.

    ``unsaved`` is the listing of a snapshot that was not recorded (a dry run, see
    ``Workspaces.preview_for_run``): files are then read from the slot, not the store."""
    from goldfish import pipeline as pl

    tag = version.tag
    from goldfish.runs.codecache import listing

    if unsaved is None:
        files = {path: sha for path, (_mode, sha) in listing(project, version.tree).items()}
        by_sha = {}
    else:
        files = {path: sha for path, (_mode, sha) in unsaved.items()}
        by_sha = {sha: path for path, sha in files.items()}

    def read_blob(_project: Project, sha: str) -> bytes:
        if sha in by_sha:
            return bytes(workspaces.read_slot_file(version.workspace, by_sha[sha]))
        from goldfish.runs.codecache import read_blob as from_store

        return from_store(project, sha)

    if PIPELINE_FILE not in files:
        raise NotFoundError(f"version {tag} has no {PIPELINE_FILE}",
                            f"add {PIPELINE_FILE} to the workspace (see `goldfish demo` for an "
                            "example) and run again")
    text = decode(read_blob(project, files[PIPELINE_FILE]), PIPELINE_FILE, _RESTORE)
    sources = {r[0] for r in project.db.query("SELECT name FROM sources")}
    profiles = set(project.config.profiles)
    pipeline = pl.load_pipeline(text, PIPELINE_FILE, files=set(files), sources=sources,
                                profiles=profiles)
    overrides = dict(config_overrides or {})
    names = [s.name for s in pipeline.stages]
    for stage_name in overrides:
        if stage_name not in names:
            raise InvalidInputError(
                f"override for unknown stage {stage_name!r}",
                did_you_mean(stage_name, names) or f"stages: {', '.join(names)}")
    configs: dict[str, dict[str, Any]] = {}
    for stage in pipeline.stages:
        file = f"{CONFIGS_DIR}{stage.name}.yaml"
        file_config: dict[str, Any] = {}
        if file in files:
            file_config = pl.load_stage_config_text(
                decode(read_blob(project, files[file]), file, _RESTORE), file) or {}
        configs[stage.name] = pl.merge_config(stage, file_config,
                                              overrides.get(stage.name) or {}, file=file)
    results = getattr(pipeline, "results", None)
    if results is not None and not isinstance(results, dict):
        results = dict(getattr(results, "__dict__", {})) or None
    return Loaded(workspace=version.workspace, version=version, files=files, pipeline=pipeline,
                  configs=configs, code_hashes=code_hashes(pipeline, files), results=results)


def code_hashes(pipeline: Any, files: dict[str, str]) -> dict[str, str]:
    """Per stage, a hash of the code it can see.

    With ``deps`` globs: the stage's module plus the files they match. Without: every file of the
    snapshot except ``pipeline.yaml`` and ``configs/`` (both enter the key through the merged
    config and the stage definition) and other stages' modules, so editing ``train.py`` does not
    invalidate ``prepare`` while a helper module both import invalidates both.
    """
    modules = {s.module for s in pipeline.stages}
    common_items = sorted((p, b) for p, b in files.items()
                          if p not in modules and p != PIPELINE_FILE
                          and not p.startswith(CONFIGS_DIR))
    common = sha(*(f"{p}={b}" for p, b in common_items))
    out: dict[str, str] = {}
    for stage in pipeline.stages:
        own = f"{stage.module}={files.get(stage.module, '')}"
        deps = list(getattr(stage, "deps", None) or [])
        if deps:
            matched = sorted((p, b) for p, b in files.items()
                             if any(fnmatch.fnmatchcase(p, g) for g in deps))
            out[stage.name] = sha("deps", own, *(f"{p}={b}" for p, b in matched))
        else:
            out[stage.name] = sha("tree", own, common)
    return out


def runtime_hash(project: Project, profile_name: str) -> str:
    profile = project.config.profile(profile_name)
    settings = profile.to_dict()
    settings.pop("env", None)  # may hold secrets; also rarely changes what a stage computes
    settings.pop("timeout_minutes", None)
    identity = backend_runtime_identity(project, profile)
    if identity is not None:  # the image's id replaces its tag: a rebuild under a tag counts
        settings.pop("image", None)
        settings["runtime_identity"] = identity
    return sha(f"python{sys.version_info[0]}.{sys.version_info[1]}", canonical(settings))


def backend_runtime_identity(project: Project, profile: Any) -> str | None:
    """The backend's ``runtime_identity`` (optional method, see goldfish.compute), if it has
    one: the backend is built only for backends that define it."""
    backend = getattr(profile, "backend", None)
    if not isinstance(backend, str):
        return None
    factory = project.plugins.compute_backend(backend).load()
    if not callable(getattr(factory, "runtime_identity", None)):
        return None
    config = profile.backend_config if hasattr(profile, "backend_config") else {}
    identity = factory(project.root, config).runtime_identity(getattr(profile, "image", None))
    return None if identity is None else str(identity)


def signal_json(signal: Any) -> dict[str, Any]:
    return {"type": getattr(signal, "type", None),
            "contract": _plain(getattr(signal, "contract", None))}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        return _plain(asdict(value))
    return str(value)


def cache_key(stage: Any, code_hash: str, config: dict[str, Any], inputs: dict[str, Pinned],
              runtime: str) -> tuple[str, dict[str, str]]:
    definition = {"module": stage.module,
                  "outputs": {n: signal_json(s) for n, s in stage.outputs.items()},
                  "inputs": {n: p.type for n, p in inputs.items()}}
    parts = {
        "code": code_hash,
        "definition": sha(canonical(definition)),
        "config": sha(canonical(config)),
        "inputs": sha(*(f"{n}:{p.type}:{p.digest}" for n, p in sorted(inputs.items()))),
        "runtime": runtime,
    }
    return sha(KEY_VERSION, *(f"{k}={v}" for k, v in sorted(parts.items()))), parts


# --- inputs -----------------------------------------------------------------------------------


def source_digest(project: Project, name: str) -> str:
    row = project.db.one("SELECT digest FROM sources WHERE name = ?", (name,))
    if row is None:
        names = [r[0] for r in project.db.query("SELECT name FROM sources")]
        raise NotFoundError(f"unknown source {name!r}",
                            did_you_mean(name, names) or
                            "register it with `goldfish sources add NAME PATH`")
    return str(row[0])


def output_row(project: Project, run_id: str, stage: str, output: str) -> Any:
    row = project.db.one("SELECT digest, type FROM outputs WHERE run_id = ? AND stage = ? AND "
                         "name = ?", (run_id, stage, output))
    if row is None:
        raise NotFoundError(f"{run_id}/{stage} has no recorded output {output!r}",
                            "name an output of a stage run that finished (`goldfish show RUN`)")
    return row


def parse_input_override(project: Project, text: str, resolve_run: Any) -> tuple[str, str, Pinned]:
    """``stage.input=SOURCE`` or ``stage.input=RUN/STAGE.OUTPUT`` → (stage, input, pinned)."""
    from goldfish.runs.ids import parse_ref

    target, sep, value = text.partition("=")
    stage, dot, name = target.partition(".")
    if not sep or not dot or not stage or not name or not value:
        raise InvalidInputError(f"input override {text!r} is not STAGE.INPUT=SOURCE or "
                                "STAGE.INPUT=RUN/STAGE.OUTPUT",
                                "e.g. --input prepare.raw=digits_v2 or "
                                "--input train.train=r-20260101-a1b2c3/prepare.train")
    if "/" not in value:
        name_ = value.removeprefix("source:")
        return stage, name, Pinned(name=name, type="", source=name_,
                                   digest=source_digest(project, name_))
    ref = parse_ref(value, what="input override")
    if not ref.stage or not ref.output:
        raise InvalidInputError(f"input override {text!r} must name RUN/STAGE.OUTPUT",
                                "e.g. r-20260101-a1b2c3/prepare.train")
    run_id = resolve_run(ref.run)
    row = output_row(project, run_id, ref.stage, ref.output)
    return stage, name, Pinned(name=name, type=str(row["type"]), from_run=run_id,
                               from_stage=ref.stage, from_output=ref.output,
                               digest=str(row["digest"]))


# --- planning ---------------------------------------------------------------------------------


@dataclass
class CacheHit:
    """What :func:`find_reusable` found for a cache key."""

    hit: str | None  # "<run_id>/<stage>" to reuse, or None
    outputs: dict[str, str]  # its output digests by name
    gone: str | None = None  # why an earlier success with this key cannot be reused


#: Earlier successes with one key that are checked for their outputs before the stage reruns.
REUSE_CANDIDATES = 3


def find_reusable(project: Project, key: str, exclude_run: str | None = None,
                  store: Any = None) -> CacheHit:
    """The newest ``done`` stage run with this key whose stored outputs all still exist.

    Each candidate's outputs are checked with the artifact store's existence test (a ``stat``
    per object locally, never a re-hash); a candidate with an output gone is skipped, and when
    none is left ``gone`` says which output of which run is missing, so the plan and the stage
    note explain why the stage runs again."""
    rows = project.db.query(
        "SELECT s.run_id, s.stage, o.name, o.digest FROM (SELECT run_id, stage, finished_at "
        "FROM stage_runs WHERE cache_key = ? AND state = 'done' AND run_id != ? "
        "ORDER BY finished_at DESC LIMIT ?) s LEFT JOIN outputs o ON o.run_id = s.run_id AND "
        "o.stage = s.stage ORDER BY s.finished_at DESC",
        (key, exclude_run or "", REUSE_CANDIDATES))
    candidates: dict[str, dict[str, str]] = {}
    for r in rows:
        outputs = candidates.setdefault(f"{r[0]}/{r[1]}", {})
        if r[2] is not None:
            outputs[str(r[2])] = str(r[3])
    gone = None
    for hit, outputs in candidates.items():
        if store is None and outputs:
            from goldfish.artifacts import ArtifactStore

            store = ArtifactStore.for_project(project)
        missing = [n for n, digest in outputs.items() if not store.present(digest)]
        if not missing:
            return CacheHit(hit, outputs, gone)
        gone = gone or (f"outputs of {hit} are gone from the store "
                        f"({', '.join(f'{n} {outputs[n][:19]}…' for n in missing)}), so it "
                        "runs again")
    return CacheHit(None, {}, gone)


def explain_miss(project: Project, workspace: str, stage: str, parts: dict[str, str]) -> str:
    """Why a stage runs although an earlier run of it finished: which key parts changed."""
    row = project.db.one(
        "SELECT s.run_id, s.key_parts FROM stage_runs s JOIN runs r ON r.id = s.run_id "
        "WHERE r.workspace = ? AND s.stage = ? AND s.state = 'done' "
        "ORDER BY s.finished_at DESC LIMIT 1", (workspace, stage))
    if row is None:
        return "no earlier successful run of this stage"
    try:
        before = json.loads(row[1] or "{}")
    except ValueError:
        before = {}
    changed = [k for k in ("code", "definition", "config", "inputs", "runtime")
               if before.get(k) != parts.get(k)]
    what = ", ".join(changed) if changed else "key"
    return f"{what} changed since {row[0]}/{stage}"


def build_plan(project: Project, loaded: Loaded, *,
               input_overrides: dict[tuple[str, str], Pinned] | None = None,
               force: bool = False, rerun: tuple[str, ...] = ()) -> Plan:
    pipeline = loaded.pipeline
    names = [s.name for s in pipeline.stages]
    for stage_name in rerun:
        if stage_name not in names:
            raise InvalidInputError(f"--rerun names unknown stage {stage_name!r}",
                                    did_you_mean(stage_name, names) or
                                    f"stages: {', '.join(names)}")
    overrides = dict(input_overrides or {})
    for stage_name, input_name in overrides:
        stage_obj = next((s for s in pipeline.stages if s.name == stage_name), None)
        if stage_obj is None:
            raise InvalidInputError(f"input override for unknown stage {stage_name!r}",
                                    did_you_mean(stage_name, names) or
                                    f"stages: {', '.join(names)}")
        if input_name not in stage_obj.inputs:
            raise InvalidInputError(
                f"stage {stage_name!r} has no input {input_name!r}",
                did_you_mean(input_name, list(stage_obj.inputs)) or
                f"its inputs: {', '.join(stage_obj.inputs) or 'none'}")
    runtimes: dict[str, str] = {}
    store: Any = None  # the artifact store, built once the first reuse candidate is checked
    stage_by_name = {s.name: s for s in pipeline.stages}
    hits: dict[str, dict[str, str]] = {}  # "<run>/<stage>" of a reused stage -> output digests
    steps: list[PlanStep] = []
    by_name: dict[str, PlanStep] = {}
    default_profile = project.config.default_profile
    for position, stage in enumerate(pipeline.stages):
        profile = getattr(stage, "profile", None) or default_profile
        if profile not in runtimes:
            runtimes[profile] = runtime_hash(project, profile)
        inputs: dict[str, Pinned] = {}
        upstream: list[str] = []
        for input_name, spec in stage.inputs.items():
            kind = _input_type(project, stage_by_name, spec)
            pinned = overrides.get((stage.name, input_name))
            if pinned is not None:
                pinned.type = kind or pinned.type or _source_type(project, pinned.source)
                inputs[input_name] = pinned
                continue
            source = getattr(spec, "source", None)
            if source:
                inputs[input_name] = Pinned(input_name, kind, source=source,
                                            digest=source_digest(project, source))
                continue
            from_stage, from_output = spec.from_stage, spec.from_output
            if from_stage not in upstream:
                upstream.append(from_stage)
            up = by_name[from_stage]
            pinned = Pinned(input_name, kind, from_stage=from_stage, from_output=from_output)
            if up.action == "reuse" and up.reused_from:
                digest = hits.get(up.reused_from, {}).get(from_output)
                if digest is None:
                    run_id, _, up_stage = up.reused_from.partition("/")
                    digest = str(output_row(project, run_id, up_stage, from_output)["digest"])
                pinned.digest = digest
            inputs[input_name] = pinned
        cacheable = bool(getattr(stage, "cache", True)) and not force and stage.name not in rerun
        step = PlanStep(stage=stage.name, position=position, action="run", why="",
                        module=stage.module, profile=profile, upstream=upstream,
                        config=loaded.configs[stage.name], inputs=inputs, cacheable=cacheable,
                        code_hash=loaded.code_hashes[stage.name])
        if all(p.digest for p in inputs.values()):
            step.cache_key, step.key_parts = cache_key(stage, step.code_hash, step.config, inputs,
                                                       runtimes[profile])
        if step.cache_key is None:
            waiting = [u for u in upstream if by_name[u].action == "run"]
            step.why = (f"after {', '.join(waiting)}; reused then if its inputs come out "
                        "unchanged" if cacheable else f"after {', '.join(waiting)}")
        elif not cacheable:
            step.why = ("--no-cache" if force else f"--rerun {stage.name}"
                        if stage.name in rerun else "cache: false in pipeline.yaml")
        else:
            if store is None:
                from goldfish.artifacts import ArtifactStore

                store = ArtifactStore.for_project(project)
            found = find_reusable(project, step.cache_key, store=store)
            if found.hit:
                hits[found.hit] = found.outputs
                step.action, step.reused_from = "reuse", found.hit
                step.why = f"reused from {found.hit}: same code, config and inputs"
            else:
                step.why = found.gone or explain_miss(project, loaded.workspace, stage.name,
                                                      step.key_parts)
        steps.append(step)
        by_name[stage.name] = step
    return Plan(workspace=loaded.workspace, version=loaded.version.tag,
                commit=loaded.version.commit, pipeline=str(getattr(pipeline, "name", "") or ""),
                steps=steps, results=loaded.results)


def _source_type(project: Project, name: str | None) -> str:
    row = project.db.one("SELECT type FROM sources WHERE name = ?", (name,)) if name else None
    return str(row[0]) if row else "file"


def _input_type(project: Project, stages: dict[str, Any], spec: Any) -> str:
    """The declared type, else the upstream output's type, else the source's registered type."""
    if getattr(spec, "type", None):
        return str(spec.type)
    if getattr(spec, "from_stage", None):
        return str(stages[spec.from_stage].outputs[spec.from_output].type)
    if getattr(spec, "source", None):
        return _source_type(project, spec.source)
    return ""


def check_plan_inputs(plan: Plan) -> None:
    """Every stage's upstream must exist in the plan (a pipeline bug otherwise)."""
    names = {s.stage for s in plan.steps}
    for step in plan.steps:
        for up in step.upstream:
            if up not in names:  # pragma: no cover - the pipeline validator rejects this first
                raise GoldfishError(f"stage {step.stage!r} reads from unknown stage {up!r}")
