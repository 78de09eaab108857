"""`conclude` will not record a success the run did not produce: `success` on a failed, lost or
cancelled run is refused with a hint, unless forced (library, CLI `--force`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from goldfish.errors import ConflictError
from goldfish.runs.engine import Engine
from goldfish.runs.records import conclude, get_run
from runs_support import CHAIN, cli_process, edit, make_project


@pytest.fixture
def failed_run(tmp_path: Path, goldfish_plugins: object):
    project = make_project(tmp_path, CHAIN, goldfish_plugins)
    edit(project, "modules/evaluate.py", "raise RuntimeError('evaluation crashed')\n")
    run_id = Engine(project).run("w1", wait=True)
    assert get_run(project, run_id).state == "failed"
    yield project, run_id
    project.db.close()


def test_success_on_a_failed_run_is_refused_then_forced(failed_run) -> None:
    project, run_id = failed_run
    with pytest.raises(ConflictError, match=f"run {run_id} ended failed") as err:
        conclude(project, run_id, "success", "looks fine")
    assert "evaluation crashed" in err.value.message
    assert "--force" in (err.value.hint or "") and "force=true" in (err.value.hint or "")
    assert get_run(project, run_id).conclusion is None  # nothing recorded

    assert conclude(project, run_id, "miss", "crashed")["outcome"] == "miss"
    forced = conclude(project, run_id, "success", "train results stand", force=True)
    assert forced["forced"] is True and forced["state"] == "failed"
    conclusion = get_run(project, run_id).conclusion
    assert conclusion is not None and conclusion["outcome"] == "success"
    summary = project.db.one("SELECT summary FROM events WHERE kind = 'run.concluded' "
                             "ORDER BY id DESC LIMIT 1")
    assert summary is not None and "forced: the run ended failed" in summary[0]


def test_the_cli_refuses_and_accepts_force(failed_run) -> None:
    project, run_id = failed_run
    refused = cli_process(project, "conclude", run_id, "--outcome", "success")
    assert refused.code != 0 and "ended failed" in refused.err and "--force" in refused.err
    assert "Traceback" not in refused.err
    forced = cli_process(project, "conclude", run_id, "--outcome", "success", "--force")
    assert forced.code == 0, forced.err
    assert "concluded: success" in forced.out and "forced: the run ended failed" in forced.out
