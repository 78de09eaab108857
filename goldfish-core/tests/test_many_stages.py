"""Many-stage runs: the work of a run grows with its stages, not with their square."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from goldfish import hookimpl
from goldfish.artifacts import ArtifactStore
from goldfish.runs.engine import Engine
from goldfish.runs.plan import cache_key, runtime_hash
from goldfish.testing.projects import make_project


def chain(n: int) -> dict[str, str]:
    lines = ["name: chain", "stages:"]
    for i in range(n):
        lines += [f"  - name: s{i}", "    module: modules/step.py",
                  *([f"    inputs: {{x: {{from: s{i - 1}.x}}}}"] if i else []),
                  "    outputs: {x: {type: json}}", f"    config: {{k: {i}}}"]
    return {"pipeline.yaml": "\n".join(lines) + "\n",
            "modules/step.py": "from goldfish import io\nio.save_output('x', io.config())\n"}


def reusable(tmp_path: Path, n: int, plugins: Any) -> Any:
    """A project whose history holds one done run of every stage, recorded as the engine does,
    so the next run reuses all ``n`` stages without starting a process."""
    project = make_project(tmp_path / f"p{n}", chain(n), plugins=plugins)
    loaded, plan = Engine(project).prepare("w1")
    store = ArtifactStore.for_project(project)
    runtime = runtime_hash(project, project.config.default_profile)
    stages = {s.name: s for s in loaded.pipeline.stages}
    digest = None
    with project.tx() as conn:
        conn.execute("INSERT INTO runs (id, workspace, version_tag, state, created_at) VALUES "
                     "('r-20000101-000000', 'exp', ?, 'done', ?)", (loaded.version.tag, time.time()))
        for step in plan.steps:
            for pin in step.inputs.values():
                pin.digest = digest
            key, parts = cache_key(stages[step.stage], step.code_hash, step.config, step.inputs,
                                   runtime)
            out = tmp_path / f"{n}-{step.stage}.json"
            out.write_text(json.dumps(step.config))
            ref = store.store(out)
            digest = ref.digest
            conn.execute("INSERT INTO stage_runs (run_id, stage, position, state, module, "
                         "profile, cache_key, key_parts, created_at, finished_at) VALUES "
                         "('r-20000101-000000', ?, ?, 'done', ?, 'local', ?, ?, 0, 0)",
                         (step.stage, step.position, step.module, key, json.dumps(parts)))
            conn.execute("INSERT INTO outputs (run_id, stage, name, type, digest, uri, size, kind) "
                         "VALUES ('r-20000101-000000', ?, 'x', 'json', ?, ?, ?, 'file')",
                         (step.stage, ref.digest, ref.uri, ref.size))
    return project


def reused_run_work(project: Any) -> int:
    """SQLite VM steps (in hundreds) of a whole run in which every stage is reused."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn = project.db.conn
    conn.set_progress_handler(count, 100)
    try:
        run_id = Engine(project).run("w1", wait=True)
    finally:
        conn.set_progress_handler(None, 100)
    states = {r[0] for r in project.db.query("SELECT state FROM stage_runs WHERE run_id = ?",
                                             (run_id,))}
    assert states == {"reused"}
    return steps[0]


class StageWatcher:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self.events: list[str] = []

    @hookimpl
    def on_stage_finished(self, run: Any, stage: str, state: str) -> None:
        if stage == "s3":
            self.seen.append((run.id, stage, run.stage(stage).state))

    @hookimpl
    def record_event(self, event: Any, project: Any) -> None:
        self.events.append(f"{event.kind} {event.subject}")


def test_a_run_of_reused_stages_does_work_linear_in_its_stages(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    watcher = StageWatcher()
    register_goldfish_plugin(watcher, name="watcher")
    small = reused_run_work(reusable(tmp_path, 20, goldfish_plugins))
    large_project = reusable(tmp_path, 80, goldfish_plugins)
    watcher.seen.clear()
    watcher.events.clear()
    large = reused_run_work(large_project)
    assert large < 5 * small, (small, large)  # 4× the stages; the square would be 16×
    # what plugins see is unchanged: the run on demand, every event, in order; STATE.md current
    [(run_id, stage, state)] = watcher.seen
    assert (stage, state) == ("s3", "reused")
    finished = [e for e in watcher.events if e.startswith("stage.finished")]
    assert finished == [f"stage.finished {run_id}/s{i}" for i in range(80)]
    assert watcher.events[-1] == f"run.finished {run_id}"
    state_md = large_project.state_path.read_text()
    assert run_id in state_md
