"""The in-stage runtime: what stage code calls to read inputs, write outputs and log metrics.

Stage code runs anywhere (a local process, a container, a VM), so this module imports only the
standard library (numpy only when an ``.npy`` is loaded or saved) and runs on any Python >= 3.9.
Backends copy it, together with ``goldfish/_stage.py`` and ``goldfish/__init__.py``, into images
that do not have Goldfish installed.

Everything is located through the *job directory* named by ``GOLDFISH_JOB_DIR`` (layout in
``docs/architecture.md`` § "Job directory"); ``job.json`` there is read once.

``log_metric`` is on the hot path of training loops, so it validates a name once, appends a tuple
to a buffer and returns; JSON encoding, the file append and the heartbeat happen when the buffer
is flushed: every ``FLUSH_EVERY`` points, every ``FLUSH_SECONDS`` from a daemon thread (so the
host's metric health sees a running stage's points within about a second, and a point logged just
before a long silent step still reaches it), at once after a NaN or Inf (the one value a health
check acts on immediately), and at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import threading
import time
from pathlib import Path

# Not ``typing``: every stage interpreter imports this module, and typing costs it ~3 ms; csv
# and shutil (with bz2 and lzma) are imported by the functions that use them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, NoReturn

try:  # on the host the error is a GoldfishError; injected alone into an image it stands alone
    from goldfish.errors import GoldfishError as _ErrorBase
except ImportError:  # pragma: no cover - exercised by the "copied alone" subprocess test

    class _ErrorBase(Exception):  # type: ignore[no-redef]
        def __init__(self, message: str, hint: str | None = None) -> None:
            super().__init__(message)
            self.message = message
            self.hint = hint

        def __str__(self) -> str:
            return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


__all__ = [
    "ContractError",
    "StageIOError",
    "checkpoint_step",
    "config",
    "flush",
    "heartbeat",
    "input_path",
    "job_dir",
    "load_checkpoint",
    "load_input",
    "log_metric",
    "log_metrics",
    "output_path",
    "run_dir",
    "run_id",
    "save_checkpoint",
    "save_output",
    "should_stop",
    "stage",
]

ENV_JOB_DIR = "GOLDFISH_JOB_DIR"
SIGNAL_TYPES = ("npy", "csv", "json", "file", "directory")
#: File name suffix of each signal type under ``outputs/`` and ``inputs/``.
SUFFIX = {"npy": ".npy", "csv": ".csv", "json": ".json", "file": "", "directory": ""}
METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]{0,127}$")
DEFAULT_MAX_METRIC_NAMES = 200
FLUSH_EVERY = 4096
MAX_BUFFERED = 16 * FLUSH_EVERY
FLUSH_SECONDS = 0.5
_STOP_POLL_SECONDS = 0.2
#: Created by the first ``should_stop()`` call: the stage listens for cooperative stops, so the
#: supervisor gives it the stop grace; a stage that never asked is terminated at once.
STOP_POLLED_FILE = "stop_polled"
_HEARTBEAT_MIN_SECONDS = 0.5


class StageIOError(_ErrorBase):
    """Stage code used ``goldfish.io`` wrongly (unknown name, wrong type, outside a stage run)."""


class ContractError(StageIOError):
    """An output does not satisfy the contract declared for it in ``pipeline.yaml``."""


# --- the job --------------------------------------------------------------------------------

_job_cache: dict[str, Any] | None = None
_job_dir_cache: Path | None = None


def job_dir() -> Path:
    """The job directory of this stage run (``GOLDFISH_JOB_DIR``)."""
    global _job_dir_cache
    if _job_dir_cache is None:
        raw = os.environ.get(ENV_JOB_DIR)
        if not raw:
            raise StageIOError(
                "goldfish.io is only available inside a stage run (GOLDFISH_JOB_DIR is not set)",
                hint="run the stage with `goldfish run`; to test stage code by hand, point "
                "GOLDFISH_JOB_DIR at a job directory that has a job.json",
            )
        _job_dir_cache = Path(raw).resolve()
    return _job_dir_cache


def run_dir() -> Path:
    """The directory of this stage run; the same directory as :func:`job_dir`.

    Kept as a separate name because stage code thinks in runs, backends in jobs.
    """
    return job_dir()


def _job() -> dict[str, Any]:
    global _job_cache
    if _job_cache is None:
        path = job_dir() / "job.json"
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise StageIOError(
                f"no job.json in the job directory {path.parent}",
                hint="GOLDFISH_JOB_DIR must point at a job directory prepared by the run engine",
            )
        except ValueError as exc:
            raise StageIOError(f"{path} is not valid JSON: {exc}")
        if not isinstance(data, dict):
            raise StageIOError(f"{path} must hold a JSON object, found {type(data).__name__}")
        _job_cache = data
    return _job_cache


def _reset_for_tests() -> None:
    """Forget the cached job so an in-process test can switch job directories."""
    global _job_cache, _job_dir_cache, _stop_seen, _stop_checked_at, _heartbeat_at
    _flush()
    _job_cache = None
    _job_dir_cache = None
    _stop_seen = False
    _stop_checked_at = 0.0
    _heartbeat_at = 0.0
    _last_step.clear()
    _checked.clear()
    _metric_state["max_names"] = None


def run_id() -> str:
    """The id of the run this stage belongs to."""
    return str(_job().get("run_id", ""))


def stage() -> str:
    """The name of the running stage."""
    return str(_job().get("stage", ""))


def config() -> dict[str, Any]:
    """The merged stage config (stage defaults < ``configs/<stage>.yaml`` < run overrides).

    A fresh copy each call, so stage code may mutate it freely.
    """
    raw = _job().get("config") or {}
    return json.loads(json.dumps(raw))


# --- inputs ---------------------------------------------------------------------------------


def _declared(kind: str) -> dict[str, Any]:
    table = _job().get(kind) or {}
    return table if isinstance(table, dict) else {}


def _unknown(kind: str, name: object, table: Mapping[str, Any]) -> StageIOError:
    import difflib

    names = sorted(table)
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    listed = ", ".join(repr(n) for n in names) if names else "none"
    hint = f"did you mean {close[0]!r}? " if close else ""
    singular = kind[:-1]
    return StageIOError(
        f"stage {stage()!r} has no {singular} named {name!r} (declared {kind}: {listed})",
        hint=f"{hint}declare it under `{kind}:` of the stage in pipeline.yaml",
    )


def _input_entry(name: str) -> dict[str, Any]:
    table = _declared("inputs")
    entry = table.get(name)
    if not isinstance(entry, dict):
        raise _unknown("inputs", name, table)
    return entry


def input_path(name: str) -> Path:
    """Where input ``name`` was materialized (a file or a directory)."""
    entry = _input_entry(name)
    rel = entry.get("path") or f"inputs/{name}{SUFFIX.get(entry.get('type') or 'file', '')}"
    path = job_dir() / rel
    if not path.exists():
        raise StageIOError(
            f"input {name!r} of stage {stage()!r} is missing: {path} does not exist",
            hint="the run engine or compute backend failed to materialize the input; re-run",
        )
    return path


def _input_type(entry: Mapping[str, Any], path: Path) -> str:
    declared = entry.get("type")
    if declared in SIGNAL_TYPES:
        return str(declared)
    if path.is_dir():
        return "directory"
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in ("npy", "csv", "json") else "file"


def load_input(name: str, *, mmap: bool = False, as_path: bool = False) -> Any:
    """Load input ``name``: an ndarray (npy), dict/list (json), list of row dicts (csv), or a Path.

    ``mmap=True`` memory-maps an npy read-only instead of reading it into memory. ``as_path=True``
    returns the path for any type (e.g. to read a csv with pandas).
    """
    path = input_path(name)
    kind = _input_type(_input_entry(name), path)
    if as_path or kind in ("file", "directory"):
        return path
    if kind == "npy":
        import numpy as np

        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if kind == "json":
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- outputs --------------------------------------------------------------------------------


#: Outputs whose contract was checked by save_output (``_stage`` checks the rest at the end).
_checked: set[str] = set()


def _output_entry(name: str) -> dict[str, Any]:
    table = _declared("outputs")
    entry = table.get(name)
    if not isinstance(entry, dict):
        raise _unknown("outputs", name, table)
    return entry


def _output_type(name: str) -> str:
    kind = _output_entry(name).get("type") or "file"
    if kind not in SIGNAL_TYPES:
        raise StageIOError(f"output {name!r} has unknown type {kind!r} in job.json")
    return str(kind)


def output_path(name: str) -> Path:
    """Where output ``name`` lives once saved; write there directly to avoid a copy.

    For a ``directory`` output the directory is created. A file written here directly still has
    its contract checked when the stage ends.
    """
    kind = _output_type(name)
    path = job_dir() / "outputs" / f"{name}{SUFFIX[kind]}"
    if kind == "directory":
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _as_source_path(name: str, kind: str, data: object) -> Path | None:
    """A path to copy from, or None when ``data`` is in-memory data."""
    if isinstance(data, os.PathLike):
        path = Path(os.fspath(data))
    elif isinstance(data, str) and (kind != "json" or os.path.isfile(data)):
        path = Path(data)
    else:
        return None
    if not path.exists():
        raise StageIOError(
            f"save_output({name!r}, ...): no such file or directory: {path}",
            hint="pass the path of something that exists"
            + ("; to save text as a file output pass bytes (text.encode())" if kind == "file" else ""),
        )
    if kind == "directory" and not path.is_dir():
        raise StageIOError(
            f"output {name!r} is declared type directory but {path} is a file",
            hint="pass a directory, or declare the output as `type: file` in pipeline.yaml",
        )
    if kind != "directory" and path.is_dir():
        raise StageIOError(
            f"output {name!r} is declared type {kind} but {path} is a directory",
            hint="pass a file, or declare the output as `type: directory` in pipeline.yaml",
        )
    return path


def _mismatch(name: str, kind: str, data: object, want: str) -> StageIOError:
    return StageIOError(
        f"output {name!r} is declared type {kind}; save_output got {type(data).__name__}",
        hint=f"pass {want}, or change the output's type in pipeline.yaml",
    )


def _tmp_sibling(final: Path) -> Path:
    return final.with_name(f".tmp-{final.name}-{os.getpid()}-{threading.get_ident()}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _write_data(name: str, kind: str, data: object, tmp: Path) -> None:
    if kind == "npy":
        if not (hasattr(data, "dtype") and hasattr(data, "shape")):
            raise _mismatch(name, kind, data, "a numpy array (np.asarray(...)) or a path to an .npy")
        import numpy as np

        with open(tmp, "wb") as fh:
            np.save(fh, data, allow_pickle=False)  # type: ignore[arg-type]
    elif kind == "json":
        try:
            text = json.dumps(data, indent=1, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise StageIOError(
                f"output {name!r} (json): the value is not JSON-serializable: {exc}",
                hint="convert numpy values with .tolist() / float(...) before saving",
            )
        tmp.write_text(text, encoding="utf-8")
    elif kind == "csv":
        _write_csv(name, data, tmp)
    elif kind == "file":
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise _mismatch(name, kind, data, "a path (str or Path) or the file's bytes")
        tmp.write_bytes(bytes(data))
    else:
        raise _mismatch(name, kind, data, "the path of a directory")


def _write_csv(name: str, data: object, tmp: Path) -> None:
    to_csv = getattr(data, "to_csv", None)
    if callable(to_csv):  # a pandas DataFrame
        to_csv(tmp, index=False)
        return
    if not isinstance(data, (list, tuple)):
        raise _mismatch(name, "csv", data, "a list of row dicts, a list of lists with a header row, or a path")
    rows = list(data)
    import csv

    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        if rows and all(isinstance(r, dict) for r in rows):
            fields: dict[str, None] = {}
            for r in rows:
                fields.update(dict.fromkeys(r))
            writer = csv.DictWriter(fh, fieldnames=list(fields))
            writer.writeheader()
            writer.writerows(rows)
        elif all(isinstance(r, (list, tuple)) for r in rows):
            csv.writer(fh).writerows(rows)
        else:
            raise _mismatch(name, "csv", data, "rows that are all dicts, or all lists (header first)")


def save_output(name: str, data: object) -> Path:
    """Save output ``name`` from in-memory data or a path, atomically, after checking its contract.

    Accepted per declared type: npy — ndarray or path; json — JSON-serializable value or path;
    csv — list of row dicts, list of lists (header first), a DataFrame, or path; file — path or
    bytes; directory — path of a directory (copied). A ``str`` is a path (for json only when it
    names an existing file). Returns where the output was kept. On any error nothing is kept.
    """
    kind = _output_type(name)
    final = job_dir() / "outputs" / f"{name}{SUFFIX[kind]}"
    final.parent.mkdir(parents=True, exist_ok=True)
    source = _as_source_path(name, kind, data)
    if source is not None and source.resolve() == final.resolve():
        _check_contract(name, final)  # written in place via output_path()
        _checked.add(name)
        return final
    tmp = _tmp_sibling(final)
    _remove(tmp)
    try:
        if source is None:
            _write_data(name, kind, data, tmp)
        elif kind == "directory":
            import shutil

            shutil.copytree(source, tmp, symlinks=True)
        else:
            import shutil

            shutil.copyfile(source, tmp)
        _check_contract(name, tmp)
        if kind == "directory" and final.exists():
            old = final.with_name(f".old-{final.name}-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise
    _checked.add(name)
    return final


# --- contracts ------------------------------------------------------------------------------


def _check_contract(name: str, path: Path) -> None:
    """Enforce the basic contract keys of output ``name`` on the file at ``path``.

    The richer checks (``checks:``, value ranges, NaN ratios) belong to goldfish-svs on the host;
    here only what is cheap and certain fails fast, naming the output, the expected and the actual.
    """
    entry = _output_entry(name)
    contract = entry.get("contract")
    if not isinstance(contract, dict) or not contract:
        if entry.get("type") == "json":
            _read_json(name, path)
        return
    kind = _output_type(name)
    if kind == "npy":
        _check_npy(name, path, contract)
    elif kind == "csv":
        _check_csv(name, path, contract)
    elif kind == "json":
        _check_json(name, path, contract)
    elif kind == "file":
        _check_file(name, path, contract)
    else:
        _check_directory(name, path, contract)


def _fail(name: str, what: str, expected: object, actual: object, hint: str | None = None) -> NoReturn:
    raise ContractError(
        f"output {name!r} of stage {stage()!r} breaks its contract: {what} expected {expected}, got {actual}",
        hint=hint or "fix the stage code, or the contract in pipeline.yaml if it is the contract that is wrong",
    )


def _resolve_dim(name: str, dim: object) -> object:
    if isinstance(dim, str) and dim.startswith("{") and dim.endswith("}"):
        key = dim[1:-1]
        cfg = _job().get("config") or {}
        if key not in cfg:
            raise ContractError(
                f"output {name!r}: contract shape refers to config key {key!r}, which the stage config lacks",
                hint=f"add {key!r} to the stage config or use a number in the contract",
            )
        return cfg[key]
    return dim


def read_npy_header(path: Path) -> tuple[tuple[int, ...], Any, int]:
    """(shape, dtype, data offset) of a .npy file, read from its header alone (no data).

    Shared by the in-stage contract check and goldfish-svs's host-side one.
    """
    import numpy as np

    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        return tuple(shape), dtype, fh.tell()


def _check_npy(name: str, path: Path, contract: Mapping[str, Any]) -> None:
    import numpy as np

    try:
        shape, dtype, _offset = read_npy_header(path)
    except ValueError as exc:
        _fail(name, "a .npy file:", "numpy's format", f"an unreadable file ({exc})")
        return
    rank = contract.get("rank")
    if isinstance(rank, int) and len(shape) != rank:
        _fail(name, "rank", rank, f"{len(shape)} (shape {list(shape)})")
    want = contract.get("shape")
    if isinstance(want, list):
        dims = [_resolve_dim(name, d) for d in want]
        ok = len(dims) == len(shape) and all(d is None or d == s for d, s in zip(dims, shape))  # noqa: B905 (3.9)
        if not ok:
            shown = ["*" if d is None else d for d in dims]
            _fail(name, "shape", shown, list(shape))
    want_dtype = contract.get("dtype")
    if isinstance(want_dtype, str):
        try:
            expected = np.dtype(want_dtype)
        except TypeError:
            _fail(name, "dtype", repr(want_dtype), f"{dtype} (the contract's dtype is not a numpy dtype)")
            return
        if dtype != expected:
            _fail(name, "dtype", expected.name, dtype.name, hint=f"cast with .astype(np.{expected.name})")


#: Rows whose cells are type-checked against ``columns: {name: type}`` inside the stage (the host
#: checks every row).
CSV_TYPE_ROWS = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def csv_cell_ok(kind: object, cell: str) -> bool:
    """Whether a non-empty CSV cell reads as column type ``kind`` (int, float, bool, date, ...)."""
    if kind == "int":
        return re.match(r"^[-+]?\d+$", cell.strip()) is not None
    if kind == "float":
        try:
            float(cell)
        except ValueError:
            return False
        return True
    if kind == "bool":
        return cell.strip().lower() in ("true", "false", "0", "1", "yes", "no")
    if kind == "date":
        return _DATE.match(cell.strip()) is not None
    if kind == "datetime":
        return _DATETIME.match(cell.strip()) is not None
    return True


def _check_csv(name: str, path: Path, contract: Mapping[str, Any]) -> None:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None) or []
        columns = contract.get("columns")
        wanted = list(columns) if isinstance(columns, (list, dict)) else []
        missing = [c for c in wanted if c not in header]
        if missing:
            _fail(name, "columns", wanted, header, hint=f"missing column(s): {', '.join(map(str, missing))}")
        typed = {header.index(c): (c, t) for c, t in columns.items() if t} if isinstance(columns, dict) else {}
        min_rows, max_rows = contract.get("min_rows"), contract.get("max_rows")
        limit = max(min_rows if isinstance(min_rows, int) else 0,
                    max_rows + 1 if isinstance(max_rows, int) else 0, CSV_TYPE_ROWS if typed else 0)
        count = 0
        for row in reader:
            count += 1
            if count <= CSV_TYPE_ROWS:
                for i, (col, kind) in typed.items():
                    cell = row[i] if i < len(row) else ""
                    if cell != "" and not csv_cell_ok(kind, cell):
                        _fail(name, f"column {col!r} (row {count}) of type", kind, repr(cell))
            if count >= limit:
                break
        if isinstance(min_rows, int) and min_rows > 0 and count < min_rows:
            _fail(name, "rows: at least", min_rows, count)
        if isinstance(max_rows, int) and count > max_rows:
            _fail(name, "rows: at most", max_rows, f"more than {max_rows}")


#: First bytes of each ``format`` a file output may declare (``text`` = UTF-8 without NUL bytes).
FILE_MAGIC: dict[str, tuple[bytes, ...]] = {
    "npy": (b"\x93NUMPY",), "zip": (b"PK\x03\x04", b"PK\x05\x06"), "gzip": (b"\x1f\x8b",),
    "png": (b"\x89PNG\r\n\x1a\n",), "jpeg": (b"\xff\xd8\xff",), "pdf": (b"%PDF-",),
    "parquet": (b"PAR1",), "hdf5": (b"\x89HDF\r\n\x1a\n",), "pickle": (b"\x80",),
}


def file_format_ok(fmt: str, head: bytes) -> bool:
    """Whether ``head`` (the first 4 KiB of a file) looks like ``fmt``."""
    if fmt == "text":
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is fine
            if exc.start < len(head) - 3:
                return False
        return b"\x00" not in head
    if fmt == "json":
        return head.lstrip()[:1] in (b"{", b"[", b'"') or head.lstrip()[:1].isdigit()
    return any(head.startswith(m) for m in FILE_MAGIC.get(fmt, (b"",)))


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "number": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "null": (type(None),),
}


def _read_json(name: str, path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as exc:
        _fail(name, "content:", "valid JSON", f"invalid JSON ({exc})")


def _check_json(name: str, path: Path, contract: Mapping[str, Any]) -> None:
    value = _read_json(name, path)
    required = contract.get("required_keys")
    if isinstance(required, list) and required:
        if not isinstance(value, dict):
            _fail(name, "a JSON object with keys", required, type(value).__name__)
        missing = [k for k in required if k not in value]
        if missing:
            _fail(name, "keys", required, sorted(value), hint=f"missing key(s): {', '.join(map(str, missing))}")
    types = contract.get("types")
    if isinstance(types, dict) and isinstance(value, dict):
        for key, tname in types.items():
            if key not in value:
                continue
            allowed = _JSON_TYPES.get(str(tname))
            v = value[key]
            if allowed is None:
                continue
            bad = not isinstance(v, allowed) or (isinstance(v, bool) and tname != "bool")
            if bad:
                _fail(name, f"key {key!r} of type", tname, type(v).__name__)


def _check_file(name: str, path: Path, contract: Mapping[str, Any]) -> None:
    size = path.stat().st_size
    low, high = contract.get("min_bytes"), contract.get("max_bytes")
    if isinstance(low, int) and size < low:
        _fail(name, "size: at least", f"{low} bytes", f"{size} bytes")
    if isinstance(high, int) and size > high:
        _fail(name, "size: at most", f"{high} bytes", f"{size} bytes")
    fmt = contract.get("format")
    if isinstance(fmt, str):
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if not file_format_ok(fmt, head):
            _fail(name, "format", fmt, f"a file starting with {head[:8]!r}")


def _check_directory(name: str, path: Path, contract: Mapping[str, Any]) -> None:
    required = contract.get("required_files")
    if isinstance(required, list):
        missing = [f for f in required if not (path / str(f)).exists()]
        if missing:
            _fail(name, "files", required, f"missing {missing}")


# --- metrics --------------------------------------------------------------------------------

_MISSING = object()
#: name -> last step logged (0 before the first step); doubles as the "name already validated" cache.
_last_step: dict[str, int] = {}
#: Buffered points, flat (name, value, step, time, name, …): extending a list is one atomic C
#: call, and a flat list is exactly the argument tuple of the encoder's single ``%``.
_buf: list[Any] = []
_extend = _buf.extend
_FLUSH_ITEMS = 4 * FLUSH_EVERY
_flush_lock = threading.Lock()
_wake = threading.Event()
_metric_state: dict[str, Any] = {"max_names": None, "started": False}
_time = time.time


def _new_name(name: object) -> None:
    """First sight of a metric name: validate it, enforce the cap, start the flusher."""
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise StageIOError(
            f"invalid metric name {name!r}",
            hint="use letters, digits, '_', '.', '/', '-' (1-128 characters, not starting with a digit)",
        )
    cap = _metric_state["max_names"]
    if cap is None:
        raw = (_job().get("metrics") or {}).get("max_names", DEFAULT_MAX_METRIC_NAMES)
        cap = _metric_state["max_names"] = int(raw)
    if len(_last_step) >= cap:
        raise StageIOError(
            f"metric {name!r} would exceed the cap of {cap} distinct metric names",
            hint="put time in `step`, not in the name (log_metric('loss', v, step=i), not 'loss_42')",
        )
    _last_step[name] = 0
    if not _metric_state["started"]:
        _start_flusher()


def _coerce_value(name: str, value: object) -> float | int:
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        raise StageIOError(
            f"metric {name!r}: value {value!r} is a bool; metrics are numbers",
            hint="log int(flag) if you want to chart it",
        )
    if isinstance(value, int):
        return int(value)
    try:
        if isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__float__"):
            raise TypeError
        return float(value)  # numpy scalars, 0-d arrays, one-element tensors, Decimal
    except Exception:
        raise StageIOError(
            f"metric {name!r}: value {value!r} ({type(value).__name__}) is not a number",
            hint="log numbers only (call .item() on a one-element tensor or array)",
        )


def _bad_step(name: str, step: object, last: int) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        index = getattr(step, "__index__", None)
        if isinstance(step, bool) or index is None:
            raise StageIOError(
                f"metric {name!r}: step {step!r} ({type(step).__name__}) is not an integer",
                hint="steps are integers >= 0 (the batch or epoch number)",
            )
        step = index()
    assert isinstance(step, int)
    if step < 0:
        raise StageIOError(f"metric {name!r}: step {step} is negative", hint="steps are integers >= 0")
    if step < last:
        raise StageIOError(
            f"metric {name!r}: step {step} is before the last step logged ({last})",
            hint="steps must not decrease for a metric; use another name for a second series",
        )
    return step


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record one point of metric ``name``; NaN and Inf are kept so health checks can see them."""
    last = _last_step.get(name, _MISSING)
    if last is _MISSING:
        _new_name(name)
        last = 0
    cls = value.__class__
    if cls is not float and cls is not int:
        value = _coerce_value(name, value)
    if step is not None:
        if step.__class__ is not int or step < last:  # type: ignore[operator]
            step = _bad_step(name, step, last)  # type: ignore[arg-type]
        _last_step[name] = step
    _extend((name, value, step, _time()))
    if len(_buf) >= _FLUSH_ITEMS:
        _buffer_full()
    elif value - value:  # NaN or Inf (x - x is 0 for every finite number): to the host now
        _urgent()


def log_metrics(values: Mapping[str, float], step: int | None = None) -> None:
    """Record several metrics at the same step."""
    for name, value in values.items():
        log_metric(name, value, step)


_LINE = '{"n":"%s","v":%r,"s":%s,"t":%.3f}\n'
_ENCODE_CHUNK = 1024


def _encode(flat: list[Any]) -> str:
    """One JSON line per point, formatted in a single C-level pass.

    Names match ``METRIC_NAME`` (nothing to escape), values are int or float, so ``%``-formatting
    is exact; the few non-JSON spellings (None, nan, inf) are then replaced, only when present.
    """
    text = (_LINE * (len(flat) // 4)) % tuple(flat)
    if '"s":None' in text:
        text = text.replace('"s":None', '"s":null')
    if '"v":nan' in text or 'inf,"s"' in text:
        text = (text.replace('"v":nan', '"v":"nan"').replace('"v":inf', '"v":"inf"')
                .replace('"v":-inf', '"v":"-inf"'))
    return text


def _flush(blocking: bool = True) -> None:
    """Append buffered points to ``metrics.jsonl`` (whole lines, in order) and touch the heartbeat."""
    if not _buf:
        return
    if not _flush_lock.acquire(blocking):
        return
    try:
        n = len(_buf)
        flat = _buf[:n]  # the copy and the del are atomic: points logged meanwhile land after n
        del _buf[:n]
        if not flat:
            return
        root = job_dir()
        chunk = 4 * _ENCODE_CHUNK  # small strings: no fresh pages from the allocator per flush
        with open(root / "metrics.jsonl", "a", encoding="utf-8") as fh:
            for i in range(0, n, chunk):
                fh.write(_encode(flat[i : i + chunk]))
        _touch(root / "heartbeat")
    finally:
        _flush_lock.release()


def flush() -> None:
    """Write buffered metric points now (also done automatically; rarely needed by stage code)."""
    _flush()


def _buffer_full() -> None:
    """Write a full buffer from the logging thread itself.

    Inline beats handing off to the flusher thread: a GIL handoff per flush costs more than the
    write on a busy machine. If the flusher is writing right now, leave the points to it, unless
    the buffer has grown too large to wait (bounded memory).
    """
    _flush(blocking=len(_buf) >= 4 * MAX_BUFFERED)


def _urgent() -> None:
    """Wake the flusher now (once per wait): a non-finite point must not wait for the interval."""
    if not _wake.is_set():
        _wake.set()


def _flusher_loop() -> None:
    # Flushes by time, so a point logged just before a long silent step reaches the host.
    while True:
        _wake.wait(FLUSH_SECONDS)
        _wake.clear()
        try:
            _flush()
        except Exception:  # never kill the stage from the background; the final flush reports
            pass


def _start_flusher() -> None:
    _metric_state["started"] = True
    threading.Thread(target=_flusher_loop, name="goldfish-metrics", daemon=True).start()


def _after_fork_in_child() -> None:
    global _flush_lock, _wake
    _flush_lock = threading.Lock()
    _wake = threading.Event()
    _metric_state["started"] = False
    _buf.clear()  # the parent owns the points it buffered
    _last_step.clear()  # the child starts its own series (and its own flusher on first log)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush)


# --- liveness and stop ----------------------------------------------------------------------

_heartbeat_at = 0.0
_stop_seen = False
_stop_checked_at = 0.0


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()


def heartbeat() -> None:
    """Tell the host the stage is alive (long steps without metrics should call this)."""
    global _heartbeat_at
    now = time.monotonic()
    if now - _heartbeat_at >= _HEARTBEAT_MIN_SECONDS:
        _heartbeat_at = now
        _touch(job_dir() / "heartbeat")


def should_stop() -> bool:
    """True once the host asked this stage to stop (save a checkpoint and return).

    Cheap enough to call every step: the ``stop`` file is stat-ed at most every 0.5 s.
    """
    global _stop_seen, _stop_checked_at
    if _stop_seen:
        return True
    now = time.monotonic()
    if now - _stop_checked_at >= _STOP_POLL_SECONDS:
        if not _stop_checked_at:
            _mark_stop_polled()
        _stop_checked_at = now
        _stop_seen = os.path.exists(job_dir() / "stop")
    return _stop_seen


def _mark_stop_polled() -> None:
    try:
        (job_dir() / STOP_POLLED_FILE).touch()
    except OSError:  # the stage still stops cooperatively; only the grace depends on the mark
        pass


def _request_stop() -> None:
    global _stop_seen
    _stop_seen = True


# --- checkpoints ----------------------------------------------------------------------------

_CHECKPOINT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _checkpoint_root(name: str) -> Path:
    if not isinstance(name, str) or not _CHECKPOINT_NAME.match(name):
        raise StageIOError(
            f"invalid checkpoint name {name!r}",
            hint="use letters, digits, '_', '.', '-' (it becomes a directory name)",
        )
    return job_dir() / "checkpoints" / name


def _latest_record(root: Path) -> dict[str, Any] | None:
    try:
        with open(root / "latest.json", encoding="utf-8") as fh:
            data = json.load(fh)
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def save_checkpoint(name: str, path: str | os.PathLike[str], step: int | None = None, *, keep: int = 2) -> Path:
    """Keep a copy of ``path`` (file or directory) as the latest checkpoint ``name``.

    The copy is complete before ``latest.json`` points at it, so a preemption mid-save leaves the
    previous checkpoint usable. The newest ``keep`` checkpoints are kept. Returns the copy's path.
    """
    root = _checkpoint_root(name)
    src = Path(os.fspath(path))
    if not src.exists():
        raise StageIOError(f"save_checkpoint({name!r}, ...): no such file or directory: {src}")
    previous = _latest_record(root)
    if step is None:
        step = int(previous["step"]) + 1 if previous else 0
    elif isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise StageIOError(f"save_checkpoint({name!r}): step {step!r} must be an integer >= 0")
    slot = root / f"{step:012d}"
    tmp = root / f".tmp-{step:012d}-{os.getpid()}"
    _remove(tmp)
    import shutil

    tmp.mkdir(parents=True)
    try:
        if src.is_dir():
            shutil.copytree(src, tmp / src.name, symlinks=True)
        else:
            shutil.copyfile(src, tmp / src.name)
        _remove(slot)
        os.replace(tmp, slot)
    except BaseException:
        _remove(tmp)
        raise
    record = {"step": step, "path": f"{slot.name}/{src.name}", "t": time.time()}
    rec_tmp = root / f".latest-{os.getpid()}.json"
    rec_tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(rec_tmp, root / "latest.json")
    slots = sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    for old in slots[: max(0, len(slots) - max(1, keep))]:
        _remove(old)
    return slot / src.name


def load_checkpoint(name: str) -> Path | None:
    """The path of the latest checkpoint ``name``, or None when there is none yet."""
    record = _latest_record(_checkpoint_root(name))
    if record is None:
        return None
    path = _checkpoint_root(name) / str(record.get("path", ""))
    return path if path.exists() else None


def checkpoint_step(name: str) -> int | None:
    """The step of the latest checkpoint ``name`` (to resume a loop), or None."""
    record = _latest_record(_checkpoint_root(name))
    return int(record["step"]) if record and isinstance(record.get("step"), int) else None
