"""The Temporal Aggregation Network (paper section 3.4, Fig. 3).

::

    clip (B, 3, T, H, W) -> frames folded into the batch (B*T, 3, H, W)
    stem      conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2           per frame
    level 1   layer1: n1 bottlenecks -> ta1: TemporalAggregation(256)   over T, every pixel
    level 2   layer2: n2 bottlenecks (first 3x3 stride 2) -> ta2 (512)
    level 3   layer3: n3 bottlenecks (first 3x3 stride 2) -> ta3 (1024)
    level 4   layer4: n4 bottlenecks (first 3x3 stride 2) -> ta4 (2048)
    head      spatial average pool -> dropout -> fc -> frame logits (B, T, K)

No temporal stride anywhere: every input frame gets its own output. The 2D path keeps
torchvision's ResNet state-dict names (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``fc``), so
ImageNet files load by name; the temporal modules live beside it as ``ta1`` ... ``ta4``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .layers import BasicBlock, Bottleneck, TemporalAggregation
from .registry import register_model
from .weights import IMAGENET_RESNET

LEVELS = (1, 2, 3, 4)


def video_scores(frame_logits: torch.Tensor) -> torch.Tensor:
    """Video-level scores ``(B, K)``: the mean over time of per-frame probabilities ``(B, T, K)``.

    Paper section 4.3: "average pooling is used to map dense frame level labels to video level".
    """
    return torch.sigmoid(frame_logits.float()).mean(dim=1)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert a model (and, through its forward, its inputs) to its fast memory layout."""
    return model.to(memory_format=model.memory_format)


def _init_2d(module: nn.Module) -> None:
    """torchvision's ResNet initialisation for the spatial path."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class TAN(nn.Module):
    """ResNet bottlenecks per frame with a Temporal Aggregation module after chosen levels.

    Args:
        layers: bottleneck blocks per level, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: K, the number of (multi-label) classes.
        planes: bottleneck widths per level; output channels are ``4 * planes``.
        stem_width: output channels of ``conv1``.
        levels: the levels (1-4) followed by a TA module (paper Table 2); ``()`` gives the plain
            per-frame 2D network.
        dilations: temporal dilations of the TA branches; ``(1,)`` is the "plain 3x1x1 temporal
            conv" ablation of Table 2.
        kernel_size: temporal kernel of each branch (paper: 3).
        ta_norm: how the TA modules start as the identity (see :class:`TemporalAggregation`):
            ``True`` (default) random branches behind a BatchNorm whose scale starts at zero;
            ``False`` the branches themselves start at zero (the paper's literal reading).
        drop_rate: dropout before the classifier.
        block: :class:`~tan_video.models.layers.Bottleneck` (ResNet-50/101/152) or
            :class:`~tan_video.models.layers.BasicBlock` (the tiny models).
        stem_pool: the stem's 3x3/2 max-pool (ResNet's). ``False`` keeps level 1 at half the
            input resolution (the tiny models, whose 64 px frames would leave level 4 at 2x2).
    """

    def __init__(
        self,
        layers: Sequence[int],
        num_classes: int,
        planes: Sequence[int] = (64, 128, 256, 512),
        stem_width: int = 64,
        levels: Sequence[int] = LEVELS,
        dilations: Sequence[int] = (1, 2, 3),
        kernel_size: int = 3,
        ta_norm: bool = True,
        drop_rate: float = 0.5,
        in_chans: int = 3,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        block: type[nn.Module] = Bottleneck,
        stem_pool: bool = True,
    ):
        super().__init__()
        if len(layers) != 4 or len(planes) != 4:
            raise ValueError("layers and planes need one entry per level (4)")
        bad = [lv for lv in levels if lv not in LEVELS]
        if bad:
            raise ValueError(f"levels must be a subset of {LEVELS}, got {tuple(levels)}")
        self.levels = tuple(sorted(set(int(lv) for lv in levels)))
        self.dilations = tuple(dilations)
        self.kernel_size = kernel_size
        self.ta_norm = bool(ta_norm)

        self.conv1 = nn.Conv2d(in_chans, stem_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem_pool else nn.Identity()

        in_ch = stem_width
        self.level_channels: list[int] = []
        for i, (width, blocks) in enumerate(zip(planes, layers), start=1):
            setattr(self, f"layer{i}", self._make_layer(block, in_ch, width, blocks, 1 if i == 1 else 2, norm_layer))
            in_ch = width * block.expansion
            self.level_channels.append(in_ch)
            ta = TemporalAggregation(in_ch, kernel_size, dilations, ta_norm) if i in self.levels else nn.Identity()
            setattr(self, f"ta{i}", ta)

        self.num_features = in_ch
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_ch, num_classes)
        _init_2d(self)
        for ta in self.temporal_modules():
            ta.reset_parameters()  # identity at start, whatever _init_2d did

    @staticmethod
    def _make_layer(block, in_ch: int, planes: int, blocks: int, stride: int, norm_layer) -> nn.Sequential:
        out_ch = planes * block.expansion
        downsample = None
        if stride != 1 or in_ch != out_ch:
            downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False), norm_layer(out_ch)
            )
        mods = [block(in_ch, planes, stride, downsample, norm_layer)]
        mods += [block(out_ch, planes, 1, None, norm_layer) for _ in range(blocks - 1)]
        return nn.Sequential(*mods)

    # The fast layout on CPU (about 1.5x) and on GPU: frames are 2D images.
    memory_format = torch.channels_last

    # -- metadata ---------------------------------------------------------------------------
    def temporal_modules(self) -> list[TemporalAggregation]:
        return [m for m in self.modules() if isinstance(m, TemporalAggregation)]

    @property
    def temporal_radius(self) -> int | None:
        """Output frame t depends only on input frames within +-radius (12 for the full TAN).

        This bounds the context that exact chunked inference needs on each side.
        """
        return sum(m.radius for m in self.temporal_modules())

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    # -- forward ----------------------------------------------------------------------------
    def _frames(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W) -> (B*T, 3, H, W)`` in the memory format the weights use."""
        if x.dim() != 5:
            raise ValueError(f"expected a clip (B, 3, T, H, W), got shape {tuple(x.shape)}")
        frames = x.transpose(1, 2).flatten(0, 1)
        if self.conv1.weight.is_contiguous(memory_format=torch.channels_last):
            frames = frames.contiguous(memory_format=torch.channels_last)
        return frames

    def forward_features(self, x: torch.Tensor, return_levels: bool = False):
        """Clip ``(B, 3, T, H, W)`` -> pooled per-frame features ``(B, T, C)``.

        With ``return_levels=True`` also returns the feature maps after each level's TA module,
        each ``(B, C_i, T, H_i, W_i)`` (used for the filter-response figures, paper Figs. 4-5).
        """
        b, t = x.shape[0], x.shape[2]
        y = self.maxpool(self.relu(self.bn1(self.conv1(self._frames(x)))))
        maps = []
        for i in LEVELS:
            y = getattr(self, f"layer{i}")(y)
            ta = getattr(self, f"ta{i}")
            if isinstance(ta, TemporalAggregation) or return_levels:
                y5 = ta(y.unflatten(0, (b, t)).transpose(1, 2))  # (B, C, T, H, W)
                if return_levels:
                    maps.append(y5)
                y = y5.transpose(1, 2).flatten(0, 1)
        feats = y.mean(dim=(2, 3)).unflatten(0, (b, t))
        return (feats, maps) if return_levels else feats

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, T, C)`` -> frame logits ``(B, T, K)``."""
        return self.fc(self.drop(feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip ``(B, 3, T, H, W)`` (ImageNet-normalised) -> frame logits ``(B, T, K)``."""
        return self.forward_head(self.forward_features(x))

    # -- transforms of a built model ----------------------------------------------------------
    def fuse(self) -> "TAN":
        """Fold every TA module into one temporal conv (inference form; outputs unchanged)."""
        for ta in self.temporal_modules():
            ta.fuse()
        return self

    def reset_classifier(self, num_classes: int) -> None:
        """A new head for K classes (fine-tuning after single-label pretraining, Table 5)."""
        self.fc = nn.Linear(self.fc.in_features, num_classes).to(self.fc.weight.device)


# -- registered builders -----------------------------------------------------------------------
# Table 4 varies depth through levels 3-4 only; ImageNet weights exist for the three depths.
_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _tan_resnet(depth: int, num_classes: int, levels, dilations, kernel_size: int, ta_norm: bool,
                drop_rate: float) -> TAN:
    model = TAN(_DEPTHS[depth], num_classes, levels=levels, dilations=dilations,
                kernel_size=kernel_size, ta_norm=ta_norm, drop_rate=drop_rate)
    model.imagenet_weights = IMAGENET_RESNET[depth]
    return model


@register_model
def tan_r50(num_classes: int = 157, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
            kernel_size: int = 3, ta_norm: bool = True, drop_rate: float = 0.5) -> TAN:
    """TAN on ResNet-50 bottlenecks (paper Tables 1-3; "50s + 12t" in Table 4)."""
    return _tan_resnet(50, num_classes, levels, dilations, kernel_size, ta_norm, drop_rate)


@register_model
def tan_r101(num_classes: int = 157, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
             kernel_size: int = 3, ta_norm: bool = True, drop_rate: float = 0.5) -> TAN:
    """TAN on ResNet-101 bottlenecks (paper Table 4)."""
    return _tan_resnet(101, num_classes, levels, dilations, kernel_size, ta_norm, drop_rate)


@register_model
def tan_r152(num_classes: int = 157, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
             kernel_size: int = 3, ta_norm: bool = True, drop_rate: float = 0.5) -> TAN:
    """TAN on ResNet-152 bottlenecks (paper Tables 4-8, the paper's best model)."""
    return _tan_resnet(152, num_classes, levels, dilations, kernel_size, ta_norm, drop_rate)


# The tiny models (tests, the CPU demo), shared by all three architectures: one basic block per
# level, widths 16-128, ResNet's stem (7x7/2 conv, 3x3/2 max-pool). Measured on the demo's data
# (README, "Training the tiny models"): dropping the max-pool learnt slightly more per step but
# cost 3x the time per step, so the pool stays.
TINY_LAYERS = (1, 1, 1, 1)
TINY_PLANES = (16, 32, 64, 128)
TINY_STEM = 16
TINY_SHAPE = dict(planes=TINY_PLANES, stem_width=TINY_STEM, stem_pool=True)


@register_model
def tan_tiny(num_classes: int = 16, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
             kernel_size: int = 3, ta_norm: bool = True, drop_rate: float = 0.2) -> TAN:
    """Narrow, shallow TAN (one basic block per level) for tests and the CPU demo; same code path."""
    model = TAN(TINY_LAYERS, num_classes, levels=levels, dilations=dilations, kernel_size=kernel_size,
                ta_norm=ta_norm, drop_rate=drop_rate, block=BasicBlock, **TINY_SHAPE)
    model.imagenet_weights = None
    return model
