"""The warm pool through the real engine and CLI: stages and runs reuse a warm VM, and
`goldfish profiles`, `goldfish status`, STATE.md and `goldfish pool drain` show and end it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from goldfish.cli import main
from goldfish.runs.engine import Engine
from goldfish.testing.projects import stage_rows, update_config
from goldfish_gce.fake import FakeCompute
from goldfish_gce.testing import GcsEmulator
from test_gce_engine import gce_project, plugins  # noqa: F401 (fixture)


def test_pooled_profile_runs_reuse_one_vm_and_the_pool_is_visible_and_drainable(
        tmp_path: Path, plugins: Any, fake_gce: FakeCompute,  # noqa: F811
        gcs_emulator: GcsEmulator, capsys: Any) -> None:
    project = gce_project(tmp_path, plugins, fake_gce)
    update_config(project, gce={"warm_pool": {"enabled": True, "max_instances": 1,
                                              "idle_timeout_minutes": 5, "profiles": ["cloud"]}})
    engine = Engine(project)
    inserts = len(fake_gce.inserts)
    first = engine.run("w1")
    assert engine.wait(first, timeout=180) == "done", {
        k: (v["state"], v["error"]) for k, v in stage_rows(project, first).items()}
    names = {json.loads(r["handle"])["data"]["name"] for r in stage_rows(project, first).values()
             if r["handle"]}
    assert len(names) == 1  # the later stages ran on the first stage's VM
    assert len(fake_gce.inserts) == inserts + 1
    second = engine.run("w1", force=True)
    assert engine.wait(second, timeout=120) == "done"
    assert len(fake_gce.inserts) == inserts + 1  # the second run created no instance

    [vm] = names
    assert main(["-P", str(project.root), "profiles", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    [worker] = listed["pool"]
    assert (worker["name"], worker["state"], worker["profile"]) == (vm, "idle", "cloud")
    assert worker["zone"] == "us-central1-a" and worker["hourly_usd"] == 0.194
    assert worker["idle_since"] is not None
    [running] = [r for r in listed["running"] if r.get("name") == vm]
    assert running["pool"]["state"] == "idle"
    assert main(["-P", str(project.root), "profiles"]) == 0
    text = capsys.readouterr().out
    assert f"pool: {vm} idle (gce, profile cloud, us-central1-a, idle 0 min)  $0.19/h" in text

    assert main(["-P", str(project.root), "status"]) == 0
    status = capsys.readouterr().out
    assert "idle warm-pool workers: 1 costing ~$0.19/h" in status
    assert "goldfish pool drain" in status
    assert "## Warm pool" in project.state_path.read_text(encoding="utf-8")

    assert main(["-P", str(project.root), "pool", "drain"]) == 0
    assert f"deleted {vm} (cloud, us-central1-a)  saves $0.19/h" in capsys.readouterr().out
    assert "## Warm pool" not in project.state_path.read_text(encoding="utf-8")
    assert main(["-P", str(project.root), "pool", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pool": []}
    assert main(["-P", str(project.root), "pool", "drain"]) == 0
    assert "no idle workers to drain" in capsys.readouterr().out


def test_warm_pool_settings_are_validated_with_the_key_named(
        tmp_path: Path, plugins: Any, fake_gce: FakeCompute,  # noqa: F811
        gcs_emulator: GcsEmulator) -> None:
    import pytest
    from goldfish.errors import GoldfishError

    project = gce_project(tmp_path, plugins, fake_gce)
    config = yaml.safe_load(project.config_path.read_text(encoding="utf-8"))
    for bad, key in (({"max_instances": 0}, "max_instances"),
                     ({"idle_timeout": 5}, "idle_timeout"),
                     ({"enabled": "sometimes"}, "enabled")):
        config["gce"] = {"warm_pool": bad}
        project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        with pytest.raises(GoldfishError) as excinfo:
            project.reload_config(cached=False)
        assert f"gce.warm_pool.{key}" in str(excinfo.value), str(excinfo.value)
        if key == "idle_timeout":  # a near miss names the key meant
            assert "idle_timeout_minutes" in str(excinfo.value)
    config["gce"] = {"warm_pool": {"enabled": True, "idle_timeout_minutes": 0.5}}
    project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert project.reload_config(cached=False) is not None

    # a pooled profile name that is no GCE profile would pool nothing: doctor says so
    from goldfish.runs import backends

    config["gce"] = {"warm_pool": {"enabled": True, "profiles": ["clod", "h100-spot"]}}
    project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    project.reload_config(cached=False)
    checks = {s: (st, d) for st, s, d in backends.diagnose(project)}
    assert checks["gce warm pool (cloud)"] == ("fail", (
        "gce.warm_pool.profiles names 'clod', which is not a GCE profile: did you mean "
        "'cloud'? (runs on it never reuse a warm VM)"))
    config["gce"]["warm_pool"]["profiles"] = ["cloud"]
    project.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    project.reload_config(cached=False)
    checks = {s: (st, d) for st, s, d in backends.diagnose(project)}
    assert checks["gce warm pool (cloud)"] == ("ok", "cloud; at most 2 VM(s), idle 30 min")
