"""Rendering one video: a pure function from a random generator to frames, labels and segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import painters
from .canvas import Scene
from .classes import CLASS_INDEX, CLASS_PROB, CLASSES

GENERATOR_VERSION = 5
"""Bumped whenever the rendering changes, so that an existing dataset is regenerated."""


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
        ``movers`` ([{"class", "frames", "ys", "xs", "d"}]), ``periodic_swap`` ({"changes": frames,
        "visible": [t0, t1], "box": [y, x, d]} when the tile is drawn).
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
    if classes is None:
        active = set(np.flatnonzero(rng.random(len(CLASSES)) < CLASS_PROB).tolist())
    else:
        active = {CLASS_INDEX[c] if isinstance(c, str) else int(c) for c in classes}
    scene = Scene(rng, frames, size, active, distractors)

    # The order is the layering and the order of the random draws (see painters).
    painters.paint_motion(scene)  # under everything
    painters.place_lamps(scene)
    swap = painters.long_changes(scene, "periodic_swap")
    # the tile is placed right after the lamps, before the sprites and the clutter: its sparse
    # events must not be hidden
    tile_pos = scene.layout.place(scene.tile_d, force=True) if swap else None
    painters.paint_appearance(scene)
    painters.paint_clutter(scene)  # last of the static objects, only where there is room
    if swap:
        painters.paint_tile(scene, tile_pos, *swap)
    painters.paint_blink(scene)
    painters.paint_beacon(scene)
    painters.paint_blips(scene)  # over everything but the lamps
    painters.paint_brightness(scene)

    out = np.clip(np.rint(scene.video), 0, 255).astype(np.uint8)
    return RenderedVideo(out, scene.labels, labels_to_segments(scene.labels, fps), scene.events)
