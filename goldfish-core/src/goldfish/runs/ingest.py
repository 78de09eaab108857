"""Metric ingestion on the host: ``metrics.jsonl`` → running per-metric state → summaries.

The engine ingests a running stage's metrics on every watch tick and once more when the stage
ends. Each pass starts at the stage's byte cursor (``stage_runs.metrics_offset``) and reads only
what was appended since, in batches of :data:`BATCH_BYTES`, so the work over a stage's life is
linear in what it logged and mostly done while it runs. What a full read would know is kept as a
running state per metric (``stage_runs.metrics_state``, JSON, written in the same transaction as
the cursor): count, last, min, max, last step, the last :data:`TREND_WINDOW` values (the trend),
and, for ``check_metrics`` hooks, the last :data:`HISTORY_POINTS` points plus the finite best and
peak and the non-finite count (:class:`goldfish.findings.MetricStats`).

A batch is decoded with one ``json.loads`` over the whole batch (lines joined into one array);
a batch holding a line that is not JSON falls back to line-by-line decoding, so one bad line
costs its batch the slow path and nothing else. A torn last line (the stage is writing it) is
left for the next pass. The accepted lines are the engine's: a JSON object whose ``v`` converts
with ``float()`` (``"nan"``, ``"inf"``, ``"-inf"`` included); ``n`` is the name (``str()`` of
whatever it is), ``s`` the step when it is an integer, ``t`` the time.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields
from itertools import chain
from pathlib import Path
from typing import Any

from goldfish.findings import MetricPoint, MetricStats
from goldfish.runs.records import TREND_WINDOW, summarize

#: Bytes decoded per batch (about 25k points of ``goldfish.io``'s lines).
BATCH_BYTES = 1 << 20
#: Points per metric kept from before the current batch for ``check_metrics`` (``history``).
HISTORY_POINTS = 200
#: Seconds a watch tick spends on a backlog before it returns (the rest waits for the next tick,
#: or for the stage's finish, which reads it without calling ``check_metrics``).
TICK_SECONDS = 0.1
#: A batch followed by more unread bytes than this is folded without its points when a watch
#: tick reads it (``batches(behind=...)``): a stage that logs faster than the host can hand
#: every point to ``check_metrics`` is summarized at the speed of a plain read, and its skipped
#: points still reach the hooks through their stats (``MetricContext.earlier``: count, finite
#: extremes, non-finite values) and the recent history.
CATCH_UP_BYTES = 2 * BATCH_BYTES


@dataclass
class Series:
    """The running state of one metric: what a full read of its points so far would give."""

    count: int = 0
    last: float | None = None
    min: float | None = None  # fold of Python's min() over every value (NaN as min() treats it)
    max: float | None = None
    last_step: int | None = None
    best: float | None = None  # smallest finite value
    peak: float | None = None  # largest finite value
    nonfinite: int = 0
    last_at: float | None = None
    window: list[float] = field(default_factory=list)  # last TREND_WINDOW values
    recent: list[list[Any]] = field(default_factory=list)  # last HISTORY_POINTS [v, s, t]

    def to_json(self) -> list[Any]:
        return [self.count, self.last, self.min, self.max, self.last_step, self.best, self.peak,
                self.nonfinite, self.last_at, self.window, self.recent]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Series:
        if not isinstance(raw, list) or len(raw) != len(fields(cls)):
            raise ValueError(f"not a metric series state: {raw!r:.80}")
        return cls(*raw)

    def stats(self) -> MetricStats:
        return MetricStats(count=self.count, min=self.best, max=self.peak,
                           nonfinite=self.nonfinite, last_at=self.last_at)

    def points(self, name: str) -> list[MetricPoint]:
        return [MetricPoint(name, v, s, t) for v, s, t in self.recent]

    def feed(self, rows: list[dict[str, Any]]) -> None:
        """Fold ``rows`` (decoded points of this metric, in order, ``v`` already a float)."""
        values = [d["v"] for d in rows]
        self.count += len(values)
        self.last = values[-1]
        if math.isfinite(sum(values)):  # every value finite (the common case, in C)
            finite = values
            low, high = min(values), max(values)
            self.min = low if self.min is None else min(self.min, low)
            self.max = high if self.max is None else max(self.max, high)
        else:  # min()/max() folded over the whole series, NaN included, as a full read does
            finite = [v for v in values if math.isfinite(v)]
            self.min = min(values) if self.min is None else min(chain((self.min,), values))
            self.max = max(values) if self.max is None else max(chain((self.max,), values))
        self.nonfinite += len(values) - len(finite)
        if finite:
            low, high = (low, high) if finite is values else (min(finite), max(finite))
            self.best = low if self.best is None else min(self.best, low)
            self.peak = high if self.peak is None else max(self.peak, high)
        last = rows[-1]
        self.last_step = _step(last.get("s"))
        self.last_at = last.get("t")
        self.window = (self.window + values[-TREND_WINDOW:])[-TREND_WINDOW:]
        tail = [[d["v"], _step(d.get("s")), d.get("t")] for d in rows[-HISTORY_POINTS:]]
        self.recent = (self.recent + tail)[-HISTORY_POINTS:]


def _step(raw: Any) -> int | None:
    return int(raw) if isinstance(raw, int) else None


@dataclass
class Batch:
    """What one pass added: its points (when asked for) and the metrics it touched."""

    points: list[MetricPoint]
    names: set[str]
    earlier: dict[str, MetricStats]  # per metric, the stats before this batch
    before: dict[str, list[MetricPoint]]  # per metric, its recent points before this batch

    @classmethod
    def empty(cls) -> Batch:
        return cls([], set(), {}, {})


def decode(body: bytes) -> list[Any]:
    """JSON values of the complete lines in ``body`` (which ends with a newline); lines that
    are not JSON are dropped."""
    lines = body.count(b"\n")
    try:
        values = json.loads(b"[" + body[:-1].replace(b"\n", b",") + b"]")
        if isinstance(values, list) and len(values) == lines:
            return values
    except ValueError:
        pass
    out = []
    for line in body.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def group(values: list[Any], points: list[MetricPoint] | None = None,
          ) -> dict[str, list[dict[str, Any]]]:
    """Valid points per metric name, in order (``v`` made a float); ``points`` collects them
    all in order as :class:`MetricPoint` when given."""
    groups: dict[str, list[dict[str, Any]]] = {}
    make = tuple.__new__  # MetricPoint without its Python-level __new__: a third of the cost
    for d in values:
        try:
            v = d["v"]
            if v.__class__ is not float:
                d["v"] = v = float(v)
        except (KeyError, TypeError, ValueError):
            continue
        name = d.get("n")
        if name.__class__ is not str:
            name = str(name)
        rows = groups.get(name)
        if rows is None:
            rows = groups[name] = []
        rows.append(d)
        if points is not None:
            step = d.get("s")
            if step is not None and step.__class__ is not int:
                step = _step(step)
            points.append(make(MetricPoint, (name, v, step, d.get("t"))))
    return groups


class Ingest:
    """Follows one stage's ``metrics.jsonl`` from its recorded cursor and state.

    ``state`` is ``stage_runs.metrics_state`` (None when never recorded: a cursor past 0 without
    a state, from before states were kept, restarts from byte 0 once; so does a state that does
    not decode).
    """

    def __init__(self, path: Path, offset: int, state: str | None) -> None:
        self.path = path
        self.series: dict[str, Series] = {}
        try:
            if state:
                self.series = {n: Series.from_json(raw) for n, raw in json.loads(state).items()}
            elif offset and state is None:
                offset = 0
        except (ValueError, TypeError, AttributeError):
            self.series, offset = {}, 0
        self.offset = offset
        self.changed: set[str] = set()

    def state(self) -> str:
        return json.dumps({n: s.to_json() for n, s in self.series.items()},
                          separators=(",", ":"))

    def batches(self, *, points: bool = False, batch_bytes: int = BATCH_BYTES,
                behind: int | None = None) -> Any:
        """Yield a :class:`Batch` per decoded batch until the last complete line.

        ``points``: keep each batch's points (for ``check_metrics``), except, with ``behind``,
        in a batch followed by more than ``behind`` unread bytes (see
        :data:`CATCH_UP_BYTES`). A file shorter than the cursor was replaced (a retried or
        re-fetched stage): the state is dropped and reading starts over.
        """
        try:
            fh = open(self.path, "rb")  # noqa: SIM115
        except OSError:
            return
        with fh:
            size = fh.seek(0, 2)
            if size < self.offset:
                self.offset, self.series = 0, {}
            fh.seek(self.offset)
            carry = b""
            want = batch_bytes
            while True:
                chunk = fh.read(want)
                if not chunk:
                    return
                data = carry + chunk if carry else chunk
                end = data.rfind(b"\n")
                if end < 0:  # one line longer than a batch: read on
                    carry, want = data, max(want, len(data))
                    continue
                body, carry, want = data[:end + 1], data[end + 1:], batch_bytes
                unread = size - self.offset - len(body)
                batch = self._fold(body, points and (behind is None or unread <= behind))
                self.offset += len(body)
                yield batch

    def _fold(self, body: bytes, keep: bool) -> Batch:
        new: list[MetricPoint] = []
        groups = group(decode(body), new if keep else None)
        earlier: dict[str, MetricStats] = {}
        before: dict[str, list[MetricPoint]] = {}
        for name, rows in groups.items():
            series = self.series.get(name)
            if series is None:
                series = self.series[name] = Series()
            elif keep:
                earlier[name] = series.stats()
                before[name] = series.points(name)
            series.feed(rows)
        self.changed.update(groups)
        return Batch(new, set(groups), earlier, before)

    def history(self, batch: Batch) -> dict[str, list[MetricPoint]]:
        """Per metric, its recent points before ``batch`` and every point of ``batch``."""
        out: dict[str, list[MetricPoint]] = {}
        for name, series in self.series.items():
            if name not in batch.names:
                out[name] = series.points(name)
        for name in batch.names:
            out[name] = list(batch.before.get(name, []))
        for p in batch.points:
            out[p.name].append(p)
        return out

    def stats(self, batch: Batch) -> dict[str, MetricStats]:
        """Per metric, its stats over every point before ``batch``."""
        out = {n: s.stats() for n, s in self.series.items() if n not in batch.names}
        out.update(batch.earlier)
        return out

    def write(self, conn: Any, run_id: str, stage: str, *, every: bool = False) -> None:
        """Upsert ``metric_summaries`` of the metrics changed since the last write (``every``:
        of all of them)."""
        now = time.time()
        names = list(self.series) if every else sorted(self.changed)
        rows = []
        for name in names:
            s = self.series[name]
            rows.append((run_id, stage, name, s.last, s.min, s.max, s.count,
                         summarize(s.window)["slope"], s.last_step, now))
        conn.executemany(
            "INSERT OR REPLACE INTO metric_summaries (run_id, stage, name, last, min, max, count, "
            "slope, last_step, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.changed.clear()
