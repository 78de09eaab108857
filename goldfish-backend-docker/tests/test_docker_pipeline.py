"""The demo pipeline end to end on a docker profile, through the real CLI and engine."""

from __future__ import annotations

from pathlib import Path

from docker_support import (
    derived_image,
    goldfish,
    project_containers,
    remove_image,
    use_docker_profile,
)
from goldfish.demo import create_demo
from goldfish.project import Project
from goldfish.runs.records import get_run
from goldfish_docker import engine


def _run(root: Path) -> object:
    proc = goldfish("run", "w1", "--wait", "-m", "docker demo", cwd=root)
    run = get_run(Project.find(explicit=str(root)), "latest")
    assert run.state == "done", (proc.stdout, proc.stderr, [
        (s.stage, s.state, s.error) for s in run.stages])
    return run


def test_demo_runs_on_docker_reuses_and_a_rebuilt_image_invalidates(
        tmp_path: Path, docker_base_image: str) -> None:
    tag = "goldfish-test/demo-runtime:latest"
    derived_image(docker_base_image, tmp_path, "one", tag=tag)
    first_image = engine.image_id(tag)
    try:
        root = tmp_path / "demo"
        create_demo(root)
        use_docker_profile(root, tag)

        first = _run(root)
        assert [s.state for s in first.stages] == ["done", "done", "done"]
        assert all(s.profile == "docker-cpu" for s in first.stages)
        evaluate = first.stages[-1]
        assert evaluate.metrics["accuracy"]["last"] > 0.5
        log = goldfish("logs", f"{first.id}/prepare", cwd=root).stdout
        assert log.strip(), "the container's output reached the run's log"
        assert project_containers(root) == [], "release removed every container"

        second = _run(root)
        assert [s.state for s in second.stages] == ["reused"] * 3
        assert all(s.cache_key == f.cache_key for s, f in zip(second.stages, first.stages, strict=True))

        derived_image(docker_base_image, tmp_path, "two", tag=tag)  # same tag, new image id
        third = _run(root)
        assert [s.state for s in third.stages] == ["done", "done", "done"]
        assert all(s.cache_key != f.cache_key for s, f in zip(third.stages, first.stages, strict=True))
        assert project_containers(root) == []
    finally:
        remove_image(tag)
        remove_image(first_image)  # the image the tag pointed at first
