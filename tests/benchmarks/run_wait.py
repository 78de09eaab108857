"""Benchmark: a trivial 3-stage ``goldfish run --wait --no-cache`` against ``dvc repro -f``.

Run: ``.venv/bin/python tests/benchmarks/run_wait.py [--rounds 5]``

The same pipeline for both tools: ``prepare`` writes a small JSON, ``train`` reads it and writes
another, ``evaluate`` reads both and writes scores; each stage is a Python process that does
next to nothing, so what is measured is the orchestration: snapshot, plan, launch, noticing that a
stage ended, storing outputs and starting the next one. Both are timed as whole processes from
spawn to exit, alternating, in the same run; the figure is the ratio of the medians of
``--rounds`` (the median of per-round ratios and best-against-best are printed too: the
machine is shared and noisy).

dvc 3.67 is installed on first use into its own virtual environment under
``~/.cache/goldfish-bench/dvc-3.67`` (``uv venv`` + ``uv pip install``), never into the
project's environment. Goal (issue 10 item 4): ratio ≤ 0.6.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

GOAL = 0.6
DVC_SPEC = "dvc==3.67.*"
DVC_HOME = Path.home() / ".cache" / "goldfish-bench" / "dvc-3.67"

PIPELINE = """
name: three
stages:
  - name: prepare
    outputs: {data: {type: json}}
  - name: train
    inputs: {data: {from: prepare.data}}
    outputs: {model: {type: json}}
  - name: evaluate
    inputs: {model: {from: train.model}, data: {from: prepare.data}}
    outputs: {scores: {type: json}}
"""
GOLDFISH_MODULES = {
    "prepare": """
        from goldfish import io
        io.save_output("data", {"xs": list(range(10))})
    """,
    "train": """
        from goldfish import io
        data = io.load_input("data")
        io.save_output("model", {"w": sum(data["xs"]) * 0.1})
    """,
    "evaluate": """
        from goldfish import io
        model, data = io.load_input("model"), io.load_input("data")
        io.save_output("scores", {"accuracy": min(1.0, model["w"] / 20)})
    """,
}
DVC_YAML = """
stages:
  prepare:
    cmd: python prepare.py
    deps: [prepare.py]
    outs: [data.json]
  train:
    cmd: python train.py
    deps: [train.py, data.json]
    outs: [model.json]
  evaluate:
    cmd: python evaluate.py
    deps: [evaluate.py, model.json, data.json]
    outs: [scores.json]
"""
DVC_MODULES = {
    "prepare": """
        import json
        json.dump({"xs": list(range(10))}, open("data.json", "w"))
    """,
    "train": """
        import json
        data = json.load(open("data.json"))
        json.dump({"w": sum(data["xs"]) * 0.1}, open("model.json", "w"))
    """,
    "evaluate": """
        import json
        model, data = json.load(open("model.json")), json.load(open("data.json"))
        json.dump({"accuracy": min(1.0, model["w"] / 20)}, open("scores.json", "w"))
    """,
}


def dvc_bin() -> Path:
    """dvc in its own cached virtual environment, installed (and byte-compiled, as any real
    installation is) when missing."""
    exe = DVC_HOME / "bin" / "dvc"
    compiled = DVC_HOME / ".goldfish-bench-compiled"
    if not exe.exists():
        uv = shutil.which("uv")
        if uv is None:
            raise SystemExit("this benchmark installs dvc with uv; put uv on PATH")
        print(f"installing {DVC_SPEC} into {DVC_HOME} (once)...", flush=True)
        DVC_HOME.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(DVC_HOME)],
                       check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python",
                        str(DVC_HOME / "bin" / "python"), DVC_SPEC], check=True)
    if not compiled.exists():
        subprocess.run([str(DVC_HOME / "bin" / "python"), "-m", "compileall", "-q", "-j0",
                        str(DVC_HOME / "lib")], check=False, capture_output=True)
        compiled.touch()
    return exe


def compile_goldfish() -> None:
    """Byte-compile Goldfish's own sources (an editable install has no .pyc until a run writes
    them, and PYTHONDONTWRITEBYTECODE may forbid that), as the dvc installation is."""
    import goldfish

    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    str(Path(goldfish.__file__).parent)], check=False, capture_output=True)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def make_goldfish(tmp: Path) -> Path:
    from goldfish.init import init_project

    src = tmp / "gf-src"
    write(src, {"pipeline.yaml": PIPELINE,
                **{f"modules/{n}.py": t for n, t in GOLDFISH_MODULES.items()}})
    project = init_project(tmp / "gf", name="bench", from_dir=src, workspace="exp")
    project.db.close()
    return tmp / "gf"


def make_dvc(tmp: Path, dvc: Path, env: dict[str, str]) -> Path:
    root = tmp / "dvc"
    write(root, {"dvc.yaml": DVC_YAML, **{f"{n}.py": t for n, t in DVC_MODULES.items()}})
    subprocess.run([str(dvc), "init", "--no-scm", "-q"], cwd=root, env=env, check=True)
    subprocess.run([str(dvc), "config", "core.analytics", "false"], cwd=root, env=env,
                   check=True)
    return root


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n"
                         f"{proc.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    dvc = dvc_bin()
    compile_goldfish()
    goldfish = str(Path(sys.executable).with_name("goldfish"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOLDFISH_", "DVC_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env["DVC_NO_ANALYTICS"] = "1"
    # dvc stages run `python`: the same interpreter as Goldfish's stages.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with tempfile.TemporaryDirectory(prefix="goldfish-bench-run-wait-") as tmpdir:
        tmp = Path(tmpdir)
        gf_root, dvc_root = make_goldfish(tmp), make_dvc(tmp, dvc, env)
        gf_cmd = [goldfish, "--project", str(gf_root), "run", "w1", "--wait", "--no-cache"]
        dvc_cmd = [str(dvc), "repro", "-f"]
        timed(gf_cmd, gf_root, env)  # warm-up: caches, first snapshot, first dvc lock file
        timed(dvc_cmd, dvc_root, env)
        gf_times, dvc_times = [], []
        for _ in range(args.rounds):
            gf_times.append(timed(gf_cmd, gf_root, env))
            dvc_times.append(timed(dvc_cmd, dvc_root, env))
    gf, base = statistics.median(gf_times), statistics.median(dvc_times)
    ratio = gf / base
    paired = statistics.median(g / d for g, d in zip(gf_times, dvc_times, strict=True))
    print(f"goldfish run --wait --no-cache, 3 trivial stages: {gf * 1000:.0f} ms "
          f"(median of {args.rounds}; all: {', '.join(f'{t * 1000:.0f}' for t in gf_times)})")
    print(f"dvc repro -f, same pipeline:                        {base * 1000:.0f} ms "
          f"(all: {', '.join(f'{t * 1000:.0f}' for t in dvc_times)})")
    print(f"ratio {ratio:.2f} (goal ≤ {GOAL}: {'OK' if ratio <= GOAL else 'OVER'}); median of "
          f"the per-round ratios {paired:.2f}; best against best "
          f"{min(gf_times) / min(dvc_times):.2f}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
