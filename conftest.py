"""Shared by every test of the workspace: no test leaves a run's driver process behind.

A run started without ``wait`` gets a detached driver (``goldfish.runs.driver``) that lives until
the run ends; a test that ends earlier (a stage held on a gate, a run left running on purpose)
would leave it running. After each test, drivers this process started and drivers recorded
under the test's ``tmp_path`` are killed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_stray_goldfish_drivers(request: pytest.FixtureRequest) -> Iterator[None]:
    roots: list[Path] = []
    if "tmp_path" in request.fixturenames:  # taken now: it is torn down before we run again
        roots.append(Path(request.getfixturevalue("tmp_path")))
    yield
    from goldfish.runs import driver

    driver.stop_drivers(roots)
