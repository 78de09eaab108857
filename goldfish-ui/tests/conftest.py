"""Fixtures of goldfish-ui's tests: one demo project with real runs per session, the dashboard
served from a thread once per module, one headless chromium per module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from goldfish.project import Project

sys.path.insert(0, str(Path(__file__).parent))

from ui_support import browser, demo_project


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, str]]:
    return demo_project(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def served(demo: tuple[Project, dict[str, str]]) -> Iterator[str]:
    """The dashboard's base URL (``http://127.0.0.1:PORT``), served from a thread."""
    from goldfish_ui.server import Background

    with Background(Project(demo[0].root)) as server:
        yield server.url.rstrip("/")


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    driver = browser()
    try:
        yield driver
    finally:
        driver.quit()
