"""Export a trained checkpoint to ONNX: the fused inference form, dynamic batch and time length.

The class names, FPS, input size and normalisation travel in the ONNX file's metadata
(``metadata_props``), so a deployment needs nothing else. Input ``clip``: float32
``(B, 3, T, H, W)``, ImageNet-normalised; output ``logits``: ``(B, T, K)``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from .checkpoint import build_model_from_checkpoint
from .errors import InputError


def export_model(model: torch.nn.Module, out: str | Path, size: int, opset: int = 17, frames: int = 16) -> Path:
    """Write an eval-mode model's fused form (TA modules and BatchNorms folded: the graph has no
    BatchNormalization node) as ONNX with dynamic batch and time; returns the path."""
    model.eval().fuse()
    example = torch.zeros(1, 3, frames, size, size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(model, (example,), str(out), input_names=["clip"], output_names=["logits"],
                          dynamic_axes={"clip": {0: "batch", 2: "time"}, "logits": {0: "batch", 1: "time"}},
                          opset_version=opset, dynamo=False)
    return out


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = 17, frames: int = 16) -> Path:
    """A checkpoint as ONNX (:func:`export_model`), its meta in the file's ``metadata_props``."""
    model, meta = build_model_from_checkpoint(checkpoint)
    if model.temporal_radius is None:
        # the LSTM / strided-3D baselines trace shape-dependent code (interpolate to T): not dynamic in T
        raise InputError(f"ONNX export supports the TAN models; {meta['build_args']['name']!r} is a baseline",
                         path=checkpoint)
    out = export_model(model, out, int(meta.get("size", 224)), opset, frames)
    import onnx

    proto = onnx.load(str(out))
    for key in ("class_names", "fps", "size", "mean", "std", "build_args"):
        if key in meta:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(meta[key])
    onnx.save(proto, str(out))
    return out
