"""Two real processes saving versions into one project at the same time lose nothing."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

from goldfish.project import Project
from goldfish.snapshot import Store
from goldfish.workspaces import Workspaces

SAVER = r"""
import sys, time
from pathlib import Path
from goldfish.project import Project
from goldfish.workspaces import Workspaces

root, target, filename, count, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
project = Project(root)
ws = Workspaces(project)
slot = project.slot_path(ws._live(target)[1])
while not Path(go).exists():
    time.sleep(0.001)
for i in range(count):
    (slot / filename).write_text(f"{filename} edit {i}\n" + "x" * (i % 7))
    v = ws.save_version(target, f"{filename} {i}")
    print(v.tag, v.created, flush=True)
"""


def run_pair(project: Project, tmp_path: Path,
             jobs: list[tuple[str, str]], count: int) -> list[subprocess.CompletedProcess[str]]:
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    env["GOLDFISH_LOAD_PLUGINS"] = ""
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(project.root), target, filename,
                               str(count), str(go)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for target, filename in jobs]
    time.sleep(0.3)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "database is locked" not in r.stdout + r.stderr
        assert "Traceback" not in r.stderr
    return results


def assert_history_sound(ws: Workspaces, name: str) -> list[int]:
    """Numbers 1..N without gaps, each a tag and commit in git whose parent is the previous."""
    history = ws.history(name)
    numbers = [v.number for v in history]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len({v.commit for v in history}) == len(history)
    repo = ws.project.repo_path
    for prev, v in itertools.pairwise(history):
        assert (repo / "refs" / "tags" / v.tag).read_text().strip() == v.commit
        parents = subprocess.run(["git", "--git-dir", str(repo), "rev-parse", f"{v.commit}^@"],
                                 check=True, capture_output=True, text=True).stdout.split()
        assert parents == [prev.commit]
    assert (repo / "refs" / "heads" / name).read_text().strip() == history[-1].commit
    with Store(repo) as store:
        for v in history:
            assert store.tree_of(v.commit) == v.tree
    return numbers


def test_two_processes_on_two_workspaces(goldfish_project: Project, tmp_path: Path) -> None:
    ws = Workspaces(goldfish_project)
    ws.create("alpha", mount="w1")
    ws.create("beta", mount="w2")
    results = run_pair(goldfish_project, tmp_path, [("alpha", "a.txt"), ("w2", "b.txt")], 50)
    for name, result in zip(("alpha", "beta"), results, strict=True):
        lines = result.stdout.split()
        assert lines[::2] == [f"{name}-v{n}" for n in range(2, 52)]
        assert set(lines[1::2]) == {"True"}
        assert assert_history_sound(ws, name) == list(range(1, 52))
        last = ws.history(name)[-1]
        filename = "a.txt" if name == "alpha" else "b.txt"
        assert ws.read_file(last.tag, filename).startswith(f"{filename} edit 49\n".encode())
    saved = goldfish_project.db.query("SELECT COUNT(*) AS n FROM events WHERE kind = "
                                      "'version.saved'")[0]["n"]
    assert saved == 102


def test_two_processes_on_one_workspace(goldfish_project: Project, tmp_path: Path) -> None:
    ws = Workspaces(goldfish_project)
    ws.create("shared", mount="w3")
    results = run_pair(goldfish_project, tmp_path, [("shared", "a.txt"), ("w3", "b.txt")], 30)
    created = [line.split()[0] for r in results for line in r.stdout.splitlines()
               if line.endswith("True")]
    assert len(created) == len(set(created))  # no number handed out twice
    numbers = assert_history_sound(ws, "shared")
    assert sorted(int(tag.rsplit("-v", 1)[1]) for tag in created) == numbers[1:]
    final = ws.files("shared")
    assert set(final) == {"a.txt", "b.txt"}
