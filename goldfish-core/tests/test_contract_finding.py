"""A contract break inside the stage (io.save_output, or an output written in place through
io.output_path and checked when the stage ends) is a blocking finding of the run, naming the
output, not only the error text of the stage. Real runs, core only (no goldfish-svs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from goldfish.runs.engine import Engine
from goldfish.runs.records import get_run
from runs_support import make_project

PIPELINE = """
name: contract
stages:
  - name: make
    outputs:
      scores: {type: json, contract: {required_keys: [accuracy]}}
      report: {type: file, contract: {min_bytes: 10}}
"""


@pytest.mark.parametrize(("code", "output", "what"), [
    ("from goldfish import io\nio.save_output('scores', {'loss': 1.0})\n", "scores",
     "keys expected ['accuracy'], got ['loss']"),
    ("from goldfish import io\nio.save_output('scores', {'accuracy': 1.0})\n"
     "io.output_path('report').write_text('short')\n", "report", "expected 10 bytes, got 5"),
], ids=["save_output", "output_path"])
def test_a_contract_break_is_a_blocking_finding(tmp_path: Path, goldfish_plugins: object,
                                                code: str, output: str, what: str) -> None:
    project = make_project(tmp_path, {"pipeline.yaml": PIPELINE, "modules/make.py": code},
                           goldfish_plugins)
    run_id = Engine(project).run("w1", wait=True)
    info = get_run(project, run_id)
    assert info.state == "failed" and "breaks its contract" in (info.error or "")
    [finding] = [f for f in info.findings if f["check"] == "contract"]
    assert finding["severity"] == "blocking" and finding["stage"] == "make"
    assert finding["signal"] == output and what in finding["message"]
    assert finding["data"]["exception"] == "ContractError"
    row = project.db.one("SELECT source, phase FROM findings WHERE run_id = ? AND "
                         "check_name = 'contract'", (run_id,))
    assert row is not None and tuple(row) == ("engine", "failure")
    json.dumps(finding)
    project.db.close()
