"""goldfish.yaml: models, defaults, plugin sections and located problems (in-process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from goldfish import hookimpl
from goldfish.config import ProjectConfig, Section, load_config, parse_yaml
from goldfish.errors import NotFoundError, ProblemsError
from goldfish.plugins import Plugins
from pydantic import Field


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "goldfish.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, plugins: Plugins) -> ProblemsError:
    with pytest.raises(ProblemsError) as info:
        load_config(path, plugins)
    return info.value


class GceProfile(Section):
    machine_type: str = "n2-standard-4"
    zones: list[str] = Field(default_factory=list)


class WarmPool(Section):
    enabled: bool = False
    max_instances: int = Field(2, ge=0)


class GceSettings(Section):
    project_id: str
    warm_pool: WarmPool = Field(default_factory=lambda: WarmPool.model_validate({}))


class ReviewSettings(Section):
    enabled: bool = True
    model: str = "some/model"


class FakeCloud:
    """A plugin that contributes a backend with its own profile keys and two config sections."""

    @hookimpl
    def register_compute_backends(self, register: Callable[..., None]) -> None:
        register("gce", "goldfish_example.backend:ExampleBackend", GceProfile)

    @hookimpl
    def register_config_sections(self, register: Callable[..., None]) -> None:
        register("gce", GceSettings)
        register("review", ReviewSettings)


def test_minimal_config_fills_every_default(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    config = load_config(write(tmp_path, "project: lab\n"), goldfish_plugins)
    assert config.project == "lab"
    assert config.slots == 3
    assert config.goal == ""
    assert config.invariants == []
    assert config.storage == "file://.goldfish/store"
    assert config.default_profile == "local"
    assert config.limits.max_file_mb == 50
    assert list(config.profiles) == ["local"]
    assert config.profile().backend == "local"


def test_design_example_loads_with_its_plugins(tmp_path: Path, goldfish_plugins: Plugins,
                                               register_goldfish_plugin: Callable[..., str]
                                               ) -> None:
    register_goldfish_plugin(FakeCloud(), name="fake-cloud")
    path = write(tmp_path, """\
project: digits-lab
slots: 3
invariants: ["evaluate only on the frozen test split"]
profiles:
  local:     {backend: local}
  h100-spot: {backend: gce, machine_type: a3-highgpu-1g, gpu: {type: nvidia-h100-80gb, count: 1}, spot: true}
default_profile: local
storage: file://.goldfish/store
gce: {project_id: my-proj, warm_pool: {enabled: true, max_instances: 2}}
review: {enabled: true, model: anthropic/claude-sonnet-4-5}
""")
    config = load_config(path, goldfish_plugins)
    spot = config.profile("h100-spot")
    assert spot.backend_config == {"machine_type": "a3-highgpu-1g", "zones": []}
    assert spot.resources().gpu_type == "nvidia-h100-80gb"
    assert spot.resources().spot is True
    assert config.section("gce").warm_pool.max_instances == 2
    assert config.section("review").model == "anthropic/claude-sonnet-4-5"
    assert config.invariants == ["evaluate only on the frozen test split"]


def test_absent_plugin_section_takes_its_defaults_or_none(
        tmp_path: Path, goldfish_plugins: Plugins,
        register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(FakeCloud(), name="fake-cloud")
    config = load_config(write(tmp_path, "project: lab\n"), goldfish_plugins)
    assert config.section("review") == ReviewSettings()
    assert config.section("gce") is None  # project_id is required, so no default instance


def test_a_redefined_local_profile_wins(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    path = write(tmp_path, "project: lab\nprofiles:\n  local: {backend: local, cpus: 2}\n")
    assert load_config(path, goldfish_plugins).profile("local").cpus == 2


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path,
                                                         goldfish_plugins: Plugins) -> None:
    path = write(tmp_path, """\
project: lab
slots: three
profils: {}
profiles:
  big: {backend: local, cpu: 4}
limits: {max_file_m: 3}
default_profile: bigg
""")
    err = problems_of(path, goldfish_plugins)
    rendered = [p.render() for p in err.problems]
    assert len(rendered) == 5, rendered
    assert f"{path}:2: slots: expected an integer, got 'three'" in rendered[0]
    assert "unknown key 'profils'" in rendered[1] and "did you mean 'profiles'?" in rendered[1]
    assert f"{path}:5: profiles.big.cpu: unknown key 'cpu'" in rendered[2]
    assert "did you mean 'cpus'?" in rendered[2]
    assert f"{path}:6: limits.max_file_m" in rendered[3]
    assert "did you mean 'max_file_mb'?" in rendered[3]
    assert f"{path}:7: default_profile: names profile 'bigg'" in rendered[4]
    assert "did you mean 'big'?" in rendered[4]
    assert str(err).startswith(f"{path} is not valid (5 problems):")


@pytest.mark.parametrize("text, expected", [
    ("project: lab\nslots: 0\n", ":2: slots: expected a value ≥ 1, got 0"),
    ("project: lab\nslots: 21\n", ":2: slots: expected a value ≤ 20, got 21"),
    ("project: lab\ninvariants: keep it\n", ":2: invariants: expected a list, got 'keep it'"),
    ("project: lab\nprofiles:\n  g: {backend: local, gpu: {type: t, count: many}}\n",
     ":3: profiles.g.gpu.count: expected an integer, got 'many'"),
    ("project: lab\nprofiles:\n  g: {cpus: 2}\n", ":3: profiles.g.backend: missing required key"),
    ("project: lab\nprofiles: [local]\n", ":2: profiles: expected a mapping of profile names"),
    ("slots: 2\n", ":1: missing required key 'project'"),
    ("project: lab\nproject: other\n", ":2: project: duplicate key 'project' (first on line 1)"),
    ("project: lab\nstorage: /data/store\n", ":2: storage: '/data/store' is not a storage URI"),
    ("project: lab\nstorage: ftp://host/x\n", ":2: storage: no storage backend for ftp://"),
])
def test_bad_values_are_located(tmp_path: Path, goldfish_plugins: Plugins, text: str,
                                expected: str) -> None:
    path = write(tmp_path, text)
    err = problems_of(path, goldfish_plugins)
    assert expected in err.problems[0].render(), err.problems[0].render()
    assert err.problems[0].file == str(path)


def test_unknown_backend_names_the_fix(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    path = write(tmp_path, "project: lab\nprofiles:\n  gpu: {backend: gce}\n"
                           "  near: {backend: locl}\n")
    first, second = problems_of(path, goldfish_plugins).problems
    assert first.line == 3 and first.key == "profiles.gpu.backend"
    assert "unknown compute backend 'gce'" in first.message
    assert "pip install goldfish-backend-gce" in (first.hint or "")
    assert second.hint == "did you mean 'local'?"


def test_backend_keys_are_checked_by_the_backend_model(
        tmp_path: Path, goldfish_plugins: Plugins,
        register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(FakeCloud(), name="fake-cloud")
    path = write(tmp_path, "project: lab\ngce: {project_id: p}\nprofiles:\n"
                           "  a: {backend: gce, machine_typ: x}\n"
                           "  b: {backend: gce, zones: us-central1-a}\n"
                           "  c: {backend: local, machine_type: x}\n")
    rendered = [p.render() for p in problems_of(path, goldfish_plugins).problems]
    assert "profiles.a.machine_typ: unknown key" in rendered[0]
    assert "did you mean 'machine_type'?" in rendered[0]
    assert ":5: profiles.b.zones: expected a list, got 'us-central1-a'" in rendered[1]
    assert ":6: profiles.c.machine_type: unknown key" in rendered[2]  # local has no such key


def test_a_plugin_section_is_validated_like_the_core(
        tmp_path: Path, goldfish_plugins: Plugins,
        register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(FakeCloud(), name="fake-cloud")
    path = write(tmp_path, "project: lab\ngce:\n  project_id: p\n  warm_pool: {enabeld: true}\n"
                           "review: {enabled: maybe}\n")
    rendered = [p.render() for p in problems_of(path, goldfish_plugins).problems]
    assert ":4: gce.warm_pool.enabeld: unknown key 'enabeld'" in rendered[0]
    assert "did you mean 'enabled'?" in rendered[0]
    assert ":5: review.enabled: expected true or false, got 'maybe'" in rendered[1]


def test_a_section_of_a_missing_plugin_says_what_to_install(tmp_path: Path,
                                                            goldfish_plugins: Plugins) -> None:
    err = problems_of(write(tmp_path, "project: lab\nsvs: {enforcement: blocking}\n"),
                      goldfish_plugins)
    assert err.problems[0].hint and "pip install goldfish-svs" in err.problems[0].hint


@pytest.mark.parametrize("content, expected", [
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("- project\n- slots\n", "must be a mapping of keys"),
    ("just words\n", "must be a mapping of keys"),
    ("project: [lab\nslots: 3\n", "YAML syntax error"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
    (b"project: lab\n\x00\x01\x02", "contains binary data"),
])
def test_corrupted_files_get_a_located_error(tmp_path: Path, goldfish_plugins: Plugins,
                                             content: str | bytes, expected: str) -> None:
    err = problems_of(write(tmp_path, content), goldfish_plugins)
    assert len(err.problems) == 1
    assert expected in err.problems[0].message
    assert err.problems[0].hint


def test_yaml_syntax_error_points_at_the_line(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    path = write(tmp_path, "project: lab\nprofiles:\n  local: {backend: local\nslots: 3\n")
    problem = problems_of(path, goldfish_plugins).problems[0]
    assert problem.line == 4
    assert problem.render().startswith(f"{path}:4: YAML syntax error")


def test_missing_file_is_not_found(tmp_path: Path, goldfish_plugins: Plugins) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_config(tmp_path / "goldfish.yaml", goldfish_plugins)


def test_profile_lookup_suggests_the_closest_name(tmp_path: Path,
                                                  goldfish_plugins: Plugins) -> None:
    config = load_config(write(tmp_path, "project: lab\nprofiles:\n  cpu-big: {backend: local}\n"),
                         goldfish_plugins)
    with pytest.raises(NotFoundError) as info:
        config.profile("cpu-bgi")
    assert info.value.hint == "did you mean 'cpu-big'?"


def test_to_dict_round_trips_through_yaml(tmp_path: Path, goldfish_plugins: Plugins,
                                          register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(FakeCloud(), name="fake-cloud")
    path = write(tmp_path, "project: lab\ngce: {project_id: p}\nprofiles:\n"
                           "  g: {backend: gce, zones: [a], env: {A: '1'}}\n")
    first = load_config(path, goldfish_plugins)
    again = write(tmp_path, yaml.safe_dump(first.to_dict()))
    assert load_config(again, goldfish_plugins).to_dict() == first.to_dict()
    assert first.to_dict()["profiles"]["g"] == {"backend": "gce", "spot": False,
                                                "env": {"A": "1"}, "machine_type":
                                                "n2-standard-4", "zones": ["a"]}


def test_parse_yaml_records_a_line_for_every_key() -> None:
    data, lines, problems = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - y: 2\n", "f.yaml")
    assert not problems
    assert data == {"a": {"b": 1, "c": ["x", {"y": 2}]}}
    assert lines[("a",)] == 1 and lines[("a", "b")] == 2 and lines[("a", "c", 1)] == 5
    assert lines[("a", "c", 1, "y")] == 5


def test_project_config_is_loaded_through_the_project(goldfish_project: object) -> None:
    from goldfish.project import Project

    assert isinstance(goldfish_project, Project)
    config = goldfish_project.config
    assert isinstance(config, ProjectConfig)
    assert config.project == "test-project"
