"""Runs on a docker profile through the engine: detached stages that outlive the CLI, preflight
errors instead of failed containers, checks from the engine working unchanged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import goldfish_svs  # noqa: F401  (metric health comes from this plugin)
from docker_support import goldfish, project_containers, settled_run, use_docker_profile
from goldfish.project import Project
from goldfish.runs.records import get_run
from goldfish.testing.projects import CHAIN, make_project

SLOW_CHAIN = {**CHAIN, "modules/prepare.py": """
    import time
    from goldfish import io
    print("prepare started", flush=True)
    time.sleep(4)
    io.save_output("data", {"xs": list(range(io.config()["n"]))})
"""}


def _project(tmp_path: Path, files: dict[str, str], image: str, extra: str = "") -> Path:
    root = make_project(tmp_path, files).root
    use_docker_profile(root, image, extra)
    return root


def test_a_killed_run_wait_is_finished_by_another_process(
        tmp_path: Path, docker_base_image: str) -> None:
    root = _project(tmp_path, SLOW_CHAIN, docker_base_image)
    exe = str(Path(sys.executable).with_name("goldfish"))
    waiter = subprocess.Popen([exe, "run", "w1", "--wait"], cwd=root, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "GOLDFISH_NO_CACHE": "1"})
    try:
        deadline = time.monotonic() + 60
        while not any("prepare started" in p.read_text() for p in
                      (root / ".goldfish" / "runs").glob("*/prepare/log.txt")):
            assert waiter.poll() is None, "run --wait ended before the stage started"
            assert time.monotonic() < deadline, "the stage never started"
            time.sleep(0.1)
        waiter.send_signal(signal.SIGKILL)
        waiter.wait()
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert [c.status for c in project_containers(root)] == ["running"], (
        "the stage's container outlived the process that launched it")
    run = settled_run(root)  # any later command reconciles: here, `goldfish runs`
    assert run.state == "done", [(s.stage, s.state, s.error) for s in run.stages]
    assert [s.state for s in run.stages] == ["done", "done", "done"]
    assert project_containers(root) == []


def test_a_missing_image_is_a_preflight_error_that_says_how_to_build_it(
        tmp_path: Path, docker_base_image: str) -> None:
    root = _project(tmp_path, CHAIN, "goldfish-test/never-built:1")
    proc = goldfish("run", "w1", "--wait", cwd=root, check=False)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "goldfish-test/never-built:1" in text and "not on this machine" in text
    assert "goldfish image build" in text and "docker pull" in text
    assert "Traceback" not in text
    assert not list((root / ".goldfish" / "runs").glob("*/*/launch.json")), "nothing launched"


def test_a_gpu_profile_without_the_nvidia_runtime_is_a_preflight_error(
        tmp_path: Path, docker_base_image: str, docker_engine: dict) -> None:
    assert "nvidia" not in docker_engine["runtimes"], "this test needs a host without GPUs"
    root = _project(tmp_path, CHAIN, docker_base_image, "gpu: all")
    proc = goldfish("run", "w1", "--wait", cwd=root, check=False)
    run = get_run(Project.find(explicit=str(root)), "latest")
    assert run.state == "failed"
    assert all(s.state == "skipped" for s in run.stages), "no container was started"
    text = proc.stdout + proc.stderr + " ".join(f["message"] for f in run.findings)
    assert "NVIDIA runtime" in text, text
    assert project_containers(root) == []


NAN_STAGE = {**CHAIN, "modules/train.py": """
    import time
    from goldfish import io
    io.log_metric("loss", float("nan"), step=0)
    print("logged nan", flush=True)
    for _ in range(600):
        if io.should_stop():
            print("asked to stop", flush=True)
            raise SystemExit(3)
        time.sleep(0.1)
"""}


def test_metric_health_stops_a_containerized_stage(tmp_path: Path,
                                                   docker_base_image: str) -> None:
    root = _project(tmp_path, NAN_STAGE, docker_base_image)
    proc = goldfish("run", "w1", "--wait", cwd=root, check=False)
    run = get_run(Project.find(explicit=str(root)), "latest")
    assert not run.active, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr and "bug in Goldfish" not in proc.stderr, proc.stderr
    train = {s.stage: s for s in run.stages}["train"]
    assert train.state == "failed", (train.state, train.error)
    assert "nonfinite" in (train.error or "") or any(
        f["check"] == "nonfinite_metric" for f in run.findings), run.findings
    log = goldfish("logs", f"{run.id}/train", cwd=root).stdout
    assert "asked to stop" in log, "the stop request reached the stage inside the container"


CONTRACT_BREAK = {**CHAIN, "pipeline.yaml": """
    name: contract
    stages:
      - name: prepare
        outputs: {data: {type: npy, contract: {shape: [null, 3], dtype: float32}}}
""", "modules/prepare.py": """
    import numpy as np
    from goldfish import io
    io.save_output("data", np.zeros((4, 5), dtype=np.float32))
"""}


def test_contracts_are_enforced_at_save_output_inside_the_container(
        tmp_path: Path, docker_base_image: str) -> None:
    files = {k: v for k, v in CONTRACT_BREAK.items() if not k.startswith("modules/") or
             k == "modules/prepare.py"}
    root = _project(tmp_path, files, docker_base_image)
    goldfish("run", "w1", "--wait", cwd=root, check=False)
    run = get_run(Project.find(explicit=str(root)), "latest")
    prepare = run.stages[0]
    assert prepare.state == "failed"
    assert "ContractError" in (prepare.error or "") and "shape" in (prepare.error or "")
    assert not list((root / ".goldfish" / "runs").glob("*/prepare/outputs/data.npy"))


SOURCE_READER = {
    "pipeline.yaml": """
        name: reader
        stages:
          - name: read
            inputs: {table: {source: lookup}}
            outputs: {seen: {type: json}}
    """,
    "modules/read.py": """
        from pathlib import Path
        from goldfish import io
        table = io.load_input("table")
        path = Path("../inputs/table.json")
        try:
            path.write_text("{}")
            wrote = "wrote into the source"
        except OSError as exc:
            wrote = type(exc).__name__ + ": " + exc.strerror
        io.save_output("seen", {"table": table, "write": wrote})
    """,
}


def test_registered_sources_are_mounted_read_only(tmp_path: Path,
                                                  docker_base_image: str) -> None:
    root = _project(tmp_path, SOURCE_READER, docker_base_image)
    (root / "data").mkdir()
    (root / "data" / "lookup.json").write_text(json.dumps({"a": 1, "b": 2}))
    goldfish("sources", "add", "lookup", "data/lookup.json", cwd=root)
    goldfish("run", "w1", "--wait", cwd=root)
    run = get_run(Project.find(explicit=str(root)), "latest")
    assert run.state == "done", [(s.stage, s.state, s.error) for s in run.stages]
    seen = json.loads(next((root / ".goldfish" / "runs").glob(
        "*/read/outputs/seen.json")).read_text())
    assert seen["table"] == {"a": 1, "b": 2}
    assert seen["write"] == "OSError: Read-only file system", seen["write"]
    again = goldfish("run", "w1", "--wait", "--no-cache", cwd=root)
    assert again.returncode == 0
    run = get_run(Project.find(explicit=str(root)), "latest")
    assert run.state == "done", "the stored source is intact for the next run"
