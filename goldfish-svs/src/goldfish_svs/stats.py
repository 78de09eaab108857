"""Statistical checks on arrays, memory-mapped and sampled so any size stays bounded.

An array is opened with ``mmap_mode="r"``: nothing is read until a check touches it. Arrays up to
``full_scan_mb`` get an exact NaN/Inf count in one chunked pass (the only full pass); everything
else looks at a *sample* of at most ``sample_size`` values taken as 64 contiguous row blocks at
seeded random offsets (contiguous so a memory map reads few pages; seeded so a rerun gives the
same numbers). Each check returns a :class:`Result` with its numbers, breached or not.

Checks that run *automatically* (on their defaults, configured by nobody) only judge data where
their statistic means something: distribution checks (``constant``, ``collapsed``,
``top_k_concentration``, ``entropy``, ``class_balance``) skip arrays of fewer than
:data:`MIN_ROWS` rows, and ``collapsed``/``top_k_concentration``/``entropy`` skip low-cardinality
data — rows that could not all differ because they hold few distinct values (labels, one-hot
codes, categories, masks: ``distinct values ** row width < rows``), where few distinct rows are
the nature of the data, not a collapse. A check the user configured runs regardless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goldfish_svs.settings import asked

BLOCKS = 64
#: Automatic distribution checks need at least this many rows to say anything.
MIN_ROWS = 20
CHUNK_VALUES = 1 << 22  # values per chunk of the exact NaN/Inf pass (16 MB of float32)
SEED = 20240917
_M1 = 0x9E3779B97F4A7C15
_M2 = 0xBF58476D1CE4E5B9
_M3 = 0x94D049BB133111EB


@dataclass
class Result:
    check: str
    passed: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # None: the check's configured severity when breached


@dataclass
class Sample:
    values: Any  # ndarray of sampled rows (a copy, not a view of the map)
    rows: int  # rows in the array
    sampled_rows: int
    exact: bool  # the sample is the whole array

    def info(self) -> dict[str, Any]:
        return {"rows": self.rows, "sample_rows": self.sampled_rows,
                "sample_size": int(self.values.size), "sampled": not self.exact}


def open_array(path: Path) -> Any:
    """The array at ``path`` as a read-only memory map (a plain array for object dtypes)."""
    import numpy as np

    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "object" in str(exc):
            raise ValueError("it holds Python objects (dtype=object), which cannot be checked "
                             "without unpickling; save a numeric or string array") from exc
        raise


def sample_rows(arr: Any, budget: int) -> Sample:
    """At most ``budget`` values of ``arr`` as whole rows, in contiguous blocks."""
    import numpy as np

    if arr.ndim == 0:
        return Sample(np.asarray(arr).reshape(1), 1, 1, True)
    rows = int(arr.shape[0])
    width = max(1, int(arr.size // rows)) if rows else 1
    want = max(1, budget // width)
    if rows <= want:
        return Sample(np.array(arr), rows, rows, True)
    per = max(1, want // BLOCKS)
    rng = np.random.default_rng(SEED)
    starts = np.sort(rng.choice(rows - per + 1, size=min(BLOCKS, rows - per + 1), replace=False))
    parts, last = [], -1
    for s in starts:
        s = max(int(s), last)  # blocks never overlap
        if s + per > rows:
            break
        parts.append(np.array(arr[s:s + per]))
        last = s + per
    values = np.concatenate(parts) if parts else np.array(arr[:want])
    return Sample(values, rows, int(values.shape[0]), False)


def row_hashes(rows: Any) -> Any:
    """A 64-bit hash of every row's bytes (vectorized; equal rows hash equal)."""
    import numpy as np

    n = rows.shape[0] if rows.ndim else 1
    b = np.ascontiguousarray(rows).reshape(n, -1).view(np.uint8).reshape(n, -1)
    pad = (-b.shape[1]) % 8
    if pad or b.shape[1] == 0:
        b = np.concatenate([b, np.zeros((n, pad or 8), np.uint8)], axis=1)
    words = np.ascontiguousarray(b).view(np.uint64)
    h = np.full(n, _M1, dtype=np.uint64)
    m1, m2, m3 = np.uint64(_M1), np.uint64(_M2), np.uint64(_M3)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            x = words[:, j] * m2
            x ^= x >> np.uint64(31)
            h = (h ^ x) * m3
            h ^= h >> np.uint64(29)
            h += m1
    return h


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _is_float(arr: Any) -> bool:
    return arr.dtype.kind in "fc"


def nonfinite_counts(arr: Any, full: bool, sample: Sample) -> dict[str, Any]:
    """NaN and Inf counts: exact over the whole array (chunked), or over the sample."""
    import numpy as np

    if not _is_float(arr):
        return {"nan": 0, "inf": 0, "total": int(arr.size), "exact": True}
    if not full:
        v = sample.values
        nan = int(np.count_nonzero(np.isnan(v)))
        inf = int(np.count_nonzero(np.isinf(v)))
        return {"nan": nan, "inf": inf, "total": int(v.size), "exact": sample.exact}
    flat = arr.reshape(-1) if arr.flags.c_contiguous or arr.ndim <= 1 else np.asarray(arr).reshape(-1)
    nan = inf = 0
    for start in range(0, flat.size, CHUNK_VALUES):
        chunk = flat[start:start + CHUNK_VALUES]
        bad = chunk.size - int(np.count_nonzero(np.isfinite(chunk)))
        if bad:
            n = int(np.count_nonzero(np.isnan(chunk)))
            nan, inf = nan + n, inf + bad - n
    return {"nan": nan, "inf": inf, "total": int(flat.size), "exact": True}


def ratio_check(name: str, what: str, count: int, total: int, limit: float,
                extra: dict[str, Any]) -> Result:
    ratio = count / total if total else 0.0
    scope = "" if extra.get("exact", True) else f" in a sample of {total:,}"
    return Result(name, ratio <= limit,
                  f"{_pct(ratio)} {what} ({count:,} of {total:,} values{scope}; max {_pct(limit)})",
                  {"value": ratio, "count": count, "total": total, "max": limit, **extra})


def _finite(values: Any) -> Any:
    import numpy as np

    if values.dtype.kind in "fc":
        flat = values.reshape(-1)
        return flat[np.isfinite(flat)]
    return values.reshape(-1)


def constant(sample: Sample) -> Result:
    vals = _finite(sample.values)
    if vals.size < 2:
        return Result("constant", True, f"only {vals.size} finite value(s)",
                      {"values": int(vals.size), **sample.info()})
    first = vals[0]
    same = bool((vals == first).all())
    msg = (f"every value is {first!r} ({vals.size:,} values)" if same else
           "values vary")
    return Result("constant", not same, msg, {"value": first.item() if same else None,
                                               **sample.info()})


def unique_rows(sample: Sample) -> tuple[int, Any]:
    import numpy as np

    hashes = row_hashes(sample.values)
    uniq, counts = np.unique(hashes, return_counts=True)
    return int(uniq.size), counts


def collapsed(sample: Sample, settings: dict[str, Any], counts_cache: dict[str, Any]) -> Result:
    distinct, _counts = counts_cache.setdefault("rows", unique_rows(sample))
    n = sample.sampled_rows
    ratio = distinct / n if n else 1.0
    limit = float(settings.get("min_unique_ratio", 0.01))
    return Result("collapsed", n < 2 or ratio >= limit,
                  f"{distinct:,} distinct rows of {n:,} (unique ratio {ratio:.4g}; "
                  f"min {limit:g})", {"value": ratio, "distinct": distinct, "min": limit,
                                      **sample.info()})


def unique_ratio(sample: Sample, settings: dict[str, Any],
                 counts_cache: dict[str, Any]) -> Result:
    distinct, _ = counts_cache.setdefault("rows", unique_rows(sample))
    n = sample.sampled_rows
    ratio = distinct / n if n else 1.0
    low, high = settings.get("min"), settings.get("max")
    ok = (low is None or ratio >= low) and (high is None or ratio <= high)
    return Result("unique_ratio", ok, f"unique ratio {ratio:.4g} ({distinct:,} of {n:,}; "
                  f"bounds [{low}, {high}])", {"value": ratio, "distinct": distinct, "min": low,
                                              "max": high, **sample.info()})


def top_k(sample: Sample, settings: dict[str, Any], counts_cache: dict[str, Any]) -> Result:
    import numpy as np

    _, counts = counts_cache.setdefault("rows", unique_rows(sample))
    k = int(settings.get("k", 1))
    limit = float(settings.get("max", 0.5))
    n = sample.sampled_rows
    top = int(np.sort(counts)[-k:].sum()) if counts.size else 0
    share = top / n if n else 0.0
    return Result("top_k_concentration", n < 2 or share <= limit,
                  f"the {k} most frequent row(s) are {_pct(share)} of {n:,} (max {_pct(limit)})",
                  {"value": share, "k": k, "max": limit, **sample.info()})


def entropy(sample: Sample, settings: dict[str, Any]) -> Result:
    import numpy as np

    vals = _finite(sample.values)
    bins = int(settings.get("bins", 64))
    if vals.size == 0:
        bits = 0.0
    elif vals.dtype.kind in "fc":
        lo, hi = float(vals.min()), float(vals.max())
        if lo == hi:
            bits = 0.0
        else:
            hist, _ = np.histogram(vals.real if vals.dtype.kind == "c" else vals, bins=bins,
                                   range=(lo, hi))
            p = hist[hist > 0] / vals.size
            bits = float(-(p * np.log2(p)).sum())
    else:
        _, counts = np.unique(vals, return_counts=True)
        p = counts / vals.size
        bits = float(-(p * np.log2(p)).sum())
    low, high = settings.get("min"), settings.get("max")
    ok = (low is None or bits >= low) and (high is None or bits <= high)
    return Result("entropy", ok, f"entropy {bits:.3g} bits (bounds [{low}, {high}])",
                  {"value": bits, "min": low, "max": high, "bins": bins, **sample.info()})


def value_range(arr: Any, full: bool, sample: Sample, settings: dict[str, Any]) -> Result:
    import numpy as np

    if full:
        flat = arr.reshape(-1)
        lo = hi = None
        for start in range(0, flat.size, CHUNK_VALUES):
            c = _finite(np.asarray(flat[start:start + CHUNK_VALUES]))
            if c.size:
                clo, chi = c.min().item(), c.max().item()
                lo = clo if lo is None else min(lo, clo)
                hi = chi if hi is None else max(hi, chi)
        exact = True
    else:
        vals = _finite(sample.values)
        lo = vals.min().item() if vals.size else None
        hi = vals.max().item() if vals.size else None
        exact = sample.exact
    want_lo, want_hi = settings.get("min"), settings.get("max")
    ok = lo is None or ((want_lo is None or lo >= want_lo) and (want_hi is None or hi <= want_hi))
    return Result("range", ok, f"values span [{lo}, {hi}] (allowed [{want_lo}, {want_hi}])",
                  {"min_seen": lo, "max_seen": hi, "min": want_lo, "max": want_hi,
                   "exact": exact, **sample.info()})


def class_balance(sample: Sample, settings: dict[str, Any]) -> Result | None:
    import numpy as np

    vals = sample.values.reshape(-1)
    classes, counts = np.unique(vals, return_counts=True)
    if classes.size > int(settings.get("max_classes", 1000)):
        return None  # not labels
    n = int(vals.size)
    shares = {str(c.item() if hasattr(c, "item") else c): int(k)
              for c, k in zip(classes, counts, strict=True)}
    min_classes = int(settings.get("min_classes", 2))
    rarest = int(counts.min()) / n if n else 0.0
    data = {"classes": int(classes.size), "counts": shares, "min_classes": min_classes,
            "rarest_share": rarest, "min_share": settings.get("min_share"), **sample.info()}
    if classes.size < min_classes:
        only = ", ".join(list(shares)[:3])
        return Result("class_balance", False,
                      f"{classes.size} class(es) ({only}) in {n:,} labels; at least "
                      f"{min_classes} expected", data)
    min_share = settings.get("min_share")
    if min_share is not None and rarest < float(min_share):
        return Result("class_balance", False,
                      f"the rarest class is {_pct(rarest)} of {n:,} labels (min "
                      f"{_pct(float(min_share))})", data, severity="warning")
    return Result("class_balance", True, f"{classes.size} classes, rarest {_pct(rarest)}", data)


def vocab_utilization(sample: Sample, settings: dict[str, Any]) -> Result | None:
    import numpy as np

    size = settings.get("vocab_size")
    if not size:
        return None
    used = int(np.unique(sample.values.reshape(-1)).size)
    share = used / int(size)
    low = float(settings.get("min", 0.0))
    return Result("vocab_utilization", share >= low,
                  f"{used:,} of {int(size):,} ids used ({_pct(share)}; min {_pct(low)})",
                  {"value": share, "used": used, "vocab_size": int(size), "min": low,
                   **sample.info()})


def row_count(rows: int, settings: dict[str, Any]) -> Result:
    low, high = settings.get("min"), settings.get("max")
    ok = (low is None or rows >= low) and (high is None or rows <= high)
    return Result("row_count", ok, f"{rows:,} rows (bounds [{low}, {high}])",
                  {"value": rows, "min": low, "max": high})


def drift(current: Sample, reference: Sample, settings: dict[str, Any]) -> Result:
    """PSI on reference-quantile bins and the two-sample KS statistic, on samples."""
    import numpy as np

    cur = np.sort(_finite(current.values).astype(np.float64))
    ref = np.sort(_finite(reference.values).astype(np.float64))
    if cur.size == 0 or ref.size == 0:
        return Result("drift", True, "no finite values to compare", {"psi": None, "ks": None})
    bins = int(settings.get("bins", 10))
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    p_ref = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    p_cur = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    eps = 1e-6
    pr = np.maximum(p_ref / ref.size, eps)
    pc = np.maximum(p_cur / cur.size, eps)
    psi = float(((pc - pr) * np.log(pc / pr)).sum())
    grid = np.concatenate([ref, cur])
    ks = float(np.abs(np.searchsorted(ref, grid, side="right") / ref.size
                      - np.searchsorted(cur, grid, side="right") / cur.size).max())
    max_psi, max_ks = settings.get("max_psi"), settings.get("max_ks")
    ok = (max_psi is None or psi <= max_psi) and (max_ks is None or ks <= max_ks)
    return Result("drift", ok, f"PSI {psi:.3g} (max {max_psi}), KS {ks:.3g}"
                  + (f" (max {max_ks})" if max_ks is not None else "")
                  + f" against {settings.get('reference')}",
                  {"psi": psi, "ks": ks, "max_psi": max_psi, "max_ks": max_ks,
                   "reference": settings.get("reference"), "sample_size": int(cur.size),
                   "reference_sample_size": int(ref.size)})


def leakage(a: Any, b: Any, names: tuple[str, str], limit: float) -> Result:
    """Share of ``b``'s rows (row hashes) that also occur in ``a``."""
    import numpy as np

    in_a = np.isin(b, a)
    shared = int(np.count_nonzero(in_a))
    n = int(b.size)
    ratio = shared / n if n else 0.0
    return Result("leakage", ratio <= limit,
                  f"{shared:,} of {n:,} rows of {names[1]!r} ({_pct(ratio)}) also occur in "
                  f"{names[0]!r} (max {_pct(limit)})",
                  {"value": ratio, "shared_rows": shared, "rows": n, "rows_reference": int(a.size),
                   "between": list(names), "max": limit})


def distinct_share(hashes: Any) -> float:
    """Share of distinct rows among row hashes (1.0 when every row differs)."""
    import numpy as np

    return float(np.unique(hashes).size / hashes.size) if hashes.size else 1.0


def array_hashes(path: Path, max_rows: int) -> tuple[Any, bool]:
    """Row hashes of an .npy (chunked over the map; sampled beyond ``max_rows``)."""
    import numpy as np

    arr = open_array(path)
    if arr.ndim == 0:
        return row_hashes(np.asarray(arr).reshape(1)), True
    rows = int(arr.shape[0])
    if rows > max_rows:
        return row_hashes(sample_rows(arr, max_rows * max(1, arr.size // max(rows, 1))).values), \
            False
    step = max(1, CHUNK_VALUES // max(1, arr.size // max(rows, 1)))
    parts = [row_hashes(np.asarray(arr[s:s + step])) for s in range(0, rows, step)]
    return (np.concatenate(parts) if parts else np.zeros(0, np.uint64)), True


def low_cardinality(sample: Sample) -> bool:
    """Rows that could not all differ: ``distinct values ** row width < rows`` (on a subsample of
    the values, so a large array costs one small sort)."""
    import numpy as np

    vals = sample.values
    n = sample.sampled_rows
    if vals.size == 0 or n < 2:
        return False
    width = max(1, int(vals.size // max(1, vals.shape[0] if vals.ndim else 1)))
    flat = vals.reshape(-1)
    distinct = int(np.unique(flat[::max(1, flat.size // 65536)]).size)
    return width * math.log(max(distinct, 1)) < math.log(n)


def check_array(path: Path, checks: dict[str, dict[str, Any]], *, sample_size: int,
                full_scan_mb: float, reference: Path | None = None) -> list[Result]:
    """Every applicable check of ``checks`` on the .npy at ``path``."""

    arr = open_array(path)
    full = arr.nbytes <= full_scan_mb * 1024 * 1024
    sample = sample_rows(arr, sample_size)
    out: list[Result] = []
    kind = arr.dtype.kind
    numeric = kind in "fciub"
    labels = arr.ndim == 1 and kind in "iubUS"
    cache: dict[str, Any] = {}
    info = sample.info()
    if _is_float(arr):
        counts = nonfinite_counts(arr, full, sample)
        extra = {"exact": counts["exact"], **info}
        if "nan_ratio" in checks:
            out.append(ratio_check("nan_ratio", "NaN", counts["nan"], counts["total"],
                                   float(checks["nan_ratio"].get("max", 0.0)), extra))
        if "inf_ratio" in checks:
            out.append(ratio_check("inf_ratio", "Inf", counts["inf"], counts["total"],
                                   float(checks["inf_ratio"].get("max", 0.0)), extra))
    if "row_count" in checks and checks["row_count"].get("on", True):
        out.append(row_count(int(arr.shape[0]) if arr.ndim else 1, checks["row_count"]))
    if sample.values.size == 0:
        return out
    small = (int(arr.shape[0]) if arr.ndim else 1) < MIN_ROWS
    lowcard: list[bool] = []

    def judged(name: str, *, by_cardinality: bool = False) -> bool:
        """Run ``name``: asked for, or automatic on data where its statistic means something."""
        settings = checks.get(name)
        if settings is None:
            return False
        if asked(settings):
            return True
        if small:
            return False
        if by_cardinality:
            if not lowcard:
                lowcard.append(low_cardinality(sample))
            return not lowcard[0]
        return True

    handled = False
    if labels and judged("class_balance"):
        balance = class_balance(sample, checks["class_balance"])
        if balance is not None:
            out.append(balance)
            handled = True
    if not handled:
        if judged("constant") and sample.values.size > 1:
            out.append(constant(sample))
        if arr.ndim >= 2 and judged("collapsed", by_cardinality=True):
            out.append(collapsed(sample, checks["collapsed"], cache))
        if (arr.ndim >= 2 or kind in "fc") and judged("top_k_concentration",
                                                      by_cardinality=True):
            out.append(top_k(sample, checks["top_k_concentration"], cache))
    if "unique_ratio" in checks and checks["unique_ratio"].get("on", True):
        out.append(unique_ratio(sample, checks["unique_ratio"], cache))
    if numeric and judged("entropy", by_cardinality=True):
        out.append(entropy(sample, checks["entropy"]))
    if "range" in checks and checks["range"].get("on", True) and numeric and kind != "c":
        out.append(value_range(arr, full, sample, checks["range"]))
    if "vocab_utilization" in checks and kind in "iu":
        vocab = vocab_utilization(sample, checks["vocab_utilization"])
        if vocab is not None:
            out.append(vocab)
    if reference is not None and "drift" in checks and numeric:
        ref = sample_rows(open_array(reference), sample_size)
        out.append(drift(sample, ref, checks["drift"]))
    return out


def nonfinite_in_json(value: Any, limit: int = 1_000_000) -> tuple[int, int, int]:
    """(NaN count, Inf count, numbers seen) in a parsed JSON value, walking at most ``limit``."""
    nan = inf = seen = 0
    stack = [value]
    while stack and seen < limit:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, float):
            seen += 1
            if math.isnan(v):
                nan += 1
            elif math.isinf(v):
                inf += 1
        elif isinstance(v, int) and not isinstance(v, bool):
            seen += 1
    return nan, inf, seen
