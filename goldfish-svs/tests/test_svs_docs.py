"""docs/pipelines.md documents every check goldfish-svs runs, with the code's own defaults: the
table is generated from goldfish_svs.settings.DEFAULTS, and this test fails when it is stale."""

from __future__ import annotations

from goldfish_svs import reference
from goldfish_svs.settings import DEFAULTS


def test_the_checks_table_in_pipelines_md_matches_the_code() -> None:
    path, text = reference.expected()
    assert path.read_text(encoding="utf-8") == text, (
        "docs/pipelines.md is stale: run `uv run python -m goldfish_svs.reference`")


def test_every_default_check_is_in_the_table_with_its_thresholds() -> None:
    table = reference.render()
    for name, settings in DEFAULTS.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        for key, value in settings.items():
            if key not in ("on", "severity"):
                assert f"`{key}: {reference._value(value)}`" in row, (name, key)
        assert f"| {settings['severity']} |" in row
    assert "`seconds: 1800`" in table  # stall: the code's default, not the 600 s of an example
