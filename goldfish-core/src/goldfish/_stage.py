"""The stage entry point: ``python -m goldfish._stage`` (cwd ``code/``, ``GOLDFISH_JOB_DIR`` set).

Runs the stage module as ``__main__`` and turns every way it can end into something the host can
read without parsing logs: ``error.json`` for an exception or a missing/broken output, flushed
``metrics.jsonl``, and the exit code (0 ok, 1 failed, SystemExit's own code, 143 on SIGTERM).
Standard library and ``goldfish.io`` only, Python >= 3.9: backends inject this file into images.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
from pathlib import Path

from goldfish import io

TYPE_CHECKING = False  # not typing: ~3 ms of every stage's start-up
if TYPE_CHECKING:
    import traceback
    from typing import Any

TAIL_LINES = 30
EXIT_FAILED = 1
EXIT_SIGTERM = 143
_RUNTIME_FILES = {
    os.path.normcase(os.path.abspath(p))
    for p in (__file__, io.__file__, runpy.__file__)
    if p
}


def _internal(filename: str) -> bool:
    if filename.startswith("<frozen runpy"):
        return True
    return os.path.normcase(os.path.abspath(filename)) in _RUNTIME_FILES


def _prune(te: traceback.TracebackException) -> None:
    """Drop the runtime's own frames so the tail shows the stage code that failed."""
    seen: set[int] = set()
    todo = [te]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        kept = [f for f in current.stack if not _internal(f.filename)]
        if kept:  # an error inside the runtime itself keeps its frames
            import traceback

            current.stack = traceback.StackSummary.from_list(kept)
        todo += [t for t in (current.__cause__, current.__context__) if t is not None]


def format_tail(exc: BaseException, lines: int = TAIL_LINES) -> str:
    import traceback  # only when a stage fails

    te = traceback.TracebackException.from_exception(exc)
    _prune(te)
    text = "".join(te.format())
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def write_error(root: Path, type_: str, message: str, tail: str = "") -> None:
    _write_json(root / "error.json", {"type": type_, "message": message, "traceback_tail": tail})


def _on_sigterm(signum: int, frame: object) -> None:
    # Unwind the stage code (its finally blocks run); main() flushes metrics and exits 143.
    io._request_stop()
    raise SystemExit(EXIT_SIGTERM)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_FAILED


def _missing_outputs(root: Path, job: dict[str, Any], stage: str) -> list[str]:
    problems = []
    for name, entry in sorted((job.get("outputs") or {}).items()):
        kind = (entry or {}).get("type") or "file"
        path = root / "outputs" / f"{name}{io.SUFFIX.get(kind, '')}"
        present = path.is_dir() if kind == "directory" else path.is_file()
        if not present:
            problems.append(
                f"stage {stage!r} declared output {name!r} but never wrote it — "
                f"call goldfish.io.save_output({name!r}, ...)"
            )
    return problems


def _check_direct_writes(root: Path, job: dict[str, Any]) -> list[str]:
    """Contracts of outputs written in place through ``io.output_path`` (not via save_output)."""
    problems = []
    for name, entry in sorted((job.get("outputs") or {}).items()):
        if name in io._checked:
            continue
        kind = (entry or {}).get("type") or "file"
        try:
            io._check_contract(name, root / "outputs" / f"{name}{io.SUFFIX.get(kind, '')}")
        except io.StageIOError as exc:
            problems.append(str(exc))
    return problems


def main() -> int:
    try:
        root = io.job_dir()
        job = io._job()
    except io.StageIOError as exc:
        print(f"goldfish: {exc}", file=sys.stderr)
        return EXIT_FAILED
    stage = str(job.get("stage", ""))
    try:
        (root / "error.json").unlink()
    except FileNotFoundError:
        pass
    code_dir = root / "code"
    module = code_dir / str(job.get("module") or f"modules/{stage}.py")
    if not module.is_file():
        message = f"stage {stage!r}: module {job.get('module')!r} not found in the exported code"
        write_error(root, "FileNotFoundError", message)
        print(f"goldfish: {message}", file=sys.stderr)
        return EXIT_FAILED

    sys.path.insert(0, str(code_dir))
    sys.path.insert(0, str(module.parent))
    if Path.cwd() != code_dir:
        os.chdir(code_dir)
    sys.argv = [str(module)]
    signal.signal(signal.SIGTERM, _on_sigterm)
    for stream in (sys.stdout, sys.stderr):  # whole lines reach log.txt as they are printed
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    io.heartbeat()  # alive from the first moment, before any metric

    exit_code = 0
    try:
        runpy.run_path(str(module), run_name="__main__")
    except SystemExit as exc:
        exit_code = _exit_code(exc)
    except BaseException as exc:
        tail = format_tail(exc)
        message = str(exc) or type(exc).__name__
        write_error(root, type(exc).__name__, message, tail)
        print(tail, file=sys.stderr)
        exit_code = EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        io._flush()

    if exit_code == 0:
        problems = _missing_outputs(root, job, stage)
        kind = "MissingOutputError"
        if not problems:
            problems = _check_direct_writes(root, job)
            kind = "ContractError"
        if problems:
            message = "\n".join(problems)
            write_error(root, kind, message)
            print(f"goldfish: {message}", file=sys.stderr)
            exit_code = EXIT_FAILED
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
