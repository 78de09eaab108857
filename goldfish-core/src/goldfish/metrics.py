"""Reading a stage's ``metrics.jsonl`` on the host: incrementally, and summarized per metric.

The stage appends whole lines (``goldfish.io`` writes each flush in one call), but the host reads
while it writes, and a killed stage can leave half a line. So :class:`MetricsReader` keeps a byte
cursor and consumes only complete lines; a torn final line is left for the next read, and a line
that is complete but unparsable (a crash mid-write followed by a restart) is counted and skipped.

Values ``"nan"``, ``"inf"`` and ``"-inf"`` (how ``goldfish.io`` writes non-finite values) come back
as floats, because the health checks need to see them.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from goldfish.project import Project

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
DEFAULT_WINDOW = 20


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    step: int | None
    time: float


def _fields(raw: Any) -> tuple[str, float, int | None, float] | None:
    """A decoded ``{"n","v","s","t"}`` line → (name, value, step, time), or None when it is not
    a valid point."""
    try:
        name, value = raw["n"], raw["v"]
        if isinstance(value, str):
            value = _SPECIAL[value]
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        step = raw.get("s")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            return None
        return name, float(value), step, float(raw.get("t") or 0.0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class MetricsReader:
    """Follows one ``metrics.jsonl``; :meth:`read` returns the points added since the last call.

    ``offset`` is the byte cursor: persist it to resume after a restart without re-reading.
    """

    def __init__(self, path: str | os.PathLike[str], offset: int = 0) -> None:
        self.path = Path(path)
        self.offset = offset
        self.skipped = 0  # complete lines that were not valid points

    def read(self, max_bytes: int | None = None) -> list[MetricPoint]:
        return [MetricPoint(*fields) for fields in self.read_fields(max_bytes)]

    def read_fields(self, max_bytes: int | None = None
                    ) -> list[tuple[str, float, int | None, float]]:
        """:meth:`read` without the :class:`MetricPoint`: (name, value, step, time) tuples."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read() if max_bytes is None else fh.read(max_bytes)
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []  # nothing complete yet (or a torn last line)
        from goldfish.runs.ingest import decode  # one json.loads for the chunk, as ingestion

        body = chunk[: end + 1]
        values = decode(body)  # the lines that are JSON
        out = [f for f in map(_fields, values) if f is not None]
        lines = len(values)  # every line was JSON (so none is blank), or count the ones not blank
        if lines != body.count(b"\n"):
            lines = sum(1 for line in body.splitlines() if line.strip())
        self.skipped += lines - len(out)
        self.offset += end + 1
        return out


@dataclass
class MetricSummary:
    """What an agent needs to know about one metric without reading its series.

    ``slope`` is the least-squares slope of the last ``window`` finite points per step (per point
    when steps are missing); whether rising is good depends on the metric, so callers interpret it.
    """

    name: str
    count: int = 0
    last: float | None = None
    min: float | None = None
    max: float | None = None
    first_step: int | None = None
    last_step: int | None = None
    last_time: float | None = None
    slope: float | None = None
    has_nonfinite: bool = False
    nonfinite_count: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for k in ("last", "min", "max", "slope"):
            v = out[k]
            if isinstance(v, float) and not math.isfinite(v):
                out[k] = "nan" if v != v else ("inf" if v > 0 else "-inf")
        return out


def _slope(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


@dataclass
class _Series:
    summary: MetricSummary
    window: deque[tuple[float, float]] = field(default_factory=deque)
    index: int = 0


class Summarizer:
    """Incremental per-metric summaries: feed it points as they arrive, ask for summaries any time."""

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self._series: dict[str, _Series] = {}

    def feed(self, points: Iterable[MetricPoint]) -> None:
        for p in points:
            series = self._series.get(p.name)
            if series is None:
                series = self._series[p.name] = _Series(MetricSummary(p.name), deque(maxlen=self.window))
            s = series.summary
            s.count += 1
            s.last = p.value
            s.last_time = p.time
            if p.step is not None:
                if s.first_step is None:
                    s.first_step = p.step
                s.last_step = p.step
            series.index += 1
            if not math.isfinite(p.value):
                s.has_nonfinite = True
                s.nonfinite_count += 1
                continue
            s.min = p.value if s.min is None else min(s.min, p.value)
            s.max = p.value if s.max is None else max(s.max, p.value)
            x = float(p.step) if p.step is not None else float(series.index)
            series.window.append((x, p.value))

    def summaries(self) -> dict[str, MetricSummary]:
        for series in self._series.values():
            xs = [x for x, _ in series.window]
            ys = [y for _, y in series.window]
            series.summary.slope = _slope(xs, ys)
        return {name: s.summary for name, s in self._series.items()}


def summarize(points: Iterable[MetricPoint], window: int = DEFAULT_WINDOW) -> dict[str, MetricSummary]:
    """Summaries of a whole series at once (see :class:`Summarizer` for the incremental form)."""
    summarizer = Summarizer(window)
    summarizer.feed(points)
    return summarizer.summaries()


def read_all(path: str | os.PathLike[str]) -> list[MetricPoint]:
    """Every complete point in ``path`` (a torn last line is ignored)."""
    return MetricsReader(path).read()


# --- curves -----------------------------------------------------------------------------------

CURVE_POINTS = 5000  # the last points of a curve kept for a plot


@dataclass(frozen=True)
class Curve:
    """One metric of one stage of one run, as a plot draws it: ``points`` are (step, value),
    ``times`` the wall-clock time of each point (seconds since the epoch)."""

    run: str
    metric: str  # "stage.name"
    points: Sequence[tuple[float, float]]
    times: Sequence[float] = ()


def metric_curves(project: Project, runs: list[str], metrics: list[str] | None = None, *,
                  max_panels: int | None = None, max_curves: int | None = None) -> list[Curve]:
    """A :class:`Curve` per run and metric (``stage.name``), read from each stage's
    ``metrics.jsonl`` (a reused stage's curve is its source run's), non-finite values left out;
    at most ``max_panels`` distinct metrics and ``max_curves`` curves. A point without a step
    is placed at its index. Shared by the ``plot_metrics`` tool and the dashboard, which asks
    again every second while a run is live: each file's tails are kept (:class:`CurveTails`)
    and only what was appended since is read."""
    from goldfish.runs.records import get_run

    curves: list[Curve] = []
    panels: list[str] = []
    for ref in runs:
        info = get_run(project, ref)
        for s in info.stages:
            names = [n for n in s.metrics if metrics is None or n in metrics
                     or f"{s.stage}.{n}" in metrics]
            if not names:
                continue
            source_run, source_stage = info.id, s.stage
            if s.reused_from:
                source_run, _, source_stage = s.reused_from.partition("/")
            tails = _TAILS.of(project.runs_dir / source_run / source_stage / "metrics.jsonl")
            for name in names:
                metric = f"{s.stage}.{name}"
                if metric not in panels and max_panels is not None and len(panels) >= max_panels:
                    continue
                series = tails.get(name, ())
                if series:
                    curves.append(Curve(info.id, metric, [(x, y) for x, y, _ in series],
                                        [t for _, _, t in series]))
                    if metric not in panels:
                        panels.append(metric)
                if max_curves is not None and len(curves) >= max_curves:
                    return curves
    return curves


class CurveTails:
    """The last :data:`CURVE_POINTS` finite points (step, value, time) of each metric of the
    ``metrics.jsonl`` files asked about, each file followed by its byte cursor: asking again
    reads only the lines appended since. A file replaced or truncated (a retried stage's job
    directory is made anew) is read afresh: its identity, size and the bytes just before the
    cursor must be the ones seen. At most ``files`` files and ``points`` points in all are kept
    (a long-lived MCP server plots many runs, each file up to CURVE_POINTS per metric), the
    least recently asked for dropped first, never the one just asked for. Thread-safe (the
    dashboard answers from a thread pool)."""

    READ_BYTES = 8 << 20  # decoded per read, so a big file's first reading stays bounded

    def __init__(self, files: int = 64, points: int = 1_000_000) -> None:
        self.files = files
        self.points = points
        self._lock = threading.Lock()
        self._tails: OrderedDict[str, _FileTails] = OrderedDict()

    def of(self, path: Path) -> dict[str, list[tuple[float, float, float]]]:
        """Per metric name, its tail: read up to the last complete line now."""
        key = str(path)
        with self._lock:
            tails = self._tails.pop(key, None)
            try:
                st = os.stat(path)
            except OSError:
                return {}
            if tails is None or not tails.same(st):
                tails = _FileTails(path, (st.st_dev, st.st_ino))
            self._tails[key] = tails
            if st.st_size > tails.reader.offset:
                tails.follow(self.READ_BYTES)
            kept = sum(t.size() for t in self._tails.values())
            while len(self._tails) > 1 and (len(self._tails) > self.files or kept > self.points):
                kept -= self._tails.popitem(last=False)[1].size()
            return {name: list(points) for name, points in tails.points.items()}


class _FileTails:
    MARK = 64  # bytes before the cursor remembered to recognize the same file

    def __init__(self, path: Path, ident: tuple[int, int]) -> None:
        self.reader = MetricsReader(path)
        self.ident = ident
        self.mark = b""
        self.points: dict[str, deque[tuple[float, float, float]]] = {}
        self.seen: dict[str, int] = {}  # points per name so far: the x of a point without a step

    def size(self) -> int:
        return sum(map(len, self.points.values()))

    def same(self, st: os.stat_result) -> bool:
        """Whether the file is still the one followed (not replaced or truncated)."""
        if (st.st_dev, st.st_ino) != self.ident or st.st_size < self.reader.offset:
            return False
        return self._before_cursor(len(self.mark)) == self.mark

    def _before_cursor(self, size: int) -> bytes | None:
        offset = self.reader.offset
        try:
            with open(self.reader.path, "rb") as fh:
                fh.seek(max(0, offset - size))
                return fh.read(min(size, offset))
        except OSError:
            return None

    def follow(self, read_bytes: int) -> None:
        while True:
            offset = self.reader.offset
            for name, value, step, at in self.reader.read_fields(read_bytes):
                index = self.seen.get(name, 0)
                self.seen[name] = index + 1
                if math.isfinite(value):
                    series = self.points.get(name)
                    if series is None:
                        series = self.points[name] = deque(maxlen=CURVE_POINTS)
                    series.append((float(step if step is not None else index), value, at))
            if self.reader.offset == offset:  # nothing complete left (or a torn last line)
                break
        self.mark = self._before_cursor(self.MARK) or b""


_TAILS = CurveTails()
