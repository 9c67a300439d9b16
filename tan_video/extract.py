"""``tan-video extract``: per-frame features of every video, once, for the feature models.

The features are a model's pooled output after level 4 (:meth:`~tan_video.models.TAN.forward_features`:
the TA modules included for a TAN, the per-frame ResNet for a 2D model), computed on the same
``j / fps`` grid and with the same exact chunking as ``tan-video predict``
(:func:`~tan_video.inference.stream_logits` with the model's TA context), so the features of a
frame do not depend on how the video was cut into chunks.

Written into ``OUT``: one ``<video id>.npy`` per video, ``(N, D)`` float32 (or float16), each
written to a temporary name and renamed, and ``manifest.json`` (model, weights and their SHA-256,
FPS, frame size, layer, dimension, dtype, precision), the layout the feature datasets read
(:mod:`tan_video.data.features`). Run again with the same settings, it skips the videos already
done; a video that fails to decode is reported in one line and the others go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .atomic import atomic_write
from .data.defaults import DEFAULT_FPS
from .data.features import MANIFEST, read_features
from .data.preprocess import Preprocess
from .errors import InputError

log = logging.getLogger(__name__)

FORMAT = "tan-video-features/1"
LAYER = "pooled output after level 4 (TA modules included)"
DTYPES = {"float32": np.float32, "float16": np.float16}
# the manifest's entries that must match for a second run to add to the same folder
_SAME = ("format", "model", "build_args", "weights", "fps", "size", "resize", "layer", "dim", "dtype", "precision")


@dataclass
class ExtractReport:
    """What one run did: the output folder, the videos written, skipped (already there) and failed."""

    out: str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def feature_context(model: nn.Module) -> int:
    """Frames of context each side that exact chunks of ``forward_features`` need: the TA modules'
    radii (0 for a per-frame model). A model without per-frame features is an error."""
    from .models import ResNet3D, takes_features

    if takes_features(model):
        raise InputError(f"model {model.build_args['name']!r} already reads features; extract needs a model that "
                         "reads frames (a TAN or a per-frame 2D model)")
    if isinstance(model, ResNet3D) or not hasattr(model, "temporal_modules"):
        raise InputError(f"model {model.build_args['name']!r} has no per-frame features (its output is strided in "
                         "time); extract from a TAN or a per-frame 2D model")
    return sum(m.radius for m in model.temporal_modules())


def load_extractor(checkpoint: str | None = None, model: str | None = None, pretrained: str | None = None,
                   fps: float | None = None, size: int | None = None) -> tuple[nn.Module, dict, dict]:
    """(model, preprocessing meta, the manifest's ``weights`` block) from a tan-video checkpoint
    or from a zoo model name (with ``pretrained``: ``"imagenet"`` or a 2D ResNet state-dict file)."""
    from .models import create_model

    if (checkpoint is None) == (model is None):
        raise InputError("extract needs --checkpoint or --model (one of them)")
    if checkpoint is not None:
        from .checkpoint import build_model_from_checkpoint
        from .inference import check_normalisation

        net, meta = build_model_from_checkpoint(checkpoint)
        check_normalisation(meta, checkpoint)
        if pretrained is not None:
            raise InputError("--pretrained goes with --model; a checkpoint carries its own weights")
        weights = {"checkpoint": str(checkpoint), "sha256": file_sha256(checkpoint)}
        meta = {**meta, **({"size": size, "resize": None} if size is not None else {})}
    else:
        torch.manual_seed(0)  # random weights (no --pretrained) are the same on every run
        net = create_model(model, pretrained=pretrained)
        if pretrained is None:
            log.warning("extract: model %s with random weights (no --pretrained, seed 0): its features carry no "
                        "learnt knowledge", model)
        weights = {"pretrained": pretrained} if pretrained is not None else {"pretrained": None, "seed": 0}
        if pretrained not in (None, "imagenet"):
            weights["sha256"] = file_sha256(pretrained)
        elif pretrained == "imagenet":
            weights["url"] = net.imagenet_weights.url
        meta = {"fps": DEFAULT_FPS, "size": 224, "resize": None, "build_args": net.build_args}
        if size is not None:
            meta["size"] = size
    if fps is not None:
        meta["fps"] = fps
    return net, meta, weights


def _same_settings(old: dict, new: dict, path: Path) -> None:
    diff = [k for k in _SAME if old.get(k) != new.get(k)]
    if diff:
        k = diff[0]
        raise InputError(f"this folder holds features made with other settings ({k}: {old.get(k)!r}, now "
                         f"{new.get(k)!r}); extract into another --out or delete it", path=path)


def _finished(path: Path, dim: int) -> bool:
    """A feature file from an earlier run that reads back whole (a killed run leaves only .tmp files)."""
    try:
        read_features(path, dim)
        return True
    except InputError:
        return False


def extract_features(videos: Sequence[tuple[str, str | os.PathLike]], out: str | os.PathLike, net: nn.Module,
                     meta: dict, weights: dict, *, dtype: str = "float32", precision: str = "auto",
                     device: str = "auto", chunk: int = 64, window: int = 256, progress: bool = True,
                     replace: bool = False) -> ExtractReport:
    """Features of every ``(video id, path)`` into ``out`` (module docstring). ``replace``: a folder
    holding features of other settings (another model, other weights) is emptied of them and
    written anew, instead of refused."""
    from .inference import prepare_for_inference, resolve_device, resolve_precision, stream_logits

    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    ids = [v for v, _ in videos]
    if len(set(ids)) != len(ids):
        dup = next(v for v in ids if ids.count(v) > 1)
        raise InputError(f"two videos have the id {dup!r}; their feature files would collide")
    context = feature_context(net)
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    prep = Preprocess.from_meta(meta)
    prepare_for_inference(net, device=dev)
    dim = int(net.num_features)
    manifest = {"format": FORMAT, "model": net.build_args["name"], "build_args": dict(net.build_args),
                "weights": weights, "fps": prep.fps, "size": prep.size, "resize": prep.short_side,
                "layer": LAYER, "dim": dim, "dtype": dtype, "precision": precision, "context": context,
                "time_of_feature_i": "i / fps (the j / fps sampling grid of tan-video predict)"}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    if path.is_file():
        try:
            _same_settings(json.loads(path.read_text()), manifest, path)
        except (InputError, json.JSONDecodeError):
            if not replace:
                raise
            for old in out.rglob("*.npy"):  # another extractor's features: written anew
                old.unlink()
            path.unlink()
    if not path.is_file():
        path.write_text(json.dumps(manifest, indent=1) + "\n")
    report = ExtractReport(str(out), manifest=manifest)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(videos), desc="extract", unit="video", dynamic_ncols=True, disable=None)
    start = time.perf_counter()
    for video_id, video in videos:
        target = out / f"{video_id}.npy"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and _finished(target, dim):
            report.skipped.append(video_id)
        else:
            try:
                _, feats = stream_logits(net, video, prep, chunk=chunk, window=window, precision=precision,
                                         context=context, forward=net.forward_features)
            except InputError as e:
                report.failed[video_id] = str(e)
                log.error("tan-video: error: %s", e)
            else:
                if not np.isfinite(feats).all():
                    report.failed[video_id] = f"{video}: the features hold NaN or inf (precision {precision})"
                    log.error("tan-video: error: %s", report.failed[video_id])
                else:
                    array = feats.astype(DTYPES[dtype])
                    atomic_write(target, lambda tmp: np.save(tmp, array))  # tmp ends in .npy: saved as named
                    report.written.append(video_id)
                    report.frames += len(feats)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


def videos_of_config(cfg) -> list[tuple[str, Path]]:
    """Every annotated video of a config's dataset (training and test), resolved to its file."""
    from .data.split import check_videos, read_split

    _, train, test = read_split(cfg)
    anns = train + test
    # (an unreadable file is not checked here: extraction reports it and goes on with the others)
    return [(a.video_id, path) for a, path in zip(anns, check_videos(anns, cfg.data.videos, readable=False))]


def videos_of_folder(folder: str | os.PathLike) -> list[tuple[str, Path]]:
    """Every video file (by extension) and frame folder directly in ``folder``, id = file stem."""
    from .data.video import VIDEO_EXTENSIONS

    root = Path(folder)
    if not root.is_dir():
        raise InputError("no such folder of videos", path=root)
    found = [(p.stem if p.is_file() else p.name, p) for p in sorted(root.iterdir())
             if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or (p.is_dir() and not p.name.startswith("."))]
    if not found:
        raise InputError("no video files or frame folders here", path=root)
    return found


__all__ = ["ExtractReport", "extract_features", "load_extractor", "feature_context", "videos_of_config",
           "videos_of_folder", "FORMAT", "LAYER"]
