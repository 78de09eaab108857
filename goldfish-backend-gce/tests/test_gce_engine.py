"""The real engine runs a pipeline on a GCE profile against the fake, storage on the emulator."""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path
from typing import Any

import goldfish_gce.plugin as gce_plugin
import pytest
import yaml
from goldfish.findings import Finding
from goldfish.hookspecs import hookimpl
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.testing.projects import (
    CHAIN,
    make_project,
    resumable,
    stage_rows,
    update_config,
)
from goldfish_gce.fake import FakeCompute
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator


@pytest.fixture
def plugins(goldfish_plugins: Any, register_goldfish_plugin: Any) -> Any:
    register_goldfish_plugin(gce_plugin, name="gce")
    return goldfish_plugins


def gce_project(tmp_path: Path, plugins: Any, fake: FakeCompute,
                files: dict[str, str] = CHAIN, **profile: Any) -> Project:
    project = make_project(tmp_path, files, plugins=plugins)
    store = f"gs://goldfish-test/e2e-{uuid.uuid4().hex[:8]}"
    keys = {"backend": "gce", "preset": "cpu-small", "project_id": "test-project",
            "api_endpoint": fake.endpoint, "zones": ["us-central1-a", "us-central1-b"],
            "sync_seconds": 0.3, **profile}
    update_config(project, storage=store, default_profile="cloud", profiles={"cloud": keys})
    return project


def test_pipeline_runs_on_gce_and_a_second_run_reuses_every_stage(
        tmp_path: Path, plugins: Any, fake_gce: FakeCompute, gcs_emulator: GcsEmulator) -> None:
    project = gce_project(tmp_path, plugins, fake_gce)
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, timeout=180) == "done", {
        k: (v["state"], v["error"]) for k, v in stage_rows(project, run_id).items()}
    rows = stage_rows(project, run_id)
    assert all(json.loads(r["handle"])["backend"] == "gce" for r in rows.values())
    # outputs live in gs:// and hold what the stage saved
    storage = GcsStorage(project.root, {})
    out = project.db.one("SELECT * FROM outputs WHERE run_id = ? AND stage = 'evaluate'",
                         (run_id,))
    assert out is not None and out["uri"].startswith(f"{project.config.storage}/objects/")
    assert json.loads(storage.open(out["uri"]).read()) == {"accuracy": 0.1}
    # metrics logged on the VM reached the host
    loss = project.db.one("SELECT * FROM metric_summaries WHERE run_id = ? AND stage = 'train' "
                          "AND name = 'loss'", (run_id,))
    assert loss is not None and loss["count"] == 3 and loss["last_step"] == 2
    assert "prepared 5" in (project.runs_dir / run_id / "prepare" / "log.txt").read_text()
    inserts = len(fake_gce.inserts)
    second = engine.run("w1")
    assert engine.wait(second, timeout=60) == "done"
    assert len(fake_gce.inserts) == inserts  # every stage reused: no VM created


class NanStopper:
    """A metric check like goldfish-svs's: a NaN loss is blocking."""

    @hookimpl
    def check_metrics(self, context: Any) -> list[Finding]:
        return [Finding("test", "nan", "blocking", "loss is NaN", stage=context.stage,
                        signal="loss", data={"grace_seconds": 5})
                for p in context.new if p.name == "loss" and math.isnan(p.value)]


NAN_STAGE = {
    "pipeline.yaml": """
        name: nan
        stages:
          - name: train
            outputs: {model: {type: json}}
    """,
    "modules/train.py": """
        import time
        from goldfish import io
        for step in range(600):
            io.log_metric("loss", float("nan") if step >= 3 else 1.0, step=step)
            if io.should_stop():
                print("stopping at step", step, flush=True)
                break
            time.sleep(0.1)
        io.save_output("model", {"steps": step})
    """,
}


def test_nan_loss_on_the_vm_stops_the_stage_within_seconds(
        tmp_path: Path, plugins: Any, register_goldfish_plugin: Any, fake_gce: FakeCompute,
        gcs_emulator: GcsEmulator) -> None:
    register_goldfish_plugin(NanStopper(), name="nan-stopper")
    project = gce_project(tmp_path, plugins, fake_gce, files=NAN_STAGE)
    engine = Engine(project)
    run_id = engine.run("w1")
    assert engine.wait(run_id, timeout=120) == "failed"
    row = stage_rows(project, run_id)["train"]
    assert "loss is NaN" in (row["error"] or "")
    log = (project.runs_dir / run_id / "train" / "log.txt").read_text()
    step = int(log.split("stopping at step", 1)[1].split()[0])
    assert step < 300  # stopped by the host's request, long before the loop's end


RESUMABLE = resumable(step_seconds=0.02, pause_at=45)


def _metric_steps(path: Path) -> list[int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line)["s"] for line in lines if line.strip()]


def test_preempted_stage_resumes_from_its_last_checkpoint(
        tmp_path: Path, plugins: Any, fake_gce: FakeCompute, gcs_emulator: GcsEmulator) -> None:
    project = gce_project(tmp_path, plugins, fake_gce, files=RESUMABLE, preset="h100-spot")
    engine = Engine(project)
    run_id = engine.run("w1")
    metrics = project.runs_dir / run_id / "train" / "metrics.jsonl"
    log = project.runs_dir / run_id / "train" / "log.txt"
    deadline = time.monotonic() + 90
    while "waiting at step 45" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the stage never reached step 45"
        engine.advance(run_id)
        time.sleep(0.1)
    assert max(_metric_steps(metrics)) >= 45  # metrics reached the host while it ran
    first = stage_rows(project, run_id)["train"]
    fake_gce.preempt(json.loads(first["handle"])["data"]["name"], notice_seconds=0)
    assert engine.wait(run_id, timeout=180) == "done", stage_rows(project, run_id)["train"]["error"]
    row = stage_rows(project, run_id)["train"]
    assert row["job_id"].endswith(".train.attempt2")
    zones = (json.loads(first["handle"])["data"]["zone"], json.loads(row["handle"])["data"]["zone"])
    assert zones == ("us-central1-a", "us-central1-b")  # relaunched away from the preempting zone
    reasons = [r["reason"] for r in project.db.query(
        "SELECT reason FROM transitions WHERE run_id = ? AND stage = 'train'", (run_id,))]
    assert "relaunched after preemption (attempt 2 of 4)" in reasons
    assert "resumed from step 40" in (project.runs_dir / run_id / "train" / "log.txt").read_text()
    assert _metric_steps(metrics) == list(range(100))  # continuous across the preemption
    loss = project.db.one("SELECT * FROM metric_summaries WHERE run_id = ? AND stage = 'train' "
                          "AND name = 'loss'", (run_id,))
    assert loss["count"] == 100 and loss["last_step"] == 99


def test_reconciler_reaps_labelled_vms_no_live_job_owns(
        tmp_path: Path, plugins: Any, fake_gce: FakeCompute, gcs_emulator: GcsEmulator) -> None:
    from goldfish.artifacts import ArtifactStore
    from goldfish.runs import backends
    from goldfish.runs.staging import stage_job
    from goldfish.testing.contracts import SLEEPER, write_job_dir

    project = gce_project(tmp_path, plugins, fake_gce, files=RESUMABLE)
    engine = Engine(project)
    run_id = engine.run("w1")
    log = project.runs_dir / run_id / "train" / "log.txt"
    deadline = time.monotonic() + 90
    while "waiting at step 45" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline
        engine.advance(run_id)
        time.sleep(0.1)
    live = json.loads(stage_rows(project, run_id)["train"]["handle"])["data"]["name"]
    # a VM of this project that the database does not know (a crashed launcher's, say)
    backend = engine.backend_for("cloud")
    store = ArtifactStore(GcsStorage(project.root, {}), project.config.storage)
    orphan_job, _ = stage_job(store, write_job_dir(tmp_path / "orphan", SLEEPER),
                              tmp_path / "cache")
    orphan = backend.launch(orphan_job).data["name"]
    assert fake_gce.vm(orphan) is not None
    assert backends.reap_orphans(project) == [orphan]
    assert fake_gce.vm(orphan) is None and fake_gce.vm(live) is not None
    assert engine.cancel(run_id)
    assert engine.wait(run_id, timeout=90) == "cancelled"


def test_profiles_show_running_vms_with_price_and_doctor_checks_the_cloud(
        tmp_path: Path, plugins: Any, fake_gce: FakeCompute, gcs_emulator: GcsEmulator) -> None:
    from goldfish.runs import backends
    from goldfish.runs.staging import stage_job
    from goldfish.testing.contracts import SLEEPER, write_job_dir

    project = gce_project(tmp_path, plugins, fake_gce, files=RESUMABLE, preset="h100-spot")
    checks = {subject: (status, detail) for status, subject, detail in backends.diagnose(project)}
    assert checks["gce api (cloud)"][0] == "ok"
    assert checks["gce storage (cloud)"] == ("ok", f"{project.config.storage} is readable")
    backend = Engine(project).backend_for("cloud")
    from goldfish.artifacts import ArtifactStore

    store = ArtifactStore(GcsStorage(project.root, {}), project.config.storage)
    job, _ = stage_job(store, write_job_dir(tmp_path / "j", SLEEPER), tmp_path / "cache")
    handle = backend.launch(job)
    try:
        [vm] = backends.running(project)
        assert vm["name"] == handle.data["name"] and vm["profile"] == "cloud"
        assert vm["machine_type"] == "a3-highgpu-1g" and vm["spot"] is True
        assert vm["hourly_usd"] == 3.3
    finally:
        backend.release(handle)

    # a missing bucket and a missing project are failures that name the fix
    config = yaml.safe_load(project.config_path.read_text())
    config["storage"] = "gs://no-such-bucket/x"
    config["profiles"]["cloud"].pop("project_id")
    project.config_path.write_text(yaml.safe_dump(config))
    project.reload_config()
    checks = {subject: (status, detail) for status, subject, detail in backends.diagnose(project)}
    assert checks["gce project (cloud)"] == (
        "fail", "no project: set gce.project_id in goldfish.yaml")
    config["gce"] = {"project_id": "test-project"}
    project.config_path.write_text(yaml.safe_dump(config))
    project.reload_config()
    found = backends.diagnose(project)
    status, detail = dict((s, (st, d)) for st, s, d in found).get(
        "gce storage (cloud)", (found, ""))
    assert status == "fail" and "gcloud storage buckets create gs://no-such-bucket" in detail
