"""Run ids (``r-<yyyymmdd>-<6 hex>``) and the references users write for runs and their parts."""

from __future__ import annotations

import os
import re
import time

from goldfish.errors import InvalidInputError
from goldfish.plain import record

RUN_ID = re.compile(r"^r-\d{8}-[0-9a-f]{6}$")
#: ``RUN[/STAGE[.OUTPUT]]`` where RUN is an id, a unique id prefix or a tag such as ``@best``.
_REF = re.compile(r"^(?P<run>[^/]+)(?:/(?P<stage>[A-Za-z0-9_-]+)(?:\.(?P<output>[A-Za-z0-9_.-]+))?)?$")


#: A tag names a run or a version: a plain word that is safe as a git ref, a file name and a CLI word.
TAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
#: Words references already mean (the ``latest`` run, git's ``HEAD``…): never tag names.
RESERVED_TAGS = frozenset({"latest", "head", "current", "all", "none", "null"})
_LOOKS_LIKE = (
    (re.compile(r"^r-\d"), "a run id (r-20260101-a1b2c3)"),
    (re.compile(r".-v[0-9]+$"), "a version tag (ws-v3)"),
    (re.compile(r"^w[1-9][0-9]*$"), "a slot name (w1)"),
)
_TAG_HINT = "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"


def check_tag_name(name: object) -> str:
    """The one naming rule for tags of runs and of versions, in the CLI and the MCP tools alike.

    A tag must read back unambiguously wherever a run or a version reference is accepted, so a
    name that is a path, holds a control character, is a reserved word or looks like another
    kind of reference is refused.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError("tag name is empty", f"pass a name such as `baseline`; {_TAG_HINT}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInputError(f"tag name {name!r} contains a control character (NUL, newline…)",
                                _TAG_HINT)
    if "/" in name or "\\" in name or ".." in name:
        raise InvalidInputError(f"tag name {name!r} contains a path ('/', '\\' or '..')",
                                _TAG_HINT)
    if "@" in name:
        raise InvalidInputError(f"tag name {name!r} contains '@'",
                                "`@best` tags are maintained by Goldfish; choose a plain name")
    if not TAG_NAME.match(name) or name.endswith((".", ".lock")):
        raise InvalidInputError(f"tag name {name!r} is not allowed", _TAG_HINT)
    if name.lower() in RESERVED_TAGS:
        raise InvalidInputError(f"tag name {name!r} is a reserved word (reserved: "
                                f"{', '.join(sorted(RESERVED_TAGS))})",
                                "choose a descriptive name such as `baseline` or `paper-v-final`")
    for pattern, what in _LOOKS_LIKE:
        if pattern.search(name):
            raise InvalidInputError(f"tag name {name!r} looks like {what}",
                                    "choose a name that cannot be mistaken for another reference")
    return name


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d", time.gmtime(now if now is not None else time.time()))
    return f"r-{stamp}-{os.urandom(3).hex()}"  # what secrets.token_hex does, minus hmac/OpenSSL


def job_id(run_id: str, stage: str, attempt: int = 1) -> str:
    """The backend job id of a stage run: deterministic, so a repeated launch is the same job.
    A relaunch (after a preemption) is attempt 2, 3…: ``<run>.<stage>.attempt2``."""
    return f"{run_id}.{stage}" if attempt <= 1 else f"{run_id}.{stage}.attempt{attempt}"


def attempt_of(job: str) -> int:
    """The attempt a job id names (1 unless it ends in ``.attemptN``)."""
    _, sep, tail = job.rpartition(".attempt")
    return int(tail) if sep and tail.isdigit() else 1


@record(frozen=True)
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
