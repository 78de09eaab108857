"""A tiny line-plot renderer that writes PNG with zlib: metric curves for ``plot_metrics``.

Why not matplotlib: it is tens of megabytes and costs ~0.5 s to import, for a picture an agent
glances at. Curves on a light grid with a frame are enough; the legend and the value ranges go
into the text content next to the image, where a model reads them exactly.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

#: Distinct colours for up to eight series (Okabe-Ito, readable by colour-blind people).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167),
    (230, 159, 0), (86, 180, 233), (0, 0, 0), (240, 228, 66),
)
COLOUR_NAMES = ("blue", "vermillion", "green", "pink", "orange", "sky blue", "black", "yellow")
BACKGROUND = (255, 255, 255)
GRID = (225, 225, 225)
FRAME = (90, 90, 90)
MARGIN = 12


def encode_png(width: int, height: int, rgb: bytearray) -> bytes:
    """PNG bytes of an 8-bit RGB image (rows top to bottom, no filtering)."""
    raw = bytearray()
    stride = width * 3
    for y in range(height):
        raw.append(0)
        raw += rgb[y * stride:(y + 1) * stride]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b""))


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rgb = bytearray(BACKGROUND * (width * height))

    def dot(self, x: int, y: int, colour: tuple[int, int, int]) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.rgb[i:i + 3] = bytes(colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int],
             thick: bool = False) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, colour)
            if thick:
                self.dot(x0 + 1, y0, colour)
                self.dot(x0, y0 + 1, colour)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def png(self) -> bytes:
        return encode_png(self.width, self.height, self.rgb)


def plot(series: Sequence[Sequence[tuple[float, float]]], width: int = 640,
         height: int = 360) -> tuple[bytes, tuple[float, float, float, float]]:
    """Draw each series of (x, y) points as a line; returns the PNG and (xmin, xmax, ymin, ymax).

    Non-finite values are skipped (a gap). Axes are shared, with 5 % headroom.
    """
    canvas = Canvas(width, height)
    finite = [(x, y) for s in series for x, y in s if math.isfinite(x) and math.isfinite(y)]
    if finite:
        xs = [p[0] for p in finite]
        ys = [p[1] for p in finite]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    else:
        x0, x1, y0, y1 = 0.0, 1.0, 0.0, 1.0
    if x1 == x0:
        x1 = x0 + 1.0
    pad = (y1 - y0) * 0.05 or max(abs(y0) * 0.05, 0.5)
    lo, hi = y0 - pad, y1 + pad
    left, right, top, bottom = MARGIN, width - MARGIN, MARGIN, height - MARGIN
    for i in range(1, 5):
        gy = top + (bottom - top) * i // 5
        canvas.line(left, gy, right, gy, GRID)
        gx = left + (right - left) * i // 5
        canvas.line(gx, top, gx, bottom, GRID)
    for a, b, c, d in ((left, top, right, top), (left, bottom, right, bottom),
                       (left, top, left, bottom), (right, top, right, bottom)):
        canvas.line(a, b, c, d, FRAME)

    def px(x: float, y: float) -> tuple[int, int]:
        return (left + round((x - x0) / (x1 - x0) * (right - left)),
                bottom - round((y - lo) / (hi - lo) * (bottom - top)))

    for n, points in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        prev: tuple[int, int] | None = None
        for x, y in points:
            if not (math.isfinite(x) and math.isfinite(y)):
                prev = None
                continue
            here = px(x, y)
            if prev is None:
                canvas.dot(*here, colour)
            else:
                canvas.line(*prev, *here, colour, thick=True)
            prev = here
    return canvas.png(), (x0, x1, y0, y1)
