"""The ``gce`` compute backend: one VM per job, results through GCS.

The engine stages the job under the project's ``gs://`` storage (:mod:`goldfish.runs.staging`);
``launch`` creates a VM whose startup script runs :mod:`goldfish_gce.worker`. Everything after
that goes through storage objects under the job's prefix and the Compute API, so any Goldfish
process can poll, read logs, cancel or release from the handle alone.

Launch searches zones (profile > ``gce.zones`` > built-in list). Errors are classified by the
operation's error *code*, never by message text: capacity codes block the zone for this round,
``QUOTA_EXCEEDED`` blocks the region, anything else stops the search. Rounds back off within
``launch_budget_seconds``; a failed search names every zone tried and why it refused. Every VM is
labelled (project, run, stage, job), named from the job id (a repeated launch finds it), and gets
``terminationTime`` with ``instanceTerminationAction: DELETE`` — a cost guard GCE itself enforces.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from goldfish import errors
from goldfish.compute import Capabilities, Handle, Job, JobStatus, LogChunk
from goldfish.errors import GoldfishError
from goldfish.runs.ids import attempt_of, job_id
from goldfish.runs.staging import fetch_results
from goldfish.runs.workers import crash_point

from goldfish_gce.boot import BOOT_SCRIPT, worker_source
from goldfish_gce.pool import WarmPoolManager
from goldfish_gce.settings import (
    DEFAULT_ZONES,
    PRESETS,
    GceProfile,
    WarmPool,
    hourly_price,
    project_settings,
)
from goldfish_gce.storage import GcsStorage, split_uri

#: As registered by :mod:`goldfish_gce.plugin` (which does not import this module).
CAPABILITIES = Capabilities(gpu=True, spot=True, live_logs=True, detached=True,
                            shares_filesystem=False)

#: Codes that mean "this zone has no room now": try the next zone.
CAPACITY = frozenset({"ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                      "UNSUPPORTED_OPERATION", "RESOURCE_NOT_READY", "RATE_LIMIT_EXCEEDED",
                      "STOCKOUT"})
QUOTA = frozenset({"QUOTA_EXCEEDED"})
KILL_MARGIN = 25.0  # seconds past a cancel's grace before the VM itself is deleted


class CapacityError(errors.CapacityError):
    """No zone could take the VM within the wait budget (the core's typed capacity error)."""


def vm_name(job_id: str) -> str:
    """A valid instance name derived from the job id (same id, same name)."""
    clean = re.sub(r"[^a-z0-9-]+", "-", job_id.lower()).strip("-")
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    return f"gf-{clean[:50]}-{digest}".replace("--", "-")


def label(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


class GceBackend:
    name = "gce"
    capabilities = CAPABILITIES

    def __init__(self, project_root: Path, config: dict[str, Any] | None = None) -> None:
        self.project_root = Path(project_root)
        section = project_settings(self.project_root)
        self.project_name = label(section.pop("_project_name", self.project_root.name))
        self.gce_profiles = set(section.pop("_gce_profiles", [])) | set(PRESETS)
        self.storage_uri: str | None = section.pop("_storage", None)
        storage_settings: dict[str, Any] = section.pop("_storage_settings", {})
        self.credentials_file: str | None = section.get("credentials_file")
        merged = {k: v for k, v in section.items()
                  if k in ("project_id", "service_account", "network", "labels", "api_endpoint")}
        if section.get("zones"):
            merged["zones"] = section["zones"]
        # the profile's keys arrive validated, defaults included: an unset one must not hide
        # the section's value
        merged.update({k: v for k, v in (config or {}).items() if v not in (None, [], {})})
        self.settings = GceProfile(**merged)
        self.warm_pool = WarmPool.model_validate(section.get("warm_pool") or {})
        # the settings beside `storage: {uri: gs://...}`; unset project/credentials come from
        # this backend's project_id and the gce: section
        storage_settings = dict(storage_settings) if isinstance(storage_settings, dict) else {}
        if storage_settings.get("project") is None:
            storage_settings["project"] = self.settings.project_id
        self.storage = GcsStorage(self.project_root, storage_settings)
        self.sleep = time.sleep

    @functools.cached_property
    def pool_manager(self) -> WarmPoolManager:
        return WarmPoolManager(self)

    # --- clients --------------------------------------------------------------------------
    @functools.cached_property
    def _clients(self) -> tuple[Any, Any]:
        from google.api_core.client_options import ClientOptions
        from google.cloud import compute_v1

        kwargs: dict[str, Any] = {"transport": "rest"}
        endpoint = self.settings.api_endpoint
        if endpoint:
            kwargs["client_options"] = ClientOptions(api_endpoint=endpoint)
            if endpoint.startswith("http://"):
                from google.auth.credentials import AnonymousCredentials

                kwargs["credentials"] = AnonymousCredentials()
        if "credentials" not in kwargs and self.credentials_file:
            from google.oauth2 import service_account

            kwargs["credentials"] = service_account.Credentials.from_service_account_file(
                self.credentials_file,
                scopes=["https://www.googleapis.com/auth/cloud-platform"])
        # Operations are waited on with our own client: the SDK's own polling ignores the
        # client options and would talk to the real API.
        return compute_v1.InstancesClient(**kwargs), compute_v1.ZoneOperationsClient(**kwargs)

    @property
    def project(self) -> str:
        if not self.settings.project_id:
            raise GoldfishError("no Google Cloud project for the gce backend",
                                "set gce.project_id (or project_id in the profile) in "
                                "goldfish.yaml")
        return self.settings.project_id

    def zones(self) -> list[str]:
        return list(self.settings.zones or DEFAULT_ZONES)

    # --- launch ---------------------------------------------------------------------------
    def launch(self, job: Job) -> Handle:
        prefix = job.output_uri
        if not prefix or not prefix.startswith("gs://"):
            raise GoldfishError(
                f"profile {job.profile!r} runs on GCE, but the job was not staged in gs:// "
                f"storage (output_uri={prefix!r})",
                "set storage: gs://bucket/prefix in goldfish.yaml")
        previous = self.storage.read(f"{prefix}/handle.json")
        if previous is not None:
            found = Handle.from_json(json.loads(previous))
            if not found.data.get("reused") or self.pool_manager.redeliver(found, job):
                return found
        pooled = self.warm_pool.pools(job.profile)
        if pooled:
            claimed = self.pool_manager.claim(job, prefix)
            if claimed is not None:
                return claimed
        machine = self.settings.machine(job.resources.spot)
        choices = [machine]
        if machine["spot"] and self.settings.on_demand_fallback:
            choices.append({**machine, "spot": False})  # by preference: spot first
        name = vm_name(job.job_id)
        member = pooled and self.pool_manager.join(name, job)
        crash_point("joined")
        try:
            return self._launch_fresh(job, prefix, name, machine, choices, member)
        except BaseException:
            if member:
                self.pool_manager.pool.remove(name)
            raise

    def _launch_fresh(self, job: Job, prefix: str, name: str, machine: dict[str, Any],
                      choices: list[dict[str, Any]], member: bool) -> Handle:
        zones = self._zone_order(job, prefix)
        tried: list[str] = []
        blocked: set[tuple[bool, str]] = set()  # (spot, region): spot quotas are separate
        regions = {z.rsplit("-", 1)[0] for z in zones}
        deadline = time.monotonic() + self.settings.launch_budget_seconds
        backoff = 1.0
        while True:
            for choice in choices:
                kind = "spot" if choice["spot"] else "on-demand"
                for zone in zones:
                    region = zone.rsplit("-", 1)[0]
                    if (choice["spot"], region) in blocked:
                        continue
                    refusal = self._insert(zone, name, job, choice, member)
                    if refusal is None:
                        handle = Handle("gce", job.job_id, {
                            "name": name, "zone": zone, "project": self.project,
                            "output_uri": prefix, "launched_at": time.time(),
                            "machine_type": choice["machine_type"], "spot": choice["spot"],
                            "zones_tried": tried, **({"pool": True} if member else {})})
                        if member:
                            self.pool_manager.landed(name, job, zone, choice)
                        self.storage.put(f"{prefix}/handle.json",
                                         json.dumps(handle.to_json()).encode())
                        return handle
                    code, message = refusal
                    tried.append(f"{zone} ({kind}): {code} ({message})")
                    if code in QUOTA:
                        blocked.add((choice["spot"], region))
                    elif code not in CAPACITY:
                        raise GoldfishError(
                            f"GCE refused VM {name} in {zone}: {code}: {message}",
                            "fix the profile or project settings named above; this is not a "
                            "capacity problem, so no zone is retried")
            all_blocked = all((c["spot"], r) in blocked for c in choices for r in regions)
            if time.monotonic() + backoff > deadline or all_blocked:
                raise CapacityError(
                    f"no zone could start a {machine['machine_type']} "
                    f"{'spot ' if machine['spot'] else ''}VM within "
                    f"{self.settings.launch_budget_seconds:g}s; tried: " + "; ".join(tried),
                    "add zones (profile zones or gce.zones), raise the quota named above, "
                    "allow on_demand_fallback for spot profiles, or raise "
                    "launch_budget_seconds", zones_tried=tried)
            self.sleep(backoff)
            backoff = min(backoff * 2, 60.0)

    def _zone_order(self, job: Job, prefix: str) -> list[str]:
        """The search order; a relaunch after a preemption tries the zone that preempted its
        previous attempt last (spot VMs are often preempted again and again in one zone)."""
        zones = self.zones()
        attempt = attempt_of(job.job_id)
        if attempt < 2:
            return zones
        previous = job_id(job.run_id, job.stage, attempt - 1)
        raw = self._json(f"{prefix.rsplit('/', 1)[0]}/{previous}/handle.json") or {}
        zone = (raw.get("data") or {}).get("zone")
        return [z for z in zones if z != zone] + [z for z in zones if z == zone]

    def _insert(self, zone: str, name: str, job: Job, machine: dict[str, Any],
                member: bool = False) -> tuple[str, str] | None:
        from google.api_core.exceptions import Conflict
        from google.cloud import compute_v1

        instances, operations = self._clients
        body = self._instance_body(zone, name, job, machine)
        if member:
            body["metadata"]["items"].append({"key": "goldfish-pool",
                                              "value": self.pool_manager.member_settings(name)})
        try:
            op = instances.insert_unary(project=self.project, zone=zone,
                                        instance_resource=compute_v1.Instance.from_json(
                                            json.dumps(body)))
        except Conflict:
            return None  # the VM of this job already exists: a repeated launch found it
        while op.status != compute_v1.Operation.Status.DONE:
            op = operations.wait(project=self.project, zone=zone, operation=op.name)
        if op.error and op.error.errors:
            first = op.error.errors[0]
            message = first.message
            for detail in first.error_details:
                quota = detail.quota_info
                if quota and quota.metric_name:
                    message += (f" [metric {quota.metric_name}, limit {quota.limit_name} = "
                                f"{quota.limit:g}]")
            return first.code, message
        return None

    def job_items(self, job: Job, machine: dict[str, Any]) -> dict[str, str]:
        """The metadata that tells a worker which job to run and how: set at launch, and
        again by ``setMetadata`` when a warm worker is given a job (the one signal channel)."""
        s = self.settings
        return {"goldfish-assignment": json.dumps({
                    "format": "goldfish-assignment/1", "job_id": job.job_id,
                    "spec_uri": f"{job.output_uri}/spec.json"}, sort_keys=True),
                "goldfish-spec-uri": f"{job.output_uri}/spec.json",
                "goldfish-sync-seconds": f"{s.sync_seconds:g}",
                "goldfish-gpu-count": str(int(machine.get("gpu_count") or 1)
                                          if machine.get("gpu_type") else 0),
                "goldfish-container-network": "host" if s.container_network else "none"}

    def _instance_body(self, zone: str, name: str, job: Job,
                       machine: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        import os

        end = datetime.now(UTC) + timedelta(hours=s.max_run_hours)
        items = {"startup-script": BOOT_SCRIPT, "goldfish-worker": worker_source(),
                 **self.job_items(job, machine)}
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            items["goldfish-storage-endpoint"] = os.environ["STORAGE_EMULATOR_HOST"]
        if s.api_endpoint:
            items["goldfish-compute-endpoint"] = s.api_endpoint
        body: dict[str, Any] = {
            "name": name,
            "machineType": f"zones/{zone}/machineTypes/{machine['machine_type']}",
            "labels": {**{label(k): label(v) for k, v in s.labels.items()},
                       "goldfish-project": self.project_name, "goldfish-run": label(job.run_id),
                       "goldfish-stage": label(job.stage), "goldfish-job": label(job.job_id)},
            "metadata": {"items": [{"key": k, "value": v} for k, v in items.items()]},
            "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
                "sourceImage": s.vm_image, "diskSizeGb": str(s.boot_disk_gb)}}],
            "networkInterfaces": [{"network": f"global/networks/{s.network or 'default'}",
                                   "accessConfigs": [{"name": "External NAT",
                                                      "type": "ONE_TO_ONE_NAT"}]}],
            "scheduling": {"provisioningModel": "SPOT" if machine["spot"] else "STANDARD",
                           "instanceTerminationAction": "DELETE",
                           "terminationTime": end.isoformat().replace("+00:00", "Z"),
                           "automaticRestart": False, "onHostMaintenance": "TERMINATE"},
            "serviceAccounts": [{"email": s.service_account or "default",
                                 "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}],
        }
        if s.data_disk_gb:
            body["disks"].append({"autoDelete": True, "initializeParams": {
                "diskSizeGb": str(s.data_disk_gb)}})
        if machine.get("gpu_type"):
            body["guestAccelerators"] = [{
                "acceleratorType": f"zones/{zone}/acceleratorTypes/{machine['gpu_type']}",
                "acceleratorCount": int(machine.get("gpu_count") or 1)}]
        return body

    # --- watch ----------------------------------------------------------------------------
    @staticmethod
    def _fields(handle: Handle) -> tuple[str, str, str] | None:
        data = handle.data if isinstance(handle.data, dict) else {}
        name, zone, prefix = data.get("name"), data.get("zone"), data.get("output_uri")
        if all(isinstance(v, str) and v for v in (name, zone, prefix)) and str(
                prefix).startswith("gs://"):
            return str(name), str(zone), str(prefix)
        return None

    def _json(self, uri: str) -> dict[str, Any] | None:
        try:
            raw = self.storage.read(uri)
            value = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _instance(self, zone: str, name: str, *, once: bool = False) -> Any | None:
        """The instance, or None when GCE says it does not exist. ``once``: a single request
        (no retries), for checks that would rather say "unknown" now than wait."""
        from google.api_core.exceptions import NotFound

        extra: dict[str, Any] = {"retry": None, "timeout": 20.0} if once else {}
        try:
            return self._clients[0].get(project=self.project, zone=zone, instance=name, **extra)
        except NotFound:
            return None

    def _was_preempted(self, zone: str, name: str) -> bool:
        from google.cloud import compute_v1

        ops = self._clients[1].list(request=compute_v1.ListZoneOperationsRequest(
            project=self.project, zone=zone,
            filter='operationType="compute.instances.preempted"'))
        return any(op.target_link.endswith(f"/instances/{name}") for op in ops)

    def _delete_job_vm(self, handle: Handle, zone: str, name: str) -> None:
        """Delete the VM of ``handle``'s job, unless it is a warm worker now on another job."""
        if self.pool_manager.owns(handle):
            self.delete_vm(zone, name)

    def delete_vm(self, zone: str, name: str) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._clients[0].delete_unary(project=self.project, zone=zone, instance=name)
        except NotFound:
            pass

    def poll(self, handle: Handle) -> JobStatus:
        fields = self._fields(handle)
        if fields is None:
            return JobStatus("lost", cause="lost", message=f"handle for job {handle.job_id!r} "
                             "names no VM and job prefix; it was not made by the gce backend")
        name, zone, prefix = fields
        try:
            return self._poll(handle, name, zone, prefix)
        except GoldfishError:
            raise
        except Exception as exc:  # the API or storage is unreachable: not final, try later
            return JobStatus("pending", message=f"could not ask GCE about {name}: {exc!r}")

    def _poll(self, handle: Handle, name: str, zone: str, prefix: str) -> JobStatus:
        # the VM first, then its exit record: the worker writes the record before it deletes its
        # VM, so a VM found gone here has left its record already (read in the other order, a
        # worker finishing between the two reads looked lost)
        instance = self._instance(zone, name)
        exit_record = self._json(f"{prefix}/exit.json")
        worker = self._json(f"{prefix}/worker.json") or {}
        beat = (self._json(f"{prefix}/heartbeat.json") or {}).get("at")
        started = worker.get("started_at")
        if exit_record is not None and (exit_record.get("results") == "complete"
                                        or instance is None):
            code = exit_record.get("exit_code")
            cause = exit_record.get("cause")
            return JobStatus("exited", exit_code=code if isinstance(code, int) else None,
                             cause=cause, message=exit_record.get("message"),
                             heartbeat_at=beat, started_at=started,
                             finished_at=exit_record.get("finished_at"))
        stop = self._json(f"{prefix}/stop")
        if instance is None or instance.status in ("TERMINATED", "STOPPED", "SUSPENDED"):
            if instance is not None:
                self._delete_job_vm(handle, zone, name)
            if self._was_preempted(zone, name):
                return JobStatus("exited", cause="preempted", heartbeat_at=beat,
                                 message=f"spot VM {name} in {zone} was preempted")
            if stop is not None and stop.get("cancel"):
                return JobStatus("exited", cause="cancelled", heartbeat_at=beat,
                                 message=f"VM {name} deleted after a cancel")
            boot = (self.storage.read(f"{prefix}/boot.log") or b"").decode("utf-8", "replace")
            failed = next((ln for ln in reversed(boot.splitlines()) if ln.strip()), "")
            return JobStatus("lost", cause="lost", heartbeat_at=beat, message=(
                f"VM {name} in {zone} is gone and left no exit record"
                + (f"; its boot failed: {failed[:300]} (whole log: {prefix}/boot.log)"
                   if failed else "")))
        now = time.time()
        if stop is not None and stop.get("cancel") and now > float(stop.get("at", now)) + float(
                stop.get("grace_seconds", 0)) + KILL_MARGIN:
            self._delete_job_vm(handle, zone, name)
            return JobStatus("exited", cause="cancelled", heartbeat_at=beat,
                             message=f"VM {name} deleted: the stage ignored the stop request")
        launched = float(handle.data.get("launched_at") or now)
        last = worker.get("beat")
        if last is None and now - launched > self.settings.lost_grace_seconds:
            self._delete_job_vm(handle, zone, name)
            return JobStatus("lost", cause="lost", message=(
                f"VM {name} never reported from its worker within "
                f"{self.settings.lost_grace_seconds:g}s of launch; deleted it (read boot.log "
                f"under {prefix} if it is there)"))
        if isinstance(last, int | float) and now - last > self.settings.heartbeat_stale_seconds:
            self._delete_job_vm(handle, zone, name)
            return JobStatus("lost", cause="lost", heartbeat_at=beat, started_at=started,
                             message=f"the worker on VM {name} went silent for "
                                     f"{now - last:.0f}s; deleted the VM")
        if instance.status != "RUNNING" or last is None:
            return JobStatus("pending", message=f"VM {name} is {instance.status.lower()}")
        return JobStatus("running", heartbeat_at=beat, started_at=started)

    def logs(self, handle: Handle, tail: int | None = None, cursor: int = 0) -> LogChunk:
        fields = self._fields(handle)
        if fields is None:
            return LogChunk("", cursor, complete=True)
        _, _, prefix = fields
        data = self.storage.read(f"{prefix}/log.txt") or b""
        complete = self.poll(handle).final
        if complete:  # the final log may have landed after the exit record
            data = self.storage.read(f"{prefix}/log.txt") or b""
        if tail is not None:
            lines = data.decode("utf-8", "replace").splitlines(keepends=True)
            return LogChunk("".join(lines[-tail:]) if tail > 0 else "", len(data), complete)
        end = len(data)
        if not complete:  # never split a UTF-8 character across chunks
            while end > cursor and end - cursor <= len(data) and (data[end - 1] & 0xC0) == 0x80:
                end -= 1
            if end > cursor and data[end - 1] >= 0xC0:
                end -= 1
        chunk = data[cursor:end] if cursor < end else b""
        return LogChunk(chunk.decode("utf-8", "replace"), max(cursor, end), complete)

    def cancel(self, handle: Handle, grace_seconds: float = 10.0) -> None:
        fields = self._fields(handle)
        if fields is None:
            return
        _, _, prefix = fields
        if self._json(f"{prefix}/stop") is not None or self.poll(handle).final:
            return
        self.storage.put(f"{prefix}/stop", json.dumps({
            "reason": "cancelled", "cancel": True, "grace_seconds": grace_seconds,
            "at": time.time()}).encode())

    def fetch(self, handle: Handle, job_dir: Path) -> None:
        fields = self._fields(handle)
        if fields is None:
            raise GoldfishError(f"cannot fetch results of job {handle.job_id}: the handle "
                                "names no job prefix")
        _, _, prefix = fields
        complete = (self._json(f"{prefix}/exit.json") or {}).get("results") == "complete"
        fetch_results(self.storage, prefix, Path(job_dir), live_only=not complete
                      and not self.poll(handle).final)

    def release(self, handle: Handle) -> None:
        fields = self._fields(handle)
        if fields is None:
            return
        name, zone, prefix = fields
        if handle.data.get("pool") and self.pool_manager.release(handle):
            return  # back to idle, or the worker has moved on to another job
        if self._instance(zone, name) is None:
            return
        if self._json(f"{prefix}/exit.json") is None and self._json(f"{prefix}/stop") is None:
            self.storage.put(f"{prefix}/stop", json.dumps({
                "reason": "released", "cancel": True, "grace_seconds": 0,
                "at": time.time()}).encode())
        self.delete_vm(zone, name)

    # --- cost guard -----------------------------------------------------------------------
    def reap_orphans(self, live_jobs: set[str]) -> list[str]:
        """Delete every VM labelled with this project whose job is not live and that is no
        warm-pool worker; returns names. Settles the warm pool first (:meth:`reconcile_pool`)."""
        from google.cloud import compute_v1

        deleted: list[str] = []
        for name, action in self.reconcile_pool(live_jobs):
            if "deleted" in action:
                deleted.append(name)
        members = {w.name for w in self.pool_manager.workers()}
        live = {label(j) for j in live_jobs}
        for zone in self.zones():
            for instance in self._clients[0].list(request=compute_v1.ListInstancesRequest(
                    project=self.project, zone=zone,
                    filter=f'labels.goldfish-project = "{self.project_name}"')):
                if instance.labels.get("goldfish-job") not in live \
                        and instance.name not in members and instance.name not in deleted:
                    self.delete_vm(zone, instance.name)
                    deleted.append(instance.name)
        return deleted

    # --- warm pool ----------------------------------------------------------------------------
    def _pool_checks(self) -> list[tuple[str, str, str]]:
        """Doctor: pooled profile names that are no GCE profile (nothing would be pooled)."""
        pool = self.warm_pool
        if not pool.enabled:
            return []
        from goldfish.errors import did_you_mean

        unknown = [n for n in pool.profiles if n not in self.gce_profiles]
        if unknown:
            return [("fail", "gce warm pool", "; ".join(
                f"gce.warm_pool.profiles names {n!r}, which is not a GCE profile: "
                + (did_you_mean(n, self.gce_profiles) or "use one of "
                   + ", ".join(sorted(self.gce_profiles))) for n in unknown)
                + " (runs on it never reuse a warm VM)")]
        which = ", ".join(pool.profiles) or "every GCE profile"
        return [("ok", "gce warm pool", f"{which}; at most {pool.max_instances} VM(s), idle "
                                        f"{pool.idle_timeout_minutes:g} min")]

    def reconcile_pool(self, live_jobs: set[str]) -> list[tuple[str, str]]:
        """Settle the warm pool against GCE (see :mod:`goldfish_gce.pool`)."""
        return self.pool_manager.reconcile(live_jobs)

    def drain_pool(self) -> list[dict[str, Any]]:
        """Delete every idle warm worker now; returns them (name, zone, profile, price)."""
        return self.pool_manager.drain()

    # --- what is running, and is it all reachable --------------------------------------------
    def running(self) -> list[dict[str, Any]]:
        """This project's VMs with their machine, zone, job and hourly price (USD)."""
        from google.cloud import compute_v1

        out: list[dict[str, Any]] = []
        workers = {w.name: w for w in self.pool_manager.workers()}
        for zone in self.zones():
            for instance in self._clients[0].list(request=compute_v1.ListInstancesRequest(
                    project=self.project, zone=zone,
                    filter=f'labels.goldfish-project = "{self.project_name}"')):
                machine = instance.machine_type.rsplit("/", 1)[-1]
                spot = instance.scheduling.provisioning_model == "SPOT"
                item = {"name": instance.name, "zone": zone, "status": instance.status,
                        "machine_type": machine, "spot": spot,
                        "job": instance.labels.get("goldfish-job"),
                        "hourly_usd": hourly_price(machine, spot)}
                worker = workers.get(instance.name)
                if worker is not None:
                    item.update(job=worker.job_id, pool={
                        "state": worker.state, "profile": worker.profile,
                        "idle_since": worker.idle_since, "expires_at": worker.expires_at})
                out.append(item)
        return out

    def diagnose(self, profile_name: str, profile: Any = None) -> list[tuple[str, str, str]]:
        """Doctor checks ``(status, subject, detail)`` of the profile ``profile_name``:
        credentials, project, API, bucket (``goldfish.runs.backends.diagnose``)."""
        return [(status, f"{subject} ({profile_name})", detail)
                for status, subject, detail in self._diagnose()]

    def _diagnose(self) -> list[tuple[str, str, str]]:
        """Details name the fix; no token or key is ever part of them."""
        checks: list[tuple[str, str, str]] = []
        endpoint = self.settings.api_endpoint or ""
        if endpoint.startswith("http://"):
            checks.append(("ok", "gce credentials", f"anonymous (test endpoint {endpoint})"))
        else:
            try:
                import google.auth

                _, adc_project = google.auth.default()
                checks.append(("ok", "gce credentials", "Application Default Credentials"
                               + (f" (project {adc_project})" if adc_project else "")))
            except Exception as exc:
                checks.append(("fail", "gce credentials", f"{type(exc).__name__}: run `gcloud "
                               "auth application-default login` or set "
                               "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"))
                return checks
        if not self.settings.project_id:
            checks.append(("fail", "gce project", "no project: set gce.project_id in "
                                                  "goldfish.yaml"))
            return checks
        checks.append(("ok", "gce project", self.settings.project_id))
        checks += self._pool_checks()
        try:
            vms = self.running()
            cost = sum(v["hourly_usd"] or 0 for v in vms)
            checks.append(("ok", "gce api", f"reachable; {len(vms)} VM(s) of this project "
                                            f"running (~${cost:.2f}/h)"))
        except Exception as exc:
            checks.append(("fail", "gce api", f"{type(exc).__name__}: {str(exc)[:200]} — "
                           "enable the Compute Engine API for the project and check that the "
                           "credentials may list instances (roles/compute.viewer)"))
        uri = self.storage_uri
        if not uri or not uri.startswith("gs://"):
            checks.append(("fail", "gce storage", f"storage is {uri or 'the default'}; GCE "
                           "stages need storage: gs://bucket/prefix in goldfish.yaml"))
            return checks
        try:
            bucket, _ = split_uri(uri)
            if not self.storage.client.bucket(bucket).exists():
                checks.append(("fail", "gce storage", f"bucket {bucket} does not exist: "
                               f"create it with `gcloud storage buckets create gs://{bucket}`"))
            else:
                self.storage.list(uri)
                checks.append(("ok", "gce storage", f"{uri} is readable"))
        except Exception as exc:
            checks.append(("fail", "gce storage", f"{type(exc).__name__}: {str(exc)[:200]} — "
                           "grant the credentials roles/storage.objectAdmin on the bucket"))
        return checks

