"""``.gitignore`` rules for slots.

A slot is snapshotted without git, so the rules are evaluated here: every ``.gitignore`` in the slot
applies to its own directory and below, later patterns win over earlier ones, deeper files win over
shallower ones, ``!`` re-includes, ``foo/`` matches directories only, a pattern with a slash
(``/foo``, ``a/b``) is anchored to its file's directory, and ``*``/``?``/``[..]``/``**`` glob as in git.
As in git, nothing inside an ignored directory can be re-included (the walker never descends).

``__pycache__``, ``.git`` and ``*.pyc`` are always ignored; they are never provenance.
"""

from __future__ import annotations

import re

from goldfish.plain import record

ALWAYS_IGNORED_NAMES = frozenset({"__pycache__", ".git"})
ALWAYS_IGNORED_SUFFIXES = (".pyc",)
IGNORE_FILE = ".gitignore"


@record(frozen=True)
class Pattern:
    """One compiled line of a ``.gitignore`` file; ``base`` is its directory relative to the slot."""

    text: str
    regex: re.Pattern[str]
    negated: bool
    dir_only: bool
    base: str

    def matches(self, relpath: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.base:
            prefix = self.base + "/"
            if not relpath.startswith(prefix):
                return False
            relpath = relpath[len(prefix):]
        return self.regex.fullmatch(relpath) is not None


def _glob_to_regex(glob: str) -> str:
    """Translate one gitignore glob (already stripped of ``!``, leading and trailing ``/``)."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            if glob.startswith("**", i):
                at_start = i == 0 or glob[i - 1] == "/"
                after = i + 2
                if at_start and after < n and glob[after] == "/":  # "**/" : zero or more dirs
                    out.append("(?:.*/)?")
                    i = after + 1
                    continue
                if at_start and after == n:  # trailing "/**" : everything inside
                    out.append(".*")
                    i = after
                    continue
                out.append("[^/]*")  # "**" elsewhere behaves like "*"
                i = after
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1
            if j < n and glob[j] in "!^":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal "["
                out.append(re.escape(c))
            else:
                body = glob[i + 1:j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse(text: str, base: str = "") -> list[Pattern]:
    """Compile the lines of one ``.gitignore`` whose directory is ``base`` (relative, "" = slot)."""
    patterns: list[Pattern] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        # trailing spaces are ignored unless escaped with a backslash
        stripped = line.rstrip(" ")
        if stripped.endswith("\\") and len(stripped) < len(line):
            stripped += " "
        line = stripped
        if not line:
            continue
        negated = line.startswith("!")
        if negated or line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/") and not line.endswith("\\/")
        line = line.rstrip("/") if dir_only else line
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        body = _glob_to_regex(line)
        if not anchored:
            body = "(?:.*/)?" + body
        patterns.append(Pattern(text=raw, regex=re.compile(body, re.DOTALL), negated=negated,
                                dir_only=dir_only, base=base))
    return patterns


class IgnoreRules:
    """The patterns in force for one directory: its ancestors' ``.gitignore`` files plus its own."""

    __slots__ = ("patterns", "signature")

    def __init__(self, patterns: tuple[Pattern, ...] = ()) -> None:
        self.patterns = patterns
        #: identifies the rules (the snapshot cache trusts a record only under the same rules)
        self.signature = "\n".join(f"{p.base}\0{p.text}" for p in patterns)

    def child(self, base: str, gitignore_text: str | None) -> IgnoreRules:
        """Rules for directory ``base`` whose ``.gitignore`` holds ``gitignore_text`` (or None)."""
        if not gitignore_text:
            return self
        extra = parse(gitignore_text, base)
        return IgnoreRules(self.patterns + tuple(extra)) if extra else self

    def ignored(self, relpath: str, is_dir: bool) -> bool:
        """Whether ``relpath`` (slash-separated, relative to the slot) is excluded."""
        name = relpath.rsplit("/", 1)[-1]
        if name in ALWAYS_IGNORED_NAMES or (not is_dir and name.endswith(ALWAYS_IGNORED_SUFFIXES)):
            return True
        for pattern in reversed(self.patterns):
            if pattern.matches(relpath, is_dir):
                return not pattern.negated
        return False


EMPTY = IgnoreRules()
