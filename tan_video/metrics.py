"""Evaluation metrics: pure numpy functions, each stating its convention (README, "Annotations and metrics").

Conventions shared by everything here:

- *Labels* are binary arrays (0/1 or bool); a value ``> 0`` is a positive.
- *AP of one class* is non-interpolated: the mean, over the positives, of the precision at each
  positive's rank in descending score order (the Charades / THUMOS ``THUMOSeventclspr``
  definition). Items with tied scores keep their input order (a stable sort, as MATLAB's
  ``sort`` in the official Charades scripts), so with ties the AP depends on that order;
  this makes the number reproducible and identical to the official script's.
- A class with no positive has AP NaN (0/0, as in the official scripts); mAPs average over the
  classes whose AP is not NaN, and the per-class arrays keep the NaNs so the number excluded
  is visible.

Also here: the ActivityNet-style detection mAP (all-point interpolated AP at tIoU thresholds)
and readers / writers for the official Charades submission files.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import InputError

CHARADES_LOCALIZE_POINTS = 25
"""Frames per video scored by the official Charades localisation protocol."""


# --------------------------------------------------------------------------------------------
# Average precision and frame / video mAP
# --------------------------------------------------------------------------------------------


class MapResult(NamedTuple):
    """``(mean_ap, per_class)``: unpacks like the pair ``frame_map`` is documented to return.

    mean_ap: mean of the per-class APs that are not NaN (NaN when every class is excluded).
    per_class: ``(K,)`` float64, NaN for classes excluded (no positive).
    """

    mean_ap: float
    per_class: np.ndarray

    @property
    def num_excluded(self) -> int:
        """Number of classes excluded from the mean (no positive among the scored items)."""
        return int(np.isnan(self.per_class).sum())


def _nan_mean(values: np.ndarray) -> float:
    # np.nanmean warns on an all-NaN input; "no class could be scored" is a legitimate
    # answer here (NaN), not a warning.
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


def _check_scores_labels(scores: np.ndarray, labels: np.ndarray, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != ndim or scores.shape != labels.shape:
        want = "(N,)" if ndim == 1 else "(N, K)"
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must both have shape {want}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: they cannot be ranked")
    return scores, labels > 0


def _ap_of_column(scores: np.ndarray, positive: np.ndarray) -> float:
    """Non-interpolated AP of one column, stable descending order; NaN without positives."""
    npos = int(positive.sum())
    if npos == 0:
        return math.nan
    # Stable argsort of the negated scores = descending score, ties in input order.
    hits = positive[np.argsort(-scores, kind="stable")]
    precision_at_rank = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(precision_at_rank[hits].sum() / npos)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """Non-interpolated average precision of one class.

    scores: ``(N,)`` real scores (higher = more confident; ``-inf`` allowed, NaN not).
    labels: ``(N,)`` binary (``> 0`` is a positive).

    ``AP = (1 / P) * sum over positives i of precision@rank(i)``, ranks in descending score
    order, ties kept in input order (stable sort, as the official Charades script). Returns
    NaN when there is no positive.
    """
    scores, positive = _check_scores_labels(scores, labels, ndim=1)
    return _ap_of_column(scores, positive)


def _per_class_ap(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    return np.array([_ap_of_column(scores[:, k], positive[:, k]) for k in range(scores.shape[1])],
                    dtype=np.float64)


def frame_map(scores: np.ndarray, labels: np.ndarray) -> MapResult:
    """Frame mAP (MultiTHUMOS / THUMOS14 protocol): every frame is an item, one AP per class.

    scores, labels: ``(N, K)``, N frames pooled over all videos (every sampled frame, the
    unlabelled ones included), K classes.

    Returns ``(mAP, per_class_ap)`` (a :class:`MapResult`): classes with no positive frame
    have AP NaN and are excluded from the mean; ``result.num_excluded`` counts them.
    """
    scores, positive = _check_scores_labels(scores, labels, ndim=2)
    per_class = _per_class_ap(scores, positive)
    return MapResult(_nan_mean(per_class), per_class)


def charades_classify_map(scores: np.ndarray, labels: np.ndarray) -> float:
    """Charades video-level mAP (the official ``Charades_v1_classify`` protocol).

    scores: ``(V, K)`` one score per video and class; labels: ``(V, K)`` binary, a class is
    positive for a video when the video has at least one segment of it.

    As the official script: every score of a video with no label at all is replaced by
    ``-inf`` (such videos go to the bottom of every ranking, so they cannot cost precision),
    then the non-interpolated AP of each class is averaged over classes.

    Classes with no positive video get AP NaN like the official script's 0/0; the official
    script then takes a plain ``mean`` (NaN as soon as one class lacks positives), whereas
    this returns the mean over the other classes. The two agree whenever every class has a
    positive, as on the Charades test set.
    """
    scores, positive = _check_scores_labels(scores, labels, ndim=2)
    scores = scores.copy()
    scores[~positive.any(axis=1)] = -np.inf
    return _nan_mean(_per_class_ap(scores, positive))


def charades_localize_times(duration: float) -> np.ndarray:
    """The 25 sample times ``t_j = (j - 1) / 25 * duration``, ``j = 1..25`` (seconds, ``(25,)``).

    These are the frames the official ``Charades_v1_localize`` script scores: from the start
    of the video, never its very end. Label them with ``dense_targets`` (inclusive
    ``start <= t <= end``, as that script).
    """
    return np.arange(CHARADES_LOCALIZE_POINTS, dtype=np.float64) / CHARADES_LOCALIZE_POINTS * float(duration)


def charades_localize_map(scores: np.ndarray, labels: np.ndarray) -> float:
    """Charades frame mAP (the official ``Charades_v1_localize`` protocol).

    scores, labels: ``(V * 25, K)``, the 25 frames of :func:`charades_localize_times` of each
    video. Every frame is scored, unlabelled ones included (no ``-inf`` treatment here, unlike
    :func:`charades_classify_map`); non-interpolated AP per class, averaged over classes, with
    classes lacking a positive frame excluded (NaN) as in :func:`charades_classify_map`.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] % CHARADES_LOCALIZE_POINTS:
        raise ValueError(f"scores {scores.shape} must be (V * {CHARADES_LOCALIZE_POINTS}, K)")
    return float(frame_map(scores, labels).mean_ap)


# --------------------------------------------------------------------------------------------
# Detection mAP (ActivityNet style)
# --------------------------------------------------------------------------------------------


def segment_iou(segments_a: np.ndarray, segments_b: np.ndarray) -> np.ndarray:
    """Temporal IoU of every pair: ``(N, 2)`` x ``(M, 2)`` ``[start, end]`` -> ``(N, M)``.

    A 1-D ``(2,)`` argument is one segment, and its axis is dropped from the result
    (``(2,)`` x ``(M, 2)`` -> ``(M,)``). ``IoU = |a & b| / (|a| + |b| - |a & b|)``; a pair
    whose union has zero length (two identical points) has IoU 0.
    """
    a = np.asarray(segments_a, dtype=np.float64)
    b = np.asarray(segments_b, dtype=np.float64)
    a2, b2 = a.reshape(-1, 2), b.reshape(-1, 2)
    inter = np.clip(np.minimum(a2[:, None, 1], b2[None, :, 1]) - np.maximum(a2[:, None, 0], b2[None, :, 0]),
                    0.0, None)
    union = (a2[:, 1] - a2[:, 0])[:, None] + (b2[:, 1] - b2[:, 0])[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    if b.ndim == 1:
        iou = iou[:, 0]
    if a.ndim == 1:
        iou = iou[0]
    return iou


def _interpolated_ap(tp: np.ndarray, num_gt: int) -> float:
    """All-point interpolated AP: area under the precision envelope of the ranked list."""
    if tp.size == 0:
        return 0.0
    hits = np.cumsum(tp)
    recall = hits / num_gt
    precision = hits / np.arange(1, tp.size + 1)
    # Envelope: precision at recall r becomes the best precision at any recall >= r.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    recall_steps = np.diff(np.concatenate([[0.0], recall]))
    return float((recall_steps * envelope).sum())


def detection_map(detections: Iterable[tuple[str, int, float, float, float]],
                  ground_truth: Iterable[tuple[str, int, float, float]],
                  tiou_thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7)) -> dict[float, float]:
    """Detection mAP at each tIoU threshold, ActivityNet style.

    detections: ``(video_id, class_index, start, end, score)``.
    ground_truth: ``(video_id, class_index, start, end)``.

    Per class and threshold: detections in descending score (ties in input order); each is a
    true positive when, among the not-yet-matched ground-truth segments of the same class and
    video, the one with the highest tIoU has ``tIoU >= threshold`` (it is then matched), else a
    false positive, so a second detection of an already-matched segment is a false positive.
    AP is all-point interpolated (area under the precision envelope, as ActivityNet's
    ``interpolated_prec_rec``). A class with ground truth but no detection has AP 0; classes
    without ground truth are ignored, with their detections.

    Returns ``{threshold: mAP over the classes with ground truth}`` (NaN if there is none).
    """
    gt_by_class: dict[int, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for video_id, cls, start, end in ground_truth:
        gt_by_class[int(cls)][str(video_id)].append((float(start), float(end)))
    det_by_class: dict[int, list[tuple[str, float, float, float]]] = defaultdict(list)
    for video_id, cls, start, end, score in detections:
        det_by_class[int(cls)].append((str(video_id), float(start), float(end), float(score)))

    thresholds = [float(t) for t in tiou_thresholds]
    if not gt_by_class:
        return {t: math.nan for t in thresholds}
    aps: dict[float, list[float]] = {t: [] for t in thresholds}
    for cls, gt_videos in gt_by_class.items():
        num_gt = sum(len(v) for v in gt_videos.values())
        dets = det_by_class.get(cls, [])
        order = np.argsort(-np.array([d[3] for d in dets], dtype=np.float64), kind="stable")
        gt_arrays = {v: np.array(segs) for v, segs in gt_videos.items()}
        # tIoU of each detection with the ground truth of its video, computed once for all
        # thresholds.
        ious = [segment_iou(np.array(dets[i][1:3]), gt_arrays[dets[i][0]]) if dets[i][0] in gt_arrays
                else np.zeros(0) for i in order]
        for t in thresholds:
            matched = {v: np.zeros(len(s), dtype=bool) for v, s in gt_videos.items()}
            tp = np.zeros(len(order))
            for rank, i in enumerate(order):
                iou = ious[rank]
                if iou.size == 0:
                    continue
                free = np.where(matched[dets[i][0]], -np.inf, iou)
                best = int(np.argmax(free))
                if free[best] >= t:
                    matched[dets[i][0]][best] = True
                    tp[rank] = 1.0
            aps[t].append(_interpolated_ap(tp, num_gt))
    return {t: float(np.mean(v)) for t, v in aps.items()}


# --------------------------------------------------------------------------------------------
# Official Charades submission files
# --------------------------------------------------------------------------------------------


def _format_row(values: np.ndarray) -> str:
    # repr() is the shortest string that reads back to the same float: a file we write
    # scores exactly as the arrays it came from.
    return " ".join(repr(float(x)) for x in values)


def write_charades_classify(path: str | os.PathLike, video_ids: Sequence[str], scores: np.ndarray) -> None:
    """Write the official classify submission: one line ``id s1 s2 ... sK`` per video.

    scores: ``(V, K)`` in the order of ``video_ids``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != len(video_ids):
        raise ValueError(f"scores {scores.shape} must be (len(video_ids)={len(video_ids)}, K)")
    with open(path, "w", encoding="utf-8") as f:
        for vid, row in zip(video_ids, scores):
            f.write(f"{vid} {_format_row(row)}\n")


def write_charades_localize(path: str | os.PathLike, video_ids: Sequence[str], scores: np.ndarray) -> None:
    """Write the official localize submission: lines ``id framenumber s1 ... sK``.

    scores: ``(V, 25, K)``, frame ``j`` (1-based in the file) at ``charades_localize_times``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 3 or scores.shape[:2] != (len(video_ids), CHARADES_LOCALIZE_POINTS):
        raise ValueError(f"scores {scores.shape} must be (len(video_ids)={len(video_ids)}, "
                         f"{CHARADES_LOCALIZE_POINTS}, K)")
    with open(path, "w", encoding="utf-8") as f:
        for vid, frames in zip(video_ids, scores):
            for j, row in enumerate(frames, start=1):
                f.write(f"{vid} {j} {_format_row(row)}\n")


def read_charades_submission(path: str | os.PathLike, kind: str | None = None,
                             num_classes: int | None = None) -> tuple[list[str], np.ndarray]:
    """Read a Charades submission file back: ``(video_ids, scores)``.

    kind: ``"classify"`` (lines ``id s1..sK`` -> scores ``(V, K)``) or ``"localize"``
        (lines ``id framenumber s1..sK``, framenumber 1..25 -> scores ``(V, 25, K)``); None
        decides by the ids: a video id on several lines means localize (classify files have
        one line per video).
    num_classes: when given, every line must carry exactly that many scores.

    Fields are separated by any whitespace. Video ids come back in order of first appearance.
    Any malformed line (wrong field count, non-numeric or NaN score, frame number outside
    1..25, a duplicate or missing frame, a duplicate video) raises InputError naming the line.
    """
    path = Path(path)
    if kind not in (None, "classify", "localize"):
        raise ValueError(f"kind must be 'classify', 'localize' or None, got {kind!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason})", path=path) from None
    rows = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not rows:
        raise InputError("empty submission file", path=path)
    if kind is None:
        ids = [fields[0] for _, fields in rows]
        kind = "localize" if len(set(ids)) < len(ids) else "classify"
    first_score = 2 if kind == "localize" else 1

    expected = num_classes
    parsed: dict[str, dict[int, np.ndarray]] = {}
    first_line: dict[tuple[str, int], int] = {}
    for lineno, fields in rows:
        k = len(fields) - first_score
        if expected is None:
            expected = k
        if k != expected or k < 1:
            raise InputError(f"{k} scores on this line, expected {expected} ({kind} format: "
                             f"{'id framenumber s1..sK' if kind == 'localize' else 'id s1..sK'})",
                             path=path, line=lineno)
        vid = fields[0]
        frame = 0
        if kind == "localize":
            try:
                frame = int(fields[1])
            except ValueError:
                raise InputError(f"frame number {fields[1]!r} is not an integer", path=path, line=lineno) from None
            if not 1 <= frame <= CHARADES_LOCALIZE_POINTS:
                raise InputError(f"frame number {frame} outside 1..{CHARADES_LOCALIZE_POINTS}", path=path,
                                 line=lineno)
        key = (vid, frame)
        if key in first_line:
            what = f"video {vid}" + (f" frame {frame}" if kind == "localize" else "")
            raise InputError(f"{what} already on line {first_line[key]}", path=path, line=lineno)
        first_line[key] = lineno
        try:
            values = np.array([float(x) for x in fields[first_score:]], dtype=np.float64)
        except ValueError:
            bad = next(x for x in fields[first_score:] if not _is_float(x))
            raise InputError(f"score {bad!r} is not a number", path=path, line=lineno) from None
        if np.isnan(values).any():
            raise InputError("NaN score", path=path, line=lineno)
        parsed.setdefault(vid, {})[frame] = values

    video_ids = list(parsed)
    if kind == "classify":
        return video_ids, np.stack([parsed[v][0] for v in video_ids])
    for vid in video_ids:
        missing = sorted(set(range(1, CHARADES_LOCALIZE_POINTS + 1)) - set(parsed[vid]))
        if missing:
            raise InputError(f"video {vid} lacks frame(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}",
                             path=path)
    scores = np.stack([np.stack([parsed[v][j] for j in range(1, CHARADES_LOCALIZE_POINTS + 1)])
                       for v in video_ids])
    return video_ids, scores


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
