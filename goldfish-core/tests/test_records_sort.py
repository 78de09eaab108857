"""``runs --sort``: sorted, filtered and paginated in SQL, the same order as sorting every run."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from goldfish.runs.records import _metric_values, list_runs

STAGES = ("prepare", "train", "evaluate")



def seed(project: Any, n: int, seed: int = 5, first: int = 0, ties: bool = True) -> list[str]:
    """``n`` recorded runs: metrics in some stages (the same name in two), ties, NULLs, tags."""
    rng = random.Random(seed)
    ids = []
    with project.tx() as conn:
        for i in range(first, first + n):
            run_id = f"r-20250101-{i:06x}"
            ids.append(run_id)
            conn.execute("INSERT INTO runs (id, workspace, version_tag, state, reason, created_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (run_id, rng.choice(["exp", "other"]), f"exp-v{i}",
                          rng.choice(["done", "done", "failed"]),
                          json.dumps({"description": f"run {i}"}), 1000.0 + i))
            for pos, stage in enumerate(STAGES):
                conn.execute("INSERT INTO stage_runs (run_id, stage, position, state, created_at) "
                             "VALUES (?, ?, ?, 'done', 0)", (run_id, stage, pos))
            for stage in ("train", "evaluate"):
                if rng.random() < 0.7:
                    value = rng.choice([None, round(rng.random(), 1 if ties else 9),
                                        rng.random()])
                    conn.execute("INSERT INTO metric_summaries (run_id, stage, name, last, count, "
                                 "updated_at) VALUES (?, ?, 'score', ?, 1, 0)",
                                 (run_id, stage, value))
            if rng.random() < 0.1:
                conn.execute("INSERT INTO tags (name, kind, target, created_at) VALUES "
                             "(?, 'run', ?, 0)", (f"t{i}", run_id))
                conn.execute("INSERT INTO tags (name, kind, target, created_at) VALUES "
                             "(?, 'run', ?, 0)", (f"w{i}@best", run_id))
    return ids


def every_run_sorted(project: Any, metric: str, direction: str, where: str = "",
                     params: tuple[Any, ...] = ()) -> list[tuple[str, float | None]]:
    """What ``list_runs`` did before: every run, newest first, then a stable sort in Python."""
    ids = [r[0] for r in project.db.query(
        f"SELECT r.id FROM runs r {where} ORDER BY r.created_at DESC", params)]
    values = _metric_values(project, ids, metric)
    present = sorted((i for i in ids if i in values), key=lambda i: values[i],
                     reverse=direction == "desc")
    return [(i, values.get(i)) for i in present + [i for i in ids if i not in values]]


def listed(rows: list[Any]) -> list[tuple[str, float | None]]:
    return [(r.id, r.metric) for r in rows]


@pytest.mark.parametrize("metric", ["score", "train.score", "evaluate.score"])
@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_sql_order_and_pages_match_sorting_every_run(project: Any, metric: str,
                                                     direction: str) -> None:
    seed(project, 240)
    expected = every_run_sorted(project, metric, direction)
    assert any(v is None for _, v in expected) and len({v for _, v in expected}) < 200  # ties
    for limit, offset in [(20, 0), (50, 20), (30, 150), (25, 170), (40, 230), (10, 400)]:
        got = list_runs(project, sort=f"{metric}:{direction}", limit=limit, offset=offset)
        assert listed(got) == expected[offset:offset + limit], (limit, offset)
    mine = every_run_sorted(project, metric, direction,
                            "WHERE r.workspace = ? AND r.state = ?", ("exp", "done"))
    assert listed(list_runs(project, sort=f"{metric}:{direction}", workspace="exp",
                            state="done", limit=500)) == mine
    tagged = every_run_sorted(project, metric, direction,
                              "WHERE r.id IN (SELECT target FROM tags WHERE name LIKE '%@best')")
    rows = list_runs(project, sort=f"{metric}:{direction}", tag="@best", limit=500)
    assert listed(rows) == tagged and len(rows) > 5
    assert all(r.tags == sorted([f"t{int(r.id[-6:], 16)}", f"w{int(r.id[-6:], 16)}@best"])
               for r in rows)


def test_a_sorted_first_page_reads_a_page_not_every_run(project: Any) -> None:
    """SQLite's own work counter (VM steps, not time): ten times the runs, about the same work."""
    conn = project.db.conn
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def work() -> int:
        steps[0] = 0
        conn.set_progress_handler(count, 100)
        try:
            rows = list_runs(project, sort="score:desc", limit=20)
        finally:
            conn.set_progress_handler(None, 100)
        assert len(rows) == 20 and rows[0].metric is not None
        return steps[0]

    seed(project, 1000, ties=False)  # a tie at the top is read whole (newest first within it)
    small = work()
    seed(project, 9000, first=1000, ties=False)
    large = work()
    assert large < 3 * small, (small, large)
