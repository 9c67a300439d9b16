"""Convolutions that train correctly under bf16 on every CPU.

oneDNN's bf16 *backward* convolution kernels on the CPU (the AMX kernels of recent Xeons and the
AVX512-BF16 ones of Zen 4 and Cooper Lake, oneDNN 3.x in PyTorch's CPU wheels) give wrong
weight gradients when an input dimension is smaller than the kernel's reach: a 3x3x3 kernel on
2 frames, a 3x3 kernel on a 1x1 map. The gradient is then garbage read from memory the kernel
never wrote (values up to 1e38, inf, NaN, different from run to run), and the AVX512-BF16 kernel
can write outside its buffers (glibc aborts with "double free or corruption"). The forward and
the input gradient are right; fp32 kernels and GPUs are right. The tiny 3D baseline meets it
at level 4 (2 frames of 2x2 pixels for a 16-frame 64 px clip) and its loss turned NaN; ResNet-50
3D meets it at level 4 for every clip of 16 frames (2 frames left). The measurements and the
shapes: ``benchmarks/onednn_bf16_conv.py`` -> ``benchmarks/results/onednn_bf16_conv.{json,md}``.

The fix: under bf16 on a CPU, a convolution whose input is smaller than its kernel's reach in
some dimension runs in fp32 (forward and backward) when a gradient will flow through it. Such
convolutions are at the network's coarsest levels, where the maps are smallest, so the fp32
work they add is small; every other convolution keeps the bf16 kernels. Inference (no
gradient) is untouched. :func:`guard_bf16_convolutions` puts the check into every
``nn.Conv1d/2d/3d`` of a model; :func:`~tan_video.models.create_model` applies it to every model
it builds, so the models of the zoo, registered user models and the training module all have it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _bf16_on_cpu(x: torch.Tensor) -> bool:
    if x.device.type != "cpu":
        return False
    if x.dtype == torch.bfloat16:
        return True
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def needs_fp32(conv: nn.modules.conv._ConvNd, x: torch.Tensor) -> bool:
    """Whether ``conv`` applied to ``x`` must run in fp32 to get a right gradient under bf16 on
    the CPU: a gradient will be computed, bf16 is in effect (autocast or bf16 tensors), and some
    dimension of the input is smaller than the kernel's reach ``dilation * (k - 1) + 1``."""
    return _needs_fp32(x, conv.weight, conv.kernel_size, conv.dilation)


def _needs_fp32(x: torch.Tensor, weight: torch.Tensor, kernel_size, dilation) -> bool:
    if not (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad)):
        return False
    if not _bf16_on_cpu(x):
        return False
    sizes = x.shape[-len(kernel_size):]
    return any(n < d * (k - 1) + 1 for n, k, d in zip(sizes, kernel_size, dilation))


def _in_fp32(conv, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``conv(x, weight, bias)`` with autocast off and every tensor in fp32. Under autocast the next
    op casts as it needs; a model held in bf16 gets bf16 back."""
    with torch.autocast("cpu", enabled=False):
        out = conv(x.float(), weight.float(), None if bias is None else bias.float())
    return out if torch.is_autocast_enabled("cpu") else out.to(x.dtype)


def conv2d(x: torch.Tensor, weight: torch.Tensor, padding=0) -> torch.Tensor:
    """``F.conv2d`` (stride 1, no bias) with the same check, for weights computed in ``forward``
    (the TA modules' one-convolution form)."""
    if not _needs_fp32(x, weight, weight.shape[2:], (1, 1)):
        return F.conv2d(x, weight, padding=padding)
    return _in_fp32(lambda a, w, b: F.conv2d(a, w, padding=padding), x, weight, None)


def conv1d(x: torch.Tensor, weight: torch.Tensor, padding=0) -> torch.Tensor:
    """``F.conv1d`` (stride 1, no bias) with the same check (the TA modules on features)."""
    if not _needs_fp32(x, weight, weight.shape[2:], (1,)):
        return F.conv1d(x, weight, padding=padding)
    return _in_fp32(lambda a, w, b: F.conv1d(a, w, padding=padding), x, weight, None)


class _Guarded:
    """Mixin for ``nn.ConvNd``: the check of :func:`needs_fp32` before every convolution."""

    def _conv_forward(self, input, weight, bias):  # noqa: A002  (nn.ConvNd's signature)
        if not needs_fp32(self, input):
            return super()._conv_forward(input, weight, bias)
        return _in_fp32(super()._conv_forward, input, weight, bias)


class GuardedConv1d(_Guarded, nn.Conv1d):
    """``nn.Conv1d`` with the bf16 check (:mod:`tan_video.models.bf16`)."""


class GuardedConv2d(_Guarded, nn.Conv2d):
    """``nn.Conv2d`` with the bf16 check (:mod:`tan_video.models.bf16`)."""


class GuardedConv3d(_Guarded, nn.Conv3d):
    """``nn.Conv3d`` with the bf16 check (:mod:`tan_video.models.bf16`)."""


_GUARDED = {nn.Conv1d: GuardedConv1d, nn.Conv2d: GuardedConv2d, nn.Conv3d: GuardedConv3d}


def guard_bf16_convolutions(model: nn.Module) -> int:
    """Give every plain ``nn.Conv1d/2d/3d`` in ``model`` the check (in place: the class changes, the
    parameters, state-dict names and hooks stay). Returns how many convolutions carry it.
    Idempotent; other subclasses of the convolutions are left alone."""
    count = 0
    for m in model.modules():
        guarded = _GUARDED.get(type(m))
        if guarded is not None:
            m.__class__ = guarded
        count += isinstance(m, _Guarded)
    return count


__all__ = ["guard_bf16_convolutions", "needs_fp32", "GuardedConv1d", "GuardedConv2d", "GuardedConv3d"]
