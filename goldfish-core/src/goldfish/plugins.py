"""The plugin manager and the typed facade the rest of Goldfish calls.

Nothing outside this module touches ``pm.hook``. Plugins are discovered from the
``goldfish.plugins`` entry-point group with stevedore; a plugin that fails to import is recorded in
:attr:`Plugins.load_errors` (shown by ``goldfish plugins``) instead of crashing the CLI.

Environment:

* ``GOLDFISH_LOAD_PLUGINS=a,b`` loads only the named entry points (``""`` loads none). Built-ins
  always load.
* ``GOLDFISH_PLUGINS_DIR=PATH`` also loads every module and package in ``PATH`` as a plugin named
  after it (development without packaging; the allow-list applies to them too).
* ``GOLDFISH_TRACE_PLUGINS=1`` prints every hook call, its arguments and results to stderr.

A misspelt hook is dropped with an error and the plugin's other hooks stay; a hook taking an
argument its spec lacks makes the plugin fail to load, reported in one line with the spec's
argument names (:func:`explain_validation`). :meth:`Plugins.verify` imports everything registered
by ``"module:attr"`` name (``goldfish doctor``).

After a stevedore scan the entry points are recorded in :mod:`goldfish.envcache` (keyed by a
fingerprint of the installed distributions); later processes import the same entry points from
that record, with load failures captured the same way, and skip stevedore's ~60 ms scan.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from goldfish import envcache
from goldfish.errors import GoldfishError, did_you_mean
from goldfish.plain import field, record

if TYPE_CHECKING:
    import argparse

    import pluggy

    from goldfish.events import Event, Hit
    from goldfish.project import Project

ENTRY_POINT_GROUP = "goldfish.plugins"

#: Built-in plugins, registered exactly like third-party ones: name → module of hook
#: implementations (hooks only, so building the manager imports no backend code).
BUILTIN_PLUGINS: dict[str, str] = {
    "local_compute": "goldfish.builtins.local_compute_plugin",
    "file_storage": "goldfish.builtins.file_storage_plugin",
    "core_config": "goldfish.builtins.core_config",
    "state_md": "goldfish.builtins.state_md",
    "commands": "goldfish.builtins.commands",
}


@record(frozen=True)
class LoadError:
    name: str
    error: str


@record(frozen=True)
class PluginInfo:
    name: str
    module: str
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool
    distribution: str | None = None


@record
class BackendSpec:
    """What a plugin registered for a compute backend; the implementation is imported on use."""

    name: str
    factory: Any
    config_model: Any = None
    capabilities: Any = None
    plugin: str = ""

    def load(self) -> Any:
        return load_registered(self.factory, f"compute backend {self.name!r}", self.plugin)


@record
class StorageSpec:
    scheme: str
    factory: Any
    plugin: str = ""
    config_model: Any = None

    def load(self) -> Any:
        return load_registered(self.factory, f"storage backend for {self.scheme}://",
                               self.plugin)


@record
class ProfileOffer:
    """A compute profile a plugin offers (``register_profiles``), as it would be written in
    ``goldfish.yaml``."""

    name: str
    settings: dict[str, Any]
    plugin: str = ""


@record
class Registries:
    compute: dict[str, BackendSpec] = field(default_factory=dict)
    storage: dict[str, StorageSpec] = field(default_factory=dict)
    config_sections: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, ProfileOffer] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)


def resolve(obj: Any) -> Any:
    """Import ``"module:attr"`` strings; pass anything else through."""
    if isinstance(obj, str) and ":" in obj:
        module, _, attr = obj.partition(":")
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
        return target
    return obj


def load_registered(target: Any, what: str, plugin: str) -> Any:
    """Resolve what a plugin registered; an import error or a typo in the ``"module:attr"``
    string is the plugin's error, said as such."""
    try:
        return resolve(target)
    except Exception as exc:
        raise GoldfishError(f"{what} (plugin {plugin!r}) cannot be loaded: {target!r} raised "
                            f"{type(exc).__name__}: {exc}",
                            "fix the plugin's registration or reinstall it; `goldfish doctor` "
                            "checks every registered name") from None


def _allow_list() -> set[str] | None:
    raw = os.environ.get("GOLDFISH_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _distribution(module_name: str, plugin_name: str = "") -> tuple[str | None, str | None]:
    """(name, version) of the distribution that ships a plugin (editable installs included);
    (None, None) for a plugin loaded from ``GOLDFISH_PLUGINS_DIR`` or registered in code."""
    from importlib import metadata

    if module_name == "goldfish" or module_name.startswith("goldfish."):
        from goldfish import __version__

        return "goldfish-core", __version__
    top = module_name.split(".")[0]
    try:
        dists = metadata.packages_distributions().get(top, [])
        if dists:
            return dists[0], metadata.version(dists[0])
        # Editable installs do not list their packages; find the entry point instead.
        for dist in metadata.distributions():
            for ep in dist.entry_points:
                if ep.group == ENTRY_POINT_GROUP and ep.name == plugin_name:
                    return str(dist.metadata["Name"]), str(dist.version)
    except Exception:
        return None, None
    return None, None


def _dist_version(module_name: str, plugin_name: str = "") -> str | None:
    return _distribution(module_name, plugin_name)[1]


class Plugins:
    """Typed facade over the pluggy plugin manager: one method per hook."""

    def __init__(self, pm: pluggy.PluginManager | None,
                 load_errors: list[LoadError] | None = None,
                 builtin_names: Iterable[str] = (), index: PluginIndex | None = None) -> None:
        self._pm = pm
        self.load_errors: list[LoadError] = list(load_errors or [])
        self._builtin_names = set(builtin_names)
        self._registries: Registries | None = None
        self._index = index if pm is None else None

    @classmethod
    def from_index(cls, index: PluginIndex) -> Plugins:
        """The plugin set a recorded build found (see :class:`PluginIndex`), nothing imported:
        a hook nobody implements costs nothing, ``record_event`` imports only its
        implementers, and anything else (``pm``, registries, commands…) builds the manager
        for real on first use, exactly as :func:`build` does."""
        return cls(None, [LoadError(n, e) for n, e in index.errors], index.builtins, index)

    @property
    def pm(self) -> pluggy.PluginManager:
        if self._pm is None:
            full = build()
            since = self.load_errors[len(self._index.errors) if self._index else 0:]
            self._pm, self._index = full.pm, None
            self.load_errors[:] = full.load_errors + since
            self._builtin_names = full._builtin_names
        return self._pm

    def describe(self) -> list[str]:
        """``plugin NAME=WHERE`` for each registered plugin, sorted by name: the module or class
        and its file's stamp (so editing an editable plugin's module changes it); keys the
        record of a validated goldfish.yaml."""
        if self._pm is None and self._index is not None:  # stamps checked by PluginIndex.read
            index = self._index
            found = [(name, prefix, index.stamps[name]) for name, _, prefix, _ in index.plugins]
        else:
            found = []
            for name, plugin in self.pm.list_name_plugin():
                prefix, file = _describe(plugin)
                found.append((name, prefix, envcache.stamp(file)))
        return [f"plugin {name}={prefix} {stamp}"
                for name, prefix, stamp in sorted(found, key=lambda p: p[0])]

    def _implementations(self, hook: str) -> list[tuple[str, Callable[..., Any], tuple[str, ...]]]:
        """(plugin, function, argument names) of ``hook``'s implementations in call order."""
        if self._pm is None and self._index is not None:
            try:
                return [(name, getattr(self._index.load(name), hook), tuple(argnames))
                        for name, argnames in self._index.calls.get(hook, [])]
            except Exception:  # pragma: no cover - imported fine when recorded; build for real
                pass
        return [(impl.plugin_name, impl.function, tuple(impl.argnames))
                for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls())]

    def _fire(self, hook: str, **kwargs: Any) -> None:
        """Call a notification hook; one nobody implements (known from the index) costs no
        plugin manager."""
        if self._pm is None and self._index is not None and not self._index.calls.get(hook):
            return
        getattr(self.pm.hook, hook)(**kwargs)

    # --- management -----------------------------------------------------------------------
    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object (module, class or instance) for this manager."""
        try:
            registered = self.pm.register(plugin, name=name)
        except _validation_error() as exc:
            raise GoldfishError(f"plugin {name or plugin!r} cannot be registered: "
                                f"{explain_validation(self.pm, plugin, exc)}",
                                "fix the hook implementation's arguments (see docs/plugins.md)")
        if registered is None:
            raise GoldfishError(f"plugin {name or plugin!r} is already registered")
        rejected = _reject_unknown_hooks(self.pm)
        if rejected:
            raise GoldfishError(rejected[0].error, "hook names are listed in docs/plugins.md")
        self.pm.check_pending()
        self._registries = None
        return registered

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._registries = None

    def child_allow_list(self) -> str | None:
        """The ``GOLDFISH_LOAD_PLUGINS`` value under which a child process (a run's driver)
        loads exactly these plugins, or None when one of them was registered in this process
        only (a test's object, an embedding application's) and no child could load it."""
        entry_points: dict[str, str] | None = None
        names = []
        for name, plugin in self.pm.list_name_plugin():
            if name in self._builtin_names:
                continue
            if entry_points is None:
                cached = _cached_entry_points()
                if cached is None:
                    from importlib import metadata

                    cached = [(ep.name, ep.value)
                              for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
                entry_points = dict(cached)
            value = entry_points.get(name)
            if value is None:
                value = dict(_plugins_dir_modules()).get(name)  # the child inherits the folder
            try:
                target = None if value is None else _import_value(value)
            except Exception:
                target = None
            # a plugin with a hook typo is registered as a stand-in for its module (its valid
            # hooks only); the child makes the same stand-in from the same module
            if target is None or target is not getattr(plugin, "__wrapped__", plugin):
                return None
            names.append(name)
        return ",".join(sorted(names))

    def infos(self) -> list[PluginInfo]:
        out = []
        for name, plugin in self.pm.list_name_plugin():
            module = getattr(plugin, "__name__", type(plugin).__module__)
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or []))
            dist, version = _distribution(module, name)
            out.append(PluginInfo(name=name, module=module, version=version, hooks=hooks,
                                  builtin=name in self._builtin_names, distribution=dist))
        return sorted(out, key=lambda i: (not i.builtin, i.name))

    # --- registries -----------------------------------------------------------------------
    @property
    def registries(self) -> Registries:
        if self._registries is None:
            self._registries = self._collect()
        return self._registries

    def _collect(self) -> Registries:
        reg = Registries()
        for impl in self.pm.hook.register_compute_backends.get_hookimpls():
            def add_backend(name: str, factory: Any, config_model: Any = None,
                            capabilities: Any = None, _p: str = impl.plugin_name) -> None:
                if name in reg.compute:
                    reg.errors.append(LoadError(_p, f"compute backend {name!r} is already "
                                                    f"registered by {reg.compute[name].plugin}"))
                    return
                reg.compute[name] = BackendSpec(name, factory, config_model, capabilities, _p)
            self._call_one(impl, "register_compute_backends", register=add_backend)
        for impl in self.pm.hook.register_storage_backends.get_hookimpls():
            def add_storage(scheme: str, factory: Any, config_model: Any = None,
                            _p: str = impl.plugin_name) -> None:
                if scheme in reg.storage:
                    reg.errors.append(LoadError(_p, f"storage scheme {scheme!r} is already "
                                                    f"registered by {reg.storage[scheme].plugin}"))
                    return
                reg.storage[scheme] = StorageSpec(scheme, factory, _p, config_model)
            self._call_one(impl, "register_storage_backends", register=add_storage)
        for impl in self.pm.hook.register_config_sections.get_hookimpls():
            def add_section(section: str, model: Any, _p: str = impl.plugin_name) -> None:
                if section in reg.config_sections:
                    reg.errors.append(LoadError(_p, f"config section {section!r} is already "
                                                    "registered"))
                    return
                reg.config_sections[section] = model
            self._call_one(impl, "register_config_sections", register=add_section)
        for impl in self.pm.hook.register_profiles.get_hookimpls():
            def add_profile(name: str, settings: dict[str, Any],
                            _p: str = impl.plugin_name) -> None:
                if name in reg.profiles:
                    reg.errors.append(LoadError(_p, f"profile {name!r} is already offered by "
                                                    f"{reg.profiles[name].plugin}"))
                    return
                reg.profiles[name] = ProfileOffer(name, dict(settings), _p)
            self._call_one(impl, "register_profiles", register=add_profile)
        return reg

    def _call_one(self, impl: Any, hook: str, **kwargs: Any) -> None:
        try:
            args = {k: v for k, v in kwargs.items() if k in impl.argnames}
            impl.function(**args)
        except Exception as exc:  # a broken plugin must not take the host down
            self.load_errors.append(LoadError(impl.plugin_name, f"{hook}: {exc!r}"))

    def compute_backend(self, name: str) -> BackendSpec:
        specs = self.registries.compute
        if name not in specs:
            raise GoldfishError(*self.missing_backend(name))
        return specs[name]

    def storage_backend(self, scheme: str) -> StorageSpec:
        specs = self.registries.storage
        if scheme not in specs:
            raise GoldfishError(*self.missing_storage(scheme))
        return specs[scheme]

    def failed_plugins(self, name: str) -> list[LoadError]:
        """Plugins that failed to load and are named like ``name`` (entry point ``gce`` or
        ``gce-backend`` for backend ``gce``): the likely providers of what is missing."""
        return [e for e in self.load_errors if e.name and (name in e.name or e.name in name)]

    def _missing(self, what: str, name: str, known: list[str],
                 install: str) -> tuple[str, str]:
        """(message, hint) for a backend nobody registered: a near name, else the plugin named
        like it that failed to load (with its error), else what to install."""
        close = did_you_mean(name, known)
        failed = self.failed_plugins(name)
        if close or not failed:
            others = sorted({e.name for e in self.load_errors})
            note = (f" ({len(others)} plugin(s) failed to load: {', '.join(others[:5])}; see "
                    "`goldfish plugins`)") if others and not close else ""
            return f"unknown {what} {name!r}", (close or install) + note
        shown = "; ".join(f"plugin {e.name!r} failed to load: {e.error}" for e in failed[:3])
        return (f"{what} {name!r} is not available: {shown}",
                "fix or reinstall that plugin (`goldfish plugins` lists load errors)")

    def missing_backend(self, name: str) -> tuple[str, str]:
        specs = self.registries.compute
        package = {"ec2": "aws"}.get(name, name)
        return self._missing("compute backend", name, list(specs), (
            f"installed backends: {', '.join(sorted(specs)) or 'none'}; install the plugin "
            f"that provides {name!r} (e.g. pip install goldfish-backend-{package}) or change "
            "the profile's backend"))

    def missing_storage(self, scheme: str) -> tuple[str, str]:
        specs = self.registries.storage
        package = {"gs": "gce", "s3": "aws"}.get(scheme, scheme)
        message, hint = self._missing("storage scheme", scheme, list(specs), (
            f"installed schemes: {', '.join(sorted(specs)) or 'none'}; install the plugin for "
            f"{scheme}:// (e.g. pip install goldfish-backend-{package})"))
        if message.startswith("unknown"):
            message = f"no storage backend for {scheme}:// URIs"
        return message, hint

    def verify(self) -> list[LoadError]:
        """Import everything plugins registered by ``"module:attr"`` name — factories, config
        models, config sections — and report each failure as its plugin's error. Doctor runs
        this so a typo shows before any run needs the backend."""
        reg = self.registries
        targets: list[tuple[str, str, Any]] = []
        for name, spec in reg.compute.items():
            targets += [(spec.plugin, f"compute backend {name!r} factory", spec.factory),
                        (spec.plugin, f"compute backend {name!r} config_model",
                         spec.config_model)]
        for scheme, sspec in reg.storage.items():
            targets += [(sspec.plugin, f"storage backend {scheme}:// factory", sspec.factory),
                        (sspec.plugin, f"storage backend {scheme}:// config_model",
                         sspec.config_model)]
        owners = self._section_owners()
        for section, model in reg.config_sections.items():
            targets.append((owners.get(section, "?"), f"config section {section!r}", model))
        errors = []
        for plugin, what, target in targets:
            if target is None:
                continue
            try:
                resolve(target)
            except Exception as exc:
                errors.append(LoadError(plugin, f"{what}: {target!r} cannot be imported "
                                                f"({type(exc).__name__}: {exc})"))
        return errors

    def registrations(self) -> dict[str, dict[str, list[str]]]:
        """What each plugin registers: ``{plugin: {"compute_backends": [...],
        "storage_schemes": [...], "config_sections": [...], "profiles": [...],
        "commands": [...]}}``."""
        import argparse

        out: dict[str, dict[str, list[str]]] = {}

        def add(plugin: str, kind: str, name: str) -> None:
            out.setdefault(plugin, {}).setdefault(kind, []).append(name)

        reg = self.registries
        for name, spec in reg.compute.items():
            add(spec.plugin, "compute_backends", name)
        for scheme, sspec in reg.storage.items():
            add(sspec.plugin, "storage_schemes", f"{scheme}://")
        for section, owner in self._section_owners().items():
            add(owner, "config_sections", section)
        for name, offer in reg.profiles.items():
            add(offer.plugin, "profiles", name)
        for impl in self.pm.hook.register_commands.get_hookimpls():
            parser = argparse.ArgumentParser(add_help=False)
            sub = parser.add_subparsers()
            self._call_one(impl, "register_commands", cli=sub, command=None)
            for command in sub.choices:
                add(impl.plugin_name, "commands", command)
        return out

    def _section_owners(self) -> dict[str, str]:
        owners: dict[str, str] = {}
        for impl in self.pm.hook.register_config_sections.get_hookimpls():
            def record(section: str, model: Any, _p: str = impl.plugin_name) -> None:
                owners.setdefault(section, _p)
            self._call_one(impl, "register_config_sections", register=record)
        return owners

    def config_sections(self) -> dict[str, Any]:
        return {k: resolve(v) for k, v in self.registries.config_sections.items()}

    def add_commands(self, cli: argparse._SubParsersAction[Any], command: str | None = None) -> None:
        """Built-ins first, then plugins in load order; a plugin that fails here is reported in
        :attr:`load_errors` (``goldfish plugins``), never a crash of the CLI. With ``command``,
        plugins may add only that subcommand (see the hook)."""
        try:
            self.pm.hook.register_commands(cli=cli, command=command)
        except Exception as exc:  # pluggy stops at the failing plugin; the built-ins ran first
            self.load_errors.append(LoadError("register_commands", f"a plugin failed: {exc!r}"))

    # --- validators & reviewers -------------------------------------------------------------
    def validate_pipeline(self, pipeline: Any, project: Project) -> list[Any]:
        return _flatten(self.pm.hook.validate_pipeline(pipeline=pipeline, project=project))

    def validate_outputs(self, context: Any) -> list[Any]:
        return _flatten(self.pm.hook.validate_outputs(context=context))

    def check_metrics(self, context: Any) -> list[Any]:
        return _flatten(self.pm.hook.check_metrics(context=context))

    def review_before_run(self, context: Any) -> list[Any]:
        return [r for r in self.pm.hook.review_before_run(context=context) if r is not None]

    def review_after_run(self, context: Any) -> list[Any]:
        return [r for r in self.pm.hook.review_after_run(context=context) if r is not None]

    def summarize_failure(self, context: Any) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.pm.hook.summarize_failure(context=context)
        return result

    # --- memory ---------------------------------------------------------------------------
    def record_event(self, event: Event, project: Project) -> list[LoadError]:
        """Fan the event out to every store; failures are returned, never raised."""
        failures = []
        args = {"event": event, "project": project}
        for name, function, argnames in self._implementations("record_event"):
            try:
                function(**{k: v for k, v in args.items() if k in argnames})
            except Exception as exc:
                failures.append(LoadError(name, f"record_event: {exc!r}"))
        return failures

    def recall(self, query: str, project: Project, kinds: list[str] | None = None,
               limit: int = 20) -> list[Hit]:
        hits = _flatten(self.pm.hook.recall(query=query, project=project, kinds=kinds,
                                            limit=limit))
        hits.sort(key=lambda h: -h.score)
        return hits[:limit]

    def render_orientation(self, project: Project) -> str | None:
        result: str | None = self.pm.hook.render_orientation(project=project)
        return result

    # --- lifecycle ------------------------------------------------------------------------
    def on_version_saved(self, project: Project, workspace: str, version: int, commit: str) -> None:
        self._fire("on_version_saved", project=project, workspace=workspace, version=version,
                   commit=commit)

    def on_run_started(self, project: Project, run: Any) -> None:
        self._fire("on_run_started", project=project, run=run)

    def on_run_finished(self, project: Project, run: Any) -> None:
        self._fire("on_run_finished", project=project, run=run)

    def on_stage_finished(self, project: Project, run: Any, stage: str, state: str) -> None:
        self._fire("on_stage_finished", project=project, run=run, stage=stage, state=state)


def _flatten(results: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for r in results:
        if r:
            out.extend(r)
    return out


def _trace(pm: pluggy.PluginManager) -> None:
    def before(hook_name: str, hook_impls: Any, kwargs: Mapping[str, Any]) -> None:
        shown = {k: _short(v) for k, v in kwargs.items()}
        print(f"[goldfish trace] {hook_name}({shown}) -> "
              f"{[i.plugin_name for i in hook_impls]}", file=sys.stderr)

    def after(outcome: Any, hook_name: str, hook_impls: Any, kwargs: Mapping[str, Any]) -> None:
        try:
            result = outcome.get_result()
        except BaseException as exc:  # pragma: no cover - shown, then re-raised by pluggy
            result = f"raised {exc!r}"
        print(f"[goldfish trace] {hook_name} returned {_short(result)}", file=sys.stderr)

    pm.add_hookcall_monitoring(before, after)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def new_manager() -> pluggy.PluginManager:
    # pluggy (and the inspect it imports) only when a manager is built: a command run from the
    # recorded plugin set (PluginIndex) never needs one
    import pluggy

    from goldfish import hookspecs

    pm = pluggy.PluginManager("goldfish")
    pm.add_hookspecs(hookspecs)
    return pm


def _validation_error() -> type[Exception]:
    """pluggy's PluginValidationError; only looked up when a registration failed."""
    import pluggy

    return pluggy.PluginValidationError


def build(*, load_entry_points: bool = True, builtins: bool = True,
          extra: Iterable[tuple[str, object]] = ()) -> Plugins:
    """Build a plugin manager with the built-ins, discovered plugins and ``extra`` (name, obj)."""
    pm = new_manager()
    errors: list[LoadError] = []
    builtin_names: list[str] = []
    sources: dict[str, str] = {}
    if builtins:
        for name, module in BUILTIN_PLUGINS.items():
            try:
                pm.register(importlib.import_module(module), name=name)
                builtin_names.append(name)
                sources[name] = module
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    errors.append(LoadError(name, repr(exc)))
            except Exception as exc:
                errors.append(LoadError(name, repr(exc)))
    if load_entry_points:
        errors.extend(_discover(pm, sources))
        errors.extend(_load_plugins_dir(pm))
    for name, obj in extra:
        pm.register(obj, name=name)
    errors.extend(_reject_unknown_hooks(pm))
    try:
        pm.check_pending()
    except _validation_error() as exc:
        errors.append(LoadError(getattr(exc, "plugin_name", "?"), str(exc)))
    plugins = Plugins(pm, errors, builtin_names)
    if os.environ.get("GOLDFISH_TRACE_PLUGINS") == "1":
        _trace(pm)
    elif load_entry_points and builtins and not extra and PluginIndex.usable() \
            and PluginIndex.read() is None:
        PluginIndex.record(plugins, sources)
    return plugins


def _reject_unknown_hooks(pm: pluggy.PluginManager) -> list[LoadError]:
    """Drop every implementation of a hook no spec declares (a typo, or a hook from a newer
    Goldfish): pluggy's ``check_pending`` would reject the whole manager for it. The plugin's
    valid hooks stay registered; one without any is unregistered."""
    specs = [n for n, caller in vars(pm.hook).items()
             if not n.startswith("_") and caller.has_spec()]
    bad: dict[str, list[str]] = {}
    for hook_name, caller in list(vars(pm.hook).items()):
        if hook_name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                bad.setdefault(impl.plugin_name, []).append(hook_name)
    errors = []
    for plugin_name, hooks in bad.items():
        plugin = pm.get_plugin(plugin_name)
        valid = [c.name for c in pm.get_hookcallers(plugin) or [] if c.has_spec()]
        pm.unregister(name=plugin_name)
        for hook_name in hooks:  # no implementation left: drop the empty caller too
            caller = getattr(pm.hook, hook_name, None)
            if caller is not None and not caller.get_hookimpls():
                delattr(pm.hook, hook_name)
        details = "; ".join(f"unknown hook {h!r}" + (f" ({did_you_mean(h, specs)})"
                                                     if did_you_mean(h, specs) else "")
                            for h in sorted(hooks))
        if valid:
            pm.register(_only_hooks(plugin, valid), name=plugin_name)
            kept = f"kept its other hooks: {', '.join(sorted(valid))}"
            errors.append(LoadError(plugin_name, f"plugin {plugin_name!r}: {details}; {kept}"))
        else:
            errors.append(LoadError(plugin_name, f"plugin {plugin_name!r} not loaded: {details}"))
    return errors


def _only_hooks(plugin: object, names: list[str]) -> object:
    """A stand-in for ``plugin`` exposing only the hook implementations called ``names``."""
    import types

    stand_in = types.SimpleNamespace(**{n: getattr(plugin, n) for n in names})
    stand_in.__name__ = getattr(plugin, "__name__", type(plugin).__module__)
    stand_in.__wrapped__ = plugin
    return stand_in


def explain_validation(pm: pluggy.PluginManager, plugin: object, exc: Exception) -> str:
    """One line for a hook implementation pluggy refused: which arguments the spec lacks and
    the names it has."""
    import inspect

    for attr in dir(plugin):
        fn = getattr(plugin, attr, None)
        if not callable(fn) or pm.parse_hookimpl_opts(plugin, attr) is None:
            continue
        caller = getattr(pm.hook, attr, None)
        spec = caller.spec if caller is not None else None
        if spec is None:
            continue
        try:
            params = [p for p in inspect.signature(fn).parameters if p != "self"]
        except (TypeError, ValueError):
            continue
        unknown = [p for p in params if p not in spec.argnames]
        if unknown:
            near = [did_you_mean(p, list(spec.argnames)) for p in unknown]
            extra = "".join(f" ({n})" for n in near if n)
            return (f"hook {attr!r} takes argument(s) {', '.join(map(repr, unknown))} the "
                    f"spec does not have{extra}; expected names: {', '.join(spec.argnames)}")
    return " ".join(str(exc).split())


def plugins_dir_modules(folder: str) -> list[tuple[str, str]]:
    """(plugin name, module name) for every plugin module in a development folder: each
    ``*.py`` file and each package directory not starting with ``_`` or ``.``."""
    from pathlib import Path

    root = Path(folder)
    out = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.name.startswith(("_", ".")):
            continue
        if entry.suffix == ".py" and entry.is_file():
            out.append((entry.stem, entry.stem))
        elif (entry / "__init__.py").is_file():
            out.append((entry.name, entry.name))
    return out


def _plugins_dir_modules() -> list[tuple[str, str]]:
    folder = os.environ.get("GOLDFISH_PLUGINS_DIR")
    return plugins_dir_modules(folder) if folder and os.path.isdir(folder) else []


def _load_plugins_dir(pm: pluggy.PluginManager) -> list[LoadError]:
    """Plugins from ``GOLDFISH_PLUGINS_DIR`` (development without packaging): the folder goes
    on ``sys.path`` and each module in it is imported and registered under its own name."""
    folder = os.environ.get("GOLDFISH_PLUGINS_DIR")
    if not folder:
        return []
    if not os.path.isdir(folder):
        return [LoadError("GOLDFISH_PLUGINS_DIR", f"{folder} is not a directory")]
    allowed = _allow_list()
    if folder not in sys.path:
        sys.path.insert(0, folder)
    errors = []
    for name, module in plugins_dir_modules(folder):
        if allowed is not None and name not in allowed:
            continue
        if pm.has_plugin(name):
            errors.append(LoadError(name, f"{folder}/{module}: a plugin with this name is "
                                          "already registered"))
            continue
        try:
            plugin = importlib.import_module(module)
        except Exception as exc:
            errors.append(LoadError(name, f"{type(exc).__name__}: {exc}"))
            continue
        try:
            pm.register(plugin, name=name)
        except _validation_error() as exc:
            errors.append(LoadError(name, f"plugin {name!r} not loaded: "
                                          f"{explain_validation(pm, plugin, exc)}"))
    return errors


def _discover(pm: pluggy.PluginManager, sources: dict[str, str] | None = None
              ) -> list[LoadError]:
    """Register the ``goldfish.plugins`` entry points; ``sources`` gets each one's value."""
    allowed = _allow_list()
    errors: list[LoadError] = []
    if allowed is not None and not allowed:
        return errors
    cached = _cached_entry_points()
    loaded = (_load_cached(cached, allowed, errors) if cached is not None
              else _load_with_stevedore(allowed, errors))
    for name, plugin, value in loaded:
        if sources is not None and not pm.has_plugin(name):
            sources[name] = value
        if pm.has_plugin(name):
            errors.append(LoadError(name, "a plugin with this name is already registered"))
            continue
        try:
            pm.register(plugin, name=name)
        except _validation_error() as exc:
            errors.append(LoadError(name, f"plugin {name!r} not loaded: "
                                          f"{explain_validation(pm, plugin, exc)}"))
        except Exception as exc:
            errors.append(LoadError(name, f"{type(exc).__name__}: {exc}"))
    return errors


def _missing(names: Iterable[str]) -> list[LoadError]:
    return [LoadError(name, "GOLDFISH_LOAD_PLUGINS names it, but no installed plugin has that "
                            "name") for name in sorted(names)]


def _load_with_stevedore(allowed: set[str] | None,
                         errors: list[LoadError]) -> list[tuple[str, Any, str]]:
    from stevedore import ExtensionManager, NamedExtensionManager

    def on_failure(_manager: Any, entrypoint: Any, exc: BaseException) -> None:
        errors.append(LoadError(entrypoint.name, f"{type(exc).__name__}: {exc}"))

    mgr: ExtensionManager[Any]
    if allowed is None:
        mgr = ExtensionManager(namespace=ENTRY_POINT_GROUP, invoke_on_load=False,
                               on_load_failure_callback=on_failure)
    else:
        # Filters by name *before* importing, so an excluded broken plugin is never imported.
        mgr = NamedExtensionManager(namespace=ENTRY_POINT_GROUP, names=sorted(allowed),
                                    invoke_on_load=False, on_load_failure_callback=on_failure,
                                    on_missing_entrypoints_callback=lambda names:
                                    errors.extend(_missing(names)))
    _save_entry_points()
    return [(ext.name, ext.plugin, ext.entry_point.value) for ext in mgr.extensions]


def _load_cached(entry_points: list[tuple[str, str]], allowed: set[str] | None,
                 errors: list[LoadError]) -> list[tuple[str, Any, str]]:
    """Import the cached entry points exactly as stevedore would, failures captured alike."""
    out = []
    names = {name for name, _ in entry_points}
    if allowed is not None:
        errors.extend(_missing(allowed - names))
    for name, value in entry_points:
        if allowed is not None and name not in allowed:
            continue
        try:
            target = _import_value(value)
        except Exception as exc:
            errors.append(LoadError(name, f"{type(exc).__name__}: {exc}"))
            continue
        out.append((name, target, value))
    return out


def _import_value(value: str) -> Any:
    """A plugin as recorded: an entry point's ``module:attr`` resolved, or a module imported."""
    return resolve(value) if ":" in value else importlib.import_module(value)


def _cached_entry_points() -> list[tuple[str, str]] | None:
    """The ``goldfish.plugins`` entry points recorded for this exact installation, if any."""
    import json

    from goldfish import envcache

    raw = envcache.read("plugins")
    if raw is None:
        return None
    try:
        return [(str(n), str(v)) for n, v in json.loads(raw)]
    except (ValueError, TypeError):
        return None


def _save_entry_points() -> None:
    import json
    from importlib import metadata

    from goldfish import envcache

    found = sorted({(ep.name, ep.value)
                    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})
    envcache.write(json.dumps(found), "plugins")


def _describe(plugin: Any) -> tuple[str, str | None]:
    """Where a plugin object is defined: (``module NAME`` or ``MODULE:QUALNAME``, its file)."""
    if isinstance(plugin, type(os)):
        return f"module {plugin.__name__}", getattr(plugin, "__file__", None)
    cls = plugin if isinstance(plugin, type) else type(plugin)
    module = sys.modules.get(cls.__module__)
    return f"{cls.__module__}:{cls.__qualname__}", getattr(module, "__file__", None)


class PluginIndex:
    """What a full :func:`build` found, recorded for later processes of the same installation
    (``~/.cache/goldfish/plugin-index-<fingerprint>.txt``, :mod:`goldfish.envcache`, keyed by
    the installation alone):
    each registered plugin in registration order (name, entry point or module, where it is
    defined and that file's stamp), the load errors, each hook's implementations in call order
    and the commands each plugin registers. With it a short command (``goldfish save``) learns
    who implements what without importing a plugin or building the parser
    (:meth:`Plugins.from_index`). Not used with ``GOLDFISH_NO_CACHE=1``, ``GOLDFISH_PLUGINS_DIR``
    (development plugins) or ``GOLDFISH_TRACE_PLUGINS=1``; a recorded plugin file that changed
    (an editable plugin edited) makes the index unusable until the next full build rewrites
    it."""

    KIND = "plugin-index"
    FORMAT = 1

    def __init__(self, data: dict[str, Any]) -> None:
        self.builtins: list[str] = [str(n) for n in data["builtins"]]
        self.errors: list[tuple[str, str]] = [(str(n), str(e)) for n, e in data["errors"]]
        #: (name, entry point value or module, describe prefix, file)
        self.plugins: list[tuple[str, str, str, str | None]] = [
            (str(n), str(v), str(d), f if f is None else str(f)) for n, v, d, f, _ in
            data["plugins"]]
        self.stamps = {str(p[0]): str(p[4]) for p in data["plugins"]}
        self.calls: dict[str, list[tuple[str, list[str]]]] = {
            str(h): [(str(n), [str(a) for a in args]) for n, args in impls]
            for h, impls in data["calls"].items()}
        self.commands: dict[str, list[str]] = {str(n): [str(c) for c in cs]
                                               for n, cs in data["commands"].items()}
        self._loaded: dict[str, Any] = {}

    @staticmethod
    def usable() -> bool:
        return (not os.environ.get("GOLDFISH_PLUGINS_DIR")
                and os.environ.get("GOLDFISH_NO_CACHE") != "1"
                and os.environ.get("GOLDFISH_TRACE_PLUGINS") != "1")

    @classmethod
    def read(cls) -> PluginIndex | None:
        """The index of this installation, if recorded and every plugin file is unchanged."""
        import json

        if not cls.usable():
            return None
        raw = envcache.read(cls.KIND, installation=True)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            if data.get("format") != cls.FORMAT:
                return None
            index = cls(data)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        for name, _, _, file in index.plugins:
            if envcache.stamp(file) != index.stamps[name]:
                return None
        return index

    @classmethod
    def record(cls, plugins: Plugins, sources: dict[str, str]) -> None:
        """Write the index of a full build (``sources``: how each plugin was loaded)."""
        import argparse
        import json

        pm = plugins.pm
        rows = []
        for name, plugin in pm.list_name_plugin():
            if name not in sources:  # registered some other way: no index
                return
            prefix, file = _describe(plugin)
            rows.append([name, sources[name], prefix, file, envcache.stamp(file)])
        calls = {}
        for hook, caller in vars(pm.hook).items():
            if not hook.startswith("_") and caller.has_spec():
                calls[hook] = [[impl.plugin_name, list(impl.argnames)]
                               for impl in reversed(caller.get_hookimpls())]
        commands: dict[str, list[str]] = {}
        for impl in pm.hook.register_commands.get_hookimpls():
            sub = argparse.ArgumentParser(add_help=False).add_subparsers()
            args = {"cli": sub, "command": None}
            try:
                impl.function(**{k: v for k, v in args.items() if k in impl.argnames})
                commands[impl.plugin_name] = sorted(sub.choices)
            except Exception:
                commands[impl.plugin_name] = ["*"]  # unknown: no command may take a short cut
        envcache.write(json.dumps({
            "format": cls.FORMAT, "builtins": sorted(plugins._builtin_names),
            "errors": [[e.name, e.error] for e in plugins.load_errors], "plugins": rows,
            "calls": calls, "commands": commands}), cls.KIND, installation=True)

    def load(self, name: str) -> Any:
        """The plugin object registered as ``name``, imported as the build imported it."""
        if name not in self._loaded:
            value = next(v for n, v, _, _ in self.plugins if n == name)
            self._loaded[name] = _import_value(value)
        return self._loaded[name]

    def owns_command(self, command: str, plugin: str) -> bool:
        """True when ``plugin`` alone registers ``command`` (as far as the index knows)."""
        return all((command not in names and "*" not in names) or name == plugin
                   for name, names in self.commands.items()) and \
            command in self.commands.get(plugin, [])


_default: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, built on first use."""
    global _default
    if _default is None:
        _default = build()
    return _default


def use_index(command: str, owner: str) -> bool:
    """Make the process-wide manager the recorded plugin set (:meth:`Plugins.from_index`) for
    running ``command``, which the built-in plugin ``owner`` must alone register. False (and
    nothing changed) when a manager is already built, there is no usable index, or another
    plugin registers the command or may do so."""
    global _default
    if _default is not None:
        return False
    index = PluginIndex.read()
    if index is None or owner not in index.builtins or not index.owns_command(command, owner):
        return False
    _default = Plugins.from_index(index)
    return True


def set_plugins(plugins: Plugins | None) -> Plugins | None:
    """Swap the process-wide manager (tests); returns the previous one."""
    global _default
    previous, _default = _default, plugins
    return previous


Factory = Callable[..., Any]
