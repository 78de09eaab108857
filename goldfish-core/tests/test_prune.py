"""``goldfish prune`` and ``retention:``: old runs and untagged versions are retired — never tagged
ones, ``@best``, success conclusions or anything a kept run needs — and stay restorable until the
window passes; gc frees their objects only after it."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from goldfish.artifacts import ArtifactStore
from goldfish.errors import InvalidInputError, NotFoundError
from goldfish.lifecycle.gc import collect_garbage
from goldfish.lifecycle.prune import prune, restore
from goldfish.memory import recall
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.runs.records import conclude, get_run, list_runs, tag_run
from goldfish.workspaces import Workspaces
from lifecycle_support import DAY, assert_everything_reachable_is_readable
from runs_support import CHAIN, cli, edit

RESULTS = {"metric": "accuracy", "direction": "max", "stage": "evaluate"}


def run(project: Project, n: int, lr: float = 0.1, **kwargs: object) -> str:
    run_id: str = Engine(project).run("w1", wait=True, reason=f"try n={n} lr={lr}",
                                      set_={"prepare": {"n": n}, "train": {"lr": lr}},
                                      **kwargs)  # type: ignore[arg-type]
    return run_id


def outputs(project: Project, run_id: str) -> list[str]:
    return [o["digest"] for s in get_run(project, run_id).stages for o in s.outputs.values()]


def test_prune_keeps_tagged_best_success_and_upstream_runs_and_drops_the_rest(
        project: Project) -> None:
    best = run(project, 1, results=RESULTS)  # holds exp@best
    success = run(project, 2)
    conclude(project, success, "success", "good")
    tagged = run(project, 3)
    tag_run(project, tagged, "baseline")
    plain = run(project, 4)
    upstream = run(project, 5)
    newest = run(project, 5, lr=0.2)  # reuses prepare of `upstream`
    assert get_run(project, newest).stage("prepare").state == "reused"

    dry = prune(project, keep_last=1, dry_run=True)
    assert [r["id"] for r in dry.runs] == [plain]
    assert dry.kept == {"tagged": 2, "concluded success": 1, "upstream of a kept run": 1}
    assert {r.id for r in list_runs(project, limit=50)} >= {plain}

    report = prune(project, keep_last=1)
    assert [r["id"] for r in report.runs] == [plain]
    assert plain not in {r.id for r in list_runs(project, limit=50)}
    with pytest.raises(NotFoundError) as err:
        get_run(project, plain)
    assert f"goldfish prune --restore {plain}" in (err.value.hint or "")
    assert not [h for h in recall(project, "n=4") if h.id == plain]
    assert {best, success, tagged, upstream, newest} <= {r.id for r in list_runs(project,
                                                                                limit=50)}
    assert_everything_reachable_is_readable(project)


def test_a_pruned_run_is_restorable_and_its_objects_survive_gc_until_the_window_ends(
        project: Project) -> None:
    old = run(project, 1)
    run(project, 2)
    digests = outputs(project, old)
    prune(project, keep_last=1)
    store = ArtifactStore.for_project(project)

    with pytest.raises(NotFoundError) as err:
        restore(project, "r-19990101-000000")
    assert old in (err.value.hint or "")  # the hint lists what was pruned recently
    collect_garbage(project, grace=0, now=time.time() + 29 * DAY)  # inside the window
    assert all(store.present(d) for d in digests)
    assert restore(project, old) == [f"run {old}"]
    info = get_run(project, old)
    assert info.state == "done" and [s.state for s in info.stages] == ["done"] * 3
    assert [h for h in recall(project, "n=1") if h.id == old]
    assert_everything_reachable_is_readable(project)

    prune(project, keep_last=1)
    collect_garbage(project, grace=0, now=time.time() + 31 * DAY)  # the window has passed
    assert not any(store.present(d) for d in digests)
    assert not (project.runs_dir / old).exists()
    with pytest.raises(NotFoundError, match="nothing pruned"):
        restore(project, old)
    assert_everything_reachable_is_readable(project)


def test_untagged_old_versions_go_tagged_latest_and_used_ones_stay(project: Project) -> None:
    ws = Workspaces(project)
    for i in range(4):
        edit(project, f"notes/n{i}.txt", f"only in version {i}\n" * 30)
        ws.save_version("w1", f"save {i}")
    ws.tag("exp-v3", "paper")
    used = run(project, 1)  # runs the latest version: exp-v5
    assert get_run(project, used).version == "exp-v5"

    report = prune(project, keep_last=1)
    assert [v["tag"] for v in report.versions] == ["exp-v1", "exp-v2", "exp-v4"]
    with pytest.raises(NotFoundError) as err:
        ws.resolve_version("exp-v2")
    assert "goldfish prune --restore exp-v2" in (err.value.hint or "")

    collect_garbage(project, grace=0, now=time.time() + 31 * DAY)
    assert_everything_reachable_is_readable(project)  # v3 (tagged) and v5 still export
    assert ws.read_file("paper", "notes/n1.txt").startswith(b"only in version 1")
    with pytest.raises(NotFoundError):
        ws.resolve_version("exp-v4")


def test_a_restored_run_brings_back_its_version_and_the_runs_it_needs(project: Project) -> None:
    first = run(project, 1)
    second = run(project, 1, lr=0.3)  # reuses prepare of `first`
    ws = Workspaces(project)
    edit(project, "notes/x.txt", "x\n")
    ws.save_version("w1", "later")
    run(project, 9)  # on exp-v2
    report = prune(project, older_than_days=0, keep_last=1)
    assert {r["id"] for r in report.runs} == {first, second}
    assert "exp-v1" in {v["tag"] for v in report.versions}
    restored = restore(project, second)
    assert set(restored) == {f"run {second}", f"run {first}", "version exp-v1"}
    assert get_run(project, second).stage("prepare").state == "reused"
    assert ws.resolve_version("exp-v1").tag == "exp-v1"
    assert_everything_reachable_is_readable(project)


def test_a_run_named_only_by_an_input_override_is_kept_and_restored_with_it(
        project: Project) -> None:
    """A kept run's ``--input`` override protects the run it names, and restoring the run
    brings that one back, also when the stage that takes the input never ran."""
    first = run(project, 1)
    edit(project, "modules/prepare.py", "raise SystemExit(3)\n")  # nothing after it starts
    second = Engine(project).run("w1", wait=True, reason="override",
                                 inputs=[f"evaluate.model={first[:12]}/train.model"])
    assert get_run(project, second).state == "failed"
    assert get_run(project, second).stage("evaluate").state != "done"
    dry = prune(project, dry_run=True, older_than_days=0, keep_last=1)
    assert first not in {r["id"] for r in dry.runs}  # `second` is the newest: it stays
    assert dry.kept["upstream of a kept run"] == 1

    edit(project, "modules/prepare.py", textwrap.dedent(CHAIN["modules/prepare.py"]))
    Workspaces(project).save_version("w1", "later")
    run(project, 9)
    report = prune(project, older_than_days=0, keep_last=1)
    assert {r["id"] for r in report.runs} == {first, second}
    restored = restore(project, second)
    assert f"run {first}" in restored and f"run {second}" in restored
    assert get_run(project, first).state == "done"
    assert_everything_reachable_is_readable(project)


def test_retention_comes_from_goldfish_yaml_and_the_cli(project: Project) -> None:
    result = cli(project, "prune")
    assert result.code != 0
    assert "retention.max_age_days" in result.err and "Traceback" not in result.err
    with pytest.raises(InvalidInputError):
        prune(project, keep_last=-1)

    first = run(project, 1)
    run(project, 2)
    config = project.config_path
    config.write_text(config.read_text() + "retention:\n  keep_last: 1\n  window_days: 7\n")
    project.reload_config(cached=False)
    dry = cli(project, "prune", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    data = json.loads(dry.out)
    assert [r["id"] for r in data["runs"]] == [first] and data["window_days"] == 7
    assert cli(project, "prune").code == 0
    result = cli(project, "prune", "--restore", first)
    assert result.code == 0 and first in result.out

    config.write_text(config.read_text() + "  keep_lats: 2\n")
    bad = cli(project, "prune", "--dry-run")
    assert bad.code != 0 and "keep_last" in bad.err  # "did you mean"
