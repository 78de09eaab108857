"""Reading a stage's log through its compute backend: by tail or by byte cursor.

Shared by every interface that shows logs (the MCP ``logs`` tool; the CLI's ``goldfish logs``
follows the same rules), so "which stage" and "why there is no log" are answered once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from goldfish.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from goldfish.project import Project

MAX_CHARS = 16_000


@dataclass(frozen=True)
class LogRead:
    run: str
    stage: str
    state: str
    text: str
    cursor: int  # pass back to read on from here
    complete: bool  # the stage ended and everything was read
    truncated: bool = False  # more text waits after ``cursor``

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def log_stage(project: Project, ref: str) -> tuple[str, str]:
    """The (run id, stage) whose log ``RUN[/STAGE]`` means: the named stage, else the running
    one, else the last launched one."""
    from goldfish.runs.ids import parse_ref
    from goldfish.runs.records import get_run

    r = parse_ref(ref)
    info = get_run(project, r.run)
    if r.stage:
        info.stage(r.stage)
        return info.id, r.stage
    launched = [s for s in info.stages if s.started_at]
    if not launched:
        raise NotFoundError(f"run {info.id} has launched no stage",
                            "its stages were reused, skipped or are still queued; inspect the run")
    running = [s for s in launched if s.state in ("running", "preparing", "finishing")]
    return info.id, (running or launched)[-1].stage


def read_log(project: Project, ref: str, *, tail: int | None = None, cursor: int = 0,
             max_chars: int = MAX_CHARS) -> LogRead:
    """Log text of a stage from ``cursor`` (bytes), or its last ``tail`` lines."""
    from goldfish.compute import Handle
    from goldfish.runs.engine import Engine

    if tail is not None and not 1 <= tail <= 10_000:
        raise InvalidInputError(f"tail {tail} is out of range", "use 1..10000 lines")
    if cursor < 0:
        raise InvalidInputError(f"cursor {cursor} is negative",
                                "pass 0, or the cursor a previous read returned")
    run_id, stage = log_stage(project, ref)
    row = project.db.query("SELECT handle, profile, reused_from, state FROM stage_runs WHERE "
                           "run_id = ? AND stage = ?", (run_id, stage))[0]
    if row["handle"] is None:
        if row["reused_from"]:
            raise NotFoundError(f"{run_id}/{stage} was reused and has no log of its own",
                                f"read the log of {row['reused_from']}")
        raise NotFoundError(f"{run_id}/{stage} has not started ({row['state']})",
                            "wait for it to start, then read again")
    backend = Engine(project).backend_for(row["profile"])
    chunk = backend.logs(Handle.from_json(json.loads(row["handle"])), tail=tail, cursor=cursor)
    text, next_cursor, truncated = chunk.text, chunk.cursor, False
    if len(text) > max_chars:
        if tail is not None:
            text = text[-max_chars:]
        else:
            text = text[:max_chars]
            next_cursor = cursor + len(text.encode("utf-8"))
            truncated = True
    return LogRead(run=run_id, stage=stage, state=str(row["state"]), text=text,
                   cursor=next_cursor, complete=chunk.complete and not truncated,
                   truncated=truncated)
