"""Contracts fail fast inside the stage (``goldfish.io.save_output``, stdlib + numpy only): the
stage stops at the bad save with a ContractError naming the output, expected and actual."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import goldfish_svs.plugin as svs_plugin
import pytest
from svs_support import make_project, run, stage_error, state


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(svs_plugin, name="svs")
    return goldfish_plugins


def project_with(tmp_path: Path, plugins: Any, outputs: str, body: str) -> Any:
    files = {"pipeline.yaml": "name: c\nstages:\n  - name: make\n"
                              f"    outputs: {outputs}\n    config: {{dim: 8}}\n",
             "modules/make.py": "from goldfish import io\n" + body
                                + "print('after the save', flush=True)\n"}
    return make_project(tmp_path, files, plugins)


@pytest.mark.parametrize(("outputs", "body", "expected"), [
    ("{x: {type: npy, contract: {shape: [null, '{dim}'], dtype: float32}}}",
     "import numpy as np\nio.save_output('x', np.zeros((4, 7), dtype=np.float32))\n",
     "ContractError: output 'x' of stage 'make' breaks its contract: shape expected ['*', 8], "
     "got [4, 7]"),
    ("{t: {type: csv, contract: {columns: {id: int, score: float}}}}",
     "io.save_output('t', [{'id': 1, 'score': 0.5}, {'id': 'two', 'score': 1.0}])\n",
     "column 'id' (row 2) of type expected int, got 'two'"),
    ("{t: {type: csv, contract: {max_rows: 2}}}",
     "io.save_output('t', [{'a': i} for i in range(5)])\n",
     "rows: at most expected 2, got more than 2"),
    ("{f: {type: file, contract: {format: png}}}",
     "p = io.output_path('f')\np.write_bytes(b'GIF89a....')\nio.save_output('f', p)\n",
     "format expected png, got a file starting with b'GIF89a..'"),
])
def test_contracts_fail_fast_at_save_output(tmp_path: Path, plugins: Any, outputs: str,
                                            body: str, expected: str) -> None:
    project = project_with(tmp_path, plugins, outputs, body)
    run_id = run(project)
    assert state(project, run_id, "make") == "failed"
    error = stage_error(project, run_id, "make")
    assert expected in error
    log = (project.runs_dir / run_id / "make" / "log.txt").read_text()
    assert "after the save" not in log  # the stage stopped at the bad save


def test_a_good_typed_table_passes_inside_and_outside(tmp_path: Path, plugins: Any) -> None:
    project = project_with(
        tmp_path, plugins, "{t: {type: csv, contract: {columns: {id: int, when: date}, "
                           "min_rows: 2, max_rows: 3}}}",
        "io.save_output('t', [{'id': 1, 'when': '2024-01-02'}, {'id': 2, 'when': ''}])\n")
    run_id = run(project)
    assert state(project, run_id) == "done"
