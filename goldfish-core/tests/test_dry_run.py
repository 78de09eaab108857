"""``run --dry-run`` writes nothing: no version, no tag, no event, no STATE.md change, no object in
the version store — whether the pipeline is valid or not."""

from __future__ import annotations

import hashlib
import os

from goldfish.project import Project
from runs_support import cli_process, edit


def footprint(project: Project) -> dict[str, object]:
    """Everything a run records: database rows, refs and objects, STATE.md, .goldfish files."""
    db = {table: [tuple(r) for r in project.db.query(f"SELECT * FROM {table} ORDER BY rowid")]
          for table in ("versions", "tags", "events", "runs", "stage_runs", "workspaces",
                        "slots")}
    files = {}
    for base in (project.root / ".goldfish", project.root / "STATE.md"):
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in paths:
            rel = str(path.relative_to(project.root))
            if rel.startswith(".goldfish/goldfish.db"):
                continue  # compared as rows above (WAL checkpoints change the bytes)
            if rel == ".goldfish/cache/config.json":
                continue  # the goldfish.yaml validation record: any command may refresh it
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"db": db, "files": files}


def test_a_dry_run_of_a_changed_slot_plans_it_and_writes_nothing(project: Project) -> None:
    edit(project, "modules/train.py", "from goldfish import io\nio.save_output('model', {})\n")
    before = footprint(project)
    plan = cli_process(project, "run", "w1", "--dry-run")
    assert plan.code == 0, plan.err
    assert "exp-v2" in plan.out and "not saved" in plan.out  # the version a run would record
    assert "train" in plan.out
    assert footprint(project) == before


def test_a_dry_run_of_an_unchanged_slot_names_its_version(project: Project) -> None:
    before = footprint(project)
    plan = cli_process(project, "run", "w1", "--dry-run", "--json")
    assert plan.code == 0, plan.err
    assert '"version": "exp-v1"' in plan.out
    assert footprint(project) == before


def test_a_dry_run_of_an_invalid_pipeline_fails_and_writes_nothing(project: Project) -> None:
    edit(project, "pipeline.yaml", "name: broken\nstages:\n  - name: a\n    inputs: {x: {from: "
                                   "nowhere.out}}\n")
    before = footprint(project)
    result = cli_process(project, "run", "w1", "--dry-run")
    assert result.code != 0
    assert "nowhere" in result.err and "Traceback" not in result.err
    assert footprint(project) == before


def test_a_dry_run_reads_configs_from_the_slot_not_the_store(project: Project) -> None:
    edit(project, "configs/train.yaml", "lr: 0.25\n")
    os.utime(project.slot_path("w1") / "configs" / "train.yaml")
    result = cli_process(project, "run", "w1", "--dry-run", "--json")
    assert result.code == 0, result.err
    assert '"lr": 0.25' in result.out
