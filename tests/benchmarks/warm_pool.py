"""Benchmark: dispatch-to-first-line of a warm-pool run against a cold one, on the fake GCE.

Run: ``.venv/bin/python tests/benchmarks/warm_pool.py [--boot-delay 20] [--rounds 2]``

Starts the GCS emulator and the fake Compute API with a realistic boot delay (default 20 s: a
CPU VM reaching its startup script; GPU VMs take minutes), then per round, in a fresh project
with ``gce.warm_pool`` enabled, runs two jobs one after the other on the same pooled profile:

* cold: the first job creates a VM (boot delay, boot script, worker) and runs;
* warm: the second job claims the now idle VM and is signalled through its metadata.

For each, the time from ``launch`` to the stage's first line appearing in ``logs`` is measured;
the medians and the ratio cold / warm are printed (goal: >= 10x). Exit code 1 when the warm run
created an instance.

Then the pickup: on one pooled VM that waits on the metadata server (a hanging GET answered by
the ``setMetadata``) and on one that polls it every 0.5 s as the worker did before (the
``poll_seconds`` member setting, kept for this baseline only), ``--pickups`` jobs each; a pickup
is the time from the ``setMetadata`` reaching the fake to the stage's start (``started.json``),
and the metadata requests the idle VM makes are counted over ``--idle`` seconds. Printed: the
median pickups, their ratio poll / wait, and the idle requests of each (a waiting VM asks
once per ``timeout_sec``, 30 s; use ``--idle 61`` to see two).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from gce_staging import STAGE, first_line  # the same stage and measure as the staging benchmark
from goldfish.artifacts import ArtifactStore
from goldfish.compute import Job
from goldfish.runs.staging import stage_job
from goldfish.testing.contracts import write_job_dir
from goldfish_gce.backend import GceBackend
from goldfish_gce.fake import FakeCompute
from goldfish_gce.pool import WarmPoolManager
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator

POLL_SECONDS = 0.5  # what pool.py set for idle timeouts of 10 s and more before the watch


def project(root: Path, fake: FakeCompute) -> tuple[GceBackend, ArtifactStore]:
    root.mkdir()
    store = f"gs://bench/pool-{uuid.uuid4().hex[:8]}"
    (root / "goldfish.yaml").write_text(yaml.safe_dump({
        "project": "bench", "storage": store,
        "gce": {"warm_pool": {"enabled": True, "max_instances": 1,
                              "idle_timeout_minutes": 10}}}))
    backend = GceBackend(root, {"project_id": "bench", "api_endpoint": fake.endpoint,
                                "zones": ["us-central1-a"], "sync_seconds": 0.5})
    return backend, ArtifactStore(GcsStorage(root, {}), store)


def job(root: Path, artifacts: ArtifactStore, n: int) -> Job:
    """The benchmark's stage as job ``n`` of the project at ``root``, staged."""
    raw = write_job_dir(root / f"job{n}", STAGE)
    return stage_job(artifacts, raw, root / "cache")[0]


def pickups(fake: FakeCompute, root: Path, poll: bool, count: int,
            idle: float) -> tuple[list[float], int]:
    """Pickup times (setMetadata -> stage started) of ``count`` jobs on one pooled VM, and the
    metadata requests the VM made in ``idle`` seconds idle."""
    original = WarmPoolManager.member_settings

    def polling(self: WarmPoolManager, name: str) -> str:
        return json.dumps({**json.loads(original(self, name)), "poll_seconds": POLL_SECONDS})

    if poll:  # the worker before the watch: a plain read every POLL_SECONDS
        WarmPoolManager.member_settings = polling  # type: ignore[method-assign]
    try:
        backend, artifacts = project(root, fake)
        n = iter(range(1000))
        _, vm = first_line(backend, job(root, artifacts, next(n)), timeout=300)
        name = vm.data["name"]
        time.sleep(1.0)  # the worker reports idle and settles into its wait
        quiet = time.time()
        time.sleep(idle)
        asked = len(fake.metadata_requests(name, quiet))
        took: list[float] = []
        for _ in range(count):
            before = time.time()
            handle = backend.launch(job(root, artifacts, next(n)))
            if handle.data["name"] != name:
                raise SystemExit("the pickup job did not reuse the pooled VM")
            [signal] = [r for r in fake.requests if r.started >= before
                        and r.path.endswith(f"/instances/{name}/setMetadata")]
            while not backend.poll(handle).final:
                time.sleep(0.05)
            started: dict[str, Any] = backend._json(
                f"{handle.data['output_uri']}/started.json") or {}
            took.append(float(started["started_at"]) - signal.started)
            backend.release(handle)
            # back to idle and in its wait; a random phase against the poll's clock
            time.sleep(0.3 + random.random() * POLL_SECONDS)
        backend.drain_pool()
        return took, asked
    finally:
        WarmPoolManager.member_settings = original  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot-delay", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pickups", type=int, default=7)
    parser.add_argument("--idle", type=float, default=6.0)
    args = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    failed = False
    with GcsEmulator.start(buckets=["bench"]), \
            FakeCompute(boot_delay=args.boot_delay) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            root = Path(tmp) / f"round{round_}"
            backend, artifacts = project(root, fake)
            first, second = job(root, artifacts, 1), job(root, artifacts, 2)
            took, cold_vm = first_line(backend, first, timeout=300)
            cold.append(took)
            inserts = len(fake.inserts)
            took, warm_vm = first_line(backend, second, timeout=300)
            warm.append(took)
            if len(fake.inserts) != inserts or warm_vm.data["name"] != cold_vm.data["name"]:
                print(f"round {round_}: the warm run created an instance")
                failed = True
            print(f"round {round_}: cold {cold[-1]:.2f}s, warm {warm[-1]:.2f}s")
            backend.drain_pool()
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"boot delay {args.boot_delay:g}s; dispatch to first line: cold {c:.2f}s, "
              f"warm {w:.2f}s (median of {args.rounds}); warm is {c / w:.1f}x faster "
              "(goal >= 10x)")
        if args.pickups:
            fake.boot_delay = 0.0  # the pickup is measured on booted VMs
            results = {mode: pickups(fake, Path(tmp) / mode, mode == "poll", args.pickups,
                                     args.idle) for mode in ("wait", "poll")}
            for mode, (took, asked) in results.items():
                print(f"pickup ({mode}): median {statistics.median(took) * 1000:.0f} ms "
                      f"(min {min(took) * 1000:.0f}, max {max(took) * 1000:.0f}, "
                      f"{len(took)} jobs); metadata requests while idle: {asked} in "
                      f"{args.idle:g}s")
            wait_p, poll_p = (statistics.median(results[m][0]) for m in ("wait", "poll"))
            print(f"setMetadata to stage start: waiting {wait_p * 1000:.0f} ms, polling every "
                  f"{POLL_SECONDS:g}s {poll_p * 1000:.0f} ms; waiting is {poll_p / wait_p:.1f}x "
                  "faster")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
