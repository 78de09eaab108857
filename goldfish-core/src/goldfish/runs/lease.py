"""Leases: at most one process acts on a run at a time.

A lease is a row in ``leases`` (name, holder, expires_at) taken inside a ``BEGIN IMMEDIATE``
transaction, so two processes can never both believe they hold it. A holder is
``<host>:<pid>:<token>``; a lease whose holder is a dead process on this host is taken over at once
(a ``kill -9`` never blocks the next command for a whole TTL), any other one only after it expires.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goldfish.project import Project

DEFAULT_TTL = 60.0
_HOST = socket.gethostname()


def new_holder() -> str:
    return f"{_HOST}:{os.getpid()}:{os.urandom(4).hex()}"  # (uuid would import platform)


def _holder_dead(holder: str) -> bool:
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    return process_dead(int(pid_text))


def process_dead(pid: int) -> bool:
    """Has process ``pid`` of this host ended (or become a zombie)? False when unsure."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) holds nothing
        raw = open(f"/proc/{pid}/stat", "rb").read()  # noqa: SIM115
    except OSError:
        return False
    return raw[raw.rfind(b")") + 2:][:1] in (b"Z", b"X")


def acquire(project: Project, name: str, holder: str, ttl: float = DEFAULT_TTL) -> bool:
    """Take or renew ``name`` for ``holder``; False when someone alive holds it."""
    now = time.time()
    with project.db.tx() as conn:
        row = conn.execute("SELECT holder, expires_at FROM leases WHERE name = ?",
                           (name,)).fetchone()
        if row is not None and row[0] != holder and row[1] > now and not _holder_dead(row[0]):
            return False
        conn.execute("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                     "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
                     "expires_at = excluded.expires_at", (name, holder, now + ttl))
    return True


def busy(project: Project, name: str) -> bool:
    """Is ``name`` held by another live holder right now? A read, never a write: callers that
    only want to know (a reconcile pass, a waiter) do not queue behind the writer."""
    row = project.db.one("SELECT holder, expires_at FROM leases WHERE name = ?", (name,))
    return row is not None and row[1] > time.time() and not _holder_dead(row[0])


def release(project: Project, name: str, holder: str) -> None:
    with project.db.tx() as conn:
        conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))


@contextmanager
def held(project: Project, name: str, ttl: float = DEFAULT_TTL) -> Iterator[str | None]:
    """Yield the holder token when the lease was taken, else None (someone else acts)."""
    holder = new_holder()
    if not acquire(project, name, holder, ttl):
        yield None
        return
    try:
        yield holder
    finally:
        release(project, name, holder)
