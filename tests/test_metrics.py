"""Metrics: hand-computed cases, the documented conventions, and brute-force re-implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tan_video import metrics
from tan_video.errors import InputError

# -- average precision ----------------------------------------------------------------------


def test_average_precision_hand_case():
    # Ranked labels 1 0 1 0 1: precision at the positives is 1/1, 2/3, 3/5.
    # AP = (1 + 2/3 + 3/5) / 3 = (15 + 10 + 9) / 45 = 34/45.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 1, 0, 1])
    assert metrics.average_precision(scores, labels) == pytest.approx(34 / 45)
    # Input order does not matter without ties.
    perm = np.array([3, 0, 4, 1, 2])
    assert metrics.average_precision(scores[perm], labels[perm]) == pytest.approx(34 / 45)


def test_average_precision_perfect_and_worst():
    assert metrics.average_precision([3.0, 2.0, 1.0], [1, 1, 0]) == 1.0
    # The single positive last of 4: precision 1/4.
    assert metrics.average_precision([4.0, 3.0, 2.0, 1.0], [0, 0, 0, 1]) == pytest.approx(0.25)


def test_average_precision_ties_keep_input_order():
    # All scores tied: the stable sort keeps input order, so the positive's rank is its index.
    assert metrics.average_precision([0.5, 0.5, 0.5], [1, 0, 0]) == 1.0
    assert metrics.average_precision([0.5, 0.5, 0.5], [0, 1, 0]) == pytest.approx(1 / 2)
    assert metrics.average_precision([0.5, 0.5, 0.5], [0, 0, 1]) == pytest.approx(1 / 3)
    # Ties only break within equal scores: 0.9 first, then the tied pair in input order.
    # Ranked: 0.9 neg, 0.2 pos, 0.2 neg -> AP = 1/2.
    assert metrics.average_precision([0.2, 0.9, 0.2], [1, 0, 0]) == pytest.approx(1 / 2)


def test_average_precision_no_positive_is_nan_and_bool_labels():
    assert math.isnan(metrics.average_precision([0.1, 0.2], [0, 0]))
    assert metrics.average_precision([0.1, 0.2], np.array([False, True])) == 1.0


def test_average_precision_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        metrics.average_precision([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="shape"):
        metrics.average_precision([0.1, 0.2], [0, 1, 1])


def _brute_force_ap(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP by explicit loops: the rank of item i is 1 + the items ranked before it (a higher
    score, or an equal score earlier in the input), an O(N^2) restatement of the convention."""
    n = len(scores)
    positives = [i for i in range(n) if labels[i] > 0]
    if not positives:
        return math.nan
    total = 0.0
    for i in positives:
        before = [j for j in range(n) if scores[j] > scores[i] or (scores[j] == scores[i] and j < i)]
        hits = 1 + sum(1 for j in before if labels[j] > 0)
        total += hits / (len(before) + 1)
    return total / len(positives)


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 60
    # Integer scores make plenty of ties, so the tie convention is exercised too.
    scores = rng.integers(0, 8, size=n).astype(float)
    labels = (rng.random(n) < 0.3).astype(int)
    labels[0] = 1
    assert metrics.average_precision(scores, labels) == pytest.approx(_brute_force_ap(scores, labels))


# -- frame mAP and the Charades protocols -----------------------------------------------------


def test_frame_map_excludes_classes_without_positives():
    scores = np.array([[0.9, 0.1, 0.3],
                       [0.8, 0.7, 0.2],
                       [0.1, 0.6, 0.9]])
    labels = np.array([[1, 0, 0],
                       [0, 1, 0],
                       [1, 0, 0]])
    # class 0: ranked 0.9 pos, 0.8 neg, 0.1 pos -> (1 + 2/3) / 2 = 5/6
    # class 1: ranked 0.7 pos -> 1
    # class 2: no positive -> NaN, excluded. mAP = (5/6 + 1) / 2 = 11/12.
    result = metrics.frame_map(scores, labels)
    mean_ap, per_class = result  # the documented pair
    assert mean_ap == pytest.approx(11 / 12)
    np.testing.assert_allclose(per_class[:2], [5 / 6, 1.0])
    assert math.isnan(per_class[2])
    assert result.num_excluded == 1


def test_frame_map_all_classes_excluded_is_nan_without_warning(recwarn):
    result = metrics.frame_map(np.zeros((4, 2)), np.zeros((4, 2)))
    assert math.isnan(result.mean_ap) and result.num_excluded == 2
    assert len(recwarn) == 0


def test_frame_map_matches_per_column_brute_force():
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 5, size=(40, 6)).astype(float)
    labels = rng.random((40, 6)) < 0.25
    labels[:, 5] = False  # one class without positives
    mean_ap, per_class = metrics.frame_map(scores, labels)
    expected = np.array([_brute_force_ap(scores[:, k], labels[:, k]) for k in range(6)])
    np.testing.assert_allclose(per_class, expected, equal_nan=True)
    assert mean_ap == pytest.approx(np.nanmean(expected))


def test_charades_classify_pushes_unlabelled_videos_to_the_bottom():
    # Video 2 has no label but the highest scores everywhere.
    scores = np.array([[0.2, 0.1],
                       [0.3, 0.6],
                       [0.9, 0.9]])
    labels = np.array([[1, 0],
                       [0, 1],
                       [0, 0]])
    # Official protocol, video 2 at -inf:
    #   class 0: 0.3 neg, 0.2 pos, -inf neg -> 1/2;  class 1: 0.6 pos -> 1.  mAP = 3/4.
    assert metrics.charades_classify_map(scores, labels) == pytest.approx(3 / 4)
    # Without the -inf rule video 2 would rank first in both classes:
    #   class 0: 0.9 neg, 0.3 neg, 0.2 pos -> 1/3;  class 1: 0.9 neg, 0.6 pos -> 1/2.  mAP = 5/12.
    assert metrics.frame_map(scores, labels).mean_ap == pytest.approx(5 / 12)
    # The caller's array is not modified.
    assert scores[2, 0] == 0.9


def test_charades_classify_class_without_positive_is_excluded():
    scores = np.array([[0.9, 0.5], [0.1, 0.4]])
    labels = np.array([[1, 0], [0, 0]])
    # class 0: AP 1; class 1: no positive video -> NaN, excluded; mean over class 0 = 1.
    assert metrics.charades_classify_map(scores, labels) == 1.0
    assert isinstance(metrics.charades_classify_map(scores, labels), float)


def test_charades_localize_times():
    times = metrics.charades_localize_times(50.0)
    # t_j = (j-1)/25 * 50 = 2 (j-1): 0, 2, ..., 48 (never the end of the video).
    np.testing.assert_allclose(times, np.arange(0, 50, 2.0))
    assert times.shape == (25,)


def test_charades_localize_map_scores_every_frame():
    rng = np.random.default_rng(3)
    scores = rng.random((2 * 25, 4))
    labels = rng.random((2 * 25, 4)) < 0.3
    # Unlike classify, unlabelled frames keep their scores: this is plain frame mAP over the 50.
    assert metrics.charades_localize_map(scores, labels) == pytest.approx(metrics.frame_map(scores, labels).mean_ap)
    with pytest.raises(ValueError, match="25"):
        metrics.charades_localize_map(scores[:49], labels[:49])


# -- segment IoU and detection mAP ------------------------------------------------------------


def test_segment_iou_hand_values_and_shapes():
    gt = np.array([[0.0, 10.0], [5.0, 15.0], [20.0, 30.0]])
    # [0,10] vs [0,10]: 1; vs [5,15]: 5 / 15; vs [20,30]: 0.
    np.testing.assert_allclose(metrics.segment_iou([0.0, 10.0], gt), [1.0, 1 / 3, 0.0])
    assert metrics.segment_iou(gt, gt).shape == (3, 3)
    np.testing.assert_allclose(np.diag(metrics.segment_iou(gt, gt)), 1.0)
    # Identical points: zero-length union, IoU defined as 0 rather than 0/0.
    assert metrics.segment_iou([3.0, 3.0], [3.0, 3.0]) == 0.0


def test_detection_map_hand_case_with_duplicate():
    gt = [("v1", 0, 0.0, 10.0), ("v1", 0, 20.0, 30.0)]
    dets = [
        ("v1", 0, 0.0, 10.0, 0.9),   # IoU 1 with gt A: TP
        ("v1", 0, 1.0, 10.0, 0.8),   # IoU 0.9 with gt A, already matched: duplicate -> FP
        ("v1", 0, 20.0, 25.5, 0.7),  # IoU 5.5/10 = 0.55 with gt B: TP below 0.55, FP above
        ("v2", 0, 0.0, 10.0, 0.95),  # a video without ground truth of class 0: FP
        ("v1", 3, 0.0, 10.0, 0.99),  # a class without ground truth: ignored
    ]
    result = metrics.detection_map(dets, gt)
    # Ranked: v2 FP, A TP, dup FP, B TP(t<=0.5) ; 2 ground-truth segments.
    # t <= 0.5: tp 0 1 0 1 -> recall 0 .5 .5 1, precision 0 1/2 1/3 1/2
    #   envelope 1/2 1/2 1/2 1/2; area = 0.5 * 1/2 + 0.5 * 1/2 = 1/2.
    # t >= 0.6: tp 0 1 0 0 -> recall 0 .5 .5 .5, precision 0 1/2 1/3 1/4
    #   envelope 1/2 1/2 1/3 1/4; area = 0.5 * 1/2 = 1/4.
    assert set(result) == {0.3, 0.4, 0.5, 0.6, 0.7}
    for t in (0.3, 0.4, 0.5):
        assert result[t] == pytest.approx(1 / 2)
    for t in (0.6, 0.7):
        assert result[t] == pytest.approx(1 / 4)


def test_detection_map_envelope_and_missing_class():
    gt = [("a", 0, 0.0, 1.0), ("b", 0, 0.0, 1.0), ("a", 1, 5.0, 6.0)]
    dets = [("a", 0, 0.0, 1.0, 0.9), ("a", 0, 3.0, 4.0, 0.8), ("b", 0, 0.0, 1.0, 0.7)]
    # class 0: tp 1 0 1 -> recall .5 .5 1, precision 1 1/2 2/3; envelope 1 2/3 2/3
    #   area = 0.5 * 1 + 0.5 * 2/3 = 5/6.  class 1: ground truth, no detection -> 0.
    # mAP = (5/6 + 0) / 2 = 5/12.
    assert metrics.detection_map(dets, gt, tiou_thresholds=(0.5,)) == {0.5: pytest.approx(5 / 12)}
    assert math.isnan(metrics.detection_map(dets, [], tiou_thresholds=(0.5,))[0.5])


def _brute_force_detection_ap(dets, gts, t):
    """One class: explicit greedy matching loop and the envelope as max precision at recall >= r."""
    dets = sorted(enumerate(dets), key=lambda p: (-p[1][3], p[0]))
    used = [False] * len(gts)
    tp = []
    for _, (vid, s, e, _score) in dets:
        best, best_iou = None, -1.0
        for g, (gvid, gs, ge) in enumerate(gts):
            if gvid != vid or used[g]:
                continue
            inter = max(0.0, min(e, ge) - max(s, gs))
            union = (e - s) + (ge - gs) - inter
            iou = inter / union if union > 0 else 0.0
            if iou > best_iou:
                best, best_iou = g, iou
        ok = best is not None and best_iou >= t
        if ok:
            used[best] = True
        tp.append(ok)
    prec, rec, hits = [], [], 0
    for k, ok in enumerate(tp, start=1):
        hits += ok
        prec.append(hits / k)
        rec.append(hits / len(gts))
    ap, last_recall = 0.0, 0.0
    for k in range(len(tp)):
        if rec[k] > last_recall:
            ap += (rec[k] - last_recall) * max(prec[k:])
            last_recall = rec[k]
    return ap


@pytest.mark.parametrize("seed", range(4))
def test_detection_map_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(12):
        vid, cls = f"v{rng.integers(3)}", int(rng.integers(2))
        s = float(rng.uniform(0, 50))
        gts.append((vid, cls, s, s + float(rng.uniform(1, 10))))
    for _ in range(40):
        vid, cls, s, e = gts[rng.integers(len(gts))]
        jitter = rng.normal(0, 2, size=2)
        start, end = s + jitter[0], e + jitter[1]
        dets.append((vid, cls, float(min(start, end)), float(max(start, end)), float(rng.integers(0, 10))))
    result = metrics.detection_map(dets, gts, tiou_thresholds=(0.3, 0.5, 0.7))
    for t, got in result.items():
        per_class = []
        for cls in sorted({g[1] for g in gts}):
            per_class.append(_brute_force_detection_ap(
                [(d[0], d[2], d[3], d[4]) for d in dets if d[1] == cls],
                [(g[0], g[2], g[3]) for g in gts if g[1] == cls], t))
        assert got == pytest.approx(np.mean(per_class))


# -- submission files -------------------------------------------------------------------------


def test_classify_submission_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    ids = ["46GP8", "N11GT", "0IH69"]
    scores = rng.standard_normal((3, 157))
    path = tmp_path / "classify.txt"
    metrics.write_charades_classify(path, ids, scores)
    first = path.read_text().splitlines()[0].split()
    assert first[0] == "46GP8" and len(first) == 158
    got_ids, got = metrics.read_charades_submission(path)
    assert got_ids == ids
    np.testing.assert_array_equal(got, scores)
    assert metrics.read_charades_submission(path, kind="classify", num_classes=157)[1].shape == (3, 157)


def test_localize_submission_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    ids = ["AAA", "BBB"]
    scores = rng.random((2, 25, 5)).astype(np.float32)
    path = tmp_path / "localize.txt"
    metrics.write_charades_localize(path, ids, scores)
    lines = path.read_text().splitlines()
    assert len(lines) == 50
    assert lines[0].split()[:2] == ["AAA", "1"] and lines[24].split()[:2] == ["AAA", "25"]
    got_ids, got = metrics.read_charades_submission(path)  # detected: ids repeat
    assert got_ids == ids
    np.testing.assert_array_equal(got, scores.astype(np.float64))
    # Frame order in the file does not matter: the frame number places each row.
    path.write_text("\n".join(reversed(lines)) + "\n")
    got_ids, got = metrics.read_charades_submission(path, kind="localize")
    assert got_ids == ["BBB", "AAA"]
    np.testing.assert_array_equal(got[::-1], scores.astype(np.float64))


@pytest.mark.parametrize("content, kind, message, line", [
    ("A 0.1 0.2\nB 0.3 x\n", "classify", "'x' is not a number", 2),
    ("A 0.1 0.2\nB 0.3\n", "classify", "1 scores", 2),
    ("A 0.1 0.2\nA 0.3 0.4\n", "classify", "already on line 1", 2),
    ("A 0.1 nan\n", "classify", "NaN", 1),
    ("A 0 0.1 0.2\n", "localize", "outside 1..25", 1),
    ("A 1.5 0.1 0.2\n", "localize", "not an integer", 1),
    ("A 1 0.1 0.2\nA 1 0.1 0.2\n", "localize", "frame 1 already on line 1", 2),
])
def test_submission_reader_errors_name_file_and_line(tmp_path, content, kind, message, line):
    path = tmp_path / "sub.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        metrics.read_charades_submission(path, kind=kind)
    assert f"sub.txt:{line}:" in str(err.value) and err.value.line == line


def test_submission_reader_missing_frames_and_class_count(tmp_path):
    path = tmp_path / "sub.txt"
    path.write_text("".join(f"A {j} 0.1 0.2\n" for j in range(1, 25)))  # frame 25 missing
    with pytest.raises(InputError, match=r"video A lacks frame\(s\) \[25\]"):
        metrics.read_charades_submission(path, kind="localize")
    path.write_text("A 0.1 0.2\n")
    with pytest.raises(InputError, match="expected 3"):
        metrics.read_charades_submission(path, num_classes=3)
    path.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        metrics.read_charades_submission(path)
