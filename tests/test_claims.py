"""The claims report: paired bootstrap verdicts on hand-made score arrays."""

import numpy as np
import pytest

from tan_video import claims, metrics
from tan_video.data.annotations import VideoAnnotation
from tan_video.evaluation import VideoPrediction

CLASSES = ["a", "b"]
GROUPS = {"a": "appearance", "b": "short"}


def _videos(n=40, frames=20, seed=0):
    """n videos of `frames` frames; class a on in the first half of even videos, b in odd ones."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        segs = [(0, 0.0, 0.5 * frames)] if i % 2 == 0 else [(1, 0.25 * frames, 0.75 * frames)]
        ann = VideoAnnotation(f"v{i:03d}", float(frames), segs, "testing")
        out.append((ann, np.arange(frames) + 0.5, rng))
    return out


def _preds(videos, quality: float, seed: int):
    """Scores = quality * label + noise: quality 0 is chance, higher is better."""
    from tan_video.data.annotations import dense_targets

    rng = np.random.default_rng(seed)
    preds = []
    for ann, times, _ in videos:
        labels = dense_targets(ann, times, len(CLASSES))
        scores = quality * labels + rng.random(labels.shape)
        preds.append(VideoPrediction(ann, times, scores.astype(np.float32)))
    return preds


def test_resampled_ap_equals_the_metric_on_the_full_set_and_on_duplicates():
    rng = np.random.default_rng(1)
    scores, labels = rng.random((300, 3)), rng.random((300, 3)) < 0.2
    video = np.repeat(np.arange(30), 10)
    full = claims.resampled_ap(scores, labels, video, np.ones((1, 30)))[0]
    np.testing.assert_allclose(full, metrics.frame_map(scores, labels).per_class, rtol=0, atol=1e-12)
    counts = np.zeros((1, 30))
    counts[0, :5] = 1
    counts[0, 5:8] = 2  # videos drawn twice: their tied copies
    keep = np.concatenate([np.arange(50), np.arange(50, 80), np.arange(50, 80)])
    want = metrics.frame_map(scores[keep], labels[keep]).per_class
    got = claims.resampled_ap(scores, labels, video, counts)[0]
    np.testing.assert_allclose(got, want, atol=0.01)  # the midpoint rule for tied copies



def _weighted_ap_by_cumulative_sums(scores, positive, video, counts):
    """The definition, literally: every ranked frame weighted by its video's count, cumulative sums
    down the ranking, a frame drawn w times at the precision of its middle copy."""
    out = np.full((counts.shape[0], scores.shape[1]), np.nan)
    for c in range(scores.shape[1]):
        order = np.argsort(-scores[:, c], kind="stable")
        pos, w = positive[order, c].astype(float), counts[:, video[order]]
        cum_n, cum_tp = np.cumsum(w, axis=1), np.cumsum(w * pos, axis=1)
        mid = (w + 1) / 2
        prec = (cum_tp - w * pos + mid * pos) / np.maximum(cum_n - w + mid, 1e-12)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c] = np.where(cum_tp[:, -1] > 0, (w * pos * prec).sum(axis=1) / cum_tp[:, -1], np.nan)
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_resampled_ap_equals_the_cumulative_sums_of_its_definition(ties):
    rng = np.random.default_rng(2)
    scores = rng.random((900, 4))
    if ties:
        scores = np.round(scores, 1)  # many tied scores across videos
    positive = rng.random((900, 4)) < 0.15
    positive[:, 3] = False  # a class without positives: NaN
    video = np.sort(rng.integers(0, 25, 900))
    counts = np.vstack([np.ones((1, 25)), claims.bootstrap_counts(25, 300, seed=0)])
    got = claims.resampled_ap(scores, positive, video, counts, chunk=64)  # several chunks
    want = _weighted_ap_by_cumulative_sums(scores, positive, video, counts)
    assert np.isnan(got[:, 3]).all()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)

def test_bootstrap_is_deterministic_for_a_seed():
    a, b = claims.bootstrap_counts(20, 50, seed=3), claims.bootstrap_counts(20, 50, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, claims.bootstrap_counts(20, 50, seed=4))
    assert (a.sum(axis=1) == 20).all()
    videos = _videos()
    preds = {"tan": _preds(videos, 1.0, 0), "3d": _preds(videos, 0.5, 1)}
    one = claims.evaluate_claims(claims.PAPER_CLAIMS, preds, CLASSES, GROUPS, n_boot=100, seed=7)
    two = claims.evaluate_claims(claims.PAPER_CLAIMS, preds, CLASSES, GROUPS, n_boot=100, seed=7)
    assert one == two


@pytest.mark.parametrize("quality_a, quality_b, want", [(2.0, 0.3, "holds"), (0.6, 0.6, "not shown"),
                                                        (0.3, 2.0, "contradicted")])
def test_a_clear_win_a_tie_and_a_loss_give_the_three_verdicts(quality_a, quality_b, want):
    videos = _videos()
    preds = {"tan": _preds(videos, quality_a, 0), "3d": _preds(videos, quality_b, 1)}
    rows = claims.evaluate_claims(claims.PAPER_CLAIMS, preds, CLASSES, GROUPS, n_boot=300, seed=0)
    assert [r["key"] for r in rows] == ["tan_vs_3d", "short_vs_3d"]  # only the claims these models allow
    row = rows[0]
    assert row["verdict"] == want
    low, high = row["ci95"]
    assert low <= row["margin"] <= high
    want_margin = metrics.frame_map(np.concatenate([p.scores for p in preds["tan"]]),
                                    _labels(preds["tan"])).mean_ap - \
        metrics.frame_map(np.concatenate([p.scores for p in preds["3d"]]), _labels(preds["3d"])).mean_ap
    assert row["margin"] == pytest.approx(want_margin, abs=1e-9)


def _labels(preds):
    from tan_video.data.annotations import dense_targets

    return np.concatenate([dense_targets(p.annotation, p.times, len(CLASSES)) for p in preds])


def test_alike_claim_holds_when_the_spread_is_small_and_is_contradicted_when_large():
    videos = _videos(60)
    keys = ("tan", "2d_lstm", "3d", "no_dilation", "level4_only")
    same = {k: _preds(videos, 5.0, i) for i, k in enumerate(keys)}  # all near-perfect on every class
    row = next(r for r in claims.evaluate_claims(claims.PAPER_CLAIMS, same, CLASSES, GROUPS, n_boot=200)
               if r["key"] == "appearance_alike")
    assert row["verdict"] == "holds" and row["spread"] < 0.05
    apart = dict(same, **{"3d": _preds(videos, 0.1, 9)})
    row = next(r for r in claims.evaluate_claims(claims.PAPER_CLAIMS, apart, CLASSES, GROUPS, n_boot=200)
               if r["key"] == "appearance_alike")
    assert row["verdict"] == "contradicted" and row["value_b"] < row["value_a"]


def test_group_claims_need_known_groups():
    videos = _videos()
    preds = {"tan": _preds(videos, 1.0, 0), "3d": _preds(videos, 0.5, 1)}
    rows = claims.evaluate_claims(claims.PAPER_CLAIMS, preds, CLASSES, None, n_boot=50)
    assert [r["key"] for r in rows] == ["tan_vs_3d"]


def test_over_seeds_a_verdict_needs_every_seed():
    row = lambda m, v: {"key": "k", "claim": "c", "source": "s", "group": None, "a": "tan", "b": "3d",  # noqa: E731
                        "value_a": 0.5 + m, "value_b": 0.5, "margin": m, "ci95": [m - 0.01, m + 0.01], "verdict": v}
    agreed = claims.combine_seeds({0: [row(0.1, "holds")], 1: [row(0.2, "holds")]})[0]
    assert agreed["verdict"] == "holds"
    assert agreed["margin"] == pytest.approx(0.15) and agreed["margin_sd"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    assert set(agreed["seeds"]) == {"0", "1"}
    split = claims.combine_seeds({0: [row(0.1, "holds")], 1: [row(0.0, "not shown")]})[0]
    assert split["verdict"] == "not shown"
    md = claims.claims_markdown([agreed])
    assert "seed 0" in md and "**holds**" in md


def test_a_claim_whose_model_failed_is_not_tested_in_one_run_and_over_seeds():
    videos = _videos()
    preds = {"tan": _preds(videos, 1.0, 0), "no_dilation": _preds(videos, 0.5, 1)}
    rows = claims.evaluate_claims(claims.PAPER_CLAIMS, preds, CLASSES, GROUPS, n_boot=50,
                                  failed={"3d": "loss nan at step 9"})
    by_key = {r["key"]: r for r in rows}
    assert by_key["dilation_vs_none"]["verdict"] in ("holds", "not shown", "contradicted")  # still tested
    assert by_key["tan_vs_3d"]["verdict"] == by_key["short_vs_3d"]["verdict"] == "not tested"
    assert by_key["tan_vs_3d"]["reason"] == "3d failed: loss nan at step 9"
    assert "tan_vs_2d" not in by_key  # never asked for: not a failure
    assert "| TAN above 3D (frame mAP) | Table 1 | tan - | 3d - | - | [-, -] | **not tested** (3d failed" in \
        claims.claims_markdown(rows)
    other = claims.evaluate_claims(claims.PAPER_CLAIMS, {**preds, "3d": _preds(videos, 0.2, 2)}, CLASSES, GROUPS,
                                   n_boot=50)
    combined = {r["key"]: r for r in claims.combine_seeds({0: rows, 1: other})}
    assert combined["tan_vs_3d"]["verdict"] == "not tested"
    assert combined["tan_vs_3d"]["margin"] == pytest.approx(next(r for r in other if r["key"] == "tan_vs_3d")["margin"])
    assert combined["dilation_vs_none"]["verdict"] != "not tested"
    assert "**not tested**" in claims.claims_markdown(list(combined.values()))
