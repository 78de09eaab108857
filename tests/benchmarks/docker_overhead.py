"""Benchmark: the overhead of a containerized stage against a bare ``docker run``.

Run: ``.venv/bin/python tests/benchmarks/docker_overhead.py [--rounds 7] [--image IMAGE]``
(needs the engine and image from ``tests/docker_setup.sh``).

Measured with ``DockerBackend`` on a trivial stage (prints a line, saves a json output):
* **run → first line**: ``launch`` until the stage's first line is in its log (what a user
  following the log waits for);
* **run → done**: ``launch`` until ``poll`` reports the exit (the exit record is written).
Baseline in the same run, interleaved round by round: ``docker run --rm IMAGE python3 -c pass``
(the CLI: create, start, wait, remove). Goal: each ratio (medians) ≤ 1.3.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from goldfish.testing.contracts import write_job_dir
from goldfish_docker.backend import DockerBackend
from goldfish_docker.testing import DEFAULT_TEST_IMAGE

GOAL = 1.3
STAGE = """
print("first line", flush=True)
from goldfish import io
io.save_output("out", {"ok": True})
"""


def bare(image: str, *flags: str) -> float:
    start = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", *flags, image, "python3", "-c", "pass"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def stage(backend: DockerBackend, job_dir: Path) -> tuple[float, float]:
    job = write_job_dir(job_dir, STAGE, outputs={"out": {"type": "json", "contract": None}})
    log = job_dir / "log.txt"
    start = time.perf_counter()
    handle = backend.launch(job)
    first = None
    while True:
        if first is None and log.exists() and b"first line" in log.read_bytes():
            first = time.perf_counter() - start
        if (job_dir / "exit.json").exists() and backend.poll(handle).final:
            done = time.perf_counter() - start
            break
        time.sleep(0.005)
    status = backend.poll(handle)
    assert status.exit_code == 0, (status, backend.logs(handle).text)
    backend.release(handle)
    return first if first is not None else done, done


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--image", default=DEFAULT_TEST_IMAGE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        backend = DockerBackend(Path(tmp) / "project", {"image": args.image})
        stage(backend, Path(tmp) / "warm")  # runtime copy, client, page cache
        bare(args.image)
        bases, same_flags, firsts, dones = [], [], [], []
        for i in range(args.rounds):
            bases.append(bare(args.image))
            same_flags.append(bare(args.image, "--init", "--network", "none"))
            first, done = stage(backend, Path(tmp) / f"job{i}")
            firsts.append(first)
            dones.append(done)
    base = statistics.median(bases)
    first, done = statistics.median(firsts), statistics.median(dones)
    print(f"bare `docker run --rm IMAGE python3 -c pass`: {base * 1000:.0f} ms (median of "
          f"{args.rounds})")
    flagged = statistics.median(same_flags)
    print(f"  with --init --network none: {flagged * 1000:.0f} ms "
          f"(stage done / it: {done / flagged:.2f})")
    print(f"stage run → first line: {first * 1000:.0f} ms  ratio {first / base:.2f}")
    print(f"stage run → done:       {done * 1000:.0f} ms  ratio {done / base:.2f}  "
          f"(goal ≤ {GOAL})")
    return 0 if max(first, done) / base <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
