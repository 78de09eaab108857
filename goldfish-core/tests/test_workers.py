"""Leased workers (the warm pool's record): claims are compare-and-set on real SQLite."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

from goldfish.runs.workers import Pool, idle_cost, report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _pool(root: Path) -> Pool:
    return Pool.open(root, "gce")


def _idle(pool: Pool, name: str, fit: str = "n2", zone: str = "z-a",
          timeout: float = 600.0) -> None:
    assert pool.join(name, job_id=f"first-{name}", max_instances=1000, fit=fit, zone=zone,
                     idle_timeout=timeout, hourly_usd=1.5)
    assert pool.idle(name, job_id=f"first-{name}")


@settings(max_examples=50, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(idle=st.integers(0, 4), other_fit=st.integers(0, 2), claimers=st.integers(1, 8),
       wrong_zone=st.integers(0, 2))
def test_concurrent_claims_never_share_a_worker(tmp_path_factory, idle: int, other_fit: int,
                                                claimers: int, wrong_zone: int) -> None:
    """Threads (one SQLite connection each) claim at once: every worker goes to at most one
    job, every compatible idle worker is taken when there are enough claimers, and workers of
    another fit or outside the allowed zones are never taken."""
    root = tmp_path_factory.mktemp("pool")
    pool = _pool(root)
    for i in range(idle):
        _idle(pool, f"vm-{i}")
    for i in range(other_fit):
        _idle(pool, f"gpu-{i}", fit="a3")
    for i in range(wrong_zone):
        _idle(pool, f"far-{i}", zone="z-far")
    results: dict[str, str | None] = {}
    barrier = threading.Barrier(claimers)

    def claim(job: str) -> None:
        mine = Pool(type(pool.db)(pool.db.path), "gce")  # a connection of its own
        barrier.wait()
        worker = mine.claim(fit="n2", zones=["z-a", "z-b"], job_id=job)
        results[job] = worker.name if worker else None
        mine.db.close()

    threads = [threading.Thread(target=claim, args=(f"job-{j}",)) for j in range(claimers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [name for name in results.values() if name]
    assert len(taken) == len(set(taken))  # no double dispatch
    assert len(taken) == min(idle, claimers)
    assert all(name.startswith("vm-") for name in taken)
    rows = {w.name: w for w in pool.all()}
    for job, name in results.items():
        if name:
            assert rows[name].state == "claimed" and rows[name].job_id == job
    assert Counter(w.state for w in rows.values())["idle"] == (
        idle - len(taken) + other_fit + wrong_zone)


def test_join_never_exceeds_max_instances(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    joined = [pool.join(f"vm-{i}", job_id=f"j{i}", max_instances=2) for i in range(4)]
    assert joined == [True, True, False, False]
    assert pool.join("vm-0", job_id="j0", max_instances=2)  # idempotent per name
    assert len(pool.all()) == 2


def test_claim_is_compare_and_set_and_skips_workers_about_to_expire(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    _idle(pool, "old", timeout=600)
    pool.settle("old", expect_state="idle", idle_since=0.0)  # long past its timeout
    _idle(pool, "fresh")
    worker = pool.claim(fit="n2", zones=[], job_id="job-1", margin=30)
    assert worker is not None and worker.name == "fresh"
    assert pool.claim(fit="n2", zones=[], job_id="job-2", margin=30) is None
    # a dispatch only by the claim's holder, only for its job
    assert not pool.dispatched("fresh", job_id="job-1", holder="someone-else")
    assert pool.dispatched("fresh", job_id="job-1", holder=str(worker.holder))
    assert not pool.idle("fresh", job_id="job-0")  # not the job it runs
    assert pool.idle("fresh", job_id="job-1")
    assert pool.get("fresh").state == "idle"  # type: ignore[union-attr]


def test_unclaim_returns_the_worker_and_a_dead_holder_can_be_taken_over(tmp_path: Path) -> None:
    pool = _pool(tmp_path)
    _idle(pool, "vm")
    dead = f"{__import__('socket').gethostname()}:999999999:{uuid.uuid4().hex[:8]}"
    assert pool.claim(fit="n2", zones=[], job_id="job-1", holder=dead) is not None
    assert not pool.take_over("vm", job_id="job-2", holder="me:1:x")  # another job: no
    assert pool.take_over("vm", job_id="job-1", holder="me:1:x")
    assert pool.get("vm").holder == "me:1:x"  # type: ignore[union-attr]
    assert pool.unclaim("vm", job_id="job-1")
    assert pool.get("vm").state == "idle"  # type: ignore[union-attr]
    live = pool.claim(fit="n2", zones=[], job_id="job-3")  # held by this (live) process
    assert live is not None and not pool.take_over("vm", job_id="job-3", holder="me:1:x")
    assert pool.get("vm").holder == live.holder  # type: ignore[union-attr]


def test_report_and_idle_cost_read_the_database_alone(tmp_path: Path) -> None:
    from goldfish.testing.projects import CHAIN, make_project

    project = make_project(tmp_path, CHAIN)
    pool = Pool(project.db, "gce")
    _idle(pool, "vm-a")
    pool.join("vm-b", job_id="j", max_instances=9, hourly_usd=3.3)
    assert idle_cost(project) == (1, 1.5)
    assert {w["name"]: w["state"] for w in report(project)} == {"vm-a": "idle", "vm-b": "busy"}


def test_opening_the_pool_never_creates_an_empty_database_beside_saved_versions(
        tmp_path: Path) -> None:
    import pytest
    from goldfish.faults import FaultError

    (tmp_path / ".goldfish" / "versions.git").mkdir(parents=True)
    with pytest.raises(FaultError, match="missing"):
        Pool.open(tmp_path, "gce")
    assert not (tmp_path / ".goldfish" / "goldfish.db").exists()
