"""The profiles tool says where each profile comes from: goldfish.yaml, built-in, or the plugin
that offers it (issue 13: ready profiles from plugins)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from goldfish import hookimpl
from goldfish.init import init_project
from goldfish.plugins import Plugins
from mcp_support import call_tools, data, text, tool_annotations


class Offers:
    @hookimpl
    def register_profiles(self, register: Callable[..., None]) -> None:
        register("roomy", {"backend": "local", "cpus": 16})


def test_profiles_tool_shows_each_profiles_source(
        tmp_path: Path, goldfish_plugins: Plugins,
        register_goldfish_plugin: Callable[..., str]) -> None:
    register_goldfish_plugin(Offers(), name="offers")
    project = init_project(tmp_path / "p", name="p", plugins=goldfish_plugins)

    (result,) = call_tools(project, [("profiles", {})])
    body = data(result)
    assert body["profiles"]["roomy"]["cpus"] == 16
    assert body["sources"] == {"local": "goldfish.yaml", "roomy": "plugin offers"}
    assert "roomy: " in text(result) and "[plugin offers]" in text(result)


def test_profiles_tool_shows_the_warm_pool_and_pool_drain_is_destructive(
        tmp_path: Path, goldfish_plugins: Plugins) -> None:
    from goldfish.runs.workers import Pool

    project = init_project(tmp_path / "p", name="p", plugins=goldfish_plugins)
    pool = Pool(project.db, "gce")
    pool.join("gf-warm", job_id="r.train", max_instances=2, profile="h100-spot",
              zone="us-central1-a", idle_timeout=1800, hourly_usd=3.3)
    pool.idle("gf-warm", job_id="r.train")

    assert tool_annotations(project)["pool_drain"].destructive_hint is True
    profiles, drained = call_tools(project, [("profiles", {}), ("pool_drain", {})])
    [worker] = data(profiles)["pool"]
    assert (worker["name"], worker["state"], worker["profile"], worker["zone"],
            worker["hourly_usd"]) == ("gf-warm", "idle", "h100-spot", "us-central1-a", 3.3)
    assert worker["idle_since"] is not None and worker["expires_at"] is not None
    assert "pool: gf-warm idle (gce, profile h100-spot, us-central1-a, idle 0 min)  $3.30/h" \
        in text(profiles)
    # no installed backend keeps this worker (no gce profile here): nothing to delete
    assert data(drained) == {"drained": []}
