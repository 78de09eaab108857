"""Property: however runs, saves, tags, conclusions, prunes, restores and gc passes interleave
(real project, real engine, a small pipeline), nothing reachable is ever removed — every
referenced output is readable, every version checks out, the version store passes its check — and
once the clock has moved past the grace period and the prune window, every unreachable object is
gone (the clock is injected: prune and gc take ``now``)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from goldfish.artifacts import ArtifactStore
from goldfish.lifecycle import reach, vstore
from goldfish.lifecycle.gc import collect_garbage, list_store
from goldfish.lifecycle.prune import prune, restore
from goldfish.runs.engine import Engine
from goldfish.runs.records import conclude, tag_run
from goldfish.workspaces import Workspaces
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from lifecycle_support import DAY, assert_everything_reachable_is_readable, junk
from runs_support import make_project, write_files

PIPELINE = {
    "pipeline.yaml": """
        name: small
        stages:
          - name: prepare
            outputs: {data: {type: json}, folder: {type: directory}}
            config: {n: 2}
          - name: train
            inputs: {data: {from: prepare.data}}
            outputs: {model: {type: json}}
            config: {lr: 0.1}
    """,
    "modules/prepare.py": """
        import pathlib
        from goldfish import io
        n = io.config()["n"]
        io.save_output("data", {"xs": list(range(n))})
        out = pathlib.Path(io.output_path("folder"))
        out.mkdir(parents=True, exist_ok=True)
        (out / "shared.txt").write_text("same in every run")
        (out / f"n{n}.txt").write_text(str(n))
    """,
    "modules/train.py": """
        from goldfish import io
        data = io.load_input("data")
        io.save_output("model", {"w": sum(data["xs"]) * io.config()["lr"]})
    """,
}


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="gf-life-"))
        self.project = make_project(self.tmp, PIPELINE)
        self.engine = Engine(self.project)
        self.ws = Workspaces(self.project)
        self.offset = 0.0  # how far the injected clock is ahead of the real one
        self.runs: list[str] = []
        self.pruned: list[str] = []
        self.saves = 0

    @property
    def now(self) -> float:
        return time.time() + self.offset

    def teardown(self) -> None:
        try:
            # past the window and the grace period: everything unreachable goes
            self.offset += reach.DEFAULT_WINDOW_DAYS * DAY + 2 * DAY
            collect_garbage(self.project, grace=3600, now=self.now)
            assert_everything_reachable_is_readable(self.project)
            assert self.project.db.query("SELECT * FROM pruned") == []
            store = ArtifactStore.for_project(self.project)
            listed = list_store(store)
            roots = reach.collect(self.project, now=self.now)
            trees = {o.uri for o in listed if "/trees/" in o.uri}
            marked = reach.store_uris(store, roots.digests, trees)
            leftover = {o.uri for o in listed} - marked
            assert not leftover, f"unreachable objects survived: {sorted(leftover)[:3]}"
            again = vstore.collect(self.project.repo_path, roots.commits, self.now, dry_run=True)
            assert not again.dropped and again.young == 0
            assert not list((self.project.goldfish_dir / "tmp").glob("*"))
        finally:
            self.project.db.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize(n=st.integers(1, 3))
    def two_runs(self, n: int) -> None:
        self.run(n, 0.1)
        self.run(n % 3 + 1, 0.2)

    @rule(n=st.integers(1, 3), lr=st.sampled_from([0.1, 0.2]))
    def run(self, n: int, lr: float) -> None:
        run_id = self.engine.run("w1", wait=True, set_={"prepare": {"n": n}, "train": {"lr": lr}})
        self.runs.append(run_id)

    @rule(text=st.text("abc", min_size=1, max_size=5))
    def save(self, text: str) -> None:
        self.saves += 1
        write_files(self.project.slot_path("w1"), {f"notes/{self.saves % 3}.txt": text * 20})
        self.ws.save_version("w1", f"save {self.saves}")

    @rule(data=st.data(), kind=st.sampled_from(["run", "version"]))
    def tag(self, data: st.DataObject, kind: str) -> None:
        live = [r for r in self.runs if r not in self.pruned]
        if kind == "run" and live:
            tag_run(self.project, data.draw(st.sampled_from(live)), f"t{len(self.runs)}")
        elif kind == "version":
            tags = [r[0] for r in self.project.db.query("SELECT tag FROM versions")]
            name = f"keep{self.saves}-{len(tags)}"
            if self.project.db.one("SELECT 1 FROM tags WHERE name = ?", (name,)) is None:
                self.ws.tag(data.draw(st.sampled_from(tags)), name)

    @rule(data=st.data(), outcome=st.sampled_from(["success", "miss", "partial"]))
    def conclude_a_run(self, data: st.DataObject, outcome: str) -> None:
        live = [r for r in self.runs if r not in self.pruned]
        if live:
            conclude(self.project, data.draw(st.sampled_from(live)), outcome)

    @rule(keep=st.integers(0, 2), older=st.sampled_from([None, 0.0, 5.0]))
    def prune(self, keep: int, older: float | None) -> None:
        report = prune(self.project, keep_last=keep, older_than_days=older, now=self.now)
        self.pruned += [r["id"] for r in report.runs]

    @rule(keep=st.integers(0, 1))
    def prune_then_collect_at_once(self, keep: int) -> None:
        self.prune(keep, None)
        collect_garbage(self.project, grace=0, now=self.now)

    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        waiting = [r[0] for r in self.project.db.query("SELECT id FROM pruned")]
        if waiting:
            ident = data.draw(st.sampled_from(waiting))
            restore(self.project, ident)
            self.pruned = [r for r in self.pruned if r != ident]

    @rule(grace=st.sampled_from([0.0, 0.0, 3600.0]), dry_run=st.sampled_from([False, False, True]),
          days=st.sampled_from([0.0, 0.5, 10.0, 40.0]), garbage=st.integers(0, 2000))
    def gc(self, grace: float, dry_run: bool, days: float, garbage: int) -> None:
        """Some garbage (an unreferenced object, a crash leftover), the clock moves, gc runs."""
        if garbage:
            junk(self.project, b"g" * garbage)
            (self.project.goldfish_dir / "tmp" / f"crash-{garbage}").mkdir(parents=True,
                                                                           exist_ok=True)
        self.offset += days * DAY
        collect_garbage(self.project, grace=grace, dry_run=dry_run, now=self.now)

    @invariant()
    def nothing_reachable_is_removed(self) -> None:
        assert_everything_reachable_is_readable(self.project)
        # what a pruned record needs stays while it can be restored
        store = ArtifactStore.for_project(self.project)
        window = reach.window_seconds(self.project)
        for kind, ident, rows in self.project.db.query(
                "SELECT kind, id, rows FROM pruned WHERE pruned_at >= ?", (self.now - window,)):
            tables = json.loads(rows)
            for row in tables.get("outputs", []):
                assert store.present(row["digest"]), f"{kind} {ident} lost {row['digest']}"
            for row in tables.get("runs", []) + tables.get("versions", []):
                with tempfile.TemporaryDirectory() as out:  # its tree and every blob are read
                    self.ws.export(row["commit_sha"], Path(out) / "v")


def test_gc_and_prune_never_remove_what_is_reachable_and_eventually_remove_the_rest(
        goldfish_plugins: object) -> None:
    run_state_machine_as_test(Lifecycle, settings=settings(
        max_examples=10, stateful_step_count=10, deadline=None,
        suppress_health_check=list(HealthCheck)))
