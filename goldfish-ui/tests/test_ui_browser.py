"""The dashboard in a real headless Chromium (Debian's, through its chromedriver): the overview,
a run page with its SVG plots and their controls, the compare page, and a running stage whose
curve grows on the page without a reload. Each page's screenshot is written under
``tests/artifacts`` (git-ignored) and checked not to be blank."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

import pytest
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from ui_support import pixel_spread, screenshot

Demo = tuple[Project, dict[str, str]]


def nice_step(ticks: list[float]) -> bool:
    """Evenly spaced, by 1, 2 or 5 times a power of ten."""
    steps = {round(b - a, 9) for a, b in pairwise(ticks)}
    if len(steps) != 1:
        return False
    mantissa = f"{steps.pop():e}".split("e")[0]
    return float(mantissa) in (1.0, 2.0, 5.0)


def load(chrome: Any, url: str, ready: str = "main") -> None:
    chrome.get(url)
    WebDriverWait(chrome, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ready))


def texts(chrome: Any, css: str) -> list[str]:
    return [e.text for e in chrome.find_elements(By.CSS_SELECTOR, css)]


def not_blank(chrome: Any, name: str) -> None:
    path = screenshot(chrome, name)
    assert pixel_spread(path) > 8, f"{path} looks blank"
    chrome.set_window_size(1280, 1000)


def only_local_requests(chrome: Any, base: str) -> None:
    urls = chrome.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(base) for u in urls), urls


def test_overview(chrome: Any, served: str, demo: Demo) -> None:
    _, runs = demo
    load(chrome, served + "/", "section.best table")
    assert chrome.find_element(By.CSS_SELECTOR, "section.goal h1").text == "goldfish-demo"
    best = chrome.find_element(By.CSS_SELECTOR, "section.best tbody tr").text
    assert "digits" in best and "accuracy" in best
    blocking = chrome.find_element(By.CSS_SELECTOR, "section.findings").text
    assert runs["broken"] in blocking and "nonfinite_metric" in blocking
    assert runs["broken"] in chrome.find_element(By.CSS_SELECTOR, "section.unconcluded").text
    assert chrome.execute_script("return window.__pwned") is None
    only_local_requests(chrome, served)
    not_blank(chrome, "overview")


def test_run_page_plots_with_axes_ticks_legend_and_controls(chrome: Any, served: str,
                                                            demo: Demo) -> None:
    _, runs = demo
    run = runs["tuned"]
    load(chrome, served + f"/runs/{run}", "svg.gf-plot")
    loss = chrome.find_element(By.CSS_SELECTOR, 'svg.gf-plot[data-metric="train.loss"]')
    line = loss.find_element(By.CSS_SELECTOR, "path.gf-line")
    assert line.get_attribute("data-points") == "40"
    assert line.get_attribute("d").count("L") == 39
    xs = [t.text for t in loss.find_elements(By.CSS_SELECTOR, "text.gf-tick-x")]
    ys = [t.text for t in loss.find_elements(By.CSS_SELECTOR, "text.gf-tick-y")]
    assert len(xs) >= 3 and len(ys) >= 3
    steps = [float(x) for x in xs]
    assert nice_step(steps) and nice_step([float(y) for y in ys]), (xs, ys)
    assert steps[0] <= 0 and steps[-1] >= 39
    assert [t.text for t in loss.find_elements(By.CSS_SELECTOR, ".gf-legend-item text")] == [run]
    assert loss.find_element(By.CSS_SELECTOR, "text.gf-x-label").text == "step"
    assert "a smaller step converges more smoothly" in chrome.find_element(By.ID, "run").text
    states = texts(chrome, "#stages td.st")
    assert len(states) == 3 and all(s.startswith(("done", "reused")) for s in states)

    chrome.find_element(By.CSS_SELECTOR, ".gf-log").click()  # log scale: powers of ten
    loss = chrome.find_element(By.CSS_SELECTOR, 'svg.gf-plot[data-metric="train.loss"]')
    assert loss.find_element(By.CSS_SELECTOR, "text.gf-y-label").text.endswith("(log)")
    ys = [t.text for t in loss.find_elements(By.CSS_SELECTOR, "text.gf-tick-y")]
    assert all(re.match(r"^(0\.0*[125]|[125]0*|[125]e-?\d+)$", y) for y in ys), ys
    chrome.execute_script("const s = document.querySelector('.gf-smooth'); s.value = '0.9';"
                          "s.dispatchEvent(new Event('input', {bubbles: true}));")
    loss = chrome.find_element(By.CSS_SELECTOR, 'svg.gf-plot[data-metric="train.loss"]')
    assert len(loss.find_elements(By.CSS_SELECTOR, "path.gf-raw")) == 1  # raw under smoothed
    assert chrome.find_element(By.CSS_SELECTOR, ".gf-smooth-value").text == "0.90"
    chrome.find_element(By.CSS_SELECTOR, ".gf-log").click()
    chrome.execute_script("const s = document.querySelector('.gf-x'); s.value = 'elapsed';"
                          "s.dispatchEvent(new Event('change', {bubbles: true}));")
    loss = chrome.find_element(By.CSS_SELECTOR, 'svg.gf-plot[data-metric="train.loss"]')
    assert loss.find_element(By.CSS_SELECTOR, "text.gf-x-label").text.startswith("time")
    assert all(t.text.endswith("s") for t in loss.find_elements(By.CSS_SELECTOR,
                                                                  "text.gf-tick-x"))
    chrome.execute_script("const s = document.querySelector('.gf-smooth'); s.value = '0';"
                          "s.dispatchEvent(new Event('input', {bubbles: true}));"
                          "const x = document.querySelector('.gf-x'); x.value = 'step';"
                          "x.dispatchEvent(new Event('change', {bubbles: true}));")
    only_local_requests(chrome, served)
    not_blank(chrome, "run")


def test_compare_overlays_the_runs_and_diffs_config_and_code(chrome: Any, served: str,
                                                              demo: Demo) -> None:
    _, runs = demo
    a, b = runs["baseline"], runs["tuned"]
    load(chrome, served + f"/compare?runs={a}&runs={b}", "svg.gf-plot")
    loss = chrome.find_element(By.CSS_SELECTOR, 'svg.gf-plot[data-metric="train.loss"]')
    lines = loss.find_elements(By.CSS_SELECTOR, "path.gf-line")
    assert [x.get_attribute("data-run") for x in lines] == [a, b]
    assert lines[0].get_attribute("stroke") != lines[1].get_attribute("stroke")
    assert [t.text for t in loss.find_elements(By.CSS_SELECTOR, ".gf-legend-item text")] == [a, b]
    config = chrome.find_element(By.CSS_SELECTOR, "table.config-diff").text
    assert "train.lr" in config and "0.5" in config and "0.2" in config
    added = texts(chrome, "pre.code-diff span.add")
    assert "+lr: 0.2" in added
    not_blank(chrome, "compare")


def test_a_running_stage_updates_without_a_reload(chrome: Any, served: str, demo: Demo) -> None:
    project, _ = demo
    engine = Engine(project)
    run = engine.run("slow", reason="watch it live")
    try:
        load(chrome, served + f"/runs/{run}", "section.plots")
        chrome.execute_script("window.__sameDocument = 42")

        def points(d: Any) -> int:
            lines = d.find_elements(By.CSS_SELECTOR,
                                    'svg.gf-plot[data-metric="train.loss"] path.gf-line')
            return int(lines[0].get_attribute("data-points")) if lines else 0

        WebDriverWait(chrome, 30).until(lambda d: points(d) >= 2)
        first = points(chrome)
        WebDriverWait(chrome, 30, poll_frequency=0.2).until(lambda d: points(d) >= first + 4)
        assert chrome.execute_script("return window.__sameDocument") == 42  # not reloaded
        assert "running" in chrome.find_element(By.CSS_SELECTOR,
                                                '#stages tr[data-stage="train"] td.st').text
        assert "step" in chrome.find_element(By.ID, "log-text").text
        WebDriverWait(chrome, 20).until(lambda d: "loss" in d.find_element(
            By.CSS_SELECTOR, '#stages tr[data-stage="train"] td.metrics').text)  # its summary
        assert int(chrome.find_element(By.ID, "run").get_attribute("data-updates")) >= 2
        not_blank(chrome, "run-live")

        load(chrome, served + "/", "#active-runs")
        chrome.execute_script("window.__sameDocument = 7")
        WebDriverWait(chrome, 20).until(lambda d: run in d.find_element(By.ID,
                                                                        "active-runs").text)
        bar = chrome.find_element(By.CSS_SELECTOR, f'.stages-bar[data-run="{run}"]').text
        assert "train" in bar and "running" in bar
        engine.cancel(run)
        WebDriverWait(chrome, 30).until(lambda d: run not in d.find_element(By.ID,
                                                                            "active-runs").text)
        assert chrome.execute_script("return window.__sameDocument") == 7
    finally:
        if get_run(project, run).active:
            engine.cancel(run)


@pytest.fixture(autouse=True)
def _window(chrome: Any) -> None:
    chrome.set_window_size(1280, 1000)
