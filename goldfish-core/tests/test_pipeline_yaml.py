"""``goldfish.yamlpos``: the line-keeping YAML loader under ``pipeline.yaml`` and stage configs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from goldfish.yamlpos import _EXP_FLOAT, parse, parse_yaml
from hypothesis import given, settings
from hypothesis import strategies as st

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
           | st.floats(allow_nan=False, allow_infinity=True, width=32)
           # "1e3" as text would read back as a float: a deliberate difference, tested below
           | st.text(max_size=12).filter(lambda t: not _EXP_FLOAT.match(t.strip())))
DATA = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(KEYS, kids, max_size=4), max_leaves=25)


def _no_dates(value: Any) -> Any:
    """safe_load turns 2024-01-01 into a date; yamlpos keeps the text (configs go to JSON)."""
    if isinstance(value, dict):
        return {k: _no_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_dates(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


@settings(max_examples=200, deadline=None)
@given(DATA, st.sampled_from([False, True]))
def test_same_data_as_safe_load(data: Any, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    parsed = parse(text, "x.yaml")
    assert parsed.problems == []
    assert parsed.data == _no_dates(yaml.safe_load(text))


def test_lines_of_keys_items_and_values() -> None:
    text = "a: 1\nb:\n  - x\n  - {c: 2,\n     d: 3}\ne:\n  f:\n    g\n"
    parsed = parse(text, "x.yaml")
    assert parsed.lines[("a",)] == 1 and parsed.lines[("b",)] == 2
    assert parsed.lines[("b", 0)] == 3 and parsed.lines[("b", 1)] == 4
    assert parsed.lines[("b", 1, "d")] == 5
    assert parsed.lines[("e", "f")] == 7 and parsed.value_lines[("e", "f")] == 8
    assert parsed.line(("b", 1, "missing")) == 4  # the closest located ancestor
    assert parsed.line(()) == 1


def test_anchors_aliases_and_merge_keys() -> None:
    text = "base: &b {lr: 0.1, epochs: 3}\nfast:\n  <<: *b\n  epochs: 1\nsame: *b\n"
    data = parse(text, "x.yaml").data
    assert data["fast"] == {"lr": 0.1, "epochs": 1} and data["same"] == {"lr": 0.1, "epochs": 3}


def test_deliberate_differences_from_safe_load() -> None:
    data = parse("lr: 1e-3\nday: 2024-01-01\nquoted: '1e-3'\n", "x.yaml").data
    assert data == {"lr": 0.001, "day": "2024-01-01", "quoted": "1e-3"}


def test_duplicate_keys_and_syntax_errors_are_located_problems() -> None:
    data, lines, problems = parse_yaml("a: 1\nb: 2\na: 3\n", "c.yaml")
    assert data == {"a": 1, "b": 2} and lines[("a",)] == 1
    assert [(p.line, p.key, p.message) for p in problems] == [
        (3, "a", "duplicate key 'a' (first on line 1)")]
    data, _, problems = parse_yaml("a: [1, 2\nb: 3\n", "c.yaml")
    assert data is None and problems[0].file == "c.yaml"
    assert problems[0].message.startswith("YAML syntax error")
    _, _, problems = parse_yaml("x: *nowhere\n", "c.yaml")
    assert problems and problems[0].line == 1
    _, _, problems = parse_yaml("a: \x01\n", "c.yaml")
    assert "unprintable character" in problems[0].message


def test_complex_keys_are_rejected() -> None:
    _, _, problems = parse_yaml("? [a, b]\n: 1\n", "c.yaml")
    assert [p.message for p in problems] == ["a key must be a plain name"]
