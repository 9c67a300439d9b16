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
from .errors import InputError
from .models import to_channels_last


def prepare_for_inference(model: nn.Module, fuse: bool = True, channels_last: bool = True) -> nn.Module:
    """Eval mode, fused TA modules (exact, fewer multiply-adds), the fast memory layout."""
    model.eval()
    if fuse:
        model.fuse()
    if channels_last:
        to_channels_last(model)
    return model


def default_precision() -> str:
    """What ``precision="auto"`` means: ``"bf16"`` on a CPU with native bf16 arithmetic
    (AVX512-BF16 or AMX), else ``"32"``.

    Measured for tan_tiny on a 2-core AVX512-BF16 CPU (benchmarks/results/long_video.json):
    bf16 autocast is about 2x faster per chunk than fp32 and its probabilities stay within
    :data:`BF16_TOLERANCE`. Without native bf16, oneDNN emulates it and it does not pay.
    """
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # older torch: no capability query, stay exact
        return "32"
    return "bf16" if caps.get("avx512_bf16") or caps.get("amx_bf16") else "32"


def resolve_precision(precision: str) -> str:
    """``"auto"`` -> :func:`default_precision`; ``"32"`` / ``"bf16"`` as given; anything else is an error."""
    if precision == "auto":
        return default_precision()
    if precision not in ("32", "bf16"):
        raise InputError(f"precision must be auto, 32 or bf16, got {precision!r}")
    return precision


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
