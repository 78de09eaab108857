"""``pipeline.yaml``: the model of a pipeline, its parser and its validator, and stage configs.

A pipeline is a DAG of stages joined by typed signals (npy, csv, json, file, directory). Loading
is the preflight of every run, so it reports *every* problem at once — YAML syntax, unknown keys
with "did you mean", bad names, unknown upstreams, cycles (with their path), type mismatches across
edges, missing modules, unknown sources and profiles, contract and schema syntax — each with its
file, line and key path (``stages.train.inputs.x.from``), as one :class:`ProblemsError`.

Plugins extend the vocabulary of ``checks:`` through :func:`register_check` (goldfish-svs registers
the checks it implements); the checks themselves run in ``validate_pipeline``/``validate_outputs``.
"""

from __future__ import annotations

import fnmatch
import heapq
import re
from dataclasses import dataclass, field
from typing import Any

from goldfish.errors import Problem, ProblemsError, did_you_mean
from goldfish.io import SIGNAL_TYPES, SUFFIX
from goldfish.yamlpos import Parsed, parse

__all__ = [
    "KNOWN_CHECKS",
    "InputSpec",
    "Pipeline",
    "Signal",
    "Stage",
    "StageConfig",
    "load_pipeline",
    "load_stage_config_text",
    "merge_config",
    "register_check",
]

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_PARAM = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*\}$")

PIPELINE_KEYS = ("name", "description", "results", "stages")
STAGE_KEYS = ("name", "description", "module", "inputs", "outputs", "config", "config_schema",
              "profile", "deps", "cache", "timeout_minutes", "retries", "checks")
INPUT_KEYS = ("source", "from", "type", "description")
OUTPUT_KEYS = ("type", "contract", "description")
RESULTS_KEYS = ("metric", "direction", "goal", "tolerance")
SCHEMA_KEYS = ("type", "min", "max", "choices", "required", "description")
SCHEMA_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (float, int), "str": (str,), "bool": (bool,), "list": (list,),
    "dict": (dict,),
}
#: Contract keys per signal type. ``checks`` holds the named checks of :data:`KNOWN_CHECKS`.
CONTRACT_KEYS: dict[str, tuple[str, ...]] = {
    "npy": ("shape", "dtype", "rank", "checks"),
    "csv": ("columns", "min_rows", "max_rows", "checks"),
    "json": ("required_keys", "types", "checks"),
    "file": ("min_bytes", "max_bytes", "format", "checks"),
    "directory": ("required_files", "checks"),
}
#: numpy dtype names a contract may use (fixed so validation never imports numpy).
NUMPY_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "longdouble", "complex64", "complex128", "str", "bytes",
    "object", "datetime64", "timedelta64", "bool_", "intp", "uintp", "half", "single", "double",
    "float_", "int_", "uint", "byte", "ubyte", "short", "ushort", "intc", "uintc", "longlong",
    "ulonglong", "csingle", "cdouble", "clongdouble", "U", "S",
})
CSV_DTYPES = frozenset({"int", "float", "str", "bool", "date", "datetime", "category"})
JSON_TYPES = frozenset({"int", "float", "number", "str", "bool", "list", "dict", "null"})
#: ``format`` of a file output, recognised by its first bytes (``goldfish.io``).
FILE_FORMATS = frozenset({"text", "json", "npy", "zip", "gzip", "png", "jpeg", "pdf", "parquet",
                          "hdf5", "pickle"})

#: Every named check a ``checks:`` block may use (stage level or inside a contract), with what it
#: looks at. One table, so plugins extend it with :func:`register_check` and typos get a hint.
KNOWN_CHECKS: dict[str, str] = {
    "nan_ratio": "fraction of NaN values in an array or column (e.g. {max: 0})",
    "inf_ratio": "fraction of infinite values",
    "null_ratio": "fraction of empty/null cells in a table",
    "range": "all values within {min, max}",
    "constant": "fails when every value is the same",
    "collapsed": "fails when the distribution collapsed to a few values",
    "entropy": "Shannon entropy bounds {min, max}",
    "unique_ratio": "fraction of distinct values {min, max}",
    "top_k_concentration": "share of the k most frequent values {k, max}",
    "vocab_utilization": "share of a vocabulary actually used {min}",
    "row_count": "number of rows {min, max}",
    "leakage": "no shared rows between outputs {between: [a, b]}",
    "class_balance": "share of the rarest class {min}",
    "divergence": "a metric ends within {ratio} of its window minimum",
    "grad_norm": "gradient norm metric stays below {max}",
    "metrics_logged": "the stage logs at least the named metrics",
}

#: Settings every check accepts: ``severity`` (info | warning | blocking), and at stage level the
#: ``signal``/``signals`` it applies to.
COMMON_CHECK_SETTINGS: tuple[str, ...] = ("severity", "signal", "signals")
#: Settings each check accepts beyond the common ones; a check missing here accepts any key.
CHECK_SETTINGS: dict[str, tuple[str, ...]] = {
    "nan_ratio": ("max",), "inf_ratio": ("max",), "null_ratio": ("max",),
    "range": ("min", "max"), "constant": (), "collapsed": ("min_unique_ratio",),
    "entropy": ("min", "max", "bins"), "unique_ratio": ("min", "max"),
    "top_k_concentration": ("k", "max"), "vocab_utilization": ("min", "vocab_size"),
    "row_count": ("min", "max"), "leakage": ("between", "max"),
    "class_balance": ("min_share", "min_classes", "max_classes"),
    "divergence": ("ratio", "window", "metrics"), "grad_norm": ("max", "metrics"),
    "metrics_logged": ("names",),
}
#: Settings whose value must be a number (``k``/``bins``/``window`` whole numbers).
_NUMBER_SETTINGS = frozenset({"max", "min", "min_unique_ratio", "ratio", "min_share",
                              "max_psi", "max_ks", "seconds"})
_INT_SETTINGS = frozenset({"k", "bins", "window", "vocab_size", "min_classes", "max_classes"})


def register_check(name: str, description: str,
                   settings: tuple[str, ...] | None = None) -> None:
    """Make ``name`` a valid key of ``checks:`` blocks (plugins call this when they load);
    ``settings`` lists the keys its mapping accepts (beyond ``severity``/``signal``)."""
    if not NAME.match(name):
        raise ValueError(f"invalid check name {name!r}")
    KNOWN_CHECKS[name] = description
    if settings is not None:
        CHECK_SETTINGS[name] = tuple(settings)


# --- the model ------------------------------------------------------------------------------


@dataclass
class Signal:
    """A declared output of a stage (and, through ``from:``, an input of its consumers)."""

    name: str
    type: str
    contract: dict[str, Any] | None = None
    line: int | None = None

    @property
    def filename(self) -> str:
        """The name under ``outputs/`` (``model.npy``, or ``model`` for file and directory)."""
        return f"{self.name}{SUFFIX[self.type]}"


@dataclass
class InputSpec:
    """A declared input: a registered ``source`` or ``from: <stage>.<output>``."""

    name: str
    source: str | None = None
    from_stage: str | None = None
    from_output: str | None = None
    type: str | None = None
    line: int | None = None


@dataclass
class Stage:
    name: str
    module: str
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    outputs: dict[str, Signal] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    config_schema: dict[str, dict[str, Any]] | None = None
    profile: str | None = None
    deps: list[str] | None = None
    cache: bool = True
    timeout_minutes: float | None = None
    #: relaunches after a preemption (None: the profile's ``max_retries``, else 3)
    retries: int | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    description: str | None = None
    #: key path inside the stage (``config.lr``, ``inputs.train``) -> line in pipeline.yaml
    lines: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @property
    def upstream(self) -> list[str]:
        """Stages this one reads from, in input order, without repeats."""
        return list(dict.fromkeys(i.from_stage for i in self.inputs.values() if i.from_stage))

    def line_of(self, key: str) -> int | None:
        """The line of ``key`` (``config.lr``) or of its closest parent, else the stage's line."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return self.line


@dataclass
class Pipeline:
    name: str
    stages: list[Stage]  # topological order (file order among independent stages)
    file: str = "pipeline.yaml"
    results: dict[str, Any] | None = None
    description: str | None = None

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def downstream(self, name: str) -> list[str]:
        """Stages that read any output of ``name`` (directly)."""
        return [s.name for s in self.stages if name in s.upstream]


# --- problem collection ---------------------------------------------------------------------


class _Report:
    def __init__(self, parsed: Parsed, file: str) -> None:
        self.parsed = parsed
        self.file = file
        self.problems: list[Problem] = list(parsed.problems)

    def add(self, ypath: tuple[Any, ...], key: str | None, message: str,
            hint: str | None = None) -> None:
        self.problems.append(Problem(message, self.file, self.parsed.line(ypath), key, hint))

    def unknown_keys(self, raw: dict[str, Any], allowed: tuple[str, ...], ypath: tuple[Any, ...],
                     key: str, what: str) -> None:
        for k in raw:
            if k not in allowed:
                hint = did_you_mean(str(k), allowed) or f"valid keys: {', '.join(allowed)}"
                self.add((*ypath, k), f"{key}.{k}" if key else str(k), f"unknown key in {what}", hint)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _names_list(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


# --- contracts, checks, schemas ---------------------------------------------------------------


def _check_checks(r: _Report, raw: object, ypath: tuple[Any, ...], key: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        r.add(ypath, key, f"checks must be a mapping of check name → settings, got {_kind(raw)}",
              "e.g. checks: {nan_ratio: {max: 0}}")
        return {}
    for name, settings in raw.items():
        if name not in KNOWN_CHECKS:
            hint = did_you_mean(str(name), list(KNOWN_CHECKS)) or (
                f"known checks: {', '.join(sorted(KNOWN_CHECKS))}")
            r.add((*ypath, name), f"{key}.{name}", f"unknown check {name!r}", hint)
        elif not (settings is None or isinstance(settings, (dict, bool)) or _is_number(settings)):
            r.add((*ypath, name), f"{key}.{name}",
                  f"settings of check {name!r} must be a mapping, true/false or a number, "
                  f"got {_kind(settings)}", "e.g. nan_ratio: {max: 0}")
        elif isinstance(settings, dict):
            _check_check_settings(r, str(name), settings, (*ypath, name), f"{key}.{name}")
    return dict(raw)


def _check_check_settings(r: _Report, name: str, settings: dict[Any, Any],
                          ypath: tuple[Any, ...], key: str) -> None:
    allowed = CHECK_SETTINGS.get(name)
    for k, v in settings.items():
        yp, kp = (*ypath, k), f"{key}.{k}"
        if allowed is not None and k not in allowed and k not in COMMON_CHECK_SETTINGS:
            keys = (*allowed, *COMMON_CHECK_SETTINGS)
            r.add(yp, kp, f"unknown setting {k!r} of check {name!r}",
                  did_you_mean(str(k), keys) or f"{name} accepts: {', '.join(keys)}")
        elif k == "severity" and v not in ("info", "warning", "blocking"):
            r.add(yp, kp, f"severity must be info, warning or blocking, got {v!r}")
        elif k in _NUMBER_SETTINGS and not _is_number(v):
            r.add(yp, kp, f"{k} of check {name!r} must be a number, got {v!r}",
                  f"e.g. {name}: {{{k}: 0.01}}")
        elif k in _INT_SETTINGS and not (_is_int(v) and v > 0):
            r.add(yp, kp, f"{k} of check {name!r} must be a whole number > 0, got {v!r}")
        elif k in ("signals", "between", "metrics", "names") and not _names_list(v):
            r.add(yp, kp, f"{k} of check {name!r} must be a list of names, got {v!r}",
                  "e.g. leakage: {between: [train, test]}" if k == "between" else None)
        elif k == "between" and len(v) != 2:
            r.add(yp, kp, f"leakage needs exactly two signals in between, got {len(v)}",
                  "e.g. leakage: {between: [train, test]}")


def _kind(v: object) -> str:
    if v is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(v), type(v).__name__)


def _check_contract(r: _Report, kind: str, raw: object, ypath: tuple[Any, ...],
                    key: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.add(ypath, key, f"contract must be a mapping, got {_kind(raw)}",
              "e.g. contract: {shape: [null, 65], dtype: float32}")
        return None
    allowed = CONTRACT_KEYS[kind]
    for k, v in raw.items():
        yp, kp = (*ypath, k), f"{key}.{k}"
        if k not in allowed:
            other = [t for t, keys in CONTRACT_KEYS.items() if k in keys]
            hint = (f"{k!r} belongs to {' / '.join(other)} outputs" if other else
                    did_you_mean(str(k), allowed)) or f"valid keys for {kind}: {', '.join(allowed)}"
            r.add(yp, kp, f"unknown contract key for a {kind} output", hint)
        elif k == "checks":
            _check_checks(r, v, yp, kp)
        elif k == "shape":
            ok = isinstance(v, list) and all(
                d is None or (_is_int(d) and d >= 0) or (isinstance(d, str) and _PARAM.match(d))
                for d in v)
            if not ok:
                r.add(yp, kp, f"shape must be a list of sizes, null or \"{{param}}\", got {v!r}",
                      'e.g. shape: [null, 65] or shape: [null, "{n_features}"]')
            rank = raw.get("rank")
            if ok and _is_int(rank) and rank != len(v):
                r.add(yp, kp, f"shape has {len(v)} dimensions but rank is {rank}",
                      "make rank match the shape, or drop one of them")
        elif k == "dtype":
            if not isinstance(v, str) or v not in NUMPY_DTYPES:
                r.add(yp, kp, f"unknown numpy dtype {v!r}",
                      did_you_mean(str(v), list(NUMPY_DTYPES)) or
                      "e.g. float32, float64, int64, uint8, bool")
        elif k == "format":
            if v not in FILE_FORMATS:
                r.add(yp, kp, f"unknown file format {v!r}",
                      did_you_mean(str(v), list(FILE_FORMATS)) or
                      f"formats: {', '.join(sorted(FILE_FORMATS))}")
        elif k in ("rank", "min_rows", "max_rows", "min_bytes", "max_bytes"):
            if not (_is_int(v) and v >= 0):
                r.add(yp, kp, f"{k} must be a whole number >= 0, got {v!r}")
        elif k == "columns":
            if isinstance(v, dict):
                for col, dtype in v.items():
                    if dtype is not None and dtype not in CSV_DTYPES:
                        r.add((*yp, col), f"{kp}.{col}", f"unknown column type {dtype!r}",
                              did_you_mean(str(dtype), list(CSV_DTYPES)) or
                              f"column types: {', '.join(sorted(CSV_DTYPES))}")
            elif not _names_list(v) or len(set(v)) != len(v):
                r.add(yp, kp, "columns must be a list of distinct names or a mapping name → type",
                      "e.g. columns: [id, label] or columns: {id: int, label: str}")
        elif k in ("required_keys", "required_files"):
            if not _names_list(v):
                r.add(yp, kp, f"{k} must be a list of names, got {v!r}")
        elif k == "types":
            if not isinstance(v, dict):
                r.add(yp, kp, "types must be a mapping key → type", "e.g. types: {accuracy: float}")
            else:
                for name, t in v.items():
                    if t not in JSON_TYPES:
                        r.add((*yp, name), f"{kp}.{name}", f"unknown JSON type {t!r}",
                              did_you_mean(str(t), list(JSON_TYPES)) or
                              f"types: {', '.join(sorted(JSON_TYPES))}")
    for lo_key, hi_key in (("min_bytes", "max_bytes"), ("min_rows", "max_rows")):
        low, high = raw.get(lo_key), raw.get(hi_key)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            r.add((*ypath, lo_key), f"{key}.{lo_key}", f"{lo_key} {low} is above {hi_key} {high}")
    return dict(raw)


def _check_schema(r: _Report, raw: object, ypath: tuple[Any, ...],
                  key: str) -> dict[str, dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.add(ypath, key, f"config_schema must be a mapping key → rules, got {_kind(raw)}",
              "e.g. config_schema: {lr: {type: float, min: 0, max: 1}}")
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, spec in raw.items():
        yp, kp = (*ypath, name), f"{key}.{name}"
        if not isinstance(spec, dict):
            r.add(yp, kp, f"the rules of {name!r} must be a mapping, got {_kind(spec)}",
                  "e.g. {type: int, min: 1}")
            continue
        r.unknown_keys(spec, SCHEMA_KEYS, yp, kp, "a config_schema entry")
        t = spec.get("type")
        if t is not None and t not in SCHEMA_TYPES:
            r.add((*yp, "type"), f"{kp}.type", f"unknown config type {t!r}",
                  did_you_mean(str(t), list(SCHEMA_TYPES)) or f"types: {', '.join(SCHEMA_TYPES)}")
        for bound in ("min", "max"):
            b = spec.get(bound)
            if b is not None and (not _is_number(b) or t not in (None, "int", "float")):
                r.add((*yp, bound), f"{kp}.{bound}",
                      f"{bound} must be a number and applies to int or float keys, got {b!r}")
        if _is_number(spec.get("min")) and _is_number(spec.get("max")) and spec["min"] > spec["max"]:
            r.add((*yp, "min"), f"{kp}.min", f"min {spec['min']} is above max {spec['max']}")
        choices = spec.get("choices")
        if choices is not None and (not isinstance(choices, list) or not choices):
            r.add((*yp, "choices"), f"{kp}.choices", "choices must be a non-empty list")
        if "required" in spec and not isinstance(spec["required"], bool):
            r.add((*yp, "required"), f"{kp}.required", "required must be true or false")
        out[str(name)] = dict(spec)
    return out


def _value_problems(name: str, value: object, rules: dict[str, Any]) -> list[tuple[str, str]]:
    """(message, hint) for each way ``value`` breaks ``rules`` (a config_schema entry)."""
    out: list[tuple[str, str]] = []
    t = rules.get("type")
    allowed = SCHEMA_TYPES.get(str(t)) if t else None
    if allowed is not None and (not isinstance(value, allowed) or
                                (isinstance(value, bool) and t != "bool")):
        cast = " (write it without quotes)" if isinstance(value, str) and t in ("int", "float") else ""
        article = "an" if str(t)[0] in "aeiou" else "a"
        out.append((f"{name} must be {t}, got {value!r} ({_kind(value)}){cast}",
                    f"set {name} to {article} {t} value"))
        return out
    if _is_number(value):
        low, high = rules.get("min"), rules.get("max")
        if _is_number(low) and value < low:  # type: ignore[operator]
            out.append((f"{name} = {value!r} is below the minimum {low}", f"use a value >= {low}"))
        if _is_number(high) and value > high:  # type: ignore[operator]
            out.append((f"{name} = {value!r} is above the maximum {high}", f"use a value <= {high}"))
    choices = rules.get("choices")
    if isinstance(choices, list) and value not in choices:
        out.append((f"{name} = {value!r} is not one of the choices",
                    f"choices: {', '.join(map(repr, choices))}"))
    return out


# --- stages ---------------------------------------------------------------------------------


def _parse_input(r: _Report, name: str, raw: object, ypath: tuple[Any, ...], key: str,
                 line: int | None) -> InputSpec | None:
    if not isinstance(raw, dict):
        r.add(ypath, key, f"input {name!r} must be a mapping, got {_kind(raw)}",
              "e.g. train: {from: prepare.train} or raw: {source: digits_raw}")
        return None
    r.unknown_keys(raw, INPUT_KEYS, ypath, key, "an input")
    spec = InputSpec(name=name, line=line)
    src, ref, t = raw.get("source"), raw.get("from"), raw.get("type")
    if (src is None) == (ref is None):
        r.add(ypath, key, f"input {name!r} needs exactly one of `source:` or `from:`",
              "from: <stage>.<output> reads an upstream output; source: <name> a registered source")
    if src is not None:
        if not isinstance(src, str) or not src:
            r.add((*ypath, "source"), f"{key}.source", f"source must be a name, got {src!r}")
        else:
            spec.source = src
    if ref is not None:
        stage, dot, output = ref.partition(".") if isinstance(ref, str) else ("", "", "")
        if not dot or not NAME.match(stage) or not NAME.match(output):
            r.add((*ypath, "from"), f"{key}.from",
                  f"from must be <stage>.<output>, got {ref!r}", "e.g. from: prepare.train")
        else:
            spec.from_stage, spec.from_output = stage, output
    if t is not None:
        if t not in SIGNAL_TYPES:
            r.add((*ypath, "type"), f"{key}.type", f"unknown signal type {t!r}",
                  did_you_mean(str(t), SIGNAL_TYPES) or f"types: {', '.join(SIGNAL_TYPES)}")
        else:
            spec.type = t
    return spec


def _parse_output(r: _Report, name: str, raw: object, ypath: tuple[Any, ...], key: str,
                  line: int | None) -> Signal | None:
    if not isinstance(raw, dict):
        r.add(ypath, key, f"output {name!r} must be a mapping with a type, got {_kind(raw)}",
              f"e.g. {name}: {{type: npy}} (types: {', '.join(SIGNAL_TYPES)})")
        return None
    r.unknown_keys(raw, OUTPUT_KEYS, ypath, key, "an output")
    t = raw.get("type")
    if t not in SIGNAL_TYPES:
        what = "has no type" if t is None else f"has unknown type {t!r}"
        r.add((*ypath, "type") if t is not None else ypath, f"{key}.type", f"output {name!r} {what}",
              (did_you_mean(str(t), SIGNAL_TYPES) if t is not None else None)
              or f"types: {', '.join(SIGNAL_TYPES)}")
        return None
    contract = _check_contract(r, t, raw.get("contract"), (*ypath, "contract"), f"{key}.contract")
    return Signal(name=name, type=t, contract=contract, line=line)


def _signals(r: _Report, raw: object, ypath: tuple[Any, ...], key: str, what: str,
             stage_lines: dict[str, int], parse_one: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if raw is None:
        return out
    if not isinstance(raw, dict):
        r.add(ypath, key, f"{what} must be a mapping name → spec, got {_kind(raw)}")
        return out
    for name, spec in raw.items():
        yp, kp = (*ypath, name), f"{key}.{name}"
        line = r.parsed.line(yp)
        if not isinstance(name, str) or not NAME.match(name):
            r.add(yp, kp, f"invalid {what[:-1]} name {name!r}",
                  "use letters, digits, '_' or '-', starting with a letter or '_'")
            continue
        stage_lines[f"{what}.{name}"] = line or 0
        parsed = parse_one(r, name, spec, yp, kp, line)
        if parsed is not None:
            out[name] = parsed
    return out


def _parse_stage(r: _Report, index: int, raw: object, seen: dict[str, int]) -> Stage | None:
    ypath: tuple[Any, ...] = ("stages", index)
    if not isinstance(raw, dict):
        r.add(ypath, f"stages[{index}]", f"a stage must be a mapping, got {_kind(raw)}",
              "e.g. - name: train\n      outputs: {model: {type: directory}}")
        return None
    name = raw.get("name")
    line = r.parsed.line(ypath)
    if name is None:
        r.add(ypath, f"stages[{index}]", "stage has no name", "add `name: <stage>`")
        return None
    if not isinstance(name, str) or not NAME.match(name):
        r.add((*ypath, "name"), f"stages[{index}].name", f"invalid stage name {name!r}",
              "use letters, digits, '_' or '-', starting with a letter or '_' (max 64)")
        return None
    key = f"stages.{name}"
    if name in seen:
        r.add((*ypath, "name"), f"{key}.name",
              f"duplicate stage name {name!r} (first defined on line {seen[name]})",
              "give each stage a unique name")
        return None
    seen[name] = line or 0
    r.unknown_keys(raw, STAGE_KEYS, ypath, key, "a stage")
    lines: dict[str, int] = {}
    for k in raw:
        kl = r.parsed.lines.get((*ypath, k))
        if kl is not None:
            lines[str(k)] = kl
    module = raw.get("module", f"modules/{name}.py")
    if not isinstance(module, str) or not module.endswith(".py") or module.startswith("/") or (
            ".." in module.split("/")):
        r.add((*ypath, "module"), f"{key}.module",
              f"module must be a relative path to a .py file inside the workspace, got {module!r}",
              f"e.g. module: modules/{name}.py")
        module = f"modules/{name}.py"
    stage = Stage(name=name, module=module, line=line, lines=lines)
    stage.inputs = _signals(r, raw.get("inputs"), (*ypath, "inputs"), f"{key}.inputs", "inputs",
                            lines, _parse_input)
    stage.outputs = _signals(r, raw.get("outputs"), (*ypath, "outputs"), f"{key}.outputs",
                             "outputs", lines, _parse_output)
    config = raw.get("config")
    if config is not None and not isinstance(config, dict):
        r.add((*ypath, "config"), f"{key}.config", f"config must be a mapping, got {_kind(config)}",
              "e.g. config: {lr: 0.1, epochs: 20}")
    elif config:
        stage.config = config
        for k in config:
            kl = r.parsed.lines.get((*ypath, "config", k))
            if kl is not None:
                lines[f"config.{k}"] = kl
    stage.config_schema = _check_schema(r, raw.get("config_schema"), (*ypath, "config_schema"),
                                        f"{key}.config_schema")
    for cname, value in stage.config.items():
        rules = (stage.config_schema or {}).get(str(cname))
        if rules:
            for message, hint in _value_problems(str(cname), value, rules):
                r.add((*ypath, "config", cname), f"{key}.config.{cname}", message, hint)
    profile = raw.get("profile")
    if profile is not None and not isinstance(profile, str):
        r.add((*ypath, "profile"), f"{key}.profile", f"profile must be a name, got {profile!r}")
    else:
        stage.profile = profile
    deps = raw.get("deps")
    if deps is not None:
        if not _names_list(deps):
            r.add((*ypath, "deps"), f"{key}.deps", f"deps must be a list of path globs, got {deps!r}",
                  'e.g. deps: ["src/**/*.py", "modules/train.py"]')
        else:
            for i, glob in enumerate(deps):
                if glob.startswith("/") or ".." in glob.split("/"):
                    r.add((*ypath, "deps", i), f"{key}.deps[{i}]",
                          f"deps glob {glob!r} must be relative to the workspace")
            stage.deps = list(deps)
    cache = raw.get("cache", True)
    if not isinstance(cache, bool):
        r.add((*ypath, "cache"), f"{key}.cache", f"cache must be true or false, got {cache!r}")
    else:
        stage.cache = cache
    timeout = raw.get("timeout_minutes")
    if timeout is not None:
        if not _is_number(timeout) or timeout <= 0:
            r.add((*ypath, "timeout_minutes"), f"{key}.timeout_minutes",
                  f"timeout_minutes must be a positive number, got {timeout!r}")
        else:
            stage.timeout_minutes = float(timeout)
    retries = raw.get("retries")
    if retries is not None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            r.add((*ypath, "retries"), f"{key}.retries",
                  f"retries must be a whole number ≥ 0, got {retries!r}",
                  "relaunches after a preemption, e.g. `retries: 5`; `retries: 0` never "
                  "relaunches (default: the profile's max_retries, else 3)")
        else:
            stage.retries = retries
    stage.checks = _check_checks(r, raw.get("checks"), (*ypath, "checks"), f"{key}.checks")
    description = raw.get("description")
    stage.description = description if isinstance(description, str) else None
    return stage


# --- the graph ------------------------------------------------------------------------------


def _link(r: _Report, stages: list[Stage], index_of: dict[str, int]) -> None:
    """Every ``from:`` names a stage and one of its outputs, of the declared type."""
    by_name = {s.name: s for s in stages}
    for s in stages:
        ypath_stage = ("stages", index_of[s.name])
        for spec in s.inputs.values():
            if spec.from_stage is None:
                continue
            yp = (*ypath_stage, "inputs", spec.name, "from")
            kp = f"stages.{s.name}.inputs.{spec.name}.from"
            up = by_name.get(spec.from_stage)
            if up is None:
                r.add(yp, kp, f"unknown upstream stage {spec.from_stage!r}",
                      did_you_mean(spec.from_stage, list(by_name)) or
                      f"stages: {', '.join(by_name)}")
                continue
            out = up.outputs.get(spec.from_output or "")
            if out is None:
                outs = list(up.outputs)
                r.add(yp, kp, f"stage {up.name!r} has no output {spec.from_output!r}",
                      did_you_mean(str(spec.from_output), outs) or
                      (f"its outputs: {', '.join(outs)}" if outs else f"{up.name!r} declares no outputs"))
                continue
            if spec.type is not None and spec.type != out.type:
                r.add((*ypath_stage, "inputs", spec.name, "type"), f"stages.{s.name}.inputs.{spec.name}.type",
                      f"type mismatch: input {spec.name!r} expects {spec.type} but "
                      f"{up.name}.{out.name} is {out.type} (line {out.line})",
                      f"make both {spec.type} or both {out.type}")


def _order(r: _Report, stages: list[Stage], index_of: dict[str, int]) -> list[Stage]:
    """Kahn's algorithm, stable in file order; cycles are reported with their path."""
    by_name = {s.name: s for s in stages}
    deps = {s.name: [u for u in s.upstream if u in by_name] for s in stages}
    consumers: dict[str, list[str]] = {s.name: [] for s in stages}
    for name, ups in deps.items():
        for u in ups:
            consumers[u].append(name)
    waiting = {name: len(ups) for name, ups in deps.items()}
    at = {index_of[s.name]: s for s in stages}
    ready = [index_of[n] for n, c in waiting.items() if c == 0]
    heapq.heapify(ready)
    order: list[Stage] = []
    while ready:
        s = at[heapq.heappop(ready)]
        order.append(s)
        for c in consumers[s.name]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, index_of[c])
    if len(order) < len(stages):
        for cycle in _cycles({n for n, c in waiting.items() if c > 0}, deps, index_of):
            first = by_name[cycle[0]]
            feeder = cycle[-2]  # the stage whose output ``first`` reads to close the loop
            spec = next((i for i in first.inputs.values() if i.from_stage == feeder), None)
            yp: tuple[Any, ...] = ("stages", index_of[first.name])
            kp = f"stages.{first.name}"
            if spec is not None:
                yp, kp = (*yp, "inputs", spec.name, "from"), f"{kp}.inputs.{spec.name}.from"
            r.add(yp, kp, f"cycle: {' → '.join(cycle)}",
                  "a stage cannot depend on its own outputs; break the loop by removing one `from:`")
    return order


def _cycles(stuck: set[str], deps: dict[str, list[str]], index_of: dict[str, int]) -> list[list[str]]:
    """One cycle per strongly connected component among ``stuck``, written in data-flow order."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(stuck, key=index_of.__getitem__):
        if start in done:
            continue
        # walk upstream until a stage repeats; the repeated stretch is a cycle
        path, seen = [start], {start: 0}
        node = start
        while True:
            nxt = next((u for u in deps[node] if u in stuck and u not in done), None)
            if nxt is None:
                break
            if nxt in seen:
                loop = path[seen[nxt]:]
                flow = list(reversed(loop))  # upstream walk reversed = data flow
                i = min(range(len(flow)), key=lambda k: index_of[flow[k]])
                flow = flow[i:] + flow[:i]
                cycles.append([*flow, flow[0]])
                done.update(loop)
                break
            seen[nxt] = len(path)
            path.append(nxt)
            node = nxt
        done.add(start)
    return cycles


def _external(r: _Report, stages: list[Stage], index_of: dict[str, int], files: set[str] | None,
              sources: set[str] | None, profiles: set[str] | None) -> None:
    """References to things outside pipeline.yaml: module files, deps, sources, profiles."""
    py_files = sorted(f for f in files if f.endswith(".py")) if files is not None else []
    for s in stages:
        yp: tuple[Any, ...] = ("stages", index_of[s.name])
        key = f"stages.{s.name}"
        if files is not None and s.module not in files:
            where = (*yp, "module") if "module" in s.lines else yp
            base = s.module.rsplit("/", 1)[-1]
            same_name = [f for f in py_files if f.rsplit("/", 1)[-1] == base]
            r.add(where, f"{key}.module", f"module {s.module} does not exist in the workspace",
                  (did_you_mean(s.module, same_name) if same_name else None) or
                  f"create {s.module}, or set `module:` to the stage's file")
        if files is not None and s.deps:
            for i, glob in enumerate(s.deps):
                if not any(fnmatch.fnmatchcase(f, glob) for f in files):
                    r.add((*yp, "deps", i), f"{key}.deps[{i}]", f"deps glob {glob!r} matches no file",
                          "fix the glob (paths are relative to the workspace root)")
        for spec in s.inputs.values():
            if sources is not None and spec.source is not None and spec.source not in sources:
                r.add((*yp, "inputs", spec.name, "source"), f"{key}.inputs.{spec.name}.source",
                      f"unknown source {spec.source!r}",
                      did_you_mean(spec.source, sources) or
                      "register it first (`goldfish source add`), then refer to it by name")
        if profiles is not None and s.profile is not None and s.profile not in profiles:
            r.add((*yp, "profile"), f"{key}.profile", f"unknown profile {s.profile!r}",
                  did_you_mean(s.profile, profiles) or
                  f"profiles in goldfish.yaml: {', '.join(sorted(profiles)) or 'none'}")


def _results(r: _Report, raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        r.add(("results",), "results", f"results must be a mapping, got {_kind(raw)}",
              "e.g. results: {metric: accuracy, direction: max, goal: 0.98}")
        return None
    r.unknown_keys(raw, RESULTS_KEYS, ("results",), "results", "results")
    if not isinstance(raw.get("metric"), str) or not raw.get("metric"):
        r.add(("results",), "results.metric", "results needs `metric:` (the primary metric's name)",
              "e.g. metric: accuracy (or evaluate.accuracy for one stage's metric)")
    if raw.get("direction", "max") not in ("max", "min"):
        r.add(("results", "direction"), "results.direction",
              f"direction must be max or min, got {raw.get('direction')!r}")
    for k in ("goal", "tolerance"):
        if k in raw and not _is_number(raw[k]):
            r.add(("results", k), f"results.{k}", f"{k} must be a number, got {raw[k]!r}")
    return dict(raw)


def _raise(r: _Report, file: str) -> None:
    if r.problems:
        r.problems.sort(key=lambda p: (p.line or 0))
        raise ProblemsError(r.problems, title=f"{file} is invalid")


def load_pipeline(text: str, file: str = "pipeline.yaml", *, files: set[str] | None = None,
                  sources: set[str] | None = None, profiles: set[str] | None = None) -> Pipeline:
    """Parse and validate ``pipeline.yaml``; every problem at once, else a :class:`Pipeline`.

    ``files`` (paths in the snapshot), ``sources`` (registered source names) and ``profiles``
    (profile names in goldfish.yaml) enable the checks of what the pipeline refers to outside
    itself; leave one out to skip its check.
    """
    parsed = parse(text, file)
    r = _Report(parsed, file)
    if parsed.problems and parsed.data is None:
        _raise(r, file)
    data = parsed.data
    example = "name: my-pipeline\nstages:\n  - name: train\n    outputs: {model: {type: file}}"
    if not isinstance(data, dict):
        r.add((), None, f"{file} must be a mapping with `stages:`, got {_kind(data)}",
              f"start from:\n{example}")
        _raise(r, file)
        raise AssertionError  # unreachable: _raise raised
    r.unknown_keys(data, PIPELINE_KEYS, (), "", f"{file} (top level)")
    name = data.get("name", "pipeline")
    if not isinstance(name, str) or not name:
        r.add(("name",), "name", f"name must be text, got {name!r}")
        name = "pipeline"
    raw_stages = data.get("stages")
    misspelled = "stages" not in data and any(
        did_you_mean(str(k), ["stages"]) for k in data if k not in PIPELINE_KEYS)
    if (not isinstance(raw_stages, list) or not raw_stages) and not misspelled:
        r.add(("stages",) if "stages" in data else (), "stages",
              "`stages:` must be a non-empty list of stages", f"e.g.\n{example}")
    if not isinstance(raw_stages, list):
        raw_stages = []
    seen: dict[str, int] = {}
    stages: list[Stage] = []
    index_of: dict[str, int] = {}  # stage name -> position in the file's `stages:` list
    for i, raw in enumerate(raw_stages):
        stage = _parse_stage(r, i, raw, seen)
        if stage is not None:
            stages.append(stage)
            index_of[stage.name] = i
    _link(r, stages, index_of)
    ordered = _order(r, stages, index_of)
    _external(r, stages, index_of, files, sources, profiles)
    results = _results(r, data.get("results"))
    _raise(r, file)
    description = data.get("description")
    return Pipeline(name=name, stages=ordered, file=file, results=results,
                    description=description if isinstance(description, str) else None)


# --- stage configs --------------------------------------------------------------------------


class StageConfig(dict[str, Any]):
    """The mapping of ``configs/<stage>.yaml``, remembering where each key was written."""

    def __init__(self, data: dict[str, Any], file: str, lines: dict[tuple[Any, ...], int]) -> None:
        super().__init__(data)
        self.file = file
        self.lines = lines

    def line(self, key: str) -> int | None:
        return self.lines.get(tuple(key.split(".")))


def load_stage_config_text(text: str, file: str) -> StageConfig:
    """Parse ``configs/<stage>.yaml`` (a mapping of config keys); located errors on failure."""
    parsed = parse(text, file)
    problems = list(parsed.problems)
    data = parsed.data
    if data is None and not problems:
        data = {}
    if not problems and not isinstance(data, dict):
        problems.append(Problem(f"must be a mapping of config keys, got {_kind(data)}", file, 1,
                                None, "e.g.\nlr: 0.1\nepochs: 20"))
    if problems:
        raise ProblemsError(problems, title=f"{file} is invalid")
    for key in data:
        if not isinstance(key, str):
            problems.append(Problem(f"config key {key!r} must be text", file,
                                    parsed.lines.get((key,)), str(key)))
    if problems:
        raise ProblemsError(problems, title=f"{file} is invalid")
    return StageConfig(data, file, parsed.lines)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _nest(overrides: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """``{"optim.lr": 0.1}`` → ``{"optim": {"lr": 0.1}}`` unless the dotted key is itself known."""
    out: dict[str, Any] = {}
    for k, v in overrides.items():
        if isinstance(k, str) and "." in k and k not in known:
            head, *rest = k.split(".")
            node = out.setdefault(head, {})
            if not isinstance(node, dict):
                out[head] = node = {}
            for part in rest[:-1]:
                node = node.setdefault(part, {})
            node[rest[-1]] = v
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _same_kind(default: object, value: object) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if _is_number(default) and _is_number(value):
        return not (isinstance(default, int) and isinstance(value, float) and not value.is_integer())
    return type(default) is type(value) or (isinstance(default, (list, tuple))
                                            and isinstance(value, (list, tuple)))


def merge_config(stage: Stage, file_config: dict[str, Any] | None,
                 overrides: dict[str, Any] | None, *, file: str | None = None) -> dict[str, Any]:
    """The stage's config: ``config:`` defaults < ``configs/<stage>.yaml`` < run overrides.

    An override must name a key that exists (defaults, the stage file or ``config_schema``);
    dotted keys reach into nested mappings (``optim.lr``). With a ``config_schema`` the schema
    lists every allowed key, and values are checked against it; without one, an override must
    keep the type of the value it replaces. All problems are reported at once.
    """
    file = file or f"configs/{stage.name}.yaml"
    file_config = file_config or {}
    schema = stage.config_schema or {}
    problems: list[Problem] = []
    file_config_lines = file_config.lines if isinstance(file_config, StageConfig) else {}

    def where(key: str, origin: str) -> tuple[str | None, int | None]:
        if origin == "file":
            return file, file_config_lines.get(tuple(key.split(".")))
        if origin == "defaults":
            return "pipeline.yaml", stage.line_of(f"config.{key}")
        return "overrides", None

    if schema:
        allowed = set(stage.config) | set(schema)
        for k in file_config:
            if k not in allowed:
                f, line = where(str(k), "file")
                problems.append(Problem(f"unknown config key {k!r} for stage {stage.name!r}", f, line,
                                        str(k), did_you_mean(str(k), allowed) or
                                        f"add it to config_schema of {stage.name} in pipeline.yaml"))
    base = _deep_merge(stage.config, {k: v for k, v in file_config.items()})
    known = set(base) | set(schema)
    nested = _nest(dict(overrides or {}), known)
    for k, v in nested.items():
        if k not in known:
            problems.append(Problem(
                f"override of unknown config key {k!r} for stage {stage.name!r}", "overrides", None,
                str(k), did_you_mean(str(k), known) or
                f"{stage.name}'s config keys: {', '.join(sorted(map(str, known))) or 'none'}"))
            continue
        if isinstance(v, dict) and isinstance(base.get(k), dict) and str(k) not in schema:
            problems += _nested_unknown(stage.name, str(k), base[k], v)
        if str(k) not in schema and k in base and not isinstance(v, dict) and not _same_kind(base[k], v):
            problems.append(Problem(
                f"override {k} = {v!r} ({_kind(v)}) does not match the type of its default "
                f"{base[k]!r} ({_kind(base[k])})", "overrides", None, str(k),
                f"pass {_kind(base[k]) if not _is_number(base[k]) else 'a number'} "
                "(numbers without quotes)"))
    merged = _deep_merge(base, nested)
    origin_of = {k: "overrides" for k in nested}
    for k in file_config:
        origin_of.setdefault(k, "file")
    for name, rules in schema.items():
        if name not in merged:
            if rules.get("required"):
                problems.append(Problem(f"required config key {name!r} of stage {stage.name!r} is not set",
                                        file, None, name,
                                        f"set it in {file}, in pipeline.yaml `config:` or as an override"))
            continue
        for message, hint in _value_problems(name, merged[name], rules):
            f, line = where(name, origin_of.get(name, "defaults"))
            problems.append(Problem(message, f, line, name, hint))
    if problems:
        raise ProblemsError(problems,
                            title=f"config of stage {stage.name!r} is invalid")
    return merged


def _nested_unknown(stage: str, prefix: str, base: dict[str, Any],
                    top: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    for k, v in top.items():
        key = f"{prefix}.{k}"
        if k not in base:
            out.append(Problem(f"override of unknown config key {key!r} for stage {stage!r}",
                               "overrides", None, key,
                               did_you_mean(str(k), list(base)) or
                               f"keys under {prefix}: {', '.join(map(str, base)) or 'none'}"))
        elif isinstance(v, dict) and isinstance(base[k], dict):
            out += _nested_unknown(stage, key, base[k], v)
    return out
