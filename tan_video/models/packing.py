"""2D convolution weights laid out for oneDNN's CPU kernels once, not on every call.

In eager mode ``F.conv2d`` hands oneDNN a plain (NCHW or channels_last) weight, and oneDNN copies
it into the blocked layout its kernel reads on *every* call. For a small input against a large
weight that copy is a large part of the work: TAN-R50's fused level-4 TA conv is a 117 MB weight
applied to 16 frames of 4 x 4 positions at 112 px. :class:`PackedConv2d` keeps the weight in the
kernel's layout (``torch.ops.mkldnn._reorder_convolution_weight``, the packing PyTorch's own
Inductor ``freezing`` pass uses) and calls the kernel that takes it
(``torch.ops.mkldnn._convolution_pointwise``). The packed weight replaces the plain one, so the
model holds one copy, as before.

The layout oneDNN picks depends on the input's shape: used on another shape, a packed weight is
re-laid-out by oneDNN on every call (measured 2x slower than packing for that shape). So the
module re-packs when the shape changes (one re-layout, what eager mode pays on every call) and
keeps the latest: a video scored in equal chunks re-packs at its first, second and last chunk.

CPU inference only, in fp32; under bf16 autocast it packs a bf16 copy where oneDNN supports it
(AVX512-BF16 / AMX / AVX-NE-CONVERT) and otherwise runs the plain bf16 convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bf16 import GuardedConv2d

PLAIN_CONV2D = (nn.Conv2d, GuardedConv2d)  # what packing replaces (not other subclasses)

_mkldnn = torch.ops.mkldnn


def packing_available() -> bool:
    """Whether this PyTorch build has oneDNN and the packed-weight convolution."""
    return torch.backends.mkldnn.is_available() and hasattr(_mkldnn, "_convolution_pointwise")


class PackedConv2d(nn.Module):
    """An inference-only ``nn.Conv2d`` whose weight is held in oneDNN's layout (see the module doc).

    Output equals the convolution's exactly in fp32 (the same kernel runs). Its output is
    channels_last. It cannot be trained, moved off the CPU, or saved: :meth:`to_conv` gives the
    plain module back.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("PackedConv2d needs numeric zero padding")
        if conv.weight.device.type != "cpu" or conv.weight.dtype != torch.float32:
            raise ValueError("PackedConv2d packs fp32 CPU weights")
        self.in_channels, self.out_channels, self.groups = conv.in_channels, conv.out_channels, conv.groups
        self.kernel_size = conv.kernel_size
        self.training = False
        self.args = [list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups]
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())
        self.packed: dict[torch.dtype, tuple[tuple[int, ...] | None, torch.Tensor]] = {
            torch.float32: (None, conv.weight.detach().contiguous())}  # packed at the first call

    def _weight(self, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor | None:
        """The weight packed for ``(dtype, shape)``; ``None`` where oneDNN cannot pack ``dtype``."""
        for_shape, weight = self.packed.get(dtype, (None, None))
        if weight is not None and for_shape == shape:
            return weight
        dense = self.dense_weight().to(dtype)
        try:
            weight = _mkldnn._reorder_convolution_weight(dense, *self.args[:3], self.groups, list(shape))
        except RuntimeError:  # e.g. bf16 without the CPU support oneDNN needs to pack it
            if dtype == torch.float32:
                raise
            return None
        self.packed[dtype] = (shape, weight)
        return weight

    def dense_weight(self) -> torch.Tensor:
        """The plain fp32 weight ``(out, in/groups, kh, kw)``."""
        weight = self.packed[torch.float32][1]
        return weight.to_dense() if weight.is_mkldnn else weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("PackedConv2d is for inference: it has no gradient")
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        x = x.to(dtype)
        bias = None if self.bias is None else self.bias.to(dtype)
        weight = self._weight(dtype, tuple(x.shape))
        if weight is None:
            padding, stride, dilation, groups = self.args
            return F.conv2d(x, self.dense_weight().to(dtype), bias, stride, padding, dilation, groups)
        return _mkldnn._convolution_pointwise(x, weight, bias, *self.args, "none", [], "")

    def _apply(self, fn, recurse=True):
        # .to(), .cuda(), .half() ... would see an opaque tensor: refuse, except no-op layout moves
        probe = fn(torch.zeros(1))
        if probe.device.type != "cpu" or probe.dtype != torch.float32:
            raise RuntimeError("a packed model stays on the CPU in fp32: pack after moving it, or call "
                               "unpack() first")
        return super()._apply(fn, recurse)

    def to_conv(self) -> nn.Conv2d:
        """The equivalent ``nn.Conv2d`` (channels_last weight, with the bf16 training check of
        :mod:`tan_video.models.bf16`, as every model's convolutions)."""
        weight = self.dense_weight()
        padding, stride, dilation, groups = self.args
        conv = GuardedConv2d(self.in_channels, self.out_channels, self.kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=self.bias is not None)
        with torch.no_grad():
            conv.weight.copy_(weight)
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv.to(memory_format=torch.channels_last).eval()

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"packed_for={[(str(d), s) for d, (s, _) in self.packed.items()]}")


def pack(model: nn.Module) -> int:
    """Replace every plain ``nn.Conv2d`` (:data:`PLAIN_CONV2D`) of an eval-mode fp32 CPU model by a :class:`PackedConv2d`;
    returns how many. 3D convolutions are left as they are. Call after ``fuse()`` (folding needs
    the plain weights)."""
    if model.training:
        raise RuntimeError("packing weights is the inference form: call model.eval() first")
    if not packing_available():
        return 0
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in PLAIN_CONV2D:
                setattr(parent, name, PackedConv2d(child))
                count += 1
    return count


def unpack(model: nn.Module) -> int:
    """Undo :func:`pack`: every :class:`PackedConv2d` back to an ``nn.Conv2d``; returns how many."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PackedConv2d):
                setattr(parent, name, child.to_conv())
                count += 1
    return count


def is_packed(model: nn.Module) -> bool:
    return any(isinstance(m, PackedConv2d) for m in model.modules())


__all__ = ["PackedConv2d", "pack", "unpack", "is_packed", "packing_available"]
