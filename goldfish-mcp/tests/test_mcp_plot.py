"""`plot_metrics` over a real `goldfish serve`: a PNG a person or a vision model reads on its own
(one panel per metric, axes, a legend naming the runs), drawn with matplotlib — which the server
imports only when a plot is drawn, never at start-up."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import anyio
import pytest
from goldfish.project import Project
from goldfish.runs.engine import Engine
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_support import GOLDFISH, data, new_project, server_env, text, write_files


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, list[str]]:
    project = new_project(tmp_path_factory.mktemp("plot"), with_workspace=True)
    write_files(project.slot_path("w1"))
    runs = [Engine(project).run("exp", reason=f"lr {lr}", set_={"train": {"lr": lr}}, wait=True)
            for lr in (0.1, 0.8)]
    return project, runs


def _call(project: Project, tool: str, args: dict[str, Any]) -> Any:
    params = StdioServerParameters(command=GOLDFISH, args=["serve", "--project",
                                                           str(project.root)], env=server_env())

    async def go() -> Any:
        async with Client(params, read_timeout_seconds=120) as c:
            return await c.call_tool(tool, args)

    return anyio.run(go)


def _pixels(png: bytes) -> Any:
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def _has_colour(colours: list[tuple[int, Any]], rgb: tuple[int, int, int],
                tolerance: int = 40) -> int:
    """Pixels within ``tolerance`` of ``rgb`` (antialiased edges are near, not equal)."""
    return sum(count for count, px in colours
               if all(abs(a - b) <= tolerance for a, b in zip(px, rgb, strict=True)))


def test_one_panel_per_metric_with_axes_and_a_legend_naming_the_runs(
        two_runs: tuple[Project, list[str]]) -> None:
    project, (low, high) = two_runs
    result = _call(project, "plot_metrics", {"runs": [low, high]})
    assert not result.is_error, text(result)
    image_part, text_part = result.content
    assert image_part.type == "image" and image_part.mime_type == "image/png"
    png = base64.b64decode(image_part.data)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    described = result.structured_content
    # small multiples: the loss curve and the final accuracy do not share an axis
    assert [p["metric"] for p in described["panels"]] == ["train.accuracy", "train.loss"]
    assert all(p["runs"] == [low, high] for p in described["panels"])
    assert described["legend"] == [{"run": low, "colour": "blue"},
                                   {"run": high, "colour": "vermillion"}]
    assert "2 panels, one per metric: train.accuracy, train.loss" in text_part.text
    assert f"legend: blue = {low}, vermillion = {high}" in text_part.text
    assert f"{high} train.loss: 5 points, steps 0..4" in text_part.text
    image = _pixels(png)
    # default size: two columns of panels, one row, plus the legend band
    assert image.size == tuple(described["size"]) and image.size[0] >= 900
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 50  # antialiased curves, text, ticks
    white = max(count for count, rgb in colours if rgb == (255, 255, 255))
    assert white < 0.97 * image.size[0] * image.size[1]  # not a blank canvas
    # both runs are drawn, each in its legend colour (Okabe-Ito blue and vermillion)
    assert _has_colour(colours, (0, 114, 178)) > 200 and _has_colour(colours, (213, 94, 0)) > 200


def test_a_chosen_metric_and_size(two_runs: tuple[Project, list[str]]) -> None:
    project, (_low, high) = two_runs
    result = _call(project, "plot_metrics", {"runs": [high], "metrics": ["loss"],
                                             "width": 400, "height": 300})
    described = data(result)
    assert [p["metric"] for p in described["panels"]] == ["train.loss"]
    assert _pixels(base64.b64decode(result.content[0].data)).size == (400, 300)
    assert "1 panel, one per metric: train.loss" in text(result)


def test_serve_start_up_does_not_import_matplotlib(two_runs: tuple[Project, list[str]],
                                                   tmp_path: Path) -> None:
    """-X importtime lists every module the server imports: none of matplotlib until a plot."""
    project, (low, _high) = two_runs
    log = tmp_path / "imports.log"
    env = {**server_env(), "PYTHONPROFILEIMPORTTIME": "1"}
    params = StdioServerParameters(command=GOLDFISH, args=["serve", "--project",
                                                           str(project.root)], env=env)

    async def go() -> None:
        with log.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog),
                              read_timeout_seconds=120) as c:
                await c.list_tools()
                assert not (await c.call_tool("status", {})).is_error
                started = log.read_text(encoding="utf-8")
                assert "goldfish_mcp.tools" in started  # the probe sees the server's imports
                assert "matplotlib" not in started and "PIL" not in started
                assert not (await c.call_tool("plot_metrics", {"runs": [low]})).is_error
                assert "matplotlib.figure" in log.read_text(encoding="utf-8")

    anyio.run(go)
