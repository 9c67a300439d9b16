"""Building blocks: the ResNet bottleneck (2D and inflated 3D) and the Temporal Aggregation module.

Paper section 3.2 (TA module, Fig. 2) and 3.3 (bottlenecks). Blocks take explicit, typed
arguments; norm and activation are passed as classes, never through a config object.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck, per frame: 1x1 -> 3x3 (stride here) -> 1x1 (x4), plus shortcut.

    Attribute names (``conv1``, ``bn1``, ..., ``downsample.0``) are torchvision's, so ImageNet
    ResNet state dicts load by name.  Input / output ``(N, C, H, W)`` with ``N = B*T``.
    """

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv3 = conv1x1(planes, out_ch)
        self.bn3 = norm_layer(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class BasicBlock(nn.Module):
    """ResNet-18/34 basic block, per frame: 3x3 (stride here) -> 3x3, plus shortcut.

    torchvision's attribute names (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample``).
    The tiny models use it: at one block per level it gives every level a 3x3 spatial
    context for a fraction of a bottleneck's width. Input / output ``(N, C, H, W)``.
    """

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class BasicBlock3d(nn.Module):
    """:class:`BasicBlock` with both 3x3 convs inflated to 3x3x3 (the tiny 3D baseline).

    ``stride`` is ``(t, h, w)`` and applies to ``conv1``. Input / output ``(B, C, T, H, W)``.
    """

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: tuple[int, int, int] = (1, 1, 1),
        downsample: nn.Module | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm3d,
    ):
        super().__init__()
        self.conv1 = nn.Conv3d(in_ch, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    forward = BasicBlock.forward


class Bottleneck3d(nn.Module):
    """The bottleneck with its 3x3 conv inflated to 3x3x3 (paper Table 1, "Res50-3D").

    ``stride`` is ``(t, h, w)``; the 1x1 convs stay 1x1x1. Same attribute names as
    :class:`Bottleneck`, so 2D weights inflate by name. Input / output ``(B, C, T, H, W)``.
    """

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: tuple[int, int, int] = (1, 1, 1),
        downsample: nn.Module | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm3d,
    ):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = nn.Conv3d(in_ch, planes, kernel_size=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv3d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self.conv3 = nn.Conv3d(planes, out_ch, kernel_size=1, bias=False)
        self.bn3 = norm_layer(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    forward = Bottleneck.forward


class TemporalAggregation(nn.Module):
    """Temporal Aggregation module (paper section 3.2, Fig. 2)::

                       x  (B, C, T, H, W)
          +-----------+-----------+-----------+
          |           |           |           |
        identity   conv_t d=1  conv_t d=2  conv_t d=3     each C->C, kernel (k,1,1),
          |           |           |           |           padding d*(k-1)/2: T unchanged
          +---------- sum --------+-----------+
                       |
                      ReLU

    Every ``conv_t`` mixes all channels and is applied at every spatial position. The temporal
    branches start at zero, so at initialisation the module is the identity (after a ReLU, which
    is also the identity on the non-negative ResNet features it follows): a TAN built from
    ImageNet weights computes exactly the per-frame ResNet.

    Implementation: the temporal conv runs as a 2D conv with kernel ``(k, 1)`` over
    ``(B, C, T, H*W)``; on the project's CPU that form measured ~240 against ~150 GFLOP/s for
    the equivalent ``conv3d`` (DESIGN.md section 5), and in channels_last memory it needs no copy.

    :meth:`fuse` rewrites the module for inference into one conv of kernel
    ``(k-1)*max(d)+1`` (7 for the paper's module) with the identity folded into the centre tap.

    ``norm=True`` puts a BatchNorm with zero-initialised scale on the summed temporal branches
    (the other identity initialisation DESIGN.md allows): ``ReLU(x + BN(sum conv_t(x)))``. The
    branches then start from a normal random init and BN fixes the scale of what they add to the
    residual stream, however wide the module (see the README's demo notes for why). In eval mode
    BN is an affine map per channel, so :meth:`fuse` still folds everything into one conv (with a
    bias).
    """

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 2, 3),
                 norm: bool = False):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep T unchanged, got {kernel_size}")
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f"dilations must be positive integers, got {tuple(dilations)}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.dilations = tuple(int(d) for d in dilations)
        self.convs = nn.ModuleList(
            nn.Conv2d(
                channels,
                channels,
                kernel_size=(kernel_size, 1),
                dilation=(d, 1),
                padding=(d * (kernel_size - 1) // 2, 0),
                bias=False,
            )
            for d in self.dilations
        )
        self.bn = nn.BatchNorm2d(channels) if norm else None
        self.fused: nn.Conv2d | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The module starts as the identity: zero branches, or random branches behind a zero-scale BN."""
        for conv in self.convs:
            if self.bn is None:
                nn.init.zeros_(conv.weight)
            else:
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if self.bn is not None:
            self.bn.reset_parameters()
            nn.init.zeros_(self.bn.weight)

    @property
    def radius(self) -> int:
        """Frames seen on each side: ``max(d) * (k-1)/2`` (3 for the paper's module)."""
        return max(self.dilations) * (self.kernel_size - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, H, W) -> (B, C, T, H, W)``."""
        b, c, t, h, w = x.shape
        x4 = x.flatten(3)  # (B, C, T, H*W): a view when the frames are channels_last
        if self.fused is not None:
            out = self.fused(x4)
        elif self.bn is None:
            out = x4
            for conv in self.convs:
                out = out + conv(x4)  # out-of-place: x4 is needed by every branch
        else:
            branches = self.convs[0](x4)
            for conv in self.convs[1:]:
                branches = branches + conv(x4)
            out = x4 + self.bn(branches)
        return F.relu(out).unflatten(3, (h, w))

    @torch.no_grad()
    def fused_weight(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The single equivalent kernel ``(C, C, 2r+1, 1)`` (branches at their tap offsets, times
        BN's eval-mode scale, + identity) and its bias (BN's shift; ``None`` without BN)."""
        r = self.radius
        ref = self.convs[0].weight
        weight = torch.zeros(self.channels, self.channels, 2 * r + 1, 1, dtype=ref.dtype, device=ref.device)
        half = (self.kernel_size - 1) // 2
        for d, conv in zip(self.dilations, self.convs):
            for tap in range(self.kernel_size):
                weight[:, :, r + (tap - half) * d] += conv.weight[:, :, tap]
        bias = None
        if self.bn is not None:
            scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
            weight *= scale.to(weight.dtype)[:, None, None, None]
            bias = (self.bn.bias - self.bn.running_mean * scale).to(weight.dtype)
        weight[:, :, r, 0] += torch.eye(self.channels, dtype=ref.dtype, device=ref.device)
        return weight, bias

    @torch.no_grad()
    def fuse(self) -> "TemporalAggregation":
        """Replace the branches + identity by one conv (inference form). Idempotent."""
        if self.fused is None:
            weight, bias = self.fused_weight()
            r = self.radius
            conv = nn.Conv2d(self.channels, self.channels, kernel_size=(2 * r + 1, 1), padding=(r, 0),
                             bias=bias is not None)
            conv = conv.to(device=weight.device, dtype=weight.dtype)
            conv.weight.copy_(weight)
            if bias is not None:
                conv.bias.copy_(bias)
            if self.convs[0].weight.is_contiguous(memory_format=torch.channels_last):
                conv = conv.to(memory_format=torch.channels_last)
            self.fused = conv
            del self.convs
            self.convs = nn.ModuleList()
            self.bn = None
        return self

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, kernel_size={self.kernel_size}, dilations={self.dilations}, "
                f"fused={self.fused is not None}")
