"""The validated ``goldfish.yaml`` (:class:`ProjectConfig`) and the record that spares
re-validating it.

Validating the file means importing pydantic and building the config models, ~0.1-0.25 s on a
small machine, paid by every command before it does anything. The outcome only changes when the
file, the plugin set or Goldfish change, so after a successful validation its result is recorded
in ``.goldfish/cache/config.json`` under a key made of:

* the file's bytes (a SHA-1 of the content: an edit within the same mtime tick still counts),
* the plugin set as the process sees it: every registered plugin's name, where it is defined
  (module or class, with that file's mtime and size) and the plugins that failed to load,
* the installation (:func:`goldfish.envcache.fingerprint`: Goldfish's version, the interpreter,
  the ``sys.path`` entries' mtimes, which change when a distribution is installed or removed,
  the current directory excepted; the allow-list) and the source of the core's own models
  (``goldfish/config.py``).

Collecting the plugins' registries for the key would run their registration hooks (one of which
imports PyYAML), so the key names the plugins instead; the validated objects are never taken
from the record anyway.

The record holds the configuration as plain data (``ProjectConfig.data``, what ``goldfish config
show`` prints), the line of every key and the storage backend's validated settings. A hit gives
a :class:`ProjectConfig` whose plain keys (``project``, ``slots``, ``limits.max_file_mb``
through :meth:`ProjectConfig.get`…) are read from that data without importing pydantic, and so
is what ``goldfish run`` needs: the profiles (:class:`ProfileView`, the attributes of
``Profile`` over its recorded ``to_dict()``), plugin sections through
:meth:`ProjectConfig.section_view` (svs and review settings) and ``storage_settings``. The
validated objects (``values``, ``section()``, ``limits``) are rebuilt by validating the file for
real on first use, so they never come from the record; ``config check`` and ``doctor`` validate
for real too. A miss, an unreadable or corrupt record, or ``GOLDFISH_NO_CACHE=1`` validates the
file as before, and a broken file is reported with file:line whatever is recorded (its content
no longer matches the key). The record is written atomically and readable only by its owner
(profile ``env`` values are in it).

This module imports neither pydantic nor PyYAML; :mod:`goldfish.config` does, on a miss.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish import envcache

if TYPE_CHECKING:
    from goldfish.compute import Resources
    from goldfish.config import Limits, Profile
    from goldfish.plugins import Plugins

Path_ = tuple[str | int, ...]

CACHE_FILE = "config.json"
DEFAULT_STORAGE = "file://.goldfish/store"
_FORMAT = 2  # 2: the storage backend's validated settings are recorded too
_MISSING = object()
#: the core's models: edited during development without a new version number
_MODELS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.py")


class ProjectConfig:
    """The validated ``goldfish.yaml``: typed core keys plus every plugin section.

    Two faces of the same content: :attr:`data`, every section as plain JSON data with defaults
    filled in, and :attr:`values`, the validated objects (pydantic models, :class:`Profile`\\ s).
    A configuration read from the cache record starts with ``data`` only; ``values`` is built on
    first use by validating the file again, so commands that read plain keys never import
    pydantic.
    """

    def __init__(self, path: Path, values: dict[str, Any] | None = None,
                 lines: dict[Path_, int] | None = None, *, data: dict[str, Any] | None = None,
                 plugins: Plugins | None = None,
                 storage_settings: dict[str, Any] | None = None) -> None:
        if values is None and data is None:
            raise ValueError("ProjectConfig needs values or data")
        self.path = Path(path)
        self.lines: dict[Path_, int] = dict(lines or {})
        self._values = values
        self._data = data
        self._plugins = plugins
        self._storage_settings = storage_settings

    @property
    def from_cache(self) -> bool:
        """True while the validated objects have not been rebuilt from the file."""
        return self._values is None

    @property
    def values(self) -> dict[str, Any]:
        """Every section's validated value (models for model sections)."""
        if self._values is None:
            from goldfish.config import load_config

            fresh = load_config(self.path, self._plugins)
            self._values, self.lines = fresh.values, fresh.lines
            self._storage_settings = fresh.storage_settings
        return self._values

    @property
    def data(self) -> dict[str, Any]:
        """Every section as plain data with defaults filled in (do not modify; see to_dict)."""
        if self._data is None:
            from goldfish.config import plain_data

            self._data = plain_data(self.values)
        return self._data

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """A plain value by dotted key (``"limits.max_file_mb"``), without building models."""
        current: Any = self.data
        for part in key.split("."):
            if not isinstance(current, dict) or part not in current:
                if default is _MISSING:
                    raise KeyError(key)
                return default
            current = current[part]
        return current

    @property
    def project(self) -> str:
        return str(self.data["project"])

    @property
    def goal(self) -> str:
        return str(self.data.get("goal", ""))

    @property
    def slots(self) -> int:
        return int(self.data.get("slots", 3))

    @property
    def invariants(self) -> list[str]:
        return list(self.data.get("invariants", []))

    @property
    def default_profile(self) -> str:
        return str(self.data.get("default_profile", "local"))

    @property
    def storage(self) -> str:
        """The storage URI (``storage:`` itself, or its ``uri`` key in the mapping form)."""
        raw = self.data.get("storage", DEFAULT_STORAGE)
        return str(raw.get("uri", "")) if isinstance(raw, dict) else str(raw)

    @property
    def storage_settings(self) -> dict[str, Any]:
        """The storage backend's settings, validated (and defaulted) by its registered model:
        plain data, recorded with the rest when the file validated (the record's key covers the
        plugin set that registered the model)."""
        if self._storage_settings is None:
            self.values  # noqa: B018 - validating the file sets the settings
        return dict(self._storage_settings or {})

    @property
    def profiles(self) -> dict[str, Profile | ProfileView]:
        """The compute profiles: the validated :class:`Profile` models once the file has been
        validated in this process, else light :class:`ProfileView`\\ s over the recorded plain
        data (same attributes, no pydantic: ``goldfish run`` needs only these)."""
        if self._values is None:
            return {name: ProfileView(raw) for name, raw in self.data["profiles"].items()}
        profiles: dict[str, Profile | ProfileView] = self.values["profiles"]
        return profiles

    @property
    def limits(self) -> Limits:
        """The ``limits:`` section, validated (plain values: ``get("limits.max_file_mb")``)."""
        from goldfish.config import Limits

        limits: Limits = self.values.get("limits") or Limits.model_validate({})
        return limits

    def section(self, name: str) -> Any:
        """A plugin's section (its model instance), or None when absent and not defaultable."""
        return self.values.get(name)

    def section_view(self, name: str) -> Any:
        """A plugin's section for reading: attributes over its recorded plain data (nested
        mappings stay dicts) while the configuration comes from the record, so a hook that only
        reads settings costs no pydantic; the validated model (:meth:`section`) otherwise.
        None when the section is absent."""
        if self._values is None:
            raw = self.data.get(name)
            return SectionView(raw) if isinstance(raw, dict) else raw
        return self.section(name)

    def profile(self, name: str | None = None) -> Profile | ProfileView:
        """The profile called ``name`` (default: ``default_profile``)."""
        from goldfish.errors import NotFoundError, did_you_mean

        name = name or self.default_profile
        if name not in self.profiles:
            hint = did_you_mean(name, list(self.profiles)) or (
                f"profiles in {self.path.name}: {', '.join(sorted(self.profiles))}")
            raise NotFoundError(f"unknown profile {name!r}", hint)
        return self.profiles[name]

    def profile_source(self, name: str) -> str:
        """Where profile ``name`` comes from: ``goldfish.yaml``, ``built-in`` (the core's
        ``local``) or ``plugin NAME`` (offered through ``register_profiles``)."""
        if ("profiles", name) in self.lines:
            return self.path.name
        if name in BUILTIN_PROFILES:
            return "built-in"
        offer = self._plugins.registries.profiles.get(name) if self._plugins else None
        if offer is not None:
            return f"plugin {offer.plugin}"
        return "built-in"

    def to_dict(self) -> dict[str, Any]:
        """Every key with defaults filled in, as plain data (``goldfish config show``)."""
        return copy.deepcopy(self.data)


class SectionView:
    """Read-only attributes over a section's plain data (see :meth:`ProjectConfig.section_view`)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__["_data"] = copy.deepcopy(data)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_data"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{key}: a configuration section is read-only")

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return copy.deepcopy(self.__dict__["_data"])


#: the names of :data:`goldfish.config.DEFAULT_PROFILES` (a test checks the two agree); they win
#: over a profile a plugin offers under the same name
BUILTIN_PROFILES = ("local",)

#: the keys of :class:`goldfish.config.Profile` itself; the others are the backend's settings
#: (a test checks this against the model's fields)
COMMON_PROFILE_KEYS = ("backend", "image", "cpus", "memory_gb", "gpu", "spot", "timeout_minutes",
                       "env")


class GpuView:
    """``Profile.gpu`` read from plain data: ``type`` and ``count`` (an int or ``"all"``)."""

    __slots__ = ("count", "type")

    def __init__(self, data: dict[str, Any]) -> None:
        self.type: str | None = data.get("type")
        self.count: int | str = data.get("count", 1)


class ProfileView:
    """A compute profile read from the recorded plain data (``Profile.to_dict()`` of a profile
    that validated), with the attributes of :class:`goldfish.config.Profile`: a cached
    configuration gives these so that launching a run never imports pydantic. The data was
    validated when it was recorded, and the record's key covers the file, the plugin set and
    Goldfish itself; ``config check`` and ``doctor`` validate the file for real."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def backend(self) -> str:
        return str(self._data["backend"])

    @property
    def image(self) -> str | None:
        value = self._data.get("image")
        return None if value is None else str(value)

    @property
    def cpus(self) -> float | None:
        return self._data.get("cpus")

    @property
    def memory_gb(self) -> float | None:
        return self._data.get("memory_gb")

    @property
    def gpu(self) -> GpuView | None:
        raw = self._data.get("gpu")
        return GpuView(raw) if isinstance(raw, dict) else None

    @property
    def spot(self) -> bool:
        return bool(self._data.get("spot", False))

    @property
    def timeout_minutes(self) -> float | None:
        return self._data.get("timeout_minutes")

    @property
    def env(self) -> dict[str, str]:
        return dict(self._data.get("env") or {})

    @property
    def backend_config(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in self._data.items() if k not in COMMON_PROFILE_KEYS}

    def resources(self) -> Resources:
        from goldfish.compute import Resources

        gpu = self.gpu
        return Resources(
            cpus=self.cpus, memory_gb=self.memory_gb,
            gpu_type=gpu.type if gpu else None,
            gpu_count=(-1 if gpu.count == "all" else int(gpu.count)) if gpu else 0,
            spot=self.spot,
            timeout_seconds=self.timeout_minutes * 60 if self.timeout_minutes else None)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)


# --- the cache record --------------------------------------------------------------------------


def load_config(path: Path, plugins: Plugins) -> ProjectConfig:
    """Validate for real (imports pydantic)."""
    from goldfish.config import load_config as validate

    return validate(path, plugins)


def load(path: Path, plugins: Plugins, cache_dir: Path | None) -> ProjectConfig:
    """The configuration at ``path``: from the record in ``cache_dir`` when it matches, else
    validated (and recorded). ``cache_dir=None`` or ``GOLDFISH_NO_CACHE=1`` always validates."""
    if cache_dir is None or os.environ.get("GOLDFISH_NO_CACHE") == "1":
        return load_config(path, plugins)
    try:
        raw = path.read_bytes()
    except OSError:
        return load_config(path, plugins)  # reports the missing or unreadable file
    key = cache_key(raw, plugins)
    record = cache_dir / CACHE_FILE
    hit = _read(record, key)
    if hit is not None:
        data, lines, storage_settings = hit
        return ProjectConfig(path, lines=lines, data=data, plugins=plugins,
                             storage_settings=storage_settings)
    config = load_config(path, plugins)
    _write(record, key, config)
    return config


def cache_key(raw: bytes, plugins: Plugins) -> str:
    """What the validation of ``raw`` depends on (see the module docstring)."""
    parts = [f"format {_FORMAT}", envcache.fingerprint(terminal=False, cwd=False),
             envcache.sha1(raw), envcache.stamp(_MODELS_FILE)]
    parts += plugins.describe()
    parts += (f"error {e.name}: {e.error}" for e in plugins.load_errors)
    return envcache.sha1("\n".join(parts).encode())


def _read(record: Path, key: str
          ) -> tuple[dict[str, Any], dict[Path_, int], dict[str, Any] | None] | None:
    """The recorded data and lines when the record is intact and has ``key``; anything else
    (missing, unreadable, corrupt, another key) is a miss."""
    try:
        with open(record, encoding="utf-8") as fh:
            stored = json.load(fh)
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        data, lines = stored["data"], stored["lines"]
        settings = stored.get("storage_settings")  # absent: validated when asked for
        if not isinstance(data, dict) or not isinstance(settings, dict | None):
            return None
        return data, {tuple(p): int(n) for p, n in lines}, settings
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _write(record: Path, key: str, config: ProjectConfig) -> None:
    """Record a validated configuration; a failure to write (read-only project, full disk, data
    that is not JSON) costs only the next command's time."""
    try:
        settings = config.storage_settings
        text = json.dumps({"key": key, "data": config.data,
                           "lines": [[list(p), n] for p, n in config.lines.items()],
                           "storage_settings": settings})
    except (TypeError, ValueError):
        return
    back = json.loads(text)
    if back["data"] != config.data or back["storage_settings"] != settings:
        return  # e.g. integer mapping keys: not cacheable
    if not record.parent.parent.is_dir():  # no .goldfish/: not a project this process created
        return
    tmp = record.with_name(f"{record.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        record.parent.mkdir(exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, record)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
