"""One test per hook spec (``test_hook_<name>``), each through the typed facade ``Plugins`` with
small real plugins. ``test_governance.py`` fails when a hook has no test here."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from goldfish import hookimpl
from goldfish.config import Section, load_config
from goldfish.errors import GoldfishError, ProblemsError
from goldfish.events import Event, Hit
from goldfish.findings import Finding, MetricContext, MetricPoint, Review
from goldfish.plugins import Plugins
from goldfish.project import Project
from pydantic import Field

Register = Callable[..., str]


# --- registries -------------------------------------------------------------------------------


class EchoBackend:
    """A working in-process backend: 'runs' by returning the job id in the handle."""

    name = "echo"

    def __init__(self, project_root: Path, config: dict[str, Any]) -> None:
        self.config = config


class Backends:
    @hookimpl
    def register_compute_backends(self, register: Callable[..., None]) -> None:
        register("echo", EchoBackend)
        register("lazy", "goldfish_example.backend:ExampleBackend")


class Duplicate:
    @hookimpl
    def register_compute_backends(self, register: Callable[..., None]) -> None:
        register("echo", EchoBackend)


def test_hook_register_compute_backends(goldfish_plugins: Plugins, register: Register) -> None:
    register(Backends(), name="backends")
    spec = goldfish_plugins.compute_backend("echo")
    assert spec.load() is EchoBackend and spec.plugin == "backends"
    lazy = goldfish_plugins.compute_backend("lazy")
    assert lazy.factory == "goldfish_example.backend:ExampleBackend"  # not imported yet
    assert lazy.load().__name__ == "ExampleBackend"
    assert "local" in goldfish_plugins.registries.compute  # the built-in is still there
    with pytest.raises(GoldfishError) as info:
        goldfish_plugins.compute_backend("ecoh")
    assert info.value.hint == "did you mean 'echo'?"
    register(Duplicate(), name="duplicate")
    errors = goldfish_plugins.registries.errors
    assert [e.name for e in errors] == ["duplicate"]
    assert "already registered by backends" in errors[0].error


class MemoryStorage:
    """A real in-memory storage backend (bytes by URI)."""

    scheme = "mem"

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, uri: str, src: Path | bytes) -> None:
        self.blobs[uri] = src if isinstance(src, bytes) else Path(src).read_bytes()

    def open(self, uri: str) -> BinaryIO:
        return io.BytesIO(self.blobs[uri])

    def exists(self, uri: str) -> bool:
        return uri in self.blobs


class Storages:
    @hookimpl
    def register_storage_backends(self, register: Callable[..., None]) -> None:
        register("mem", MemoryStorage)


def test_hook_register_storage_backends(tmp_path: Path, goldfish_plugins: Plugins,
                                        register: Register) -> None:
    register(Storages(), name="storages")
    store = goldfish_plugins.storage_backend("mem").load()(tmp_path, {})
    store.put("mem://a/b", b"bytes")
    assert store.open("mem://a/b").read() == b"bytes" and store.exists("mem://a/b")
    assert goldfish_plugins.storage_backend("file").plugin == "file_storage"
    with pytest.raises(GoldfishError, match="no storage backend for s3://"):
        goldfish_plugins.storage_backend("s3")
    (tmp_path / "goldfish.yaml").write_text("project: p\nstorage: mem://bucket\n")
    assert load_config(tmp_path / "goldfish.yaml", goldfish_plugins).storage == "mem://bucket"


class ToySettings(Section):
    level: int = Field(1, ge=0)


class Sections:
    @hookimpl
    def register_config_sections(self, register: Callable[..., None]) -> None:
        register("toy", ToySettings)
        register("lazy_toy", "test_hooks:ToySettings")


def test_hook_register_config_sections(tmp_path: Path, goldfish_plugins: Plugins,
                                       register: Register) -> None:
    register(Sections(), name="sections")
    sections = goldfish_plugins.config_sections()
    assert sections["toy"] is ToySettings and sections["lazy_toy"] is ToySettings
    assert "project" in sections  # the core's own sections come through the same hook
    path = tmp_path / "goldfish.yaml"
    path.write_text("project: p\ntoy: {level: 4}\n")
    config = load_config(path, goldfish_plugins)
    assert config.section("toy").level == 4 and config.section("lazy_toy").level == 1


class ReadyProfiles:
    @hookimpl
    def register_profiles(self, register: Callable[..., None]) -> None:
        register("big", {"backend": "local", "cpus": 8, "env": {"SIZE": "big"}})
        register("mine", {"backend": "local", "cpus": 1})
        register("local", {"backend": "local", "cpus": 99})


class BrokenProfiles:
    @hookimpl
    def register_profiles(self, register: Callable[..., None]) -> None:
        register("warp", {"backend": "local", "cpus": -1})
        register("paint", {"backend": "local", "colour": "red"})


def test_hook_register_profiles(tmp_path: Path, goldfish_plugins: Plugins,
                                register: Register) -> None:
    from goldfish.config import DEFAULT_PROFILES
    from goldfish.configcache import BUILTIN_PROFILES
    from goldfish.configcache import load as load_cached

    register(ReadyProfiles(), name="ready")
    path = tmp_path / "goldfish.yaml"
    path.write_text("project: p\nprofiles:\n  mine: {backend: local, cpus: 4}\n")
    cache = tmp_path / "cache"
    for attempt in ("validated", "from the cache record"):
        config = load_cached(path, goldfish_plugins, cache)
        assert config.profile("big").cpus == 8, attempt  # offered, nothing written
        assert config.profile("big").env == {"SIZE": "big"}, attempt
        assert config.profile("mine").cpus == 4, attempt  # goldfish.yaml wins
        assert config.profile("local").cpus is None, attempt  # the core's local wins
        assert {n: config.profile_source(n) for n in ("big", "mine", "local")} == {
            "big": "plugin ready", "mine": "goldfish.yaml", "local": "built-in"}, attempt
    assert (cache / "config.json").exists()
    assert tuple(DEFAULT_PROFILES) == BUILTIN_PROFILES
    assert goldfish_plugins.registrations()["ready"]["profiles"] == ["big", "mine", "local"]

    register(BrokenProfiles(), name="broken")  # validated like a written profile
    with pytest.raises(ProblemsError) as err:
        load_config(path, goldfish_plugins)
    text = str(err.value)
    assert "2 problems" in text and text.count("offered by plugin 'broken'") == 2
    assert "profiles.warp.cpus" in text and "unknown key 'colour'" in text
    assert "under `profiles:`" in text


class Commands:
    @hookimpl
    def register_commands(self, cli: argparse._SubParsersAction[Any]) -> None:
        parser = cli.add_parser("toy", help="a toy command")
        parser.add_argument("--times", type=int, default=1)
        parser.set_defaults(handler=lambda args: args.times * 2)


def test_hook_register_commands(goldfish_plugins: Plugins, register: Register) -> None:
    register(Commands(), name="commands-toy")
    parser = argparse.ArgumentParser(prog="goldfish")
    goldfish_plugins.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["toy", "--times", "3"])
    assert args.handler(args) == 6
    assert parser.parse_args(["init"]).command == "init"  # the core's commands are there too


# --- validators and reviewers -----------------------------------------------------------------


class PipelineCheck:
    def __init__(self, name: str, findings: list[Finding] | None) -> None:
        self.name, self.findings = name, findings
        self.seen: list[Any] = []

    @hookimpl
    def validate_pipeline(self, pipeline: Any, project: Project) -> list[Finding] | None:
        self.seen.append((pipeline, project))
        return self.findings


def finding(source: str, check: str, severity: str = "warning") -> Finding:
    return Finding(source=source, check=check, severity=severity,  # type: ignore[arg-type]
                   message=f"{check} from {source}")


def test_hook_validate_pipeline(goldfish_plugins: Plugins, register: Register,
                                goldfish_project: Project) -> None:
    a = PipelineCheck("a", [finding("a", "one"), finding("a", "two", "blocking")])
    b = PipelineCheck("b", [finding("b", "three")])
    silent = PipelineCheck("silent", None)
    for plugin in (a, b, silent):
        register(plugin, name=plugin.name)
    found = goldfish_plugins.validate_pipeline({"stages": []}, goldfish_project)
    assert sorted(f.check for f in found) == ["one", "three", "two"]  # concatenated
    assert silent.seen == [({"stages": []}, goldfish_project)]


class OutputCheck:
    def __init__(self, check: str) -> None:
        self.check = check

    @hookimpl
    def validate_outputs(self, context: Any) -> list[Finding]:
        return [finding(self.check, f"{self.check}:{name}") for name in context["outputs"]]


def test_hook_validate_outputs(goldfish_plugins: Plugins, register: Register) -> None:
    register(OutputCheck("shape"), name="shape")
    register(OutputCheck("nan"), name="nan")
    found = goldfish_plugins.validate_outputs({"outputs": ["train", "test"]})
    assert sorted(f.check for f in found) == ["nan:test", "nan:train", "shape:test",
                                              "shape:train"]


class Divergence:
    @hookimpl
    def check_metrics(self, context: MetricContext) -> list[Finding]:
        losses = [p.value for p in context.history.get("loss", [])]
        if losses and losses[-1] > 10 * min(losses):
            return [finding("health", "loss_divergence", "blocking")]
        return []


def test_hook_check_metrics(goldfish_plugins: Plugins, register: Register) -> None:
    register(Divergence(), name="divergence")
    points = [MetricPoint("loss", v, step=i) for i, v in enumerate([1.0, 0.5, 0.4])]
    calm = MetricContext(run_id="r1", stage="train", new=points[-1:], history={"loss": points})
    assert goldfish_plugins.check_metrics(calm) == []
    points.append(MetricPoint("loss", 9.0, step=3))
    wild = MetricContext(run_id="r1", stage="train", new=points[-1:], history={"loss": points})
    assert [f.check for f in goldfish_plugins.check_metrics(wild)] == ["loss_divergence"]


class Reviewer:
    def __init__(self, name: str, decision: str | None) -> None:
        self.name, self.decision = name, decision

    def _review(self) -> Review | None:
        if self.decision is None:
            return None
        return Review(reviewer=self.name, decision=self.decision)  # type: ignore[arg-type]

    @hookimpl
    def review_before_run(self, context: Any) -> Review | None:
        return self._review()

    @hookimpl
    def review_after_run(self, context: Any) -> Review | None:
        return self._review()


def test_hook_review_before_run(goldfish_plugins: Plugins, register: Register) -> None:
    register(Reviewer("strict", "block"), name="strict")
    register(Reviewer("lenient", "approve"), name="lenient")
    register(Reviewer("off", None), name="off")
    reviews = goldfish_plugins.review_before_run({"run_id": "r1"})
    assert sorted((r.reviewer, r.decision) for r in reviews) == [("lenient", "approve"),
                                                                 ("strict", "block")]


def test_hook_review_after_run(goldfish_plugins: Plugins, register: Register) -> None:
    assert goldfish_plugins.review_after_run({"run_id": "r1"}) == []
    register(Reviewer("after", "approve"), name="after")
    register(Reviewer("off", None), name="off")
    assert [r.reviewer for r in goldfish_plugins.review_after_run({"run_id": "r1"})] == ["after"]


# --- memory -----------------------------------------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def record_event(self, event: Event, project: Project) -> None:
        self.events.append(event)


class FailingStore:
    @hookimpl
    def record_event(self, event: Event) -> None:
        raise RuntimeError("disk full")


def test_hook_record_event(goldfish_plugins: Plugins, register: Register,
                           goldfish_project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    first, last = Store(), Store()
    register(first, name="first")
    register(FailingStore(), name="failing")
    register(last, name="last")
    event = goldfish_project.emit("note.added", subject="lab", summary="try a smaller lr")
    assert [e.kind for e in first.events] == ["note.added"] == [e.kind for e in last.events]
    assert first.events[0].id == event.id is not None
    assert "memory plugin failing failed: record_event: RuntimeError('disk full')" in capsys.readouterr().err
    row = goldfish_project.db.one("SELECT summary FROM events WHERE id = ?", (event.id,))
    assert row is not None and row["summary"] == "try a smaller lr"  # the failure did not undo the operation
    failures = goldfish_plugins.record_event(event, goldfish_project)
    assert [f.name for f in failures] == ["failing"]


class Searcher:
    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    @hookimpl
    def recall(self, query: str, kinds: list[str] | None, limit: int) -> list[Hit]:
        return [h for h in self.hits if query in h.text and (kinds is None or h.kind in kinds)]


def test_hook_recall(goldfish_plugins: Plugins, register: Register,
                     goldfish_project: Project) -> None:
    register(Searcher([Hit("run", "r1", "lr too high", 0.4), Hit("note", "n1", "lr note", 0.9)]),
             name="a")
    register(Searcher([Hit("run", "r2", "lr sweep", 0.7), Hit("run", "r3", "other", 1.0)]),
             name="b")
    hits = goldfish_plugins.recall("lr", goldfish_project)
    assert [h.id for h in hits] == ["n1", "r2", "r1"]  # merged across stores, best first
    assert [h.id for h in goldfish_plugins.recall("lr", goldfish_project, limit=1)] == ["n1"]
    assert [h.id for h in goldfish_plugins.recall("lr", goldfish_project, kinds=["run"])] == [
        "r2", "r1"]


class Orientation:
    def __init__(self, text: str | None) -> None:
        self.text = text
        self.calls = 0

    @hookimpl
    def render_orientation(self, project: Project) -> str | None:
        self.calls += 1
        return self.text


def test_hook_render_orientation(goldfish_plugins: Plugins, register: Register,
                                 goldfish_project: Project) -> None:
    fallback = Orientation("# fallback")
    register(fallback, name="fallback")
    assert goldfish_plugins.render_orientation(goldfish_project) == "# fallback"
    abstaining = Orientation(None)
    register(abstaining, name="abstaining")
    assert goldfish_plugins.render_orientation(goldfish_project) == "# fallback"
    winner = Orientation("# winner")
    register(winner, name="winner")  # registered last, so asked first
    calls_before = fallback.calls
    assert goldfish_plugins.render_orientation(goldfish_project) == "# winner"
    assert fallback.calls == calls_before  # first result wins: the rest are not asked


# --- lifecycle --------------------------------------------------------------------------------


class Lifecycle:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def on_version_saved(self, workspace: str, version: int, commit: str) -> None:
        self.calls.append(("saved", workspace, version, commit))

    @hookimpl
    def on_run_started(self, run: Any) -> None:
        self.calls.append(("started", run))

    @hookimpl
    def on_run_finished(self, project: Project, run: Any) -> None:
        self.calls.append(("finished", run, project.config.project))

    @hookimpl
    def on_stage_finished(self, run: Any, stage: str, state: str) -> None:
        self.calls.append(("stage", run, stage, state))


class Broken:
    @hookimpl
    def on_run_started(self, run: Any) -> None:
        raise ValueError("lifecycle hooks propagate errors to the caller")


def test_hook_on_version_saved(goldfish_plugins: Plugins, register: Register,
                               goldfish_project: Project) -> None:
    a, b = Lifecycle(), Lifecycle()
    register(a, name="a")
    register(b, name="b")
    goldfish_plugins.on_version_saved(goldfish_project, "baseline", 3, "abc123")
    assert a.calls == b.calls == [("saved", "baseline", 3, "abc123")]


def test_hook_on_run_started(goldfish_plugins: Plugins, register: Register,
                             goldfish_project: Project) -> None:
    watcher = Lifecycle()
    register(watcher, name="watcher")
    goldfish_plugins.on_run_started(goldfish_project, {"id": "r1"})
    assert watcher.calls == [("started", {"id": "r1"})]
    register(Broken(), name="broken")
    with pytest.raises(ValueError):
        goldfish_plugins.on_run_started(goldfish_project, {"id": "r2"})


def test_hook_on_run_finished(goldfish_plugins: Plugins, register: Register,
                              goldfish_project: Project) -> None:
    watcher = Lifecycle()
    register(watcher, name="watcher")
    goldfish_plugins.on_run_finished(goldfish_project, {"id": "r1", "state": "done"})
    assert watcher.calls == [("finished", {"id": "r1", "state": "done"}, "test-project")]


def test_hook_on_stage_finished(goldfish_plugins: Plugins, register: Register,
                                goldfish_project: Project) -> None:
    watcher = Lifecycle()
    register(watcher, name="watcher")
    goldfish_plugins.on_stage_finished(goldfish_project, {"id": "r1"}, "train", "reused")
    assert watcher.calls == [("stage", {"id": "r1"}, "train", "reused")]


@pytest.fixture
def register(register_goldfish_plugin: Register) -> Register:
    return register_goldfish_plugin
