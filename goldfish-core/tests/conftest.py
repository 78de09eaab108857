"""The core tests' default ``project``: the CHAIN pipeline (prepare → train → evaluate) in a
fresh project with the installed plugins, its database closed afterwards. A test module that
needs another project defines its own ``project`` fixture, which takes precedence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from goldfish.project import Project
from runs_support import CHAIN, make_project


@pytest.fixture
def project(tmp_path: Path, goldfish_plugins: object) -> Iterator[Project]:
    p = make_project(tmp_path, CHAIN, goldfish_plugins)
    yield p
    p.db.close()
