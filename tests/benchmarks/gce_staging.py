"""Benchmark: staging a job through GCS, and run-to-first-line on the fake GCE vs the local backend.

Run: ``.venv/bin/python tests/benchmarks/gce_staging.py [--files 1000] [--rounds 3]``

Starts the GCS emulator and the fake Compute API (boot delay 0) on loopback, then per round:

* staging: a job with ``--files`` code files is staged (first), one file is changed and it is
  staged again; prints the objects each uploaded (the second must be exactly 1) and the times;
* first line: the same one-line stage is launched on the fake GCE (staged, VM, worker, sync) and
  on the local backend, and the time from ``launch`` to the line appearing in ``logs`` is measured
  for each; the ratio gce / local is reported (median over rounds).

Exit code 1 when a re-staging uploads more than one file object.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from goldfish.artifacts import ArtifactStore
from goldfish.builtins.local_compute import LocalBackend
from goldfish.compute import ComputeBackend, Handle, Job
from goldfish.runs.staging import stage_job
from goldfish.testing.contracts import write_job_dir
from goldfish_gce.backend import GceBackend
from goldfish_gce.fake import FakeCompute
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator

STAGE = "print('first line', flush=True)\n"


def first_line(backend: ComputeBackend, job: Job, timeout: float = 60) -> tuple[float, Handle]:
    """Seconds from ``launch`` to the stage's first line in ``logs``; waits for the job to end
    and releases it."""
    start = time.perf_counter()
    handle = backend.launch(job)
    while "first line" not in backend.logs(handle).text:
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"no first line from {backend.name} after {timeout}s")
        time.sleep(0.01)
    took = time.perf_counter() - start
    while not backend.poll(handle).final:
        time.sleep(0.05)
    backend.release(handle)
    return took, handle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    failed = False
    with GcsEmulator.start(buckets=["bench"]), FakeCompute(boot_delay=0.0) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gce = GceBackend(root, {"project_id": "bench", "api_endpoint": fake.endpoint,
                                "zones": ["us-central1-a"], "sync_seconds": 0.2})
        local = LocalBackend(root, {})
        first_t, again_t, gce_t, local_t = [], [], [], []
        for r in range(args.rounds):
            store = ArtifactStore(GcsStorage(root, {}), f"gs://bench/r{r}-{uuid.uuid4().hex[:6]}")
            job = write_job_dir(root / f"job{r}", STAGE)
            for i in range(args.files):
                (job.job_dir / "code" / f"f{i:05d}.py").write_text(f"x = {i}  # round {r}\n")
            t0 = time.perf_counter()
            _, first = stage_job(store, job, root / f"cache{r}")
            t1 = time.perf_counter()
            (job.job_dir / "code" / "f00007.py").write_text("x = 'changed'\n")
            _, again = stage_job(store, job, root / f"cache{r}")
            t2 = time.perf_counter()
            first_t.append(t1 - t0)
            again_t.append(t2 - t1)
            print(f"round {r}: staging uploaded {first} objects in {t1 - t0:.2f}s, "
                  f"again after one change {again} in {t2 - t1:.3f}s")
            failed |= again != 1
            staged, _ = stage_job(store, write_job_dir(root / f"g{r}", STAGE), root / "c")
            gce_t.append(first_line(gce, staged)[0])
            local_t.append(first_line(local, write_job_dir(root / f"l{r}", STAGE))[0])
            print(f"round {r}: launch to first line: gce (fake, boot 0) {gce_t[-1]:.2f}s, "
                  f"local {local_t[-1]:.2f}s")
        ratio = statistics.median(g / loc for g, loc in zip(gce_t, local_t, strict=True))
        print(f"median: staging first {statistics.median(first_t):.2f}s, again "
              f"{statistics.median(again_t):.3f}s; first line gce "
              f"{statistics.median(gce_t):.2f}s vs local {statistics.median(local_t):.2f}s "
              f"= {ratio:.1f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
