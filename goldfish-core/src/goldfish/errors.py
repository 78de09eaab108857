"""Errors that reach users and agents.

Every error Goldfish raises on purpose is a :class:`GoldfishError`: a short message that names the
thing that is wrong (file, key, argument, value) and a ``hint`` that says how to fix it. The CLI and
the MCP server print these without a traceback; anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass
class Problem:
    """One located problem in a user file; many are collected and reported at once."""

    message: str
    file: str | None = None
    line: int | None = None
    key: str | None = None
    hint: str | None = None

    def render(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        head = f"{where}: " if where else ""
        key = f"{self.key}: " if self.key else ""
        text = f"{head}{key}{self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


@dataclass
class ProblemsError(GoldfishError):
    """Several located problems in one file (config, pipeline), all reported together."""

    problems: list[Problem] = field(default_factory=list)
    title: str = "invalid input"

    def __post_init__(self) -> None:
        lines = [f"{self.title} ({len(self.problems)} problem{'s' * (len(self.problems) != 1)}):"]
        lines += [f"  - {p.render()}" for p in self.problems]
        GoldfishError.__init__(self, "\n".join(lines))

    def __str__(self) -> str:
        return self.message


def did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """Return 'did you mean X?' for the closest choice, or None."""
    import difflib

    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None
