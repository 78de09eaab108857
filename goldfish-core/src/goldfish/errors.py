"""Errors that reach users and agents.

Every error Goldfish raises on purpose is a :class:`GoldfishError`: a short message that names the
thing that is wrong (file, key, argument, value) and a ``hint`` that says how to fix it. The CLI and
the MCP server print these without a traceback; anything else is a bug.
"""

from __future__ import annotations


class GoldfishError(Exception):
    """A problem the user or agent can fix. ``hint`` tells them how."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class NotFoundError(GoldfishError):
    """A named thing (project, workspace, version, run, slot, source) does not exist."""


class ConflictError(GoldfishError):
    """The request clashes with current state (occupied slot, existing project, running run)."""


class InvalidInputError(GoldfishError):
    """An argument or value is malformed."""


class CapacityError(GoldfishError):
    """A compute backend found no zone (or region) that could take the job now: capacity or
    quota refusals in every place it searched. ``zones_tried`` lists each refusal, in order, as
    ``"<zone> (<kind>): <code> (<message>)"``. The engine fails the stage with the message; the
    GCE backend raises it, and the local backend's ``simulate: {refuse_zones: [...]}`` rehearses
    it."""

    def __init__(self, message: str, hint: str | None = None,
                 zones_tried: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.zones_tried = list(zones_tried or [])


class Problem:
    """One located problem in a user file; many are collected and reported at once.

    Written out rather than a dataclass (same constructor, equality and repr): this module is
    imported by :mod:`goldfish.io` in every stage process, where ``dataclasses`` (and the
    ``inspect`` it imports) would cost ~10 ms per stage."""

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as a dataclass)

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 key: str | None = None, hint: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.hint = hint

    def _fields(self) -> tuple[str | int | None, ...]:
        return (self.message, self.file, self.line, self.key, self.hint)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Problem)
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        return (f"Problem(message={self.message!r}, file={self.file!r}, line={self.line!r}, "
                f"key={self.key!r}, hint={self.hint!r})")

    def render(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        head = f"{where}: " if where else ""
        key = f"{self.key}: " if self.key else ""
        text = f"{head}{key}{self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ProblemsError(GoldfishError):
    """Several located problems in one file (config, pipeline), all reported together."""

    __hash__ = None  # type: ignore[assignment]  # compared by value (as a dataclass)

    def __init__(self, problems: list[Problem] | None = None,
                 title: str = "invalid input") -> None:
        self.problems: list[Problem] = problems if problems is not None else []
        self.title = title
        lines = [f"{self.title} ({len(self.problems)} problem{'s' * (len(self.problems) != 1)}):"]
        lines += [f"  - {p.render()}" for p in self.problems]
        GoldfishError.__init__(self, "\n".join(lines))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, ProblemsError)
        return (self.problems, self.title) == (other.problems, other.title)

    def __repr__(self) -> str:
        return f"ProblemsError(problems={self.problems!r}, title={self.title!r})"

    def __str__(self) -> str:
        return self.message


def did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """Return 'did you mean X?' for the closest choice, or None."""
    import difflib

    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None
