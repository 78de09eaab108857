"""Helpers for the docker member's tests: projects on a docker profile, the CLI, images."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from goldfish_docker import engine


def use_docker_profile(root: Path, image: str, extra: str = "",
                       name: str = "docker-cpu") -> None:
    """Make ``name`` (backend docker, ``image``) the project's default profile."""
    path = root / "goldfish.yaml"
    text = path.read_text()
    text = text.replace("  local: {backend: local}\n",
                        f"  local: {{backend: local}}\n  {name}: {{backend: docker, image: "
                        f"\"{image}\"{', ' + extra if extra else ''}}}\n")
    text = text.replace("default_profile: local", f"default_profile: {name}")
    assert f"default_profile: {name}" in text, text
    path.write_text(text)


def goldfish(*args: str, cwd: Path, check: bool = True, timeout: float = 180,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``goldfish`` CLI in a subprocess."""
    full_env = {**os.environ, "GOLDFISH_NO_CACHE": "1", **(env or {})}
    exe = str(Path(sys.executable).with_name("goldfish"))
    proc = subprocess.run([exe, *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"goldfish {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def settled_run(root: Path, within: float = 90) -> Any:
    """The project's latest run once it is no longer active: `goldfish runs`, in new processes,
    reconciles it (the process that launched it is gone); fails after ``within`` seconds."""
    from goldfish.project import Project
    from goldfish.runs.records import get_run

    deadline = time.monotonic() + within
    while True:
        goldfish("runs", cwd=root)
        run = get_run(Project.find(explicit=str(root)), "latest")
        if not run.active:
            return run
        assert time.monotonic() < deadline, [(s.stage, s.state) for s in run.stages]
        time.sleep(0.5)


def derived_image(base: str, tmp: Path, marker: str, tag: str | None = None,
                  extra: str = "") -> str:
    """Build ``FROM base`` plus a marker file (no network needed); returns the tag."""
    tag = tag or f"goldfish-test/derived:{uuid.uuid4().hex[:10]}"
    ctx = tmp / f"ctx-{uuid.uuid4().hex[:8]}"
    ctx.mkdir(parents=True)
    (ctx / "marker.txt").write_text(marker)
    (ctx / "Dockerfile").write_text(f"FROM {base}\nCOPY marker.txt /marker.txt\n{extra}")
    for _ in engine.client().api.build(path=str(ctx), tag=tag, rm=True, decode=True,
                                       network_mode="none"):
        pass
    engine.client().images.get(tag)
    return tag


def project_containers(root: Path) -> list[Any]:
    return engine.client().containers.list(
        all=True, filters={"label": f"dev.goldfish.project={root.resolve()}"})


def remove_image(tag: str) -> None:
    try:
        engine.client().images.remove(tag, force=True)
    except Exception:
        pass
