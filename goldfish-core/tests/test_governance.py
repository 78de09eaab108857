"""Plugin governance: generated references stay in sync with the code, every hook is tested."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from goldfish import hookimpl, reference
from goldfish.builtins.core_config import SECTIONS
from goldfish.config import Section
from goldfish.plugins import Plugins, resolve
from pydantic import Field

REPO = Path(__file__).resolve().parents[2]
HOW = "regenerate with `python -m goldfish.reference` and commit the result"


def test_generated_docs_are_up_to_date() -> None:
    for path, expected in reference.expected_docs(REPO / "docs").items():
        assert path.read_text(encoding="utf-8") == expected, f"{path} is stale: {HOW}"


def test_hook_reference_shows_every_spec_with_its_exact_signature() -> None:
    text = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    for name, fn in reference.hook_specs():
        assert f"### `{name}`" in text, f"hook {name} is not documented: {HOW}"
        assert reference.hook_signature(fn) in text, f"{name}'s signature changed: {HOW}"
    assert "def render_orientation(project: Project) -> str | None" in text
    assert "### `render_orientation` *(first result wins)*" in text


def test_every_hook_has_a_test_named_after_it() -> None:
    test_dirs = [REPO / "tests", *REPO.glob("goldfish-*/tests")]
    source = "\n".join(p.read_text(encoding="utf-8") for d in test_dirs for p in d.rglob("*.py"))
    defined = set(re.findall(r"def (test_hook_\w+)\(", source))
    missing = [name for name, _ in reference.hook_specs() if f"test_hook_{name}" not in defined]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"
    assert len(reference.hook_specs()) >= 16


def test_config_reference_documents_every_core_key() -> None:
    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"### `{section}`" in text
    for key in ("profiles.<name>.gpu.count", "profiles.<name>.timeout_minutes",
                "limits.max_file_mb"):
        assert f"`{key}`" in text


def test_core_sections_all_resolve() -> None:
    for section, target in SECTIONS.items():
        assert resolve(target) is not None, section


class Weather(Section):
    city: str = Field("Oslo", description="where the forecast is for")


class WeatherPlugin:
    @hookimpl
    def register_config_sections(self, register: Callable[..., None]) -> None:
        register("weather", Weather)

    @hookimpl
    def register_compute_backends(self, register: Callable[..., None]) -> None:
        register("sky", "goldfish_example.backend:ExampleBackend", Weather)


def test_config_reference_includes_plugin_sections_and_backend_keys(
        goldfish_plugins: Plugins, register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(WeatherPlugin(), name="weather-plugin")
    text = reference.render_config(goldfish_plugins)
    assert "### `weather`" in text and "*Registered by* `weather-plugin`." in text
    assert "| `weather.city` | str | `\"Oslo\"` | where the forecast is for |" in text
    assert "- `backend: sky` (from `weather-plugin`)" in text
    assert "`profiles.<name>.city`" in text


def test_check_mode_reports_stale_docs(tmp_path: Path) -> None:
    for name in ("plugins.md", "config.md"):
        (tmp_path / name).write_text((REPO / "docs" / name).read_text(encoding="utf-8"))
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 0
    stale = (tmp_path / "plugins.md").read_text().replace("def recall(", "def recal(")
    (tmp_path / "plugins.md").write_text(stale)
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 1
    assert reference.main(["--docs", str(tmp_path)]) == 0  # regenerates
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 0
