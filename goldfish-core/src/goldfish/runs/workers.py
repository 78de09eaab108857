"""Leased workers: reusable workers (warm-pool VMs) recorded in the project database.

A backend that keeps workers between jobs (the GCE warm pool) records each one in the
``workers`` table (migration 0007). Every change is a compare-and-set on the row's ``state`` and
``job_id`` inside one ``BEGIN IMMEDIATE`` transaction, so two processes can never both take the
same worker. The states::

    launch (pool has room) ──► busy(job) ──job ended, released──► idle ──claim (CAS)──► claimed(job')
                                  ▲                                  │                       │
                                  └───────────── signalled ──────────┼───────────────────────┘
    claimed by a dead holder, signal not delivered ──► idle          ▼
    idle past its timeout, drained, VM gone, cancelled job ──► row deleted (VM deleted)

``join`` decides membership at launch, atomically against ``max_instances``; ``claim`` takes an
idle worker of the job's fit in an allowed zone; ``settle`` moves a row on only when it still
is what the caller saw. What a worker *is* on the cloud is the backend's business; this module
only keeps the record the reconciler trusts.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from goldfish.plain import field, record

#: An environment variable for crash tests: ``GOLDFISH_CRASH_AT=<step>`` kills the process with
#: SIGKILL when it reaches that step of a claim (see :func:`crash_point`).
CRASH_ENV = "GOLDFISH_CRASH_AT"


def crash_point(step: str) -> None:
    """Die here, as ``kill -9`` would, when ``GOLDFISH_CRASH_AT`` names ``step`` (tests)."""
    if os.environ.get(CRASH_ENV) == step:
        import signal  # only here: its import costs every short command ~2 ms

        os.kill(os.getpid(), signal.SIGKILL)


@record(frozen=True)
class Worker:
    backend: str
    name: str
    profile: str
    fit: str
    zone: str
    state: str
    job_id: str | None
    holder: str | None
    claimed_at: float | None
    idle_since: float | None
    idle_timeout: float
    hourly_usd: float | None
    errors: int
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Worker:
        return cls(backend=row["backend"], name=row["name"], profile=row["profile"],
                   fit=row["fit"], zone=row["zone"], state=row["state"], job_id=row["job_id"],
                   holder=row["holder"], claimed_at=row["claimed_at"],
                   idle_since=row["idle_since"], idle_timeout=float(row["idle_timeout"]),
                   hourly_usd=row["hourly_usd"], errors=int(row["errors"]),
                   data=json.loads(row["data"] or "{}"), created_at=float(row["created_at"]))

    @property
    def expires_at(self) -> float | None:
        """When an idle worker deletes itself (its own clock may differ by a little)."""
        if self.state != "idle" or self.idle_since is None:
            return None
        return self.idle_since + self.idle_timeout

    def holder_dead(self) -> bool:
        from goldfish.runs.lease import _holder_dead

        return bool(self.holder) and _holder_dead(str(self.holder))

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("holder", "fit", "data")}
        out["expires_at"] = self.expires_at
        return out


class Pool:
    """The ``workers`` rows of one backend in one project database."""

    def __init__(self, db: Any, backend: str) -> None:
        self.db = db
        self.backend = backend

    @classmethod
    def open(cls, project_root: Path, backend: str) -> Pool:
        """The pool of ``backend`` in the project at ``project_root`` (a backend is built from
        the root alone). The database is migrated if it is new, as opening the project does."""
        from goldfish import faults
        from goldfish.db import Database

        path = Path(project_root) / ".goldfish" / "goldfish.db"
        # never an empty database beside existing versions (the project's own guard)
        faults.check_database_file(path, path.parent / "versions.git")
        path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(path)
        with faults.naming(path):
            db.migrate()
        return cls(db, backend)

    # --- reading --------------------------------------------------------------------------
    def get(self, name: str) -> Worker | None:
        return self._get(self.db.conn, name)

    def all(self) -> list[Worker]:
        return [Worker.from_row(r) for r in self.db.query(
            "SELECT * FROM workers WHERE backend = ? ORDER BY created_at, name", (self.backend,))]

    # --- membership -----------------------------------------------------------------------
    def join(self, name: str, *, job_id: str, max_instances: int, profile: str = "",
             fit: str = "", zone: str = "", idle_timeout: float = 0.0,
             hourly_usd: float | None = None) -> bool:
        """Record a worker about to be launched for ``job_id`` as a pool member (``busy``) if
        the pool has fewer than ``max_instances`` members; False when it is full (the worker
        then deletes itself after its job, as without a pool). Idempotent per name."""
        now = time.time()
        with self.db.tx() as conn:
            if conn.execute("SELECT 1 FROM workers WHERE backend = ? AND name = ?",
                            (self.backend, name)).fetchone():
                return True
            count = conn.execute("SELECT COUNT(*) FROM workers WHERE backend = ?",
                                 (self.backend,)).fetchone()[0]
            if count >= max_instances:
                return False
            conn.execute(
                "INSERT INTO workers (backend, name, profile, fit, zone, state, job_id, "
                "idle_timeout, hourly_usd, data, created_at, updated_at) VALUES "
                "(?, ?, ?, ?, ?, 'busy', ?, ?, ?, '{}', ?, ?)",
                (self.backend, name, profile, fit, zone, job_id, idle_timeout, hourly_usd,
                 now, now))
        return True

    def claim(self, *, fit: str, zones: Iterable[str], job_id: str, holder: str | None = None,
              margin: float = 0.0) -> Worker | None:
        """Take an idle worker of ``fit`` in one of ``zones`` for ``job_id`` (compare-and-set:
        ``idle`` → ``claimed``); None when there is none. Workers within ``margin`` seconds of
        their idle timeout are left alone (they may be deleting themselves); the most recently
        idle worker is taken first (it has the longest life left)."""
        allowed = set(zones)
        if not holder:
            from goldfish.runs.lease import new_holder

            holder = new_holder()
        now = time.time()
        with self.db.tx() as conn:
            rows = conn.execute(
                "SELECT * FROM workers WHERE backend = ? AND state = 'idle' AND fit = ? "
                "ORDER BY idle_since DESC, name", (self.backend, fit)).fetchall()
            for row in rows:
                worker = Worker.from_row(row)
                if allowed and worker.zone not in allowed:
                    continue
                expires = worker.expires_at
                if expires is not None and worker.idle_timeout and expires - margin <= now:
                    continue
                cur = conn.execute(
                    "UPDATE workers SET state = 'claimed', job_id = ?, holder = ?, "
                    "claimed_at = ?, updated_at = ? WHERE backend = ? AND name = ? AND "
                    "state = 'idle'", (job_id, holder, now, now, self.backend, worker.name))
                if cur.rowcount == 1:
                    return self._get(conn, worker.name)
        return None

    def _get(self, conn: sqlite3.Connection, name: str) -> Worker | None:
        row = conn.execute("SELECT * FROM workers WHERE backend = ? AND name = ?",
                           (self.backend, name)).fetchone()
        return None if row is None else Worker.from_row(row)

    def settle(self, name: str, *, expect_state: str | Iterable[str],
               expect_job: str | None = None, **changes: Any) -> bool:
        """Compare-and-set: apply ``changes`` (columns) only while the row is in
        ``expect_state`` (and, when given, for ``expect_job``); True when it was."""
        states = [expect_state] if isinstance(expect_state, str) else list(expect_state)
        changes["updated_at"] = time.time()
        sets = ", ".join(f"{column} = ?" for column in changes)
        where = (f"backend = ? AND name = ? AND state IN ({','.join('?' * len(states))})"
                 + (" AND job_id = ?" if expect_job is not None else ""))
        params = [*changes.values(), self.backend, name, *states,
                  *([expect_job] if expect_job is not None else [])]
        with self.db.tx() as conn:
            return conn.execute(f"UPDATE workers SET {sets} WHERE {where}",
                                params).rowcount == 1

    def idle(self, name: str, *, job_id: str, since: float | None = None) -> bool:
        """``busy(job_id)`` → ``idle``: the worker's job ended and it waits for the next."""
        return self.settle(name, expect_state="busy", expect_job=job_id, state="idle",
                           holder=None, claimed_at=None, idle_since=since or time.time(),
                           errors=0)

    def dispatched(self, name: str, *, job_id: str, holder: str) -> bool:
        """``claimed(job_id)`` by ``holder`` → ``busy``: the worker was signalled."""
        with self.db.tx() as conn:
            return conn.execute(
                "UPDATE workers SET state = 'busy', holder = NULL, idle_since = NULL, "
                "updated_at = ? WHERE backend = ? AND name = ? AND state = 'claimed' AND "
                "job_id = ? AND holder = ?",
                (time.time(), self.backend, name, job_id, holder)).rowcount == 1

    def take_over(self, name: str, *, job_id: str, holder: str) -> bool:
        """Make ``holder`` the holder of a claim for ``job_id`` whose holder died (a repeated
        launch of the same job finishing a dead launcher's dispatch)."""
        worker = self.get(name)
        if worker is None or worker.state != "claimed" or worker.job_id != job_id:
            return False
        if worker.holder != holder and not worker.holder_dead():
            return False
        with self.db.tx() as conn:
            return conn.execute(
                "UPDATE workers SET holder = ?, claimed_at = ?, updated_at = ? WHERE "
                "backend = ? AND name = ? AND state = 'claimed' AND job_id = ? AND "
                "holder IS ?", (holder, time.time(), time.time(), self.backend, name, job_id,
                                worker.holder)).rowcount == 1

    def unclaim(self, name: str, *, job_id: str) -> bool:
        """``claimed(job_id)`` → ``idle`` (the dispatch never reached the worker); its idle
        time goes on from when it went idle."""
        return self.settle(name, expect_state="claimed", expect_job=job_id, state="idle",
                           job_id=None, holder=None, claimed_at=None)

    def failed_check(self, name: str) -> None:
        """Count one failed liveness check (``errors``: how many failed in a row)."""
        with self.db.tx() as conn:
            conn.execute("UPDATE workers SET errors = errors + 1, updated_at = ? WHERE "
                         "backend = ? AND name = ?", (time.time(), self.backend, name))

    def checked(self, name: str) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE workers SET errors = 0 WHERE backend = ? AND name = ? AND "
                         "errors > 0", (self.backend, name))

    def remove(self, name: str) -> bool:
        with self.db.tx() as conn:
            return conn.execute("DELETE FROM workers WHERE backend = ? AND name = ?",
                                (self.backend, name)).rowcount == 1


def report(project: Any) -> list[dict[str, Any]]:
    """Every leased worker of the project (any backend), for ``profiles`` and ``status``: read
    from the database alone, no cloud call."""
    try:
        rows = project.db.query("SELECT * FROM workers ORDER BY backend, created_at, name")
    except sqlite3.Error:
        return []
    return [Worker.from_row(r).to_json() for r in rows]


def idle_cost(project: Any) -> tuple[int, float]:
    """How many workers idle now and what they cost per hour together (USD, known prices)."""
    idle = [w for w in report(project) if w["state"] == "idle"]
    return len(idle), sum(float(w["hourly_usd"] or 0) for w in idle)


def pool_lines(pool: list[dict[str, Any]]) -> list[str]:
    """One line per warm-pool worker: state, profile, zone, idle since, hourly price."""
    out = []
    for w in pool:
        price = w.get("hourly_usd")
        since = w.get("idle_since")
        idle = (f", idle {max(0.0, time.time() - since) / 60:.0f} min"
                if w["state"] == "idle" and isinstance(since, int | float) else "")
        job = f", job {w['job_id']}" if w["state"] != "idle" and w.get("job_id") else ""
        out.append(f"pool: {w['name']} {w['state']} ({w['backend']}, profile "
                   f"{w['profile'] or '?'}, {w['zone'] or 'zone pending'}{idle}{job})"
                   + (f"  ${price:.2f}/h" if isinstance(price, int | float) else ""))
    return out
