"""Metric curves as a PNG for ``plot_metrics``, drawn with matplotlib (Agg, no display).

One panel per metric (small multiples: a loss near 0.01 and an accuracy near 0.9 never share a
y-axis), each with its title, axis labels and ticks; a metric logged once per run (a final
accuracy) is a bar per run with its value written on it. One colour per run, the same in every
panel, named in a legend above the panels. A picture a person or a vision model reads on its own.

matplotlib is imported inside :func:`render`, when a plot is drawn, never when the server starts
(a test spawns ``goldfish serve`` and checks). The object-oriented API (``Figure`` +
``FigureCanvasAgg``) keeps no global state, so concurrent tool calls in worker threads are safe.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from goldfish.metrics import Curve

#: Okabe-Ito colours (readable by colour-blind people), one per run, with their names.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
COLOUR_NAMES = ("blue", "vermillion", "green", "pink", "orange", "sky blue", "black", "yellow")
DPI = 100
PANEL_SIZE = (460, 300)   # pixels of one panel when the caller gives no size
MARKERS_UP_TO = 30         # curves with this many points or fewer get a marker on each point
LOG_SPAN = 1000.0          # positive values spanning more than this factor get a log y-axis


@dataclass(frozen=True)
class Panel:
    metric: str
    runs: list[str]
    log_scale: bool
    y_range: tuple[float, float]
    x_range: tuple[float, float]


def layout(n: int) -> tuple[int, int]:
    """(rows, columns) of the small multiples for ``n`` panels."""
    cols = 1 if n == 1 else 2 if n <= 4 else 3
    return math.ceil(n / cols), cols


def render(curves: Sequence[Curve], width: int | None = None,
           height: int | None = None) -> tuple[bytes, list[Panel], tuple[int, int]]:
    """PNG bytes, the panels drawn (in order) and the image size in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    metrics = list(dict.fromkeys(c.metric for c in curves))
    runs = list(dict.fromkeys(c.run for c in curves))
    colour = {run: PALETTE[i % len(PALETTE)] for i, run in enumerate(runs)}
    rows, cols = layout(len(metrics))
    legend_px = 28 + 18 * math.ceil(len(runs) / 4)
    w = width or PANEL_SIZE[0] * cols
    h = height or PANEL_SIZE[1] * rows + legend_px
    fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    panels: list[Panel] = []
    handles: dict[str, Any] = {}
    for i, metric in enumerate(metrics):
        ax = axes[i // cols][i % cols]
        mine = [c for c in curves if c.metric == metric]
        ys = [y for c in mine for _, y in c.points]
        xs = [x for c in mine for x, _ in c.points]
        log_scale = min(ys) > 0 and max(ys) / min(ys) > LOG_SPAN
        if all(len(c.points) == 1 for c in mine):  # final values (an accuracy): bars by run
            _bars(ax, mine, colour, handles)
            ax.set_title(f"{metric} (final value)", fontsize=10)
            ax.set_ylabel(metric.rpartition(".")[2], fontsize=9)
            ax.set_xlabel("run", fontsize=9)
            panels.append(Panel(metric, [c.run for c in mine], False, (min(ys), max(ys)),
                                (min(xs), max(xs))))
            continue
        for c in mine:
            px, py = [p[0] for p in c.points], [p[1] for p in c.points]
            marker = "o" if len(c.points) <= MARKERS_UP_TO else None
            (line,) = ax.plot(px, py, color=colour[c.run], linewidth=1.6, marker=marker,
                              markersize=4, label=c.run)
            handles.setdefault(c.run, line)
        if log_scale:
            ax.set_yscale("log")
        ax.set_title(metric + (" (log scale)" if log_scale else ""), fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        if all(float(x).is_integer() for x in xs):  # steps are counts: no 2.5 on the axis
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric.rpartition(".")[2], fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.margins(x=0.04, y=0.08)
        panels.append(Panel(metric, [c.run for c in mine], log_scale, (min(ys), max(ys)),
                            (min(xs), max(xs))))
    for j in range(len(metrics), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    fig.legend([handles[r] for r in runs], runs, loc="outside upper center",
               ncols=min(4, len(runs)), fontsize=9, frameon=False, title="runs",
               title_fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue(), panels, (w, h)


def _bars(ax: Any, curves: Sequence[Curve], colour: dict[str, str], handles: dict[str, Any]) -> None:
    """One bar per run with its value written on it; the axis starts at zero unless a value is
    negative, so bar heights compare honestly."""
    names = [c.run for c in curves]
    values = [c.points[0][1] for c in curves]
    bars = ax.bar(range(len(values)), values, color=[colour[n] for n in names], width=0.6)
    for bar, name in zip(bars, names, strict=True):
        handles.setdefault(name, bar)
    ax.bar_label(bars, labels=[f"{v:.4g}" for v in values], fontsize=8, padding=2)
    ax.set_xticks(range(len(values)), [n.rpartition("-")[2] for n in names], fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.margins(y=0.12)
