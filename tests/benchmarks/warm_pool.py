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
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import uuid
from pathlib import Path

import yaml
from gce_staging import STAGE, first_line  # the same stage and measure as the staging benchmark
from goldfish.artifacts import ArtifactStore
from goldfish.compute import Job
from goldfish.runs.staging import stage_job
from goldfish.testing.contracts import write_job_dir
from goldfish_gce.backend import GceBackend
from goldfish_gce.fake import FakeCompute
from goldfish_gce.storage import GcsStorage
from goldfish_gce.testing import GcsEmulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot-delay", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    failed = False
    with GcsEmulator.start(buckets=["bench"]), \
            FakeCompute(boot_delay=args.boot_delay) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            root = Path(tmp) / f"round{round_}"
            root.mkdir()
            store = f"gs://bench/pool-{uuid.uuid4().hex[:8]}"
            (root / "goldfish.yaml").write_text(yaml.safe_dump({
                "project": "bench", "storage": store,
                "gce": {"warm_pool": {"enabled": True, "max_instances": 1,
                                      "idle_timeout_minutes": 10}}}))
            backend = GceBackend(root, {"project_id": "bench", "api_endpoint": fake.endpoint,
                                        "zones": ["us-central1-a"], "sync_seconds": 0.5})
            artifacts = ArtifactStore(GcsStorage(root, {}), store)

            def job(n: int, root: Path = root, artifacts: ArtifactStore = artifacts) -> Job:
                raw = write_job_dir(root / f"job{n}", STAGE)
                return stage_job(artifacts, raw, root / "cache")[0]

            first, second = job(1), job(2)
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
          f"warm {w:.2f}s (median of {args.rounds}); warm is {c / w:.1f}x faster (goal >= 10x)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
