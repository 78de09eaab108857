"""Notes and decisions, and recall over everything recorded (SQLite FTS5 kept by triggers)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from goldfish import hookimpl, memory
from goldfish.db import Database, _split_sql, all_migrations
from goldfish.errors import InvalidInputError, NotFoundError
from goldfish.events import Hit
from goldfish.project import Project
from memory_support import add_finding, add_run, new_project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return new_project(tmp_path)


def test_note_is_stored_indexed_and_announced(project: Project) -> None:
    n = memory.add_note(project, "  switch to AdamW; SGD stalls  ", kind="decision",
                        workspace="exp")
    assert n.text == "switch to AdamW; SGD stalls" and n.kind == "decision"
    assert [x.id for x in memory.list_notes(project, kinds=("decision",))] == [n.id]
    assert memory.list_notes(project, kinds=("question",)) == []
    event = project.db.one("SELECT kind, summary FROM events ORDER BY id DESC LIMIT 1")
    assert event is not None and event[0] == "note.added" and "AdamW" in event[1]
    hits = memory.recall(project, "adamw")
    assert [(h.kind, h.id) for h in hits] == [("decision", f"n{n.id}")]


def test_note_about_a_run_takes_its_workspace(project: Project) -> None:
    add_run(project, "r-20260101-aaaaaa", value=0.8)
    n = memory.add_note(project, "this one overfits", run="r-20260101-aaaaaa")
    assert (n.run_id, n.workspace) == ("r-20260101-aaaaaa", "exp")


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"text": "   "}, "empty"),
    ({"text": "x" * 4001}, "4001 characters"),
    ({"text": "ok", "kind": "decisoin"}, "did you mean 'decision'"),
    ({"text": "ok", "workspace": "exq"}, "did you mean 'exp'"),
])
def test_bad_notes_are_refused_and_nothing_is_written(project: Project, kwargs: dict[str, str],
                                                       words: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        memory.add_note(project, **kwargs)
    assert words in str(err.value)
    assert project.db.one("SELECT count(*) FROM notes")[0] == 0  # type: ignore[index]


def test_note_about_an_unknown_run_says_how_to_find_runs(project: Project) -> None:
    with pytest.raises(NotFoundError, match="no run"):
        memory.add_note(project, "hm", run="r-20990101-ffffff")


def test_recall_searches_reasons_conclusions_findings_and_patterns(project: Project) -> None:
    from goldfish import patterns
    from goldfish.runs.records import conclude

    add_run(project, "r-20260101-000001", value=0.7,
            reason={"description": "baseline", "hypothesis": "dropout reduces overfitting"})
    conclude(project, "r-20260101-000001", "miss", "dropout did not help; the model underfits")
    add_finding(project, "r-20260101-000001", message="loss diverged to infinity",
                check="loss_divergence")
    patterns.candidate_from_failure(project, patterns.Failure(
        "r-20260101-000001", "train", "CudaOutOfMemory", "CUDA out of memory at batch 512"))
    memory.add_note(project, "question: is dropout applied at eval?", kind="question")

    kinds = {h.kind for h in memory.recall(project, "dropout")}
    assert kinds == {"run", "conclusion", "question"}
    assert memory.recall(project, "diverged")[0].kind == "finding"
    pattern_hits = memory.recall(project, "memory", kinds=["pattern"])
    assert pattern_hits and "CudaOutOfMemory" in pattern_hits[0].text
    only = memory.recall(project, "dropout", kinds=["conclusion"])
    assert [h.id for h in only] == ["r-20260101-000001"]
    # a new verdict replaces the old one in the index
    conclude(project, "r-20260101-000001", "partial", "dropout helps a little after all")
    texts = [h.text for h in memory.recall(project, "dropout", kinds=["conclusion"])]
    assert texts == ["partial: dropout helps a little after all"]


def test_recall_matches_prefixes_all_words_first_then_any(project: Project) -> None:
    memory.add_note(project, "learning rate warmup stabilizes training")
    memory.add_note(project, "batch size 512 is too large")
    assert [h.text for h in memory.recall(project, "learn warm")] == [
        "learning rate warmup stabilizes training"]
    either = {h.text for h in memory.recall(project, "warmup batch")}
    assert len(either) == 2  # no note has both words: any word matches


def test_recall_filters_and_empty_query_and_hostile_text(project: Project) -> None:
    from goldfish.workspaces import Workspaces

    Workspaces(project).create("other", mount=None)
    old = memory.add_note(project, "tokenizer choice matters", workspace="other")
    with project.db.tx() as c:
        c.execute("UPDATE memory_fts SET at = ? WHERE ref = ?", (time.time() - 7200,
                                                                  f"n{old.id}"))
    new = memory.add_note(project, "tokenizer bpe 32k wins", workspace="exp")
    assert [h.id for h in memory.recall(project, "tokenizer", workspace="exp")] == [f"n{new.id}"]
    assert [h.id for h in memory.recall(project, "tokenizer", since=time.time() - 60)] == [
        f"n{new.id}"]
    assert memory.recall(project, "")[0].id == f"n{new.id}"  # newest first
    for hostile in ('"', "AND OR NOT", "*", "a:b", "(", "NEAR(x y)", "'; DROP TABLE notes; --"):
        memory.recall(project, hostile)  # never an FTS syntax error
    assert project.db.one("SELECT count(*) FROM notes")[0] == 2  # type: ignore[index]
    with pytest.raises(InvalidInputError, match="unknown kind"):
        memory.recall(project, "x", kinds=["gossip"])
    with pytest.raises(InvalidInputError, match="out of range"):
        memory.recall(project, "x", limit=0)
    with pytest.raises(InvalidInputError, match="characters"):
        memory.recall(project, "x" * 501)


def test_recall_merges_hits_from_other_memory_stores(project: Project) -> None:
    class Wiki:
        @hookimpl
        def recall(self, query: str, kinds: list[str] | None, limit: int) -> list[Hit]:
            return [Hit("wiki", "page-1", f"wiki page about {query}", 1000.0)]

    memory.add_note(project, "optimizer notes")
    project.plugins.register(Wiki(), name="wiki")
    try:
        hits = memory.recall(project, "optimizer")
    finally:
        project.plugins.unregister("wiki")
    assert [h.kind for h in hits] == ["wiki", "note"]


def test_migration_indexes_what_was_recorded_before_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, _name, sql in all_migrations():
        if number > 2:
            break
        for statement in _split_sql(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO runs (id, workspace, state, reason, created_at) VALUES "
                 "('r-20250101-000001', 'exp', 'done', '{\"hypothesis\": \"wider layers help\"}', "
                 "1.0)")
    conn.execute("INSERT INTO conclusions (run_id, outcome, notes, at) VALUES "
                 "('r-20250101-000001', 'success', 'wider is better', 2.0)")
    conn.close()
    db = Database(path)
    assert db.migrate() >= 3
    rows = db.query("SELECT kind, ref FROM memory_fts WHERE memory_fts MATCH 'wider' ORDER BY kind")
    assert [(r[0], r[1]) for r in rows] == [("conclusion", "r-20250101-000001"),
                                            ("run", "r-20250101-000001")]
