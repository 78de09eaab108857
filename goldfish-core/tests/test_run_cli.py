"""The run commands as a person uses them: the real console script in subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from runs_support import cli_process, edit


def test_run_wait_shows_progress_and_the_records_commands_show_it(project) -> None:
    result = cli_process(project, "run", "w1", "--wait", "-m", "baseline",
                         "--hypothesis", "lr 0.1 is enough")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("run r-") and lines[0].endswith("started")
    run_id = lines[0].split()[1]
    assert any(line.split()[:2] == ["prepare", "running"] for line in lines)
    assert any(line.split()[:2] == ["evaluate", "done"] for line in lines)
    assert any("loss last 0.3333" in line and "falling" in line for line in lines)
    assert f"run {run_id} done" in result.out

    again = cli_process(project, "run", "w1", "--wait")
    assert again.code == 0, again.err
    assert "reused 3 of 3 stages (prepare, train, evaluate)" in again.out
    assert f"reused from {run_id}/train: same code, config and inputs" in again.out

    runs = cli_process(project, "runs")
    assert runs.code == 0 and run_id in runs.out and "baseline" in runs.out
    show = cli_process(project, "show", run_id, "--history")
    assert show.code == 0
    assert "hypothesis: lr 0.1 is enough" in show.out
    assert "output model (json)" in show.out and "queued → preparing" in show.out
    shown = json.loads(cli_process(project, "show", run_id, "--json").out)
    assert shown["state"] == "done" and shown["stages"][1]["stage"] == "train"
    logs = cli_process(project, "logs", f"{run_id}/prepare")
    assert logs.code == 0 and "prepared 5" in logs.out
    follow = cli_process(project, "logs", f"{run_id}/prepare", "--follow")
    assert "prepared 5" in follow.out
    conclude = cli_process(project, "conclude", run_id, "--outcome", "success",
                           "--notes", "fine", "--metric", "accuracy")
    assert conclude.code == 0 and "concluded: success (accuracy=0.1)" in conclude.out
    second = again.out.split()[1]
    compare = cli_process(project, "compare", run_id, second)
    assert compare.code == 0 and "config: same" in compare.out
    lineage = cli_process(project, "lineage", f"{run_id}/evaluate")
    assert f"{run_id}/train.model → {run_id}/evaluate.model" in lineage.out


def test_dry_run_and_bad_input_from_the_command_line(project) -> None:
    plan = cli_process(project, "run", "w1", "--dry-run", "--set", "train.lr=0.5")
    assert plan.code == 0, plan.err
    assert "prepare" in plan.out and "run" in plan.out
    bad = cli_process(project, "run", "w1", "--set", "train.nope=1")
    assert bad.code == 2
    assert "nope" in bad.err and "Traceback" not in bad.err
    malformed = cli_process(project, "run", "w1", "--set", "train")
    assert malformed.code == 2 and "STAGE.KEY=VALUE" in malformed.err
    missing = cli_process(project, "show", "r-20000101-000000")
    assert missing.code == 2 and "no run" in missing.err
    assert cli_process(project, "runs").out.strip() == "no runs yet"


def test_a_failing_run_exits_non_zero_with_the_error(project) -> None:
    edit(project, "modules/train.py", "raise RuntimeError('boom')\n")
    result = cli_process(project, "run", "w1", "--wait")
    assert result.code == 1
    assert "RuntimeError: boom" in result.out
    assert "evaluate" in result.out and "skipped" in result.out


def test_sources_commands(project) -> None:
    data = project.root / "raw.json"
    data.write_text("[1, 2, 3]")
    added = cli_process(project, "sources", "add", "raw", str(data), "-d", "three numbers")
    assert added.code == 0, added.err
    assert "source raw (json" in added.out
    listed = cli_process(project, "sources", "list")
    assert "raw" in listed.out and "three numbers" in listed.out
    shown = cli_process(project, "sources", "show", "raw")
    assert "origin: raw.json" in shown.out
    for args in (("--json", "list"), ("list", "--json")):
        assert json.loads(cli_process(project, "sources", *args).out)[0]["name"] == "raw"
    for args in (("--json", "show", "raw"), ("show", "raw", "--json")):
        assert json.loads(cli_process(project, "sources", *args).out)["origin"] == "raw.json"
    unknown = cli_process(project, "sources", "show", "rwa")
    assert unknown.code == 2 and "did you mean 'raw'" in unknown.err


def test_cancel_from_the_command_line(project, tmp_path: Path) -> None:
    edit(project, "modules/prepare.py", """
        import time
        from goldfish import io
        while not io.should_stop():
            time.sleep(0.05)
    """)
    started = cli_process(project, "run", "w1")
    assert started.code == 0, started.err
    run_id = started.out.split()[1]
    cancelled = cli_process(project, "cancel", run_id)
    assert cancelled.code == 0, cancelled.err
    assert run_id in cancelled.out
    runs = cli_process(project, "runs", "--state", "cancelled")
    assert run_id in runs.out


def test_logs_follow_of_a_whole_run_streams_every_stage_until_the_run_ends(project) -> None:
    started = cli_process(project, "run", "w1", "--no-cache")
    assert started.code == 0, started.err
    run_id = started.out.split()[1]
    followed = cli_process(project, "logs", run_id, "--follow")
    assert followed.code == 0, followed.err
    assert "prepared 5" in followed.out
    for stage in ("prepare", "train", "evaluate"):
        assert f"== {run_id}/{stage} ==" in followed.err
        assert f"[{run_id}/{stage} done]" in followed.err
    shown = cli_process(project, "show", run_id, "--json")
    assert json.loads(shown.out)["state"] == "done"


def test_tag_names_a_run_and_runs_filters_by_it(project) -> None:
    started = cli_process(project, "run", "w1", "--wait")
    run_id = started.out.split()[1]
    tagged = cli_process(project, "tag", run_id, "baseline")
    assert tagged.code == 0, tagged.err
    assert f"Tagged run {run_id} as baseline" in tagged.out
    listed = cli_process(project, "runs", "--tag", "baseline", "--json")
    assert [r["id"] for r in json.loads(listed.out)] == [run_id]
    reserved = cli_process(project, "tag", run_id, "exp@best")
    assert reserved.code == 2 and "maintained by Goldfish" in reserved.err
