"""Segments from dense scores and the paper's proposal scoring, on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from tan_video.detection import (read_detections, read_proposals, score_proposals, scores_to_segments,
                                 write_detections)
from tan_video.errors import InputError


def test_segments_rule_threshold_merge_and_min_length():
    times = np.arange(10) * 0.5  # 2 FPS: each sample stands for +-0.25 s
    s = np.zeros((10, 2))
    s[[1, 2, 3], 0] = [0.6, 0.9, 0.6]   # one run, frames 1-3
    s[[6, 8], 0] = [0.8, 0.8]           # two runs separated by one "off" frame
    s[5, 1] = 0.7                       # a 1-frame run
    segs = scores_to_segments(s, times, threshold=0.5)
    assert segs == [(0, 0.25, 1.75, pytest.approx(0.7)), (1, 2.25, 2.75, 0.7), (0, 2.75, 3.25, 0.8),
                    (0, 3.75, 4.25, 0.8)]
    merged = scores_to_segments(s, times, threshold=0.5, merge_gap=1)
    assert (0, 2.75, 4.25, pytest.approx((0.8 + 0.0 + 0.8) / 3)) in merged  # gap frame counts in the mean
    long_only = scores_to_segments(s, times, threshold=0.5, min_frames=2)
    assert long_only == [(0, 0.25, 1.75, pytest.approx(0.7))]


def test_segments_are_clipped_to_the_video():
    times = np.array([0.0, 1.0, 2.0])
    segs = scores_to_segments(np.ones((3, 1)), times, duration=2.2)
    assert segs == [(0, 0.0, 2.2, 1.0)]
    assert scores_to_segments(np.zeros((0, 3)), np.zeros(0)) == []


def test_proposal_score_is_mean_frame_score_times_actionness():
    times = np.arange(6, dtype=float)
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.5, 0.5], [0.6, 0.4]])
    dets = score_proposals([("v", 1.0, 3.0, 0.5)], {"v": (times, scores)})
    # frames 1, 2, 3 are inside: class 0 mean 0.3, class 1 mean 0.7; times actionness 0.5
    assert dets == [("v", 0, 1.0, 3.0, pytest.approx(0.15)), ("v", 1, 1.0, 3.0, pytest.approx(0.35))]
    top = score_proposals([("v", 1.0, 3.0, 0.5)], {"v": (times, scores)}, top_k=1)
    assert [d[1] for d in top] == [1]
    # a proposal between two samples uses the frame nearest its centre
    assert score_proposals([("v", 2.2, 2.4, 1.0)], {"v": (times, scores)})[0][4] == pytest.approx(0.3)
    with pytest.raises(InputError, match="no predictions"):
        score_proposals([("w", 0, 1, 1)], {"v": (times, scores)})


def test_activitynet_json_round_trip_and_errors(tmp_path):
    (tmp_path / "p.json").write_text('{"results": {"v1": [{"segment": [1.5, 3], "score": 0.8}]}}')
    assert read_proposals(tmp_path / "p.json") == [("v1", 1.5, 3.0, 0.8)]
    dets = [("v1", 1, 1.5, 3.0, 0.4), ("v2", 0, 0.0, 1.0, 0.9)]
    write_detections(tmp_path / "d.json", dets, ["A", "B"])
    assert read_detections(tmp_path / "d.json", ["A", "B"]) == dets
    (tmp_path / "bad.json").write_text('{"results": {"v1": [{"score": 1}]}}')
    with pytest.raises(InputError, match="bad.json"):
        read_proposals(tmp_path / "bad.json")
    with pytest.raises(InputError, match="unknown label"):
        read_detections(tmp_path / "d.json", ["A"])
