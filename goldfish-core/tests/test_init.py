"""Creating a project: layout, refusal to overwrite, importing code, nothing half-written."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from dulwich.repo import Repo
from foundation_support import tree_digest
from goldfish import hookimpl
from goldfish.config import load_config
from goldfish.errors import ConflictError, GoldfishError, InvalidInputError, NotFoundError
from goldfish.init import init_project
from goldfish.plugins import Plugins, build
from goldfish.project import Project


def test_init_creates_the_whole_layout(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    project = init_project(tmp_path / "lab", slots=4, goal="beat the baseline",
                           plugins=goldfish_plugins)
    root = tmp_path / "lab"
    assert project.root == root.resolve()
    for slot in ("w1", "w2", "w3", "w4"):
        assert (root / "workspaces" / slot).is_dir()
    assert not (root / "workspaces" / "w5").exists()
    assert (root / ".goldfish" / "runs").is_dir() and (root / ".goldfish" / "cache").is_dir()
    assert Repo(str(root / ".goldfish" / "versions.git")).bare
    assert ".goldfish/" in (root / ".gitignore").read_text().splitlines()
    state = (root / "STATE.md").read_text()
    assert "beat the baseline" in state and "`w4`" in state
    config = load_config(root / "goldfish.yaml", goldfish_plugins)
    assert (config.project, config.slots, config.goal) == ("lab", 4, "beat the baseline")
    assert "# " in (root / "goldfish.yaml").read_text()  # the template is commented
    assert not [p for p in tmp_path.iterdir() if p.name != "lab"]  # no staging left behind
    assert Project.find(root / "workspaces" / "w1").root == root.resolve()


def test_database_is_migrated_in_wal_mode_and_records_the_creation(
        tmp_path: Path, goldfish_plugins: Plugins) -> None:
    project = init_project(tmp_path / "lab", plugins=goldfish_plugins)
    project.db.close()
    conn = sqlite3.connect(project.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
        kinds = [r[0] for r in conn.execute("SELECT kind FROM events")]
    finally:
        conn.close()
    assert kinds == ["project.created"]


def test_names_and_goals_with_yaml_characters_survive(tmp_path: Path,
                                                      goldfish_plugins: Plugins) -> None:
    project = init_project(tmp_path / "lab", name="lab: #1 'quoted'", goal="- not a list: x",
                           plugins=goldfish_plugins)
    assert project.config.project == "lab: #1 'quoted'"
    assert project.config.goal == "- not a list: x"


def test_init_into_an_existing_directory_keeps_its_files(tmp_path: Path,
                                                         goldfish_plugins: Plugins) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / ".gitignore").write_text("*.pyc")
    init_project(tmp_path, name="here", plugins=goldfish_plugins)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n.goldfish/\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".gitignore", ".goldfish", "STATE.md", "goldfish.yaml", "notes.txt", "workspaces"]


def test_init_refuses_an_existing_project(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    init_project(tmp_path / "lab", plugins=goldfish_plugins)
    before = tree_digest(tmp_path)
    with pytest.raises(ConflictError) as info:
        init_project(tmp_path / "lab", slots=5, plugins=goldfish_plugins)
    assert str(tmp_path / "lab" / "goldfish.yaml") in info.value.message
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("existing", ["workspaces", "STATE.md", ".goldfish"])
def test_init_refuses_to_overwrite_any_file_it_would_create(
        tmp_path: Path, goldfish_plugins: Plugins, existing: str) -> None:
    (tmp_path / existing).mkdir() if existing != "STATE.md" else (tmp_path / existing).write_text(
        "keep")
    before = tree_digest(tmp_path)
    with pytest.raises(ConflictError, match=existing):
        init_project(tmp_path, plugins=goldfish_plugins)
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("kwargs, error, text", [
    ({"slots": 0}, InvalidInputError, "--slots 0 is out of range"),
    ({"slots": 21}, InvalidInputError, "--slots 21 is out of range"),
    ({"name": "  "}, InvalidInputError, "project name"),
    ({"from_dir": "missing-dir"}, NotFoundError, "does not exist"),
])
def test_bad_arguments_create_nothing(tmp_path: Path, goldfish_plugins: Plugins,
                                      kwargs: dict[str, object], error: type[Exception],
                                      text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=text):
        init_project(tmp_path / "lab", plugins=goldfish_plugins, **kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_from_must_be_a_directory_outside_the_project(tmp_path: Path,
                                                      goldfish_plugins: Plugins) -> None:
    (tmp_path / "file.py").write_text("x = 1")
    with pytest.raises(InvalidInputError, match="is not a directory"):
        init_project(tmp_path / "lab", from_dir=tmp_path / "file.py", plugins=goldfish_plugins)
    with pytest.raises(InvalidInputError, match="contains the new project directory"):
        init_project(tmp_path / "lab", from_dir=tmp_path, plugins=goldfish_plugins)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.py"]


def test_from_imports_code_as_version_1_mounted_in_w1(tmp_path: Path,
                                                      goldfish_plugins: Plugins) -> None:
    code = tmp_path / "My Code"
    (code / "modules").mkdir(parents=True)
    (code / "modules" / "train.py").write_text("print('train')\n")
    project = init_project(tmp_path / "lab", from_dir=code, plugins=goldfish_plugins)
    w1 = project.slot_path("w1")
    assert (w1 / "modules" / "train.py").read_text() == "print('train')\n"
    row = project.db.one("SELECT workspace, number FROM versions")
    assert row is not None and (row["workspace"], row["number"]) == ("my-code", 1)
    slot = project.db.one("SELECT workspace FROM slots WHERE slot = 'w1'")
    assert slot is not None and slot["workspace"] == "my-code"
    assert "my-code" in project.state_path.read_text()
    repo = Repo(str(project.repo_path))
    assert b"refs/tags/my-code-v1" in repo.get_refs()


def test_from_with_an_explicit_workspace_name(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "a.py").write_text("a = 1\n")
    project = init_project(tmp_path / "lab", from_dir=code, workspace="baseline",
                           plugins=goldfish_plugins)
    row = project.db.one("SELECT name FROM workspaces")
    assert row is not None and row["name"] == "baseline"


def test_workspace_without_from_is_refused_not_ignored(tmp_path: Path,
                                                      goldfish_plugins: Plugins) -> None:
    with pytest.raises(InvalidInputError, match="no --from DIR"):
        init_project(tmp_path / "lab", workspace="baseline", plugins=goldfish_plugins)
    assert not (tmp_path / "lab").exists()


def test_a_project_inside_another_projects_slot_is_refused(tmp_path: Path,
                                                            goldfish_plugins: Plugins) -> None:
    outer = init_project(tmp_path / "lab", plugins=goldfish_plugins)
    before = tree_digest(outer.root)
    for inner in (outer.root / "workspaces" / "w1" / "inner", outer.root / ".goldfish" / "x"):
        with pytest.raises(ConflictError, match=r"inside .* of the Goldfish project"):
            init_project(inner, plugins=goldfish_plugins)
    assert tree_digest(outer.root) == before
    # elsewhere in a project (not a slot) a nested project is allowed
    assert init_project(outer.root / "sub", plugins=goldfish_plugins).root.name == "sub"


def test_a_failing_import_removes_everything_init_created(tmp_path: Path,
                                                          goldfish_plugins: Plugins) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "a.py").write_text("a = 1\n")
    target = tmp_path / "existing"
    target.mkdir()
    (target / ".gitignore").write_text("*.log\n")
    before = tree_digest(tmp_path)
    with pytest.raises(GoldfishError):  # an invalid workspace name fails inside the import
        init_project(target, from_dir=code, workspace="Bad Name!", plugins=goldfish_plugins)
    assert tree_digest(tmp_path) == before


def test_a_failure_while_building_leaves_no_trace(tmp_path: Path) -> None:
    # Without the built-ins there is no `local` backend, so the generated config is refused.
    bare = build(load_entry_points=False, builtins=False)
    with pytest.raises(GoldfishError):
        init_project(tmp_path / "deep" / "lab", plugins=bare)
    assert list(tmp_path.iterdir()) == []


class Orientation:
    @hookimpl
    def render_orientation(self, project: Project) -> str:
        return f"# custom orientation for {project.config.project}\n"


def test_state_md_comes_from_the_memory_plugin_when_one_renders(
        tmp_path: Path, goldfish_plugins: Plugins,
        register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(Orientation(), name="orientation")
    project = init_project(tmp_path / "lab", plugins=goldfish_plugins)
    assert project.state_path.read_text() == "# custom orientation for lab\n"


def test_goldfish_project_fixture_is_a_fresh_project(goldfish_project: Project,
                                                     goldfish_plugins: Plugins) -> None:
    assert goldfish_project.config.project == "test-project"
    assert goldfish_project.plugins is goldfish_plugins
    assert goldfish_project.slots_dir.is_dir()


def test_concurrent_inits_of_one_directory_make_exactly_one_project(
        tmp_path: Path, goldfish_plugins: Plugins) -> None:
    import threading

    outcomes: list[object] = []

    def attempt(name: str) -> None:
        try:
            outcomes.append(init_project(tmp_path / "lab", name=name, plugins=goldfish_plugins))
        except ConflictError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(f"lab-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    projects = [o for o in outcomes if isinstance(o, Project)]
    assert len(projects) == 1 and len(outcomes) == 2
    config = load_config(tmp_path / "lab" / "goldfish.yaml", goldfish_plugins)
    assert config.project == projects[0].config.project
    assert [p.name for p in tmp_path.iterdir()] == ["lab"]  # no staging directory left


def test_unwritable_parent_is_a_clear_error(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(GoldfishError, match="cannot create"):
        init_project(blocker / "lab", plugins=goldfish_plugins)
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
