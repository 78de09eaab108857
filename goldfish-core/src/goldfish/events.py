"""Domain events: every mutation is recorded in the ``events`` table and fanned out to memory
stores (``record_event`` hook) after its transaction commits."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from goldfish.plain import field, record


@record(frozen=True)
class Event:
    kind: str  # "workspace.created", "version.saved", "run.finished", "note.added", ...
    subject: str = ""  # the workspace, run id, ... it is about
    summary: str = ""  # one human line
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    id: int | None = None


@record(frozen=True)
class Hit:
    """One search result from ``recall``."""

    kind: str
    id: str
    text: str
    score: float
    at: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


def insert(conn: sqlite3.Connection, event: Event) -> Event:
    cur = conn.execute(
        "INSERT INTO events (at, kind, subject, summary, data) VALUES (?, ?, ?, ?, ?)",
        (event.at, event.kind, event.subject, event.summary,
         json.dumps(event.data, sort_keys=True, default=str)),
    )
    return Event(event.kind, event.subject, event.summary, event.data, event.at, cur.lastrowid)


def from_row(row: sqlite3.Row) -> Event:
    return Event(kind=row["kind"], subject=row["subject"], summary=row["summary"],
                 data=json.loads(row["data"]), at=row["at"], id=row["id"])
