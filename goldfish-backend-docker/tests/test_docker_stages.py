"""What a stage sees and how it ends in a container: OOM, cancel, environment, network, file
ownership — each against the real engine."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from docker_support import derived_image, remove_image
from goldfish.compute import Resources
from goldfish.testing.contracts import wait_final, wait_for_log, write_job_dir
from goldfish_docker.backend import DockerBackend

TIMEOUT = 60.0


@pytest.fixture
def backend(tmp_path: Path, docker_base_image: str):  # type: ignore[no-untyped-def]
    made: list[tuple[DockerBackend, object]] = []

    def build(**config: object) -> DockerBackend:
        b = DockerBackend(tmp_path / "project", {"image": docker_base_image, **config})
        made.append((b, None))
        return b

    yield build
    for b, _ in made:
        for found in b.containers():
            from goldfish_docker import engine

            engine.client().containers.get(found["name"]).remove(force=True)


def test_a_stage_past_memory_gb_ends_oom(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = backend()
    job = write_job_dir(tmp_path / "job", """
        chunks = []
        print("allocating", flush=True)
        for _ in range(100):
            chunks.append(bytearray(16 * 1024 * 1024))   # 1.6 GB in all
        print("survived: the limit did not hold")
    """)
    from dataclasses import replace

    job = replace(job, resources=Resources(memory_gb=0.125))
    handle = b.launch(job)
    status = wait_final(b, handle, TIMEOUT)
    assert status.state == "exited" and status.cause == "oom", status
    assert status.exit_code == 137
    assert "memory" in (status.message or "")
    assert "survived" not in b.logs(handle).text
    b.release(handle)
    assert b.poll(handle).cause == "oom", "the verdict outlives the container"


def test_cancel_ends_cancelled_within_the_grace(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = backend()
    handle = b.launch(write_job_dir(tmp_path / "job", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("deaf now", flush=True)
        time.sleep(120)
    """))
    wait_for_log(b, handle, "deaf now", TIMEOUT)
    b.cancel(handle, grace_seconds=1.0)
    status = wait_final(b, handle, TIMEOUT)
    assert status.state == "exited" and status.cause == "cancelled", status
    requested = json.loads((tmp_path / "job" / "cancel").read_text())["requested_at"]
    # the recorded end, not a wall-clock race: SIGKILL came at the grace, not docker's 10 s
    assert status.finished_at is not None and status.finished_at - requested < 1.0 + 5.0
    b.release(handle)
    assert b.containers() == []


def test_the_stage_sees_no_host_environment(backend, tmp_path: Path,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLDFISH_HOST_SECRET", "hunter2-host")
    monkeypatch.setenv("GOLDFISH_PASSED_TOKEN", "token-passed-by-name")
    b = backend(env_passthrough=["GOLDFISH_PASSED_TOKEN"])
    job = write_job_dir(tmp_path / "job", """
        import os
        from goldfish import io
        io.save_output("env", dict(os.environ))
    """, outputs={"env": {"type": "json", "contract": None}}, env={"FROM_PROFILE": "yes"})
    handle = b.launch(job)
    status = wait_final(b, handle, TIMEOUT)
    assert status.exit_code == 0, b.logs(handle).text
    seen = json.loads((job.job_dir / "outputs" / "env.json").read_text())
    assert "GOLDFISH_HOST_SECRET" not in seen
    assert "hunter2-host" not in json.dumps(seen)
    assert seen["GOLDFISH_PASSED_TOKEN"] == "token-passed-by-name"
    assert seen["FROM_PROFILE"] == "yes"
    assert seen["GOLDFISH_JOB_DIR"] == str(job.job_dir.resolve())
    for path in job.job_dir.rglob("*"):  # a passed-through value never lands on disk
        if path.is_file() and path.name != "env.json":
            assert b"token-passed-by-name" not in path.read_bytes(), path
    b.release(handle)


def test_the_stage_has_no_network_by_default(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = backend()
    job = write_job_dir(tmp_path / "job", """
        import os, socket
        from goldfish import io
        try:
            socket.create_connection(("10.255.255.1", 9), timeout=3)
            reached = "connected"
        except OSError as exc:
            reached = type(exc).__name__ + ": " + str(exc)
        io.save_output("net", {"interfaces": sorted(os.listdir("/sys/class/net")),
                               "reached": reached})
    """, outputs={"net": {"type": "json", "contract": None}})
    handle = b.launch(job)
    assert wait_final(b, handle, TIMEOUT).exit_code == 0, b.logs(handle).text
    net = json.loads((job.job_dir / "outputs" / "net.json").read_text())
    assert net["interfaces"] == ["lo"]
    assert net["reached"] != "connected"
    b.release(handle)

    host = backend(network="host")
    job = write_job_dir(tmp_path / "job-host", """
        import os
        from goldfish import io
        io.save_output("net", {"interfaces": sorted(os.listdir("/sys/class/net"))})
    """, outputs={"net": {"type": "json", "contract": None}})
    handle = host.launch(job)
    assert wait_final(host, handle, TIMEOUT).exit_code == 0, host.logs(handle).text
    seen = json.loads((job.job_dir / "outputs" / "net.json").read_text())["interfaces"]
    assert seen == sorted(os.listdir("/sys/class/net")), "network: host is the host's"
    host.release(handle)


WRITE_OUTPUT = """
    from goldfish import io
    from pathlib import Path
    Path("../outputs").mkdir(exist_ok=True)
    io.save_output("result", {"ok": True})
    io.log_metric("x", 1.0)
"""


def test_files_in_outputs_belong_to_the_invoking_user(backend, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      docker_base_image: str) -> None:
    # an image whose default user is nobody: without --user the files would be nobody's
    image = derived_image(docker_base_image, tmp_path, "nobody", extra="USER 65534:65534\n")
    try:
        b = DockerBackend(tmp_path / "project", {"image": image})
        job = write_job_dir(tmp_path / "job", WRITE_OUTPUT,
                            outputs={"result": {"type": "json", "contract": None}})
        handle = b.launch(job)
        assert wait_final(b, handle, TIMEOUT).exit_code == 0, b.logs(handle).text
        for name in ("outputs/result.json", "metrics.jsonl", "log.txt", "exit.json"):
            st = (job.job_dir / name).stat()
            assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), name
        b.release(handle)
    finally:
        remove_image(image)


def test_the_profile_user_owns_what_the_stage_writes(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b = backend(user="4242:4343")
    job = write_job_dir(tmp_path / "job", WRITE_OUTPUT,
                        outputs={"result": {"type": "json", "contract": None}})
    for path in (job.job_dir, job.job_dir / "outputs"):
        path.chmod(0o777)
    handle = b.launch(job)
    assert wait_final(b, handle, TIMEOUT).exit_code == 0, b.logs(handle).text
    st = (job.job_dir / "outputs" / "result.json").stat()
    assert (st.st_uid, st.st_gid) == (4242, 4343)
    b.release(handle)


def test_containers_are_labelled_and_release_removes_them(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from goldfish_docker import engine

    b = backend()
    job = write_job_dir(tmp_path / "job", "print('labelled')")
    handle = b.launch(job)
    wait_final(b, handle, TIMEOUT)
    container = engine.client().containers.get(handle.data["container"])
    labels = container.labels
    assert labels["dev.goldfish.job"] == job.job_id
    assert labels["dev.goldfish.run"] == job.run_id
    assert labels["dev.goldfish.stage"] == job.stage
    assert labels["dev.goldfish.project"] == str((tmp_path / "project").resolve())
    config = container.attrs["HostConfig"]
    assert config["Init"] is True and container.attrs["Config"]["NetworkDisabled"] is True
    assert [c["name"] for c in b.containers()] == [container.name]
    b.release(handle)
    b.release(handle)
    assert b.containers() == []
    assert b.poll(handle).exit_code == 0


def test_a_container_removed_behind_our_back_is_lost(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from goldfish_docker import engine

    b = backend()
    handle = b.launch(write_job_dir(tmp_path / "job", """
        import time
        print("running", flush=True)
        time.sleep(120)
    """))
    wait_for_log(b, handle, "running", TIMEOUT)
    engine.client().containers.get(handle.data["container"]).remove(force=True)
    status = wait_final(b, handle, TIMEOUT)
    assert status.state == "lost", status
    assert handle.data["container"] in (status.message or "") and "removed" in status.message
    assert b.poll(handle).state == "lost"


def test_gpu_becomes_a_device_request(backend, tmp_path: Path,  # type: ignore[no-untyped-def]
                                      docker_engine: dict) -> None:
    """`gpu:` reaches docker as a device request; this engine has no NVIDIA runtime, so docker
    refuses it at start — with a Goldfish error, and nothing left behind (preflight stops such
    runs before this point; see test_docker_runs)."""
    from dataclasses import replace

    from goldfish.errors import GoldfishError

    assert "nvidia" not in docker_engine["runtimes"]
    b = backend()
    job = replace(write_job_dir(tmp_path / "job", "print('on a gpu')"),
                  resources=Resources(gpu_count=-1))
    with pytest.raises(GoldfishError) as excinfo:
        b.launch(job)
    assert "could not start the container" in excinfo.value.message
    assert "device" in excinfo.value.message.lower()
    assert b.containers() == []


def test_profile_mounts_are_read_only(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "shared-data"
    data.mkdir()
    (data / "vocab.txt").write_text("alpha\nbeta\n")
    b = backend(mounts={str(data): "/data"})
    job = write_job_dir(tmp_path / "job", """
        from pathlib import Path
        from goldfish import io
        try:
            Path("/data/new.txt").write_text("x")
            wrote = "wrote"
        except OSError as exc:
            wrote = exc.strerror
        io.save_output("seen", {"vocab": Path("/data/vocab.txt").read_text().split(),
                                "write": wrote})
    """, outputs={"seen": {"type": "json", "contract": None}})
    handle = b.launch(job)
    assert wait_final(b, handle, TIMEOUT).exit_code == 0, b.logs(handle).text
    seen = json.loads((job.job_dir / "outputs" / "seen.json").read_text())
    assert seen == {"vocab": ["alpha", "beta"], "write": "Read-only file system"}
    assert not (data / "new.txt").exists()
    b.release(handle)


def test_profile_resources_reach_the_container(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    b = backend(shm_size_gb=0.25)
    job = replace(write_job_dir(tmp_path / "job", """
        import os
        from pathlib import Path
        from goldfish import io

        def read(*names):
            for name in names:
                p = Path("/sys/fs/cgroup") / name
                if p.exists():
                    return p.read_text().strip()
            return None

        st = os.statvfs("/dev/shm")
        io.save_output("seen", {
            "shm": st.f_blocks * st.f_frsize,
            "memory": read("memory/memory.limit_in_bytes", "memory.max"),
            "cpu": read("cpu/cpu.cfs_quota_us", "cpu.max"),
        })
    """, outputs={"seen": {"type": "json", "contract": None}}),
        resources=Resources(cpus=0.5, memory_gb=0.5))
    handle = b.launch(job)
    assert wait_final(b, handle, TIMEOUT).exit_code == 0, b.logs(handle).text
    seen = json.loads((job.job_dir / "outputs" / "seen.json").read_text())
    assert seen["shm"] == int(0.25 * 1024 ** 3)
    assert seen["memory"] == str(512 * 1024 ** 2)
    assert seen["cpu"].split()[0] == "50000"  # 0.5 of the default 100000 µs period
    b.release(handle)


def test_gpu_capability_follows_the_engine(backend, docker_engine: dict) -> None:  # type: ignore[no-untyped-def]
    b = backend()
    assert b.capabilities.gpu is ("nvidia" in docker_engine["runtimes"])
    assert b.capabilities.shares_filesystem and b.capabilities.detached


def test_ended_containers_nobody_released_are_swept(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A release that never happened (the engine was down, the finishing process died) leaves a
    container; the next release removes it once its exit record is old."""
    b = backend()
    forgotten = b.launch(write_job_dir(tmp_path / "old", "print('forgotten')"))
    recent = b.launch(write_job_dir(tmp_path / "recent", "print('recent')"))
    for handle in (forgotten, recent):
        assert wait_final(b, handle, TIMEOUT).exit_code == 0
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / "old" / "exit.json", (an_hour_ago, an_hour_ago))
    current = b.launch(write_job_dir(tmp_path / "current", "print('current')"))
    wait_final(b, current, TIMEOUT)
    b.release(current)
    names = [c["name"] for c in b.containers()]
    assert names == [recent.data["container"]], names
    assert b.poll(forgotten).exit_code == 0, "its exit record still answers"
    b.release(recent)
    assert b.containers() == []


def test_wait_any_wakes_on_metrics_and_on_the_exit(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The engine's optional wait between looks: file-based (the supervisor's pids are the
    container's), it returns when a metric is flushed and when the stage ends."""
    b = backend()
    handle = b.launch(write_job_dir(tmp_path / "job", """
        import time
        from goldfish import io
        print("started", flush=True)
        time.sleep(1)
        io.log_metric("loss", 0.5)
        time.sleep(2)
    """))
    wait_for_log(b, handle, "started", TIMEOUT)
    b.wait_any([handle], timeout=TIMEOUT)
    metrics = tmp_path / "job" / "metrics.jsonl"
    assert metrics.exists() and metrics.stat().st_size > 0, "woke for the metric"
    b.wait_any([handle], timeout=TIMEOUT)
    assert (tmp_path / "job" / "exit.json").exists(), "woke for the exit"
    assert b.poll(handle).final
    b.release(handle)


def test_the_injected_runtime_is_python_3_9_syntax(tmp_path: Path) -> None:
    """Any image with Python 3.9+ must be able to run the injected files."""
    import ast

    from goldfish_docker.backend import RUNTIME_FILES, runtime_dir

    root = runtime_dir(tmp_path / "project") / "goldfish"
    for rel in RUNTIME_FILES:
        ast.parse((root / rel).read_text(), filename=rel, feature_version=(3, 9))
    assert runtime_dir(tmp_path / "project") == root.parent, "written once per content"
