"""The warm pool against the fake Compute API, the GCS emulator and real workers.

Every VM here really boots (after the fake's boot delay) and runs :mod:`goldfish_gce.worker`
as a local process; claims go through the real project database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from goldfish.artifacts import ArtifactStore
from goldfish.compute import Handle, Job
from goldfish.runs.staging import stage_job
from goldfish.testing.contracts import SLEEPER, wait_final, wait_for_log, write_job_dir
from goldfish_gce.backend import GceBackend
from goldfish_gce.fake import FakeCompute
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator
from test_gce_contract import gce_config

BOOT_DELAY = 0.5  # short, so CI stays fast; the benchmark uses a realistic one


def write_settings(root: Path, store: str, **pool: Any) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "goldfish.yaml").write_text(yaml.safe_dump({
        "project": "pool-test", "storage": store,
        "gce": {"warm_pool": {"enabled": True, "max_instances": 2,
                              "idle_timeout_minutes": 2, **pool}}}), encoding="utf-8")


class Pooled:
    """A project root with a warm pool, a backend on the fake and a way to stage jobs."""

    def __init__(self, root: Path, fake: FakeCompute, **pool: Any) -> None:
        self.root = root
        self.fake = fake
        self.store_uri = f"gs://goldfish-test/pool-{uuid.uuid4().hex[:8]}"
        write_settings(root, self.store_uri, **pool)
        self.store = ArtifactStore(GcsStorage(root, {}), self.store_uri)
        self.backend = self.new_backend()
        self.counter = 0

    def new_backend(self) -> GceBackend:
        return GceBackend(self.root, gce_config(self.fake))

    def job(self, source: str, **kwargs: Any) -> Job:
        self.counter += 1
        raw = write_job_dir(self.root / "jobs" / f"j{self.counter}", source, **kwargs)
        return stage_job(self.store, raw, self.root / "cache")[0]

    def run(self, source: str, timeout: float = 60) -> Handle:
        handle = self.backend.launch(self.job(source))
        status = wait_final(self.backend, handle, timeout)
        assert status.state == "exited" and status.exit_code == 0, (
            status, self.backend.logs(handle).text)
        self.backend.release(handle)
        return handle

    def sleeping(self) -> Handle:
        """A SLEEPER job launched and seen sleeping."""
        handle = self.backend.launch(self.job(SLEEPER))
        wait_for_log(self.backend, handle, "sleeping now", 60)
        return handle

    def rows(self) -> dict[str, Any]:
        return {w.name: w for w in self.backend.pool_manager.pool.all()}

    def state(self, name: str) -> dict[str, Any]:
        return self.backend._json(f"{self.store_uri}/pool/{name}/state.json") or {}

    def wait(self, what: Callable[[], Any], timeout: float = 30, message: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while not (value := what()):
            assert time.monotonic() < deadline, message or f"timed out waiting for {what}"
            time.sleep(0.1)
        return value

    def cleanup(self) -> None:
        self.backend.drain_pool()
        for name, worker in self.rows().items():
            if worker.zone:
                self.backend.delete_vm(worker.zone, name)
            self.backend.pool_manager.pool.remove(name)


@pytest.fixture
def slow_boot(fake_gce: FakeCompute) -> Iterator[FakeCompute]:
    fake_gce.boot_delay = BOOT_DELAY
    yield fake_gce
    fake_gce.boot_delay = 0.0


@pytest.fixture
def pooled(tmp_path: Path, slow_boot: FakeCompute,
           gcs_emulator: GcsEmulator) -> Iterator[Callable[..., Pooled]]:
    made: list[Pooled] = []

    def make(**pool: Any) -> Pooled:
        made.append(Pooled(tmp_path / f"p{len(made)}", slow_boot, **pool))
        return made[-1]

    yield make
    for p in made:
        p.cleanup()


FIRST = """
    import os, pathlib
    pathlib.Path("../outputs/.hidden").write_text("job A's secret")
    pathlib.Path(".scratch").write_text("left in code/")
    home = pathlib.Path(os.environ["HOME"]); (home / ".cache").mkdir(exist_ok=True)
    (home / ".cache" / "a").write_text("cached")
    pathlib.Path(os.environ["TMPDIR"], ".tmpfile").write_text("tmp")
    print("JOB-A command ran", flush=True)
"""

SECOND = """
    import os, pathlib
    roots = [pathlib.Path(".."), pathlib.Path(os.environ["HOME"]),
             pathlib.Path(os.environ["TMPDIR"])]
    leaked = sorted(str(p) for r in roots for p in r.rglob("*")
                    if p.name in (".hidden", ".scratch", ".cache", ".tmpfile"))
    print("JOB-B command ran; leaked:", leaked, flush=True)
"""


def test_a_second_job_reuses_the_warm_worker_cleanly_and_runs_only_its_own_command(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    inserts = len(p.fake.inserts)
    first = p.run(FIRST)
    name = first.data["name"]
    assert len(p.fake.inserts) == inserts + 1
    assert p.rows()[name].state == "idle"
    p.wait(lambda: p.state(name).get("state") == "idle", message="the worker never went idle")
    second_job = p.job(SECOND)
    second = p.backend.launch(second_job)
    assert second.data["name"] == name and second.data["reused"] is True
    assert len(p.fake.inserts) == inserts + 1  # no instance created for the second job
    assert wait_final(p.backend, second, 60).exit_code == 0
    log = p.backend.logs(second).text
    assert "JOB-B command ran; leaked: []" in log  # hidden files of job A are gone
    assert "JOB-A" not in log  # never the previous job's command
    p.backend.release(second)
    assert p.rows()[name].state == "idle"
    p.wait(lambda: p.state(name).get("job_id") == second.job_id)

    # a repeated signal for a finished job runs nothing: not the last job, not an older one
    first_exit = p.backend._json(f"{first.data['output_uri']}/exit.json")
    manager = p.backend.pool_manager
    machine = p.backend.settings.machine(False)
    manager.signal(first.data["zone"], name, p.job(FIRST, job_id=first.job_id), machine)
    p.wait(lambda: p.state(name).get("refused") == first.job_id,
           message="the worker did not refuse a job id it already ran")
    manager.signal(second.data["zone"], name, second_job, machine)
    time.sleep(1.5)
    assert p.backend._json(f"{first.data['output_uri']}/exit.json") == first_exit
    assert p.backend.logs(second).text == log
    assert p.state(name)["state"] == "idle"


def test_two_concurrent_launches_with_one_idle_worker_one_reuses_one_launches(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    worker = p.run("print('warm up')").data["name"]
    inserts = len(p.fake.inserts)
    jobs = [p.job("print('concurrent', flush=True)") for _ in range(2)]
    handles: list[Handle] = []
    barrier = threading.Barrier(2)

    def launch(job: Job) -> None:
        backend = p.new_backend()  # its own clients and database connection
        barrier.wait()
        handles.append(backend.launch(job))

    threads = [threading.Thread(target=launch, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(bool(h.data.get("reused")) for h in handles) == [False, True]
    assert [h.data["name"] for h in handles if h.data.get("reused")] == [worker]
    assert len(p.fake.inserts) == inserts + 1
    for handle in handles:
        assert wait_final(p.backend, handle, 60).exit_code == 0
        assert "concurrent" in p.backend.logs(handle).text
        p.backend.release(handle)
    assert {n: w.state for n, w in p.rows().items()} == {
        h.data["name"]: "idle" for h in handles}


def test_max_instances_is_never_exceeded(pooled: Callable[..., Pooled]) -> None:
    p = pooled(max_instances=1)
    handles = [p.backend.launch(p.job("print('full?')")) for _ in range(3)]
    assert len({h.data["name"] for h in handles}) == 3
    assert [bool(h.data.get("pool")) for h in handles] == [True, False, False]
    for handle in handles:
        assert wait_final(p.backend, handle, 60).exit_code == 0
        p.backend.release(handle)
    assert list(p.rows()) == [handles[0].data["name"]]
    p.wait(lambda: {vm.name for vm in p.fake.live()} == {handles[0].data["name"]},
           message="a VM beyond max_instances kept running")


def test_a_cancelled_jobs_worker_is_deleted_not_recycled(pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    handle = p.sleeping()
    p.backend.cancel(handle, grace_seconds=0.5)
    assert wait_final(p.backend, handle, 60).cause == "cancelled"
    p.backend.release(handle)
    name = handle.data["name"]
    assert name not in p.rows()
    p.wait(lambda: p.fake.vm(name) is None, message="the cancelled job's VM was kept")
    assert name in p.fake.deleted


def test_an_idle_worker_deletes_itself_after_its_timeout(pooled: Callable[..., Pooled]) -> None:
    p = pooled(idle_timeout_minutes=0.05)  # three seconds
    name = p.run("print('short-lived')").data["name"]
    p.wait(lambda: p.state(name).get("state") == "idle")
    p.wait(lambda: p.fake.vm(name) is None, timeout=30, message="idle VM outlived its timeout")
    assert p.state(name)["state"] == "deleting"
    assert ("VM gone; dropped from the pool" in dict(p.backend.reconcile_pool(set()))[name])
    assert p.rows() == {}


def test_reconciler_settles_the_pool(pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    # a job that ended while nobody watched: its worker goes back to idle
    handle = p.backend.launch(p.job("print('unwatched')"))
    name = handle.data["name"]
    p.wait(lambda: p.state(name).get("state") == "idle" and p.state(name).get("job_id")
           == handle.job_id, timeout=60)
    assert p.rows()[name].state == "busy"
    assert p.backend.reconcile_pool({handle.job_id}) == []  # still live: left alone
    assert dict(p.backend.reconcile_pool(set()))[name].endswith("idle again")
    assert p.rows()[name].state == "idle"

    # GCE cannot be asked: nothing is deleted on a failed check
    p.fake.fail_api(name, times=1000)
    try:
        assert "kept" in dict(p.backend.reconcile_pool(set()))[name]
        assert p.rows()[name].errors == 1
    finally:
        p.fake.failing.clear()
    assert p.fake.vm(name) is not None and name in p.rows()
    assert p.backend.reconcile_pool(set()) == [] and p.rows()[name].errors == 0

    # idle past its timeout (by the record): the reconciler deletes it
    p.backend.pool_manager.pool.settle(name, expect_state="idle", idle_since=time.time() - 3600)
    assert dict(p.backend.reconcile_pool(set()))[name] == "idle past its timeout; deleted"
    assert p.fake.vm(name) is None and p.rows() == {}


def test_an_orphaned_worker_is_reaped_and_pool_members_are_spared(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    name = p.run("print('idle member')").data["name"]
    assert p.backend.reap_orphans(set()) == []  # its job is long over, but it is a member
    p.backend.pool_manager.pool.remove(name)  # its row is lost (a restored database, say)
    assert p.backend.reap_orphans(set()) == [name]
    p.wait(lambda: p.fake.vm(name) is None)


def test_a_preempted_idle_worker_leaves_the_pool_cleanly(pooled: Callable[..., Pooled]) -> None:
    p = pooled(profiles=[], idle_timeout_minutes=5)
    p.backend = GceBackend(p.root, gce_config(p.fake, preset="h100-spot"))
    name = p.run("print('spot job')").data["name"]
    p.wait(lambda: p.state(name).get("state") == "idle")
    p.fake.preempt(name, notice_seconds=1.0)
    p.wait(lambda: p.fake.vm(name) is None)
    assert p.state(name)["state"] == "preempted"
    assert dict(p.backend.reconcile_pool(set()))[name] == "VM gone; dropped from the pool"
    inserts = len(p.fake.inserts)
    fresh = p.run("print('after preemption')")
    assert fresh.data["name"] != name and len(p.fake.inserts) == inserts + 1


def waits(p: Pooled, name: str) -> list[Any]:
    """The hanging requests VM ``name``'s worker made (answered or held now)."""
    return [r for r in p.fake.metadata_requests(name) if r.query.get("wait_for_change")]


def test_an_idle_worker_waits_on_the_metadata_server_instead_of_polling_it(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    name = p.run("print('warm')").data["name"]
    p.wait(lambda: p.state(name).get("state") == "idle", message="the worker never went idle")
    quiet = time.time()
    time.sleep(3)
    # polling every 0.2-0.5 s made 12-30 requests here; the one hanging request, none
    idle = p.fake.metadata_requests(name, quiet)
    assert len(idle) <= 2, [(r.path, r.query) for r in idle]

    # the next job: the request the worker holds is answered by the setMetadata itself (once
    # one is held: on a busy machine the watch may be between two requests)
    p.wait(lambda: any(r.at is None for r in waits(p, name)),
           message="the idle worker holds no request on its metadata server")
    handle = p.backend.launch(p.job("print('picked up', flush=True)"))
    assert handle.data["name"] == name and handle.data["reused"] is True
    assert wait_final(p.backend, handle, 60).exit_code == 0
    assert "picked up" in p.backend.logs(handle).text
    # looked at once the job ran: the fake answers a held request from its own thread, which a
    # busy machine may not have run yet when launch returns
    [signal] = [r for r in p.fake.requests
                if r.path.endswith(f"/instances/{name}/setMetadata") and r.started >= quiet]
    woken = [r for r in waits(p, name)
             if r.started < signal.started and r.at is not None and r.at >= signal.started
             and r.at < r.started + float(r.query["timeout_sec"])]  # by the change, not timeout
    assert woken, "no request held over the setMetadata: the assignment was polled for"
    p.backend.release(handle)


def test_a_busy_worker_watches_for_preemption_without_asking_every_sync(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    handle = p.backend.launch(p.job("""
        import time
        print("sleeping now", flush=True)
        time.sleep(3)
        print("slept", flush=True)
    """))
    name = handle.data["name"]
    wait_for_log(p.backend, handle, "sleeping now", 60)
    busy = time.time()
    assert wait_final(p.backend, handle, 60).exit_code == 0
    # sync_seconds 0.3: asking instance/preempted at each sync made about ten requests
    during = [r for r in p.fake.metadata_requests(name, busy) if r.started < busy + 2.5]
    assert len(during) <= 2, [(r.path, r.query) for r in during]
    assert waits(p, name), "the worker never waited on the metadata server"
    p.backend.release(handle)


def test_a_failing_metadata_server_is_retried_with_growing_pauses_not_in_a_loop(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    name = p.run("print('warm')").data["name"]
    p.wait(lambda: p.state(name).get("state") == "idle")
    outage = time.time()
    p.fake.fail_metadata(name, times=1_000_000)
    try:
        time.sleep(4)
        failed = p.fake.metadata_requests(name, outage)
    finally:
        p.fake.metadata_failing.clear()
    # 0.5 s, 1 s, 2 s... between attempts: a handful in 4 s, not one every few milliseconds
    assert 1 <= len(failed) <= 6, len(failed)
    assert all(r.code == 503 for r in failed)
    assert p.fake.vm(name) is not None and p.state(name)["state"] == "idle"
    # and it recovers: the next job is picked up
    handle = p.backend.launch(p.job("print('after the outage', flush=True)"))
    assert handle.data["name"] == name
    assert wait_final(p.backend, handle, 60).exit_code == 0
    p.backend.release(handle)


CRASHER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from goldfish.compute import Job
    from goldfish_gce.backend import GceBackend
    root, config, job = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    job["job_dir"] = Path(job["job_dir"])
    GceBackend(root, config).launch(Job(**job))
    print("launch returned")
""")


def crash_launch(p: Pooled, job: Job, step: str) -> None:
    """Launch ``job`` in a separate Goldfish process that dies (SIGKILL) at ``step``."""
    raw = {"job_id": job.job_id, "run_id": job.run_id, "stage": job.stage,
           "job_dir": str(job.job_dir), "command": job.command, "output_uri": job.output_uri,
           "profile": job.profile}
    done = subprocess.run([sys.executable, "-c", CRASHER, str(p.root),
                           json.dumps(gce_config(p.fake)), json.dumps(raw)],
                          env={**os.environ, "GOLDFISH_CRASH_AT": step},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr  # died at the step, as kill -9 would


@pytest.mark.parametrize("step", ["claimed", "handle", "signalled"])
def test_kill_9_at_every_step_of_a_claim_leaves_no_worker_leased_forever(
        pooled: Callable[..., Pooled], step: str, tmp_path: Path) -> None:
    p = pooled()
    name = p.run("print('warm')").data["name"]
    job = p.job("print('claimed job ran', flush=True)")
    crash_launch(p, job, step)
    assert p.rows()[name].state == "claimed"
    actions = dict(p.backend.reconcile_pool({job.job_id}))
    prefix = job.output_uri
    if step == "signalled":  # the signal landed: the worker runs the job, then idles
        assert "busy with" in actions[name]
        p.wait(lambda: p.state(name).get("state") == "idle"
               and p.state(name).get("job_id") == job.job_id, timeout=60)
        assert "claimed job ran" in (p.backend.storage.read(f"{prefix}/log.txt") or b"").decode()
        assert dict(p.backend.reconcile_pool(set()))[name].endswith("idle again")
    else:  # the signal never left: the worker is idle again and the stale handle is gone
        assert actions[name].endswith("idle again")
        assert p.backend.storage.read(f"{prefix}/handle.json") is None
    assert p.rows()[name].state == "idle"
    # and it is claimable: the next job reuses it
    again = p.backend.launch(p.job("print('after the crash', flush=True)"))
    assert again.data["name"] == name
    assert wait_final(p.backend, again, 60).exit_code == 0
    p.backend.release(again)


def test_a_repeated_launch_after_a_crash_finishes_the_dispatch(
        pooled: Callable[..., Pooled]) -> None:
    """The launcher died after writing handle.json; the engine launches the job again."""
    p = pooled()
    name = p.run("print('warm')").data["name"]
    job = p.job("print('redelivered', flush=True)")
    crash_launch(p, job, "handle")
    inserts = len(p.fake.inserts)
    handle = p.backend.launch(job)
    assert handle.data["name"] == name and len(p.fake.inserts) == inserts
    assert wait_final(p.backend, handle, 60).exit_code == 0
    assert "redelivered" in p.backend.logs(handle).text
    p.backend.release(handle)
    assert p.rows()[name].state == "idle"


def test_drain_deletes_idle_workers_and_reports_them(pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    name = p.run("print('to drain')").data["name"]
    [drained] = p.backend.drain_pool()
    assert drained["name"] == name and drained["hourly_usd"] == 0.194
    assert p.rows() == {}
    p.wait(lambda: p.fake.vm(name) is None)


def test_kill_9_after_joining_the_pool_before_the_vm_exists_leaves_no_member_forever(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    job = p.job("print('never launched')")
    crash_launch(p, job, "joined")
    [(name, member)] = p.rows().items()
    assert member.state == "busy" and member.zone == "" and p.fake.vm(name) is None
    assert p.backend.reconcile_pool(set()) == []  # its launch may still be under way
    # once a launch could no longer be under way (launch budget + a minute), it is dropped
    p.backend.pool_manager.pool.settle(name, expect_state="busy", created_at=time.time() - 3600)
    assert dict(p.backend.reconcile_pool(set()))[name] == "VM gone; dropped from the pool"
    assert p.rows() == {}


def test_a_worker_rebooted_mid_job_does_not_run_that_job_again(
        pooled: Callable[..., Pooled]) -> None:
    """The job had no exit record yet, so only the VM's own ledger stops a second run."""
    p = pooled()
    handle = p.sleeping()
    name = handle.data["name"]
    p.fake.reboot(name)  # the assignment still names the job
    p.wait(lambda: p.state(name).get("state") == "idle", timeout=30,
           message="the rebooted worker never came back idle")
    assert p.state(name)["job_id"] == handle.job_id
    time.sleep(1.0)  # a re-run would have printed again by now
    assert p.backend.logs(handle).text.count("sleeping now") == 1
    assert p.backend._json(f"{handle.data['output_uri']}/exit.json") is None
    status = wait_final(p.backend, handle, 60)  # its worker beat stopped: lost, VM deleted
    assert status.state == "lost"
    p.backend.release(handle)
    assert name not in p.rows()
    p.wait(lambda: p.fake.vm(name) is None)


def test_a_worker_confirmed_gone_or_unreachable_at_claim_means_a_fresh_launch(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    name = p.run("print('first')").data["name"]
    # GCE cannot say whether the worker is there: nothing was sent, so it stays idle and the
    # job gets a fresh VM
    p.fake.fail_api(name, times=1000)
    try:
        handle = p.backend.launch(p.job("print('while the API fails')"))
    finally:
        p.fake.failing.clear()
    assert handle.data["name"] != name and not handle.data.get("reused")
    assert p.rows()[name].state == "idle"
    assert wait_final(p.backend, handle, 60).exit_code == 0
    p.backend.release(handle)
    # the idle workers vanished without anyone noticing (confirmed gone): dropped, fresh launch
    for vm in [p.fake.vm(n) for n in list(p.rows())]:
        p.fake._remove(vm)  # type: ignore[arg-type]
    inserts = len(p.fake.inserts)
    fresh = p.run("print('after they vanished')")
    assert len(p.fake.inserts) == inserts + 1 and not fresh.data.get("reused")
    assert list(p.rows()) == [fresh.data["name"]]


def test_reconciler_deletes_the_worker_of_a_job_cancelled_while_nobody_watched(
        pooled: Callable[..., Pooled]) -> None:
    p = pooled()
    handle = p.sleeping()
    name = handle.data["name"]
    # a cancel recorded (the stop object) by a process that then died; the stage is still in
    # its grace period and its run is no longer active
    p.backend.cancel(handle, grace_seconds=600)
    assert dict(p.backend.reconcile_pool(set()))[name] == (
        f"job {handle.job_id} was cancelled; VM deleted, not recycled")
    assert name not in p.rows()
    p.wait(lambda: p.fake.vm(name) is None)
