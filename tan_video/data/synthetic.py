"""The built-in synthetic benchmark: dense multi-label videos whose classes need known temporal scales.

No public video dataset can be downloaded where this project is built and tested, so the CPU
demo (README, "The demo") trains on videos generated here. They are real H.264 files in a
real annotation format (dense JSON), read back through the same decoding and dataset code as
Charades or MultiTHUMOS.

Each class needs a known amount of temporal context, so the paper's claims become measurable:

========== ============================================================= ==================
group      what a model must see                                         context (frames)
========== ============================================================= ==================
appearance a coloured shape (>= 6 px, so one frame shows its shape)      0: one frame
short      1-2 frame events and every-frame blinking                     0-1 at full rate
motion     direction / speed of a sprite that looks the same either way  +-2..4
long       events every 9-12 frames, versus the same event in isolation  +-12 (two events)
========== ============================================================= ==================

- A per-frame (2D) model solves *appearance* and the per-frame *short* classes, not *motion*.
- A model with temporal stride loses the 1-frame *short* events and the frame-rate blinking.
- The *long* classes are designed so that no window of +-4 frames can hold two of their
  events (gaps >= 9 frames), while every +-12 window inside an episode holds two (gaps <= 12);
  distractor events of the same look are isolated (>= 25 frames from any other), so only a
  model that sees two events can tell "periodic" from "isolated". (A smooth sinusoid would
  not do: a +-4 window sees its slope.)

Every class occurs in a random subset of the videos (so video-level mAP does not saturate),
actions overlap (about two labels per frame on average), durations range from 1 frame to the
whole video, and distractors (same shapes in other colours, gray clutter, static look-alikes
of the moving sprites, brightness fades, steady lamps, isolated pulses) keep every class from
being solvable by a cue other than its definition. The classes are invariant to horizontal
flips (motion classes are vertical, or horizontal in either direction) and sprites keep away
from the borders, so the training crops and flips of :class:`~tan_video.data.datasets.ClipDataset`
rarely change a label.

:func:`render_video` is a pure function (an RNG in; frames, frame labels and segments out);
:func:`generate` writes a dataset: ``videos/<id>.mp4`` (H.264, yuv420p, CRF 17, encoded at the
benchmark's fps so that sampling at that fps returns every frame), ``annotations.json``
(dense JSON, class ids 0-based, subsets "training"/"testing"), ``classes.txt`` and ``meta.json``.
Everything is a function of the seed, the encoded bytes included (x264 runs single-threaded
and without macroblock-tree rate control, which measured non-deterministic).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .annotations import VideoAnnotation, write_dense_json

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2
"""Bumped whenever the rendering changes, so that an existing dataset is regenerated."""

GROUPS: tuple[str, ...] = ("appearance", "short", "motion", "long")


@dataclass(frozen=True)
class SyntheticClass:
    """One class of the benchmark.

    group: one of :data:`GROUPS`.
    definition: what is on screen while the label is on.
    temporal_scale: the temporal context a model needs, in words.
    context_frames: the same as a number: frames each side of the labelled frame that must be
        seen (0: the frame alone suffices).
    """

    name: str
    group: str
    definition: str
    temporal_scale: str
    context_frames: int


CLASSES: tuple[SyntheticClass, ...] = (
    SyntheticClass("red_square", "appearance", "a red square is visible (other shapes in red, and squares in other "
                   "colours, are distractors)", "one frame", 0),
    SyntheticClass("green_disc", "appearance", "a green disc is visible", "one frame", 0),
    SyntheticClass("blue_cross", "appearance", "a blue cross is visible", "one frame", 0),
    SyntheticClass("yellow_triangle", "appearance", "a yellow triangle is visible", "one frame", 0),
    SyntheticClass("flash", "short", "the whole frame is brighter for exactly one frame (slow fades to the same "
                   "brightness are distractors)", "1 frame, +-1 to tell from a fade", 1),
    SyntheticClass("blip", "short", "a magenta dot is visible; it stays 1 or 2 frames", "1-2 frames", 0),
    SyntheticClass("fast_blink", "short", "the orange lamp toggles on/off every frame (a steadily lit lamp is a "
                   "distractor)", "+-1 frame at full frame rate", 1),
    SyntheticClass("moving_up", "motion", "a white square moves upwards (static white squares are distractors)",
                   "+-2..4 frames", 3),
    SyntheticClass("moving_down", "motion", "a white square moves downwards", "+-2..4 frames", 3),
    SyntheticClass("fast_sideways", "motion", "a white square slides sideways at 2.5-4 px/frame (at 64 px), "
                   "bouncing off the borders", "+-2 frames", 2),
    SyntheticClass("slow_sideways", "motion", "a white square slides sideways at 0.5-1 px/frame (at 64 px), "
                   "bouncing off the borders", "+-4 frames", 4),
    SyntheticClass("periodic_beacon", "long", "the cyan lamp lights for one frame every 9-12 frames; on from the "
                   "first to the last pulse of the train (isolated pulses are distractors)", "+-12 frames", 12),
    SyntheticClass("periodic_jumps", "long", "the white ring jumps to a new place every 9-12 frames; on from the "
                   "first to the last jump (a ring that jumps once is a distractor)", "+-12 frames", 12),
    SyntheticClass("periodic_swap", "long", "the outlined tile swaps colour (pink/purple) every 9-12 frames; on "
                   "from the first to the last swap (a single swap is a distractor)", "+-12 frames", 12),
)
"""The classes, in index order (class id = position)."""

CLASS_INDEX: dict[str, int] = {c.name: i for i, c in enumerate(CLASSES)}

# -- look ---------------------------------------------------------------------------------------
_COLOURS = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 235), "yellow": (235, 215, 40),
    "white": (240, 240, 240), "magenta": (225, 40, 225), "cyan": (30, 225, 235), "orange": (250, 140, 20),
    "pink": (250, 160, 200), "purple": (130, 60, 200),
}
_APPEARANCE = {"red_square": ("red", "square"), "green_disc": ("green", "disc"),
               "blue_cross": ("blue", "cross"), "yellow_triangle": ("yellow", "triangle")}
_APPEARANCE_DISTRACTORS = [(c, s) for c in ("red", "green", "blue", "yellow")
                           for s in ("square", "disc", "cross", "triangle") if (c, s) not in _APPEARANCE.values()]
_LAMP_OFF, _LAMP_RIM = (55, 55, 55), (120, 120, 120)
_FLASH = 70.0  # added to every pixel for one frame (and the peak of a distractor fade)

_CLASS_PROB = 0.4  # each class occurs in a video with this probability, independently
_PERIOD = (9, 12)  # frames between periodic events: > 8 (two never fit in +-4), <= 12 (+-12 sees two)
_ISOLATED_GAP = 25  # an isolated event is this far from any other: no +-12 window holds both


def _shape_mask(shape: str, d: int) -> np.ndarray:
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


def _paint(frames: np.ndarray, mask: np.ndarray, y: float, x: float, colour: Sequence[float]) -> None:
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


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
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


class _Layout:
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


def _segment(rng: np.random.Generator, frames: int, lo: int, hi: int) -> tuple[int, int]:
    """A random ``[start, end)`` frame range of length in ``[lo, hi]`` (clamped to the video)."""
    hi = max(1, min(hi, frames))
    lo = max(1, min(lo, hi))
    n = int(rng.integers(lo, hi + 1))
    s = int(rng.integers(0, frames - n + 1))
    return s, s + n


def _periodic_train(rng: np.random.Generator, frames: int, earliest: int = 0) -> list[int]:
    """Frames (>= ``earliest``) of >= 3 events with gaps drawn from :data:`_PERIOD`."""
    gaps = rng.integers(_PERIOD[0], _PERIOD[1] + 1, frames)
    starts = np.concatenate([[0], np.cumsum(gaps)])
    room = frames - earliest
    max_events = int(np.searchsorted(starts, room - 1, side="right"))  # events that fit
    if max_events < 3:
        return []
    n = int(rng.integers(3, max_events + 1))
    span = int(starts[n - 1])
    first = earliest + int(rng.integers(0, room - span))
    return [first + int(s) for s in starts[:n]]


def _isolated_events(rng: np.random.Generator, frames: int, taken: list[int], count: int,
                     earliest: int = 0) -> list[int]:
    """Up to ``count`` event frames (>= ``earliest``), :data:`_ISOLATED_GAP` from any other event."""
    out: list[int] = []
    for _ in range(count):
        free = [f for f in range(earliest, frames) if all(abs(f - t) >= _ISOLATED_GAP for t in taken + out)]
        if not free:
            break
        out.append(int(rng.choice(free)))
    return sorted(out)


@dataclass
class RenderedVideo:
    """One rendered video, before encoding.

    frames: uint8 ``(F, S, S, 3)`` RGB.
    labels: bool ``(F, K)``, the label of every frame (K = len(CLASSES)).
    segments: ``(class_index, start_s, end_s)``: each run of labelled frames ``i..k`` becomes
        ``[i / fps, (k + 0.5) / fps]``, so sampling at ``fps`` (times ``j / fps``, inclusive
        ``start <= t <= end``) gives back exactly ``labels``.
    events: what was drawn where, for tests: ``flash`` (frames), ``fade`` (peak frames),
        ``blip`` ([frame, y, x, d]), ``beacon`` / ``blink`` ({"box": [y, x, d], "on": frames}),
        ``movers`` ([{"class", "frames", "ys", "xs", "d"}]), ``periodic_jumps`` /
        ``periodic_swap`` ({"changes": frames, "visible": [t0, t1]} when the ring / tile is drawn;
        ``periodic_swap`` also has ``box`` [y, x, d]).
    """

    frames: np.ndarray
    labels: np.ndarray
    segments: list[tuple[int, float, float]]
    events: dict[str, Any] = field(default_factory=dict)


def labels_to_segments(labels: np.ndarray, fps: float) -> list[tuple[int, float, float]]:
    """Runs of labelled frames -> ``(class, i / fps, (k + 0.5) / fps)``, sorted by class, start."""
    out = []
    for c in range(labels.shape[1]):
        col = np.concatenate([[False], labels[:, c].astype(bool), [False]])
        edges = np.flatnonzero(col[1:] != col[:-1])
        for i, k in zip(edges[::2], edges[1::2] - 1):
            out.append((c, int(i) / fps, (int(k) + 0.5) / fps))
    return out


def render_video(rng: np.random.Generator, frames: int = 64, size: int = 64, fps: float = 8.0,
                 classes: Sequence[int | str] | None = None, distractors: bool = True) -> RenderedVideo:
    """Render one video and its labels from ``rng`` (pure: no files, no global state).

    Args:
        rng: the only source of randomness.
        frames, size, fps: F frames of S x S pixels; fps only converts frames to seconds.
        classes: force exactly these classes (indices or names) to occur; None: each class
            independently with probability 0.4.
        distractors: draw the distractors and clutter (tests turn them off to isolate a class).

    Sizes and speeds scale with ``size / 64``; periods are in frames (they are about the
    model's temporal receptive field in frames).
    """
    k = len(CLASSES)
    if classes is None:
        active = set(np.flatnonzero(rng.random(k) < _CLASS_PROB).tolist())
    else:
        active = {CLASS_INDEX[c] if isinstance(c, str) else int(c) for c in classes}
    on = lambda name: CLASS_INDEX[name] in active  # noqa: E731
    maybe = lambda p: distractors and rng.random() < p  # noqa: E731

    u = size / 64.0
    sprite = max(6, round(9 * u))
    lamp_d = max(6, round(7 * u))
    labels = np.zeros((frames, k), bool)
    events: dict[str, Any] = {"flash": [], "fade": [], "blip": [], "movers": []}
    margin = max(2, round(8 * u))  # keeps objects in the training crops (transforms.CROP_SCALE)
    layout = _Layout(rng, size, margin)

    bg = _background(rng, size)
    video = np.repeat(bg[None], frames, axis=0)  # float (F, S, S, 3)

    def paint_range(mask: np.ndarray, y: float, x: float, colour, t0: int, t1: int) -> None:
        _paint(video[t0:t1], mask, y, x, colour)

    # -- motion: identical white squares moving up / down / sideways fast / slowly; static twins.
    # Drawn first, under every static object: their evidence is in every frame and survives a
    # few occluded frames, while a hidden periodic event or sprite would change what a frame
    # shows about its label.
    square = _shape_mask("square", sprite)
    lo, hi = float(margin), float(size - margin - sprite)

    def mover(cls_name: str | None, vy: float, vx: float, t0: int, t1: int) -> None:
        n = t1 - t0
        if vy:
            # start where the whole path stays inside the frame
            y = lo if vy > 0 else hi
            y += float(rng.uniform(0, max(0.0, (hi - lo) - abs(vy) * (n - 1)))) * (1 if vy > 0 else -1)
            ys = y + vy * np.arange(n)
            xs = np.full(n, float(rng.uniform(lo, hi)))
        else:
            ys = np.full(n, float(rng.uniform(lo, hi)))
            x, v, xs = float(rng.uniform(lo, hi)), vx, []
            for _ in range(n):
                xs.append(x)
                x += v
                if not lo <= x <= hi:  # bounce: reflect the overshoot
                    x = 2 * (lo if x < lo else hi) - x
                    v = -v
            xs = np.asarray(xs)
        for i, t in enumerate(range(t0, t1)):
            _paint(video[t], square, ys[i], xs[i], _COLOURS["white"])
        if cls_name is not None:
            labels[t0:t1, CLASS_INDEX[cls_name]] = True
        events["movers"].append({"class": cls_name, "frames": [t0, t1], "ys": ys.tolist(), "xs": xs.tolist(),
                                 "d": sprite})

    span = hi - lo
    for name, sign in (("moving_up", -1), ("moving_down", 1)):
        if on(name):
            v = float(rng.uniform(0.75, 1.5)) * u
            longest = max(6, int(span / v) + 1)
            t0, t1 = _segment(rng, frames, 6, longest)
            mover(name, sign * v, 0.0, t0, t1)
    for name, speeds in (("fast_sideways", (2.5, 4.0)), ("slow_sideways", (0.5, 1.0))):
        if on(name):
            v = float(rng.uniform(*speeds)) * u * (1 if rng.random() < 0.5 else -1)
            t0, t1 = _segment(rng, frames, 6, frames)
            mover(name, 0.0, v, t0, t1)
    if distractors:
        for _ in range(int(rng.integers(0, 3))):
            t0, t1 = _segment(rng, frames, 4, frames)
            mover(None, 0.0, 0.0, t0, t1)

    # -- the two lamps: always present (off), so that their presence says nothing
    lamps = {}
    for name in ("beacon", "blink"):
        pos = layout.place(lamp_d, gap=3, force=True)
        lamps[name] = pos
        housing = np.ones((lamp_d, lamp_d), bool)
        paint_range(housing, *pos, _LAMP_RIM, 0, frames)
        paint_range(housing[1:-1, 1:-1], pos[0] + 1, pos[1] + 1, _LAMP_OFF, 0, frames)

    def light(name: str, colour, t: int) -> None:
        y, x = lamps[name]
        _paint(video[t], np.ones((lamp_d - 2, lamp_d - 2), bool), y + 1, x + 1, colour)

    # -- long: the jumping ring and the colour-swapping tile
    ring_d, tile_d = max(7, round(10 * u)), max(7, round(10 * u))

    def changes_of(cls_name: str) -> tuple[list[int], int, int] | None:
        """Periodic changes (the class) or isolated ones (the distractor) of a static object,
        and the frames ``[t0, t1)`` it is visible; None when the video does not show it."""
        # A change needs a frame before it to be visible: changes start at frame 1.
        if on(cls_name):
            changes = _periodic_train(rng, frames, earliest=1)
            if changes:
                labels[changes[0]:changes[-1] + 1, CLASS_INDEX[cls_name]] = True
            extra = int(rng.integers(0, 2)) if distractors else 0
            changes = changes + _isolated_events(rng, frames, changes, extra, earliest=1)
        elif maybe(0.6):
            changes = _isolated_events(rng, frames, [], int(rng.integers(1, 3)), earliest=1)
        else:
            return None
        changes = sorted(changes)
        # visible from a little before the first change to a little after the last one (or
        # longer), so that the object's presence alone predicts nothing
        t0 = max(0, changes[0] - int(rng.integers(2, 16))) if changes else 0
        t1 = min(frames, changes[-1] + int(rng.integers(2, 16))) if changes else frames
        events[cls_name] = {"changes": changes, "visible": [t0, t1]}
        return changes, t0, t1

    def overlap(y: int, x: int, d: int) -> int:
        return sum(max(0, min(y + d, by + bd) - max(y, by)) * max(0, min(x + d, bx + bd) - max(x, bx))
                   for by, bx, bd in layout.boxes)

    def draw_ring(changes: list[int], t0: int, t1: int) -> None:
        # The ring moves, so it keeps no box. Each jump goes far enough to be unmistakable, to
        # the candidate spot that overlaps the static objects least (drawn under them, the ring
        # must not hide a periodic tile's swap; over them, it would hide sprites).
        mask = _shape_mask("ring", ring_d)
        lo, hi = margin, size - margin - ring_d
        y, x = layout.free_spot(ring_d, tries=100)
        for t in range(t0, t1):
            if t in changes:
                candidates = [(int(a), int(b)) for a, b in rng.integers(lo, hi + 1, (64, 2))]
                far = [c for c in candidates if abs(c[0] - y) + abs(c[1] - x) >= 3 * ring_d / 2] or candidates
                y, x = min(far, key=lambda c: overlap(*c, ring_d))
            _paint(video[t], mask, y, x, _COLOURS["white"])

    def draw_tile(pos: tuple[int, int], changes: list[int], t0: int, t1: int) -> None:
        mask = _shape_mask("outline", tile_d)
        state = int(rng.integers(2))
        events["periodic_swap"]["box"] = [*pos, tile_d]
        for t in range(t0, t1):
            if t in changes:
                state = 1 - state
            _paint(video[t], mask, *pos, _COLOURS["pink" if state else "purple"])

    swap, jumps = changes_of("periodic_swap"), changes_of("periodic_jumps")
    # placed right after the lamps, before the sprites and the clutter: the tile's sparse
    # events must not be hidden, and the ring later avoids every placed box
    tile_pos = layout.place(tile_d, force=True) if swap else None

    # -- appearance: static coloured shapes; class combinations and distractor combinations
    def static_sprite(colour_name: str, shape: str, cls: int | None, lo: int, hi: int) -> None:
        pos = layout.place(sprite)
        if pos is None:
            return
        t0, t1 = _segment(rng, frames, lo, hi)
        paint_range(_shape_mask(shape, sprite), *pos, _COLOURS[colour_name], t0, t1)
        if cls is not None:
            labels[t0:t1, cls] = True

    for name, (colour_name, shape) in _APPEARANCE.items():
        if on(name):
            for _ in range(int(rng.integers(1, 3))):
                static_sprite(colour_name, shape, CLASS_INDEX[name], 4, frames)
    if distractors:
        for _ in range(int(rng.integers(0, 4))):
            colour_name, shape = _APPEARANCE_DISTRACTORS[int(rng.integers(len(_APPEARANCE_DISTRACTORS)))]
            static_sprite(colour_name, shape, None, 4, frames)

    # -- gray clutter: every shape, neutral colour, static for the whole video; placed last
    # (only where there is room), so that it never crowds out an object that carries a label
    if distractors:
        for _ in range(int(rng.integers(2, 5))):
            d = int(rng.integers(max(5, round(5 * u)), max(5, round(9 * u)) + 1))
            pos = layout.place(d)
            if pos is not None:
                grey = float(rng.uniform(85, 140))
                shape = str(rng.choice(["square", "disc", "cross", "triangle", "ring"]))
                paint_range(_shape_mask(shape, d), *pos, (grey, grey, grey), 0, frames)

    if jumps:
        draw_ring(*jumps)
    if swap:
        draw_tile(tile_pos, *swap)  # over the ring: nothing may hide a swap

    # -- short: the orange lamp toggling every frame (class) or steadily lit (distractor)
    blink_on: list[int] = []
    busy = np.zeros(frames, bool)
    if on("fast_blink"):
        for _ in range(int(rng.integers(1, 3))):
            length = 2 * int(rng.integers(2, 7)) + 1  # odd: starts and ends lit, 5..13 frames
            t0 = int(rng.integers(0, max(1, frames - length + 1)))
            t1 = min(frames, t0 + length)
            if busy[max(0, t0 - 2):t1 + 2].any():
                continue  # keep runs apart so they never merge into one pattern
            busy[t0:t1] = True
            labels[t0:t1, CLASS_INDEX["fast_blink"]] = True
            blink_on += list(range(t0, t1, 2))
    if maybe(0.4):
        t0, t1 = _segment(rng, frames, 3, 16)
        if not busy[max(0, t0 - 2):t1 + 2].any():
            busy[t0:t1] = True
            blink_on += list(range(t0, t1))
    for t in blink_on:
        light("blink", _COLOURS["orange"], t)
    events["blink"] = {"box": [*lamps["blink"], lamp_d], "on": sorted(blink_on)}

    # -- long: the cyan beacon, periodic (class) or isolated pulses (distractor)
    pulses: list[int] = []
    if on("periodic_beacon"):
        pulses = _periodic_train(rng, frames)
        if pulses:
            labels[pulses[0]:pulses[-1] + 1, CLASS_INDEX["periodic_beacon"]] = True
    if maybe(0.6):
        pulses = pulses + _isolated_events(rng, frames, pulses, int(rng.integers(1, 3)))
    for t in pulses:
        light("beacon", _COLOURS["cyan"], t)
    events["beacon"] = {"box": [*lamps["beacon"], lamp_d], "on": sorted(pulses)}

    # -- short: blips (magenta dot, 1-2 frames), drawn over everything but never over a lamp,
    # whose 1-frame pulses they could otherwise hide
    blip_d = max(6, round(6 * u))
    if on("blip"):
        lamp_boxes = [(*lamps[n], lamp_d) for n in lamps]
        for _ in range(int(rng.integers(1, 4))):
            t0 = int(rng.integers(0, frames))
            t1 = min(frames, t0 + int(rng.integers(1, 3)))
            for _ in range(100):
                y, x = (int(v) for v in rng.integers(margin, size - margin - blip_d + 1, 2))
                if all(y + blip_d + 1 <= ly or ly + ld + 1 <= y or x + blip_d + 1 <= lx or lx + ld + 1 <= x
                       for ly, lx, ld in lamp_boxes):
                    break
            paint_range(_shape_mask("disc", blip_d), y, x, _COLOURS["magenta"], t0, t1)
            labels[t0:t1, CLASS_INDEX["blip"]] = True
            events["blip"].extend([t, y, x, blip_d] for t in range(t0, t1))

    # -- global brightness: slow drift, 1-frame flashes (class), slow fades (distractor)
    offset = np.linspace(rng.uniform(-10, 10), rng.uniform(-10, 10), frames)
    flash_frames: list[int] = []
    if on("flash"):
        for _ in range(int(rng.integers(1, 4))):
            t = int(rng.integers(0, frames))
            if all(abs(t - f) >= 3 for f in flash_frames):
                flash_frames.append(t)
        for t in flash_frames:
            offset[t] += _FLASH
            labels[t, CLASS_INDEX["flash"]] = True
    if maybe(0.5):
        for _ in range(int(rng.integers(1, 3))):
            half = int(rng.integers(2, 5))
            c = int(rng.integers(half, frames - half))
            if any(abs(c - f) <= half + 1 for f in flash_frames) or any(abs(c - f) <= 2 * half + 1 for f in
                                                                             events["fade"]):
                continue  # a fade over a flash would hide its 1-frame edge; two would saturate
            ramp = _FLASH * (1 - np.abs(np.arange(-half, half + 1)) / half)
            offset[c - half:c + half + 1] += ramp
            events["fade"].append(c)
    events["flash"] = sorted(flash_frames)
    video += offset[:, None, None, None]

    out = np.clip(np.rint(video), 0, 255).astype(np.uint8)
    return RenderedVideo(out, labels, labels_to_segments(labels, fps), events)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

DEFAULT_CRF = 17


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = DEFAULT_CRF) -> None:
    """Encode uint8 ``(F, H, W, 3)`` RGB frames as H.264 (yuv420p) at ``fps`` into an mp4.

    Frame ``i`` gets the presentation time ``i / fps``. Colour conversion and x264 run
    single-threaded and without macroblock-tree rate control, so the same frames give the
    same bytes and pixels on every run. H and W must be even (4:2:0 chroma).
    """
    f, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even frame sizes, got {w}x{h}")
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # mbtree=0: with x264's macroblock-tree rate control the same frames measured to encode
        # to different bytes (and pixels) from run to run, even single-threaded; without it
        # 12 of 12 test videos were identical over 25 runs. Files get ~1.6x larger (16 KB).
        stream.options = {"crf": str(crf), "threads": "1", "preset": "medium", "x264-params": "mbtree=0"}
        # One single-threaded colour converter for the whole video (the encoder's own would
        # build a threaded one per frame: slower, and one more thing to keep deterministic).
        reformatter = VideoReformatter()
        for i in range(f):
            rgb = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame = reformatter.reformat(rgb, format="yuv420p", threads=1)
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _video_rng(seed: int, subset: str, index: int) -> np.random.Generator:
    # One independent stream per (seed, subset, video): the result does not depend on how the
    # videos are split between processes, nor on how many videos are generated.
    return np.random.default_rng([seed, 0 if subset == "training" else 1, index])


def _video_id(subset: str, index: int) -> str:
    return f"syn_{'train' if subset == 'training' else 'test'}_{index:05d}"


def _make_videos(job: tuple[str, list[tuple[str, int]], int, int, float, int, int]) -> list[tuple[str, str, list, np.ndarray]]:
    """Render and encode a batch of videos (runs in a worker process)."""
    video_dir, items, frames, size, fps, seed, crf = job
    out = []
    for subset, index in items:
        rendered = render_video(_video_rng(seed, subset, index), frames, size, fps)
        vid = _video_id(subset, index)
        write_video(Path(video_dir) / f"{vid}.mp4", rendered.frames, fps, crf)
        out.append((vid, subset, rendered.segments, rendered.labels.sum(axis=0)))
    return out


@dataclass
class SyntheticInfo:
    """What :func:`generate` produced (paths are strings so that the record is JSON-friendly)."""

    root: str
    annotations: str
    classes: str
    videos: str
    num_train: int
    num_test: int
    frames: int
    size: int
    fps: float
    seed: int
    crf: int
    version: int
    reused: bool
    seconds: float
    label_stats: dict[str, Any]


def _settings(num_train: int, num_test: int, frames: int, size: int, fps: float, seed: int, crf: int) -> dict:
    return {"num_train": num_train, "num_test": num_test, "frames": frames, "size": size, "fps": float(fps),
            "seed": seed, "crf": crf}


_VIDEO_NAME = re.compile(r"syn_(train|test)_\d{5}\.mp4")


def generate(out_dir: str | os.PathLike, num_train: int = 384, num_test: int = 128, frames: int = 64,
             size: int = 64, fps: float = 8.0, seed: int = 0, *, crf: int = DEFAULT_CRF,
             workers: int | None = None, force: bool = False) -> SyntheticInfo:
    """Write the benchmark to ``out_dir`` (or reuse it when it is already there).

    Layout: ``videos/syn_train_00000.mp4`` ..., ``annotations.json`` (dense JSON, class ids
    0-based, subsets "training"/"testing"; read it with ``read_annotations(path, "dense_json")``),
    ``classes.txt`` (one name per line, in index order) and ``meta.json`` (settings, generator
    version, label statistics). ``meta.json`` is written last: a dataset whose meta.json has
    the same settings and version, and whose files all exist, is reused as is; anything else
    is regenerated (old generated videos are removed first).

    Args:
        num_train, num_test: videos per subset.
        frames, size, fps: F frames of size x size pixels (size even), timed at fps.
        seed: everything (labels and pixels) is a function of it.
        crf: x264 quality; 17 keeps 1-frame events and 1-pixel motion (tested).
        workers: processes for rendering + encoding; None: up to the CPU count for 32+ videos.
        force: regenerate even when the existing files match.
    """
    t_start = time.perf_counter()
    root = Path(out_dir)
    video_dir = root / "videos"
    settings = _settings(num_train, num_test, frames, size, fps, seed, crf)
    paths = {"annotations": root / "annotations.json", "classes": root / "classes.txt", "meta": root / "meta.json"}
    items = [("training", i) for i in range(num_train)] + [("testing", i) for i in range(num_test)]

    def info(reused: bool, stats: dict) -> SyntheticInfo:
        return SyntheticInfo(str(root), str(paths["annotations"]), str(paths["classes"]), str(video_dir),
                             num_train, num_test, frames, size, float(fps), seed, crf, GENERATOR_VERSION, reused,
                             round(time.perf_counter() - t_start, 3), stats)

    if not force and paths["meta"].is_file():
        try:
            meta = json.loads(paths["meta"].read_text())
        except (OSError, ValueError):
            meta = {}
        if (meta.get("version") == GENERATOR_VERSION and meta.get("settings") == settings
                and paths["annotations"].is_file() and paths["classes"].is_file()
                and all((video_dir / f"{_video_id(s, i)}.mp4").is_file() for s, i in items)):
            log.info("reusing the synthetic benchmark in %s", root)
            return info(True, meta.get("label_stats", {}))

    if size % 2:
        raise ValueError(f"size must be even (H.264 4:2:0), got {size}")
    if frames < 1 or num_train < 0 or num_test < 0:
        raise ValueError("frames must be >= 1 and the video counts >= 0")
    video_dir.mkdir(parents=True, exist_ok=True)
    paths["meta"].unlink(missing_ok=True)  # an interrupted run must not look complete
    for p in video_dir.iterdir():
        if _VIDEO_NAME.fullmatch(p.name):
            p.unlink()

    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(items) >= 32 else 1
    chunk = max(1, math.ceil(len(items) / (workers * 4)))
    jobs = [(str(video_dir), items[i:i + chunk], frames, size, float(fps), seed, crf)
            for i in range(0, len(items), chunk)]
    if workers > 1 and len(jobs) > 1:
        # fork is cheap and fine here (the workers only run numpy and PyAV); elsewhere spawn
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            results = [r for batch in pool.map(_make_videos, jobs) for r in batch]
    else:
        results = [r for job in jobs for r in _make_videos(job)]

    duration = frames / fps
    annotations = [VideoAnnotation(vid, duration, list(segments), subset) for vid, subset, segments, _ in results]
    write_dense_json(annotations, paths["annotations"], class_base=0)
    paths["classes"].write_text("".join(c.name + "\n" for c in CLASSES))
    counts = np.stack([c for *_, c in results]) if results else np.zeros((0, len(CLASSES)))
    stats = {
        "labels_per_frame": round(float(counts.sum() / max(1, len(results) * frames)), 3),
        "videos_per_class": {c.name: int((counts[:, i] > 0).sum()) for i, c in enumerate(CLASSES)},
        "frames_per_class": {c.name: int(counts[:, i].sum()) for i, c in enumerate(CLASSES)},
        "groups": {c.name: c.group for c in CLASSES},
    }
    meta = {"generator": "tan_video.data.synthetic", "version": GENERATOR_VERSION, "settings": settings,
            "classes": [asdict(c) for c in CLASSES], "label_stats": stats}
    tmp = paths["meta"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    os.replace(tmp, paths["meta"])
    result = info(False, stats)
    log.info("wrote the synthetic benchmark (%d videos) to %s in %.1f s", len(items), root, result.seconds)
    return result


__all__ = ["CLASSES", "CLASS_INDEX", "GROUPS", "GENERATOR_VERSION", "SyntheticClass", "SyntheticInfo",
           "RenderedVideo", "render_video", "labels_to_segments", "write_video", "generate"]
