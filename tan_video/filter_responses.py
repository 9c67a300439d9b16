"""Filter responses after each level's TA module over time (paper section 4.4, Figs. 4-5).

``tan-video viz --checkpoint CKPT VIDEO --out DIR`` runs a TAN over a stretch of the video and,
for each level ``i = 1..4``, takes the feature map right after that level's Temporal Aggregation
module, ``(C_i, T, H_i, W_i)`` (after the level's last bottleneck when the level has no TA
module, e.g. an ablation or the 2D+LSTM baseline).

Which channels are "representative" (documented rule): the ones whose spatially averaged
response varies most over time, i.e. the top-``k`` channels by the variance over ``t`` of
``mean_{h,w} response[c, t, h, w]``. A channel that fires constantly says nothing about time,
and a dead one (variance 0) is never picked; variance over time is exactly what the temporal
modules are there to shape, so these are the channels the paper's figures are about.

Each response map is drawn over the frame it belongs to (bilinear upsampling to the input
crop), scaled per channel by its maximum over the whole stretch, so brightness is comparable
across time within a channel.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import build_model_from_checkpoint
from .data.transforms import normalize
from .errors import InputError
from .models import TAN, TemporalAggregation
from .inference import Preprocess, check_normalisation


@dataclass
class LevelResponse:
    """The chosen channels of one level.

    level: 1..4; has_ta: whether the map is a TA module's output.
    channels: channel indices, most varying first; variance: their temporal variance.
    maps: float32 ``(k, T, H_i, W_i)`` responses; pooled: float32 ``(k, T)`` spatial means.
    """

    level: int
    has_ta: bool
    channels: list[int]
    variance: list[float]
    maps: np.ndarray
    pooled: np.ndarray


def select_channels(fmap: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` channels of ``(C, T, H, W)`` by temporal variance of the spatial mean (``> 0``).

    Returns ``(indices (k',), variances (k',))``, ``k' <= k`` (fewer when fewer channels vary).
    """
    pooled = fmap.float().mean(dim=(2, 3))  # (C, T)
    var = pooled.var(dim=1, unbiased=False) if pooled.shape[1] > 1 else torch.zeros(pooled.shape[0])
    order = torch.argsort(var, descending=True, stable=True)[:k]
    order = order[var[order] > 0]
    return order, var[order]


@torch.no_grad()
def filter_responses(model: nn.Module, clip: torch.Tensor, channels: int = 4,
                     keep: slice = slice(None)) -> list[LevelResponse]:
    """Representative responses of each level for one uint8 clip ``(3, T, H, W)`` (one pass).

    ``keep``: the frames to analyse and return; the others are temporal context only (so the
    responses there do not see the zero padding at the clip's ends).
    """
    if not isinstance(model, TAN):
        raise InputError(f"filter responses need a TAN-family model, got {type(model).__name__}")
    model.eval()
    device = next(model.parameters()).device
    _, maps = model.forward_features(normalize(clip.to(device))[None], return_levels=True)
    out = []
    for level, fmap in enumerate(maps, start=1):
        fmap = fmap[0, :, keep].float().cpu()  # (C, T, H_i, W_i)
        idx, var = select_channels(fmap, channels)
        chosen = fmap[idx].float()
        out.append(LevelResponse(level, isinstance(getattr(model, f"ta{level}"), TemporalAggregation),
                                 idx.tolist(), var.tolist(), chosen.numpy(), chosen.mean(dim=(2, 3)).numpy()))
    return out


def write_filter_responses(checkpoint: str | os.PathLike, video: str | os.PathLike, out: str | os.PathLike, *,
                           start: float = 0.0, frames: int = 48, channels: int = 4, columns: int = 8,
                           fps: float | None = None, device: str | torch.device = "auto") -> list[Path]:
    """Read ``frames`` samples of ``video`` from ``start`` s and write the figures to ``out``.

    Files: ``<name>.responses.png`` (frames on top, then the most varying channel of each level,
    the paper's Fig. 5 layout), ``<name>.level<i>.png`` (``channels`` channels of level i over
    ``columns`` time points, with their spatially pooled response over time) and
    ``<name>.responses.json`` (the channels chosen, their variance, the times shown).
    ``device``: where the model runs (:func:`~tan_video.inference.resolve_device`), in fp32.
    """
    from .inference import resolve_device
    from .viz import plot_filter_responses

    device = resolve_device(device)
    if frames < 1 or channels < 1 or columns < 1:
        raise InputError("--frames, --channels and --columns must be >= 1")
    model, meta = build_model_from_checkpoint(checkpoint)
    check_normalisation(meta, checkpoint)
    if not isinstance(model, TAN):
        raise InputError(f"filter responses need a TAN-family model; {meta['build_args']['name']!r} has no "
                         "per-level 2D maps", path=checkpoint)
    model.to(device).eval().fuse()  # exact, and the form predict runs
    prep = Preprocess.from_meta(meta, fps)
    video = Path(video)
    # Read the model's receptive field on both sides as context, so the responses shown are the
    # ones the model computes inside the whole video (not distorted by a clip edge).
    radius = model.temporal_radius or 0
    first = max(0, math.ceil(start * prep.fps - 1e-9))
    lo = max(0, first - radius)
    clip, times = prep.read(video, start=lo / prep.fps, max_frames=first - lo + frames + radius)
    keep = slice(first - lo, first - lo + frames)
    times = times[keep]
    if len(times) == 0:
        raise InputError(f"no frames at {prep.fps:g} FPS from {start:g} s", path=video)
    levels = filter_responses(model, clip, channels, keep)
    rgb = clip[:, keep].permute(1, 2, 3, 0).numpy()  # (T, H, W, 3): the crop the model saw
    name = video.name if video.is_dir() else video.stem
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shown = np.unique(np.linspace(0, len(times) - 1, min(columns, len(times))).round().astype(int))
    label = lambda lv: f"level {lv.level}" + (" (after TA)" if lv.has_ta else " (no TA)")  # noqa: E731
    files = [plot_filter_responses(
        out / f"{name}.responses.png", rgb, times, shown,
        {label(lv): lv.maps[0] for lv in levels if lv.channels},
        title=f"{name}: most time-varying channel after each level")]
    for lv in levels:
        if not lv.channels:
            continue
        files.append(plot_filter_responses(
            out / f"{name}.level{lv.level}.png", rgb, times, shown,
            {f"ch {c}": m for c, m in zip(lv.channels, lv.maps)}, curves=lv.pooled,
            title=f"{name}: {label(lv)}, channels with the highest temporal variance of the pooled response"))
    info = {"video": str(video), "checkpoint": str(checkpoint), "device": str(device), "fps": prep.fps,
            "times": times.tolist(),
            "shown_frames": shown.tolist(),
            "rule": "top channels by variance over time of the spatially averaged response",
            "levels": [{"level": lv.level, "after_ta": lv.has_ta, "channels": lv.channels,
                        "variance": [round(v, 6) for v in lv.variance], "map_size": list(lv.maps.shape[2:])}
                       for lv in levels]}
    js = out / f"{name}.responses.json"
    js.write_text(json.dumps(info, indent=1) + "\n")
    return files + [js]


__all__ = ["LevelResponse", "select_channels", "filter_responses", "write_filter_responses"]
