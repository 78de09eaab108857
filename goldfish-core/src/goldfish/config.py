"""``goldfish.yaml``: the models of its sections and a loader that locates every problem.

The file is a mapping of *sections*. Every section, the core's included, is registered through the
``register_config_sections`` hook (the core's come from :mod:`goldfish.builtins.core_config`), so
an unknown top-level key is simply a section nobody registered. A section is either a pydantic
model (a nested mapping; subclass :class:`Section` so unknown keys are errors) or an ``Annotated``
type whose ``Field`` carries the default and the description (a scalar or list key).

Profiles are validated in two layers: the common keys (:class:`Profile`) here, the keys specific
to a backend against the ``config_model`` its plugin registered, so a ``gce`` profile can say
``machine_type`` only when the gce plugin is installed.

Problems are collected across the whole file and raised together as one
:class:`goldfish.errors.ProblemsError`, each with the file, line, key path, value and fix.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from goldfish.configcache import DEFAULT_STORAGE
from goldfish.configcache import ProjectConfig as ProjectConfig  # its home before the cache
from goldfish.errors import GoldfishError, NotFoundError, Problem, ProblemsError, did_you_mean
from goldfish.yamlpos import parse_yaml

if typing.TYPE_CHECKING:
    from goldfish.compute import Resources
    from goldfish.plugins import Plugins

Path_ = tuple[str | int, ...]

#: Sections that belong to plugins we publish: named in the hint when the plugin is missing.
KNOWN_PLUGIN_SECTIONS = {
    "gce": "goldfish-backend-gce",
    "aws": "goldfish-backend-aws",
    "docker": "goldfish-backend-docker",
    "svs": "goldfish-svs",
    "review": "goldfish-reviewers",
}


# --- models -----------------------------------------------------------------------------------


class Section(BaseModel):
    """Base class for a section (or nested mapping) of ``goldfish.yaml``: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Gpu(Section):
    type: str | None = Field(None, description="accelerator type as the backend names it, e.g. "
                                               "`nvidia-h100-80gb` (backends that need it say so)")
    count: Annotated[int, Field(ge=1)] | Literal["all"] = Field(
        1, description="number of accelerators, or `all` (every one the host has)")

    @classmethod
    def shorthand(cls, value: Any) -> Any:
        """``gpu: 2`` and ``gpu: all`` mean ``{count: 2}`` / ``{count: all}``."""
        if (isinstance(value, int) and not isinstance(value, bool)) or value == "all":
            return {"count": value}
        return value


class Profile(BaseModel):
    """Where and with what resources a stage runs. Keys beyond the common ones belong to the
    backend and are validated against its registered ``config_model``."""

    model_config = ConfigDict(extra="allow")

    backend: str = Field(description="compute backend that runs the stage (`local`, `docker`, "
                                     "`gce`, …); `goldfish doctor` lists the installed ones")
    image: str | None = Field(None, description="container or VM image, for backends that use one")
    cpus: float | None = Field(None, gt=0, description="CPU cores")
    memory_gb: float | None = Field(None, gt=0, description="memory in GB")
    gpu: Gpu | None = Field(None, description="accelerators: `{type: ..., count: 1}`, or just a "
                                              "count or `all`")
    spot: bool = Field(False, description="use preemptible/spot capacity where the backend can")
    timeout_minutes: float | None = Field(None, gt=0,
                                          description="stop a stage that runs longer than this")
    env: dict[str, str] = Field(default_factory=dict,
                                description="environment variables set for the stage")

    _backend_config: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu_shorthand(cls, value: Any) -> Any:
        return Gpu.shorthand(value)

    @property
    def backend_config(self) -> dict[str, Any]:
        """The backend-specific keys, validated (and defaulted) by the backend's config model."""
        return dict(self._backend_config)

    def resources(self) -> Resources:
        from goldfish.compute import Resources

        return Resources(
            cpus=self.cpus, memory_gb=self.memory_gb,
            gpu_type=self.gpu.type if self.gpu else None,
            gpu_count=(-1 if self.gpu.count == "all" else self.gpu.count) if self.gpu else 0,
            spot=self.spot,
            timeout_seconds=self.timeout_minutes * 60 if self.timeout_minutes else None)

    def to_dict(self) -> dict[str, Any]:
        common = self.model_dump(exclude_none=True, exclude=set(self.model_extra or {}))
        return {**common, **self._backend_config}


COMMON_PROFILE_KEYS = tuple(Profile.model_fields)


class Retention(Section):
    max_age_days: float | None = Field(None, ge=0, description="`goldfish prune` retires runs "
                                       "and untagged versions older than this many days (never "
                                       "tagged ones, `@best`, success conclusions or anything a "
                                       "kept run needs)")
    keep_last: int | None = Field(None, ge=0, description="`goldfish prune` keeps the newest N "
                                  "runs and versions of each workspace (with `max_age_days`: "
                                  "only records both older and beyond the newest N go)")
    window_days: float = Field(30, ge=0, description="days a pruned run or version stays "
                               "restorable (`goldfish prune --restore ID`); `goldfish gc` frees "
                               "its stored objects after that")


class Limits(Section):
    max_file_mb: float = Field(50, gt=0, description="a workspace file larger than this is "
                                                    "refused by a snapshot; register big files as "
                                                    "a data source instead")
    max_metric_names: int = Field(200, ge=1, description="distinct metric names one stage may log")


class BackupSettings(Section):
    dest: str | None = Field(None, description=(
        "where `goldfish backup` writes: a folder (relative to the project or absolute), "
        "`storage:` (the project's storage backend, under `backups/`) or a storage URI "
        "(`gs://bucket/prefix`); default `.goldfish/backups`"))
    every_hours: float | None = Field(None, gt=0, description=(
        "long-lived processes (the MCP server, run drivers) take a backup when the last one is "
        "older than this; unset: no scheduled backups"))
    keep: int = Field(7, ge=1, description=(
        "backups kept at the destination; older ones, and stored files only they use, are "
        "deleted after each backup"))
    before_migration: bool = Field(True, description=(
        "take a backup before the database's schema is migrated (never for a new, empty one)"))


DEFAULT_PROFILES: dict[str, dict[str, Any]] = {"local": {"backend": "local"}}

# The core's top-level keys (registered by goldfish.builtins.core_config like any plugin's).
ProjectName = Annotated[str, Field(min_length=1, description="the project's name (required)")]
Slots = Annotated[int, Field(3, ge=1, le=20, description="number of workspace slots "
                                                         "(`workspaces/w1` … `wN`), 1–20")]
Invariants = Annotated[list[str], Field(default_factory=list, description=(
    "rules every experiment must respect (\"evaluate only on the frozen test split\"); shown "
    "in STATE.md and to reviewers"))]
Goal = Annotated[str, Field("", description="what the project is trying to achieve, in one "
                                            "or two sentences; heads STATE.md")]
Profiles = Annotated[dict[str, Profile], Field(default_factory=dict, description=(
    "named compute profiles: `name: {backend: ..., <resources>}`; `local: {backend: local}` "
    "exists unless you redefine it"))]
DefaultProfile = Annotated[str, Field("local", description="profile used by stages that name "
                                                           "none; must be one of `profiles`")]
Storage = Annotated[str | dict[str, Any], Field(DEFAULT_STORAGE, description=(
    "where outputs are stored: `file://PATH` (relative to the project), `gs://bucket/prefix`, "
    "`s3://bucket/prefix`; or a mapping `{uri: ..., <settings>}` whose other keys are the "
    "storage backend's settings (listed under \"Storage backend settings\")"))]



# --- the validated configuration -------------------------------------------------------------
# ProjectConfig lives in goldfish.configcache (no pydantic there, so a cached configuration costs
# no model building); it is re-exported here.


def plain_data(values: dict[str, Any]) -> dict[str, Any]:
    """Every section's validated value as plain JSON data (``ProjectConfig.data``)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "profiles":
            out[key] = {n: p.to_dict() for n, p in value.items()}
        elif isinstance(value, BaseModel):
            out[key] = value.model_dump(mode="json")
        elif isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        else:
            out[key] = _adapter(type(value)).dump_python(value, mode="json")
    return out


# --- YAML with line numbers -------------------------------------------------------------------


def read_config_text(path: Path) -> str:
    """The text of a config file, or a located error for a missing, unreadable or binary one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist",
                            "run `goldfish init` to create a project") from None
    except OSError as exc:
        raise GoldfishError(f"cannot read {path}: {exc.strerror}",
                            "check the file's permissions") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ProblemsError(problems=[Problem(
            "not UTF-8 text (the file looks binary or corrupted)", str(path), line, None,
            "restore goldfish.yaml from a backup or re-create it with `goldfish init`")],
            title=f"{path} is not valid") from None


def load_config(path: str | Path, plugins: Plugins | None = None) -> ProjectConfig:
    """Load and validate ``path``; raises :class:`ProblemsError` listing every problem."""
    if plugins is None:
        from goldfish.plugins import get_plugins

        plugins = get_plugins()
    path = Path(path)
    text = read_config_text(path)
    return validate_config(text, path, plugins)


def validate_config(text: str, path: Path, plugins: Plugins) -> ProjectConfig:
    file = str(path)
    data, lines, problems = parse_yaml(text, file)
    if not problems:
        if data is None:
            problems.append(Problem("the file is empty", file, None, None,
                                    "write at least `project: NAME`, or re-create the file with "
                                    "`goldfish init`"))
        elif not isinstance(data, dict):
            kind = "a list" if isinstance(data, list) else f"a single value ({data!r:.40})"
            problems.append(Problem(f"must be a mapping of keys (project:, slots:, profiles: …), "
                                    f"found {kind}", file, 1, None,
                                    "write `key: value` lines at the top level, e.g. "
                                    "`project: my-lab`"))
    if problems:
        raise ProblemsError(problems=problems, title=f"{path} is not valid")
    assert isinstance(data, dict)
    checker = _Checker(file, lines, problems)
    values = checker.sections(data, _section_types(plugins, problems, file))
    if "profiles" in values:
        checker.offered_profiles(values, plugins)
        checker.profiles(values, plugins)
        checker.default_profile(values, data.get("profiles"))
    settings: dict[str, Any] = {}
    if "storage" in values:
        settings = checker.storage(values["storage"], plugins)
    if problems:
        problems.sort(key=lambda p: (p.line or 0))
        raise ProblemsError(problems=problems, title=f"{path} is not valid")
    return ProjectConfig(path, values, lines, plugins=plugins, storage_settings=settings)


def _section_types(plugins: Plugins, problems: list[Problem], file: str) -> dict[str, Any]:
    from goldfish.plugins import resolve

    out: dict[str, Any] = {}
    for section, model in plugins.registries.config_sections.items():
        try:
            out[section] = resolve(model)
        except Exception as exc:
            problems.append(Problem(f"the plugin that registers section {section!r} is broken: "
                                    f"{exc!r}", file, None, section,
                                    "see `goldfish plugins`; reinstall or remove that plugin"))
    return out


def section_default(tp: Any) -> Any:
    """The value of an absent section: the ``Field`` default, a model built from no keys, or
    :data:`PydanticUndefined` when the section is required."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        try:
            return tp()
        except ValidationError:
            return None
    info = field_info(tp)
    if info is None:
        return None
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def field_info(tp: Any) -> FieldInfo | None:
    if typing.get_origin(tp) is Annotated:
        for meta in typing.get_args(tp)[1:]:
            if isinstance(meta, FieldInfo):
                return meta
    return None


class _Checker:
    def __init__(self, file: str, lines: dict[Path_, int], problems: list[Problem]) -> None:
        self.file, self.lines, self.problems = file, lines, problems
        self.offered: dict[str, str] = {}  # profile name -> the plugin that offered it

    def add(self, path: Path_, message: str, hint: str | None = None) -> None:
        if path[:1] == ("profiles",) and len(path) > 1 and path[1] in self.offered:
            message = f"{message} (profile offered by plugin {self.offered[path[1]]!r})"
            hint = ((hint + "; ") if hint else "") + (
                f"update or remove that plugin, or define `{path[1]}` under `profiles:` "
                "(goldfish.yaml's own profiles win)")
        self.problems.append(Problem(message, self.file, self._line_of(path), _dotted(path),
                                     hint))

    def _line_of(self, path: Path_) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def sections(self, data: dict[Any, Any], types: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if not isinstance(key, str):
                self.add((str(key),), f"top-level key {key!r} is not a name",
                         "keys are names like `project` or `slots`")
                continue
            if key not in types:
                self.add((key,), f"unknown key {key!r}", self._unknown_section_hint(key, types))
                continue
            value = self.validate(types[key], raw, (key,))
            if value is not _INVALID:
                values[key] = value
        for key, tp in types.items():
            if key in data:
                continue
            default = section_default(tp)
            if default is PydanticUndefined:
                self.problems.append(Problem(f"missing required key {key!r}", self.file, 1, None,
                                             f"add `{key}: ...` at the top level"))
            else:
                values[key] = default
        if "profiles" in types and values.get("profiles") is not None:
            profiles = dict(values.get("profiles") or {})
            for name, raw_profile in DEFAULT_PROFILES.items():
                profiles.setdefault(name, Profile.model_validate(raw_profile))
            values["profiles"] = profiles
        return values

    @staticmethod
    def _unknown_section_hint(key: str, types: dict[str, Any]) -> str:
        close = did_you_mean(key, list(types))
        if close:
            return close
        if key in KNOWN_PLUGIN_SECTIONS:
            return (f"section {key!r} belongs to a plugin that is not installed: "
                    f"pip install {KNOWN_PLUGIN_SECTIONS[key]}")
        return (f"known keys: {', '.join(types)}; a plugin's section needs that plugin "
                "installed (see `goldfish plugins`)")

    def validate(self, tp: Any, raw: Any, path: Path_) -> Any:
        """Validate one value; on failure record its problems and return ``_INVALID``."""
        if path == ("profiles",):
            return self._profiles_common(raw)
        if path == ("storage",) and not isinstance(raw, str | dict):
            self.add(path, f"expected a URI or a mapping with `uri`, got {_show(raw)}",
                     f"e.g. storage: {DEFAULT_STORAGE}  or  storage: {{uri: s3://bucket/prefix, "
                     "region: eu-west-1}")
            return _INVALID
        try:
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                value = tp.model_validate(raw)
            else:
                value = _adapter(tp).validate_python(raw)
        except ValidationError as exc:
            self._record(exc, tp, raw, path)
            return _INVALID
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(raw, dict):
            self._unknown_keys(raw, list(tp.model_fields), path)  # models that allow extras
        return value

    def _profiles_common(self, raw: Any) -> Any:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.add(("profiles",), f"expected a mapping of profile names, got {_show(raw)}",
                     "write `profiles: {local: {backend: local}}`")
            return _INVALID
        out: dict[str, Profile] = {}
        for name, body in raw.items():
            path: Path_ = ("profiles", name)
            if not isinstance(name, str):
                self.add(path, f"profile name {name!r} is not a name")
                continue
            try:
                out[name] = Profile.model_validate(body)
            except ValidationError as exc:
                self._record(exc, Profile, body, path)
        return out

    def offered_profiles(self, values: dict[str, Any], plugins: Plugins) -> None:
        """Add the profiles plugins offer under names ``goldfish.yaml`` (and the core's
        ``local``) leave free; :meth:`profiles` then validates them like written ones."""
        profiles = values["profiles"]
        for name, offer in plugins.registries.profiles.items():
            if name in profiles or ("profiles", name) in self.lines:
                continue  # goldfish.yaml wins (also over an entry of its own that did not validate)
            self.offered[name] = offer.plugin
            try:
                profiles[name] = Profile.model_validate(offer.settings)
            except ValidationError as exc:
                self._record(exc, Profile, offer.settings, ("profiles", name))

    def profiles(self, values: dict[str, Any], plugins: Plugins) -> None:
        from goldfish.plugins import resolve

        backends = plugins.registries.compute
        for name, profile in values["profiles"].items():
            path: Path_ = ("profiles", name)
            spec = backends.get(profile.backend)
            if spec is None:
                self.add((*path, "backend"), *plugins.missing_backend(profile.backend))
                continue
            extras = dict(profile.model_extra or {})
            model = spec.config_model
            if model is not None:
                try:
                    model = resolve(model)
                except Exception as exc:
                    self.add(path, f"backend {profile.backend!r} is broken: {exc!r}",
                             "see `goldfish plugins`")
                    continue
            if model is None:
                self._unknown_keys(extras, list(COMMON_PROFILE_KEYS), path)
                continue
            own = getattr(model, "model_fields", None) or getattr(model, "__dataclass_fields__", {})
            allowed = [*COMMON_PROFILE_KEYS, *own]
            clean = {k: v for k, v in extras.items() if k in allowed}
            self._unknown_keys(extras, allowed, path)
            adapter = _adapter(model)
            try:
                validated = adapter.validate_python(clean)
            except ValidationError as exc:
                self._record(exc, model, clean, path)
                continue
            profile._backend_config = adapter.dump_python(validated, mode="json")

    def default_profile(self, values: dict[str, Any], raw_profiles: Any) -> None:
        name = values.get("default_profile", "local")
        profiles = values.get("profiles") or {}
        if name not in profiles and not (isinstance(raw_profiles, dict) and name in raw_profiles):
            self.add(("default_profile",), f"names profile {name!r}, which is not defined",
                     did_you_mean(name, list(profiles)) or
                     f"use one of: {', '.join(sorted(profiles))}, or add it under `profiles:`")

    def storage(self, raw: Any, plugins: Plugins) -> dict[str, Any]:
        """Check the storage URI and validate the settings next to it against the model its
        backend registered; returns the settings (defaults filled in)."""
        from goldfish.plugins import resolve

        settings: dict[str, Any] = {}
        at: Path_ = ("storage",)
        if isinstance(raw, dict):
            settings = {k: v for k, v in raw.items() if k != "uri"}
            at = ("storage", "uri")
            if not isinstance(raw.get("uri"), str):
                self.add(at, "missing required key 'uri'" if "uri" not in raw else
                         f"expected a URI, got {_show(raw.get('uri'))}",
                         f"write `storage: {{uri: {DEFAULT_STORAGE}, ...settings}}`")
                return {}
            uri = str(raw["uri"])
        else:
            uri = str(raw)
        if "://" not in uri:
            self.add(at, f"{uri!r} is not a storage URI",
                     f"write a URI such as {DEFAULT_STORAGE}, gs://bucket/prefix or "
                     "s3://bucket/prefix")
            return {}
        scheme = uri.split("://", 1)[0]
        schemes = plugins.registries.storage
        if scheme not in schemes:
            self.add(at, *plugins.missing_storage(scheme))
            return {}
        spec = schemes[scheme]
        if spec.config_model is None:
            for key in settings:
                self.add(("storage", key), f"unknown key {key!r}",
                         f"the {scheme}:// storage backend (plugin {spec.plugin!r}) takes no "
                         "settings; only `uri`")
            return {}
        try:
            model = resolve(spec.config_model)
        except Exception as exc:
            self.add(at, f"the {scheme}:// storage backend (plugin {spec.plugin!r}) is broken: "
                         f"{exc!r}", "see `goldfish plugins`")
            return {}
        own = list(getattr(model, "model_fields", None) or {})
        self._unknown_keys(settings, ["uri", *own], ("storage",))
        clean = {k: v for k, v in settings.items() if k in own}
        adapter = _adapter(model)
        try:
            validated = adapter.validate_python(clean)
        except ValidationError as exc:
            self._record(exc, model, clean, ("storage",))
            return {}
        dumped: dict[str, Any] = adapter.dump_python(validated, mode="json")
        return dumped

    def _unknown_keys(self, raw: dict[Any, Any], allowed: list[str], path: Path_) -> None:
        for key in raw:
            if key not in allowed:
                self.add((*path, key), f"unknown key {key!r}",
                         did_you_mean(str(key), allowed) or f"allowed keys: {', '.join(allowed)}")

    def _record(self, exc: ValidationError, tp: Any, raw: Any, path: Path_) -> None:
        for err in exc.errors(include_url=False):
            rel = _data_path(raw, err["loc"])
            full = (*path, *rel)
            kind = err["type"]
            if kind == "extra_forbidden":
                allowed = _fields_at(tp, rel[:-1])
                self.add(full, f"unknown key {rel[-1]!r}" if rel else "unknown key",
                         (did_you_mean(str(rel[-1]), allowed) if rel else None)
                         or (f"allowed keys: {', '.join(allowed)}" if allowed else None))
            elif kind == "missing":
                self.add(full, f"missing required key {full[-1]!r}",
                         f"add `{full[-1]}: ...` under `{_dotted(full[:-1])}`"
                         if len(full) > 1 else None)
            elif kind == "value_error":  # a model's own check: its message says it all
                message, _, hint = str(err.get("msg", "")).removeprefix("Value error, ") \
                    .partition("; ")
                self.add(full, message, hint or None)
            else:
                expected = _expected(err)
                self.add(full, f"expected {expected}, got {_show(err.get('input'))}",
                         f"set `{_dotted(full)}` to {expected}")


_INVALID = object()


def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _data_path(raw: Any, loc: tuple[str | int, ...]) -> Path_:
    """Keep the parts of a pydantic ``loc`` that address the data (drop union tags)."""
    out: list[str | int] = []
    current = raw
    for index, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            out.append(part)
            current = current[part]
        elif index == len(loc) - 1 and isinstance(part, str) and isinstance(current, dict):
            out.append(part)  # a missing or unknown key at this level
    return tuple(out)


def _fields_at(tp: Any, path: Path_) -> list[str]:
    """The keys allowed at ``path`` inside type ``tp`` (for "did you mean")."""
    for part in (*path, None):
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part is None:
                return list(tp.model_fields)
            fld = tp.model_fields.get(str(part))
            if fld is None:
                return []
            tp = fld.annotation
        elif typing.get_origin(tp) in (dict, list) and part is not None:
            tp = typing.get_args(tp)[-1]
        else:
            return []
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


_EXPECTED = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "a whole number",
    "float_parsing": "a number", "float_type": "a number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "text", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping", "list_type": "a list",
}


def _expected(err: Any) -> str:
    kind = err["type"]
    if kind in _EXPECTED:
        return str(_EXPECTED[kind])
    ctx = err.get("ctx") or {}
    bounds = {"greater_than_equal": "a value ≥ {ge}", "less_than_equal": "a value ≤ {le}",
              "greater_than": "a value > {gt}", "less_than": "a value < {lt}",
              "string_too_short": "non-empty text", "literal_error": "one of {expected}"}
    if kind in bounds:
        try:
            return bounds[kind].format(**ctx)
        except KeyError:
            pass
    msg = str(err.get("msg", "a valid value"))
    return msg[len("Input should be "):] if msg.startswith("Input should be ") else msg


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def iter_keys(tp: Any, prefix: str = "") -> Iterator[tuple[str, Any, FieldInfo | None]]:
    """Every documented key under a section type: (dotted key, annotation, field info)."""
    tp_unwrapped = _unwrap(tp)
    if isinstance(tp_unwrapped, type) and issubclass(tp_unwrapped, BaseModel):
        for name, fld in tp_unwrapped.model_fields.items():
            key = f"{prefix}.{name}"
            yield key, fld.annotation, fld
            inner = _unwrap(fld.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from iter_keys(inner, key)
    elif typing.get_origin(tp_unwrapped) is dict:
        value_tp = _unwrap(typing.get_args(tp_unwrapped)[-1])
        if isinstance(value_tp, type) and issubclass(value_tp, BaseModel):
            yield from iter_keys(value_tp, f"{prefix}.<name>")
