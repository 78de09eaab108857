"""Statistical checks on CSV tables: read once with the standard library, sampled past a size.

Cells ``""``, ``NA``, ``null``, ``None`` count as null; ``nan``/``inf`` in a numeric column count
for ``nan_ratio``/``inf_ratio``. A column named ``label``, ``labels``, ``target``, ``y`` or
``class`` gets ``class_balance``. Only the first ``sample_size`` cells are looked at (the row count
is exact: the contract check counts every row).
"""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path
from typing import Any

from goldfish_svs.settings import asked
from goldfish_svs.stats import MIN_ROWS, Result, ratio_check

NULLS = frozenset({"", "na", "n/a", "null", "none"})
LABEL_COLUMNS = frozenset({"label", "labels", "target", "y", "class"})


def _float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def check_table(path: Path, checks: dict[str, dict[str, Any]], *, sample_size: int,
                rows: int | None = None) -> list[Result]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None) or []
        width = max(1, len(header))
        limit = max(1, sample_size // width)
        data = []
        for i, row in enumerate(reader):
            if i >= limit:
                break
            data.append(row)
    counted = rows if rows is not None else len(data)
    sampled = counted > len(data)
    extra = {"rows": counted, "sample_rows": len(data), "sampled": sampled, "exact": not sampled}
    out: list[Result] = []
    cells = len(data) * len(header)
    nulls = nans = infs = numeric = 0
    per_null: dict[str, int] = {}
    labels: dict[str, dict[str, int]] = {}
    for j, col in enumerate(header):
        floats = 0
        col_nan = col_inf = 0
        for row in data:
            cell = row[j] if j < len(row) else ""
            if cell.strip().lower() in NULLS:
                nulls += 1
                per_null[col] = per_null.get(col, 0) + 1
                continue
            v = _float(cell)
            if v is not None:
                floats += 1
                if math.isnan(v):
                    col_nan += 1
                elif math.isinf(v):
                    col_inf += 1
            if col.lower() in LABEL_COLUMNS:
                labels.setdefault(col, {})[cell] = labels.get(col, {}).get(cell, 0) + 1
        if floats:
            numeric += floats
            nans, infs = nans + col_nan, infs + col_inf
    if "null_ratio" in checks and cells:
        worst = max(per_null.items(), key=lambda kv: kv[1], default=("", 0))
        r = ratio_check("null_ratio", "null cells", nulls, cells,
                        float(checks["null_ratio"].get("max", 0.5)),
                        {**extra, "worst_column": worst[0]})
        out.append(r)
    if "nan_ratio" in checks and numeric:
        out.append(ratio_check("nan_ratio", "NaN", nans, numeric,
                               float(checks["nan_ratio"].get("max", 0.0)), extra))
    if "inf_ratio" in checks and numeric:
        out.append(ratio_check("inf_ratio", "Inf", infs, numeric,
                               float(checks["inf_ratio"].get("max", 0.0)), extra))
    if "row_count" in checks:
        from goldfish_svs.stats import row_count

        out.append(row_count(counted, checks["row_count"]))
    settings = checks.get("class_balance")
    if settings is not None and (asked(settings) or counted >= MIN_ROWS):
        for col, counts in labels.items():  # automatic: not on a handful of rows
            n = sum(counts.values())
            min_classes = int(settings.get("min_classes", 2))
            rarest = min(counts.values()) / n if n else 0.0
            data_ = {"column": col, "classes": len(counts), "counts": dict(list(counts.items())[:50]),
                     "rarest_share": rarest, "min_classes": min_classes, **extra}
            if len(counts) < min_classes:
                out.append(Result("class_balance", False, f"column {col!r} has {len(counts)} "
                                  f"class(es) in {n:,} rows; at least {min_classes} expected",
                                  data_))
            elif settings.get("min_share") is not None and rarest < float(settings["min_share"]):
                out.append(Result("class_balance", False, f"rarest class of {col!r} is "
                                  f"{100 * rarest:.3g}% of {n:,} rows", data_, severity="warning"))
            else:
                out.append(Result("class_balance", True, f"column {col!r}: {len(counts)} classes",
                                  data_))
    return out


def line_hashes(path: Path, max_rows: int) -> Any:
    """64-bit hashes of the data rows (normalized cells) of a CSV, for the leakage check."""
    import numpy as np

    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for i, row in enumerate(reader):
            if i >= max_rows:
                break
            digest = hashlib.blake2b("\x1f".join(c.strip() for c in row).encode(), digest_size=8)
            out.append(int.from_bytes(digest.digest(), "little"))
    return np.array(out, dtype=np.uint64)
