"""Metric ingestion: incremental from the byte cursor, the same summaries as a full read."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Any

import pytest
from goldfish import hookimpl
from goldfish.findings import Finding
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.runs.ingest import HISTORY_POINTS, Ingest
from goldfish.runs.records import get_run, summarize
from runs_support import CHAIN, edit, make_project, one, wait_for

RUN, STAGE = "r-20000101-000000", "train"


def _lines(n: int, seed: int = 7) -> list[str]:
    """Points of three metrics as goldfish.io writes them, with the odd bad or special line."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        name = rng.choice(["loss", "acc", "grad_norm"])
        value: Any = rng.uniform(-1, 3)
        if i % 97 == 0:
            value = rng.choice(["nan", "inf", "-inf"])
        step = i if i % 13 else None
        out.append(json.dumps({"n": name, "v": value, "s": step, "t": 1000.0 + i},
                              separators=(",", ":")) + "\n")
        if i % 101 == 0:
            out.append(rng.choice(["not json\n", "\n", '{"n":"loss"}\n', "[1, 2]\n"]))
    return out


def full_read(text: str) -> dict[str, tuple[Any, ...]]:
    """What the engine computed before: every line decoded on its own, then summarized."""
    values: dict[str, list[float]] = {}
    steps: dict[str, Any] = {}
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            raw = json.loads(line)
            value = float(raw["v"])
        except (ValueError, KeyError, TypeError):
            continue
        values.setdefault(str(raw.get("n")), []).append(value)
        steps[str(raw.get("n"))] = raw["s"] if isinstance(raw.get("s"), int) else None
    out = {}
    for name, vals in values.items():
        s = summarize(vals)
        out[name] = _clean((s["last"], s["min"], s["max"], s["count"], s["slope"], steps[name]))
    return out


def _clean(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """SQLite stores NaN as NULL: compare as the database keeps it."""
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)


def stored(project: Any) -> dict[str, tuple[Any, ...]]:
    return {r["name"]: _clean(tuple(r)[1:]) for r in project.db.query(
        "SELECT name, last, min, max, count, slope, last_step FROM metric_summaries "
        "WHERE run_id = ? AND stage = ?", (RUN, STAGE))}


def ingest_pass(project: Any, path: Path, cursor: tuple[int, str | None],
                batch_bytes: int = 1 << 20) -> tuple[int, str | None]:
    """One watch tick's worth: from the persisted cursor and state, write summaries, persist."""
    ingest = Ingest(path, *cursor)
    for _ in ingest.batches(batch_bytes=batch_bytes):
        with project.tx() as conn:
            ingest.write(conn, RUN, STAGE)
    return ingest.offset, ingest.state()


def test_a_file_appended_across_many_ticks_gives_the_summaries_of_a_full_read(
        project: Any, tmp_path: Path) -> None:
    text = "".join(_lines(5000))
    path = tmp_path / "metrics.jsonl"
    rng = random.Random(3)
    cursor: tuple[int, str | None] = (0, None)
    written = 0
    torn = 0
    with open(path, "w") as fh:
        while written < len(text):
            piece = text[written:written + rng.randint(1, 900)]  # cuts lines anywhere
            fh.write(piece)
            fh.flush()
            written += len(piece)
            torn += not piece.endswith("\n")
            cursor = ingest_pass(project, path, cursor, batch_bytes=rng.choice([64, 512, 4096]))
            assert cursor[0] == text.rfind("\n", 0, written) + 1  # never past a torn line
            if rng.random() < 0.05:  # the state survives a restart: only the cursor and JSON
                cursor = (cursor[0], json.loads(json.dumps(cursor[1])) if cursor[1] else None)
    assert torn > 100
    expected = full_read(text)
    assert stored(project) == expected
    assert sorted(expected) == ["acc", "grad_norm", "loss"]
    assert expected["loss"][3] > 1000


def test_a_torn_last_line_is_read_once_it_is_complete(project: Any, tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"n":"loss","v":1.0,"s":0,"t":1}\n{"n":"loss","v":0.5,"s"')
    cursor = ingest_pass(project, path, (0, None))
    assert stored(project)["loss"][:4] == (1.0, 1.0, 1.0, 1)
    with open(path, "a") as fh:
        fh.write(':1,"t":2}\n')
    ingest_pass(project, path, cursor)
    assert stored(project)["loss"][:4] == (0.5, 0.5, 1.0, 2)
    assert stored(project)["loss"][5] == 1


def test_a_cursor_without_state_or_past_the_end_starts_over(project: Any, tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    text = "".join(_lines(300))
    path.write_text(text)
    ingest_pass(project, path, (len(text) // 2, None))  # recorded before states were kept
    assert stored(project) == full_read(text)
    for bad in ("not json", "[1, 2]", '{"loss": [1]}'):  # a damaged state: read again from 0
        assert ingest_pass(project, path, (len(text) // 2, bad))[0] == len(text)
        assert stored(project) == full_read(text)
    shorter = "".join(_lines(50, seed=1))
    path.write_text(shorter)  # replaced by a shorter file: a retried stage
    cursor = ingest_pass(project, path, (len(text), "{}"))
    assert cursor[0] == len(shorter)
    assert stored(project)["loss"][3] == full_read(shorter)["loss"][3]


def test_check_metrics_gets_a_bounded_history_and_stats_of_everything_before(
        tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    values = [float(i) for i in range(3000)]
    values[10] = math.nan
    path.write_text("".join(json.dumps({"n": "loss", "v": v if math.isfinite(v) else "nan",
                                        "s": i, "t": i}) + "\n" for i, v in enumerate(values)))
    ingest = Ingest(path, 0, None)
    seen = 0
    for batch in ingest.batches(points=True, batch_bytes=4096):
        history, earlier = ingest.history(batch), ingest.stats(batch)
        new = len(batch.points)
        assert [p.step for p in history["loss"][-new:]] == [p.step for p in batch.points]
        older = history["loss"][:-new]
        assert len(older) == min(seen, HISTORY_POINTS)
        assert [p.step for p in older] == list(range(seen - len(older), seen))
        if seen:
            stats = earlier["loss"]
            assert stats.count == seen
            assert stats.nonfinite == (1 if seen > 10 else 0)
            assert stats.max == seen - 1 and stats.min == (0.0 if seen else None)
            assert stats.last_at == seen - 1
        seen += new
    assert seen == 3000


class Watcher:
    """A real check_metrics plugin: keeps what each call saw."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    @hookimpl
    def check_metrics(self, context: Any) -> list[Finding]:
        stats = context.earlier.get("loss")
        if context.stage == "train":
            self.calls.append((len(context.new), len(context.history.get("loss", [])),
                               stats.count if stats else 0))
        return []


def _paused_train(tmp_path: Path, goldfish_plugins: Any, *, paused_at: int, steps: int,
                  per: int) -> Project:
    """A CHAIN project whose train stage logs ``loss = 10 - step / per`` for ``steps`` steps,
    flushing and then waiting at ``paused_at`` until the test writes the job's ``go`` file."""
    project = make_project(tmp_path, CHAIN, goldfish_plugins)
    edit(project, "modules/train.py", f"""
        import time
        from goldfish import io
        io.load_input("data")
        for step in range({paused_at}):
            io.log_metric("loss", 10.0 - step / {per}, step=step)
        io.flush()
        while not (io.job_dir() / "go").exists():
            time.sleep(0.02)
        for step in range({paused_at}, {steps}):
            io.log_metric("loss", 10.0 - step / {per}, step=step)
        io.save_output("model", {{"w": 1.0}})
    """)
    return project


def test_a_running_stage_is_ingested_from_its_cursor_not_reread(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any) -> None:
    """Bytes already ingested are never read again: blanking them changes nothing."""
    watcher = Watcher()
    register_goldfish_plugin(watcher, name="watcher")
    project = _paused_train(tmp_path, goldfish_plugins, paused_at=400, steps=1000, per=100)
    engine = Engine(project)
    run_id = engine.run("w1")
    job = engine.job_dir(run_id, "train")

    def ticked() -> bool:
        engine.advance(run_id)
        return bool(one(project, "SELECT metrics_offset FROM stage_runs WHERE run_id = ? "
                                 "AND stage = 'train'", (run_id,))[0])

    wait_for(ticked, timeout=60, what="a tick that ingested the first points")
    row = one(project, "SELECT metrics_offset, metrics_state FROM stage_runs WHERE run_id = ? "
                       "AND stage = 'train'", (run_id,))
    assert row[1] is not None
    path = job / "metrics.jsonl"
    data = path.read_bytes()
    blank = b"".join(b" " * (len(line) - 1) + b"\n"
                     for line in data[:row[0]].splitlines(keepends=True))
    path.write_bytes(blank + data[row[0]:])
    (job / "go").write_text("")
    assert engine.wait(run_id, timeout=60) == "done"
    loss = get_run(project, run_id).stage("train").metrics["loss"]
    assert (loss["count"], loss["last"], loss["min"], loss["max"], loss["last_step"]) == (
        1000, pytest.approx(0.01), pytest.approx(0.01), 10.0, 999)
    assert loss["slope"] == pytest.approx(-0.01)
    assert one(project, "SELECT metrics_state FROM stage_runs WHERE run_id = ? AND "
                        "stage = 'train'", (run_id,))[0] is None  # dropped once the stage ended
    assert watcher.calls and all(h <= HISTORY_POINTS + n for n, h, _ in watcher.calls)
    assert all(h == min(c, HISTORY_POINTS) + n for n, h, c in watcher.calls if n)


def test_batches_far_behind_the_end_are_folded_without_their_points(tmp_path: Path) -> None:
    """A reader that is behind (``behind``) skips handing over points it has no time for; the
    summaries and the stats of everything before the newest batch are those of a full read."""
    path = tmp_path / "metrics.jsonl"
    values = [float(i) for i in range(3000)]
    values[10] = math.nan
    text = "".join(json.dumps({"n": "loss", "v": v if math.isfinite(v) else "nan", "s": i,
                               "t": i}) + "\n" for i, v in enumerate(values))
    path.write_text(text)
    ingest = Ingest(path, 0, None)
    batches = list(ingest.batches(points=True, batch_bytes=4096, behind=8192))
    kept = [len(b.points) for b in batches]
    assert kept[0] == 0 and kept[-1] > 0  # the oldest skipped, the newest handed over
    assert sum(1 for k in kept if k) <= 3
    last = batches[-1]
    stats, history = ingest.stats(last), ingest.history(last)
    assert stats["loss"].count == 3000 - len(last.points)
    assert stats["loss"].nonfinite == 1  # the NaN of a skipped batch still reaches the hooks
    assert [p.step for p in history["loss"]] == list(range(3000 - HISTORY_POINTS
                                                          - len(last.points), 3000))
    plain = Ingest(path, 0, None)
    for _ in plain.batches(batch_bytes=4096):
        pass
    assert plain.state() == ingest.state()


def test_a_waiter_behind_a_fast_logging_stage_reads_on_without_waiting(
        tmp_path: Path, goldfish_plugins: Any, register_goldfish_plugin: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """When a look leaves metrics unread, the waiter looks again at once instead of waiting
    for the next change, so the stage's metrics are read while it runs, not after it ends."""
    from goldfish.runs import ingest, waiting

    watcher = Watcher()
    register_goldfish_plugin(watcher, name="watcher")
    project = _paused_train(tmp_path, goldfish_plugins, paused_at=20000, steps=20000, per=10000)
    monkeypatch.setattr(ingest, "BATCH_BYTES", 4096)
    monkeypatch.setattr("goldfish.runs.engine.TICK_SECONDS", 0.0)  # one batch per look
    engine = Engine(project)
    run_id = engine.run("w1")
    job = engine.job_dir(run_id, "train")
    looks: list[tuple[bool, int]] = []
    real_wait = waiting.wait_for_change

    def recording_wait(eng: Any, rid: str, acted: bool, timeout: float,
                       since: int | None = None) -> None:
        looks.append((eng.backlog, os.path.getsize(job / "metrics.jsonl")
                      if (job / "metrics.jsonl").exists() else 0))
        if eng.backlog:
            raise AssertionError("waited with metrics left unread")
        offset = one(project, "SELECT metrics_offset FROM stage_runs WHERE run_id = ? AND "
                              "stage = 'train'", (run_id,))[0] or 0
        if offset and offset == looks[-1][1]:
            (job / "go").write_text("")  # everything read while the stage still runs
        real_wait(eng, rid, acted, timeout, since)

    monkeypatch.setattr(waiting, "wait_for_change", recording_wait)
    assert engine.wait(run_id, timeout=120) == "done"
    assert (job / "go").exists(), "the waiter never caught up while the stage ran"
    loss = get_run(project, run_id).stage("train").metrics["loss"]
    assert loss["count"] == 20000 and loss["last_step"] == 19999
