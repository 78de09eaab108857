"""``goldfish demo``: the README's main-job command, end to end, twice."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from runs_support import GOLDFISH, cli_env


def demo(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GOLDFISH, "demo", str(path), *args], env=cli_env(),
                          capture_output=True, text=True, timeout=240, cwd=path.parent)


def test_demo_runs_end_to_end_and_reuses_every_stage_the_second_time(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    first = demo(target)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "created the demo project" in first.stdout
    for stage in ("prepare", "train", "evaluate"):
        assert re.search(rf"^{stage}\s+done", first.stdout, re.M), first.stdout
    match = re.search(r"^accuracy: (0\.\d+)$", first.stdout, re.M)
    assert match, first.stdout
    assert float(match.group(1)) > 0.85
    assert "train_accuracy last" in first.stdout

    second = demo(target)
    assert second.returncode == 0, second.stderr
    assert "using the demo project" in second.stdout
    assert "reused 3 of 3 stages (prepare, train, evaluate): same code, config and inputs" \
        in second.stdout
    assert f"accuracy: {match.group(1)}" in second.stdout
    assert (target / "workspaces/w1/pipeline.yaml").is_file()


def test_demo_refuses_a_directory_that_is_not_a_demo(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = demo(target)
    assert result.returncode == 2
    assert "is not a Goldfish demo project" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
