"""The detached supervisor of one local stage process (standard library only).

``python -m goldfish.builtins._supervisor <job_dir>`` forks once more and returns at once, printing
the pid of the real supervisor, which is then an orphan owned by init: no launching process ever has
to reap it, and it outlives whoever started it (the CLI, the MCP server, a test). The real supervisor:

* records itself in ``supervisor.json`` (pid, ``/proc`` start time, boot id) so a poller can tell it
  from a later process that reused its pid, and touches ``supervisor.heartbeat`` every second;
* runs ``launch.json``'s ``command`` in its own session and process group, with exactly the
  ``env`` given there, ``cwd``, stdin from /dev/null and stdout+stderr appended to ``log.txt``;
* ends the stage when asked or when it overruns: ``cancel`` (written by ``LocalBackend.cancel``)
  → SIGTERM to the group at once, SIGKILL after its grace; a bare ``stop`` file (a cooperative stop
  for ``io.should_stop()``) → the same escalation after ``stop_grace_seconds``, or at once when the
  stage never called ``io.should_stop()`` (no ``stop_polled`` file: nobody would see the stop, and
  a training loop must not run to its end after a blocking finding); ``timeout_seconds``
  → SIGTERM, SIGKILL after ``kill_grace_seconds``. SIGTERM to the supervisor itself does the same
  (recorded as ``killed``); SIGHUP is ignored;
* when the stage's main process ends, kills whatever is left in its process group and writes
  ``exit.json`` atomically (temp file, fsync, rename): ``exit_code``, ``signal``, ``cause``,
  ``message``, ``started_at``, ``finished_at``.

Causes: ``cancelled`` (a stop/cancel request was seen), ``timeout``, ``killed`` (a signal we did not
send, e.g. SIGKILL from outside), ``oom`` (the cgroup's OOM-kill counter moved while the stage was
SIGKILLed, or exit code 137 without our kill), ``error`` (the command could not be started), else
``null`` for a normal exit, whatever its code; ``preempted`` when the profile's ``simulate``
option ended it (a rehearsal of a spot VM going away).

Kept tiny and dependency-free on purpose: it must start fast and never be the reason a run is lost.
"""

from __future__ import annotations

import os
import sys


def _daemonize() -> None:
    """Fork; the parent prints the child's pid and exits so the child is adopted by init.

    Runs before the heavier imports below: the launcher waits only for this line.
    """
    pid = os.fork()
    if pid:
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)


if __name__ == "__main__" and len(sys.argv) == 2 and sys.argv[1] != "--foreground":
    _daemonize()

import json  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the supervisor starts on every launch, and
if TYPE_CHECKING:  # importing typing (or traceback, below) costs milliseconds it need not pay
    from typing import Any

LAUNCH_FILE = "launch.json"
RECORD_FILE = "supervisor.json"
CLAIM_FILE = "supervisor.claim"
HEARTBEAT_FILE = "supervisor.heartbeat"
SUPERVISOR_LOG = "supervisor.log"
EXIT_FILE = "exit.json"
CANCEL_FILE = "cancel"
STOP_FILE = "stop"
STOP_POLLED_FILE = "stop_polled"  # goldfish.io.STOP_POLLED_FILE
LOG_FILE = "log.txt"

TICK_SECONDS = 0.1
HEARTBEAT_SECONDS = 1.0
DEFAULT_KILL_GRACE = 10.0
DEFAULT_STOP_GRACE = 30.0


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def oom_kills() -> int | None:
    """This cgroup's ``oom_kill`` counter (cgroup v2), or None where it cannot be read."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                events = Path("/sys/fs/cgroup") / line[3:].lstrip("/") / "memory.events"
                for entry in events.read_text().splitlines():
                    key, _, value = entry.partition(" ")
                    if key == "oom_kill":
                        return int(value)
    except (OSError, ValueError):
        return None
    return None


def write_json_atomic(path: Path, data: dict[str, Any], mode: int = 0o644, *,
                      durable: bool = True) -> None:
    """Temp file + rename: readers see the old or the new file, never half of one. ``mode`` is set
    before any byte is written, so a private file (0600) is never readable by others, not even
    briefly.

    ``durable`` also fsyncs the file and its directory, so it survives a machine crash: needed
    for the exit record, wasted (milliseconds per file) on what only lives as long as the
    processes it describes (the supervisor record, launch.json, the handle)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.unlink()  # left by a writer that died
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)  # not narrowed by the umask either way
    with open(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if not durable:
        return
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def read_json(path: Path) -> dict[str, Any] | None:
    """A job file's JSON object (the record, handle, exit or cancel file); None when it is
    absent, unreadable, half written or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def file_size(path: Path) -> int:
    """``path``'s size in bytes, -1 when it is absent (a metrics file not yet written)."""
    try:
        return path.stat().st_size
    except OSError:
        return -1


def file_mtime(path: Path) -> float | None:
    """``path``'s modification time (a heartbeat, an exit record), None when it is absent."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Supervisor:
    def __init__(self, job_dir: Path) -> None:
        self.job_dir = job_dir
        spec = json.loads((job_dir / LAUNCH_FILE).read_text(encoding="utf-8"))
        self.command: list[str] = list(spec["command"])
        self.env: dict[str, str] = dict(spec.get("env", {}))
        self.env.update({k: os.environ[k] for k in spec.get("env_from_supervisor", [])
                         if k in os.environ})
        self.cwd = str(spec.get("cwd") or job_dir)
        self.timeout: float | None = spec.get("timeout_seconds")
        self.kill_grace = float(spec.get("kill_grace_seconds", DEFAULT_KILL_GRACE))
        self.stop_grace = float(spec.get("stop_grace_seconds", DEFAULT_STOP_GRACE))
        self.preempt_after: float | None = spec.get("preempt_after_seconds")
        self.cause: str | None = None
        self.message: str | None = None
        self.sent_kill = False
        self.kill_at: float | None = None
        self.terminated = False  # SIGTERM delivered to the supervisor itself
        self.record: dict[str, Any] = {"pid": os.getpid(), "start_time": proc_start_time(os.getpid()),
                                       "boot_id": boot_id(), "supervisor_started_at": time.time()}

    # --- bookkeeping ------------------------------------------------------------------------
    def _beat(self) -> None:
        path = self.job_dir / HEARTBEAT_FILE
        try:
            os.utime(path)
        except FileNotFoundError:
            path.touch()

    def _write_exit(self, exit_code: int | None, signum: int | None, started: float | None) -> None:
        write_json_atomic(self.job_dir / EXIT_FILE, {
            "exit_code": exit_code, "signal": signum, "cause": self.cause,
            "message": self.message, "started_at": started, "finished_at": time.time()})

    # --- ending the stage -------------------------------------------------------------------
    def _terminate(self, pgid: int, cause: str, grace: float, message: str) -> None:
        if self.kill_at is not None:
            return
        self.cause, self.message = cause, message
        self._signal_group(pgid, signal.SIGTERM)
        self.kill_at = time.monotonic() + max(grace, 0.0)

    def _signal_group(self, pgid: int, signum: int) -> None:
        if signum == signal.SIGKILL:
            self.sent_kill = True
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _requested_grace(self) -> float | None:
        """Grace from a ``cancel`` request; None when there is no request."""
        path = self.job_dir / CANCEL_FILE
        if not path.exists():
            return None
        try:
            return float(json.loads(path.read_text(encoding="utf-8")).get("grace_seconds", 0.0))
        except (OSError, ValueError, AttributeError, TypeError):
            return self.kill_grace

    # --- main -------------------------------------------------------------------------------
    def claim(self) -> bool:
        """Exclusive-create ``supervisor.claim``: at most one supervisor ever runs a job, even
        when a launcher died after starting one and the next launcher started another."""
        try:
            fd = os.open(self.job_dir / CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return True

    def run(self) -> int:
        if not self.claim():
            sys.stderr.write(f"supervisor {os.getpid()}: another supervisor already runs "
                             f"{self.job_dir}; exiting without touching it\n")
            return 0
        write_json_atomic(self.job_dir / RECORD_FILE, self.record, durable=False)
        self._beat()
        oom_before = oom_kills()
        if self._requested_grace() is not None:  # cancelled before it ever started
            self.cause, self.message = "cancelled", "cancelled before the stage started"
            self._write_exit(None, None, None)
            return 0
        log = open(self.job_dir / LOG_FILE, "ab", buffering=0)  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        except (OSError, ValueError) as exc:
            self.cause = "error"
            self.message = f"could not start stage command {self.command!r}: {exc}"
            log.write((self.message + "\n").encode())
            log.close()
            self._write_exit(None, None, None)
            return 0
        log.close()
        started = time.time()
        self.record.update(stage_pid=proc.pid, stage_start_time=proc_start_time(proc.pid),
                           stage_started_at=started)
        write_json_atomic(self.job_dir / RECORD_FILE, self.record, durable=False)
        try:
            status = self._watch(proc, started)
        except BaseException:  # a supervisor bug must still leave an exit record and no stage
            self._signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            self.cause = "error"
            import traceback

            self.message = "supervisor failed: " + traceback.format_exc(limit=3)[-1500:]
            self._write_exit(proc.returncode, None, started)
            raise
        self._conclude(status, oom_before)
        self._write_exit(*status, started)
        return 0

    def _watch(self, proc: subprocess.Popen[bytes], started: float) -> tuple[int | None, int | None]:
        pgid = proc.pid
        # Sleep on the stage's pidfd (Linux ≥ 5.3): its exit wakes the loop at once instead of
        # at the next tick, so the exit record follows the stage's end by milliseconds.
        try:
            exited_fd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            exited_fd = None
        try:
            return self._watch_loop(proc, started, pgid, exited_fd)
        finally:
            if exited_fd is not None:
                os.close(exited_fd)

    def _watch_loop(self, proc: subprocess.Popen[bytes], started: float, pgid: int,
                    exited_fd: int | None) -> tuple[int | None, int | None]:
        last_beat = 0.0
        stop_seen_at: float | None = None
        deadline = started + self.timeout if self.timeout else None
        while True:
            # Wait without reaping so the group still exists (and its id cannot be reused) while
            # the leftovers are killed.
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                break
            now = time.time()
            if now - last_beat >= HEARTBEAT_SECONDS:
                self._beat()
                last_beat = now
            grace = self._requested_grace()
            if grace is not None:
                self._terminate(pgid, "cancelled", grace, "cancelled on request")
            elif (self.job_dir / STOP_FILE).exists():
                stop_seen_at = stop_seen_at or now
                if self.cause is None:
                    self.cause, self.message = "cancelled", "stopped on request"
                if not (self.job_dir / STOP_POLLED_FILE).exists():
                    self._terminate(pgid, "cancelled", self.kill_grace,
                                    "stop requested; the stage never calls "
                                    "goldfish.io.should_stop(), so it was terminated at once")
                elif now - stop_seen_at >= self.stop_grace:
                    self._terminate(pgid, "cancelled", self.kill_grace,
                                    f"stop requested; the stage did not stop within "
                                    f"{self.stop_grace:g}s, so it was terminated")
            if deadline is not None and now >= deadline:
                self._terminate(pgid, "timeout", self.kill_grace,
                                f"exceeded its timeout of {self.timeout:g}s")
            if self.preempt_after is not None and now >= started + self.preempt_after:
                self._terminate(pgid, "preempted", self.kill_grace,
                                f"simulated spot preemption after {self.preempt_after:g}s")
            if self.terminated:
                self._terminate(pgid, "killed", self.kill_grace,
                                "the supervisor received SIGTERM (machine shutting down?)")
            if self.kill_at is not None and not self.sent_kill and time.monotonic() >= self.kill_at:
                self._signal_group(pgid, signal.SIGKILL)
            if exited_fd is not None:
                select.select([exited_fd], [], [], TICK_SECONDS)
            else:
                time.sleep(TICK_SECONDS)
        # The main process is gone: nothing of the stage may outlive its exit record.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        rc = proc.returncode
        return (None, -rc) if rc < 0 else (rc, None)

    def _conclude(self, status: tuple[int | None, int | None], oom_before: int | None) -> None:
        exit_code, signum = status
        if self.cause is not None:  # we ended it, or it was asked to stop and did
            return
        if signum is not None:
            name = _signal_name(signum)
            after = oom_kills()
            if signum == signal.SIGKILL and None not in (oom_before, after) and after != oom_before:
                self.cause = "oom"
                self.message = "the stage was SIGKILLed by the kernel's OOM killer (out of memory)"
            else:
                self.cause = "killed"
                self.message = (f"the stage was killed by {name} ({signum}), which the supervisor "
                                "did not send (killed from outside, or by the OOM killer)")
        elif exit_code == 137:
            self.cause = "oom"
            self.message = ("the stage exited with code 137 (128 + SIGKILL) without being "
                            "cancelled: a child process was probably killed for running out of "
                            "memory")


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--foreground"]
    if len(args) != 1:
        sys.stderr.write("usage: python -m goldfish.builtins._supervisor [--foreground] JOB_DIR\n")
        return 2
    job_dir = Path(args[0]).resolve()  # (daemonized at import time unless --foreground)
    try:
        supervisor = Supervisor(job_dir)
    except Exception as exc:  # unreadable launch.json: leave a record instead of a mystery
        write_json_atomic(job_dir / EXIT_FILE, {
            "exit_code": None, "signal": None, "cause": "error", "started_at": None,
            "message": f"supervisor could not read {job_dir / LAUNCH_FILE}: {exc}",
            "finished_at": time.time()})
        return 1
    # Handlers (not SIG_IGN) so the stage does not inherit them across exec.
    signal.signal(signal.SIGHUP, lambda *_: None)

    def on_term(*_: object) -> None:
        supervisor.terminated = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, lambda *_: None)
    return supervisor.run()


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Everything is written and closed: skip the interpreter's teardown, so whoever waits on
    # this process (the engine holds its pidfd) wakes as soon as the exit record exists.
    sys.stderr.flush()
    os._exit(code)
