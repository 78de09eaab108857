"""The run and stage state machine.

``queued → preparing → running → finishing → done | failed | cancelled | lost``; a stage may also
end ``reused`` (its cache key has a ``done`` stage run) or ``skipped`` (an upstream stage did not
finish). Every change is a row in ``transitions`` written in the same transaction as the state, so
the history can never disagree with the current state.
"""

from __future__ import annotations

import sqlite3
import time

ACTIVE: tuple[str, ...] = ("queued", "preparing", "running", "finishing")
FINAL_RUN: tuple[str, ...] = ("done", "failed", "cancelled", "lost")
FINAL_STAGE: tuple[str, ...] = (*FINAL_RUN, "reused", "skipped")
#: Stage states whose outputs downstream stages may consume.
SUCCEEDED: tuple[str, ...] = ("done", "reused")

_ALLOWED: dict[str, tuple[str, ...]] = {
    "queued": ("preparing", "reused", "skipped", "cancelled", "failed", "lost", "running"),
    "preparing": ("running", "failed", "cancelled", "lost", "preparing"),
    "running": ("finishing", "failed", "cancelled", "lost", "preparing"),  # preparing: a retry
    "finishing": ("done", "failed", "cancelled", "lost"),
}


class TransitionError(RuntimeError):
    """A transition the state machine forbids: a bug in the engine, never user input."""


def check(from_state: str | None, to_state: str) -> None:
    if from_state is None or from_state == to_state:
        return
    if to_state not in _ALLOWED.get(from_state, ()):
        raise TransitionError(f"illegal transition {from_state} -> {to_state}")


def _assignments(to_state: str, final: tuple[str, ...], now: float,
                 fields: dict[str, object]) -> tuple[list[str], list[object]]:
    """The ``SET`` clauses of a transition: the state, its timestamps, extra columns."""
    sets = ["state = ?"]
    params: list[object] = [to_state]
    if to_state == "running":
        sets.append("started_at = COALESCE(started_at, ?)")
        params.append(now)
    if to_state in final:
        sets.append("finished_at = ?")
        params.append(now)
    for key, value in fields.items():
        sets.append(f"{key} = ?")
        params.append(value)
    return sets, params


def set_run_state(conn: sqlite3.Connection, run_id: str, to_state: str, reason: str = "",
                  *, error: str | None = None) -> bool:
    """Move a run to ``to_state`` and record it; False when it already was there."""
    row = conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
    current = row[0] if row else None
    if current == to_state:
        return False
    check(current, to_state)
    now = time.time()
    sets, params = _assignments(to_state, FINAL_RUN, now,
                                {"error": error} if error is not None else {})
    conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", (*params, run_id))
    conn.execute("INSERT INTO transitions (run_id, stage, from_state, to_state, at, reason) "
                 "VALUES (?, '', ?, ?, ?, ?)", (run_id, current, to_state, now, reason))
    return True


def set_stage_state(conn: sqlite3.Connection, run_id: str, stage: str, to_state: str,
                    reason: str = "", **fields: object) -> bool:
    """Move one stage run to ``to_state`` (plus column ``fields``) and record the transition."""
    row = conn.execute("SELECT state FROM stage_runs WHERE run_id = ? AND stage = ?",
                       (run_id, stage)).fetchone()
    current = row[0] if row else None
    check(current, to_state)
    now = time.time()
    sets, params = _assignments(to_state, FINAL_STAGE, now, fields)
    conn.execute(f"UPDATE stage_runs SET {', '.join(sets)} WHERE run_id = ? AND stage = ?",
                 (*params, run_id, stage))
    if current == to_state:
        return False
    conn.execute("INSERT INTO transitions (run_id, stage, from_state, to_state, at, reason) "
                 "VALUES (?, ?, ?, ?, ?, ?)", (run_id, stage, current, to_state, now, reason))
    return True
