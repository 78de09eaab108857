"""How long `goldfish --help` takes, against `python -c pass` measured in the same run.

Run: `uv run python tests/benchmarks/cli_startup.py [--runs N]`

The top-level help is served from a cache (goldfish/envcache.py), so the budget is what
Python itself costs plus a few stdlib imports. The script also asserts that `goldfish --help`
imports none of the heavy modules (pydantic, yaml, dulwich, sqlite3, numpy, cloud SDKs…), and
reports the cold (cache miss) case for information.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("pydantic", "yaml", "dulwich", "sqlite3", "numpy", "google", "boto3", "docker",
         "litellm", "mcp")
BUDGET_MS = 150.0


def goldfish_script() -> str:
    script = Path(sys.executable).with_name("goldfish")
    if not script.is_file():
        sys.exit(f"no goldfish console script next to {sys.executable}; run `uv sync` first")
    return str(script)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return (time.perf_counter() - start) * 1000


def imported_modules(script: str, env: dict[str, str]) -> set[str]:
    """Every module in ``sys.modules`` after running ``goldfish --help`` (``-X importtime``
    would miss modules loaded through importlib.import_module)."""
    probe = ("import runpy, sys\n"
             f"sys.argv = [{script!r}, '--help']\n"
             "try:\n"
             f"    runpy.run_path({script!r}, run_name='__main__')\n"
             "except SystemExit:\n"
             "    pass\n"
             "sys.stderr.write('\\n'.join(sorted(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, check=True)
    return set(proc.stderr.splitlines())


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in HEAVY or n.split(".")[0] == "_sqlite3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each (min 15)")
    args = parser.parse_args()
    runs = max(15, args.runs)
    script = goldfish_script()
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        env.pop("GOLDFISH_NO_CACHE", None)
        help_cmd, base_cmd = [script, "--help"], [sys.executable, "-c", "pass"]
        for _ in range(2):  # warm-up: fills the help cache and the OS file cache
            timed(help_cmd, env)
            timed(base_cmd, env)
        goldfish_ms, python_ms = [], []
        for _ in range(runs):  # interleaved, so drift affects both alike
            python_ms.append(timed(base_cmd, env))
            goldfish_ms.append(timed(help_cmd, env))
        cold_env = {**env, "GOLDFISH_NO_CACHE": "1"}
        cold_ms = statistics.median(timed(help_cmd, cold_env) for _ in range(5))
        warm_modules = imported_modules(script, env)
        cold_modules = imported_modules(script, cold_env)

    g, p = statistics.median(goldfish_ms), statistics.median(python_ms)
    print(f"runs:                         {runs} each (median, after warm-up)")
    print(f"python -c pass (baseline):    {p:7.1f} ms")
    print(f"goldfish --help (cached):     {g:7.1f} ms")
    print(f"ratio goldfish / python:      {g / p:7.2f}x")
    print(f"difference:                   {g - p:+7.1f} ms")
    print(f"under {BUDGET_MS:.0f} ms:                 {'yes' if g < BUDGET_MS else 'NO'}")
    print(f"goldfish --help (no cache):   {cold_ms:7.1f} ms  (for information)")
    print(f"modules imported (cached):    {len(warm_modules)}")
    cold_heavy = heavy(cold_modules)
    print(f"heavy modules without cache:  {', '.join(cold_heavy) or 'none'}")
    found = heavy(warm_modules)
    assert not found, f"`goldfish --help` imported heavy modules: {found}"
    print("heavy modules (cached help):  none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
