"""A cached stage is reused only while every stored output object still exists; otherwise it runs
again and its plan/stage note says why."""

from __future__ import annotations

from pathlib import Path

from goldfish.artifacts import ArtifactStore
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from runs_support import CHAIN, make_project

DIRECTORY_CHAIN = {
    **CHAIN,
    "pipeline.yaml": """
        name: chain
        stages:
          - name: prepare
            outputs: {data: {type: directory}}
          - name: train
            inputs: {data: {from: prepare.data}}
            outputs: {model: {type: json}}
    """,
    "modules/prepare.py": """
        import pathlib
        from goldfish import io
        out = pathlib.Path(io.output_path("data"))
        out.mkdir(parents=True, exist_ok=True)
        (out / "a.txt").write_text("alpha")
        (out / "b.txt").write_text("beta")
    """,
    "modules/train.py": """
        from goldfish import io
        data = io.load_input("data")
        io.save_output("model", {"files": sorted(p.name for p in data.iterdir())})
    """,
}



def delete_object(project: Project, digest: str) -> None:
    store = ArtifactStore.for_project(project)
    path = store.storage.local_path(store.object_uri(digest))
    assert path is not None and path.exists()
    path.chmod(0o644)
    path.unlink()


def test_a_stage_whose_output_object_is_gone_runs_again_and_says_why(project: Project) -> None:
    engine = Engine(project)
    first = engine.run("w1", wait=True)
    done = get_run(project, first)
    assert done.state == "done"
    delete_object(project, done.stage("prepare").outputs["data"]["digest"])  # plan-time case
    delete_object(project, done.stage("train").outputs["model"]["digest"])  # schedule-time case

    plan = engine.run("w1", dry_run=True)
    prepare = next(s for s in plan.steps if s.stage == "prepare")
    assert prepare.action == "run"
    assert f"outputs of {first}/prepare are gone" in prepare.why and "data" in prepare.why

    second = engine.run("w1", wait=True)
    info = get_run(project, second)
    assert info.state == "done"
    assert info.stage("prepare").state == "done"  # ran, not reused
    assert "gone" in info.stage("prepare").note
    assert info.stage("train").state == "done"  # its key was known only after prepare ran
    assert f"outputs of {first}/train are gone" in info.stage("train").note
    assert info.stage("evaluate").state == "reused"  # its outputs are all still there
    store = ArtifactStore.for_project(project)
    assert store.present(info.stage("train").outputs["model"]["digest"])  # stored again


def test_a_directory_output_with_a_file_gone_is_not_reused(tmp_path: Path,
                                                           goldfish_plugins: object) -> None:
    project = make_project(tmp_path, DIRECTORY_CHAIN, goldfish_plugins)
    engine = Engine(project)
    first = engine.run("w1", wait=True)
    assert get_run(project, first).state == "done"
    store = ArtifactStore.for_project(project)
    digest = get_run(project, first).stage("prepare").outputs["data"]["digest"]
    files = store.manifest(digest)
    assert store.present(digest)
    delete_object(project, files["b.txt"]["digest"])
    assert not store.present(digest)
    second = engine.run("w1", wait=True)
    info = get_run(project, second)
    assert info.state == "done"
    assert info.stage("prepare").state == "done"
    assert "gone" in info.stage("prepare").note
    project.db.close()
