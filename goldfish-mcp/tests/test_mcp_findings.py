"""Findings are signal, not noise: `findings` and `inspect_run` (MCP) and `goldfish findings` /
`goldfish show` (CLI) list blocking findings, then warnings; passing checks are one line per
output (every one with all=true / --all). A contract break in the stage is a blocking finding of
the run. `conclude` asks for `force` before recording success on a failed run.

The runs are real (engine, local backend, numpy stages, goldfish-svs registered for them); the
answers come from a real `goldfish serve` over stdio and the real console script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import goldfish_svs.plugin as svs_plugin
import pytest
from goldfish.runs.engine import Engine
from goldfish.testing.projects import make_project, write_files
from mcp_support import GOLDFISH, data, server_env, stdio_client, text

CHECKED = {
    "pipeline.yaml": """
        name: checked
        stages:
          - name: make
            outputs: {features: {type: npy}, noisy: {type: npy}, broken: {type: npy}}
            checks: {nan_ratio: {severity: warning, signal: noisy}}
        """,
    "modules/make.py": """
        import numpy as np
        from goldfish import io
        rng = np.random.default_rng(0)
        io.save_output("features", rng.normal(size=(200, 4)))
        noisy = rng.normal(size=(200, 4))
        noisy[0, 0] = np.nan
        io.save_output("noisy", noisy)
        broken = rng.normal(size=(200, 4))
        broken[0, 0] = np.inf
        io.save_output("broken", broken)
        """,
}
BREAKS_CONTRACT = {
    "pipeline.yaml": """
        name: checked
        stages:
          - name: make
            outputs: {table: {type: npy, contract: {shape: [null, 3]}}}
        """,
    "modules/make.py": """
        import numpy as np
        from goldfish import io
        io.save_output("table", np.zeros((5, 4)))
        """,
}


@pytest.fixture
def runs(tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(svs_plugin, name="svs")
    project = make_project(tmp_path, CHECKED, plugins=goldfish_plugins, name="findings-lab")
    engine = Engine(project)
    checked = engine.run("w1", wait=True)
    write_files(project.slot_path("w1"), BREAKS_CONTRACT)
    broke = engine.run("w1", wait=True)
    yield project, checked, broke
    project.db.close()


def _cli(project: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**server_env(), "GOLDFISH_LOAD_PLUGINS": ""}
    return subprocess.run([GOLDFISH, "--project", str(project.root), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_findings_list_blocking_then_warnings_and_summarize_passes(runs: Any) -> None:
    project, checked, broke = runs

    async def session() -> None:
        async with stdio_client(project) as c:
            found = data(await c.call_tool("findings", {"run": checked}))
            # blocking, then warnings, then notes that are not check results (the failure
            # pattern proposed for the failed stage); no passing check is listed one by one
            assert [(f["severity"], f["check"], f["signal"]) for f in found["findings"]] == [
                ("blocking", "inf_ratio", "broken"), ("warning", "nan_ratio", "noisy"),
                ("info", "failure_pattern", None)]
            passed = found["passed"]
            assert len(passed) == 3 and found["passed_total"] == 3  # one line per output
            assert any(p.startswith("make/features: ") and "nan_ratio" in p for p in passed)
            lines = text(await c.call_tool("findings", {"run": checked})).splitlines()
            assert "blocking inf_ratio [make/broken]" in lines[0]
            assert "warning nan_ratio [make/noisy]" in lines[1]
            assert all(line.startswith("passed ") for line in lines[3:]) and len(lines) == 6

            everything = data(await c.call_tool("findings", {"run": checked, "all": True,
                                                             "limit": 100}))
            ranks = [f["severity"] for f in everything["findings"]]
            assert ranks[:2] == ["blocking", "warning"] and set(ranks[2:]) == {"info"}
            assert len(ranks) > 6 and everything["passed"] == []

            run = data(await c.call_tool("inspect_run", {"run": checked}))
            assert [f["severity"] for f in run["findings"]] == ["blocking", "warning", "info"]
            assert len(run["passed"]) == 3
            full = data(await c.call_tool("inspect_run", {"run": checked, "all": True}))
            assert {f["severity"] for f in full["findings"]} == {"blocking", "warning", "info"}

            # the contract break is a blocking finding of its run, naming the output
            [contract] = data(await c.call_tool("findings", {"run": broke}))["findings"][:1]
            assert (contract["severity"], contract["check"]) == ("blocking", "contract")
            assert contract["signal"] == "table" and "breaks its contract" in contract["message"]
            assert "shape" in contract["message"]

            # conclude: success on a failed run needs force
            refused = await c.call_tool("conclude", {"run": checked, "outcome": "success"})
            assert refused.is_error and "force=true" in text(refused)
            forced = data(await c.call_tool("conclude", {"run": checked, "outcome": "success",
                                                         "force": True}))
            assert forced["forced"] is True

    anyio.run(session)


def test_the_cli_lists_the_same_way(runs: Any) -> None:
    project, checked, broke = runs
    out = _cli(project, "findings", checked)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "blocking" in lines[0] and "inf_ratio [make/broken]" in lines[0]
    assert "warning" in lines[1] and "nan_ratio [make/noisy]" in lines[1]
    assert "failure_pattern" in lines[2]
    assert [line.split()[0] for line in lines[3:]] == ["passed"] * 3
    every = _cli(project, "findings", checked, "--all", "--limit", "100").stdout.splitlines()
    assert len(every) > 6 and "info" in every[-1] and "passed" not in every[-1]
    shown = _cli(project, "show", checked).stdout
    assert shown.index("finding blocking") < shown.index("finding warning") < shown.index(
        "passed: make/")
    assert "finding info: [make/features]" not in shown
    assert "finding info: [make/features]" in _cli(project, "show", checked, "--all").stdout
    contract = json.loads(_cli(project, "findings", broke, "--json").stdout)["findings"]
    assert contract[0]["check"] == "contract" and contract[0]["severity"] == "blocking"
