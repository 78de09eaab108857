"""A single-threaded launcher forks the local supervisor instead of starting an interpreter for
it (issue 10 item 4: a stage's launch no longer pays a Python start-up and the supervisor's
imports); the forked supervisor behaves as the exec'd one: its own session, the environment
and standard streams it would have had, no inherited descriptors, and the same records."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import json, os, sys, time
from goldfish.runs.engine import Engine
from goldfish.testing.projects import make_project

STAGE = '''
import os, time
from goldfish import io
while not (io.job_dir() / "go").exists():
    time.sleep(0.01)
io.save_output("out", {"secret": os.environ.get("BENCH_SECRET"),
                       "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))})
'''
project = make_project(__import__("pathlib").Path(sys.argv[1]), {
    "pipeline.yaml": "name: one\nstages:\n  - name: work\n    outputs: {out: {type: json}}\n",
    "modules/work.py": STAGE})
cfg = project.config_path
cfg.write_text(cfg.read_text().replace("  local: {backend: local}",
                                       "  local: {backend: local, env_passthrough: [BENCH_SECRET]}"))
project.reload_config()
held = open(sys.argv[1] + "/held.txt", "w")  # a descriptor the supervisor must not inherit
engine = Engine(project)
run_id = engine.run("w1")
job = engine.job_dir(run_id, "work")
handle = json.loads((job / "handle.json").read_text())
pid = handle["data"]["pid"]
deadline = time.time() + 60
while time.time() < deadline:  # the stage runs: the supervisor opened what it needs
    record = job / "supervisor.json"
    if record.exists() and json.loads(record.read_text() or "{}").get("stage_started_at"):
        break
    time.sleep(0.01)
cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
fds = sorted(os.readlink(f"/proc/{pid}/fd/{f}") for f in os.listdir(f"/proc/{pid}/fd"))
session = os.getsid(pid) == pid
(job / "go").write_text("")
state = engine.wait(run_id, timeout=60)
out = json.loads((job / "outputs" / "out.json").read_text())
print(json.dumps({"state": state, "forked": b"goldfish.builtins._supervisor" not in cmdline,
                  "session": session, "supervisor_fds": fds,
                  "secret": out["secret"], "exit": json.loads((job / "exit.json").read_text())
                  ["exit_code"]}))
"""


def launch(tmp_path: Path, **env: str) -> dict[str, object]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    full.update(env, BENCH_SECRET="s3cret")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], env=full,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_supervisor_is_forked_and_behaves_as_the_started_one(tmp_path: Path) -> None:
    forked = launch(tmp_path / "forked")
    started = launch(tmp_path / "started", GOLDFISH_SUPERVISOR_EXEC="1")
    assert forked["forked"] is True and started["forked"] is False
    for result in (forked, started):
        assert result["state"] == "done" and result["exit"] == 0
        assert result["session"] is True  # detached: a closed terminal does not end it
        assert result["secret"] == "s3cret"  # passed through the supervisor's environment
    # stdin, stdout, stderr (its log), and what it opened itself (the stage's pidfd, its log):
    # nothing of the launcher's (the database, held.txt)
    for result, root in ((forked, "forked"), (started, "started")):
        fds = [re.sub(r"r-\d{8}-[0-9a-f]+", "RUN", f.replace(str(tmp_path / root), "ROOT"))
               for f in result["supervisor_fds"]]  # type: ignore[attr-defined]
        assert not [f for f in fds if "held.txt" in f or "goldfish.db" in f], fds
        result["supervisor_fds"] = sorted(fds)
    assert forked["supervisor_fds"] == started["supervisor_fds"]
