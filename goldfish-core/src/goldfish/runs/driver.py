"""A run's driver: one detached process per run that takes it to its end with nobody watching.

``python -m goldfish.runs.driver --project ROOT RUN_ID`` is started by :func:`start` right after
a run is created (``Engine.run`` without ``wait``), and by any reconcile pass that finds an active
run without a live driver (the driver was killed, the machine restarted, ``run --wait`` was
interrupted). It runs in its own session (a closed terminal does not end it), with stdin from
``/dev/null`` and stdout/stderr appended to ``.goldfish/runs/<run>/driver.log``, and loops
:meth:`~goldfish.runs.engine.Engine.wait` — advance, then block until something may have changed
(a stage's exit, a metrics flush, another process's commit; a slow poll as fallback) — until the
run is final, then exits.

Who drives: a driver holds the lease ``driver:<run>`` (renewed every quarter of its TTL), so at
most one driver per run is alive and :func:`alive` is one read of the ``leases`` table; the work
itself still happens under the run's own lease ``run:<id>``, taken per advance, so a waiting
``run --wait``, ``cancel`` or a reconcile pass can act between two of the driver's looks and
nothing is done twice. ``driver.json`` next to the log records the driver's pid, ``/proc`` start
time and boot id (for people, and for tests that must not leave drivers behind).

The environment: the driver gets its starter's environment — it launches stages (a profile's
``env_passthrough`` values come from it) and talks to compute backends (credentials) exactly as
the starter would — with ``GOLDFISH_LOAD_PLUGINS`` set to the plugins the starter had, so its
hooks are the same. Nothing of the environment is written anywhere. A starter whose plugin set a
child cannot reproduce (a plugin object registered in-process, as tests do) starts no driver;
its runs are driven by whoever waits or reconciles. ``GOLDFISH_NO_DRIVER=1`` turns drivers off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.runs import lease

if TYPE_CHECKING:
    from goldfish.project import Project

TTL = 60.0
RECORD_FILE = "driver.json"
LOG_FILE = "driver.log"

#: Drivers this process started (reaped by :func:`stop_drivers`, or by ``subprocess`` itself).
_started: list[subprocess.Popen[bytes]] = []


def lease_name(run_id: str) -> str:
    return f"driver:{run_id}"


def enabled() -> bool:
    return os.environ.get("GOLDFISH_NO_DRIVER") != "1"


def alive(project: Project, run_id: str) -> bool:
    """Does a live driver hold ``run_id``?"""
    return lease.busy(project, lease_name(run_id))


def start(project: Project, run_id: str) -> int | None:
    """Start a detached driver for ``run_id`` unless one is alive; its pid, else None (drivers
    off, one already alive, or a plugin set a child process cannot reproduce)."""
    if not enabled():
        return None
    allow = project.plugins.child_allow_list()
    if allow is None or alive(project, run_id):
        return None
    run_dir = project.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["GOLDFISH_LOAD_PLUGINS"] = allow
    env.pop("GOLDFISH_NO_DRIVER", None)
    try:
        with open(run_dir / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "goldfish.runs.driver", "--project", str(project.root),
                 run_id], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=project.root, env=env, start_new_session=True, close_fds=True)
    except OSError as exc:  # the run is recorded; waiters and reconcile passes still drive it
        print(f"goldfish: warning: could not start a driver for run {run_id} ({exc}); it "
              "advances whenever a Goldfish command runs", file=sys.stderr)
        return None
    _started[:] = [p for p in _started if p.poll() is None]
    _started.append(proc)
    return proc.pid


def ensure(project: Project, run_id: str) -> int | None:
    """:func:`start` for a run that may already have ended (nothing to drive then)."""
    from goldfish.runs import states

    row = project.db.one("SELECT state FROM runs WHERE id = ?", (run_id,))
    if row is None or row[0] in states.FINAL_RUN:
        return None
    return start(project, run_id)


def record(project: Project, run_id: str) -> dict[str, Any] | None:
    try:
        raw = json.loads((project.runs_dir / run_id / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def stop_drivers(roots: list[Path], timeout: float = 10.0) -> list[int]:
    """Kill every live driver recorded under ``roots`` (project directories, or up to three
    levels above them) and every driver this process started; returns their pids. For test
    teardown."""
    from goldfish.builtins.local_compute import _is_alive

    pids: set[int] = set()
    found = [path for root in roots for depth in range(4)
             for path in Path(root).glob("*/" * depth + f".goldfish/runs/*/{RECORD_FILE}")]
    for path in found:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = raw.get("pid")
        if _is_alive(pid, raw.get("start_time"), raw.get("boot_id")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)
            pids.add(int(pid))
    for proc in _started:
        if proc.poll() is None:
            proc.kill()
            pids.add(proc.pid)
    deadline = time.monotonic() + timeout
    for proc in _started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    _started.clear()
    for pid in pids:  # drivers started by other processes: wait until they are really gone
        while time.monotonic() < deadline and _is_alive(pid, None, None):
            time.sleep(0.02)
    return sorted(pids)


class _Replaced(Exception):
    """Our driver lease lapsed and another driver holds it now."""


def drive(project: Project, run_id: str) -> str:
    """The driver's body: hold ``driver:<run>`` and advance the run until it is final."""
    from goldfish.backup.schedule import Schedule, tick_quietly
    from goldfish.builtins import _supervisor as sup
    from goldfish.runs.engine import Engine

    name, holder = lease_name(run_id), lease.new_holder()
    if not lease.acquire(project, name, holder, TTL):
        _say(f"another driver already drives {run_id}; exiting")
        return "driven elsewhere"
    me = os.getpid()
    path = project.runs_dir / run_id / RECORD_FILE
    sup.write_json_atomic(path, {"pid": me, "start_time": sup.proc_start_time(me),
                                 "boot_id": sup.boot_id(), "run_id": run_id,
                                 "started_at": time.time()})
    renewed = time.monotonic()
    backups = Schedule()  # `backup: {every_hours: ...}`: a long run is a long-lived process

    def keep() -> None:
        nonlocal renewed
        if not project.root.is_dir():
            raise _Replaced("the project directory is gone")
        tick_quietly(backups, project)
        if time.monotonic() - renewed >= TTL / 4:
            if not lease.acquire(project, name, holder, TTL):
                raise _Replaced(f"another driver took over {run_id}")
            renewed = time.monotonic()

    _say(f"driver {me} drives {run_id}")
    try:
        state = Engine(project).wait(run_id, on_tick=keep)
        _say(f"run {run_id} ended {state}")
        return state
    except _Replaced as exc:
        _say(f"driver {me} stops: {exc}")
        return "driven elsewhere"
    finally:
        with contextlib.suppress(Exception):
            if (record(project, run_id) or {}).get("pid") == me:
                path.unlink()
        with contextlib.suppress(Exception):
            lease.release(project, name, holder)


def _say(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m goldfish.runs.driver",
                                     description="drive one run to its end (started detached)")
    parser.add_argument("--project", required=True, help="the project's root directory")
    parser.add_argument("run_id")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from goldfish.errors import GoldfishError
    from goldfish.project import Project

    try:
        project = Project.find(explicit=args.project)
        drive(project, args.run_id)
    except GoldfishError as exc:
        _say(f"driver stopped: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
