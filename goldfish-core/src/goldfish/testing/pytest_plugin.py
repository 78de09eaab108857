"""Pytest fixtures for Goldfish and its plugins (registered through the ``pytest11`` entry point).

``goldfish_plugins``
    An isolated :class:`goldfish.plugins.Plugins` holding only the built-in plugins — nothing
    installed through entry points leaks in — installed as the process-wide manager
    (:func:`goldfish.plugins.set_plugins`) for the test and restored afterwards.

``register_goldfish_plugin``
    ``register_goldfish_plugin(plugin, name=None) -> str`` registers a plugin object (a module, a
    class or an instance with ``@goldfish.hookimpl`` methods) into ``goldfish_plugins`` for one
    test; it is unregistered at teardown. Registration errors (an unknown hook name, arguments
    the spec does not have) raise :class:`goldfish.errors.GoldfishError` at once.

``goldfish_project``
    A throw-away project created with :func:`goldfish.init.init_project` in ``tmp_path/project``
    (name ``test-project``, 3 slots) using the isolated plugins. Register plugins first if the
    project must see them while it is created.

``goldfish_run_pipeline``
    ``goldfish_run_pipeline(backend=..., profile=None, storage=None, files=None) -> RunInfo``
    runs a small real pipeline through the real engine on a profile using ``backend`` (and
    outputs in ``storage``) and returns the run record: see :mod:`goldfish.testing.harness`.
    Uses the isolated plugins, so register your plugin first.

Example::

    from goldfish import hookimpl

    class Recorder:
        def __init__(self):
            self.kinds = []

        @hookimpl
        def record_event(self, event):
            self.kinds.append(event.kind)

    def test_events_reach_plugins(register_goldfish_plugin, goldfish_project):
        recorder = Recorder()
        register_goldfish_plugin(recorder)
        goldfish_project.emit("note.added", summary="hello")
        assert recorder.kinds == ["note.added"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from goldfish.plugins import Plugins
    from goldfish.project import Project
    from goldfish.runs.records import RunInfo


@pytest.fixture
def goldfish_plugins() -> Iterator[Plugins]:
    from goldfish import plugins as plugin_module

    isolated = plugin_module.build(load_entry_points=False)
    previous = plugin_module.set_plugins(isolated)
    try:
        yield isolated
    finally:
        plugin_module.set_plugins(previous)


@pytest.fixture
def register_goldfish_plugin(goldfish_plugins: Plugins) -> Iterator[Callable[..., str]]:
    names: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        registered = goldfish_plugins.register(plugin, name=name)
        names.append(registered)
        return registered

    yield register
    for name in reversed(names):
        if goldfish_plugins.pm.has_plugin(name):
            goldfish_plugins.unregister(name)


@pytest.fixture
def goldfish_project(tmp_path: Path, goldfish_plugins: Plugins) -> Iterator[Project]:
    from goldfish.init import init_project

    project = init_project(tmp_path / "project", name="test-project", plugins=goldfish_plugins)
    try:
        yield project
    finally:
        if "db" in project.__dict__:
            project.db.close()


@pytest.fixture
def goldfish_run_pipeline(tmp_path: Path, goldfish_plugins: Plugins) -> Callable[..., RunInfo]:
    from goldfish.testing.harness import run_pipeline

    counter = iter(range(1_000_000))

    def run(**kwargs: object) -> RunInfo:
        return run_pipeline(tmp_path / f"pipeline{next(counter)}", plugins=goldfish_plugins,
                            **kwargs)  # type: ignore[arg-type]

    return run
