"""Temporal models on pre-extracted per-frame features (docs/features.md).

Most work on dense multi-label recognition trains temporal models on features extracted once
(Charades and MultiTHUMOS ship as folders of per-video ``(N, 1024)`` arrays). These models take
features ``(B, T, D)`` instead of clips ``(B, 3, T, H, W)`` and give frame logits ``(B, T, K)``
like every other model here, so ``tan-video train/evaluate/predict`` run them unchanged
(``input_kind = "features"`` tells the pipeline what to feed):

- ``ta_head``: a linear projection (+ ReLU) to ``width`` channels, then ``depth`` Temporal
  Aggregation modules exactly as TAN's (:class:`~tan_video.models.tan.TemporalAggregation`:
  identity + temporal convolutions k=3 with dilations 1, 2, 3, summed, ReLU; no temporal stride),
  then dropout and the classifier. TAN's four TA modules with the per-frame path frozen into the
  features.
- ``linear_head``: dropout and a per-frame linear classifier (the per-frame baseline).
- ``lstm_head``: LayerNorm, a bidirectional LSTM, dropout, the classifier (the 2D+LSTM baseline).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .registry import register_model
from .tan import TemporalAggregation

FEATURE_DIM = 1024
"""The feature width of the published Charades / MultiTHUMOS feature folders (I3D, 1024-d)."""


class FeatureModel(nn.Module):
    """Base of the feature models: features ``(B, T, D)`` -> frame logits ``(B, T, K)``."""

    input_kind = "features"
    memory_format = torch.contiguous_format  # tan_video.models.to_channels_last leaves them as they are
    imagenet_weights = None

    def __init__(self, num_classes: int, in_dim: int, drop_rate: float):
        super().__init__()
        if in_dim < 1 or num_classes < 1:
            raise ValueError(f"in_dim and num_classes must be positive, got {in_dim} and {num_classes}")
        self.in_dim = int(in_dim)
        self.drop = nn.Dropout(drop_rate)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.in_dim:
            raise ValueError(f"expected features (B, T, {self.in_dim}), got shape {tuple(x.shape)}")

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    @property
    def temporal_radius(self) -> int | None:
        return 0

    def fuse(self) -> "FeatureModel":
        """The inference form (eval mode); nothing to fold unless overridden."""
        return self

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.fc.in_features, num_classes).to(self.fc.weight.device)


class TAHead(FeatureModel):
    """``depth`` TA modules on projected features (module docstring); the receptive field is
    ``depth`` times a module's radius (+-12 frames for four modules of +-3)."""

    def __init__(self, num_classes: int, in_dim: int = FEATURE_DIM, width: int = 512, depth: int = 4,
                 dilations: Sequence[int] = (1, 2, 3), kernel_size: int = 3, ta_init: str = "open",
                 drop_rate: float = 0.5):
        super().__init__(num_classes, in_dim, drop_rate)
        if width < 1 or depth < 0:
            raise ValueError(f"width must be positive and depth >= 0, got {width} and {depth}")
        self.proj = nn.Linear(in_dim, width)
        self.relu = nn.ReLU(inplace=True)
        self.ta = nn.ModuleList(TemporalAggregation(width, kernel_size, dilations, ta_init) for _ in range(depth))
        self.num_features = width
        self.fc = nn.Linear(width, num_classes)

    def temporal_modules(self) -> list[TemporalAggregation]:
        return list(self.ta)

    @property
    def temporal_radius(self) -> int:
        return sum(m.radius for m in self.ta)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, T, D)`` -> temporally aggregated features ``(B, T, width)``."""
        self._check(x)
        y = self.relu(self.proj(x)).transpose(1, 2)[..., None, None]  # (B, W, T, 1, 1): a TA module's input
        for ta in self.ta:
            y = ta(y)
        return y[..., 0, 0].transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.forward_features(x)))

    def fuse(self) -> "TAHead":
        """Every TA module folded into one temporal convolution (exact in eval mode). Idempotent."""
        for ta in self.ta:
            ta.fuse()
        return self


class LinearHead(FeatureModel):
    """Per-frame classifier: every feature scored alone (receptive field 0)."""

    def __init__(self, num_classes: int, in_dim: int = FEATURE_DIM, drop_rate: float = 0.5):
        super().__init__(num_classes, in_dim, drop_rate)
        self.fc = nn.Linear(in_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.fc(self.drop(x))


class LSTMHead(FeatureModel):
    """LayerNorm, then a (bidirectional) LSTM over the whole sequence, then the classifier."""

    def __init__(self, num_classes: int, in_dim: int = FEATURE_DIM, hidden: int = 512, bidirectional: bool = True,
                 drop_rate: float = 0.5):
        super().__init__(num_classes, in_dim, drop_rate)
        self.norm = nn.LayerNorm(in_dim)
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    @property
    def temporal_radius(self) -> None:
        return None  # unbounded: every output depends on the whole sequence

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        hidden, _ = self.lstm(self.norm(x))
        return self.fc(self.drop(hidden))


@register_model
def ta_head(num_classes: int = 157, in_dim: int = FEATURE_DIM, width: int = 512, depth: int = 4,
            dilations: Sequence[int] = (1, 2, 3), kernel_size: int = 3, ta_init: str = "open",
            drop_rate: float = 0.5) -> TAHead:
    """TA modules on per-frame features: TAN's temporal part trained on a feature folder."""
    return TAHead(num_classes, in_dim, width, depth, dilations, kernel_size, ta_init, drop_rate)


@register_model
def linear_head(num_classes: int = 157, in_dim: int = FEATURE_DIM, drop_rate: float = 0.5) -> LinearHead:
    """A per-frame linear classifier on features (the per-frame baseline on a feature folder)."""
    return LinearHead(num_classes, in_dim, drop_rate)


@register_model
def lstm_head(num_classes: int = 157, in_dim: int = FEATURE_DIM, hidden: int = 512, bidirectional: bool = True,
              drop_rate: float = 0.5) -> LSTMHead:
    """A bidirectional LSTM on features (the 2D+LSTM baseline on a feature folder)."""
    return LSTMHead(num_classes, in_dim, hidden, bidirectional, drop_rate)
