"""Benchmark: every default svs check on a 1 GiB float32 .npy, and on a 20 GB memory map.

Run: ``.venv/bin/python tests/benchmarks/svs_checks.py [--gib 1] [--big-gb 20]``

Part 1 — a 1 GiB float32 array (4,194,304 × 64, normal noise) is written to a temp dir. Baseline:
one ``np.isfinite(x).all()`` pass over the same file opened with ``mmap_mode="r"``. Measured:
``goldfish_svs.plugin.validate_outputs`` on it — the host-side contract, the exact NaN/Inf count
(one chunked pass) and every sampled default check (constant, collapsed, top-k concentration,
entropy). Both median of three, page cache warm for both. Budget: ≤ 2× the baseline.

Part 2 — a 20 GB sparse file (``open_memmap``, a few regions written) checked in a child process
with the same defaults: beyond ``full_scan_mb`` NaN/Inf are counted on the sample too, so time and
memory stay bounded; the child reports its time, peak RSS and the sample size. Files are deleted
afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from goldfish.findings import OutputContext

BUDGET = 2.0
BIG_SECONDS = 10.0
BIG_RSS_MB = 1024


def _median(fn: Any, n: int = 3) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(n):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def _checks(path: Path) -> list[Any]:
    import goldfish_svs.plugin as svs

    context = OutputContext(run_id="bench", stage="bench", signals={"x": {"type": "npy"}},
                            paths={"x": path}, config={})
    return svs.validate_outputs(context)


def write_noise(path: Path, rows: int, cols: int) -> None:
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
    rng = np.random.default_rng(0)
    step = 1 << 18
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        arr[start:stop] = rng.standard_normal((stop - start, cols), dtype=np.float32)
    arr.flush()
    del arr


def part_small(tmp: Path, gib: float) -> bool:
    cols = 64
    rows = int(gib * (1 << 30)) // (4 * cols)
    path = tmp / "one_gib.npy"
    write_noise(path, rows, cols)
    size = path.stat().st_size
    x = np.load(path, mmap_mode="r")
    np.isfinite(x).all()  # warm the page cache for both sides
    base, ok = _median(lambda: bool(np.isfinite(np.load(path, mmap_mode="r")).all()))
    ours, found = _median(lambda: _checks(path))
    ratio = ours / base
    print(f"1) {size / (1 << 30):.2f} GiB float32 {rows:,}x{cols}")
    print(f"   baseline np.isfinite(x).all(): {base:.3f} s (finite={ok})")
    print(f"   svs default checks:            {ours:.3f} s  ratio {ratio:.2f}x (budget "
          f"{BUDGET:.1f}x)  {'PASS' if ratio <= BUDGET else 'FAIL'}")
    for f in found:
        d = f.data
        print(f"     {f.severity:<8} {f.check:<20} {f.message[:70]}"
              + (f"  [sample {d.get('sample_size')}, exact={d.get('exact')}]"
                 if "sample_size" in d else ""))
    path.unlink()
    return ratio <= BUDGET


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: per address space, so not inherited through
    fork+exec like ``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_child(path: str) -> None:
    start = time.perf_counter()
    found = _checks(Path(path))
    took = time.perf_counter() - start
    rss = _peak_rss_mb()
    nan = next(f for f in found if f.check == "nan_ratio")
    print(json.dumps({"seconds": took, "max_rss_mb": rss, "sample_size": nan.data["sample_size"],
                      "rows": nan.data["rows"], "exact": nan.data["exact"],
                      "findings": [[f.severity, f.check, f.message] for f in found]}))


def part_big(tmp: Path, gb: float) -> bool:
    cols = 64
    rows = int(gb * 1e9) // (4 * cols)
    path = tmp / "twenty_gb.npy"
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
    rng = np.random.default_rng(1)
    for start in np.linspace(0, rows - 100_000, 8).astype(int):
        arr[start:start + 100_000] = rng.standard_normal((100_000, cols), dtype=np.float32)
    arr.flush()
    del arr
    proc = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True,
                          text=True, check=True)
    path.unlink()
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ok = out["seconds"] <= BIG_SECONDS and out["max_rss_mb"] <= BIG_RSS_MB
    print(f"2) {rows * cols * 4 / 1e9:.1f} GB float32 memory map {rows:,}x{cols} (sparse)")
    print(f"   svs default checks: {out['seconds']:.3f} s, peak RSS {out['max_rss_mb']:.0f} MB, "
          f"sample {out['sample_size']:,} values of {rows * cols:,} (exact={out['exact']})  "
          f"bounds {BIG_SECONDS:.0f} s / {BIG_RSS_MB} MB  {'PASS' if ok else 'FAIL'}")
    for sev, check, msg in out["findings"]:
        print(f"     {sev:<8} {check:<20} {msg[:80]}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--big-gb", type=float, default=20.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        big_child(args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="svs-bench-") as tmp:
        small = part_small(Path(tmp), args.gib)
        big = part_big(Path(tmp), args.big_gb)
    return 0 if small and big else 1


if __name__ == "__main__":
    sys.exit(main())
