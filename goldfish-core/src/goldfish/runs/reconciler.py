"""Reconcile recorded runs with reality, from any long-lived or short-lived Goldfish process.

There is no daemon. Every CLI command that opens a project runs one pass (a single indexed query
when nothing is active); a server runs passes on a timer (:meth:`Reconciler.start_background`).
A pass calls :meth:`goldfish.runs.engine.Engine.advance` for each active run; ``advance`` takes
the run's lease, so concurrent passes never act twice, and is idempotent, so a pass repeated after
a crash finishes what the crashed one started: stages that exited while nobody watched are
finished, ready stages are launched, vanished ones are marked ``lost``.

Most runs have a driver (:mod:`goldfish.runs.driver`), a detached process that takes the run to
its end; a pass leaves a run with a live driver alone and starts a new driver for an active run
whose driver is gone, so a killed driver costs one pass, not the run.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

from goldfish.runs import backends, states

if TYPE_CHECKING:
    from goldfish.project import Project


def active_runs(project: Project) -> list[str]:
    marks = ",".join("?" * len(states.ACTIVE))
    return [str(r[0]) for r in project.db.query(
        f"SELECT id FROM runs WHERE state IN ({marks}) ORDER BY created_at", states.ACTIVE)]


class Reconciler:
    """``start_drivers``: a pass starts a driver (:mod:`goldfish.runs.driver`) for every active
    run that has none alive, so the run goes on after this process ends."""

    def __init__(self, project: Project, *, start_drivers: bool = True) -> None:
        self.project = project
        self.start_drivers = start_drivers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reconcile_once(self) -> list[str]:
        """Advance every active run once; returns the ids this pass acted on."""
        ids = active_runs(self.project)
        if not ids:
            return []
        from goldfish.runs import driver
        from goldfish.runs.engine import Engine

        engine = Engine(self.project)
        acted = []
        for run_id in ids:
            try:
                if driver.alive(self.project, run_id):
                    continue  # its driver acts on it; a command should not wait for that work
                if engine.advance(run_id):
                    acted.append(run_id)
                if self.start_drivers:
                    driver.ensure(self.project, run_id)  # its driver died, or never started
            except Exception as exc:  # one broken run must not stop the others or the command
                print(f"goldfish: warning: could not reconcile run {run_id}: {exc}",
                      file=sys.stderr)
        return acted

    def start_background(self, interval: float = 5.0,
                         initial_delay: float = 0.0) -> threading.Thread:
        """Run a pass every ``interval`` seconds in a daemon thread until :meth:`stop`.

        ``initial_delay`` postpones the first pass, so a server can answer its handshake before
        the reconciler competes with it for the interpreter.
        """
        if self._thread is not None and self._thread.is_alive():
            return self._thread

        from goldfish.backup.schedule import Schedule, tick_quietly

        reaper = backends.Schedule()
        backups = Schedule()  # `backup: {every_hours: ...}`

        def loop() -> None:
            if initial_delay > 0 and self._stop.wait(initial_delay):
                return
            while not self._stop.is_set():
                try:
                    self.reconcile_once()
                    reaper.tick(self.project)  # cost guard: VMs no live job owns
                    tick_quietly(backups, self.project)
                except Exception as exc:
                    print(f"goldfish: warning: reconcile pass failed: {exc}", file=sys.stderr)
                self._stop.wait(interval)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="goldfish-reconciler", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
