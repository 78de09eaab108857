"""`goldfish lineage source:NAME`, the form the docs promise: down to every stage that read a
source, up to the run output a promoted source came from; a typo is an error with a hint."""

from __future__ import annotations

import json

from goldfish.project import Project
from goldfish.runs import sources
from goldfish.runs.engine import Engine
from goldfish.runs.records import lineage
from runs_support import cli_process, edit


def _run_reading_a_source(project: Project) -> tuple[str, str]:
    data = project.root / "data" / "raw.json"
    data.parent.mkdir()
    data.write_text(json.dumps({"xs": [10, 20]}))
    src = sources.register_source(project, "raw", data, "ten and twenty")
    text = (project.slot_path("w1") / "pipeline.yaml").read_text()
    edit(project, "pipeline.yaml", text.replace(
        "outputs: {data: {type: json}}\n    config: {n: 5}",
        "inputs: {raw: {source: raw}}\n    outputs: {data: {type: json}}\n    config: {n: 5}"))
    edit(project, "modules/prepare.py", """
        from goldfish import io
        io.save_output("data", io.load_input("raw"))
    """)
    run_id = Engine(project).run("w1", wait=True)
    return run_id, src.digest


def test_lineage_of_a_source_on_the_command_line(project: Project) -> None:
    run_id, digest = _run_reading_a_source(project)
    down = cli_process(project, "lineage", "source:raw", "--down")
    assert down.code == 0, down.err
    assert f"source:raw → {run_id}/prepare.raw  {digest[:19]}" in down.out
    assert f"{run_id}/train.model → {run_id}/evaluate.model" in down.out
    # up from a registered file: nothing upstream, and the output says where to look instead
    up = cli_process(project, "lineage", "source:raw")
    assert up.code == 0, up.err
    assert up.out.strip() == ("source raw was registered from data/raw.json: nothing upstream; "
                              "--down lists the stages that read it")
    as_json = cli_process(project, "lineage", "source:raw", "--down", "--json")
    assert {"from": "source:raw", "to": f"{run_id}/prepare.raw", "digest": digest} in \
        json.loads(as_json.out)
    typo = cli_process(project, "lineage", "source:rwa")
    assert typo.code != 0 and "unknown source 'rwa'" in typo.err and "'raw'" in typo.err
    assert "Traceback" not in typo.err


def test_a_promoted_source_traces_up_to_the_run_that_made_it(project: Project) -> None:
    run_id, digest = _run_reading_a_source(project)
    promoted = sources.promote_output(project, run_id, "train", "model", "model_v1")
    up = lineage(project, "source:model_v1", "up")
    assert up[0] == {"from": f"{run_id}/train.model", "to": "source:model_v1",
                     "digest": promoted.digest}
    # ... and on through the stage that made it, back to the registered source
    assert {"from": "source:raw", "to": f"{run_id}/prepare.raw", "digest": digest} in up
    out = cli_process(project, "lineage", "source:model_v1")
    assert out.code == 0 and f"{run_id}/train.model → source:model_v1" in out.out
    assert lineage(project, " source: model_v1 ", "up") == up  # spaces are forgiven
