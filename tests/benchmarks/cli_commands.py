"""Benchmark: short CLI commands as whole processes — `goldfish save` against `git add -A && git
commit`, `goldfish status` against `python -c pass` — measured in the same run.

Run: ``.venv/bin/python tests/benchmarks/cli_commands.py [--rounds 15] [--dirs 100 --files 100]``

Setup: a project (``goldfish init``) with one workspace mounted in ``w1`` holding ``dirs × files``
files of ~256 bytes (10,000 by default), saved once; an identical git work tree next to it,
committed once (``gc.auto=0``, so no background repacking overlaps a measurement). Each round
appends one line to the same file in both trees, then runs, back to back:

* ``goldfish save w1 -m ...`` and ``sh -c 'git add -A && git commit -q -m ...'``;
* ``goldfish status`` and ``python -c pass`` (the interpreter's own start-up).

Also timed each round: a "floor" process that only imports what ``save`` needs and reads the
recorded plugin set, as its short cut does (no project opened), to show how much of ``save`` is
start-up.

Reported: medians (and minima), the median of the per-round ratios (robust against other
processes loading the machine), CPU times (user + system), and the goals — save <= 2.0x git,
status <= 150 ms. For
information, the same commands with ``GOLDFISH_NO_CACHE=1`` (goldfish.yaml validated and the
plugin entry points scanned on every call, the earlier path). The exit code is 1 when a goal is
missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from snapshot import fill_tree

SAVE_GOAL = 2.0  # x git add -A && git commit
STATUS_GOAL_MS = 150.0
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}


def goldfish_script() -> str:
    script = Path(sys.executable).with_name("goldfish")
    if not script.is_file():
        sys.exit(f"no goldfish console script next to {sys.executable}; run `uv sync` first")
    return str(script)


CPU: dict[str, list[float]] = {}


def timed(cmd: Sequence[str] | str, env: dict[str, str], cwd: Path, label: str = "") -> float:
    """Wall time of the whole process in ms; its CPU time (user + system, children included)
    is kept under ``label``: less disturbed by other processes competing for the cores."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, shell=isinstance(cmd, str), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if label:
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
        CPU.setdefault(label, []).append(cpu)
    return wall


def build(base: Path, dirs: int, files: int) -> tuple[Path, Path]:
    from goldfish.init import init_project
    from goldfish.workspaces import Workspaces

    project = init_project(base / "project", name="bench", slots=1, goal="cli start-up")
    ws = Workspaces(project)
    ws.create("bench", mount="w1")
    slot = project.slot_path("w1")
    fill_tree(slot, dirs, files)
    ws.save_version("w1", "first")
    tree = base / "git-tree"
    shutil.copytree(slot, tree)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run(["git", "config", "gc.auto", "0"], cwd=tree, check=True)
    subprocess.run("git add -A && git commit -q -m first", shell=True, cwd=tree, env=env,
                   check=True)
    return project.root, tree


def show(values: list[float]) -> str:
    return f"{statistics.median(values):7.1f} ms (min {min(values):6.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    script = goldfish_script()

    with tempfile.TemporaryDirectory(prefix="gf-cli-bench-") as tmp:
        base = Path(tmp)
        root, tree = build(base, args.dirs, args.files)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("GOLDFISH_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(GIT_ENV, XDG_CACHE_HOME=str(base / "xdg-cache"))
        cold = {**env, "GOLDFISH_NO_CACHE": "1"}
        # `python -c` puts the current directory on sys.path: run the floor where nothing
        # changes, or the recorded entry points would be rescanned after every save
        quiet = base / "quiet"
        quiet.mkdir()
        target = root / "workspaces" / "w1" / "pkg042" / "mod007.py"
        mirror = tree / "pkg042" / "mod007.py"

        def edit(i: int) -> None:
            for path in (target, mirror):
                with open(path, "a") as fh:
                    fh.write(f"# edit {i}\n")

        save = [script, "save", "w1", "-m", "edit"]
        git = "git add -A && git commit -q -m edit"
        status = [script, "status", "--peek"]
        python = [sys.executable, "-c", "pass"]
        # what save pays before any work: its imports and the recorded plugin set (the short
        # cut of goldfish.cli.fastpath), no project opened
        # (with the console script's sys.path: the recorded plugin set is keyed by it)
        floor = [sys.executable, "-c", f"import sys\nsys.path[0] = {str(Path(script).parent)!r}\n"
                 "import goldfish.cli.fastpath, goldfish.cli.workspace_cmds, "
                 "goldfish.workspaces, goldfish.memory, goldfish.orientation, "
                 "goldfish.runs.reconciler, goldfish.builtins.state_md\n"
                 "from goldfish import plugins\n"
                 "assert plugins.use_index(command='save', owner='commands')"]
        for i in range(2):  # warm-up: .pyc files, the caches, the OS file cache
            edit(-1 - i)
            timed(save, env, root)
            timed(git, env, tree)
            timed(status, env, root)
            timed(python, env, root)
            timed(floor, env, quiet)

        saves, gits, statuses, pythons, floors = [], [], [], [], []
        for i in range(args.rounds):
            edit(i)
            saves.append(timed(save, env, root, "save"))
            gits.append(timed(git, env, tree, "git"))
            statuses.append(timed(status, env, root, "status"))
            pythons.append(timed(python, env, root, "python"))
            floors.append(timed(floor, env, quiet, "floor"))
        cold_saves, cold_statuses = [], []
        for i in range(5):
            edit(1000 + i)
            cold_saves.append(timed(save, cold, root))
            timed(git, env, tree)
            cold_statuses.append(timed(status, cold, root))
        head = subprocess.run(["git", "rev-parse", "HEAD^{tree}"], cwd=tree, check=True,
                              capture_output=True, text=True).stdout.strip()
        from goldfish.project import Project
        from goldfish.workspaces import Workspaces

        latest = Workspaces(Project(root)).history("bench")[-1].tree
        assert head == latest, "goldfish and git disagree on the saved tree"

    save_ratio = statistics.median(s / g for s, g in zip(saves, gits, strict=True))
    status_ms = statistics.median(statuses)
    print(f"{args.dirs * args.files} files, {args.rounds} rounds, whole processes; "
          "median (min)")
    print(f"  goldfish save (one edit):      {show(saves)}")
    print(f"  git add -A && git commit:      {show(gits)}")
    print(f"  ratio save / git:              {save_ratio:7.2f}x   (goal <= {SAVE_GOAL}x)")
    print(f"  goldfish status:               {show(statuses)}   (goal <= {STATUS_GOAL_MS:.0f} ms)")
    print(f"  python -c pass (baseline):     {show(pythons)}")
    print(f"  ratio status / python:         "
          f"{statistics.median(s / p for s, p in zip(statuses, pythons, strict=True)):7.2f}x")
    cpu_ratio = statistics.median(s / g for s, g in zip(CPU["save"], CPU["git"], strict=True))
    print(f"  CPU time (user+sys), median:   save {statistics.median(CPU['save']):.1f} ms, git "
          f"{statistics.median(CPU['git']):.1f} ms (ratio {cpu_ratio:.2f}x); status "
          f"{statistics.median(CPU['status']):.1f} ms, python {statistics.median(CPU['python']):.1f} ms")
    print(f"  save's imports + plugin manager, no work (a floor): {show(floors)}; CPU "
          f"{statistics.median(CPU['floor']):.1f} ms")
    print("  without caches (GOLDFISH_NO_CACHE=1, the earlier path), for information:")
    print(f"    goldfish save:               {show(cold_saves)}")
    print(f"    goldfish status:             {show(cold_statuses)}")
    ok = save_ratio <= SAVE_GOAL and status_ms <= STATUS_GOAL_MS
    print("  result: " + ("goals met" if ok else "GOAL MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
