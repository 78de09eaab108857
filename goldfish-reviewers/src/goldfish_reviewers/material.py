"""Gather what a review looks at from a :class:`goldfish.findings.ReviewContext`.

Every part is plain text; :mod:`goldfish_reviewers.prompts` fences, scrubs and fits them. Parts
marked ``keyed=False`` (the diffs, which depend on history rather than on what runs) are shown but
left out of the cache key, so the same code, config and inputs hash the same in any run.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from goldfish_reviewers.prompts import Part, dump
from goldfish_reviewers.secrets import scrub_config

LISTING_FILES = 40
LOG_TAIL_LINES = 40
PREVIEW_CHARS = 1500


def _project_part(project: Any) -> list[Part]:
    if project is None:
        return []
    try:
        config = project.config
        goal, invariants = config.goal, list(config.invariants)
    except Exception:  # a review never fails because the config moved under it
        return []
    lines = [f"goal: {goal or '(none stated)'}", "invariants (every experiment must respect):"]
    lines += [f"- {rule}" for rule in invariants] or ["- (none)"]
    return [Part("Project", "\n".join(lines))]


def _reason_part(reason: dict[str, Any]) -> Part:
    text = "\n".join(f"{k}: {v}" for k, v in sorted(reason.items())) or "(no reason given)"
    return Part("Why this run (reason and hypothesis)", text, cuttable=False)


def _signal(sig: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": sig.type}
    if sig.contract:
        out["contract"] = sig.contract
    return out


def _pipeline_text(pipeline: Any) -> str:
    stages = []
    for s in pipeline.stages:
        inputs = {}
        for name, spec in s.inputs.items():
            where = {"source": spec.source} if spec.source else \
                {"from": f"{spec.from_stage}.{spec.from_output}"}
            inputs[name] = {**where, **({"type": spec.type} if spec.type else {})}
        stage: dict[str, Any] = {"name": s.name, "module": s.module, "inputs": inputs,
                                 "outputs": {n: _signal(o) for n, o in s.outputs.items()}}
        for key in ("description", "config_schema", "profile", "checks", "timeout_minutes"):
            value = getattr(s, key, None)
            if value:
                stage[key] = value
        if not s.cache:
            stage["cache"] = False
        stages.append(stage)
    head = {"name": pipeline.name, "description": pipeline.description,
            "results": pipeline.results}
    return dump({**{k: v for k, v in head.items() if v}, "stages": stages})


def _source_listing(project: Any, name: str) -> dict[str, Any]:
    row = project.db.one("SELECT * FROM sources WHERE name = ?", (name,))
    if row is None:
        return {"source": name, "problem": "not registered"}
    out: dict[str, Any] = {"source": name, "type": row["type"], "kind": row["kind"],
                           "size": row["size"], "digest": row["digest"][:16],
                           "description": row["description"], "origin": row["origin"]}
    if row["kind"] == "directory":
        try:
            from goldfish.artifacts import ArtifactStore

            files = ArtifactStore.for_project(project).manifest(row["digest"])
            shown = sorted(files)[:LISTING_FILES]
            out["files"] = {p: files[p].get("size") for p in shown}
            if len(files) > len(shown):
                out["files_not_shown"] = len(files) - len(shown)
        except Exception as exc:
            out["listing_error"] = str(exc)[:200]
    return out


def _inputs_text(pipeline: Any, project: Any) -> str:
    outputs = {(s.name, n): o for s in pipeline.stages for n, o in s.outputs.items()}
    resolved: dict[str, dict[str, Any]] = {}
    for s in pipeline.stages:
        for name, spec in s.inputs.items():
            if spec.source:
                entry = (_source_listing(project, spec.source) if project is not None
                         else {"source": spec.source})
            else:
                up = outputs.get((spec.from_stage, spec.from_output))
                entry = {"from": f"{spec.from_stage}.{spec.from_output}",
                         **(_signal(up) if up is not None else {})}
            if spec.type:
                entry["declared_type"] = spec.type
            resolved.setdefault(s.name, {})[name] = entry
    return dump(resolved) if resolved else "(no inputs)"


def _last_success(project: Any, workspace: str, stage: str, run_id: str) -> str | None:
    row = project.db.one(
        "SELECT r.version_tag FROM stage_runs s JOIN runs r ON r.id = s.run_id "
        "WHERE s.stage = ? AND r.workspace = ? AND s.state IN ('done', 'reused') AND r.id != ? "
        "ORDER BY COALESCE(s.finished_at, s.created_at) DESC LIMIT 1",
        (stage, workspace, run_id))
    return str(row["version_tag"]) if row is not None and row["version_tag"] else None


def _diff_parts(context: Any) -> list[Part]:
    """The diff since each stage's last successful run, one part per distinct earlier version."""
    project = context.project
    if project is None:
        return []
    by_base: dict[str | None, list[str]] = {}
    for s in context.pipeline.stages:
        try:
            base = _last_success(project, context.workspace, s.name, context.run_id)
        except Exception:
            base = None
        by_base.setdefault(base, []).append(s.name)
    parts: list[Part] = []
    for base, stages in by_base.items():
        title = f"Changes since the last successful run of {', '.join(stages)}"
        if base is None:
            parts.append(Part(title, "no earlier successful run: everything is new", keyed=False))
            continue
        try:
            from goldfish.workspaces import Workspaces

            diff = Workspaces(project).diff(base, context.version)
            text = f"{base} → {context.version}: {diff.summary}\n{diff.text()}"
        except Exception as exc:
            text = f"{base} → {context.version}: diff unavailable ({exc})"
        parts.append(Part(title, text, keyed=False))
    return parts


def _patterns_part(patterns: list[dict[str, Any]]) -> list[Part]:
    if not patterns:
        return []
    keep = ("title", "stage", "symptom", "root_cause", "detection", "prevention", "check")
    rows = [{k: p[k] for k in keep if p.get(k)} for p in patterns]
    return [Part("Approved failure patterns (do not let them happen again)", dump(rows))]


def before_parts(context: Any) -> list[Part]:
    """A pre-run review: the whole pipeline, each stage's code and config, diffs, inputs."""
    parts: list[Part] = [*_project_part(context.project), _reason_part(context.reason)]
    if context.pipeline is not None:
        parts.append(Part("Pipeline (pipeline.yaml, parsed)", _pipeline_text(context.pipeline)))
        parts.append(Part("Resolved inputs, with listings and contracts",
                           _inputs_text(context.pipeline, context.project)))
    for stage in sorted(context.configs):
        parts.append(Part(f"Config of stage {stage} (merged)",
                           dump(scrub_config(context.configs[stage]))))
    for path in sorted(context.files):
        numbered = "\n".join(f"{i:4d}  {line}"
                             for i, line in enumerate(context.files[path].splitlines(), 1))
        parts.append(Part(f"Code: {path}", numbered))
    if context.pipeline is not None:
        parts += _diff_parts(context)
    parts += _patterns_part(list(getattr(context, "patterns", None) or []))
    return parts


def _npy_header(head: bytes) -> str:
    if not head.startswith(b"\x93NUMPY"):
        return "not an npy file"
    major = head[6]
    if major == 1:
        (n,) = struct.unpack("<H", head[8:10])
        start = 10
    else:
        (n,) = struct.unpack("<I", head[8:12])
        start = 12
    return head[start:start + n].decode("latin1", "replace").strip()


def _output_stats(project: Any, kind: str, digest: str) -> str:
    from goldfish.artifacts import ArtifactStore

    store = ArtifactStore.for_project(project)
    if kind == "directory":
        files = store.manifest(digest)
        return f"directory of {len(files)} files: {', '.join(sorted(files)[:10])}"
    with store.open(digest) as fh:
        data = fh.read(1 << 20)
    if kind == "npy":
        return _npy_header(data[:4096])
    if kind == "csv":
        text = data.decode("utf-8", "replace")
        lines = text.splitlines()
        return f"header: {lines[0] if lines else ''}\nrows (in the first MB): {max(len(lines) - 1, 0)}"
    if kind == "json":
        try:
            return json.dumps(json.loads(data), sort_keys=True, default=str)[:PREVIEW_CHARS]
        except ValueError:
            return "not valid JSON"
    return f"{len(data)} bytes (first MB)"


def _outputs_text(context: Any) -> str:
    out: dict[str, dict[str, Any]] = {}
    for stage, outputs in sorted(context.outputs.items()):
        for name, info in sorted(outputs.items()):
            entry = dict(info)
            if context.project is not None and info.get("digest"):
                try:
                    entry["statistics"] = _output_stats(context.project, str(info.get("type")),
                                                        str(info["digest"]))
                except Exception as exc:
                    entry["statistics"] = f"unavailable ({str(exc)[:120]})"
            entry.pop("digest", None)
            out.setdefault(stage, {})[name] = entry
    return dump(out) if out else "(no outputs stored)"


def _metrics_text(metrics: dict[str, dict[str, Any]]) -> str:
    if not metrics:
        return "(no metrics)"
    keep = ("last", "min", "max", "count", "slope", "trend", "last_step")
    return dump({stage: {name: {k: v for k, v in summary.items() if k in keep}
                         for name, summary in names.items()}
                 for stage, names in metrics.items()})


def _log_tails(context: Any) -> list[Part]:
    if context.project is None:
        return []
    parts: list[Part] = []
    for stage in sorted(context.configs):
        log = context.project.runs_dir / context.run_id / stage / "log.txt"
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        if lines:
            parts.append(Part(f"Log tail of {stage}", "\n".join(lines[-LOG_TAIL_LINES:])))
    return parts


def after_parts(context: Any) -> list[Part]:
    """A post-run review: results against the hypothesis."""
    findings = [f.to_json() if hasattr(f, "to_json") else f for f in context.findings]
    parts: list[Part] = [*_project_part(context.project), _reason_part(context.reason),
                         Part("Final state", str(context.state), trusted=True, cuttable=False),
                         Part("Outputs and their statistics", _outputs_text(context)),
                         Part("Metric summaries (per stage: last, min, max, count, slope)",
                               _metrics_text(context.metrics)),
                         Part("Findings of automatic checks",
                               dump(findings) if findings else "(none)")]
    for stage in sorted(context.configs):
        parts.append(Part(f"Config of stage {stage}", dump(scrub_config(context.configs[stage]))))
    parts += _log_tails(context)
    parts += _patterns_part(list(getattr(context, "patterns", None) or []))
    return parts


def failure_parts(failure: Any) -> list[Part]:
    """A failure to summarize as a pattern."""
    head = {"stage": failure.stage, "exception": failure.exception,
            "cause": getattr(failure, "cause", None), "message": failure.message}
    parts: list[Part] = [Part("Failure", dump(head))]
    if getattr(failure, "traceback_tail", ""):
        parts.append(Part("Traceback tail", failure.traceback_tail))
    if getattr(failure, "log_tail", ""):
        parts.append(Part("Log tail", failure.log_tail))
    return parts
