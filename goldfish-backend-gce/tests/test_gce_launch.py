"""Launch, cost guards and failure statuses of the gce backend against the fake."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from goldfish.artifacts import ArtifactStore
from goldfish.compute import Job
from goldfish.runs.staging import stage_job
from goldfish.testing.contracts import SLEEPER, wait_final, wait_for_log, write_job_dir
from goldfish_gce.backend import CapacityError, GceBackend, vm_name
from goldfish_gce.fake import FakeCompute
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator
from test_gce_contract import gce_backend


@pytest.fixture
def make_job(tmp_path: Path, gcs_emulator: GcsEmulator):  # type: ignore[no-untyped-def]
    store = ArtifactStore(GcsStorage(tmp_path, {}),
                          f"gs://goldfish-test/launch-{uuid.uuid4().hex[:8]}")
    counter = iter(range(1000))

    def make(source: str, **kwargs: object) -> Job:
        job = write_job_dir(tmp_path / f"job{next(counter)}", source, **kwargs)  # type: ignore[arg-type]
        return stage_job(store, job, tmp_path / "cache")[0]

    return make


@pytest.fixture
def zones(fake_gce: FakeCompute):  # type: ignore[no-untyped-def]
    yield
    for zone in ("us-central1-a", "us-central1-b", "us-east4-c"):
        fake_gce.restore(zone)


def test_exhausted_zone_falls_through_to_the_next(fake_gce: FakeCompute, tmp_path: Path,
                                                  make_job, zones) -> None:  # type: ignore[no-untyped-def]
    fake_gce.exhaust("us-central1-a")
    backend = gce_backend(tmp_path, fake_gce)
    handle = backend.launch(make_job("print('landed')"))
    assert handle.data["zone"] == "us-central1-b"
    assert handle.data["zones_tried"] == [
        "us-central1-a (on-demand): ZONE_RESOURCE_POOL_EXHAUSTED (The zone 'projects/test-project/zones/"
        "us-central1-a' does not have enough resources available to fulfill the request.)"]
    assert wait_final(backend, handle, 60).exit_code == 0


def test_all_zones_refusing_is_a_clear_error_within_the_budget(
        fake_gce: FakeCompute, tmp_path: Path, make_job, zones) -> None:  # type: ignore[no-untyped-def]
    fake_gce.exhaust("us-central1-a")
    fake_gce.exceed_quota("us-east4-c")
    fake_gce.exhaust("us-central1-b")
    backend = gce_backend(tmp_path, fake_gce, launch_budget_seconds=3,
                          zones=["us-central1-a", "us-central1-b", "us-east4-c"])
    slept: list[float] = []
    backend.sleep = slept.append  # the backoff schedule, without waiting for it
    job = make_job("print('never')")
    with pytest.raises(CapacityError) as excinfo:
        backend.launch(job)
    message = excinfo.value.message
    assert "us-central1-a (on-demand): ZONE_RESOURCE_POOL_EXHAUSTED" in message
    assert "us-central1-b (on-demand): ZONE_RESOURCE_POOL_EXHAUSTED" in message
    assert "us-east4-c (on-demand): QUOTA_EXCEEDED" in message
    assert "compute.googleapis.com/nvidia_h100_gpus" in message  # the quota metric is named
    assert excinfo.value.hint and "zones" in excinfo.value.hint
    # the core's typed capacity error (the engine's and the local simulate's), every refusal
    from goldfish import errors

    assert isinstance(excinfo.value, errors.CapacityError)
    assert excinfo.value.zones_tried and all(t.split(" ")[0] in message
                                             for t in excinfo.value.zones_tried)
    assert sum(slept) <= 3 and slept  # backed off, within the budget
    # the quota-blocked region was asked once; exhausted zones once per round
    asked = [zone for zone, name in fake_gce.inserts if name == vm_name(job.job_id)]
    assert asked.count("us-east4-c") == 1
    assert asked.count("us-central1-a") == len(slept) + 1
    assert fake_gce.vm(vm_name(job.job_id)) is None


def test_vm_is_labelled_and_guarded(fake_gce: FakeCompute, tmp_path: Path, make_job) -> None:  # type: ignore[no-untyped-def]
    backend = gce_backend(tmp_path, fake_gce, max_run_hours=2)
    job = make_job(SLEEPER)
    handle = backend.launch(job)
    vm = fake_gce.vm(handle.data["name"])
    assert vm is not None
    assert vm.labels["goldfish-job"] == job.job_id.lower()
    assert vm.labels["goldfish-stage"] == job.stage
    assert {"goldfish-project", "goldfish-run"} <= set(vm.labels)
    scheduling = vm.body["scheduling"]
    assert scheduling["instanceTerminationAction"] == "DELETE"
    assert scheduling["terminationTime"].endswith("Z")
    assert backend.launch(job).to_json() == handle.to_json()  # a repeated launch finds it
    backend.cancel(handle, grace_seconds=0.5)
    assert wait_final(backend, handle, 60).cause == "cancelled"
    deadline = time.monotonic() + 15
    while fake_gce.vm(handle.data["name"]) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert handle.data["name"] in fake_gce.deleted  # cancel deleted the VM


def test_vm_whose_worker_dies_is_lost_and_deleted(fake_gce: FakeCompute, tmp_path: Path,
                                                  make_job) -> None:  # type: ignore[no-untyped-def]
    backend = gce_backend(tmp_path, fake_gce, heartbeat_stale_seconds=3, lost_grace_seconds=5)
    handle = backend.launch(make_job(SLEEPER))
    wait_for_log(backend, handle, "sleeping now", 60)
    fake_gce.kill_worker(handle.data["name"])
    status = wait_final(backend, handle, 60)
    assert status.state == "lost" and status.cause == "lost"
    assert "went silent" in (status.message or "")
    assert fake_gce.vm(handle.data["name"]) is None


def test_terminated_vm_without_exit_record_is_lost_not_failed(
        fake_gce: FakeCompute, tmp_path: Path, make_job) -> None:  # type: ignore[no-untyped-def]
    backend = gce_backend(tmp_path, fake_gce)
    handle = backend.launch(make_job(SLEEPER))
    wait_for_log(backend, handle, "sleeping now", 60)
    fake_gce._remove(fake_gce.vm(handle.data["name"]))  # type: ignore[arg-type]
    status = wait_final(backend, handle, 30)
    assert status.state == "lost" and status.exit_code is None
    assert "no exit record" in (status.message or "")


def test_reconciler_deletes_orphaned_labelled_vms(fake_gce: FakeCompute, tmp_path: Path,
                                                   make_job) -> None:  # type: ignore[no-untyped-def]
    backend = gce_backend(tmp_path, fake_gce)
    kept = backend.launch(make_job(SLEEPER))
    orphan = backend.launch(make_job(SLEEPER))
    deleted = backend.reap_orphans({kept.job_id})
    assert deleted == [orphan.data["name"]]
    assert fake_gce.vm(orphan.data["name"]) is None
    assert fake_gce.vm(kept.data["name"]) is not None
    backend.release(kept)
    assert fake_gce.vm(kept.data["name"]) is None


def test_spot_preemption_is_reported_from_the_api(fake_gce: FakeCompute, tmp_path: Path,
                                                  make_job) -> None:  # type: ignore[no-untyped-def]
    backend = gce_backend(tmp_path, fake_gce, preset="h100-spot")
    handle = backend.launch(make_job(SLEEPER))
    vm = fake_gce.vm(handle.data["name"])
    assert vm is not None and vm.body["scheduling"]["provisioningModel"] == "SPOT"
    assert vm.body["guestAccelerators"][0]["acceleratorCount"] == 1
    wait_for_log(backend, handle, "sleeping now", 60)
    fake_gce.preempt(handle.data["name"])
    status = wait_final(backend, handle, 60)
    assert status.state == "exited" and status.cause == "preempted", status
    # within the notice the worker saw the shutdown and reported the preemption itself
    deadline = time.monotonic() + 10
    while (record := backend._json(f"{handle.data['output_uri']}/exit.json")) is None:
        assert time.monotonic() < deadline, "the worker never wrote its exit record"
        time.sleep(0.1)
    assert record["cause"] == "preempted"


def test_a_backend_built_for_gce_refuses_an_unstaged_job(tmp_path: Path,
                                                          fake_gce: FakeCompute) -> None:
    job = write_job_dir(tmp_path / "j", "print(1)")
    with pytest.raises(Exception, match="gs://bucket/prefix"):
        gce_backend(tmp_path, fake_gce).launch(job)


def test_backend_is_typed_and_named(tmp_path: Path, fake_gce: FakeCompute) -> None:
    backend = gce_backend(tmp_path, fake_gce)
    assert isinstance(backend, GceBackend) and not backend.capabilities.shares_filesystem


def test_a_boot_that_breaks_is_uploaded_as_a_log_the_user_can_read(
        fake_gce: FakeCompute, tmp_path: Path, gcs_emulator: GcsEmulator) -> None:
    storage = GcsStorage(tmp_path, {})
    store = ArtifactStore(storage, f"gs://goldfish-test/boot-{uuid.uuid4().hex[:8]}")
    job, _ = stage_job(store, write_job_dir(tmp_path / "j", "print('never')"), tmp_path / "c")
    spec = json.loads(storage.open(f"{job.output_uri}/spec.json").read())
    storage.delete(spec["files"]["code/modules/probe.py"])  # the stage's code is gone
    backend = gce_backend(tmp_path, fake_gce)
    handle = backend.launch(job)
    status = wait_final(backend, handle, 60)
    assert status.state == "lost"
    assert "its boot failed: RuntimeError: staged file code/modules/probe.py is missing" in (
        status.message or "")
    assert "boot.log" in (status.message or "")
    assert fake_gce.vm(handle.data["name"]) is None  # the VM deleted itself anyway


def test_spot_falls_back_to_on_demand_by_preference(fake_gce: FakeCompute, tmp_path: Path,
                                                    make_job, zones) -> None:  # type: ignore[no-untyped-def]
    fake_gce.exhaust("us-central1-a", spot_only=True)
    fake_gce.exhaust("us-central1-b", spot_only=True)
    strict = gce_backend(tmp_path, fake_gce, preset="a100-spot", launch_budget_seconds=1)
    strict.sleep = lambda seconds: None
    with pytest.raises(CapacityError, match="on_demand_fallback"):
        strict.launch(make_job("print('spot only')"))
    backend = gce_backend(tmp_path, fake_gce, preset="a100-spot", on_demand_fallback=True)
    handle = backend.launch(make_job("print('on demand')"))
    assert handle.data["spot"] is False and handle.data["zone"] == "us-central1-a"
    assert [t.split(":")[0] for t in handle.data["zones_tried"]] == [
        "us-central1-a (spot)", "us-central1-b (spot)"]
    vm = fake_gce.vm(handle.data["name"])
    assert vm is not None and vm.body["scheduling"]["provisioningModel"] == "STANDARD"
    assert wait_final(backend, handle, 60).exit_code == 0



def test_the_hard_lifetime_is_enforced_by_gce_even_if_the_worker_hangs(
        fake_gce: FakeCompute, tmp_path: Path, make_job) -> None:  # type: ignore[no-untyped-def]
    backend = gce_backend(tmp_path, fake_gce, max_run_hours=3 / 3600)  # three seconds
    handle = backend.launch(make_job(SLEEPER))
    vm = fake_gce.vm(handle.data["name"])
    assert vm is not None and vm.body["scheduling"]["instanceTerminationAction"] == "DELETE"
    status = wait_final(backend, handle, 60)
    assert status.state == "lost" and "no exit record" in (status.message or "")
    assert handle.data["name"] in fake_gce.deleted


def test_a_worker_finishing_between_polls_two_reads_is_an_exit_not_lost(
        fake_gce: FakeCompute, tmp_path: Path, make_job) -> None:  # type: ignore[no-untyped-def]
    """The worker writes its exit record, then deletes its VM. Poll reads the VM first, so a
    worker that does both while poll runs is seen exited (the other order saw no record, then
    no VM: lost)."""
    backend = gce_backend(tmp_path, fake_gce)
    handle = backend.launch(make_job(SLEEPER))
    wait_for_log(backend, handle, "sleeping now", 60)
    name, prefix = handle.data["name"], handle.data["output_uri"]
    look_up = backend._instance

    def worker_finishes_first(*args: object, **kwargs: object) -> object:
        backend.storage.put(f"{prefix}/exit.json", json.dumps(
            {"exit_code": 0, "results": "complete", "finished_at": time.time()}).encode())
        vm = fake_gce.vm(name)
        assert vm is not None
        fake_gce._remove(vm)
        backend._instance = look_up  # type: ignore[method-assign]
        return look_up(*args, **kwargs)  # type: ignore[arg-type]

    backend._instance = worker_finishes_first  # type: ignore[method-assign]
    status = backend.poll(handle)
    assert (status.state, status.exit_code, status.cause) == ("exited", 0, None), status
    assert fake_gce.vm(name) is None
    backend.release(handle)
