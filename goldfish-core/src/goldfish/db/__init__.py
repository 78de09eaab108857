"""SQLite store: one file per project (``.goldfish/goldfish.db``), WAL mode, versioned migrations.

Migrations are the ``migrations/NNNN_name.sql`` files in this package, applied in order inside one
transaction each; ``PRAGMA user_version`` records the last applied number. Writers use
:meth:`Database.tx` (``BEGIN IMMEDIATE`` with retry), so concurrent processes serialize instead of
failing with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from goldfish import faults
from goldfish.errors import GoldfishError

BUSY_TIMEOUT_MS = 30_000
RETRY_FOR_SECONDS = 120.0


def all_migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration, in order.

    Not called ``migrations``: importing the ``goldfish.db.migrations`` package would rebind
    that attribute of this module to the package.
    """
    return [(number, entry.name, entry.read_text(encoding="utf-8"))
            for number, entry in _numbered()]


def latest_migration() -> int:
    """The number of the last migration (0 when there is none); no SQL read."""
    numbered = _numbered()
    return numbered[-1][0] if numbered else 0


def _numbered() -> list[tuple[int, Any]]:
    """(number, file) of every migration, in order; nothing read (every command checks)."""
    out = sorted(((int(entry.name[:4]), entry) for entry in _migration_files()
                  if entry.name.endswith(".sql") and entry.name[:4].isdigit()),
                 key=lambda pair: pair[0])
    numbers = [n for n, _ in out]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"duplicate migration numbers: {numbers}")
    return out


def _migration_files() -> Iterator[Any]:
    # A plain directory is listed directly: importlib.resources costs ~10 ms of imports (zipfile
    # among them) on every command, needed only when Goldfish runs from a zip archive.
    folder = Path(__file__).with_name("migrations")
    if folder.is_dir():
        return folder.iterdir()
    from importlib import resources

    return iter(resources.files("goldfish.db.migrations").iterdir())


class Database:
    """A connection per thread to one project database."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        faults.note_database(self.path)

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (``BEGIN IMMEDIATE``), retried while locked."""
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        delay = 0.005
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise GoldfishError(
                        f"the project database {self.path} stayed locked for "
                        f"{RETRY_FOR_SECONDS:.0f}s", "another Goldfish process is holding it; "
                        "retry, or stop the process that hangs") from exc
                import random  # only when contended: not on every command's path

                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.25)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Read the database as of one moment: a read transaction (WAL gives it a consistent
        snapshot that never blocks writers); inside a transaction, that one."""
        conn = self.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def query(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, before: Callable[[int, int], None] | None = None) -> int:
        """Apply pending migrations; returns the schema version. Safe to call concurrently.

        ``before(current, latest)`` is called first when there is something to apply, outside
        any transaction (the project takes its pre-migration backup there)."""
        current = self.schema_version()
        latest = latest_migration()
        if latest <= current:
            return current
        if before is not None:
            before(current, latest)
        with self.tx() as conn:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for number, _name, sql in all_migrations():
                if number <= current:
                    continue
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
        return self.schema_version()


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    statements, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate.endswith(";") and sqlite3.complete_statement(candidate):
            statements.append(candidate)
            buf = []
    rest = "\n".join(buf).strip()
    if rest and not all(ln.strip().startswith("--") or not ln.strip() for ln in buf):
        statements.append(rest)
    return statements
