"""Records: lists, filters, metric sorting, conclusions, @best, compare, sources and lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from goldfish.errors import ConflictError, GoldfishError, InvalidInputError, NotFoundError
from goldfish.runs import sources
from goldfish.runs.compare import compare
from goldfish.runs.engine import Engine, parse_set
from goldfish.runs.records import (
    conclude,
    get_run,
    lineage,
    list_runs,
    resolve_run,
    summarize,
    tag_run,
)
from runs_support import edit

RESULTS = {"metric": "accuracy", "direction": "max"}



def run(project, lr: float, **kwargs):
    return Engine(project).run("w1", wait=True, set_=parse_set([f"train.lr={lr}"]),
                               results=RESULTS, **kwargs)


def test_summaries_have_last_min_max_count_and_trend() -> None:
    s = summarize([3.0, 2.0, 1.0, 0.5])
    assert (s["last"], s["min"], s["max"], s["count"]) == (0.5, 0.5, 3.0, 4)
    assert s["slope"] < 0
    assert summarize([])["count"] == 0 and summarize([1.0])["slope"] is None


def test_runs_are_listed_filtered_sorted_by_metric_and_paginated(project) -> None:
    a = run(project, 0.1, reason="low lr")
    b = run(project, 0.3, reason="high lr")
    c = run(project, 0.2, reason="mid lr")
    newest = list_runs(project)
    assert [r.id for r in newest] == [c, b, a]
    assert newest[0].description == "mid lr"
    assert newest[0].metric == pytest.approx(0.2)  # the results spec's metric by default
    by_metric = list_runs(project, sort="accuracy:desc")
    assert [r.id for r in by_metric] == [b, c, a]
    assert [r.id for r in list_runs(project, sort="evaluate.accuracy:asc")] == [a, c, b]
    assert [r.id for r in list_runs(project, sort="accuracy", limit=1, offset=1)] == [c]
    # runs without the metric (here: all of them) keep the newest-first order
    assert [r.id for r in list_runs(project, sort="no_such_metric:desc")] == [c, b, a]
    assert [r.id for r in list_runs(project, state="done", workspace="exp")] == [c, b, a]
    assert list_runs(project, state="failed") == []
    assert list_runs(project, workspace="other") == []
    with pytest.raises(InvalidInputError, match="unknown state"):
        list_runs(project, state="finished")
    with pytest.raises(InvalidInputError, match="METRIC"):
        list_runs(project, sort="accuracy:up")


def test_best_follows_the_results_spec(project) -> None:
    a = run(project, 0.1)
    assert resolve_run(project, "@best") == a
    b = run(project, 0.3)
    assert resolve_run(project, "exp@best") == b
    run(project, 0.2)  # worse: @best stays
    assert resolve_run(project, "@best") == b
    assert [r.id for r in list_runs(project, tag="@best")] == [b]
    assert "exp@best" in get_run(project, b).tags
    with pytest.raises(InvalidInputError, match="maintained by Goldfish"):
        tag_run(project, a, "mine@best")
    tag_run(project, a, "baseline")
    assert resolve_run(project, "baseline") == a
    assert [r.id for r in list_runs(project, tag="baseline")] == [a]


def test_conclusions_are_refused_while_active_and_recorded_after(project, tmp_path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", f"""
        import pathlib, time
        from goldfish import io
        deadline = time.time() + 30
        while not pathlib.Path({str(gate)!r}).exists() and time.time() < deadline:
            time.sleep(0.05)
        io.save_output("data", {{"xs": [1, 2, 3, 4, 5]}})
    """)
    engine = Engine(project)
    run_id = engine.run("w1", results=RESULTS)
    with pytest.raises(ConflictError, match="still running") as err:
        conclude(project, run_id, "success", "great")
    assert "wait for it" in (err.value.hint or "")
    assert get_run(project, run_id).conclusion is None  # nothing half-recorded
    gate.write_text("go")
    assert engine.wait(run_id, timeout=60) == "done"
    result = conclude(project, run_id, "partial", "ok but slow")
    assert result["metric"] == "accuracy" and result["value"] == pytest.approx(0.15)
    conclusion = get_run(project, run_id).conclusion
    assert conclusion is not None
    assert (conclusion["outcome"], conclusion["notes"]) == ("partial", "ok but slow")
    assert [r.outcome for r in list_runs(project)] == ["partial"]
    with pytest.raises(InvalidInputError, match="unknown outcome"):
        conclude(project, run_id, "great")
    events = [r[0] for r in project.db.query("SELECT kind FROM events WHERE subject = ?",
                                            (run_id,))]
    assert "run.concluded" in events


def test_compare_shows_config_code_inputs_and_metric_deltas(project) -> None:
    a = run(project, 0.1)
    edit(project, "modules/evaluate.py",
         (project.slot_path("w1") / "modules/evaluate.py").read_text() + "\n# tuned\n")
    edit(project, "modules/prepare.py", """
        from goldfish import io
        n = io.config()["n"]
        io.save_output("data", {"xs": list(range(n + 1))})
    """)
    b = run(project, 0.3)
    result = compare(project, a, b)
    assert {"stage": "train", "key": "lr", "a": 0.1, "b": 0.3} in result.config
    changed = {(i["stage"], i["input"]) for i in result.inputs}
    assert changed == {("train", "data"), ("evaluate", "data"), ("evaluate", "model")}
    delta = next(m for m in result.metrics if m["name"] == "accuracy")
    assert delta["a"] == pytest.approx(0.1)
    assert delta["b"] == pytest.approx(min(1.0, 15 * 0.3 / 12))
    assert delta["delta"] == pytest.approx(delta["b"] - delta["a"])
    assert "modules/prepare.py" in result.code_summary or "prepare.py" in result.code_diff
    text = result.render()
    assert "train.lr: 0.1 → 0.3" in text
    assert "# tuned" in text


def test_compare_with_a_run_whose_upstream_failed_names_no_phantom_run(project) -> None:
    a = run(project, 0.1)
    edit(project, "modules/train.py", "raise SystemExit('broken')\n")
    b = run(project, 0.3)
    assert get_run(project, b).stage("evaluate").state == "skipped"
    model = next(i for i in compare(project, a, b).inputs
                 if (i["stage"], i["input"]) == ("evaluate", "model"))
    assert model["b"] == "train.model (not produced)"
    assert model["a"].startswith(f"{a}/train.model (sha256:")


def test_sources_register_feed_stages_and_trace_lineage(project, tmp_path: Path) -> None:
    data = project.root / "data" / "raw.json"
    data.parent.mkdir()
    data.write_text(json.dumps({"xs": [10, 20]}))
    src = sources.register_source(project, "raw", data, "ten and twenty")
    assert src.type == "json" and src.digest.startswith("sha256:")
    with pytest.raises(ConflictError):
        sources.register_source(project, "raw", data)
    with pytest.raises(GoldfishError, match="outside the project"):
        sources.register_source(project, "outside", tmp_path / "src" / "pipeline.yaml")
    with pytest.raises(InvalidInputError):
        sources.register_source(project, "9bad", data)
    text = (project.slot_path("w1") / "pipeline.yaml").read_text()
    edit(project, "pipeline.yaml", text.replace(
        "outputs: {data: {type: json}}\n    config: {n: 5}",
        "inputs: {raw: {source: raw}}\n    outputs: {data: {type: json}}\n    config: {n: 5}"))
    edit(project, "modules/prepare.py", """
        from goldfish import io
        io.save_output("data", io.load_input("raw"))
    """)
    run_id = Engine(project).run("w1", wait=True)
    info = get_run(project, run_id)
    assert info.state == "done", info.error
    assert info.stage("prepare").inputs["raw"]["digest"] == src.digest
    up = lineage(project, f"{run_id}/evaluate")
    assert {"from": "source:raw", "to": f"{run_id}/prepare.raw", "digest": src.digest} in up
    down = {e["to"] for e in lineage(project, "source:raw", "down")}
    assert f"{run_id}/prepare.raw" in down and f"{run_id}/evaluate.model" in down
    # a typo is an error, not an empty lineage
    with pytest.raises(NotFoundError, match="unknown source 'rwa'"):
        lineage(project, "source:rwa", "down")
    with pytest.raises(NotFoundError, match="no stage 'evalute'"):
        lineage(project, f"{run_id}/evalute")
    promoted = sources.promote_output(project, run_id, "train", "model", "model_v1")
    assert promoted.digest == info.stage("train").outputs["model"]["digest"]
    assert promoted.origin == f"{run_id}/train.model"
    assert [s.name for s in sources.list_sources(project)] == ["model_v1", "raw"]
    # an input override pins another run's output or a source
    second = Engine(project).run("w1", wait=True,
                                 inputs=[f"evaluate.model={run_id}/train.model"])
    assert get_run(project, second).stage("evaluate").state == "reused"
    with pytest.raises(NotFoundError, match="unknown source"):
        Engine(project).run("w1", inputs=["prepare.raw=nope"])
    with pytest.raises(InvalidInputError, match="has no input"):
        Engine(project).run("w1", inputs=["prepare.rw=raw"])


def test_run_references_resolve_and_fail_clearly(project) -> None:
    run_id = run(project, 0.1)
    assert resolve_run(project, run_id[:12]) == run_id
    assert resolve_run(project, "latest") == run_id
    with pytest.raises(NotFoundError):
        resolve_run(project, "r-19990101-abcdef")
    with pytest.raises(NotFoundError, match="tagged"):
        resolve_run(project, "nothing@best")
