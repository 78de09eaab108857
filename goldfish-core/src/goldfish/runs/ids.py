"""Run ids (``r-<yyyymmdd>-<6 hex>``) and the references users write for runs and their parts."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from goldfish.errors import InvalidInputError

RUN_ID = re.compile(r"^r-\d{8}-[0-9a-f]{6}$")
#: ``RUN[/STAGE[.OUTPUT]]`` where RUN is an id, a unique id prefix or a tag such as ``@best``.
_REF = re.compile(r"^(?P<run>[^/]+)(?:/(?P<stage>[A-Za-z0-9_-]+)(?:\.(?P<output>[A-Za-z0-9_.-]+))?)?$")


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d", time.gmtime(now if now is not None else time.time()))
    return f"r-{stamp}-{secrets.token_hex(3)}"


def job_id(run_id: str, stage: str, attempt: int = 1) -> str:
    """The backend job id of a stage run: deterministic, so a repeated launch is the same job.
    A relaunch (after a preemption) is attempt 2, 3…: ``<run>.<stage>.attempt2``."""
    return f"{run_id}.{stage}" if attempt <= 1 else f"{run_id}.{stage}.attempt{attempt}"


def attempt_of(job: str) -> int:
    """The attempt a job id names (1 unless it ends in ``.attemptN``)."""
    _, sep, tail = job.rpartition(".attempt")
    return int(tail) if sep and tail.isdigit() else 1


@dataclass(frozen=True)
class Ref:
    run: str
    stage: str | None = None
    output: str | None = None

    def __str__(self) -> str:
        text = self.run
        if self.stage:
            text += f"/{self.stage}"
        if self.output:
            text += f".{self.output}"
        return text


def parse_ref(text: str, *, what: str = "run reference") -> Ref:
    match = _REF.match(text.strip())
    if not match:
        raise InvalidInputError(f"{what} {text!r} is not of the form RUN, RUN/STAGE or "
                                "RUN/STAGE.OUTPUT",
                                "write e.g. r-20260101-a1b2c3/train.model or @best/train")
    return Ref(match["run"], match["stage"], match["output"])
