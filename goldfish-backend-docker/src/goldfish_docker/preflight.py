"""Preflight for stages on docker profiles: before any compute, not as a failed container.

* the profile's image must be on this machine (the error says how to build or pull it);
* a GPU profile needs the NVIDIA runtime registered with the engine.
"""

from __future__ import annotations

from typing import Any

from goldfish.errors import GoldfishError
from goldfish.findings import Finding

from goldfish_docker import engine

SOURCE = "docker"


def _docker_profiles(pipeline: Any, project: Any) -> dict[str, list[str]]:
    """profile name → the stages that run on it, for profiles whose backend is docker."""
    config = project.config
    out: dict[str, list[str]] = {}
    for stage in getattr(pipeline, "stages", []) or []:
        name = getattr(stage, "profile", None) or config.default_profile
        try:
            profile = config.profile(name)
        except GoldfishError:
            continue  # the core's own check reports unknown profiles
        if profile.backend == "docker":
            out.setdefault(name, []).append(stage.name)
    return out


def validate(pipeline: Any, project: Any) -> list[Finding]:
    findings: list[Finding] = []
    profiles = _docker_profiles(pipeline, project)
    if not profiles:
        return findings
    gpu_ok: bool | None = None
    for name, stages in profiles.items():
        profile = project.config.profile(name)
        where = f"profile {name!r} (stages {', '.join(stages)})"
        if not profile.image:
            findings.append(Finding(SOURCE, "image", "blocking",
                                    f"{where} names no image: add `image:` to the profile",
                                    stage=stages[0]))
            continue
        try:
            engine.image_id(profile.image)
        except GoldfishError as exc:
            text = f"{where}: {exc.message}" + (f" — {exc.hint}" if exc.hint else "")
            findings.append(Finding(SOURCE, "image", "blocking", text, stage=stages[0],
                                    data={"profile": name, "image": profile.image}))
            continue
        if getattr(profile, "gpu", None):
            if gpu_ok is None:
                gpu_ok = engine.has_nvidia_runtime()
            if not gpu_ok:
                findings.append(Finding(
                    SOURCE, "gpu", "blocking",
                    f"{where} asks for GPUs, but the Docker engine at {engine.where()} has no "
                    f"NVIDIA runtime (runtimes: {', '.join(engine.info().get('runtimes', []))}) — "
                    "install the NVIDIA Container Toolkit and restart dockerd, or use a profile "
                    "without GPUs", stage=stages[0], data={"profile": name}))
    return findings
