"""Run a small real pipeline through the real engine on your backend: the end-to-end proof.

The conformance suites check a backend call by call; this checks that Goldfish itself can use
it: a project is created, its ``goldfish.yaml`` names a profile on your backend (and, if given,
your storage URI with its settings), and the three-stage :data:`~goldfish.testing.projects.CHAIN`
pipeline runs to the end through :class:`goldfish.runs.engine.Engine` — snapshot, staging, launch,
polling, fetch, output storage, metrics. You get the run record back::

    def test_my_backend_runs_real_pipelines(goldfish_run_pipeline, register_goldfish_plugin):
        register_goldfish_plugin(my_plugin)           # the module with your hook implementations
        run = goldfish_run_pipeline(backend="mine", profile={"zone": "local-1"})
        assert run.state == "done", run.error
        assert run.metric("accuracy") is not None

``goldfish_run_pipeline`` is a pytest fixture (``goldfish.testing.pytest_plugin``) around
:func:`run_pipeline`; both use the process-wide plugin manager, so register your plugin first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldfish.testing.projects import CHAIN, make_project

if TYPE_CHECKING:
    from goldfish.plugins import Plugins
    from goldfish.runs.records import RunInfo

#: The profile the harness writes into ``goldfish.yaml``.
PROFILE = "under-test"


def run_pipeline(tmp_path: Path, *, backend: str, profile: dict[str, Any] | None = None,
                 storage: str | dict[str, Any] | None = None,
                 files: dict[str, str] | None = None, plugins: Plugins | None = None,
                 timeout: float = 300.0) -> RunInfo:
    """Run ``files`` (default :data:`CHAIN`) in a new project under ``tmp_path`` on a profile
    ``{backend: <backend>, **profile}`` with outputs in ``storage`` (a URI, or a mapping with
    ``uri`` and the storage backend's settings; default the project's ``file://`` store).

    Returns the run record (:class:`goldfish.runs.records.RunInfo`) once the run ended, or after
    ``timeout`` seconds with whatever state it reached then (the run is cancelled).
    """
    import yaml

    from goldfish.plugins import get_plugins
    from goldfish.project import Project
    from goldfish.runs.engine import Engine
    from goldfish.runs.records import get_run

    plugins = plugins or get_plugins()
    created = make_project(Path(tmp_path), files or CHAIN, plugins=plugins)
    data = yaml.safe_load(created.config_path.read_text(encoding="utf-8")) or {}
    data["profiles"] = {**(data.get("profiles") or {}),
                        PROFILE: {"backend": backend, **(profile or {})}}
    data["default_profile"] = PROFILE
    if storage is not None:
        data["storage"] = storage
    created.config_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    if "db" in created.__dict__:
        created.db.close()
    project = Project(created.root, plugins=plugins)
    try:
        engine = Engine(project)
        run_id = engine.run("w1", reason=f"harness: a real pipeline on backend {backend!r}")
        state = engine.wait(run_id, timeout=timeout)
        if state not in ("done", "failed", "cancelled", "lost"):
            engine.cancel(run_id)
        return get_run(project, run_id)
    finally:
        if "db" in project.__dict__:
            project.db.close()
