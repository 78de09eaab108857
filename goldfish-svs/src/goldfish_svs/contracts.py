"""Contracts, checked authoritatively on the host on what a stage stored.

``goldfish.io`` already failed the stage fast on the basic keys while it ran; this runs after the
stage exited 0 on the final files, also for outputs written in place, and on every CSV row (the
stage checks the first rows' types only). Each problem is ``(what, expected, actual)``; an
unreadable file is a problem too, never an exception.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

Problem = tuple[str, Any, Any]


def _dim(dim: Any, config: dict[str, Any]) -> Any:
    if isinstance(dim, str) and dim.startswith("{") and dim.endswith("}"):
        key = dim[1:-1]
        if key not in config:
            raise KeyError(key)
        return config[key]
    return dim


def check_npy(path: Path, contract: dict[str, Any], config: dict[str, Any]) -> list[Problem]:
    import numpy as np
    from goldfish.io import read_npy_header

    try:
        shape, dtype, offset = read_npy_header(path)
    except Exception as exc:
        return [("a readable .npy file", "numpy's .npy format", f"unreadable ({exc})")]
    expected_bytes = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    out: list[Problem] = []
    if not dtype.hasobject and size < expected_bytes:
        out.append(("file size", f"{expected_bytes} bytes for shape {list(shape)}",
                    f"{size} bytes (truncated)"))
    rank = contract.get("rank")
    if isinstance(rank, int) and len(shape) != rank:
        out.append(("rank", rank, f"{len(shape)} (shape {list(shape)})"))
    want = contract.get("shape")
    if isinstance(want, list):
        try:
            dims = [_dim(d, config) for d in want]
        except KeyError as exc:
            return [*out, ("shape", f"config key {exc.args[0]!r} for a dimension",
                           "a stage config without it")]
        ok = len(dims) == len(shape) and all(d is None or d == s
                                             for d, s in zip(dims, shape, strict=False))
        if not ok:
            out.append(("shape", ["*" if d is None else d for d in dims], list(shape)))
    want_dtype = contract.get("dtype")
    if isinstance(want_dtype, str):
        try:
            expected = np.dtype(want_dtype)
        except TypeError:
            expected = None
        if expected is not None and dtype != expected:
            out.append(("dtype", expected.name, dtype.name))
    return out


def check_csv(path: Path, contract: dict[str, Any]) -> tuple[list[Problem], int]:
    """Problems and the exact row count."""
    from goldfish.io import csv_cell_ok

    out: list[Problem] = []
    rows = 0
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None) or []
            columns = contract.get("columns")
            wanted = list(columns) if isinstance(columns, (list, dict)) else []
            missing = [c for c in wanted if c not in header]
            if missing:
                out.append(("columns", wanted, f"{header} (missing {missing})"))
            typed = ({header.index(c): (c, t) for c, t in columns.items() if t and c in header}
                     if isinstance(columns, dict) else {})
            bad: dict[str, tuple[int, int, str]] = {}
            for row in reader:
                rows += 1
                for i, (col, kind) in typed.items():
                    cell = row[i] if i < len(row) else ""
                    if cell != "" and not csv_cell_ok(kind, cell):
                        first, count, sample = bad.get(col, (rows, 0, cell))
                        bad[col] = (first, count + 1, sample)
            for col, (first, count, sample) in bad.items():
                out.append((f"column {col!r} type", columns[col],  # type: ignore[index]
                            f"{count} cell(s) that are not, first on row {first}: {sample!r}"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [("a readable UTF-8 CSV file", "CSV", f"unreadable ({exc})")], rows
    low, high = contract.get("min_rows"), contract.get("max_rows")
    if isinstance(low, int) and rows < low:
        out.append(("rows: at least", low, rows))
    if isinstance(high, int) and rows > high:
        out.append(("rows: at most", high, rows))
    return out, rows


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (float, int), "number": (float, int), "str": (str,),
    "bool": (bool,), "list": (list,), "dict": (dict,), "null": (type(None),),
}


def read_json(path: Path) -> tuple[Any, Problem | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as exc:
        return None, ("content", "valid UTF-8 JSON", f"unreadable ({exc})")


def check_json(value: Any, contract: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    required = contract.get("required_keys")
    if isinstance(required, list) and required:
        if not isinstance(value, dict):
            return [("a JSON object with keys", required, type(value).__name__)]
        missing = [k for k in required if k not in value]
        if missing:
            out.append(("keys", required, f"{sorted(value)} (missing {missing})"))
    types = contract.get("types")
    if isinstance(types, dict) and isinstance(value, dict):
        for key, tname in types.items():
            allowed = _JSON_TYPES.get(str(tname))
            if key not in value or allowed is None:
                continue
            v = value[key]
            if not isinstance(v, allowed) or (isinstance(v, bool) and tname != "bool"):
                out.append((f"key {key!r} of type", tname, type(v).__name__))
    return out


def check_file(path: Path, contract: dict[str, Any]) -> list[Problem]:
    from goldfish.io import file_format_ok

    out: list[Problem] = []
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        return [("a readable file", "readable", f"unreadable ({exc})")]
    low, high = contract.get("min_bytes"), contract.get("max_bytes")
    if isinstance(low, int) and size < low:
        out.append(("size: at least", f"{low} bytes", f"{size} bytes"))
    if isinstance(high, int) and size > high:
        out.append(("size: at most", f"{high} bytes", f"{size} bytes"))
    fmt = contract.get("format")
    if isinstance(fmt, str) and not file_format_ok(fmt, head):
        out.append(("format", fmt, f"a file starting with {head[:8]!r}"))
    return out


def check_directory(path: Path, contract: dict[str, Any]) -> list[Problem]:
    required = contract.get("required_files")
    if isinstance(required, list):
        missing = [f for f in required if not (path / str(f)).exists()]
        if missing:
            return [("files", required, f"missing {missing}")]
    return []
