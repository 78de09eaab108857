"""The built-in memory store keeps STATE.md current: rewritten atomically after every event."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from goldfish import memory
from goldfish.project import Project
from memory_support import add_run, new_project, set_best

SECTIONS = ("## Goal", "## Invariants (do not change)", "## Workspaces", "## Best results",
            "## Recent runs", "## Decisions", "## Notes", "## Open questions", "## Next")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return new_project(tmp_path)


def read(project: Project) -> str:
    return project.state_path.read_text(encoding="utf-8")


def test_state_md_has_every_section_after_init(project: Project) -> None:
    text = read(project)
    for section in SECTIONS:
        assert section in text, section
    assert "beat 0.9 accuracy" in text and "`w1`: exp at exp-v1 — tune the model" in text


def test_every_event_rewrites_state_md(project: Project) -> None:
    memory.add_note(project, "use cosine schedule", kind="decision")
    assert "use cosine schedule" in read(project)
    add_run(project, "r-20260101-000001", value=0.91)
    set_best(project, "exp", "r-20260101-000001")
    memory.add_note(project, "why does eval lag?", kind="question")
    text = read(project)
    assert "why does eval lag?" in text.split("## Open questions")[1]
    assert "exp: accuracy = 0.91 (max) in r-20260101-000001" in text
    assert "r-20260101-000001 done exp-v1 0.91" in text


def test_state_md_comes_back_when_deleted(project: Project) -> None:
    project.state_path.unlink()
    memory.add_note(project, "hello again")
    assert "hello again" in read(project)


def test_render_orientation_hook_is_the_state_md_renderer(project: Project) -> None:
    assert project.plugins.render_orientation(project) == memory.render_state(project)


def test_concurrent_writers_never_leave_a_torn_file(project: Project) -> None:
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            text = read(project)
            if not (text.startswith("# mem-lab") and "## Next" in text and text.endswith("\n")):
                errors.append(text[-200:])

    def writer(n: int) -> None:
        for i in range(15):
            memory.add_note(project, f"writer {n} note {i}")

    r = threading.Thread(target=reader)
    r.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    r.join()
    assert errors == []
    assert "## Next" in read(project)
    assert not list(project.root.glob(".STATE.md.*.tmp"))
    assert project.db.one("SELECT count(*) FROM notes")[0] == 45  # type: ignore[index]


def test_a_failing_render_never_fails_the_operation(project: Project,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = read(project)
    project.config_path.write_text("project: [unclosed\n", encoding="utf-8")
    project.__dict__.pop("config", None)  # the next render reads the broken file
    note = memory.add_note(project, "still recorded")
    assert note.id == 1
    assert project.db.one("SELECT text FROM notes")[0] == "still recorded"  # type: ignore[index]
    assert "memory plugin state_md failed" in capsys.readouterr().err
    assert read(project) == before  # the old file stays whole
