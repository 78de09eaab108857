"""Project commands: ``init``, ``config check|show``, ``plugins``, ``doctor``.

Only argparse is imported here: this module is loaded whenever the parser is built, and the
services behind each command are imported by its handler.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldfish.configcache import ProjectConfig
    from goldfish.plugins import Plugins
    from goldfish.project import Project


def register(cli: argparse._SubParsersAction[Any]) -> None:
    init = cli.add_parser("init", help="create a project (goldfish.yaml, workspaces/, .goldfish/)",
                          description="Create a Goldfish project in PATH (default: here).")
    init.add_argument("path", nargs="?", metavar="PATH", help="directory (created if missing)")
    init.add_argument("--name", help="project name (default: the directory's name)")
    init.add_argument("--slots", type=_slots, default=3, metavar="N",
                      help="number of workspace slots, 1–20 (default: 3)")
    init.add_argument("--from", dest="from_dir", metavar="DIR",
                      help="import existing code from DIR as version 1 of a workspace in w1")
    init.add_argument("--workspace", metavar="NAME",
                      help="name of the workspace created by --from (default: DIR's name)")
    init.add_argument("--goal", default="", help="what the project is trying to achieve")
    init.set_defaults(handler=cmd_init)

    config = cli.add_parser("config", help="check or show goldfish.yaml")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser("check", help="validate goldfish.yaml and report every problem")
    check.set_defaults(handler=cmd_config_check)
    show = config_sub.add_parser("show", help="print the configuration with defaults filled in")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.set_defaults(handler=cmd_config_show)

    plugins = cli.add_parser("plugins", help="list installed plugins, their hooks and load errors")
    plugins.add_argument("--json", action="store_true", help="print machine-readable JSON")
    plugins.set_defaults(handler=cmd_plugins)

    plugin = cli.add_parser("plugin", help="create a plugin package (a backend with its tests)")
    plugin_sub = plugin.add_subparsers(dest="plugin_command", metavar="ACTION", required=True)
    new = plugin_sub.add_parser("new", help="write goldfish-NAME-plugin/: a compute and a storage "
                                            "backend with the conformance suites wired in")
    new.add_argument("name", metavar="NAME", help="backend name: lower-case words joined by '-'")
    new.add_argument("--dir", default=".", metavar="DIR", help="where to create it (default: here)")
    new.set_defaults(handler=cmd_plugin_new)

    doctor = cli.add_parser("doctor", help="check the installation and the project")
    doctor.add_argument("--json", action="store_true", help="print machine-readable JSON")
    doctor.set_defaults(handler=cmd_doctor)


def _slots(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (use 1–20)") from None
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"{value} is out of range (use 1–20)")
    return value


# --- init -------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from goldfish.init import init_project

    path = args.path or args.project or "."
    project = init_project(path, name=args.name, slots=args.slots, from_dir=args.from_dir,
                           workspace=args.workspace, goal=args.goal)
    config = project.config
    print(f"Created Goldfish project {config.project!r} in {project.root}")
    print(f"  slots:   {', '.join(f'workspaces/w{i}' for i in range(1, config.slots + 1))}")
    if args.from_dir:
        print(f"  w1:      workspace imported from {args.from_dir} (version 1)")
    print("  next:    edit goldfish.yaml (goal, invariants, profiles), then "
          "`goldfish config check`")
    return 0


# --- config -----------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> ProjectConfig:
    from goldfish.cli.common import open_project

    return open_project(args).config


def cmd_config_check(args: argparse.Namespace) -> int:
    from goldfish.cli.common import open_project

    # validated for real: a check must not answer from the cache record
    config = open_project(args).reload_config(cached=False)
    print(f"OK: {config.path} is valid")
    for line in summary(config):
        print(f"  {line}")
    return 0


def summary(config: ProjectConfig) -> list[str]:
    core = {"project", "goal", "slots", "invariants", "profiles", "default_profile", "storage",
            "limits"}
    offered = sorted(n for n in config.profiles
                     if config.profile_source(n).startswith("plugin "))
    profiles = ", ".join(f"{name} ({p.backend})" for name, p in sorted(config.profiles.items())
                         if name not in offered)
    extra = sorted(k for k in config.values if k not in core)
    out = [f"project:  {config.project}", f"slots:    {config.slots}",
           f"profiles: {profiles} (default: {config.default_profile})",
           f"storage:  {config.storage}"]
    if offered:
        out.insert(3, f"ready profiles from plugins: {', '.join(offered)} (`goldfish profiles`)")
    if config.invariants:
        out.append(f"invariants: {len(config.invariants)}")
    if extra:
        out.append(f"sections: {', '.join(extra)}")
    return out


def cmd_config_show(args: argparse.Namespace) -> int:
    config = _load(args)
    data = config.to_dict()
    if args.json:
        from goldfish.cli.common import emit_json

        emit_json(data)
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return 0


# --- plugins ----------------------------------------------------------------------------------


def plugin_report(plugins: Plugins) -> dict[str, Any]:
    registries = plugins.registries  # collecting them surfaces registration errors too
    registered = plugins.registrations()
    errors = [*plugins.load_errors, *registries.errors]
    return {
        "plugins": [
            {"name": i.name, "module": i.module, "distribution": i.distribution,
             "version": i.version, "builtin": i.builtin, "hooks": list(i.hooks),
             "registers": registered.get(i.name, {})} for i in plugins.infos()],
        "errors": [{"name": e.name, "error": e.error} for e in errors],
        "compute_backends": {n: s.plugin for n, s in sorted(registries.compute.items())},
        "storage_schemes": {n: s.plugin for n, s in sorted(registries.storage.items())},
        "config_sections": sorted(registries.config_sections),
    }


_KINDS = (("compute_backends", "backends"), ("storage_schemes", "storage"),
          ("config_sections", "sections"), ("commands", "commands"))


def cmd_plugins(args: argparse.Namespace) -> int:
    """Exit 1 when any plugin failed to load (or registered something twice)."""
    from goldfish.plugins import get_plugins

    report = plugin_report(get_plugins())
    failed = 1 if report["errors"] else 0
    if args.json:
        from goldfish.cli.common import emit_json

        emit_json(report)
        return failed
    for info in report["plugins"]:
        kind = "builtin" if info["builtin"] else "plugin"
        source = info["distribution"] or info["module"]
        print(f"{info['name']:<16} {info['version'] or '-':<8} {kind:<8} {source}")
        print(f"{'':<16} hooks: {', '.join(info['hooks']) or '(none)'}")
        for key, label in _KINDS:
            names = info["registers"].get(key)
            if names:
                print(f"{'':<16} {label}: {', '.join(names)}")
    for err in report["errors"]:
        print(f"{err['name']:<16} {'-':<8} {'ERROR':<8} {err['error']}")
    if report["errors"]:
        print("\nhint: a plugin that fails to load is skipped; fix or uninstall it, or limit "
              "plugins with GOLDFISH_LOAD_PLUGINS=name1,name2")
    return failed


def cmd_plugin_new(args: argparse.Namespace) -> int:
    from goldfish.scaffold import create

    target = create(args.name, Path(args.dir))
    print(f"created {target}: a backend {args.name!r} (compute) and dir:// (storage) with "
          "their tests")
    print(f"next: cd {target} && pip install -e . pytest && pytest tests  "
          "(then replace the backend's insides; docs/plugins.md explains the contract)")
    return 0


# --- doctor -----------------------------------------------------------------------------------


@dataclass
class Check:
    status: str  # ok | warn | fail
    subject: str
    detail: str


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = diagnose(getattr(args, "project", None))
    if args.json:
        from goldfish.cli.common import emit_json

        emit_json([c.__dict__ for c in checks])
    else:
        for c in checks:
            print(f"{c.status:<5} {c.subject}: {c.detail}")
    return 1 if any(c.status == "fail" for c in checks) else 0


def diagnose(explicit: str | None = None) -> list[Check]:
    """Every doctor check; pure reads, nothing is created or migrated."""
    import platform

    from goldfish import __version__
    from goldfish.plugins import get_plugins

    checks = [Check("ok" if sys.version_info >= (3, 11) else "fail", "python",
                    f"{platform.python_version()} ({sys.executable})"),
              Check("ok", "goldfish", __version__)]
    plugins = get_plugins()
    report = plugin_report(plugins)
    external = [p["name"] for p in report["plugins"] if not p["builtin"]]
    checks.append(Check("ok", "plugins", f"{len(report['plugins'])} loaded"
                        + (f" (installed: {', '.join(external)})" if external else "")))
    for err in report["errors"]:
        skipped = "" if plugins.pm.has_plugin(err["name"]) else " (skipped)"
        checks.append(Check("warn", f"plugin {err['name']}", f"{err['error']}{skipped}"))
    checks += _registered_names(plugins)
    checks.append(Check("ok" if report["compute_backends"] else "fail", "compute backends",
                        ", ".join(report["compute_backends"]) or "none"))
    checks.append(Check("ok" if report["storage_schemes"] else "fail", "storage schemes",
                        ", ".join(f"{s}://" for s in report["storage_schemes"]) or "none"))
    checks += _project_checks(explicit, plugins)
    return checks


def _registered_names(plugins: Plugins) -> list[Check]:
    """Import every factory and config model plugins registered by name, so a typo in one is
    reported as that plugin's error now, not when a run first needs the backend."""
    return [Check("warn", f"plugin {e.name}", e.error) for e in plugins.verify()]


def _project_checks(explicit: str | None, plugins: Plugins) -> list[Check]:
    from goldfish.errors import GoldfishError, ProblemsError
    from goldfish.project import Project

    try:
        project = Project.find(explicit=explicit, plugins=plugins)
    except GoldfishError as exc:
        status = "fail" if explicit else "warn"
        return [Check(status, "project", f"{exc.message} ({exc.hint})")]
    checks = [Check("ok", "project", str(project.root))]
    try:
        config = project.reload_config(cached=False)  # a check validates for real
        checks.append(Check("ok", "config", f"{project.config_path.name} is valid"))
    except ProblemsError as exc:
        config = None
        checks.append(Check("fail", "config", f"{len(exc.problems)} problem(s): run "
                                              "`goldfish config check`"))
        checks += [Check("fail", "config", p.render()) for p in exc.problems]
    except GoldfishError as exc:
        config = None
        checks.append(Check("fail", "config", exc.message))
    checks += _missing_backends(project, plugins, config)
    checks += _storage_backend(plugins, config)
    if config is not None:
        from goldfish.runs import backends

        checks += [Check(*c) for c in backends.diagnose(project)]  # engine, image, credentials…
    checks.append(_database_check(project))
    database = checks[-1]
    checks.append(_repository_check(project))
    if checks[-1].status == "ok":
        checks += _store_checks(project)
    checks += _backup_checks(project, database)
    return checks


def _backup_checks(project: Project, database: Check) -> list[Check]:
    """When the last backup was taken; with a damaged database, the command that restores it."""
    import time

    from goldfish.backup.take import latest_known
    from goldfish.cli.backup_cmds import restore_command

    record = latest_known(project.goldfish_dir)
    if record is None:
        checks = [Check("warn", "backup", "none taken yet: `goldfish backup` takes one; "
                                          "`backup: {every_hours: 24}` in goldfish.yaml takes "
                                          "them on a schedule")]
    else:
        age = max(0.0, time.time() - float(record["at"]))
        ago = (f"{age / 86400:.1f} days" if age >= 86400 else f"{age / 3600:.1f} hours"
               if age >= 3600 else f"{age / 60:.0f} minutes")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(record["at"])))
        checks = [Check("ok", "backup", f"last taken {ago} ago ({when}, {record['id']}) to "
                                        f"{record['dest']}")]
    if database.status == "fail":
        if record is None:
            checks.append(Check("fail", "restore", "no backup of this project is known here; "
                                "copy goldfish.db back from a copy of .goldfish/ if you have one"))
        else:
            checks.append(Check("fail", "restore", "restore the latest backup (the damaged "
                                "files are kept under .goldfish/replaced/): "
                                + restore_command(str(record["source"]), str(project.root))))
    return checks


def _missing_backends(project: Project, plugins: Plugins,
                      config: ProjectConfig | None) -> list[Check]:
    """Profiles naming a backend no installed plugin provides (read from the raw file, so this
    works even when the config does not load)."""
    from goldfish.config import DEFAULT_PROFILES, parse_yaml
    from goldfish.errors import GoldfishError

    if config is not None:
        profiles = {n: p.backend for n, p in config.profiles.items()}
    else:
        try:
            data, _, _ = parse_yaml(project.config_path.read_text(encoding="utf-8"), "")
        except (OSError, UnicodeDecodeError):
            return []
        raw = data.get("profiles") if isinstance(data, dict) else None
        raw = {**DEFAULT_PROFILES, **(raw if isinstance(raw, dict) else {})}
        profiles = {str(n): str(p["backend"]) for n, p in raw.items()
                    if isinstance(p, dict) and isinstance(p.get("backend"), str)}
    known = plugins.registries.compute
    missing = [Check("fail", f"profile {name}", f"backend {backend!r} is not installed "
                     f"(installed: {', '.join(sorted(known)) or 'none'})")
               for name, backend in sorted(profiles.items()) if backend not in known]
    for name, backend in sorted(profiles.items()):
        if backend in known:
            try:
                known[backend].load()
            except GoldfishError as exc:
                missing.append(Check("fail", f"profile {name}", exc.message))
    return missing or [Check("ok", "profiles", ", ".join(f"{n} ({b})" for n, b in
                                                         sorted(profiles.items())))]


def _storage_backend(plugins: Plugins, config: ProjectConfig | None) -> list[Check]:
    """The project's storage backend can be imported (its plugin's registration has no typo)."""
    from goldfish.errors import GoldfishError

    if config is None:
        return []
    scheme = config.storage.partition("://")[0]
    try:
        plugins.storage_backend(scheme).load()
    except GoldfishError as exc:
        return [Check("fail", "storage", exc.message)]
    return []


def _database_check(project: Project) -> Check:
    import sqlite3

    from goldfish.db import latest_migration
    from goldfish.faults import FaultError, check_database_file, damaged_database

    path = project.db_path
    try:
        check_database_file(path, project.repo_path)
    except FaultError as exc:
        return Check("fail", "database", f"{exc.message}; to repair: {exc.hint}")
    if not path.is_file():
        return Check("fail", "database", f"{path} is missing (re-create the project with "
                                         "`goldfish init`)")
    latest = latest_migration()
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            verdict = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    if verdict != "ok":
        fault = damaged_database(path, verdict)
        return Check("fail", "database", f"{fault.message}; to repair: {fault.hint}")
    if version > latest:
        return Check("fail", "database", f"schema {version} is newer than this Goldfish "
                                         f"({latest}); upgrade goldfish-core")
    status = "ok" if mode.lower() == "wal" else "warn"
    pending = "" if version == latest else f", {latest - version} migration(s) pending " \
                                           "(applied on next use)"
    return Check(status, "database", f"schema {version}, journal {mode}{pending}")


#: how to repair a damaged version store (doctor prints it under the damage it found)
STORE_REPAIR = ("restore .goldfish/versions.git from a backup of the project (copy it over the "
                "damaged one); an object another copy of the project still holds can be copied "
                "into versions.git/objects/ by its id; versions that use none of the damaged "
                "objects keep working meanwhile")


def _store_checks(project: Project) -> list[Check]:
    """Every object of the version store read back, every ref checked (see ``verify_store``)."""
    from goldfish.snapshot import verify_store

    report = verify_store(project.repo_path)
    if report.ok:
        return [Check("ok", "version store", f"{report.objects} object(s) readable, "
                                             f"{report.refs} ref(s) point to commits")]
    checks = [Check("fail", "version store", f"damaged object {oid}: {why}")
              for oid, why in report.damaged]
    checks += [Check("fail", "version store", f"ref {ref} {why}") for ref, why in report.dangling]
    checks.append(Check("fail", "version store", f"{len(report.damaged)} damaged object(s), "
                        f"{len(report.dangling)} broken ref(s); to repair: {STORE_REPAIR}"))
    return checks


def _repository_check(project: Project) -> Check:
    path = project.repo_path
    if not path.is_dir():
        return Check("fail", "versions repository", f"{path} is missing")
    try:
        from dulwich.repo import Repo

        repo = Repo(str(path))
        try:
            bare = repo.bare
            refs = len([r for r in repo.get_refs() if r.startswith(b"refs/tags/")])
        finally:
            repo.close()
    except Exception as exc:
        return Check("fail", "versions repository", f"{path} cannot be opened: {exc}")
    if not bare:
        return Check("warn", "versions repository", f"{path} is not a bare repository")
    return Check("ok", "versions repository", f"{path.name} ({refs} version tag(s))")

