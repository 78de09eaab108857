"""`goldfish --help` with goldfish-backend-gce installed, against goldfish-core alone, both
measured in the same run in two fresh virtual environments (`pip install goldfish-core` vs
`pip install goldfish-core goldfish-backend-gce`, made by goldfish.testing.install).

Run: `uv run python tests/benchmarks/gce_help.py [--runs N]`

Prints the median of interleaved runs for the cached help (the usual case) and without the
cache (`GOLDFISH_NO_CACHE=1`: the parser is built and the plugins' entry points scanned), and the
ratio gce / core for each.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goldfish.testing.install import FreshInstall, fresh_install

ROOT = Path(__file__).resolve().parents[2]


def timed(install: FreshInstall, env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([str(install.goldfish), "--help"], env=env, cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each (min 11)")
    args = parser.parse_args()
    runs = max(11, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "core").mkdir()
        (work / "gce").mkdir()
        core = fresh_install(work / "core", ROOT, ("goldfish-core",))
        gce = fresh_install(work / "gce", ROOT, ("goldfish-core", "goldfish-backend-gce"))
        results: dict[str, dict[str, list[float]]] = {}
        for mode, extra in (("cached", {}), ("no cache", {"GOLDFISH_NO_CACHE": "1"})):
            envs = {name: {**inst.env, "HOME": str(work / name),
                           "XDG_CACHE_HOME": str(work / name / "cache"), **extra}
                    for name, inst in (("core", core), ("gce", gce))}
            for _ in range(2):  # warm-up: fills the help cache and the OS file cache
                timed(core, envs["core"], work)
                timed(gce, envs["gce"], work)
            times: dict[str, list[float]] = {"core": [], "gce": []}
            for _ in range(runs):  # interleaved, so drift affects both alike
                times["core"].append(timed(core, envs["core"], work))
                times["gce"].append(timed(gce, envs["gce"], work))
            results[mode] = times
    print(f"runs: {runs} each (median, interleaved, after warm-up)")
    for mode, times in results.items():
        c, g = statistics.median(times["core"]), statistics.median(times["gce"])
        print(f"goldfish --help ({mode:8}): core alone {c:7.1f} ms   core + gce {g:7.1f} ms   "
              f"ratio {g / c:5.2f}x   difference {g - c:+6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
