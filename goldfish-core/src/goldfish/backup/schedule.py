"""Backups nobody has to remember: before every database migration, and on a timer in the
long-lived processes (the MCP server's reconciler loop, run drivers).

Both go through the backup lease (:func:`goldfish.backup.take.lease`), so at most one backup of
a project is taken at a time; a scheduled one that finds the lease held skips its turn, and one
that gets it checks again that a backup is still due (another process may just have taken it).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from typing import TYPE_CHECKING

from goldfish.backup.dest import DEFAULT_DEST, resolve
from goldfish.backup.take import BackupResult, _take, last_backup, lease
from goldfish.errors import GoldfishError

if TYPE_CHECKING:
    from goldfish.project import Project

CHECK_SECONDS = 60.0


def due(project: Project, every_hours: float, now: float | None = None) -> bool:
    record = last_backup(project.goldfish_dir)
    last = float(record.get("at", 0)) if record else 0.0
    return (now or time.time()) - last >= every_hours * 3600


class Schedule:
    """``tick(project)`` from a loop: takes a backup when ``backup.every_hours`` says one is due
    (looked at once a minute; a tick in between costs a clock read)."""

    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        self._next = 0.0

    def tick(self, project: Project) -> BackupResult | None:
        mono = time.monotonic()
        if mono < self._next:
            return None
        self._next = mono + self.check_seconds
        every = project.config.get("backup.every_hours", None)
        if not every or not due(project, float(every)):
            return None
        with lease(project, wait=False) as held:
            if not held or not due(project, float(every)):
                return None
            return _take(project, resolve(project, None), None, False, "scheduled")


def tick_quietly(schedule: Schedule, project: Project) -> None:
    """:meth:`Schedule.tick` whose failure is a warning (a loop must go on)."""
    try:
        schedule.tick(project)
    except Exception as exc:
        from goldfish import faults

        fault = faults.name(exc)
        text = f"{fault.message} ({fault.hint})" if fault else (
            f"{exc.message} ({exc.hint})" if isinstance(exc, GoldfishError) else str(exc))
        print(f"goldfish: warning: scheduled backup failed: {text}", file=sys.stderr)


def before_migration(project: Project, current: int, latest: int) -> None:
    """Back the project up before its database goes from schema ``current`` to ``latest``.
    A new database (schema 0) has nothing to lose: no backup. Runs outside any transaction."""
    if current == 0 or os.environ.get("GOLDFISH_NO_BACKUP") == "1":
        return
    try:
        enabled = bool(project.config.get("backup.before_migration", True))
    except Exception:
        enabled = True
    if not enabled:
        return
    with lease(project, wait=True):
        if _schema(project) >= latest:
            return  # another process migrated it while we waited
        try:
            try:
                dest = resolve(project, None)
            except Exception:
                dest = resolve(project, DEFAULT_DEST)
            _take(project, dest, None, False, f"before migration {current}->{latest}")
        except Exception as exc:
            from goldfish import faults

            fault = faults.name(exc)
            detail = fault.message if fault else getattr(exc, "message", None) or str(exc)
            raise GoldfishError(
                f"could not back up the project before migrating its database from schema "
                f"{current} to {latest}: {detail}",
                "fix the cause and run the command again (the database was not changed); to "
                "migrate without a backup set `backup: {before_migration: false}` in "
                "goldfish.yaml or GOLDFISH_NO_BACKUP=1") from None


def _schema(project: Project) -> int:
    conn = sqlite3.connect(project.db_path, timeout=30)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
