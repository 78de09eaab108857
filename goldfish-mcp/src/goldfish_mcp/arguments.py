"""Arguments that do not fit a tool's input schema, explained like every other tool error.

The SDK validates arguments with pydantic before a tool runs and would hand the agent pydantic's
own report (``1 validation error for runsArguments … For further information visit https://…``).
:func:`explain` turns it into Goldfish's "message + hint" form: which argument, the value given
and the limit or the expected type, read from the tool's JSON schema. :func:`limits` renders the
same limits for ``docs/tools.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: what a pydantic type error expects, in words
_EXPECTED = {
    "int": "a whole number", "float": "a number", "bool": "true or false",
    "string": "a string", "str": "a string", "list": "a list", "dict": "an object",
    "none": "null", "model": "an object",
}


def _clip(value: Any, limit: int = 60) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f", {len(value)} characters" if isinstance(value, str) else (
        f", {len(value)} items" if isinstance(value, (list, dict)) else "")
    return f"{text[:limit]}…{text[-1]} ({type(value).__name__}{size})"


def _arg(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "arguments"


def _concrete(schema: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an optional argument's schema."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return options[0] if len(options) == 1 else schema


def _describe_type(schema: dict[str, Any]) -> str:
    s = _concrete(schema)
    if "enum" in s:
        return "one of " + ", ".join(repr(v) for v in s["enum"])
    kind = s.get("type")
    if kind == "array":
        return f"a list of {_describe_type(s.get('items', {}))}s".replace("ss", "s")
    return {"integer": "a whole number", "number": "a number", "boolean": "true or false",
            "string": "a string", "object": "an object"}.get(str(kind), "a value")


def limits(schema: dict[str, Any]) -> str:
    """The limits of one argument in words (``1-100``, ``≤ 4000 characters``, ``≤ 8 items``)."""
    s = _concrete(schema)
    parts = []
    low = s.get("minimum", s.get("exclusiveMinimum"))
    high = s.get("maximum", s.get("exclusiveMaximum"))
    low_text = None if low is None else (f"> {low:g}" if "exclusiveMinimum" in s else f"{low:g}")
    if low is not None and high is not None and "exclusiveMinimum" not in s:
        parts.append(f"{low:g}-{high:g}")
    else:
        if low_text is not None:
            parts.append(low_text if low_text.startswith(">") else f"≥ {low_text}")
        if high is not None:
            parts.append(f"≤ {high:g}")
    if "maxLength" in s or s.get("minLength", 0) > 0:
        lo, hi = s.get("minLength", 0), s.get("maxLength")
        parts.append(f"{lo}-{hi} characters" if lo and hi else
                     f"≤ {hi} characters" if hi else f"≥ {lo} characters")
    if "maxItems" in s or s.get("minItems", 0) > 0:
        lo, hi = s.get("minItems", 0), s.get("maxItems")
        parts.append(f"{lo}-{hi} items" if lo and hi else
                     f"≤ {hi} items" if hi else f"≥ {lo} items")
    item = s.get("items") if isinstance(s.get("items"), dict) else None
    if item and limits(item):
        parts.append(f"each {limits(item)}")
    return ", ".join(parts)


def _schema_at(schema: dict[str, Any], loc: tuple[Any, ...]) -> dict[str, Any]:
    node = schema
    for part in loc:
        node = _concrete(node)
        if isinstance(part, int):
            node = node.get("items", {}) if isinstance(node.get("items"), dict) else {}
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def _one(error: Mapping[str, Any], schema: dict[str, Any]) -> tuple[str, str]:
    kind = str(error.get("type", ""))
    loc = tuple(error.get("loc", ()))
    arg = _arg(loc)
    ctx = error.get("ctx") or {}
    value = error.get("input")
    given = _clip(value)
    node = _schema_at(schema, loc)
    allowed = limits(node)
    allowed_text = f" (allowed: {allowed})" if allowed else ""
    if kind == "missing":
        what = (node.get("description") or "").strip()
        return (f"argument `{arg}` is required",
                f"pass `{arg}`" + (f": {what}" if what else "") + allowed_text)
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind == "string_too_long" else "items"
        size = len(value) if isinstance(value, (str, list, dict)) else ctx.get("actual_length")
        return (f"argument `{arg}` has {size} {unit}; at most {ctx.get('max_length')} are "
                "allowed", f"shorten it to at most {ctx.get('max_length')} {unit}")
    if kind in ("string_too_short", "too_short"):
        unit = "characters" if kind == "string_too_short" else "items"
        return (f"argument `{arg}` is {given}; it needs at least {ctx.get('min_length')} {unit}",
                f"pass a value with at least {ctx.get('min_length')} {unit}")
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        word, key = bounds[kind]
        return (f"argument `{arg}` is {given}; it must be {word} {ctx.get(key)}",
                f"pass a value in the allowed range{allowed_text}")
    if kind in ("literal_error", "enum"):
        expected = _describe_type(node) if node else f"one of {ctx.get('expected')}"
        return (f"argument `{arg}` is {given}; it must be {expected}",
                f"pass {expected}")
    base = kind.split("_")[0]
    if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
        expected = _describe_type(node) if node else _EXPECTED.get(base, "another type")
        if kind == "int_from_float" or base == "int":
            expected = "a whole number (integer)"
        return (f"argument `{arg}` must be {expected}, got {given}",
                f"pass {expected}{allowed_text}")
    if kind == "unexpected_keyword_argument" or kind == "extra_forbidden":
        return (f"argument `{arg}` is not one this tool takes",
                "see the tool's input schema (docs/tools.md lists every argument)")
    return (f"argument `{arg}` is {given}, which this tool does not accept",
            f"pass {_describe_type(node)}{allowed_text} (docs/tools.md lists every argument)")


def explain(tool: str, errors: Sequence[Mapping[str, Any]], schema: dict[str, Any]) -> str:
    """The tool-error text for pydantic ``errors`` against the tool's input ``schema``."""
    parts = [_one(e, schema) for e in errors[:5]]
    message = "; ".join(m for m, _ in parts)
    hints = "; ".join(dict.fromkeys(h for _, h in parts))
    more = len(errors) - len(parts)
    if more > 0:
        message += f" (and {more} more)"
    return f"Error executing tool {tool}: {message}\nhint: {hints}"
