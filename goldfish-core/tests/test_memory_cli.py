"""`goldfish status`, `goldfish note`, `goldfish recall`: the same services as the MCP tools."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from goldfish.cli import main
from memory_support import add_finding, add_run, new_project


def cli(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--project", str(root), *args])
    return code, out.getvalue(), err.getvalue()


def test_memory_cli_note_recall_status(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    add_run(project, "r-20260101-000001", value=0.75)
    add_finding(project, "r-20260101-000001", severity="blocking", message="labels leak")
    code, out, _ = cli(project.root, "note", "--decision", "freeze the test split",
                       "--run", "r-20260101-000001")
    assert code == 0 and "decision" in out
    code, out, _ = cli(project.root, "recall", "freeze")
    assert code == 0 and "[decision n1]" in out and "freeze the test split" in out
    code, out, _ = cli(project.root, "recall", "nothinglikethis")
    assert code == 0 and "nothing recorded matches" in out
    code, out, _ = cli(project.root, "status", "--peek")
    assert code == 0 and "labels leak" in out and "decision: freeze the test split" in out
    code, out, _ = cli(project.root, "status", "--json")
    data = json.loads(out)
    assert data["findings"][0]["message"] == "labels leak" and data["goal"] == "beat 0.9 accuracy"
    code, out, _ = cli(project.root, "status")
    assert "labels leak" not in out  # shown once
    code, _, err = cli(project.root, "note", "")
    assert code == 2 and "error: the note is empty" in err and "hint:" in err
    code, _, err = cli(project.root, "recall", "x", "--limit", "0")
    assert code == 2 and "out of range" in err
