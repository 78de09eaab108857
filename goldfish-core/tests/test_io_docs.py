"""docs/pipelines.md documents every public name of the in-stage runtime, `goldfish.io`."""

from __future__ import annotations

from pathlib import Path

from goldfish import io

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"


def test_every_public_goldfish_io_name_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    reference = text.split("### `goldfish.io` reference", 1)
    assert len(reference) == 2, "docs/pipelines.md has no `goldfish.io` reference section"
    missing = [name for name in io.__all__ if f"`io.{name}" not in reference[1]]
    assert not missing, f"docs/pipelines.md does not document goldfish.io.{missing}"
    # and documents nothing that is not there
    documented = {line.split("`io.", 1)[1].split("(", 1)[0].split("`", 1)[0]
                  for line in reference[1].splitlines() if line.startswith("| `io.")}
    assert documented == set(io.__all__)
