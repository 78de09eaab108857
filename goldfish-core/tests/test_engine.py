"""The run engine end to end: real projects, real snapshots, real detached stage processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from goldfish.errors import GoldfishError
from goldfish.runs.engine import Engine, parse_set
from goldfish.runs.plan import Plan
from goldfish.runs.records import get_run, lineage, transitions
from runs_support import edit, make_project, stage_states, wait_for


def run_wait(project, **kwargs):
    engine = Engine(project)
    run_id = engine.run("w1", wait=True, **kwargs)
    return get_run(project, run_id)


def test_a_pipeline_runs_from_its_snapshot_and_everything_is_recorded(project) -> None:
    info = run_wait(project, reason="first try", hypothesis="it works")
    assert info.state == "done", info.error
    assert [s.state for s in info.stages] == ["done", "done", "done"]
    assert info.reason == {"description": "first try", "hypothesis": "it works"}
    version = project.db.one("SELECT tag, commit_sha FROM versions WHERE workspace = 'exp' "
                             "ORDER BY number DESC LIMIT 1")
    assert (info.version, info.commit) == (version[0], version[1])  # unchanged slot: reused
    evaluate = info.stage("evaluate")
    assert evaluate.metrics["accuracy"]["last"] == pytest.approx(0.1)
    train = info.stage("train")
    loss = train.metrics["loss"]
    assert (loss["count"], loss["last"], loss["max"]) == (3, pytest.approx(1 / 3), 1.0)
    assert loss["trend"] == "falling"
    assert set(train.outputs) == {"model"}
    assert train.outputs["model"]["digest"].startswith("sha256:")
    # upstream inputs are pinned to this run's exact stage runs, with digests
    pin = evaluate.inputs["model"]
    assert (pin["from_run"], pin["from_stage"], pin["from_output"]) == (info.id, "train", "model")
    assert pin["digest"] == train.outputs["model"]["digest"]
    # every transition is a row
    seen = [(t["stage"], t["to_state"]) for t in transitions(project, info.id)]
    for stage in ("prepare", "train", "evaluate"):
        states = [s for st, s in seen if st == stage]
        assert states == ["queued", "preparing", "running", "finishing", "done"]
    assert [s for st, s in seen if st == ""] == ["queued", "preparing", "running", "finishing",
                                                 "done"]
    # lineage up from evaluate reaches prepare; down from prepare reaches evaluate
    up = {(e["from"], e["to"]) for e in lineage(project, f"{info.id}/evaluate", "up")}
    assert (f"{info.id}/prepare.data", f"{info.id}/evaluate.data") in up
    assert (f"{info.id}/prepare.data", f"{info.id}/train.data") in up
    down = {e["to"] for e in lineage(project, f"{info.id}/prepare", "down")}
    assert down == {f"{info.id}/train.data", f"{info.id}/evaluate.data",
                    f"{info.id}/evaluate.model"}
    # the job directory follows the contract
    job = project.runs_dir / info.id / "train"
    manifest = json.loads((job / "job.json").read_text())
    assert manifest["config"] == {"lr": 0.1, "epochs": 3}
    assert manifest["inputs"]["data"]["path"] == "inputs/data.json"
    assert (job / "code" / "modules" / "train.py").is_file()
    kinds = [r[0] for r in project.db.query("SELECT kind FROM events WHERE subject LIKE ?",
                                            (f"{info.id}%",))]
    assert {"run.created", "run.started", "stage.finished", "run.finished"} <= set(kinds)


def test_a_rerun_reuses_every_unchanged_stage_and_says_why(project) -> None:
    first = run_wait(project)
    second = run_wait(project)
    assert second.state == "done"
    assert [s.state for s in second.stages] == ["reused"] * 3
    for s in second.stages:
        assert s.reused_from == f"{first.id}/{s.stage}"
        assert s.note == f"reused from {first.id}/{s.stage}: same code, config and inputs"
        assert s.outputs == first.stage(s.stage).outputs
        assert s.metrics == first.stage(s.stage).metrics
    assert not (project.runs_dir / second.id).exists()  # nothing was launched


def test_dry_run_returns_the_plan_and_records_nothing(project) -> None:
    first = run_wait(project)
    edit(project, "modules/train.py", (project.slot_path("w1") / "modules/train.py").read_text()
         + "\n# touched\n")
    plan = Engine(project).run("w1", dry_run=True)
    assert isinstance(plan, Plan)
    actions = {s.stage: (s.action, s.why) for s in plan.steps}
    assert actions["prepare"] == ("reuse", f"reused from {first.id}/prepare: same code, "
                                           "config and inputs")
    assert actions["train"][0] == "run"
    assert actions["train"][1] == f"code changed since {first.id}/train"
    assert actions["evaluate"][0] == "run" and "after train" in actions["evaluate"][1]
    assert project.db.one("SELECT COUNT(*) FROM runs")[0] == 1


def test_code_change_reruns_the_stage_and_unchanged_outputs_keep_downstream_reused(
        project) -> None:
    run_wait(project)
    text = (project.slot_path("w1") / "modules/train.py").read_text()
    edit(project, "modules/train.py", text + "\nprint('a harmless change')\n")
    info = run_wait(project)
    # train reran; its output is byte-identical, so evaluate's key matches and it is reused
    assert stage_states(project, info.id) == {"prepare": "reused", "train": "done",
                                              "evaluate": "reused"}


def test_config_override_invalidates_the_stage_and_its_consumers(project) -> None:
    first = run_wait(project)
    info = run_wait(project, set_=parse_set(["train.lr=0.2"]))
    assert stage_states(project, info.id) == {"prepare": "reused", "train": "done",
                                              "evaluate": "done"}
    assert info.stage("train").config == {"lr": 0.2, "epochs": 3}
    assert info.overrides["config"] == {"train": {"lr": 0.2}}
    assert first.stage("evaluate").metrics["accuracy"]["last"] == pytest.approx(0.1)
    assert info.stage("evaluate").metrics["accuracy"]["last"] == pytest.approx(0.2)


def test_config_file_in_the_snapshot_is_merged(project) -> None:
    edit(project, "configs/train.yaml", "epochs: 5\n")
    info = run_wait(project)
    assert info.stage("train").config == {"lr": 0.1, "epochs": 5}
    assert info.stage("train").metrics["loss"]["count"] == 5


def test_cache_opt_outs(project) -> None:
    run_wait(project)
    forced = run_wait(project, force=True)
    assert set(stage_states(project, forced.id).values()) == {"done"}
    rerun = run_wait(project, rerun=["train"])
    # train reran and produced the same output: evaluate is reused again
    assert stage_states(project, rerun.id) == {"prepare": "reused", "train": "done",
                                               "evaluate": "reused"}
    text = (project.slot_path("w1") / "pipeline.yaml").read_text()
    edit(project, "pipeline.yaml", text.replace("config: {n: 5}", "config: {n: 5}\n    cache: false"))
    info = run_wait(project)
    assert stage_states(project, info.id)["prepare"] == "done"


def test_unknown_override_key_is_an_error_and_records_nothing(project) -> None:
    with pytest.raises(GoldfishError) as err:
        Engine(project).run("w1", set_=parse_set(["train.learning_rate=0.3"]))
    assert "learning_rate" in str(err.value)
    with pytest.raises(GoldfishError) as err2:
        Engine(project).run("w1", set_=parse_set(["trian.lr=0.3"]))
    assert "trian" in str(err2.value) and "train" in str(err2.value)
    with pytest.raises(GoldfishError):
        parse_set(["train.lr"])
    assert project.db.one("SELECT COUNT(*) FROM runs")[0] == 0


def test_stage_that_raises_fails_with_the_traceback_tail(project) -> None:
    edit(project, "modules/train.py", """
        from goldfish import io

        def fit(data):
            raise ValueError("learning rate exploded")

        fit(io.load_input("data"))
    """)
    info = run_wait(project)
    assert info.state == "failed"
    train = info.stage("train")
    assert train.state == "failed"
    assert "ValueError: learning rate exploded" in train.error
    assert "in fit" in train.error and "modules/train.py" in train.error
    assert info.stage("evaluate").state == "skipped"
    assert info.stage("evaluate").note == "upstream train failed"
    assert "train failed" in info.error


def test_a_declared_output_never_written_fails_the_stage_naming_it(project) -> None:
    edit(project, "modules/train.py", """
        from goldfish import io
        io.load_input("data")
        print("forgot to save")
    """)
    info = run_wait(project)
    train = info.stage("train")
    assert train.state == "failed"
    assert "'model'" in train.error and "never wrote" in train.error


def test_the_run_uses_the_snapshot_even_when_the_slot_changes_meanwhile(project,
                                                                        tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    edit(project, "modules/prepare.py", f"""
        import pathlib, time
        from goldfish import io
        from helper import VALUE
        deadline = time.time() + 30
        while not pathlib.Path({str(gate)!r}).exists() and time.time() < deadline:
            time.sleep(0.05)
        own = pathlib.Path("modules/prepare.py").read_text()
        io.save_output("data", {{"xs": [VALUE], "edited": ("# " + "EDITED") in own}})
    """)
    edit(project, "helper.py", "VALUE = 1\n")
    engine = Engine(project)
    run_id = engine.run("w1")
    assert stage_states(project, run_id)["prepare"] == "running"
    edit(project, "helper.py", "VALUE = 2\n")
    text = (project.slot_path("w1") / "modules/prepare.py").read_text()
    edit(project, "modules/prepare.py", text + "\n# EDITED\n")
    gate.write_text("go")
    assert engine.wait(run_id, timeout=60) == "done"
    job = project.runs_dir / run_id / "prepare"
    stored = json.loads((job / "outputs" / "data.json").read_text())
    assert stored == {"xs": [1], "edited": False}
    assert "# EDITED" not in (job / "code/modules/prepare.py").read_text()
    # the slot really did change: the next run snapshots a new version and sees VALUE = 2
    gate.write_text("go")
    nxt = run_wait(project)
    assert nxt.version != get_run(project, run_id).version
    data = json.loads((project.runs_dir / nxt.id / "prepare/outputs/data.json").read_text())
    assert data == {"xs": [2], "edited": True}


def test_independent_stages_run_in_parallel(tmp_path: Path, goldfish_plugins: object) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    body = """
        import pathlib, time
        from goldfish import io
        me, other = io.stage(), {"left": "right", "right": "left"}[io.stage()]
        marks = pathlib.Path({marks!r})
        (marks / me).write_text("started")
        deadline = time.time() + 20
        while not (marks / other).exists() and time.time() < deadline:
            time.sleep(0.02)
        io.save_output("out", {"saw_other": (marks / other).exists()})
    """.replace("{marks!r}", repr(str(marks)))
    files = {
        "pipeline.yaml": """
            name: fan
            stages:
              - name: left
                outputs: {out: {type: json}}
              - name: right
                outputs: {out: {type: json}}
              - name: join
                inputs: {a: {from: left.out}, b: {from: right.out}}
                outputs: {both: {type: json}}
        """,
        "modules/left.py": body, "modules/right.py": body,
        "modules/join.py": """
            from goldfish import io
            io.save_output("both", [io.load_input("a"), io.load_input("b")])
        """,
    }
    project = make_project(tmp_path, files, goldfish_plugins)
    info = run_wait(project)
    assert info.state == "done", info.error
    both = json.loads((project.runs_dir / info.id / "join/outputs/both.json").read_text())
    assert both == [{"saw_other": True}, {"saw_other": True}]


def test_cancel_stops_running_stages_and_cancels_queued_ones(project) -> None:
    edit(project, "modules/prepare.py", """
        import time
        from goldfish import io
        for _ in range(600):
            if io.should_stop():
                break
            time.sleep(0.05)
        io.save_output("data", {"xs": [1]})
    """)
    engine = Engine(project)
    run_id = engine.run("w1")
    wait_for(lambda: (engine.advance(run_id), stage_states(project, run_id)["prepare"])[1]
             == "running", what="prepare running")
    state = engine.cancel(run_id)
    if state != "cancelled":
        state = engine.wait(run_id, timeout=30)
    assert state == "cancelled"
    assert stage_states(project, run_id) == {"prepare": "cancelled", "train": "cancelled",
                                             "evaluate": "cancelled"}
    with pytest.raises(GoldfishError, match="already ended"):
        engine.cancel(run_id)


def test_a_stage_writing_into_its_own_code_cannot_change_later_runs(project) -> None:
    edit(project, "modules/prepare.py", """
        import pathlib
        from goldfish import io
        own = pathlib.Path("modules/prepare.py").read_text()
        n = io.config()["n"]
        if n == 5:
            try:
                with open("modules/prepare.py", "a") as fh:  # in place, through the hardlink
                    fh.write("# " + "TAMPER" + "ED")
            except PermissionError:
                pass  # not root: the cached code is read-only
        io.save_output("data", {"xs": [n], "clean": ("TAMP" + "ERED") not in own})
    """)
    first = run_wait(project)
    second = run_wait(project, set_=parse_set(["prepare.n=6"]))
    assert (first.state, second.state) == ("done", "done")
    data = json.loads((project.runs_dir / second.id / "prepare/outputs/data.json").read_text())
    assert data == {"xs": [6], "clean": True}
    code = (project.runs_dir / second.id / "prepare/code/modules/prepare.py").read_text()
    assert code == (project.slot_path("w1") / "modules/prepare.py").read_text()


def test_the_only_mounted_slot_is_the_default_target(project) -> None:
    plan = Engine(project).run(dry_run=True)
    assert plan.workspace == "exp"
    assert [s.action for s in plan.steps] == ["run", "run", "run"]


def test_a_stage_over_its_timeout_fails_with_cause_timeout(project) -> None:
    text = (project.slot_path("w1") / "pipeline.yaml").read_text()
    edit(project, "pipeline.yaml", text.replace("config: {n: 5}",
                                                "config: {n: 5}\n    timeout_minutes: 0.01"))
    edit(project, "modules/prepare.py", """
        import time
        time.sleep(60)
    """)
    info = run_wait(project)
    prepare = info.stage("prepare")
    assert (prepare.state, prepare.cause) == ("failed", "timeout")
    assert "timeout" in (prepare.error or "")


def test_wait_reports_live_metric_summaries_of_running_stages(project) -> None:
    edit(project, "modules/train.py", """
        import time
        from goldfish import io
        io.load_input("data")
        for step in range(30):
            io.log_metric("loss", 1.0 / (step + 1), step=step)
            io.flush()
            time.sleep(0.1)
        io.save_output("model", {"w": 1.0})
    """)
    seen: list[str] = []
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, on_progress=lambda p: seen.append(p.render()), timeout=60) \
        == "done"
    live = [line for line in seen if line.startswith("train") and "loss" in line]
    assert live, seen
    assert "running" in live[0] and "falling" in live[-1]
