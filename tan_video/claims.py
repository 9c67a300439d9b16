"""The paper's claims as testable comparisons, each with a paired bootstrap over test videos.

A claim compares two numbers measured on the same test videos: model A's and model B's frame
mAP, or their mean AP over one class group. Its *margin* is A - B; the 95% interval of the
margin comes from a paired bootstrap: the test videos are resampled with replacement
(``n_boot`` times, deterministic for a seed) and both models are scored on the same resample,
so the interval reflects which videos happened to be in the test set, not training noise.
The verdict is ``"holds"`` when the whole interval is above 0, ``"contradicted"`` when it is
below 0, and ``"not shown"`` otherwise. Over several seeds a claim holds (or is contradicted)
only when every seed agrees.

"All models alike on a group" is written the same way: the margin is ``tolerance`` minus the
spread (best - worst model on that group), so it holds when the spread is surely below the
tolerance.

AP on a resample is computed exactly as :func:`tan_video.metrics.frame_map` would on the
duplicated videos, from one ranking per class: a frame drawn ``w`` times counts ``w`` times, and
its ``w`` tied copies take the precision at their middle copy (exact for ``w = 1``; the
resampled point estimates therefore equal the reported metric when every video is drawn once).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data.annotations import dense_targets

VERDICTS = ("holds", "contradicted", "not shown", "not tested")


@dataclass(frozen=True)
class Claim:
    """One comparison. ``group=None``: frame mAP over all classes; else the group's mean AP.

    ``kind="greater"``: A above B. ``kind="alike"``: every model in ``models`` within
    ``tolerance`` of each other on the group (A and B are then unused).
    """

    key: str
    text: str
    source: str
    a: str = ""
    b: str = ""
    group: str | None = None
    kind: str = "greater"
    models: tuple[str, ...] = ()
    tolerance: float = 0.05


# The claims the built-in benchmark can test, in the model keys of tan_video.demo.DEMO_MODELS.
PAPER_CLAIMS: tuple[Claim, ...] = (
    Claim("tan_vs_2d", "TAN above 2D+LSTM (frame mAP)", "Table 1", "tan", "2d_lstm"),
    Claim("tan_vs_3d", "TAN above 3D (frame mAP)", "Table 1", "tan", "3d"),
    Claim("all_levels_vs_level4", "TA at all four levels above level 4 only (frame mAP)", "Table 2", "tan",
          "level4_only"),
    Claim("dilation_vs_none", "dilated TA above a plain temporal conv (frame mAP)", "Table 2", "tan", "no_dilation"),
    Claim("short_vs_3d", "3D's temporal stride loses short events: TAN above 3D on short", "section 4.4", "tan", "3d",
          group="short"),
    Claim("motion_vs_2d", "temporal modelling sees motion: TAN above 2D+LSTM on motion", "section 4.4", "tan",
          "2d_lstm", group="motion"),
    Claim("long_vs_no_dilation", "dilation helps long-range classes: TAN above no dilation on long", "Table 2",
          "tan", "no_dilation", group="long"),
    Claim("appearance_alike", "all models alike on appearance (spread < 0.05 AP)", "section 4.4", group="appearance",
          kind="alike", models=("tan", "2d_lstm", "3d", "no_dilation", "level4_only")),
)


# The same questions on features extracted once (``tan-video demo --features``), in the model keys
# of tan_video.demo.FEATURE_MODELS: the per-frame network is frozen and shared, so only the
# temporal model differs. The per-frame linear head plays the part of the paper's 2D model
# without temporal modelling, the LSTM that of 2D+LSTM.
FEATURE_CLAIMS: tuple[Claim, ...] = (
    Claim("ta_vs_lstm", "TA modules above an LSTM on the same features (frame mAP)", "Table 1 (TAN vs 2D+LSTM)",
          "ta_head", "lstm"),
    Claim("ta_vs_per_frame", "TA modules above per-frame scoring of the same features (frame mAP)",
          "Table 2 (TA modules vs none)", "ta_head", "linear"),
    Claim("dilation_vs_none", "dilated TA above a plain temporal conv (frame mAP)", "Table 2", "ta_head",
          "no_dilation"),
    Claim("motion_vs_per_frame", "temporal modelling sees motion: TA above per-frame on motion", "section 4.4",
          "ta_head", "linear", group="motion"),
    Claim("long_vs_no_dilation", "dilation helps long-range classes: TA above no dilation on long", "Table 2",
          "ta_head", "no_dilation", group="long"),
    Claim("appearance_alike", "all models alike on appearance (spread < 0.05 AP)", "section 4.4", group="appearance",
          kind="alike", models=("ta_head", "no_dilation", "linear", "lstm")),
)


def needed_models(claim: Claim) -> set[str]:
    """The model keys a claim compares."""
    return set(claim.models) if claim.kind == "alike" else {claim.a, claim.b}


def applicable(claims, model_keys, groups: dict[str, str] | None) -> list[Claim]:
    """The claims whose models were all trained and whose group (if any) is known."""
    keys = set(model_keys)
    known = set((groups or {}).values())
    out = []
    for c in claims:
        if needed_models(c) <= keys and (c.group is None or c.group in known):
            out.append(c)
    return out


def bootstrap_counts(num_videos: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, V)`` how often each video is drawn in each resample (V draws with replacement)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, num_videos, size=(n_boot, num_videos))
    return np.stack([np.bincount(d, minlength=num_videos) for d in draws]).astype(np.float64)


def resampled_ap(scores: np.ndarray, positive: np.ndarray, video: np.ndarray, counts: np.ndarray,
                 chunk: int = 256) -> np.ndarray:
    """AP of every class on every resample: ``(R, K)``, NaN where a resample has no positive.

    scores, positive: ``(N, K)`` pooled frames; video: ``(N,)`` the video index of each frame;
    counts: ``(R, V)`` from :func:`bootstrap_counts` (all ones: the plain AP).

    A resample weighs every frame by its video's count, so what the ranking needs at each positive
    frame (the weighted number of frames and of positives ranked at or above it) is ``counts``
    times the per-video numbers of frames and positives at or above it: one matrix product per
    class for all resamples, ``(R, V) @ (V, P)``, instead of cumulative sums over every ranked
    frame of every resample (1,000 resamples of the demo's 8,192 test frames of 128 videos, 11
    classes: 0.94 s instead of 4.30 s per model on a 2-core AVX-512 Xeon). Integer counts: the
    sums are exact, the same numbers as the cumulative sums (tested against them).
    """
    n, k = scores.shape
    v = counts.shape[1]
    out = np.full((counts.shape[0], k), np.nan)
    for c in range(k):
        order = np.argsort(-scores[:, c], kind="stable")
        pos = positive[order, c].astype(bool)
        if not pos.any():
            continue
        vid = video[order]
        at = np.flatnonzero(pos)  # ranks of the positive frames
        # frame i belongs to block j = the number of positives ranked before it: block j ends at
        # the j-th positive; frames after the last positive are in no block
        block = np.cumsum(pos) - pos
        keep = block < len(at)
        frames_at = np.zeros((len(at), v))
        np.add.at(frames_at, (block[keep], vid[keep]), 1.0)
        frames_at = np.cumsum(frames_at, axis=0)  # (P, V) frames of each video at or above each positive
        positives_at = np.zeros((len(at), v))
        positives_at[np.arange(len(at)), vid[at]] = 1.0
        positives_at = np.cumsum(positives_at, axis=0)  # (P, V) positives of each video at or above
        per_video = positives_at[-1]
        for s in range(0, counts.shape[0], chunk):
            cnt = counts[s:s + chunk]
            cum_n, cum_tp = cnt @ frames_at.T, cnt @ positives_at.T  # (r, P)
            w = cnt[:, vid[at]]  # (r, P) weight of each positive frame
            mid = (w + 1) / 2  # the middle copy of a frame drawn w times
            prec = (cum_tp - w + mid) / np.maximum(cum_n - w + mid, 1e-12)
            npos = cnt @ per_video
            with np.errstate(invalid="ignore", divide="ignore"):
                out[s:s + chunk, c] = np.where(npos > 0, (w * prec).sum(axis=1) / npos, np.nan)
    return out


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN where everything is NaN."""
    have = ~np.isnan(values)
    total = np.where(have, values, 0.0).sum(axis=-1)
    num = have.sum(axis=-1)
    return np.where(num > 0, total / np.maximum(num, 1), np.nan)


def statistics(predictions: dict[str, list], class_names: list[str], groups: dict[str, str] | None,
               n_boot: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Per model: ``{"frame_map": (1 + n_boot,), "groups": {g: (1 + n_boot,)}}``; index 0 is the
    full test set, the rest the paired resamples (the same resamples for every model).

    ``predictions``: model key -> :class:`~tan_video.evaluation.VideoPrediction` list, the same
    videos in every list.
    """
    first = next(iter(predictions.values()))
    ids = [p.video_id for p in first]
    k = len(class_names)
    positive = np.concatenate([dense_targets(p.annotation, p.times, k) for p in first]) > 0
    video = np.concatenate([np.full(len(p.times), i) for i, p in enumerate(first)])
    counts = np.vstack([np.ones((1, len(ids))), bootstrap_counts(len(ids), n_boot, seed)])
    group_cols = {}
    for name, g in (groups or {}).items():
        if name in class_names:
            group_cols.setdefault(g, []).append(class_names.index(name))
    out = {}
    for key, preds in predictions.items():
        by_id = {p.video_id: p for p in preds}
        if set(by_id) != set(ids):
            raise ValueError(f"model {key!r} was scored on other videos than {next(iter(predictions))!r}")
        scores = np.concatenate([by_id[v].scores for v in ids]).astype(np.float64)
        ap = resampled_ap(scores, positive, video, counts)
        out[key] = {"frame_map": _nanmean(ap), "groups": {g: _nanmean(ap[:, cols]) for g, cols in group_cols.items()}}
    return out


def _values(stats: dict, model: str, group: str | None) -> np.ndarray:
    return stats[model]["frame_map"] if group is None else stats[model]["groups"][group]


def verdict(low: float, high: float) -> str:
    if low > 0:
        return "holds"
    if high < 0:
        return "contradicted"
    return "not shown"


def evaluate_claim(claim: Claim, stats: dict) -> dict:
    """One row: the two numbers (or the spread), the margin, its 95% bootstrap interval, the verdict."""
    if claim.kind == "alike":
        values = np.stack([_values(stats, m, claim.group) for m in claim.models])  # (M, 1 + R)
        spread = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
        margin = claim.tolerance - spread
        row = {"a": "best", "b": "worst", "value_a": float(np.nanmax(values[:, 0])),
               "value_b": float(np.nanmin(values[:, 0])), "spread": float(spread[0]), "tolerance": claim.tolerance}
    else:
        va, vb = _values(stats, claim.a, claim.group), _values(stats, claim.b, claim.group)
        margin = va - vb
        row = {"a": claim.a, "b": claim.b, "value_a": float(va[0]), "value_b": float(vb[0])}
    boot = margin[1:][~np.isnan(margin[1:])]
    low, high = (np.percentile(boot, [2.5, 97.5]) if boot.size else (np.nan, np.nan))
    return {"key": claim.key, "claim": claim.text, "source": claim.source, "group": claim.group, **row,
            "margin": float(margin[0]), "ci95": [float(low), float(high)], "verdict": verdict(low, high)}


def evaluate_claims(claims, predictions: dict[str, list], class_names: list[str], groups: dict[str, str] | None,
                    n_boot: int = 1000, seed: int = 0, failed: dict[str, str] | None = None) -> list[dict]:
    """Every applicable claim of ``claims`` on one run's test predictions (see the module docstring).

    ``failed``: model key -> why it has no predictions (training diverged); a claim that needs
    such a model gets a row with the verdict ``"not tested"`` and the reason, in its place.
    """
    failed = failed or {}
    todo = applicable(claims, predictions, groups)
    stats = statistics(predictions, class_names, groups, n_boot=n_boot, seed=seed) if todo else None
    known = set((groups or {}).values())
    rows = []
    for c in claims:
        lost = sorted(needed_models(c) & set(failed))
        if c in todo:
            rows.append(evaluate_claim(c, stats))
        elif lost and (c.group is None or c.group in known):
            rows.append({"key": c.key, "claim": c.text, "source": c.source, "group": c.group, "a": c.a or "best",
                         "b": c.b or "worst", "value_a": None, "value_b": None, "margin": None, "ci95": [None, None],
                         "verdict": "not tested", "reason": "; ".join(f"{k} failed: {failed[k]}" for k in lost)})
    return rows


def combine_seeds(per_seed: dict[int, list[dict]]) -> list[dict]:
    """One row per claim over several seeds: each seed's margin and interval, mean +- sample sd of the
    margin, and a verdict that needs every seed to agree (not meaningful if any seed's was not)."""
    seeds = sorted(per_seed)
    keys = [r["key"] for r in per_seed[seeds[0]]]
    rows = []
    for key in keys:
        runs = {s: next(r for r in per_seed[s] if r["key"] == key) for s in seeds if any(r["key"] == key for r in per_seed[s])}
        tested = [r for r in runs.values() if r["verdict"] != "not tested"]
        margins = np.array([r["margin"] for r in tested])
        verdicts = {r["verdict"] for r in runs.values()}
        agreed = verdicts.pop() if len(verdicts) == 1 and len(runs) == len(seeds) else "not shown"
        if len(tested) < len(runs):
            agreed = "not tested"  # a seed lacks a model it needs: no verdict over every seed
        first = runs[seeds[0]]
        mean = lambda field: float(np.mean([r[field] for r in tested])) if tested else None  # noqa: E731
        rows.append({"key": key, "claim": first["claim"], "source": first["source"], "group": first["group"],
                     "a": first["a"], "b": first["b"],
                     "value_a": mean("value_a"), "value_b": mean("value_b"),
                     "margin": float(margins.mean()) if tested else None,
                     "margin_sd": float(margins.std(ddof=1)) if len(margins) > 1 else 0.0,
                     "seeds": {str(s): {"margin": r["margin"], "ci95": r["ci95"], "verdict": r["verdict"]}
                               for s, r in runs.items()},
                     "verdict": agreed})
        if any(r.get("meaningful") is False for r in runs.values()):
            rows[-1]["meaningful"] = False
    return rows


def claims_markdown(rows: list[dict], note: str = "") -> str:
    """The claims table for people (numbers in frame-AP points)."""
    if not rows:
        return "No claim applies to these models and classes.\n" + (f"\n{note}\n" if note else "")
    multi = "seeds" in rows[0]
    pts = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    if multi:
        seeds = list(rows[0]["seeds"])
        head = ["claim", "source", "A", "B", "margin (mean +- sd)"] + [f"seed {s}: margin [95% CI]" for s in seeds] + ["verdict"]
    else:
        head = ["claim", "source", "A", "B", "margin", "95% CI", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["claim"], r["source"], f"{r['a']} {pts(r['value_a'])}", f"{r['b']} {pts(r['value_b'])}"]
        if multi:
            cells.append(f"{pts(r['margin'])} +- {pts(r['margin_sd'])}")
            cells += [f"{pts(v['margin'])} [{pts(v['ci95'][0])}, {pts(v['ci95'][1])}] {v['verdict']}"
                      for v in r["seeds"].values()]
        else:
            cells += [pts(r["margin"]), f"[{pts(r['ci95'][0])}, {pts(r['ci95'][1])}]"]
        cells.append(f"**{r['verdict']}**" + (" (not meaningful)" if r.get("meaningful") is False else "")
                     + (f" ({r['reason']})" if r.get("reason") else ""))
        lines.append("| " + " | ".join(cells) + " |")
    text = ("Margin = A - B in frame-AP points (for 'alike': the tolerance minus the best-worst spread); "
            "95% CI from a paired bootstrap over test videos; holds = interval above 0, contradicted = below 0"
            + ("; over seeds, a verdict needs every seed to agree." if multi else ".")
            + (" Not tested: a model the claim needs failed to train." if any(r["verdict"] == "not tested" for r in rows)
               else ""))
    return "\n".join(lines) + "\n\n" + text + "\n" + (f"\n{note}\n" if note else "")
