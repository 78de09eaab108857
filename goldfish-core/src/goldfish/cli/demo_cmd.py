"""``goldfish demo [PATH]``: the main job end to end on a small, realistic project.

Creates (or reuses) a project whose workspace ``digits`` has a three-stage numpy pipeline, runs it
from a snapshot with per-stage progress, and prints the test accuracy. A second invocation reuses
all three stages (same code, config and inputs) and says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(cli: argparse._SubParsersAction[Any]) -> None:
    demo = cli.add_parser("demo", help="create and run a small demo project (prepare → train → "
                                       "evaluate)",
                          description="Create a demo project at PATH (default ./goldfish-demo; "
                                      "an existing demo project is reused), run its pipeline and "
                                      "print the result. Run it twice to see stages reused.")
    demo.add_argument("path", nargs="?", default="goldfish-demo", metavar="PATH")
    demo.add_argument("--no-cache", action="store_true", help="rerun every stage")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import importlib.util

    from goldfish.cli.common import reconcile_project
    from goldfish.cli.run_cmds import print_result, progress_printer
    from goldfish.demo import RESULTS, WORKSPACE, create_demo, is_demo
    from goldfish.errors import ConflictError
    from goldfish.project import Project
    from goldfish.runs.engine import Engine
    from goldfish.runs.records import get_run

    if importlib.util.find_spec("numpy") is None:
        from goldfish.errors import GoldfishError

        raise GoldfishError("the demo's stages use numpy, which this Python does not have",
                            "install it (`pip install 'goldfish-core[demo]'`, or `uv sync` in the "
                            "repository) and run `goldfish demo` again")
    path = Path(args.path).expanduser().absolute()
    if is_demo(path):
        project = Project(path)
        reconcile_project(project)
        print(f"using the demo project at {path}")
    elif path.exists() and any(path.iterdir()):
        raise ConflictError(f"{path} exists and is not a Goldfish demo project",
                            "pass a new directory: `goldfish demo PATH`")
    else:
        project = create_demo(path)
        print(f"created the demo project at {path} (workspace {WORKSPACE!r} in slot w1)")
    engine = Engine(project)
    run_id = engine.run(WORKSPACE, reason="demo: softmax regression on digit-like glyphs",
                        hypothesis="a linear model separates 10 noisy glyph classes well",
                        force=args.no_cache, results=RESULTS)
    print(f"run {run_id}")
    state = engine.wait(run_id, on_progress=progress_printer(project))
    info = get_run(project, run_id)
    print_result(info)
    if state == "done":
        print(f"next: edit {path / 'workspaces' / 'w1' / 'configs' / 'train.yaml'} and run "
              f"`goldfish run w1 --wait` inside {path}")
    return 0 if state == "done" else 1
