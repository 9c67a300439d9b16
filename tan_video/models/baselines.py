"""The paper's baselines (Table 1), built from the same blocks as TAN.

- ``r50_2d_lstm`` ("Res50-2D"): the per-frame ResNet with an LSTM over time at the end.
- ``r50_3d`` ("Res50-3D"): every 3x3 conv inflated to 3x3x3, stride 2x2x2 where the ResNet
  levels downsample by 2x2; frame outputs brought back to T by linear interpolation.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .registry import register_model
from .tan import DEPTHS, TAN, TINY_LAYERS, TINY_SHAPE, TINY_STEM_KERNEL, TINY_STEM_POOL, BasicBlock, Bottleneck, check_clip, fold_batchnorm, init_2d
from .weights import IMAGENET_RESNET


# -- the inflated 3D blocks ------------------------------------------------------------------------
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


# -- the baselines -------------------------------------------------------------------------------------
class TAN2DLSTM(TAN):
    """Per-frame 2D ResNet (no temporal module inside) + LayerNorm + LSTM over the pooled features.

    The LSTM is bidirectional by default so that, like TAN, every frame sees past and future
    context. The LayerNorm matters: an LSTM over raw pooled ReLU features barely trained
    (measured when the baseline was written). ``fc`` keeps torchvision's name but takes the LSTM's output width.
    """

    def __init__(self, layers: Sequence[int], num_classes: int, hidden: int = 512,
                 bidirectional: bool = True, **kwargs):
        super().__init__(layers, num_classes, levels=(), **kwargs)
        self.norm = nn.LayerNorm(self.num_features)
        self.lstm = nn.LSTM(self.num_features, hidden, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    @property
    def temporal_radius(self) -> int | None:
        return None  # unbounded: every output depends on the whole clip

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.norm(feats))
        return self.fc(self.drop(hidden))

    def fuse(self) -> "TAN2DLSTM":
        """The inference form (eval mode): every BatchNorm folded into its convolution."""
        fold_batchnorm(self)
        return self


class ResNet3D(nn.Module):
    """Inflated 3D ResNet (paper Table 1 "Res50-3D").

    Stem conv 3x7x7 (temporal stride 1), max-pool 1x3x3; in levels 2-4 the strided 3x3 conv
    becomes 3x3x3 with stride 2x2x2 (and the shortcut 1x1x1 stride 2x2x2), so a 16-frame clip
    leaves level 4 with 2 time steps (temporal stride 8). Applying the stride also in the stem
    and max-pool, as a literal "2x2x2 wherever ResNet strides" would, leaves a single time step
    for 16 frames; we keep the stem at full temporal resolution and document the choice.
    Frame logits are computed per remaining time step and linearly interpolated back to T.

    State-dict names equal the 2D ResNet's; 2D ImageNet weights inflate by name (a 2D kernel
    repeated over time and divided by its length, so a static clip gives the 2D activations).
    """

    temporal_stride = 8
    memory_format = torch.channels_last_3d

    def __init__(self, layers: Sequence[int], num_classes: int, planes: Sequence[int] = (64, 128, 256, 512),
                 stem_width: int = 64, drop_rate: float = 0.5, in_chans: int = 3,
                 block: type[nn.Module] = Bottleneck3d, stem_pool: bool = True, stem_kernel: int = 7):
        super().__init__()
        self.conv1 = nn.Conv3d(in_chans, stem_width, kernel_size=(3, stem_kernel, stem_kernel), stride=(1, 2, 2),
                               padding=(1, stem_kernel // 2, stem_kernel // 2), bias=False)
        self.bn1 = nn.BatchNorm3d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)) if stem_pool
                        else nn.Identity())
        in_ch = stem_width
        for i, (width, blocks) in enumerate(zip(planes, layers), start=1):
            stride = (1, 1, 1) if i == 1 else (2, 2, 2)
            out_ch = width * block.expansion
            downsample = None
            if stride != (1, 1, 1) or in_ch != out_ch:
                downsample = nn.Sequential(nn.Conv3d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),
                                           nn.BatchNorm3d(out_ch))
            mods = [block(in_ch, width, stride, downsample)]
            mods += [block(out_ch, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*mods))
            in_ch = out_ch
        self.num_features = in_ch
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_ch, num_classes)
        init_2d(self)

    @property
    def temporal_radius(self) -> int | None:
        return None  # strided: outputs are not shift-equivariant, chunking is not exact

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Clip ``(B, 3, T, H, W)`` -> features ``(B, T', C)`` at the reduced rate ``T' = ceil(T/8)``."""
        check_clip(x)
        if self.conv1.weight.is_contiguous(memory_format=torch.channels_last_3d):
            x = x.contiguous(memory_format=torch.channels_last_3d)
        y = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            y = getattr(self, f"layer{i}")(y)
        return y.mean(dim=(3, 4)).transpose(1, 2)

    def forward_head(self, feats: torch.Tensor, num_frames: int) -> torch.Tensor:
        logits = self.fc(self.drop(feats))  # (B, T', K)
        return F.interpolate(logits.transpose(1, 2), size=num_frames, mode="linear",
                             align_corners=False).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip ``(B, 3, T, H, W)`` -> frame logits ``(B, T, K)``."""
        return self.forward_head(self.forward_features(x), x.shape[2])

    def fuse(self) -> "ResNet3D":
        """The inference form (eval mode): every BatchNorm folded into its convolution."""
        fold_batchnorm(self)
        return self

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.fc.in_features, num_classes).to(self.fc.weight.device)


@register_model
def r50_2d_lstm(num_classes: int = 157, hidden: int = 512, bidirectional: bool = True,
                drop_rate: float = 0.5) -> TAN2DLSTM:
    """Per-frame ResNet-50 + LSTM at the end, per-frame outputs (paper Table 1 "Res50-2D")."""
    model = TAN2DLSTM(DEPTHS[50], num_classes, hidden=hidden, bidirectional=bidirectional, drop_rate=drop_rate)
    model.imagenet_weights = IMAGENET_RESNET[50]
    return model


@register_model
def r50_3d(num_classes: int = 157, drop_rate: float = 0.5) -> ResNet3D:
    """ResNet-50 with 3x3x3 convs and 2x2x2 strides (paper Table 1 "Res50-3D")."""
    model = ResNet3D(DEPTHS[50], num_classes, drop_rate=drop_rate)
    model.imagenet_weights = IMAGENET_RESNET[50]
    return model


@register_model
def tiny_2d_lstm(num_classes: int = 16, hidden: int = 128, bidirectional: bool = True,
                 drop_rate: float = 0.2, stem_kernel: int = TINY_STEM_KERNEL,
                 stem_pool: bool = TINY_STEM_POOL) -> TAN2DLSTM:
    """The 2D+LSTM baseline at ``tan_tiny``'s width and depth (the same basic blocks and stem)."""
    model = TAN2DLSTM(TINY_LAYERS, num_classes, hidden=hidden, bidirectional=bidirectional, drop_rate=drop_rate,
                      block=BasicBlock, stem_kernel=stem_kernel, stem_pool=stem_pool, **TINY_SHAPE)
    model.imagenet_weights = None
    return model


@register_model
def tiny_3d(num_classes: int = 16, drop_rate: float = 0.2, stem_kernel: int = TINY_STEM_KERNEL,
            stem_pool: bool = TINY_STEM_POOL) -> ResNet3D:
    """The inflated-3D baseline at ``tan_tiny``'s width and depth (basic blocks inflated to 3x3x3)."""
    model = ResNet3D(TINY_LAYERS, num_classes, drop_rate=drop_rate, block=BasicBlock3d, stem_kernel=stem_kernel,
                     stem_pool=stem_pool, **TINY_SHAPE)
    model.imagenet_weights = None
    return model
