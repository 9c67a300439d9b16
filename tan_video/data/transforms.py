"""Clip-consistent spatial transforms and the model's input normalisation.

Clips are uint8 until the training step: datasets return ``(3, T, H, W)`` uint8 tensors (4x
less memory and inter-process traffic than float), and :func:`normalize` turns a batch into
ImageNet-normalised float on the device where the model runs.

Every transform takes a torch clip ``(3, T, H, W)`` (any dtype) or a numpy ``(T, H, W, 3)``
uint8 array (converted with :func:`to_clip`), and applies the *same* spatial operation to every
frame: a crop that moved from frame to frame would look like camera motion, which is exactly
the signal the temporal layers must not be fed by accident. Random choices use torch's global
RNG (or a given ``torch.Generator``), which the DataLoader seeds per worker.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

# The weights' record is the one place these numbers live (weights are data and
# carry the transforms they expect); re-exported here for data-side users.
from ..models.weights import IMAGENET_MEAN, IMAGENET_STD

Clip = torch.Tensor | np.ndarray

CROP_SCALE: tuple[float, float] = (0.64, 1.0)
"""Default area range of the training crop (:func:`random_resized_crop`), as a fraction of
the frame: at least 0.8 of each side for a square crop. Milder than ImageNet's (0.08, 1):
a dense label stays true only while its actors and objects stay in the crop. On the synthetic
benchmark (objects 8+ px from the border of 64 px frames) this loses about 1.4% of objects,
against 7% with (0.5, 1) and 6 px (simulated)."""


def to_clip(frames: Clip) -> torch.Tensor:
    """numpy/torch ``(T, H, W, 3)`` frames -> torch ``(3, T, H, W)`` (no copy of the dtype).

    A torch tensor whose first dimension is 3 is taken to be a clip already and returned as is.
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames (T, H, W, 3), got shape {frames.shape}")
        return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)
    if frames.ndim == 4 and frames.shape[0] == 3:
        return frames
    if frames.ndim == 4 and frames.shape[-1] == 3:
        return frames.permute(3, 0, 1, 2)
    raise ValueError(f"expected a clip (3, T, H, W) or frames (T, H, W, 3), got shape {tuple(frames.shape)}")


def resize(clip: Clip, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of every frame to ``size = (height, width)``, antialiased when shrinking.

    ``(3, T, H, W)`` -> ``(3, T, height, width)``, same dtype (uint8 is rounded and clamped).
    """
    clip = to_clip(clip)
    if tuple(clip.shape[-2:]) == tuple(size):
        return clip
    dtype = clip.dtype
    # frames as the batch: (T, 3, H, W); interpolate works in float
    x = clip.permute(1, 0, 2, 3).float()
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    x = x.permute(1, 0, 2, 3)
    if dtype == torch.uint8:
        return x.round_().clamp_(0, 255).to(torch.uint8).contiguous()
    return x.to(dtype).contiguous()


def resize_short_side(clip: Clip, short_side: int) -> torch.Tensor:
    """Resize so that ``min(H, W) == short_side``, keeping the aspect ratio (long side rounded)."""
    clip = to_clip(clip)
    h, w = clip.shape[-2:]
    scale = short_side / min(h, w)
    size = (short_side, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), short_side)
    return resize(clip, size)


def center_crop(clip: Clip, size: int | tuple[int, int]) -> torch.Tensor:
    """The central ``size`` (int: square; or (height, width)) region of every frame.

    A clip smaller than ``size`` in some dimension is first scaled up (aspect kept) so that the
    crop fits: a frame never comes out smaller than asked.
    """
    clip = to_clip(clip)
    th, tw = (size, size) if isinstance(size, int) else size
    h, w = clip.shape[-2:]
    if h < th or w < tw:
        scale = max(th / h, tw / w)
        clip = resize(clip, (max(th, math.ceil(h * scale)), max(tw, math.ceil(w * scale))))
        h, w = clip.shape[-2:]
    top, left = (h - th) // 2, (w - tw) // 2
    return clip[..., top:top + th, left:left + tw]


def random_resized_crop_params(height: int, width: int, scale: tuple[float, float] = CROP_SCALE,
                               ratio: tuple[float, float] = (3 / 4, 4 / 3),
                               generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
    """A random box ``(top, left, h, w)``: area ``scale`` x the frame's, aspect ``ratio`` (w/h)
    log-uniform; 10 tries, then the largest central box with an allowed aspect ratio."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=generator).item())
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * torch.rand(1, generator=generator).item())
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(clip: Clip, size: int | tuple[int, int], scale: tuple[float, float] = CROP_SCALE,
                        ratio: tuple[float, float] = (3 / 4, 4 / 3),
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """One random box (:func:`random_resized_crop_params`) cut from every frame, resized to ``size``.

    The default area range is :data:`CROP_SCALE`.
    """
    clip = to_clip(clip)
    th, tw = (size, size) if isinstance(size, int) else size
    top, left, h, w = random_resized_crop_params(clip.shape[-2], clip.shape[-1], scale, ratio, generator)
    return resize(clip[..., top:top + h, left:left + w], (th, tw))


def hflip(clip: Clip) -> torch.Tensor:
    """Mirror every frame left-right: ``(3, T, H, W)``."""
    return to_clip(clip).flip(-1)


def random_hflip(clip: Clip, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`hflip` with probability ``p`` (one draw for the whole clip)."""
    clip = to_clip(clip)
    return hflip(clip) if torch.rand(1, generator=generator).item() < p else clip


def normalize(clip: torch.Tensor, mean: tuple[float, float, float] = IMAGENET_MEAN,
              std: tuple[float, float, float] = IMAGENET_STD, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 RGB ``(B, 3, T, H, W)`` or ``(3, T, H, W)`` -> float ``(x / 255 - mean) / std``.

    Runs on the clip's device (the training step calls it after moving the uint8 batch). Float
    input is taken to be in [0, 1] already. The channel dimension is dim 1 of a batch, dim 0
    of a single clip.
    """
    if clip.ndim not in (4, 5):
        raise ValueError(f"expected (3, T, H, W) or (B, 3, T, H, W), got shape {tuple(clip.shape)}")
    x = clip.to(dtype)
    if clip.dtype == torch.uint8:
        x = x / 255.0
    shape = (3, 1, 1, 1) if clip.ndim == 4 else (1, 3, 1, 1, 1)
    m = torch.tensor(mean, dtype=dtype, device=clip.device).view(shape)
    s = torch.tensor(std, dtype=dtype, device=clip.device).view(shape)
    return (x - m) / s


__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CROP_SCALE", "to_clip", "resize", "resize_short_side", "center_crop",
           "random_resized_crop_params", "random_resized_crop", "hflip", "random_hflip", "normalize"]
