"""Pictures: action timelines (paper Fig. 6) and per-class AP charts.

matplotlib with the Agg backend (files only, no screen needed).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as seen:  # one line for characters the font lacks, not one per glyph
        warnings.filterwarnings("always", message=r"Glyph \d+ .* missing from")
        fig.tight_layout()
        fig.savefig(path, dpi=90)
    plt.close(fig)
    missing = [w for w in seen if "missing from" in str(w.message)]
    for w in seen:
        if w not in missing:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        log.info("%s: %d characters of the labels are not in the plot's font and show as boxes", path.name,
                 len({str(w.message) for w in missing}))
    return path


def plot_timeline(path: str | Path, times: np.ndarray, class_names: Sequence[str],
                  rows: Mapping[str, np.ndarray], classes: Sequence[int] | None = None,
                  title: str = "", threshold: float = 0.5) -> Path:
    """One panel per row (ground truth first, then each model), classes x time, shade = score.

    Args:
        times: ``(T,)`` sample times in seconds.
        rows: name -> ``(T, K)`` scores in [0, 1] (ground truth as 0/1).
        classes: which class indices to show (default: those any row scores at or above
            ``threshold``, the segments rule's, so that every class with a segment is drawn).
    """
    plt = _pyplot()
    arrays = {name: np.asarray(a, dtype=np.float32) for name, a in rows.items()}
    if classes is None:
        hit = np.zeros(len(class_names), dtype=bool)
        for a in arrays.values():
            hit |= a.max(axis=0) >= threshold
        classes = np.flatnonzero(hit) if hit.any() else np.arange(len(class_names))
    classes = list(classes)
    height = 0.9 + 0.22 * len(classes)
    fig, axes = plt.subplots(len(arrays), 1, figsize=(10, height * len(arrays)), sharex=True, squeeze=False)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    extent = (float(times[0]) - step / 2, float(times[-1]) + step / 2, len(classes) - 0.5, -0.5)
    for ax, (name, a) in zip(axes[:, 0], arrays.items()):
        ax.imshow(a[:, classes].T, aspect="auto", cmap="Blues", vmin=0, vmax=1, extent=extent,
                  interpolation="nearest")
        ax.set_yticks(range(len(classes)))
        ax.set_yticklabels([class_names[c] for c in classes], fontsize=7)
        ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        axes[0, 0].set_title(title, fontsize=9)
    return _save(plt, fig, path)


def plot_per_class_ap(path: str | Path, per_class: Mapping[str, Mapping[str, float | None]],
                      groups: Mapping[str, str] | None = None, title: str = "per-class frame AP") -> Path:
    """Grouped bars: one group per class (ordered by its temporal-scale group), one bar per model."""
    plt = _pyplot()
    models = list(per_class)
    classes = list(next(iter(per_class.values())))
    if groups:
        order = {g: i for i, g in enumerate(dict.fromkeys(groups[c] for c in classes))}
        classes.sort(key=lambda c: order[groups[c]])
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(classes) * max(1, len(models)) / 3), 4))
    for i, m in enumerate(models):
        vals = [np.nan if per_class[m][c] is None else per_class[m][c] for c in classes]
        ax.bar(x + (i - (len(models) - 1) / 2) * width, vals, width, label=m)
    labels = [f"{c}\n({groups[c]})" if groups else c for c in classes]
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("AP")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=min(len(models), 5))
    return _save(plt, fig, path)


def plot_filter_responses(path: str | Path, frames: np.ndarray, times: np.ndarray, shown: Sequence[int],
                          rows: Mapping[str, np.ndarray], curves: np.ndarray | None = None,
                          title: str = "") -> Path:
    """Filter responses over time laid over the frames (paper Figs. 4-5).

    Args:
        frames: uint8 ``(T, H, W, 3)``, the crop the model saw.
        times: ``(T,)`` sample times in seconds; shown: the frame indices drawn as columns.
        rows: label -> one channel's responses ``(T, h, w)``; each row is upsampled (bilinear) onto
            the frames and scaled by its own maximum over all ``T`` (comparable across time).
        curves: optional ``(len(rows), T)`` spatially pooled responses, drawn below over time with
            the shown frames marked.
    """
    plt = _pyplot()
    shown = list(shown)
    n_rows = 1 + len(rows) + (curves is not None)
    fig = plt.figure(figsize=(1.25 * len(shown) + 1.2, 1.3 * n_rows + 0.4))
    grid = fig.add_gridspec(n_rows, len(shown))
    h, w = frames.shape[1:3]
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    panels = [("frames", None)] + [(k, np.asarray(v, dtype=np.float32)) for k, v in rows.items()]
    for r, (label, maps) in enumerate(panels):
        vmax = float(maps.max()) if maps is not None and maps.max() > 0 else 1.0
        for col, t in enumerate(shown):
            ax = fig.add_subplot(grid[r, col])
            ax.imshow(frames[t], extent=extent)
            if maps is not None:
                ax.imshow(maps[t], cmap="inferno", alpha=0.6, vmin=0.0, vmax=vmax, extent=extent,
                          interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{times[t]:.2f}s", fontsize=7)
            if col == 0:
                ax.set_ylabel(label, fontsize=7)
    if curves is not None:
        ax = fig.add_subplot(grid[-1, :])
        for label, curve in zip(rows, np.asarray(curves)):
            ax.plot(times, curve, label=label, linewidth=1)
        for t in shown:
            ax.axvline(times[t], color="0.7", linewidth=0.5, linestyle="--")
        ax.set_xlabel("time (s)", fontsize=7)
        ax.set_ylabel("mean response", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6, ncol=min(len(rows), 4))
    if title:
        fig.suptitle(title, fontsize=8)
    return _save(plt, fig, path)
