"""Compute preflight: a backend that declares ``preflight(profile)`` refuses a run before its
snapshot; backends without it are neither built nor asked; a pipeline that does not name the
refusing backend runs as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from goldfish.builtins.local_compute import LocalBackend
from goldfish.errors import GoldfishError
from goldfish.hookspecs import hookimpl
from goldfish.project import Project
from goldfish.runs import preflight
from goldfish.runs.engine import Engine
from goldfish.testing.projects import CHAIN, make_project, update_config

BUILT: list[str] = []


class Refuser(LocalBackend):
    """A working backend that refuses at preflight (as a stub or a missing prerequisite)."""

    name = "refuser"

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        BUILT.append("refuser")
        super().__init__(project_root, {})

    def preflight(self, profile: str) -> None:
        raise GoldfishError(f"profile {profile!r} cannot run here", "use profile local")


class RefuserPlugin:
    @hookimpl
    def register_compute_backends(self, register: Any) -> None:
        register("refuser", Refuser)


def _project(tmp_path: Path, plugins: Any, pipeline: str) -> Project:
    created = make_project(tmp_path, {**CHAIN, "pipeline.yaml": pipeline}, plugins=plugins)
    update_config(created, profiles={"far": {"backend": "refuser"}})
    created.db.close()
    return Project(created.root, plugins=plugins)


ON_FAR = CHAIN["pipeline.yaml"].replace("config: {lr: 0.1, epochs: 3}",
                                        "config: {lr: 0.1, epochs: 3}\n            profile: far")


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(RefuserPlugin(), name="refuser")
    BUILT.clear()
    return goldfish_plugins


def test_a_refusing_backend_stops_the_run_before_the_snapshot(tmp_path: Path,
                                                               plugins: Any) -> None:
    assert "profile: far" in ON_FAR
    project = _project(tmp_path, plugins, ON_FAR)
    (project.slot_path("w1") / "modules" / "evaluate.py").write_text("print('edited')\n")
    versions = project.db.query("SELECT count(*) FROM versions")[0][0]
    engine = Engine(project)
    assert preflight.stage_profiles(project, engine.workspaces, "w1") == ["local", "far"]
    for dry_run in (False, True):
        with pytest.raises(GoldfishError, match="profile 'far' cannot run here"):
            engine.run("w1", dry_run=dry_run, wait=True)
    assert project.db.query("SELECT count(*) FROM versions")[0][0] == versions
    assert project.db.query("SELECT count(*) FROM runs")[0][0] == 0


def test_a_pipeline_without_the_backend_neither_builds_nor_asks_it(tmp_path: Path,
                                                                   plugins: Any) -> None:
    project = _project(tmp_path, plugins, CHAIN["pipeline.yaml"])
    engine = Engine(project)
    run_id = engine.run("w1", wait=True)
    assert project.db.query("SELECT state FROM runs WHERE id = ?", (run_id,))[0][0] == "done"
    assert BUILT == []
    assert preflight.refusals(project)["far"].message == "profile 'far' cannot run here"


def test_an_unreadable_pipeline_is_left_to_the_run_s_own_load(tmp_path: Path,
                                                              plugins: Any) -> None:
    project = _project(tmp_path, plugins, ON_FAR)
    (project.slot_path("w1") / "pipeline.yaml").write_text("stages: [unclosed\n")
    engine = Engine(project)
    assert preflight.stage_profiles(project, engine.workspaces, "w1") == []
    with pytest.raises(GoldfishError) as info:
        engine.run("w1", wait=True)
    assert "cannot run here" not in str(info.value) and "pipeline.yaml" in str(info.value)
