"""Per-frame feature folders as datasets (docs/features.md).

The layout the field publishes for Charades and MultiTHUMOS, and the one ``tan-video extract``
writes: one ``<video id>.npy`` per video holding ``N`` feature vectors of dimension ``D``, shape
``(N, D)`` or ``(N, 1, 1, D)``, spread evenly over the video, beside a dense annotation file.
Feature ``i`` stands for the time ``t_i = i * duration / N`` (``duration`` from the annotation
file), or ``t_i = i / fps`` when the feature rate is known: ``data.feature_fps``, else the
``fps`` of the folder's ``manifest.json`` (written by ``tan-video extract``). A class is on at a
feature when ``t_i`` falls inside one of its segments (:func:`~tan_video.data.annotations.dense_targets`).

Files are memory-mapped (``np.load(mmap_mode="r")``): a training clip reads ``clip_frames`` rows
of one file, so a folder larger than RAM trains; the page cache keeps what fits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .annotations import VideoAnnotation, dense_targets
from .datasets import ClipSampler, _Padding, item_generator, pad_to

MANIFEST = "manifest.json"


def read_features(path: str | os.PathLike, dim: int | None = None) -> np.ndarray:
    """One video's features as a read-only memory map ``(N, D)`` (float16 or float32 as stored).

    Accepts ``(N, D)`` and ``(N, 1, 1, D)``; anything else, an empty file, a file that is not a
    ``.npy`` array, or ``D != dim`` is an :class:`~tan_video.errors.InputError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no feature file", path=path)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        first = str(e).splitlines()[0].split(". ")[0].rstrip(".")  # numpy's first sentence is the reason
        raise InputError(f"not a readable .npy array ({first[:100]})", path=path) from None
    if arr.ndim == 4 and arr.shape[1:3] == (1, 1):
        arr = arr.reshape(arr.shape[0], arr.shape[3])
    if arr.ndim != 2:
        raise InputError(f"features must have shape (N, D) or (N, 1, 1, D), got {tuple(arr.shape)}", path=path)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"empty features, shape {tuple(arr.shape)}", path=path)
    if arr.dtype.kind != "f":
        raise InputError(f"features must be floating point, got {arr.dtype}", path=path)
    if dim is not None and arr.shape[1] != dim:
        raise InputError(f"features of dimension {arr.shape[1]}, expected {dim} (the folder's first file or the "
                         "model's in_dim)", path=path)
    return arr


def finite_features(feats: np.ndarray, path: str | os.PathLike, first_row: int = 0) -> np.ndarray:
    """``feats`` (rows ``first_row...`` of the file at ``path``), or an InputError naming the file
    and the first row holding NaN or inf: such a file would otherwise surface as a diverged
    training or a model's NaN scores, blamed on the learning rate or the checkpoint."""
    bad = ~np.isfinite(feats)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise InputError(f"{int(bad.sum())} NaN or inf value(s) in the features, first in row {first_row + rows[0]}",
                         path=path)
    return feats


def feature_times(n: int, duration: float, fps: float | None = None) -> np.ndarray:
    """The time (seconds) each of ``n`` features stands for: ``i / fps`` when the rate is known,
    else ``i * duration / n`` (features spread evenly over the video)."""
    i = np.arange(n, dtype=np.float64)
    if fps is not None:
        return i / float(fps)
    return i * (float(duration) / n)


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The folder's ``manifest.json`` (written by ``tan-video extract``), or None."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg}, line {e.lineno})", path=path) from None


class FeatureFolder:
    """``<folder>/<video id>.npy`` lookup, the feature rate and dimension of a folder.

    ``fps``: given, else the manifest's, else None (``N / duration`` per video). ``dim``: the
    manifest's, else the first file read (every file must agree).
    """

    def __init__(self, folder: str | os.PathLike, fps: float | None = None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError("feature folder does not exist", path=self.folder)
        manifest = read_manifest(self.folder) or {}
        if fps is not None and fps <= 0:
            raise InputError(f"data.feature_fps must be positive, got {fps}")
        self.fps = float(fps) if fps is not None else (float(manifest["fps"]) if manifest.get("fps") else None)
        self.dim = int(manifest["dim"]) if manifest.get("dim") else None

    def path(self, video_id: str) -> Path:
        return self.folder / f"{video_id}.npy"

    def load(self, video_id: str) -> np.ndarray:
        arr = read_features(self.path(video_id), self.dim)
        if self.dim is None:
            self.dim = arr.shape[1]
        return arr

    def times(self, n: int, annotation: VideoAnnotation) -> np.ndarray:
        if self.fps is None and not annotation.duration > 0:
            raise InputError(f"video {annotation.video_id}: no duration in the annotations, so the time of each "
                             "feature is unknown; set data.feature_fps", path=self.path(annotation.video_id))
        return feature_times(n, annotation.duration, self.fps)

    def check(self, annotations: Sequence[VideoAnnotation]) -> int:
        """Fail before training, in one line, when a video has no feature file or a file is not a
        feature array of the folder's dimension (each file's header is read: about 0.2 ms per file
        from the page cache, 1.9 s for Charades' 9,800). Returns the feature dimension."""
        missing = [a.video_id for a in annotations if not self.path(a.video_id).is_file()]
        if missing:
            raise InputError(f"{len(missing)} of {len(annotations)} annotated videos have no feature file "
                             f"(first: {self.path(missing[0]).name})", path=self.folder)
        for a in annotations:
            self.load(a.video_id)  # a memory map: the header only; the first file sets the dimension
        return self.dim


class _FeatureBase(Dataset):
    def __init__(self, annotations: Sequence[VideoAnnotation], folder: str | os.PathLike | FeatureFolder,
                 num_classes: int, fps: float | None = None):
        self.annotations = list(annotations)
        self.features = folder if isinstance(folder, FeatureFolder) else FeatureFolder(folder, fps)
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.annotations)


class FeatureClipDataset(_FeatureBase):
    """Training clips of ``clip_frames`` consecutive features with dense targets.

    ``train``: a random position per item (drawn from the item's seed under
    :class:`~tan_video.data.datasets.EpochOrder`, so runs resume exactly), else the centre. A
    video with fewer features is padded by repeating its last feature and time.

    Item: ``clip`` float32 ``(T, D)``, ``targets`` float32 ``(T, K)``, ``times`` float64 ``(T,)``,
    ``video_id`` str.
    """

    def __init__(self, annotations: Sequence[VideoAnnotation], folder: str | os.PathLike | FeatureFolder,
                 num_classes: int, clip_frames: int = 16, train: bool = True, fps: float | None = None):
        super().__init__(annotations, folder, num_classes, fps)
        self.clip_frames = clip_frames
        self.sampler = ClipSampler(clip_frames, "random" if train else "center")
        self._padding = _Padding(type(self).__name__)

    @property
    def stats(self) -> dict[str, int]:
        return self._padding.stats

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        index, generator = item_generator(index)
        ann = self.annotations[index]
        arr = self.features.load(ann.video_id)
        n = len(arr)
        s = self.sampler(n, generator)
        feats = np.array(arr[s:s + self.clip_frames], dtype=np.float32)  # a copy: the map is read-only
        finite_features(feats, self.features.path(ann.video_id), s)
        times = self.features.times(n, ann)[s:s + self.clip_frames]
        self._padding.count(ann.video_id, len(feats), self.clip_frames)
        feats, times = pad_to(feats, times, self.clip_frames)
        return {"clip": torch.from_numpy(np.ascontiguousarray(feats)),
                "targets": torch.from_numpy(dense_targets(ann, times, self.num_classes)),
                "times": torch.from_numpy(times), "video_id": ann.video_id}


class FeatureVideoDataset(_FeatureBase):
    """Whole videos' features for dense evaluation, like :class:`~tan_video.data.VideoDataset`.

    Item: ``frames`` float32 ``(N, D)`` (the features; the key the evaluation loop reads),
    ``targets`` ``(N, K)``, ``times`` ``(N,)``, ``video_id``, ``duration``, ``annotation``.
    """

    def __getitem__(self, index: int) -> dict[str, Any]:
        ann = self.annotations[index]
        arr = self.features.load(ann.video_id)
        times = self.features.times(len(arr), ann)
        feats = finite_features(np.array(arr, dtype=np.float32), self.features.path(ann.video_id))
        return {"frames": torch.from_numpy(feats),
                "targets": torch.from_numpy(dense_targets(ann, times, self.num_classes)),
                "times": torch.from_numpy(times), "video_id": ann.video_id, "duration": float(ann.duration),
                "annotation": ann}


__all__ = ["MANIFEST", "read_features", "finite_features", "feature_times", "read_manifest", "FeatureFolder", "FeatureClipDataset",
           "FeatureVideoDataset"]
