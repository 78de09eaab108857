"""A profile that names an image runs its stage in a container on the VM (issue 13 item 7): the
fake's VM is a local process, so the container is a real one on this machine's Docker engine."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from goldfish.runs.engine import Engine
from goldfish.testing.projects import stage_rows
from goldfish_docker.testing import docker_base_image, docker_engine  # noqa: F401
from goldfish_gce.fake import FakeCompute
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator
from goldfish_gce.worker import container_command
from test_gce_engine import gce_project, plugins  # noqa: F401

PROBE = {
    "pipeline.yaml": """
        name: probe
        stages:
          - name: probe
            outputs: {facts: {type: json}}
    """,
    "modules/probe.py": """
        import os
        from goldfish import io
        io.log_metric("loss", 0.5, step=0)
        io.save_output("facts", {
            "in_container": os.path.exists("/.dockerenv"),
            "pid1": open("/proc/1/comm").read().strip(),
            "interfaces": sorted(os.listdir("/sys/class/net")),
            "uid": os.getuid(),
            "job_dir_mounted": os.path.isdir(os.environ["GOLDFISH_JOB_DIR"] + "/code"),
        })
        print("probed")
    """,
}


def test_a_stage_with_an_image_runs_in_a_container_and_its_outputs_come_back(
        tmp_path: Path, plugins: Any, fake_gce: FakeCompute,  # noqa: F811
        gcs_emulator: GcsEmulator, docker_base_image: str) -> None:  # noqa: F811
    project = gce_project(tmp_path, plugins, fake_gce, PROBE, image=docker_base_image)
    engine = Engine(project)
    run_id = engine.run("w1")
    state = engine.wait(run_id, timeout=180)
    assert state == "done", {
        k: (v["state"], v["error"]) for k, v in stage_rows(project, run_id).items()}
    out = project.db.one("SELECT * FROM outputs WHERE run_id = ? AND stage = 'probe'", (run_id,))
    assert out is not None and out["uri"].startswith("gs://")
    facts = json.loads(GcsStorage(project.root, {}).open(out["uri"]).read())
    assert facts["in_container"] is True
    assert facts["pid1"] == "docker-init"  # --init
    assert facts["interfaces"] == ["lo"]  # no network unless the profile asks
    assert facts["job_dir_mounted"] is True
    assert facts["uid"] == os.getuid()  # outputs belong to the worker
    assert "probed" in (project.runs_dir / run_id / "probe" / "log.txt").read_text()
    loss = project.db.one("SELECT * FROM metric_summaries WHERE run_id = ? AND stage = 'probe' "
                          "AND name = 'loss'", (run_id,))
    assert loss is not None and loss["count"] == 1


def test_container_command_passes_gpus_only_when_the_vm_has_them() -> None:
    job = Path("/tmp/goldfish-j1")
    env = {"PATH": "/host/bin", "HOME": "/root", "PYTHONPATH": f"{job}/runtime", "A": "1"}
    gpu = container_command("img:1", ["python3", "-m", "goldfish._stage"], job, env,
                            name="goldfish-j1", gpus=2, user="1000:1000")
    assert gpu[:6] == ["docker", "run", "--rm", "--init", "--network", "none"]
    assert gpu[gpu.index("--gpus") + 1] == "2"
    assert gpu[gpu.index("-v") + 1] == f"{job}:{job}"
    assert gpu[gpu.index("-w") + 1] == f"{job}/code"
    assert gpu[gpu.index("--user") + 1] == "1000:1000"
    assert gpu[gpu.index("--name") + 1] == "goldfish-j1"
    assert f"PYTHONPATH={job}/runtime" in gpu and "A=1" in gpu
    assert not any(a.startswith(("PATH=", "HOME=")) for a in gpu)  # the image keeps its own
    assert gpu[-4:] == ["img:1", "python3", "-m", "goldfish._stage"]
    cpu = container_command("img:1", ["python3"], job, {}, network="host")
    assert "--gpus" not in cpu and cpu[cpu.index("--network") + 1] == "host"


def test_the_vm_tells_the_worker_its_gpu_count_and_whether_containers_get_a_network(
        tmp_path: Path) -> None:
    from goldfish.compute import Job
    from goldfish_gce.backend import GceBackend

    def items(config: dict[str, Any]) -> dict[str, str]:
        backend = GceBackend(tmp_path, {"project_id": "p", **config})
        job = Job(job_id="j1", run_id="r1", stage="s", job_dir=tmp_path, command=["python"],
                  output_uri="gs://b/jobs/j1")
        body = backend._instance_body("us-central1-a", "gf-j1", job,
                                      backend.settings.machine(False))
        return {i["key"]: i["value"] for i in body["metadata"]["items"]}

    h100 = items({"preset": "h100-spot"})
    assert h100["goldfish-gpu-count"] == "1" and h100["goldfish-container-network"] == "none"
    cpu = items({"preset": "cpu-small", "container_network": True})
    assert cpu["goldfish-gpu-count"] == "0" and cpu["goldfish-container-network"] == "host"
    two = items({"machine_type": "a2-highgpu-2g", "gpu_type": "nvidia-tesla-a100",
                 "gpu_count": 2})
    assert two["goldfish-gpu-count"] == "2"
