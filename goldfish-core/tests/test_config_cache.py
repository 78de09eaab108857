"""The recorded validation of goldfish.yaml (goldfish.configcache): reused while nothing it depends
on changed, never trusted for a broken file, bypassed by GOLDFISH_NO_CACHE=1 and `config check`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from goldfish import configcache, hookimpl
from goldfish.cli import main
from goldfish.config import Section
from goldfish.errors import ProblemsError
from goldfish.project import Project


class TeamSettings(Section):
    lead: str = "nobody"


class TeamPlugin:
    @hookimpl
    def register_config_sections(self, register: Callable[..., None]) -> None:
        register("team", TeamSettings)


@pytest.fixture(autouse=True)
def caching(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GOLDFISH_NO_CACHE", raising=False)
    yield


def fresh(project: Project) -> Project:
    """The same project as a new process would open it (nothing memoized)."""
    return Project(project.root, plugins=project.plugins)


def record(project: Project) -> Path:
    return project.cache_dir / configcache.CACHE_FILE


def tamper(project: Project, **data: object) -> None:
    """Change the recorded data, keeping its key: only a cache hit can show these values."""
    stored = json.loads(record(project).read_text())
    stored["data"].update(data)
    record(project).write_text(json.dumps(stored))


def test_a_valid_config_is_recorded_and_reused(goldfish_project: Project) -> None:
    record(goldfish_project).unlink(missing_ok=True)
    first = fresh(goldfish_project).config
    assert not first.from_cache and record(goldfish_project).is_file()
    tamper(goldfish_project, goal="served from the record")
    again = fresh(goldfish_project).config
    assert again.from_cache
    assert again.goal == "served from the record"
    assert again.project == "test-project" and again.slots == 3
    assert again.get("limits.max_file_mb") == 50


def test_the_record_is_private_to_its_owner(goldfish_project: Project) -> None:
    _ = fresh(goldfish_project).config
    assert stat.S_IMODE(os.stat(record(goldfish_project)).st_mode) == 0o600


def test_models_are_rebuilt_from_the_file_not_the_record(goldfish_project: Project) -> None:
    _ = fresh(goldfish_project).config
    tamper(goldfish_project, profiles={"local": {"backend": "forged"}})
    config = fresh(goldfish_project).config
    assert config.from_cache
    # profiles are plain views of the record (what `goldfish run` reads, without pydantic)...
    assert config.profile("local").backend == "forged"
    assert config.from_cache
    # ...the validated objects are rebuilt from goldfish.yaml
    assert config.values["profiles"]["local"].backend == "local"
    assert not config.from_cache
    assert config.profile("local").backend == "local"


def test_an_edit_is_revalidated_and_a_broken_file_reported_with_its_line(
        goldfish_project: Project) -> None:
    _ = fresh(goldfish_project).config
    tamper(goldfish_project, goal="stale")
    path = goldfish_project.config_path
    text = path.read_text()
    path.write_text(text.replace("goal: ", "goal: edited # ", 1) if "goal: " in text
                    else text + "goal: edited\n")
    edited = fresh(goldfish_project).config
    assert not edited.from_cache and edited.goal.startswith("edited")
    path.write_text(path.read_text().replace("slots: 3", "slots: many"))
    with pytest.raises(ProblemsError) as info:
        _ = fresh(goldfish_project).config
    line = path.read_text().splitlines().index("slots: many") + 1
    assert f"{path}:{line}: slots: expected an integer" in str(info.value)


def test_the_same_size_and_mtime_is_still_a_new_file(goldfish_project: Project) -> None:
    _ = fresh(goldfish_project).config
    path = goldfish_project.config_path
    before = os.stat(path)
    raw = path.read_bytes().replace(b"slots: 3", b"slots: 4")
    assert len(raw) == before.st_size
    path.write_bytes(raw)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert fresh(goldfish_project).config.slots == 4


def test_a_changed_plugin_set_revalidates(goldfish_project: Project,
                                          register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(TeamPlugin(), name="team")
    path = goldfish_project.config_path
    path.write_text(path.read_text() + "team: {lead: ada}\n")
    with_plugin = fresh(goldfish_project).config
    assert with_plugin.section("team").lead == "ada"
    assert fresh(goldfish_project).config.from_cache
    goldfish_project.plugins.unregister("team")
    with pytest.raises(ProblemsError) as info:
        _ = fresh(goldfish_project).config  # the section's plugin is gone: unknown key again
    assert "unknown key 'team'" in str(info.value)


def test_a_corrupt_record_is_ignored_and_replaced(goldfish_project: Project) -> None:
    _ = fresh(goldfish_project).config
    for garbage in (b"\x00\xff not json", b'{"key": 1}', b"[]", b""):
        record(goldfish_project).write_bytes(garbage)
        config = fresh(goldfish_project).config
        assert not config.from_cache and config.project == "test-project"
        assert json.loads(record(goldfish_project).read_text())["data"]["project"] == \
            "test-project"


def test_no_cache_bypasses_the_record(goldfish_project: Project,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _ = fresh(goldfish_project).config
    tamper(goldfish_project, goal="served from the record")
    monkeypatch.setenv("GOLDFISH_NO_CACHE", "1")
    config = fresh(goldfish_project).config
    assert not config.from_cache and config.goal != "served from the record"


def test_config_check_always_validates_for_real(goldfish_project: Project,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root, path = goldfish_project.root, goldfish_project.config_path
    path.write_text(path.read_text().replace("slots: 3", "slots: many"))
    # the worst case of a wrong record: this broken file recorded as valid
    key = configcache.cache_key(path.read_bytes(), goldfish_project.plugins)
    record(goldfish_project).write_text(json.dumps({"key": key, "data": {"project": "forged"},
                                                    "lines": []}))
    assert main(["--project", str(root), "status", "--peek"]) == 0  # the CLI sees the record
    capsys.readouterr()
    assert main(["--project", str(root), "config", "check"]) == 2
    line = path.read_text().splitlines().index("slots: many") + 1
    assert f"{path}:{line}: slots: expected an integer" in capsys.readouterr().err


def test_a_cached_process_imports_no_pydantic(goldfish_project: Project) -> None:
    """The point of the record: a command that reads plain keys builds no models."""
    root = goldfish_project.root
    code = ("import sys\nfrom goldfish.plugins import build\nfrom goldfish.project import "
            "Project\np = Project(sys.argv[1], plugins=build(load_entry_points=False))\n"
            "c = p.config\nprint(c.from_cache, c.project, c.get('limits.max_file_mb'), "
            "sorted(m for m in ('pydantic', 'yaml', 'goldfish.config') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    first = subprocess.run([sys.executable, "-c", code, str(root)], env=env, cwd=root,
                           capture_output=True, text=True, check=True).stdout.split()
    (root / "notes.txt").write_text("the project root changes (its mtime is on sys.path as '')")
    second = subprocess.run([sys.executable, "-c", code, str(root)], env=env, cwd=root,
                            capture_output=True, text=True, check=True).stdout.split()
    assert first[0] == "False" and "'pydantic'," in " ".join(first)
    assert second == ["True", "test-project", "50.0", "[]"]


def test_another_goldfish_version_revalidates(goldfish_project: Project,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from goldfish import envcache

    _ = fresh(goldfish_project).config
    tamper(goldfish_project, goal="recorded by another version")
    assert fresh(goldfish_project).config.goal == "recorded by another version"
    monkeypatch.setattr(envcache, "__version__", "99.0")
    config = fresh(goldfish_project).config
    assert not config.from_cache and config.goal != "recorded by another version"


RICH_PROFILE = {"backend": "local", "cpus": 2, "memory_gb": 1.5, "gpu": "all", "spot": True,
                "timeout_minutes": 3, "env": {"MODE": "fast"}, "kill_grace_seconds": 4}


def test_a_recorded_profile_reads_like_the_validated_one(goldfish_project: Project) -> None:
    """The view `goldfish run` gets from the record has the model's attributes and values."""
    import yaml

    path = goldfish_project.config_path
    data = yaml.safe_load(path.read_text())
    data["profiles"] = {"rich": RICH_PROFILE}
    path.write_text(yaml.safe_dump(data))
    validated = fresh(goldfish_project).config
    assert not validated.from_cache
    model = validated.profile("rich")
    cached = fresh(goldfish_project).config
    view = cached.profile("rich")
    assert cached.from_cache and isinstance(view, configcache.ProfileView)
    for attr in ("backend", "image", "cpus", "memory_gb", "spot", "timeout_minutes", "env",
                 "backend_config"):
        assert getattr(view, attr) == getattr(model, attr), attr
    assert view.gpu is not None and model.gpu is not None
    assert (view.gpu.type, view.gpu.count) == (model.gpu.type, model.gpu.count) == (None, "all")
    assert view.resources() == model.resources()
    assert view.to_dict() == model.to_dict()
    assert view.backend_config["kill_grace_seconds"] == 4
    assert cached.from_cache  # nothing above validated the file


def test_the_common_profile_keys_are_the_models_fields() -> None:
    from goldfish.config import COMMON_PROFILE_KEYS

    assert configcache.COMMON_PROFILE_KEYS == COMMON_PROFILE_KEYS


def test_sections_and_storage_settings_read_from_the_record(goldfish_project: Project) -> None:
    validated = fresh(goldfish_project).config
    settings, limits = validated.storage_settings, validated.get("limits")
    cached = fresh(goldfish_project).config
    assert cached.from_cache
    assert cached.storage_settings == settings
    view = cached.section_view("limits")
    assert (view.max_file_mb, view.max_metric_names) == (limits["max_file_mb"],
                                                         limits["max_metric_names"])
    with pytest.raises(AttributeError):
        view.max_file_mb = 1
    assert cached.section_view("no-such-section") is None
    assert cached.from_cache
    assert cached.section("limits").max_file_mb == limits["max_file_mb"]  # a model: validates
    assert not cached.from_cache
