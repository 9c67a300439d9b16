"""Annotations: one internal type, readers for the public formats, dense targets.

Every dataset format is turned into a list of :class:`VideoAnnotation` (DESIGN.md section 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class VideoAnnotation:
    """One video's labels.

    video_id: the id used in the annotation file (also the video file's stem).
    duration: length in seconds.
    segments: ``(class_index, start_s, end_s)``, class indices 0-based.
    subset: ``"training"`` / ``"testing"`` / ``"validation"`` or None when the format has none.
    """

    video_id: str
    duration: float
    segments: list[tuple[int, float, float]] = field(default_factory=list)
    subset: str | None = None


def dense_targets(annotation: VideoAnnotation, times, num_classes: int) -> np.ndarray:
    """Multi-hot frame targets ``(T, K)`` float32 for explicit sample times ``(T,)`` in seconds.

    A frame at time ``t`` carries class ``c`` when ``start <= t <= end`` for some segment of
    ``c`` (inclusive at both ends, as the official Charades localisation script does).
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    out = np.zeros((times.shape[0], num_classes), dtype=np.float32)
    for cls, start, end in annotation.segments:
        if not 0 <= cls < num_classes:
            raise ValueError(f"video {annotation.video_id}: class {cls} outside [0, {num_classes})")
        out[(times >= start) & (times <= end), cls] = 1.0
    return out
