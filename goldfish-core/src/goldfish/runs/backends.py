"""What compute backends may offer beyond the contract, found by method (never by name).

* ``reap_orphans(live_jobs: set[str]) -> list[str]`` — cost guard: delete resources (VMs labelled
  with the project) that no live job owns; :func:`reap_orphans` hands it the job ids of every
  active stage run. The server's background reconciler runs it every :data:`INTERVAL` seconds
  (listing VMs costs API calls, so it is not part of the pass every CLI command runs).
* ``running() -> list[dict]`` — what runs now and its hourly price (``goldfish profiles``).
* ``drain_pool() -> list[dict]`` — delete the idle workers a backend keeps warm (name, zone,
  profile, hourly_usd of each); ``goldfish pool drain`` and the ``pool_drain`` tool.
* ``diagnose(profile_name, profile) -> list[(status, subject, detail)]`` — ``goldfish doctor``
  checks (an engine's version and runtimes, a missing image, credentials, project, API, bucket),
  each detail naming the fix and never a secret.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from goldfish.runs import states

INTERVAL = 300.0


def live_jobs(project: Any) -> set[str]:
    marks = ",".join("?" * len(states.ACTIVE))
    return {str(r[0]) for r in project.db.query(
        f"SELECT job_id FROM stage_runs WHERE state IN ({marks}) AND job_id IS NOT NULL",
        states.ACTIVE)}


def offering(project: Any, method: str, *, offered: bool = True
             ) -> Iterator[tuple[str, Callable[..., Any]]]:
    """``(profile, bound method)`` for each profile whose backend has ``method``; a backend
    that cannot even be built is skipped with a warning. Profiles a plugin offers
    (``register_profiles``) count only once a stage has run on them (installing a backend
    that offers profiles does not make anything ask a cloud nobody uses; ``offered=False``
    leaves them out altogether, for `doctor`, which must not depend on a readable database),
    then once per backend, and not at all when a written profile already uses that backend: six GCE presets
    are one VM listing, one doctor check, one orphan sweep."""
    from goldfish.runs.engine import Engine

    engine = Engine(project)
    config = project.config
    plugin_offered = {n for n in config.profiles
                      if config.profile_source(n).startswith("plugin ")}
    if plugin_offered and not offered:
        offered_unused = plugin_offered
    elif plugin_offered:
        try:
            used = {str(r[0]) for r in project.db.query(
                "SELECT DISTINCT profile FROM stage_runs")}
        except Exception:  # a damaged database is doctor's own finding, not a reason to stop
            used = set()
        offered_unused = plugin_offered - used
    else:
        offered_unused = set()
    covered = {config.profiles[n].backend for n in config.profiles if n not in plugin_offered}
    for name in sorted(config.profiles):
        if name in offered_unused:
            continue
        if name in plugin_offered:
            backend = config.profiles[name].backend
            if backend in covered:
                continue
            covered.add(backend)
        try:
            found = getattr(engine.backend_for(name), method, None)
        except Exception as exc:
            print(f"goldfish: warning: profile {name}: {exc}", file=sys.stderr)
            continue
        if callable(found):
            yield name, found


def reap_orphans(project: Any) -> list[str]:
    """Ask each profile's backend that can to delete what no live job owns; returns names."""
    deleted: list[str] = []
    live = live_jobs(project)
    for name, reap in offering(project, "reap_orphans"):
        try:
            deleted += [d for d in reap(live) if d not in deleted]
        except Exception as exc:  # one unreachable cloud must not stop the others
            print(f"goldfish: warning: could not look for orphaned resources of profile "
                  f"{name}: {exc}", file=sys.stderr)
    return deleted


def drain_pool(project: Any) -> list[dict[str, Any]]:
    """Ask each backend that keeps warm workers to delete its idle ones; returns them."""
    drained: list[dict[str, Any]] = []
    for name, drain in offering(project, "drain_pool"):
        seen = {d["name"] for d in drained}
        try:
            drained += [d for d in drain() if d["name"] not in seen]
        except Exception as exc:
            drained.append({"name": f"({name})", "error": f"{type(exc).__name__}: "
                                                          f"{str(exc)[:200]}"})
    if any("error" not in d for d in drained):
        from goldfish.memory import write_state

        write_state(project)  # STATE.md no longer mentions the idle workers
    return drained


def running(project: Any) -> list[dict[str, Any]]:
    """Every backend's running resources, each with its ``profile``; errors become entries."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, listing in offering(project, "running"):
        try:
            for item in listing():
                key = str(item.get("name"))
                if key not in seen:
                    seen.add(key)
                    out.append({"profile": name, **item})
        except Exception as exc:
            out.append({"profile": name, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    return out


def profiles_report(project: Any) -> dict[str, Any]:
    """What ``goldfish profiles --json`` and the MCP ``profiles`` tool answer: the compute
    profiles (backend and resources) and where each comes from (``sources``), the default, the
    installed backends with their plugin and capabilities, what runs now, ``cannot_run`` (the
    profiles whose backend refuses every run, with why and what to use instead) and the warm
    pool."""
    from goldfish.runs.preflight import refusals
    from goldfish.runs.workers import report

    config = project.config
    backends = {}
    for name, spec in sorted(project.plugins.registries.compute.items()):
        caps = spec.capabilities
        backends[name] = {"plugin": spec.plugin,
                          "capabilities": caps.__dict__ if hasattr(caps, "__dict__") else caps}
    profiles = {name: p.to_dict() for name, p in config.profiles.items()}
    return {"default": config.default_profile, "profiles": profiles,
            "sources": {name: config.profile_source(name) for name in profiles},
            "backends": backends, "running": running(project),
            "cannot_run": {name: {"message": exc.message, "hint": exc.hint}
                           for name, exc in refusals(project).items()},
            "pool": report(project)}


def diagnose(project: Any) -> list[tuple[str, str, str]]:
    """``goldfish doctor``'s lines from every profile whose backend offers
    ``diagnose(profile_name, profile)``; each backend words its own subjects (naming the profile
    where a line is about it), and a line several profiles give (one engine behind two docker
    profiles) shows once."""
    checks: list[tuple[str, str, str]] = []
    profiles = project.config.profiles
    for name, check in offering(project, "diagnose", offered=False):
        try:
            checks += [(str(status), str(subject), str(detail))
                       for status, subject, detail in check(name, profiles[name])]
        except Exception as exc:
            checks.append(("fail", f"profile {name}", f"backend {profiles[name].backend!r} "
                                                      f"could not check itself: {exc}"))
    return list(dict.fromkeys(checks))


class Schedule:
    """Runs :func:`reap_orphans` at most every ``interval`` seconds."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.last = 0.0

    def tick(self, project: Any) -> list[str]:
        now = time.monotonic()
        if now - self.last < self.interval:
            return []
        self.last = now
        return reap_orphans(project)
