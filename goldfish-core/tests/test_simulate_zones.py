"""The local backend's `simulate: {zones, refuse_zones}` rehearses a cloud zone search: refused
zones are recorded and skipped, and when all refuse the stage fails with the typed capacity error
every cloud backend raises (GCE's CapacityError is a subclass)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from goldfish.config import load_config
from goldfish.errors import CapacityError, ProblemsError
from goldfish.runs.engine import Engine
from goldfish.testing.projects import CHAIN, make_project, stage_rows, update_config


def _project(tmp_path: Path, goldfish_plugins: Any, simulate: dict[str, Any]) -> Any:
    project = make_project(tmp_path, CHAIN, plugins=goldfish_plugins)
    update_config(project, profiles={"local": {"backend": "local", "simulate": simulate}})
    return project


def test_a_refused_zone_is_skipped_and_the_record_says_so(tmp_path: Path,
                                                          goldfish_plugins: Any) -> None:
    project = _project(tmp_path, goldfish_plugins,
                       {"zones": ["zone-a", "zone-b"], "refuse_zones": ["zone-a"]})
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, timeout=120) == "done"
    for row in stage_rows(project, run_id).values():
        data = json.loads(row["handle"])["data"]
        assert data["zone"] == "zone-b"
        assert data["zones_tried"] == ["zone-a (simulated): ZONE_RESOURCE_POOL_EXHAUSTED (the "
                                       "profile's simulate.refuse_zones lists zone-a)"]


def test_every_zone_refusing_fails_the_stage_with_a_capacity_error(
        tmp_path: Path, goldfish_plugins: Any) -> None:
    project = _project(tmp_path, goldfish_plugins,
                       {"zones": ["zone-a", "zone-b"], "refuse_zones": ["zone-a", "zone-b"]})
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, timeout=120) == "failed"
    first = stage_rows(project, run_id)["prepare"]
    assert first["state"] == "failed" and first["handle"] is None
    assert first["error"].startswith("could not launch: no zone could start job")
    assert "zone-a (simulated): ZONE_RESOURCE_POOL_EXHAUSTED" in first["error"]
    assert "zone-b (simulated): ZONE_RESOURCE_POOL_EXHAUSTED" in first["error"]
    job_dir = project.runs_dir / run_id / "prepare"
    assert not (job_dir / "launch.lock").exists()  # nothing was started: a retry may launch
    assert not (job_dir / "handle.json").exists()


def test_the_backend_raises_the_typed_error_with_every_refusal(tmp_path: Path) -> None:
    from goldfish.builtins.local_compute import LocalBackend
    from goldfish.compute import Job

    job_dir = tmp_path / "job"
    (job_dir / "code").mkdir(parents=True)
    backend = LocalBackend(tmp_path, {"simulate": {"refuse_zones": ["z1", "z2"],
                                                   "zones": ["z1", "z2"]}})
    job = Job(job_id="r-1.s", run_id="r-1", stage="s", job_dir=job_dir,
              command=["python", "-c", "pass"])
    with pytest.raises(CapacityError) as info:
        backend.launch(job)
    assert [z.split(" ")[0] for z in info.value.zones_tried] == ["z1", "z2"]
    assert "simulate" in (info.value.hint or "")
    # refused zones alone: the search ends in `local`
    placed = LocalBackend(tmp_path, {"simulate": {"refuse_zones": ["z1"]}})
    handle = placed.launch(job)
    try:
        assert handle.data["zone"] == "local" and len(handle.data["zones_tried"]) == 1
        deadline = time.monotonic() + 60
        while placed.poll(handle).state != "exited" and time.monotonic() < deadline:
            placed.wait_any([handle], timeout=1.0)
        assert placed.poll(handle).state == "exited"
    finally:
        placed.release(handle)


def test_a_refused_zone_outside_the_search_is_a_located_error(tmp_path: Path,
                                                              goldfish_plugins: Any) -> None:
    path = tmp_path / "goldfish.yaml"
    path.write_text("project: p\nprofiles:\n  local:\n    backend: local\n    simulate:\n"
                    "      zones: [a, b]\n      refuse_zones: [c]\n", encoding="utf-8")
    with pytest.raises(ProblemsError) as info:
        load_config(path, goldfish_plugins)
    [problem] = info.value.problems
    assert (problem.key, problem.line) == ("profiles.local.simulate.refuse_zones", 7)
    assert problem.message == "refuse_zones names c, which zones does not list (a, b)"
    assert problem.hint == "add it to zones or remove it from refuse_zones"
