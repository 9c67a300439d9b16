"""Action detection from dense per-frame scores.

Two ways to get temporal segments:

1. :func:`scores_to_segments`, the rule used by ``tan-video predict``. Per class: frames whose
   score is at least ``threshold`` are "on"; runs of "on" frames separated by at most
   ``merge_gap`` "off" frames are merged into one run; runs shorter than ``min_frames`` are
   dropped. A run of frames ``i..j`` becomes the segment ``[t_i - h, t_j + h]`` where ``h`` is half
   the sampling step (each sample stands for the interval around it), clipped to ``[0,
   duration]``; its score is the mean frame score over ``i..j``.
2. :func:`score_proposals`, the paper's detection protocol (section 2, THUMOS14): a class-agnostic
   proposal ``[s, e]`` with actionness ``a`` is scored for class ``c`` as the mean per-frame score
   of ``c`` over the frames sampled inside ``[s, e]``, times ``a``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .errors import InputError


def scores_to_segments(scores: np.ndarray, times: np.ndarray, threshold: float = 0.5, min_frames: int = 1,
                       merge_gap: int = 0, duration: float | None = None) -> list[tuple[int, float, float, float]]:
    """``(T, K)`` scores at ``(T,)`` times -> ``[(class_index, start, end, score)]`` sorted by start."""
    scores = np.asarray(scores, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != times.shape[0]:
        raise ValueError(f"scores (T, K) and times (T,) disagree: {scores.shape} vs {times.shape}")
    if len(times) == 0:
        return []
    half = 0.5 * (float(np.median(np.diff(times))) if len(times) > 1 else 0.0)
    end_limit = float(duration) if duration is not None else float(times[-1]) + half
    out = []
    for c in range(scores.shape[1]):
        on = np.flatnonzero(scores[:, c] >= threshold)
        if on.size == 0:
            continue
        # split where the gap of "off" frames between consecutive "on" frames exceeds merge_gap
        breaks = np.flatnonzero(np.diff(on) > merge_gap + 1)
        for first, last in zip(np.r_[on[0], on[breaks + 1]], np.r_[on[breaks], on[-1]]):
            if last - first + 1 < min_frames:
                continue
            start = max(0.0, times[first] - half)
            end = min(end_limit, times[last] + half)
            out.append((c, float(start), float(end), float(scores[first:last + 1, c].mean())))
    out.sort(key=lambda s: (s[1], s[0]))
    return out


def score_proposals(proposals: Iterable[tuple[str, float, float, float]],
                    dense: Mapping[str, tuple[np.ndarray, np.ndarray]],
                    top_k: int | None = None) -> list[tuple[str, int, float, float, float]]:
    """Score class-agnostic proposals with dense predictions (paper: mean frame score x actionness).

    Args:
        proposals: ``(video_id, start, end, actionness)``.
        dense: video_id -> ``(times (T,), scores (T, K))``.
        top_k: keep the k best classes per proposal (None: all classes).

    Returns detections ``(video_id, class_index, start, end, score)``. A proposal containing no
    sampled frame is scored by the frame nearest its centre.
    """
    out = []
    for vid, start, end, actionness in proposals:
        if vid not in dense:
            raise InputError(f"proposal for video {vid!r}, which has no predictions")
        times, scores = dense[vid]
        inside = (times >= start) & (times <= end)
        if inside.any():
            per_class = scores[inside].mean(axis=0)
        else:
            per_class = scores[np.abs(times - 0.5 * (start + end)).argmin()]
        classes = np.argsort(-per_class)[:top_k] if top_k else range(len(per_class))
        out += [(vid, int(c), float(start), float(end), float(per_class[c] * actionness)) for c in classes]
    return out


def read_proposals(path: str | Path) -> list[tuple[str, float, float, float]]:
    """ActivityNet-style proposals: ``{"results": {vid: [{"segment": [s, e], "score": a}, ...]}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        results = data["results"] if "results" in data else data
        out = []
        for vid, items in results.items():
            for i, item in enumerate(items):
                s, e = item["segment"]
                out.append((str(vid), float(s), float(e), float(item.get("score", 1.0))))
    except FileNotFoundError:
        raise InputError("no such proposals file", path=path) from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise InputError(f"not an ActivityNet-style proposals JSON ({type(e).__name__}: {e})", path=path) from None
    return out


def write_detections(path: str | Path, detections: Iterable[tuple[str, int, float, float, float]],
                     class_names: Sequence[str]) -> Path:
    """ActivityNet detection JSON: ``{"version", "results": {vid: [{label, score, segment}]}}``."""
    results: dict[str, list] = {}
    for vid, c, s, e, score in detections:
        results.setdefault(vid, []).append({"label": class_names[c], "score": round(score, 6),
                                            "segment": [round(s, 3), round(e, 3)]})
    path = Path(path)
    path.write_text(json.dumps({"version": "tan-video", "results": results,
                                "external_data": {"used": False}}, indent=1) + "\n")
    return path


def read_detections(path: str | Path, class_names: Sequence[str]) -> list[tuple[str, int, float, float, float]]:
    """The inverse of :func:`write_detections` (labels mapped back to class indices)."""
    index = {n: i for i, n in enumerate(class_names)}
    path = Path(path)
    try:
        results = json.loads(path.read_text())["results"]
        return [(vid, index[d["label"]], float(d["segment"][0]), float(d["segment"][1]), float(d["score"]))
                for vid, items in results.items() for d in items]
    except FileNotFoundError:
        raise InputError("no such detections file", path=path) from None
    except KeyError as e:
        raise InputError(f"detections JSON: unknown label or missing field {e}", path=path) from None
    except (ValueError, TypeError, IndexError) as e:
        raise InputError(f"not an ActivityNet detection JSON ({type(e).__name__})", path=path) from None
