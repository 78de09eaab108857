"""The built-in local backend: the compute contract, plus what only a local process can show —
surviving its launcher, telling kills apart, pid reuse, and a clean stage environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from goldfish import plugins
from goldfish.builtins import _supervisor as sup
from goldfish.builtins.local_compute import LocalBackend, goldfish_path_entry
from goldfish.compute import Handle, Job
from goldfish.errors import InvalidInputError, NotFoundError
from goldfish.testing.contracts import (
    SLEEPER,
    BackendFactory,
    ComputeBackendContract,
    wait_final,
    wait_for_log,
    write_job_dir,
)

TIMEOUT = 60.0


class TestLocalBackend(ComputeBackendContract):
    config_model = "goldfish.builtins.local_compute:LocalConfig"

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        return BackendFactory("goldfish.builtins.local_compute:LocalBackend", tmp_path,
                              {"kill_grace_seconds": 1})


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path, {"kill_grace_seconds": 2})


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., Job]:
    counter = iter(range(1000))

    def make(source: str, **kwargs: object) -> Job:
        return write_job_dir(tmp_path / f"job{next(counter)}", source, **kwargs)  # type: ignore[arg-type]

    return make


def _record(job: Job) -> dict:
    return json.loads((job.job_dir / sup.RECORD_FILE).read_text())


def _wait_record(job: Job, key: str) -> dict:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            record = _record(job)
            if key in record:
                return record
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, f"supervisor never recorded {key}"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_registered_as_local_with_capabilities() -> None:
    spec = plugins.build(load_entry_points=False).compute_backend("local")
    assert spec.factory == "goldfish.builtins.local_compute:LocalBackend"
    assert spec.load() is LocalBackend
    assert spec.capabilities.detached and spec.capabilities.shares_filesystem


def test_job_survives_the_death_of_its_launcher(tmp_path: Path) -> None:
    job = write_job_dir(tmp_path / "job", """
        import time
        from goldfish import io
        time.sleep(1.5)
        io.save_output("done", {"ok": True})
    """, outputs={"done": {"type": "json"}})
    launcher = subprocess.Popen([sys.executable, "-c", f"""
import json, sys, time
from pathlib import Path
from goldfish.builtins.local_compute import LocalBackend
from goldfish.compute import Job
job = Job(job_id={job.job_id!r}, run_id={job.run_id!r}, stage={job.stage!r},
          job_dir=Path({str(job.job_dir)!r}), command={job.command!r})
handle = LocalBackend(Path({str(tmp_path)!r}), {{}}).launch(job)
print(json.dumps(handle.to_json()), flush=True)
time.sleep(600)
"""], stdout=subprocess.PIPE, text=True)
    assert launcher.stdout is not None
    handle = Handle.from_json(json.loads(launcher.stdout.readline()))
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    backend = LocalBackend(tmp_path, {})
    status = wait_final(backend, handle, TIMEOUT)
    assert status.state == "exited" and status.exit_code == 0, status
    assert json.loads((job.job_dir / "exit.json").read_text())["exit_code"] == 0
    assert json.loads((job.job_dir / "outputs" / "done.json").read_text()) == {"ok": True}


def test_stage_killed_from_outside_is_cause_killed(backend: LocalBackend,
                                                   make_job: Callable[..., Job]) -> None:
    job = make_job(SLEEPER)
    handle = backend.launch(job)
    wait_for_log(backend, handle, "sleeping now", TIMEOUT)
    os.kill(_record(job)["stage_pid"], signal.SIGKILL)
    status = wait_final(backend, handle, TIMEOUT)
    assert status.state == "exited" and status.cause == "killed", status
    assert status.exit_code is None
    assert "SIGKILL" in (status.message or "")
    assert json.loads((job.job_dir / "exit.json").read_text())["signal"] == signal.SIGKILL


def test_vanished_supervisor_is_lost_and_release_ends_the_stage(
        backend: LocalBackend, make_job: Callable[..., Job]) -> None:
    job = make_job(SLEEPER)
    handle = backend.launch(job)
    wait_for_log(backend, handle, "sleeping now", TIMEOUT)
    record = _record(job)
    os.kill(record["pid"], signal.SIGKILL)
    deadline = time.monotonic() + TIMEOUT
    while _alive(record["pid"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status = backend.poll(handle)
    assert status.state == "lost", status
    assert status.message == (f"supervisor process {record['pid']} vanished (killed or machine "
                              "restarted) before the stage finished")
    assert _alive(record["stage_pid"])  # the orphaned stage is still there...
    backend.release(handle)
    deadline = time.monotonic() + TIMEOUT
    while _alive(record["stage_pid"]):  # ...until release kills it
        assert time.monotonic() < deadline, "release left the stage running"
        time.sleep(0.05)
    backend.release(handle)
    assert backend.poll(handle).state == "lost"


def test_pid_reused_by_another_process_is_not_the_supervisor(
        backend: LocalBackend, make_job: Callable[..., Job]) -> None:
    job = make_job("print('done')")
    handle = backend.launch(job)
    wait_final(backend, handle, TIMEOUT)
    (job.job_dir / "exit.json").unlink()
    record = _record(job)
    record["pid"] = os.getpid()  # alive, but started at another time than recorded
    sup.write_json_atomic(job.job_dir / sup.RECORD_FILE, record)
    status = backend.poll(handle)
    assert status.state == "lost", status
    assert str(os.getpid()) in (status.message or "")


def test_a_launch_still_starting_is_pending_not_lost(backend: LocalBackend,
                                                     make_job: Callable[..., Job]) -> None:
    job = make_job("print('x')")
    handle = Handle("local", job.job_id, {"job_dir": str(job.job_dir), "launched_at": time.time()})
    assert backend.poll(handle).state == "pending"
    old = Handle("local", job.job_id, {"job_dir": str(job.job_dir),
                                       "launched_at": time.time() - 3600})
    assert backend.poll(old).state == "lost"


def test_stage_env_is_minimal_and_secrets_do_not_leak(
        tmp_path: Path, make_job: Callable[..., Job], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLDFISH_TEST_SECRET_TOKEN", "hunter2-secret")
    monkeypatch.setenv("GOLDFISH_TEST_ALLOWED", "visible")
    monkeypatch.setenv("GOLDFISH_TEST_PASSED_KEY", "passed-secret")
    backend = LocalBackend(tmp_path, {"env_passthrough": ["GOLDFISH_TEST_ALLOWED",
                                                          "GOLDFISH_TEST_PASSED_KEY"]})
    job = make_job("""
        import os
        from goldfish import io
        io.save_output("env", dict(os.environ))
    """, outputs={"env": {"type": "json"}}, env={"STAGE_SETTING": "from-job"})
    status = wait_final(backend, backend.launch(job), TIMEOUT)
    assert status.exit_code == 0, (job.job_dir / "log.txt").read_text()
    env = json.loads((job.job_dir / "outputs" / "env.json").read_text())
    assert "GOLDFISH_TEST_SECRET_TOKEN" not in env
    assert "hunter2-secret" not in json.dumps(env)
    assert "hunter2-secret" not in (job.job_dir / "launch.json").read_text()
    assert env["GOLDFISH_TEST_ALLOWED"] == "visible"
    # a passed-through value reaches the stage but is not written into the job directory
    assert env["GOLDFISH_TEST_PASSED_KEY"] == "passed-secret"
    assert not [f for f in job.job_dir.rglob("*") if f.is_file() and f.name != "env.json"
                and b"passed-secret" in f.read_bytes()]
    assert env["STAGE_SETTING"] == "from-job"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert Path(env["GOLDFISH_JOB_DIR"]) == job.job_dir.resolve()
    assert goldfish_path_entry() in env["PYTHONPATH"].split(os.pathsep)
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER",
                        "LOGNAME", "PYTHONPATH", "PYTHONUNBUFFERED", "GOLDFISH_JOB_DIR",
                        "GOLDFISH_TEST_ALLOWED", "GOLDFISH_TEST_PASSED_KEY", "STAGE_SETTING"}


def test_concurrent_launches_start_one_supervisor(backend: LocalBackend,
                                                  make_job: Callable[..., Job]) -> None:
    job = make_job("""
        import time
        print("started once", flush=True)
        time.sleep(0.5)
    """)
    handles: list[Handle] = []
    threads = [threading.Thread(target=lambda: handles.append(backend.launch(job)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({json.dumps(h.to_json(), sort_keys=True) for h in handles}) == 1
    wait_final(backend, handles[0], TIMEOUT)
    assert backend.logs(handles[0]).text.count("started once") == 1


def test_exit_code_137_without_our_kill_hints_oom(backend: LocalBackend, tmp_path: Path) -> None:
    job = write_job_dir(tmp_path / "j", "", command=[sys.executable, "-c",
                                                      "import sys; sys.exit(137)"])
    status = wait_final(backend, backend.launch(job), TIMEOUT)
    assert status.exit_code == 137 and status.cause == "oom", status
    assert "memory" in (status.message or "")


def test_unstartable_command_is_an_error_with_its_name(backend: LocalBackend,
                                                       tmp_path: Path) -> None:
    job = write_job_dir(tmp_path / "j", "", command=["/no/such/interpreter", "-m", "x"])
    handle = backend.launch(job)
    status = wait_final(backend, handle, TIMEOUT)
    assert status.state == "exited" and status.cause == "error", status
    assert "/no/such/interpreter" in (status.message or "")
    assert "/no/such/interpreter" in backend.logs(handle).text


def test_heartbeat_and_running_state_are_reported(backend: LocalBackend,
                                                  make_job: Callable[..., Job]) -> None:
    handle = backend.launch(make_job("""
        import time
        from goldfish import io
        io.heartbeat()
        print("beating", flush=True)
        time.sleep(600)
    """))
    wait_for_log(backend, handle, "beating", TIMEOUT)
    status = backend.poll(handle)
    assert status.state == "running" and status.heartbeat_at is not None
    assert status.started_at is not None
    beat = Path(handle.data["job_dir"]) / "heartbeat"  # touched once by io.heartbeat()
    assert status.heartbeat_at == beat.stat().st_mtime
    backend.cancel(handle, grace_seconds=1)
    assert wait_final(backend, handle, TIMEOUT).cause == "cancelled"


def test_cooperative_stop_via_should_stop(backend: LocalBackend,
                                          make_job: Callable[..., Job]) -> None:
    job = make_job("""
        import time
        from goldfish import io
        print("looping", flush=True)
        while not io.should_stop():
            time.sleep(0.05)
        print("stopped cleanly", flush=True)
    """)
    handle = backend.launch(job)
    wait_for_log(backend, handle, "looping", TIMEOUT)
    (job.job_dir / "stop").touch()
    status = wait_final(backend, handle, TIMEOUT)
    assert status.exit_code == 0 and status.cause == "cancelled", status
    assert "stopped cleanly" in backend.logs(handle).text


def test_logs_hold_back_a_split_utf8_character(backend: LocalBackend, tmp_path: Path) -> None:
    job_dir = tmp_path / "j"
    job_dir.mkdir()
    (job_dir / "log.txt").write_bytes("ab€".encode()[:-1])  # the last byte is not written yet
    handle = Handle("local", "j", {"job_dir": str(job_dir), "launched_at": time.time()})
    chunk = backend.logs(handle)
    assert chunk.text == "ab" and chunk.cursor == 2 and not chunk.complete
    with open(job_dir / "log.txt", "ab") as fh:
        fh.write("€".encode()[-1:] + b"\n")
    sup.write_json_atomic(job_dir / "exit.json", {"exit_code": 0, "signal": None, "cause": None})
    rest = backend.logs(handle, cursor=chunk.cursor)
    assert rest.text == "€\n" and rest.complete


def test_launch_refuses_a_job_without_its_directory(backend: LocalBackend, tmp_path: Path) -> None:
    job = Job("j", "r", "s", tmp_path / "missing", ["true"])
    with pytest.raises(NotFoundError) as excinfo:
        backend.launch(job)
    assert str(tmp_path / "missing") in str(excinfo.value)
    job_dir = tmp_path / "nocode"
    job_dir.mkdir()
    with pytest.raises(NotFoundError, match="code/"):
        backend.launch(Job("j", "r", "s", job_dir, ["true"]))
    with pytest.raises(InvalidInputError, match="command"):
        backend.launch(Job("j", "r", "s", job_dir, []))
    assert not (job_dir / "launch.lock").exists()


def test_bad_env_passthrough_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="env_passthrough"):
        LocalBackend(tmp_path, {"env_passthrough": "CUDA_VISIBLE_DEVICES"})


def test_fetch_into_another_directory_copies_results(backend: LocalBackend,
                                                     make_job: Callable[..., Job],
                                                     tmp_path: Path) -> None:
    job = make_job("""
        from goldfish import io
        print("fetched log")
        io.save_output("m", {"v": 1})
    """, outputs={"m": {"type": "json"}})
    handle = backend.launch(job)
    wait_final(backend, handle, TIMEOUT)
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    backend.fetch(handle, elsewhere)
    assert json.loads((elsewhere / "outputs" / "m.json").read_text()) == {"v": 1}
    assert "fetched log" in (elsewhere / "log.txt").read_text()
    assert json.loads((elsewhere / "exit.json").read_text())["exit_code"] == 0


def test_profile_keys_reach_the_backend_through_goldfish_yaml(
        tmp_path: Path, make_job: Callable[..., Job], monkeypatch: pytest.MonkeyPatch) -> None:
    from goldfish.config import load_config
    from goldfish.errors import GoldfishError

    manager = plugins.build(load_entry_points=False)
    path = tmp_path / "goldfish.yaml"
    path.write_text("project: p\nprofiles:\n  local:\n    backend: local\n"
                    "    env_passthrough: [GOLDFISH_TEST_GPU]\n    kill_grace_seconds: 1\n")
    profile = load_config(path, manager).profile("local")
    backend = LocalBackend(tmp_path, profile.backend_config)
    assert backend.env_passthrough == ("GOLDFISH_TEST_GPU",) and backend.kill_grace == 1
    monkeypatch.setenv("GOLDFISH_TEST_GPU", "0,1")
    job = make_job("import os; print('gpu=' + os.environ['GOLDFISH_TEST_GPU'])")
    handle = backend.launch(job)
    assert wait_final(backend, handle, TIMEOUT).exit_code == 0
    assert "gpu=0,1" in backend.logs(handle).text

    path.write_text("project: p\nprofiles:\n  local:\n    backend: local\n"
                    "    env_passthru: [X]\n")
    with pytest.raises(GoldfishError) as excinfo:
        load_config(path, manager)
    assert "env_passthru" in str(excinfo.value) and "env_passthrough" in str(excinfo.value)
