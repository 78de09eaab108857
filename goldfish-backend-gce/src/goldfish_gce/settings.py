"""Pydantic models of a ``backend: gce`` profile and of the ``gce:`` section, plus the built-in
machine presets and their hourly prices. Imported only when a GCE profile is validated or used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Zones searched when neither the profile nor ``gce.zones`` names any.
DEFAULT_ZONES = ["us-central1-a", "us-central1-b", "us-central1-c", "us-east4-c",
                 "us-west1-b", "europe-west4-a"]

#: Built-in presets: machine type, accelerator, spot. ``preset: h100-spot`` in a profile.
PRESETS: dict[str, dict[str, Any]] = {
    "cpu-small": {"machine_type": "n2-standard-4"},
    "cpu-large": {"machine_type": "n2-standard-32"},
    "h100-spot": {"machine_type": "a3-highgpu-1g", "gpu_type": "nvidia-h100-80gb",
                  "gpu_count": 1, "spot": True},
    "h100-on-demand": {"machine_type": "a3-highgpu-1g", "gpu_type": "nvidia-h100-80gb",
                       "gpu_count": 1, "spot": False},
    "a100-spot": {"machine_type": "a2-highgpu-1g", "gpu_type": "nvidia-tesla-a100",
                  "gpu_count": 1, "spot": True},
    "a100-on-demand": {"machine_type": "a2-highgpu-1g", "gpu_type": "nvidia-tesla-a100",
                       "gpu_count": 1, "spot": False},
}

#: USD per hour (on-demand, spot), us-central1 list prices; a guide for `goldfish profiles`.
PRICES: dict[str, tuple[float, float]] = {
    "n2-standard-4": (0.194, 0.047),
    "n2-standard-32": (1.554, 0.376),
    "a2-highgpu-1g": (3.673, 1.100),
    "a3-highgpu-1g": (11.061, 3.300),
}


def hourly_price(machine_type: str, spot: bool) -> float | None:
    prices = PRICES.get(machine_type)
    return None if prices is None else prices[1 if spot else 0]


def project_settings(project_root: Path) -> dict[str, Any]:
    """The ``gce:`` section of goldfish.yaml as written (validated by the config loader), plus
    ``_project_name``, ``_gce_profiles`` (the GCE profiles written there), ``_storage`` (the
    storage URI) and ``_storage_settings`` (the keys beside
    the URI in the mapping form of ``storage:``). Read directly because backends and
    storage are built from the project root alone."""
    try:
        import yaml

        raw = yaml.safe_load((project_root / "goldfish.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, ImportError):
        raw = {}
    raw = raw if isinstance(raw, dict) else {}
    section = raw.get("gce")
    out = dict(section) if isinstance(section, dict) else {}
    out["_project_name"] = str(raw.get("project") or raw.get("name") or project_root.name)
    profiles = raw.get("profiles")
    out["_gce_profiles"] = sorted(n for n, p in (profiles or {}).items() if isinstance(
        p, dict) and p.get("backend") == "gce") if isinstance(profiles, dict) else []
    storage = raw.get("storage")
    out["_storage_settings"] = {}
    if isinstance(storage, dict):
        out["_storage_settings"] = {k: v for k, v in storage.items() if k != "uri"}
        storage = storage.get("uri")
    out["_storage"] = storage if isinstance(storage, str) else None
    return out


class GcsSettings(BaseModel):
    """Settings of ``gs://`` storage, beside the URI: ``storage: {uri: gs://bucket/prefix,
    project: ..., credentials_file: ...}``. ``project`` and ``credentials_file`` left unset fall
    back to ``gce.project_id`` and ``gce.credentials_file``."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(None, description="Google Cloud project billed for the bucket's "
                                                  "requests (default: `gce.project_id`)")
    credentials_file: str | None = Field(None, description="service-account key file (default: "
                                                           "`gce.credentials_file`, else "
                                                           "Application Default Credentials)")
    parallel_transfers: int = Field(8, ge=1, le=64, description="objects uploaded at once when "
                                                                "many are staged (put_many)")
    resumable_threshold_mb: float = Field(8.0, gt=0, description="objects larger than this go "
                                                                 "up as resumable uploads, in "
                                                                 "8 MB chunks")


class WarmPool(BaseModel):
    """``gce.warm_pool``: VMs whose job ended wait for the next compatible job instead of
    deleting themselves. No per-run flag: compatible runs reuse warm workers automatically."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="keep finished VMs of pooled profiles warm")
    max_instances: int = Field(2, ge=1, le=1000, description="pool members at most (busy, "
                                                             "idle or being claimed); a VM "
                                                             "launched when the pool is full "
                                                             "deletes itself after its job")
    idle_timeout_minutes: float = Field(30.0, gt=0, le=24 * 60,
                                        description="an idle worker deletes its VM after this "
                                                    "long without a job")
    profiles: list[str] = Field(default_factory=list, description="the pooled profiles "
                                                                  "(empty: every GCE profile)")

    def pools(self, profile: str) -> bool:
        return self.enabled and (not self.profiles or profile in self.profiles)


class GceSection(BaseModel):
    """The ``gce:`` section of goldfish.yaml (defaults for every GCE profile)."""

    model_config = ConfigDict(extra="forbid")

    project_id: str | None = Field(None, description="Google Cloud project that owns the VMs")
    zones: list[str] = Field(default_factory=list, description="zones searched for capacity, "
                                                              "in order (profile zones win)")
    service_account: str | None = Field(None, description="service account email for the VMs")
    network: str | None = Field(None, description="VPC network (default: `default`)")
    labels: dict[str, str] = Field(default_factory=dict, description="extra labels on every VM")
    api_endpoint: str | None = Field(None, description="Compute API endpoint (tests: the fake)")
    credentials_file: str | None = Field(None, description="service-account key file for API and "
                                                           "gs:// storage (default: Application "
                                                           "Default Credentials)")
    warm_pool: WarmPool = Field(default_factory=lambda: WarmPool.model_validate({}), description="reuse booted VMs "
                                                                      "between jobs")


class GceProfile(BaseModel):
    """Keys a ``backend: gce`` profile accepts beyond the common ones."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field(None, description="built-in machine: " + ", ".join(PRESETS))
    machine_type: str | None = Field(None, description="GCE machine type, e.g. n2-standard-4")
    gpu_type: str | None = Field(None, description="accelerator type, e.g. nvidia-h100-80gb")
    gpu_count: int = Field(0, ge=0, description="accelerators per VM")
    zones: list[str] = Field(default_factory=list, description="zones to search, in order")
    boot_disk_gb: int = Field(100, ge=10, description="boot disk size")
    data_disk_gb: int | None = Field(None, ge=10, description="an extra data disk")
    vm_image: str = Field("projects/debian-cloud/global/images/family/debian-12",
                          description="boot image of the VM (needs Python 3.11+)")
    max_run_hours: float = Field(24.0, gt=0, le=24 * 120,
                                 description="hard VM lifetime enforced by GCE (terminationTime)")
    launch_budget_seconds: float = Field(600.0, gt=0, description="total time the zone search "
                                                                  "may take with backoff")
    lost_grace_seconds: float = Field(900.0, gt=0, description="a VM with no worker beat for "
                                                              "this long after launch is lost")
    heartbeat_stale_seconds: float = Field(600.0, gt=0, description="a running worker silent "
                                                                   "this long is killed")
    sync_seconds: float = Field(5.0, gt=0, description="how often the worker syncs results")
    container_network: bool = Field(False, description="give the stage's container (a profile "
                                                       "with `image:`) the VM's network; off, "
                                                       "the container has none")
    max_retries: int = Field(3, ge=0, description="relaunches after preemption")
    on_demand_fallback: bool = Field(False, description="a spot profile that finds no spot "
                                                        "capacity in any zone tries on-demand "
                                                        "VMs in the same round")
    project_id: str | None = None
    api_endpoint: str | None = None
    service_account: str | None = None
    network: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    def machine(self, spot: bool) -> dict[str, Any]:
        """Machine type, GPU and spot after applying the preset (explicit keys win)."""
        base = dict(PRESETS.get(self.preset or "", {}))
        if self.machine_type:
            base["machine_type"] = self.machine_type
        if self.gpu_type:
            base["gpu_type"], base["gpu_count"] = self.gpu_type, self.gpu_count or 1
        base.setdefault("machine_type", "n2-standard-4")
        base.setdefault("spot", spot)
        base["spot"] = bool(base["spot"] or spot)
        return base
