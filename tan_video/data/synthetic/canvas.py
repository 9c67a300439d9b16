"""What every painter draws with: shape masks, a frame stack to paint on, a layout of free
positions, random event timings, and the :class:`Scene` of one video being rendered.

Every random draw comes from the scene's one generator, in the order the painters run
(:func:`.render.render_video`): the same generator state gives the same video.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .classes import CLASS_INDEX, CLASSES, ISOLATED_GAP, PERIOD


def shape_mask(shape: str, d: int) -> np.ndarray:
    """Boolean ``(d, d)`` mask of a shape drawn in a ``d``-pixel box."""
    yy, xx = np.mgrid[0:d, 0:d] + 0.5
    c = d / 2
    if shape == "square":
        return np.ones((d, d), bool)
    if shape == "disc":
        return (yy - c) ** 2 + (xx - c) ** 2 <= c * c
    if shape == "ring":
        r2 = (yy - c) ** 2 + (xx - c) ** 2
        return (r2 <= c * c) & (r2 >= (c - max(2.0, d / 4)) ** 2)
    if shape == "cross":
        w = max(2, round(d / 3))
        lo = (d - w) // 2
        m = np.zeros((d, d), bool)
        m[lo:lo + w, :] = True
        m[:, lo:lo + w] = True
        return m
    if shape == "triangle":
        return np.abs(xx - c) <= yy / 2  # apex at the top, base at the bottom
    if shape == "outline":
        w = max(2, round(d * 0.3))  # 3 px at d = 10: wide enough for 4:2:0 chroma to keep its colour
        m = np.ones((d, d), bool)
        m[w:d - w, w:d - w] = False
        return m
    raise ValueError(shape)


def paint(frames: np.ndarray, mask: np.ndarray, y: float, x: float, colour: Sequence[float]) -> None:
    """Paint ``mask`` with its top-left corner at (round(y), round(x)), clipped to the frame.

    frames: one frame ``(H, W, 3)`` or a stack ``(N, H, W, 3)`` (painted alike).
    """
    h, w = frames.shape[-3:-1]
    d0, d1 = mask.shape
    y0, x0 = int(round(y)), int(round(x))
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(h, y0 + d0), min(w, x0 + d1)
    if ys >= ye or xs >= xe:
        return
    region = frames[..., ys:ye, xs:xe, :]
    m = mask[ys - y0:ye - y0, xs - x0:xe - x0]
    if frames.ndim == 4:
        region[:, m] = colour
    else:
        region[m] = colour


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A dark, smoothly textured float ``(size, size, 3)`` background (a different one per video)."""
    base = rng.uniform(25, 75, 3)
    cells = 5
    coarse = rng.uniform(-14, 14, (cells, cells, 3))
    # bilinear upsampling of the coarse grid, separably
    pos = np.linspace(0, cells - 1, size)
    i0 = np.minimum(pos.astype(int), cells - 2)
    f = (pos - i0)[:, None]
    rows = coarse[i0] * (1 - f[..., None]) + coarse[i0 + 1] * f[..., None]          # (size, cells, 3)
    cols = rows[:, i0] * (1 - f[None, :, :]) + rows[:, i0 + 1] * f[None, :, :]      # (size, size, 3)
    return base + cols


class Layout:
    """Non-overlapping positions for the static objects of one video."""

    def __init__(self, rng: np.random.Generator, size: int, margin: int):
        self.rng, self.size, self.margin = rng, size, margin
        self.boxes: list[tuple[float, float, int]] = []

    def place(self, d: int, gap: int = 2, tries: int = 200, force: bool = False) -> tuple[int, int] | None:
        """A free top-left corner for a ``d``-pixel box; None when crowded (``force``: any spot)."""
        y, x = self.free_spot(d, gap, tries)
        if self.is_free(y, x, d, gap) or force:
            self.boxes.append((y, x, d))
            return y, x
        return None

    def is_free(self, y: int, x: int, d: int, gap: int = 2) -> bool:
        return all(y + d + gap <= by or by + bd + gap <= y or x + d + gap <= bx or bx + bd + gap <= x
                   for by, bx, bd in self.boxes)

    def free_spot(self, d: int, gap: int = 2, tries: int = 200) -> tuple[int, int]:
        """A random corner clear of every placed box (without taking it); the last try if none."""
        lo, hi = self.margin, self.size - self.margin - d
        for _ in range(tries):
            y, x = (int(v) for v in self.rng.integers(lo, hi + 1, 2))
            if self.is_free(y, x, d, gap):
                break
        return y, x


def segment(rng: np.random.Generator, frames: int, lo: int, hi: int) -> tuple[int, int]:
    """A random ``[start, end)`` frame range of length in ``[lo, hi]`` (clamped to the video)."""
    hi = max(1, min(hi, frames))
    lo = max(1, min(lo, hi))
    n = int(rng.integers(lo, hi + 1))
    s = int(rng.integers(0, frames - n + 1))
    return s, s + n


def periodic_train(rng: np.random.Generator, frames: int, earliest: int = 0) -> list[int]:
    """Frames (>= ``earliest``) of >= 3 events with gaps drawn from :data:`PERIOD`."""
    gaps = rng.integers(PERIOD[0], PERIOD[1] + 1, frames)
    starts = np.concatenate([[0], np.cumsum(gaps)])
    room = frames - earliest
    max_events = int(np.searchsorted(starts, room - 1, side="right"))  # events that fit
    if max_events < 3:
        return []
    n = int(rng.integers(3, max_events + 1))
    span = int(starts[n - 1])
    first = earliest + int(rng.integers(0, room - span))
    return [first + int(s) for s in starts[:n]]


def isolated_events(rng: np.random.Generator, frames: int, taken: list[int], count: int,
                     earliest: int = 0) -> list[int]:
    """Up to ``count`` event frames (>= ``earliest``), :data:`ISOLATED_GAP` from any other event."""
    out: list[int] = []
    for _ in range(count):
        free = [f for f in range(earliest, frames) if all(abs(f - t) >= ISOLATED_GAP for t in taken + out)]
        if not free:
            break
        out.append(int(rng.choice(free)))
    return sorted(out)


class Scene:
    """One video while it is painted: the float frames, the labels, the record of events.

    The painters (:mod:`.painters`) draw on ``video``, set ``labels`` and append to ``events``;
    :attr:`rng` is the only source of randomness. Sizes scale with ``size / 64``.
    """

    def __init__(self, rng: np.random.Generator, frames: int, size: int, active: set[int], distractors: bool):
        self.rng, self.frames, self.size = rng, frames, size
        self.active, self.distractors = active, distractors
        u = size / 64.0
        self.u = u
        self.sprite = max(6, round(9 * u))  # the moving and the appearance sprites
        self.lamp_d = max(6, round(10 * u))
        self.tile_d = max(7, round(10 * u))
        self.blip_d = max(6, round(10 * u))
        self.margin = max(2, round(8 * u))  # keeps objects in the training crops (transforms.CROP_SCALE)
        self.labels = np.zeros((frames, len(CLASSES)), bool)
        self.events: dict[str, Any] = {"flash": [], "fade": [], "blip": [], "movers": []}
        self.layout = Layout(rng, size, self.margin)
        self.lamps: dict[str, tuple[int, int]] = {}
        self.video = np.repeat(background(rng, size)[None], frames, axis=0)  # float (F, S, S, 3)

    def on(self, name: str) -> bool:
        """Whether the class ``name`` occurs in this video."""
        return CLASS_INDEX[name] in self.active

    def maybe(self, p: float) -> bool:
        """A distractor with probability ``p`` (never when distractors are off; then no draw)."""
        return self.distractors and self.rng.random() < p

    def label(self, name: str, t0: int, t1: int) -> None:
        self.labels[t0:t1, CLASS_INDEX[name]] = True

    def paint_range(self, mask: np.ndarray, y: float, x: float, colour: Sequence[float], t0: int, t1: int) -> None:
        paint(self.video[t0:t1], mask, y, x, colour)
