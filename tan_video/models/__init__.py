"""Models: TAN, the paper's baselines and ablations, ImageNet weights, the registry."""

from . import baselines, heads, packing, tan  # noqa: F401  (registers the builders)
from .baselines import ResNet3D, TAN2DLSTM
from .heads import FeatureModel, LinearHead, LSTMHead, TAHead
from .bf16 import guard_bf16_convolutions
from .baselines import BasicBlock3d, Bottleneck3d
from .tan import BasicBlock, Bottleneck, TemporalAggregation
from .packing import PackedConv2d, pack, unpack
from .registry import create_model, list_models, model_arguments, register_model
from .tan import TAN, to_channels_last, video_scores
from .weights import IMAGENET_RESNET, LoadReport, Weights, load_pretrained

__all__ = [
    "TAN", "TAN2DLSTM", "ResNet3D", "BasicBlock", "BasicBlock3d", "Bottleneck", "Bottleneck3d", "TemporalAggregation",
    "create_model", "list_models", "model_arguments", "register_model", "video_scores", "to_channels_last",
    "IMAGENET_RESNET", "Weights", "LoadReport", "load_pretrained", "PackedConv2d", "pack", "unpack",
    "guard_bf16_convolutions", "FeatureModel", "TAHead", "LinearHead", "LSTMHead", "takes_features",
]


def takes_features(model) -> bool:
    """Whether ``model`` reads per-frame features ``(B, T, D)`` (:mod:`tan_video.models.heads`)
    rather than clips ``(B, 3, T, H, W)``."""
    return getattr(model, "input_kind", "frames") == "features"
