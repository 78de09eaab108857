"""Reading ``metrics.jsonl`` on the host: byte cursor, torn lines, summaries."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from goldfish import io, metrics
from goldfish.metrics import (
    MetricPoint,
    MetricsReader,
    Summarizer,
    read_all,
    summarize,
)
from stage_support import make_job


def test_reader_follows_a_file_written_by_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = make_job(tmp_path / "job")
    monkeypatch.setenv("GOLDFISH_JOB_DIR", str(job))
    io._reset_for_tests()
    reader = MetricsReader(job / "metrics.jsonl")
    assert reader.read() == []  # no file yet
    io.log_metric("loss", 1.0, 0)
    io.log_metric("loss", math.nan, 1)
    io.flush()
    first = reader.read()
    assert [(p.name, p.step) for p in first] == [("loss", 0), ("loss", 1)]
    assert math.isnan(first[1].value)
    assert reader.read() == []  # nothing new
    io.log_metric("acc", 0.5)
    io.flush()
    assert [(p.name, p.value, p.step) for p in reader.read()] == [("acc", 0.5, None)]
    # a new reader resumes from a persisted cursor
    assert MetricsReader(job / "metrics.jsonl", offset=reader.offset).read() == []
    io._reset_for_tests()


def test_a_torn_last_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"n":"a","v":1,"s":0,"t":1.0}\n{"n":"a","v":2,"s"')
    reader = MetricsReader(path)
    assert [p.value for p in reader.read()] == [1.0]
    with open(path, "a") as fh:
        fh.write(':1,"t":2.0}\n')
    assert [(p.value, p.step) for p in reader.read()] == [(2.0, 1)]
    assert reader.skipped == 0


def test_garbage_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"n":"a","v":1,"s":0,"t":1}\nnot json\n{"n":"a","v":true}\n'
                    '{"n":"a","v":"-inf","s":2,"t":3}\n\n')
    reader = MetricsReader(path)
    points = reader.read()
    assert [p.value for p in points] == [1.0, -math.inf]
    assert reader.skipped == 2
    path.write_text('{"n": "x", "v": 1, "s": 1.5}\n')  # a step that is not an integer
    reader = MetricsReader(path)
    assert reader.read() == [] and reader.skipped == 1


def test_a_chunk_decoded_at_once_counts_and_skips_as_line_by_line(tmp_path: Path) -> None:
    """All lines JSON: one json.loads for the chunk, invalid points still skipped and counted.
    Two points on one line (not one JSON value) are still one bad line, not two points."""
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"n":"a","v":1,"s":0,"t":1}\n{"n":"a","v":true}\n[1, 2]\n')
    reader = MetricsReader(path)
    assert [p.value for p in reader.read()] == [1.0] and reader.skipped == 2
    with open(path, "a") as fh:
        fh.write('{"n":"a","v":2,"s":1,"t":1}, {"n":"a","v":3,"s":2,"t":1}\n'
                 '{"n":"a","v":4,"s":3,"t":1}\n')
    assert [p.value for p in reader.read()] == [4.0] and reader.skipped == 3


def _points(values: list[float], name: str = "loss") -> list[object]:

    return [MetricPoint(name, v, i * 10, float(i)) for i, v in enumerate(values)]


def test_summary_of_a_falling_loss() -> None:
    s = summarize(_points([4.0, 3.0, 2.0, 1.0]))["loss"]  # type: ignore[arg-type]
    assert (s.count, s.last, s.min, s.max) == (4, 1.0, 1.0, 4.0)
    assert (s.first_step, s.last_step) == (0, 30)
    assert s.slope == pytest.approx(-0.1)  # per step
    assert s.has_nonfinite is False


def test_nonfinite_points_are_flagged_not_folded_into_min_max() -> None:
    s = summarize(_points([1.0, math.nan, 0.5, math.inf]))["loss"]  # type: ignore[arg-type]
    assert s.has_nonfinite and s.nonfinite_count == 2
    assert (s.min, s.max) == (0.5, 1.0)
    assert math.isinf(s.last)  # type: ignore[arg-type]
    assert s.to_json()["last"] == "inf"


def test_slope_uses_the_last_window_only_and_is_incremental() -> None:
    summarizer = Summarizer(window=3)
    summarizer.feed(_points([10.0, 0.0, 1.0, 2.0, 3.0]))  # type: ignore[arg-type]
    assert summarizer.summaries()["loss"].slope == pytest.approx(0.1)
    flat = summarize(_points([2.0]))["loss"]  # type: ignore[arg-type]
    assert flat.slope is None  # one point has no trend


def test_read_all_ignores_a_missing_newline(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"n":"a","v":1,"s":null,"t":1}\n{"n":"a","v":2,"s":null,"t":2}')
    assert [p.value for p in read_all(path)] == [1.0]


# --- curve tails (metric_curves' incremental reading) ------------------------------------------


def lines(points: list[tuple[str, object, object]]) -> str:
    return "".join(json.dumps({"n": n, "v": v, "s": s, "t": 1.0}) + "\n" for n, v, s in points)


def full_read(path: Path) -> dict[str, list[tuple[float, float, float]]]:
    """A reading of the whole file: a new CurveTails has no cursor."""
    return metrics.CurveTails().of(path)


def test_curve_tails_keep_the_last_points_and_read_only_what_was_appended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "CURVE_POINTS", 7)
    path = tmp_path / "metrics.jsonl"
    first = [("loss", 1.0 / (i + 1), i) for i in range(10)] + [("loss", "nan", 10)]
    first += [("acc", i / 10, None) for i in range(4)] + [("acc", "inf", None)]
    path.write_text(lines(first) + '{"n": "loss", "v": 0.0')  # a torn last line
    tails = metrics.CurveTails()
    got = tails.of(path)
    # the last 7 finite points of each metric; a point without a step at its index by name
    assert got["loss"] == [(float(i), 1.0 / (i + 1), 1.0) for i in range(3, 10)]
    assert [x for x, _, _ in got["acc"]] == [0.0, 1.0, 2.0, 3.0]
    decoded = []
    real = metrics._fields

    def counting(raw: object) -> tuple[str, float, int | None, float] | None:
        decoded.append(raw)
        return real(raw)

    monkeypatch.setattr(metrics, "_fields", counting)
    with open(path, "a") as fh:  # completes the torn line, adds two
        fh.write(', "s": 11, "t": 1.0}\n' + lines([("acc", 0.5, None), ("loss", 0.01, 12)]))
    now = tails.of(path)
    assert len(decoded) == 3  # the completed line and the two new ones
    assert now == full_read(path)
    assert tails.of(path)["acc"][-1] == (5.0, 0.5, 1.0)  # index 5: after 4 points and an inf


def test_a_replaced_or_truncated_file_is_read_afresh(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(lines([("loss", 1.0, 0), ("loss", 0.5, 1)]))
    tails = metrics.CurveTails()
    assert [v for _, v, _ in tails.of(path)["loss"]] == [1.0, 0.5]
    other = tmp_path / "new.jsonl"  # a retried stage: a new file in its place, longer
    other.write_text(lines([("acc", 0.1, 0), ("acc", 0.2, 1), ("acc", 0.3, 2)]))
    os.replace(other, path)
    assert tails.of(path) == full_read(path) and "loss" not in tails.of(path)
    with open(path, "r+") as fh:  # the same file rewritten in place, longer than before
        fh.write(lines([("f1", 9.0, 0), ("f1", 8.0, 1), ("f1", 7.0, 2), ("f1", 6.0, 3)]))
    assert tails.of(path) == full_read(path) and set(tails.of(path)) == {"f1"}
    path.unlink()
    assert tails.of(path) == {}


def test_curve_tails_keep_at_most_files_files_the_least_recently_asked_dropped(
        tmp_path: Path) -> None:
    tails = metrics.CurveTails(files=2)
    paths = [tmp_path / f"m{i}.jsonl" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_text(lines([("loss", float(i), 0)]))
    tails.of(paths[0]), tails.of(paths[1]), tails.of(paths[0]), tails.of(paths[2])
    assert list(tails._tails) == [str(paths[0]), str(paths[2])]  # m1 was asked for least lately
    assert tails.of(paths[1]) == {"loss": [(0.0, 1.0, 1.0)]}  # read afresh when asked again

    tails = metrics.CurveTails(points=3)  # and at most `points` points over the files
    paths[0].write_text(lines([("loss", 1.0, i) for i in range(2)]))
    tails.of(paths[0]), tails.of(paths[1])
    assert list(tails._tails) == [str(paths[0]), str(paths[1])]  # 2 + 1 points
    tails.of(paths[2])
    assert list(tails._tails) == [str(paths[1]), str(paths[2])]  # 2 + 1 + 1: m0 dropped
    paths[1].write_text(lines([("loss", 1.0, i) for i in range(5)]))
    assert len(tails.of(paths[1])["loss"]) == 5  # the file asked for is kept whole
    assert list(tails._tails) == [str(paths[1])]
