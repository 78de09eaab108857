"""Hook implementations of goldfish-svs (entry point ``goldfish.plugins``).

Importing this module is cheap (no numpy): it registers the ``svs:`` config section and the check
names it adds to the ``checks:`` vocabulary. The work happens in the validators:

* ``validate_pipeline`` — preflight: check references (``leakage.between`` names, ``drift``
  references) that the syntax check cannot see, with file and line;
* ``validate_outputs`` — contracts (authoritative, on the stored files) and statistical checks,
  every result a finding with its numbers; breached blocking checks fail the stage;
* ``check_metrics`` — metric health; a blocking finding stops the run (cooperatively, then hard).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish import hookimpl

if TYPE_CHECKING:  # imported on use: every command builds the plugin manager, few check outputs
    from goldfish.findings import Finding, MetricContext, OutputContext

from goldfish_svs.settings import asked, is_on, resolve, severity, switch_off

SOURCE = "svs"
_registered: list[bool] = []


def _register_checks() -> None:
    """Add our check names to the ``checks:`` vocabulary (once; ``goldfish.pipeline`` imports
    yaml, so this waits for the first hook call instead of running at import)."""
    if _registered:
        return
    from goldfish.pipeline import CHECK_SETTINGS, register_check

    register_check("drift", "distribution shift against a reference run's output "
                   "{reference, max_psi, max_ks}", ("reference", "max_psi", "max_ks", "bins"))
    register_check("stall", "no heartbeat for {seconds}", ("seconds", "grace_seconds"))
    register_check("no_progress", "no metric logged for {seconds}", ("seconds", "grace_seconds"))
    register_check("nonfinite_metric", "a metric logged NaN or Inf", ("metrics", "grace_seconds"))
    register_check("loss_rise", "a loss whose last {window} points stay above {ratio}× its best",
                   ("ratio", "window", "metrics", "grace_seconds"))
    for name in ("divergence", "grad_norm"):
        CHECK_SETTINGS[name] = (*CHECK_SETTINGS.get(name, ()), "grace_seconds")
    _registered.append(True)


@hookimpl
def register_config_sections(register: Callable[..., None]) -> None:
    _register_checks()  # configuration is loaded before any pipeline.yaml is parsed
    register("svs", "goldfish_svs.config:SvsConfig")


def _config(project: Any) -> Any:
    section = None
    if project is not None:
        try:
            section = project.config.section_view("svs")  # plain data when cached: no pydantic
        except Exception:
            section = None
    if section is None:
        from goldfish_svs.config import SvsConfig

        section = SvsConfig.model_validate({})
    return section


def _pattern_checks(project: Any, stage: str) -> list[dict[str, Any]]:
    if project is None:
        return []
    from goldfish import patterns

    try:
        return patterns.pattern_checks(project, stage)
    except Exception:
        return []


def _finding(check: str, sev: str, message: str, stage: str, signal: str | None,
             data: dict[str, Any]) -> Finding:
    from goldfish.findings import Finding

    if sev != "info" and check not in ("contract", "readable", "check_reference"):
        hint = switch_off(check)  # a contract is the user's own statement: fix it, not off
        message, data = f"{message} ({hint})", {**data, "switch_off": hint}
    return Finding(SOURCE, check, sev, message, stage=stage, signal=signal, data=data)  # type: ignore[arg-type]


# --- preflight ------------------------------------------------------------------------------------


@hookimpl
def validate_pipeline(pipeline: Any, project: Any) -> list[Finding]:
    _register_checks()
    out: list[Finding] = []
    if _config(project).enforcement == "off":
        return out
    file = getattr(pipeline, "file", "pipeline.yaml")
    for stage in getattr(pipeline, "stages", []):
        known = set(stage.outputs) | set(stage.inputs)
        blocks: list[tuple[str, Any]] = [("checks", stage.checks)]
        blocks += [(f"outputs.{n}", (s.contract or {}).get("checks")) for n, s in
                   stage.outputs.items()]
        for where, block in blocks:
            if not isinstance(block, dict):
                continue
            line = stage.line_of(where)
            leak = block.get("leakage")
            if isinstance(leak, dict) and isinstance(leak.get("between"), list):
                unknown = [n for n in leak["between"] if n not in known]
                if unknown:
                    out.append(_finding(
                        "check_reference", "blocking",
                        f"{file}:{line}: stage {stage.name!r} checks leakage between "
                        f"{unknown[0]!r}, which is neither an output nor an input of the stage",
                        stage.name, None, {"file": file, "line": line,
                                           "key": f"stages.{stage.name}.{where}.leakage",
                                           "known": sorted(known)}))
            drift = block.get("drift")
            ref = drift.get("reference") if isinstance(drift, dict) else None
            if ref is not None and project is not None:
                from goldfish.errors import GoldfishError
                from goldfish.runs.records import resolve_run

                try:
                    resolve_run(project, str(ref))
                except GoldfishError as exc:
                    out.append(_finding(
                        "check_reference", "blocking",
                        f"{file}:{line}: drift reference {ref!r} of stage {stage.name!r}: "
                        f"{exc.message}", stage.name, None,
                        {"file": file, "line": line, "reference": ref}))
    return out


# --- outputs --------------------------------------------------------------------------------------


def _contract_findings(name: str, kind: str, path: Path, contract: dict[str, Any],
                       config: dict[str, Any]) -> tuple[list[tuple[str, Any, Any]], Any, int | None]:
    from goldfish_svs import contracts

    rows: int | None = None
    value: Any = None
    if kind == "npy":
        problems = contracts.check_npy(path, contract, config)
    elif kind == "csv":
        problems, rows = contracts.check_csv(path, contract)
    elif kind == "json":
        value, problem = contracts.read_json(path)
        problems = [problem] if problem else contracts.check_json(value, contract)
    elif kind == "directory":
        problems = contracts.check_directory(path, contract)
    else:
        problems = contracts.check_file(path, contract)
    return problems, value, rows


@hookimpl
def validate_outputs(context: OutputContext) -> list[Finding]:
    cfg = _config(context.project)
    if cfg.enforcement == "off":
        return []
    out: list[Finding] = []
    pattern_checks = _pattern_checks(context.project, context.stage)
    resolved: dict[str, dict[str, dict[str, Any]]] = {}
    for name, signal in context.signals.items():
        path = context.paths.get(name)
        if path is None:
            continue
        kind = str(signal.get("type") or "file")
        contract = dict(signal.get("contract") or {})
        checks = resolve(cfg, context.checks, contract, name, pattern_checks)
        resolved[name] = checks
        out += _check_signal(context, cfg, name, kind, path, contract, checks)
    out += _leakage(context, cfg, resolved)
    return out


def _check_signal(context: OutputContext, cfg: Any, name: str, kind: str, path: Path,
                  contract: dict[str, Any], checks: dict[str, dict[str, Any]]) -> list[Finding]:
    stage = context.stage
    enforcement = cfg.enforcement
    out: list[Finding] = []
    try:
        problems, value, rows = _contract_findings(name, kind, path, contract, context.config)
    except Exception as exc:  # a checker bug must read as a finding, not lose the run
        problems, value, rows = [("a readable output", kind, f"unreadable ({exc!r})")], None, None
    sev = "warning" if enforcement == "warning" else "blocking"
    for what, expected, actual in problems:
        out.append(_finding("contract", sev, f"output {name!r} breaks its contract: {what} "
                            f"expected {expected}, got {actual}", stage, name,
                            {"what": what, "expected": expected, "actual": actual,
                             "path": path.name}))
    if any("unreadable" in str(p[2]) or "truncated" in str(p[2]) for p in problems):
        return out
    if kind == "npy":
        out += _array_findings(context, cfg, name, path, checks)
    elif kind == "csv":
        from goldfish_svs import tables

        try:
            results = tables.check_table(path, checks, sample_size=cfg.sample_size, rows=rows)
        except Exception as exc:
            return [*out, _unreadable(stage, name, path, "CSV", exc)]
        out += _to_findings(results, checks, enforcement, stage, name)
    elif kind == "json" and (value is not None or not problems):
        out += _json_findings(context, cfg, name, path, value, checks)
    return out


def _unreadable(stage: str, name: str, path: Path, what: str, exc: BaseException) -> Finding:
    return _finding("readable", "blocking",
                    f"output {name!r} cannot be read as {what}: {exc}", stage, name,
                    {"path": path.name, "error": f"{type(exc).__name__}: {exc}"})


def _to_findings(results: list[Any], checks: dict[str, dict[str, Any]], enforcement: str,
                 stage: str, name: str) -> list[Finding]:
    out = []
    for r in results:
        settings = checks.get(r.check, {})
        if r.passed:
            sev = "info"
        else:
            sev = severity(settings, enforcement)
            if r.severity is not None and r.severity != "blocking":
                sev = r.severity if sev == "blocking" else sev
        data = dict(r.data)
        if settings.get("pattern"):
            data["pattern"] = settings["pattern"]
        out.append(_finding(r.check, sev, f"{name}: {r.message}", stage, name, data))
    return out


def _array_findings(context: OutputContext, cfg: Any, name: str, path: Path,
                    checks: dict[str, dict[str, Any]]) -> list[Finding]:
    from goldfish_svs import stats

    active = {k: v for k, v in checks.items() if is_on(v)}
    import tempfile

    with tempfile.TemporaryDirectory(prefix="svs-ref-") as tmp:
        reference = None
        drift = active.get("drift")
        if drift is not None and drift.get("reference"):
            try:
                reference = _reference_output(context, name, str(drift["reference"]), Path(tmp))
            except Exception as exc:
                active.pop("drift")
                return [_finding("drift", "warning",
                                 f"{name}: drift not checked: reference "
                                 f"{drift['reference']!r} unavailable ({exc})",
                                 context.stage, name, {"reference": drift["reference"]})]
        try:
            results = stats.check_array(path, active, sample_size=cfg.sample_size,
                                        full_scan_mb=cfg.full_scan_mb, reference=reference)
        except Exception as exc:
            return [_unreadable(context.stage, name, path, ".npy", exc)]
    return _to_findings(results, checks, cfg.enforcement, context.stage, name)


def _reference_output(context: OutputContext, name: str, ref: str, tmp: Path) -> Path:
    from goldfish.artifacts import ArtifactStore
    from goldfish.errors import NotFoundError
    from goldfish.runs.records import resolve_run

    project = context.project
    run_id = resolve_run(project, ref)
    row = project.db.one("SELECT digest FROM outputs WHERE run_id = ? AND stage = ? AND name = ?",
                         (run_id, context.stage, name))
    if row is None:
        raise NotFoundError(f"run {run_id} has no output {context.stage}.{name}")
    return Path(ArtifactStore.for_project(project).materialize(row["digest"], tmp / f"{name}.npy"))


def _json_findings(context: OutputContext, cfg: Any, name: str, path: Path, value: Any,
                   checks: dict[str, dict[str, Any]]) -> list[Finding]:
    from goldfish_svs import stats

    if value is None:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return [_unreadable(context.stage, name, path, "JSON", exc)]
    nan, inf, seen = stats.nonfinite_in_json(value)
    results = []
    if seen:
        if "nan_ratio" in checks:
            results.append(stats.ratio_check("nan_ratio", "NaN", nan, seen,
                                             float(checks["nan_ratio"].get("max", 0.0)), {}))
        if "inf_ratio" in checks:
            results.append(stats.ratio_check("inf_ratio", "Inf", inf, seen,
                                             float(checks["inf_ratio"].get("max", 0.0)), {}))
    return _to_findings(results, checks, cfg.enforcement, context.stage, name)


_TRAIN = ("train",)
_HELD_OUT = ("test", "val", "valid", "validation", "eval", "holdout")
#: An automatic leakage pair is judged only when the train side's rows are this distinct among
#: themselves; rows that repeat within one split (labels, categories) repeat across splits by
#: chance, so a shared row says nothing about leakage.
AUTO_LEAKAGE_MIN_DISTINCT = 0.99


def _role(name: str, words: tuple[str, ...]) -> tuple[str, ...] | None:
    """``name`` without its split word (``train_x`` → ``("x",)``), or None if it has none."""
    parts = name.lower().replace("-", "_").split("_")
    if not any(w in parts for w in words):
        return None
    return tuple(p for p in parts if p not in words)


def _auto_pairs(names: list[str]) -> list[tuple[str, str]]:
    """(train-like, held-out-like) outputs of the same role: ``train``/``test``,
    ``train_x``/``test_x``, ``x_train``/``x_val`` — never ``train_x`` with ``test_y``."""
    train = [(n, _role(n, _TRAIN)) for n in names]
    held = [(n, _role(n, _HELD_OUT)) for n in names]
    return [(a, b) for a, ra in train if ra is not None
            for b, rb in held if rb is not None and ra == rb and a != b]


def _same_layout(kind: str, a: Path, b: Path) -> bool:
    """Rows of ``a`` and ``b`` could be equal: same npy row shape and dtype, or CSV header."""
    if kind == "npy":
        from goldfish_svs import stats

        x, y = stats.open_array(a), stats.open_array(b)
        return bool(x.ndim and y.ndim and x.shape[1:] == y.shape[1:] and x.dtype == y.dtype)
    with open(a, encoding="utf-8", errors="replace") as fa, \
            open(b, encoding="utf-8", errors="replace") as fb:
        return fa.readline() == fb.readline()


def _leakage(context: OutputContext, cfg: Any,
             resolved: dict[str, dict[str, dict[str, Any]]]) -> list[Finding]:
    from goldfish_svs import stats, tables

    paths: dict[str, tuple[str, Path]] = {}
    for n, p in context.upstream.items():
        kind = "npy" if p.suffix == ".npy" else "csv" if p.suffix == ".csv" else ""
        if kind:
            paths[n] = (kind, p)
    for n, sig in context.signals.items():
        if n in context.paths and sig.get("type") in ("npy", "csv"):
            paths[n] = (str(sig["type"]), context.paths[n])
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for checks in resolved.values():
        leak = checks.get("leakage")
        if leak is None:
            continue
        between = leak.get("between")
        if isinstance(between, list) and len(between) == 2:
            pairs[(str(between[0]), str(between[1]))] = leak
    stage_leak = context.checks.get("leakage") if isinstance(context.checks, dict) else None
    if isinstance(stage_leak, dict) and isinstance(stage_leak.get("between"), list):
        base = resolve(cfg, context.checks, None, "")
        pairs[(str(stage_leak["between"][0]), str(stage_leak["between"][1]))] = \
            base.get("leakage", {})
    outputs = [n for n in context.signals if n in paths]
    auto: set[tuple[str, str]] = set()
    for a, b in _auto_pairs(outputs):
        settings = resolved.get(b, {}).get("leakage")
        if settings is not None and (a, b) not in pairs and stage_leak is not False:
            pairs[(a, b)] = settings
            if not asked(settings):
                auto.add((a, b))
    out: list[Finding] = []
    for (a, b), settings in pairs.items():
        if a not in paths or b not in paths or paths[a][0] != paths[b][0]:
            continue
        kind = paths[a][0]
        try:
            if (a, b) in auto and not _same_layout(kind, paths[a][1], paths[b][1]):
                continue  # rows of different shapes or columns can never be shared
            if kind == "npy":
                ha, _ = stats.array_hashes(paths[a][1], cfg.leakage_max_rows)
                hb, _ = stats.array_hashes(paths[b][1], cfg.leakage_max_rows)
            else:
                ha = tables.line_hashes(paths[a][1], cfg.leakage_max_rows)
                hb = tables.line_hashes(paths[b][1], cfg.leakage_max_rows)
            distinct = stats.distinct_share(ha)
            if (a, b) in auto and distinct < AUTO_LEAKAGE_MIN_DISTINCT:
                out.append(_finding(
                    "leakage", "info",
                    f"leakage between {a!r} and {b!r} not judged: only {100 * distinct:.3g}% of "
                    f"{a!r}'s {len(ha):,} rows are distinct, so rows repeat by nature and shared "
                    f"rows are expected by chance (to check it anyway: `checks: {{leakage: "
                    f"{{between: [{a}, {b}]}}}}` on the stage)", context.stage, b,
                    {"between": [a, b], "distinct_share": distinct, "judged": False,
                     "min_distinct_share": AUTO_LEAKAGE_MIN_DISTINCT}))
                continue
            result = stats.leakage(ha, hb, (a, b), float(settings.get("max", 0.0)))
            result.data["distinct_share"] = distinct
            result.data["automatic"] = (a, b) in auto
        except Exception as exc:
            out.append(_finding("leakage", "warning", f"leakage between {a!r} and {b!r} not "
                                f"checked: {exc}", context.stage, b, {"between": [a, b]}))
            continue
        out += _to_findings([result], {"leakage": settings}, cfg.enforcement, context.stage, b)
    return out


# --- metrics --------------------------------------------------------------------------------------

_stage_checks: dict[tuple[str, str], dict[str, Any]] = {}


def _metric_stage_checks(context: MetricContext) -> dict[str, Any]:
    key = (context.run_id, context.stage)
    if key not in _stage_checks and context.project is not None:
        row = context.project.db.one("SELECT spec FROM stage_runs WHERE run_id = ? AND stage = ?",
                                     key)
        spec = json.loads(row["spec"]) if row is not None else {}
        _stage_checks[key] = dict(spec.get("checks") or {})
        if len(_stage_checks) > 256:
            _stage_checks.pop(next(iter(_stage_checks)))
    return _stage_checks.get(key, {})


@hookimpl
def check_metrics(context: MetricContext) -> list[Finding]:
    from goldfish_svs import health

    cfg = _config(context.project)
    if cfg.enforcement == "off":
        return []
    checks = resolve(cfg, _metric_stage_checks(context), None, "",
                     _pattern_checks(context.project, context.stage))
    active = {k: v for k, v in checks.items() if is_on(v)}
    for settings in active.values():
        settings.setdefault("grace_seconds", cfg.stop_grace_seconds)
    return health.check(context, active, cfg.enforcement)
