"""The GCE warm pool: VMs that wait between jobs, claimed with a compare-and-set in SQLite.

The record is goldfish-core's ``workers`` table (:mod:`goldfish.runs.workers`); the worker's
side is :class:`goldfish_gce.worker.PoolMember`. A claim, step by step, and what a crash at each
step (``kill -9`` of the Goldfish process) leaves behind:

1. ``claim``: CAS ``idle`` → ``claimed(job, holder)``. *Crash here*: the row is claimed by a dead
   holder; the reconciler finds no assignment for the job on the VM and returns it to ``idle``.
2. the VM is asked for (``instances.get``): gone → the row is dropped and the next idle worker
   tried (a fresh launch only when none is left: the worker is *confirmed* gone).
3. ``handle.json`` is written under the job's prefix (which VM runs it). *Crash here*: a repeated
   launch of the job finds it, takes the dead holder's claim over and signals; the reconciler,
   if it comes first, returns the worker to ``idle`` and deletes that ``handle.json`` (so a later
   launch claims afresh instead of trusting it).
4. the signal: ``setMetadata`` with ``goldfish-assignment`` (the job id and its spec URI).
   *Crash here*: the reconciler sees the assignment names the job and marks the worker ``busy``;
   a repeated launch finds the handle and the busy row and returns it.
5. CAS ``claimed`` → ``busy``. When the job ends, ``release`` returns the worker to ``idle``
   (the worker reports ``idle`` itself); a cancelled or lost job's VM is deleted instead.

Membership is decided at launch (``join``: a row only while the pool has fewer than
``max_instances`` members; the VM then gets ``goldfish-pool`` metadata and idles after its
job), so the pool never exceeds ``max_instances``. The reconciler (:meth:`WarmPoolManager.
reconcile`, run with the orphan sweep) deletes idle workers past their timeout, drops rows whose
VM is gone, returns a worker whose job ended unwatched to ``idle``, deletes a cancelled job's
worker, and leaves a worker alone when GCE could not be asked (one failed check deletes
nothing).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from goldfish.compute import Handle, Job
from goldfish.errors import GoldfishError
from goldfish.runs.lease import new_holder
from goldfish.runs.staging import job_prefix
from goldfish.runs.workers import Pool, Worker, crash_point

from goldfish_gce.settings import hourly_price

if TYPE_CHECKING:
    from goldfish_gce.backend import GceBackend

#: A claim older than this is settled by the reconciler even if its holder looks alive.
CLAIM_TTL = 300.0
ALIVE = ("PROVISIONING", "STAGING", "RUNNING")


class WarmPoolManager:
    def __init__(self, backend: GceBackend) -> None:
        self.backend = backend
        self._pool: Pool | None = None

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            self._pool = Pool.open(self.backend.project_root, "gce")
        return self._pool

    def has_records(self) -> bool:
        """Is there a database that may hold pool rows? (never creates one)"""
        return self._pool is not None or (
            self.backend.project_root / ".goldfish" / "goldfish.db").exists()

    @property
    def idle_timeout(self) -> float:
        return self.backend.warm_pool.idle_timeout_minutes * 60.0

    def margin(self, timeout: float) -> float:
        """Idle workers this close to their timeout are not claimed (they may be deleting)."""
        return min(30.0, timeout / 4)

    def fit(self, machine: dict[str, Any]) -> str:
        """What a worker must match to take a job: machine, accelerators, spot, boot image and
        disks, identity and network (the zone is matched apart, against the allowed ones)."""
        s = self.backend.settings
        return json.dumps({
            "machine_type": machine["machine_type"], "gpu_type": machine.get("gpu_type"),
            "gpu_count": int(machine.get("gpu_count") or 0) if machine.get("gpu_type") else 0,
            "spot": bool(machine["spot"]), "vm_image": s.vm_image,
            "boot_disk_gb": s.boot_disk_gb, "data_disk_gb": s.data_disk_gb,
            "service_account": s.service_account, "network": s.network,
            "project": self.backend.project}, sort_keys=True)

    def member_settings(self, name: str) -> str:
        return json.dumps({"uri": self.state_uri(name),
                           "idle_timeout_seconds": self.idle_timeout})

    def state_uri(self, name: str) -> str:
        base = (self.backend.storage_uri or "").rstrip("/")
        return f"{base}/pool/{name}"

    # --- membership at launch ---------------------------------------------------------------
    def join(self, name: str, job: Job) -> bool:
        if not (self.backend.storage_uri or "").startswith("gs://"):
            return False  # the worker reports through the project's gs:// storage
        machine = self.backend.settings.machine(job.resources.spot)
        return self.pool.join(name, job_id=job.job_id, profile=job.profile,
                              fit=self.fit(machine),
                              max_instances=self.backend.warm_pool.max_instances,
                              idle_timeout=self.idle_timeout,
                              hourly_usd=hourly_price(machine["machine_type"], machine["spot"]))

    def landed(self, name: str, job: Job, zone: str, machine: dict[str, Any]) -> None:
        self.pool.settle(name, expect_state="busy", expect_job=job.job_id, zone=zone,
                         fit=self.fit(machine),
                         hourly_usd=hourly_price(machine["machine_type"], machine["spot"]))

    # --- claiming ---------------------------------------------------------------------------
    def claim(self, job: Job, prefix: str) -> Handle | None:
        """Give ``job`` to an idle compatible worker; None when there is none (launch fresh)."""
        if not (self.backend.storage_uri or "").startswith("gs://"):
            return None
        machine = self.backend.settings.machine(job.resources.spot)
        fit = self.fit(machine)
        holder = new_holder()
        while True:
            worker = self.pool.claim(fit=fit, zones=self.backend.zones(), job_id=job.job_id,
                                     holder=holder, margin=self.margin(self.idle_timeout))
            if worker is None:
                return None
            crash_point("claimed")
            try:
                instance = self.backend._instance(worker.zone, worker.name, once=True)
            except Exception:  # nothing was dispatched: give it back and launch afresh
                self.pool.unclaim(worker.name, job_id=job.job_id)
                return None
            if instance is None or instance.status not in ALIVE:
                self.pool.remove(worker.name)  # confirmed gone: try the next one
                continue
            handle = Handle("gce", job.job_id, {
                "name": worker.name, "zone": worker.zone, "project": self.backend.project,
                "output_uri": prefix, "launched_at": time.time(),
                "machine_type": machine["machine_type"], "spot": bool(machine["spot"]),
                "zones_tried": [], "pool": True, "reused": True})
            self.backend.storage.put(f"{prefix}/handle.json",
                                     json.dumps(handle.to_json()).encode())
            crash_point("handle")
            if self._dispatch(worker, job, machine, holder):
                return handle
            self.backend.storage.delete(f"{prefix}/handle.json")  # gone: the next one

    def _dispatch(self, worker: Worker, job: Job, machine: dict[str, Any], holder: str) -> bool:
        """Signal the worker; False when it turned out to be gone (the caller may launch
        afresh). Raises when the signal failed and the VM is still there: it may have the job,
        so no other VM may start it."""
        try:
            self.signal(worker.zone, worker.name, job, machine)
        except Exception as exc:
            try:
                gone = self.backend._instance(worker.zone, worker.name, once=True) is None
            except Exception:
                gone = False
            if gone:
                self.pool.remove(worker.name)
                return False
            raise GoldfishError(
                f"could not give job {job.job_id} to warm VM {worker.name} in {worker.zone}: "
                f"{exc}", "run the stage again; the reconciler settles the VM (it is not "
                "relaunched elsewhere while it may have the job)") from exc
        crash_point("signalled")
        self.pool.dispatched(worker.name, job_id=job.job_id, holder=holder)
        return True

    def signal(self, zone: str, name: str, job: Job, machine: dict[str, Any]) -> None:
        """The one channel: ``setMetadata`` with the job's assignment (job id + spec URI)."""
        from google.cloud import compute_v1

        instances, _ = self.backend._clients
        instance = instances.get(project=self.backend.project, zone=zone, instance=name)
        items = {i.key: i.value for i in instance.metadata.items}
        items.update(self.backend.job_items(job, machine))
        metadata = compute_v1.Metadata(
            fingerprint=instance.metadata.fingerprint,
            items=[compute_v1.Items(key=k, value=v) for k, v in items.items()])
        instances.set_metadata_unary(project=self.backend.project, zone=zone, instance=name,
                                     metadata_resource=metadata)

    def assignment(self, zone: str, name: str) -> str | None:
        """The job id the VM was last told to run (raises when GCE cannot be asked)."""
        instance = self.backend._instance(zone, name, once=True)
        if instance is None:
            return None
        for item in instance.metadata.items:
            if item.key == "goldfish-assignment":
                try:
                    return str(json.loads(item.value).get("job_id"))
                except ValueError:
                    return None
        return None

    def redeliver(self, handle: Handle, job: Job) -> bool:
        """A repeated launch found a handle naming a warm worker: finish the dispatch if its
        launcher died before the signal; False when the claim was undone (launch afresh)."""
        name = str(handle.data.get("name"))
        prefix = str(handle.data.get("output_uri"))
        if self.backend._json(f"{prefix}/exit.json") is not None:
            return True
        worker = self.pool.get(name)
        if worker is not None and worker.job_id == job.job_id:
            if worker.state == "busy":
                return True
            holder = new_holder()
            if worker.state == "claimed":
                if not self.pool.take_over(name, job_id=job.job_id, holder=holder):
                    return True  # a live process is dispatching it
                if self._dispatch(worker, job,
                                  self.backend.settings.machine(job.resources.spot), holder):
                    return True
        self.backend.storage.delete(f"{prefix}/handle.json")
        return False

    # --- the end of a job -------------------------------------------------------------------
    def release(self, handle: Handle) -> bool:
        """Back to ``idle`` after a job that completed; True when it was (the VM stays).
        A cancelled, preempted or lost job's worker is deleted by the caller."""
        name, zone, prefix = (str(handle.data.get(k)) for k in ("name", "zone", "output_uri"))
        worker = self.pool.get(name)
        if worker is None or worker.job_id != handle.job_id:
            return worker is not None  # the worker has moved on to another job: leave it
        record = self.backend._json(f"{prefix}/exit.json") or {}
        stop = self.backend._json(f"{prefix}/stop") or {}
        if (worker.state == "busy" and record.get("results") == "complete"
                and not stop.get("cancel")
                and record.get("cause") not in ("cancelled", "preempted")):
            instance = self.backend._instance(zone, name)
            if instance is not None and instance.status in ALIVE:
                finished = record.get("finished_at")
                return self.pool.idle(name, job_id=handle.job_id, since=float(
                    finished) if isinstance(finished, int | float) else None)
        self.pool.remove(name)
        return False

    def owns(self, handle: Handle) -> bool:
        """May the VM of ``handle`` be deleted on the job's account? Not when it is a warm worker
        that has moved on to another job."""
        if not handle.data.get("pool") or not self.has_records():
            return True
        worker = self.pool.get(str(handle.data.get("name")))
        return worker is None or worker.job_id == handle.job_id

    def _delete(self, worker: Worker) -> None:
        if worker.zone:
            self.backend.delete_vm(worker.zone, worker.name)
        self.pool.remove(worker.name)

    # --- reconciler, drain, listing ---------------------------------------------------------
    def workers(self) -> list[Worker]:
        """The pool's rows; none when there is no database (never creates one)."""
        return self.pool.all() if self.has_records() else []

    def reconcile(self, live_jobs: set[str]) -> list[tuple[str, str]]:
        """One pass over the pool's rows; returns ``(vm, what was done)``."""
        done: list[tuple[str, str]] = []
        now = time.time()
        for worker in self.workers():
            try:
                instance = self._find(worker)
            except Exception:  # GCE could not say: never delete on one failed check
                self.pool.failed_check(worker.name)
                done.append((worker.name, "liveness unknown (GCE API error); kept"))
                continue
            if worker.errors:
                self.pool.checked(worker.name)
            if instance is None or instance.status not in ALIVE:
                if instance is not None:
                    self.backend.delete_vm(worker.zone, worker.name)
                self.pool.remove(worker.name)
                done.append((worker.name, "VM gone; dropped from the pool"))
                continue
            action = self._settle(worker, live_jobs, now)
            if action:
                done.append((worker.name, action))
        return done

    def _find(self, worker: Worker) -> Any | None:
        if worker.zone:
            return self.backend._instance(worker.zone, worker.name, once=True)
        for zone in self.backend.zones():  # joined, launch not finished: where did it land?
            instance = self.backend._instance(zone, worker.name, once=True)
            if instance is not None:
                self.pool.settle(worker.name, expect_state=worker.state, zone=zone)
                return instance
        if time.time() - worker.created_at < self.backend.settings.launch_budget_seconds + 60:
            return _Launching()
        return None

    def _settle(self, worker: Worker, live_jobs: set[str], now: float) -> str | None:
        enabled = self.backend.warm_pool.enabled
        if worker.state == "idle":
            expires = worker.expires_at
            expired = not enabled or (expires is not None and now > expires + self.margin(
                worker.idle_timeout))
            if expired and self.pool.settle(worker.name, expect_state="idle", state="draining"):
                self._delete(worker)
                return ("idle past its timeout; deleted" if enabled
                        else "warm pool disabled; deleted")
            return None
        if worker.state == "claimed" and worker.job_id and (
                worker.holder_dead() or now - (worker.claimed_at or now) > CLAIM_TTL):
            if self.assignment(worker.zone, worker.name) == worker.job_id:
                self.pool.settle(worker.name, expect_state="claimed",
                                 expect_job=worker.job_id, state="busy", holder=None)
                return f"claim by a dead process had reached the VM; busy with {worker.job_id}"
            if self.pool.unclaim(worker.name, job_id=worker.job_id):
                self._forget_handle(worker)
                return "claim by a dead process never reached the VM; idle again"
            return None
        if worker.state == "busy" and worker.job_id and worker.zone \
                and worker.job_id not in live_jobs:
            return self._unwatched(worker)
        return None

    def _forget_handle(self, worker: Worker) -> None:
        uri = f"{job_prefix(self.backend.storage_uri or '', str(worker.job_id))}/handle.json"
        raw = self.backend._json(uri) or {}
        if (raw.get("data") or {}).get("name") == worker.name:
            self.backend.storage.delete(uri)

    def _unwatched(self, worker: Worker) -> str | None:
        """A busy worker whose job nobody watches any more: idle again once its job ended
        (deleted if the job was cancelled)."""
        prefix = job_prefix(self.backend.storage_uri or "", str(worker.job_id))
        record = self.backend._json(f"{prefix}/exit.json")
        state = self.backend._json(f"{self.state_uri(worker.name)}/state.json") or {}
        stop = self.backend._json(f"{prefix}/stop") or {}
        if stop.get("cancel") or (record or {}).get("cause") in ("cancelled", "preempted"):
            if self.pool.settle(worker.name, expect_state="busy", expect_job=worker.job_id,
                                state="draining"):
                self._delete(worker)
                return f"job {worker.job_id} was cancelled; VM deleted, not recycled"
            return None
        if (record or {}).get("results") == "complete" and state.get("state") == "idle" \
                and state.get("job_id") == worker.job_id:
            since = state.get("idle_since")
            self.pool.idle(worker.name, job_id=str(worker.job_id),
                           since=float(since) if isinstance(since, int | float) else None)
            return f"job {worker.job_id} ended while nobody watched; idle again"
        return None

    def drain(self) -> list[dict[str, Any]]:
        """Delete every idle worker now; returns what was deleted."""
        out = []
        for worker in self.workers():
            if worker.state == "idle" and self.pool.settle(worker.name, expect_state="idle",
                                                            state="draining"):
                self._delete(worker)
                out.append({"name": worker.name, "zone": worker.zone,
                            "profile": worker.profile, "hourly_usd": worker.hourly_usd})
        return out


class _Launching:
    """Stands in for a VM whose launch is still under way (its zone is not recorded yet)."""

    status = "PROVISIONING"
