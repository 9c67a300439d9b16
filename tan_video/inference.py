"""Dense prediction over whole videos.

TAN's temporal receptive field is bounded (+-12 frames for the paper's model, the sum of the TA
modules' radii, ``model.temporal_radius``), so a long video is processed in chunks with that
much context on each side and the result equals one pass over the whole video (tested). Models
without a bounded, shift-equivariant receptive field (the LSTM and strided-3D baselines) get one
pass over the whole video.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .data.transforms import normalize
from .models import to_channels_last


def prepare_for_inference(model: nn.Module, fuse: bool = True, channels_last: bool = True) -> nn.Module:
    """Eval mode, fused TA modules (exact, fewer multiply-adds), the fast memory layout."""
    model.eval()
    if fuse:
        model.fuse()
    if channels_last:
        to_channels_last(model)
    return model


def autocast(precision: str, device: torch.device | str = "cpu"):
    """``bf16``/``bf16-mixed`` or ``16-mixed`` autocast; anything else runs in fp32."""
    device_type = torch.device(device).type
    if precision.startswith("bf16"):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device_type, dtype=torch.float16)
    return contextlib.nullcontext()


@torch.no_grad()
def predict_logits(model: nn.Module, frames: torch.Tensor, chunk: int = 64, precision: str = "32",
                   context: int | None = None) -> torch.Tensor:
    """Frame logits ``(T, K)`` float32 for one whole video.

    Args:
        frames: uint8 ``(3, T, H, W)`` (the model's normalisation is applied here, chunk by chunk,
            so a long video stays uint8 in memory).
        chunk: output frames per forward pass.
        precision: ``"32"`` or ``"bf16"`` (autocast).
        context: frames of context on each side; default ``model.temporal_radius``. ``None``
            radius (unbounded / strided models): a single pass over the whole video.
    """
    device = next(model.parameters()).device
    t = frames.shape[1]
    radius = model.temporal_radius if context is None else context
    if radius is None or t <= chunk:
        spans = [(0, t)]
    else:
        spans = [(s, min(s + chunk, t)) for s in range(0, t, chunk)]
    out = None
    for start, end in spans:
        lo, hi = (0, t) if radius is None else (max(0, start - radius), min(t, end + radius))
        clip = normalize(frames[:, lo:hi].to(device))[None]
        with autocast(precision, device):
            logits = model(clip)[0].float()
        if out is None:
            out = torch.empty(t, logits.shape[-1])
        out[start:end] = logits[start - lo:end - lo].cpu()
    return out
