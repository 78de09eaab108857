"""YAML with line numbers, fast: built straight from libyaml's event stream.

``goldfish.config.parse_yaml`` composes nodes with PyYAML's pure-Python composer, which costs
about a second for a 500-stage ``pipeline.yaml`` on a small machine; the planner's budget for the
whole plan is 0.2 s. Building plain dicts and lists from the C parser's events skips the node
graph and the constructor, and keeps what error messages need: the line of every mapping key and
sequence item (``lines``) and of every value (``value_lines``), keyed by the path from the root.

Semantics follow ``yaml.safe_load`` (YAML 1.1 scalars, anchors, aliases, ``<<`` merge keys) with
three deliberate differences: a timestamp stays the string it was written as (configs end up in
JSON), ``1e-3`` is a float as in YAML 1.2 (1.1 makes it a string), and a duplicate key is a problem
rather than silently keeping the last value.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

from goldfish.errors import Problem

Path_ = tuple[Any, ...]

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_T = "tag:yaml.org,2002:"
#: YAML 1.2 floats without a dot (``1e-3``), which YAML 1.1 leaves as strings: a classic
#: learning-rate bug.
_EXP_FLOAT = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")
_NO_KEY = object()
_SKIP = object()
_MERGE = object()


@dataclass
class Parsed:
    """A parsed YAML document: ``data`` plus where every key, item and value was written."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    value_lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line(self, path: Path_) -> int | None:
        """The line of ``path`` or of its closest ancestor that has one."""
        path = tuple(path)
        while True:
            found = self.lines.get(path)
            if found is not None or not path:
                return found
            path = path[:-1]


class _Frame:
    __slots__ = ("anchor", "data", "explicit", "key", "key_line", "line", "merges", "path")

    def __init__(self, data: Any, path: Path_, line: int, anchor: str | None) -> None:
        self.data = data
        self.path = path
        self.line = line
        self.anchor = anchor
        self.key: Any = _NO_KEY
        self.key_line = line
        self.merges: list[tuple[dict[Any, Any], int]] = []
        self.explicit = True


def _dotted(path: Path_) -> str | None:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def _convert(tag: str, value: str) -> Any:
    if tag == _T + "null":
        return None
    if tag == _T + "bool":
        return _CONSTRUCTOR.construct_yaml_bool(yaml.ScalarNode(tag, value))
    if tag == _T + "int":
        number = _CONSTRUCTOR.construct_yaml_int(yaml.ScalarNode(tag, value))
        limit = sys.get_int_max_str_digits()
        if limit and number.bit_length() > limit * 3.32:  # 0x…, 0b…: fine here, not as decimal
            raise ValueError(f"{value!r} has more than {limit} decimal digits")
        return number
    if tag == _T + "float":
        return _CONSTRUCTOR.construct_yaml_float(yaml.ScalarNode(tag, value))
    if tag == _T + "merge":
        return _MERGE
    if tag == _T + "str" and _EXP_FLOAT.match(value):
        return float(value)
    return value  # timestamps and anything else stay text


#: how a problem about a number too long to convert starts (``--set`` refuses such a value)
TOO_MANY_DIGITS = "a number with"


def _too_many_digits(raw: str, file: str, line: int, key: str | None) -> Problem:
    body = raw.lstrip("+-")
    body = body[2:] if body[:2].lower() in ("0x", "0o", "0b") else body
    digits = sum(c.isalnum() for c in body)
    return Problem(f"{TOO_MANY_DIGITS} {digits} digits is too long to read (the limit is "
                   f"{sys.get_int_max_str_digits()} digits)", file, line, key,
                   "write a shorter number (1e300 for a huge float), or quote it to keep it "
                   "as text")


def decode(raw: bytes, file: str, hint: str) -> str:
    """``raw`` as UTF-8 text, or a located problem naming the first byte that is not."""
    from goldfish.errors import ProblemsError

    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ProblemsError(problems=[Problem(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); the file looks "
            "binary or corrupted", file, line, None, hint)], title=f"{file} is invalid") from None


def parse(text: str, file: str) -> Parsed:
    """Parse one YAML document; syntax errors and duplicate keys become located problems."""
    out = Parsed(None)
    problems, lines, value_lines = out.problems, out.lines, out.value_lines
    stack: list[_Frame] = []
    anchors: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    documents = 0
    ScalarEvent, AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
    MappingStart, SequenceStart = yaml.MappingStartEvent, yaml.SequenceStartEvent
    MappingEnd, SequenceEnd = yaml.MappingEndEvent, yaml.SequenceEndEvent
    StreamEnd = yaml.StreamEndEvent

    def child_path() -> Path_:
        top = stack[-1]
        if isinstance(top.data, list):
            return (*top.path, len(top.data))
        return (*top.path, top.key) if top.key is not _NO_KEY else top.path

    def add(value: Any, line: int, container: bool) -> None:
        if not stack:
            out.data = value
            lines[()] = value_lines[()] = line
            return
        top = stack[-1]
        data = top.data
        if isinstance(data, list):
            path = (*top.path, len(data))
            lines[path] = value_lines[path] = line
            data.append(value)
            return
        key = top.key
        if key is _NO_KEY:  # this value is a key
            top.key_line = line
            if value is _MERGE:
                top.key = _MERGE
            elif container or value is None or isinstance(value, (list, dict)):
                problems.append(Problem("a key must be a plain name", file, line,
                                        _dotted(top.path), "write `name: value`"))
                top.key = _SKIP
            elif value in data:
                first = lines.get((*top.path, value))
                problems.append(Problem(f"duplicate key {value!r} (first on line {first})", file,
                                        line, _dotted((*top.path, value)), "keep one of them"))
                top.key = _SKIP
            else:
                top.key = value
            return
        top.key = _NO_KEY
        if key is _SKIP:
            return
        if key is _MERGE:
            merged = value if isinstance(value, list) else [value]
            for item in merged:
                if isinstance(item, dict):
                    top.merges.append((item, top.key_line))
                else:
                    problems.append(Problem("`<<` merges a mapping (or a list of mappings)", file,
                                            top.key_line, _dotted(top.path), "use `<<: *anchor`"))
            return
        path = (*top.path, key)
        lines[path] = top.key_line
        value_lines[path] = line
        data[key] = value

    def end_mapping(frame: _Frame) -> None:
        data = frame.data
        for merged, line in frame.merges:
            for k, v in merged.items():
                if k not in data:
                    data[k] = v
                    lines[(*frame.path, k)] = value_lines[(*frame.path, k)] = line

    loader: Any = None
    try:
        loader = _Loader(text)
        get_event = loader.get_event
        while True:
            event = get_event()
            cls = event.__class__
            if cls is StreamEnd:
                break
            if cls is ScalarEvent:
                raw = event.value
                tag = event.tag
                if tag is None or tag == "!":
                    if event.implicit[0]:  # plain scalar: resolve 1, true, null, 1.5 …
                        value = cache.get(raw, _NO_KEY)
                        if value is _NO_KEY:
                            resolved = _RESOLVER.resolve(yaml.ScalarNode, raw, (True, False))
                            try:
                                value = cache[raw] = _convert(resolved, raw)
                            except ValueError:  # more digits than Python converts (4300)
                                problems.append(_too_many_digits(
                                    raw, file, event.start_mark.line + 1,
                                    _dotted(tuple(p for p in child_path()
                                                  if isinstance(p, (str, int))))
                                    if stack else None))
                                value = raw
                    else:
                        value = raw
                elif tag == _T + "str":
                    value = raw
                else:
                    try:
                        value = _convert(tag, raw)
                    except (ValueError, yaml.YAMLError):
                        problems.append(Problem(f"{raw!r} is not a valid {tag.rsplit(':', 1)[-1]}",
                                                file, event.start_mark.line + 1,
                                                _dotted(child_path()) if stack else None))
                        value = raw
                line = event.start_mark.line + 1
                if event.anchor:
                    anchors[event.anchor] = value
                if stack:  # the common cases inline: a plain key, or a scalar value of a key
                    top = stack[-1]
                    data = top.data
                    if data.__class__ is dict:
                        key = top.key
                        if key is _NO_KEY:
                            if value.__class__ is str and value not in data:
                                top.key = value
                                top.key_line = line
                                continue
                        elif key is not _SKIP and key is not _MERGE:
                            path = (*top.path, key)
                            lines[path] = top.key_line
                            value_lines[path] = line
                            data[key] = value
                            top.key = _NO_KEY
                            continue
                add(value, line, False)
            elif cls is MappingStart or cls is SequenceStart:
                path = child_path() if stack else ()
                line = event.start_mark.line + 1
                stack.append(_Frame({} if cls is MappingStart else [], path, line, event.anchor))
            elif cls is MappingEnd or cls is SequenceEnd:
                frame = stack.pop()
                if cls is MappingEnd:
                    end_mapping(frame)
                if frame.anchor:
                    anchors[frame.anchor] = frame.data
                add(frame.data, frame.line, True)
            elif cls is AliasEvent:
                line = event.start_mark.line + 1
                if event.anchor not in anchors:
                    problems.append(Problem(f"unknown or recursive alias *{event.anchor}", file, line,
                                            _dotted(child_path()) if stack else None,
                                            "define the anchor (&name) before using it"))
                add(anchors.get(event.anchor), line, False)
            elif cls is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    problems.append(Problem("more than one YAML document (a second `---`)", file,
                                            event.start_mark.line + 1, None,
                                            "keep a single document per file"))
                    break
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "cannot be parsed"
        problems.append(Problem(f"YAML syntax error: {what}", file,
                                mark.line + 1 if mark is not None else None, None,
                                "fix the YAML syntax at that line (indentation, a missing ':', "
                                "an unclosed quote or bracket, or a tab)"))
        out.data = None
    except yaml.YAMLError as exc:  # ReaderError: control characters / binary content
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
        problems.append(Problem("contains binary data (an unprintable character), so it is not a YAML text file",
                                file, line, None, "remove the character or restore the file"))
        out.data = None
    finally:
        if loader is not None:
            loader.dispose()
    return out


def parse_yaml(text: str, file: str) -> tuple[Any, dict[Path_, int], list[Problem]]:
    """Same shape as :func:`goldfish.config.parse_yaml`: (data, key path → line, problems)."""
    parsed = parse(text, file)
    return parsed.data, parsed.lines, parsed.problems
