"""The one preprocessing rule: how frames reach a model outside training.

Decode on the ``j / fps`` grid with the short side resized to ``resize`` (default ``size * 8 / 7``,
256 for 224), then take the centre ``size x size`` crop. Evaluation (:class:`~.datasets.VideoDataset`),
prediction, the filter-response plots and the benchmark all read frames through :class:`Preprocess`;
a checkpoint carries the settings (:meth:`Preprocess.from_meta`), so inference matches training.
Importing this module does not import PyAV (decoding does, on first use).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .defaults import DEFAULT_FPS, NATIVE_FPS
from .transforms import center_crop, to_clip


def default_resize(size: int) -> int:
    """Short side before cropping when none is given: ``size * 8 / 7`` (256 for 224)."""
    return round(size * 8 / 7)


@dataclass(frozen=True)
class Preprocess:
    """How frames reach the model.

    fps: sampling rate of the ``j / fps`` grid.
    short_side: resize target of the short side before cropping (None: native).
    size: centre-crop side (None: no crop).
    native_fps: frame rate assumed for folders of extracted frames (Charades: 24).
    """

    fps: float
    short_side: int | None
    size: int | None
    native_fps: float = NATIVE_FPS

    @classmethod
    def for_size(cls, fps: float, size: int | None, resize: int | None = None,
                 native_fps: float = NATIVE_FPS) -> "Preprocess":
        """The rule for a crop ``size``: the short side is ``resize``, else ``size * 8 / 7``
        (native when there is no crop either)."""
        short_side = int(resize) if resize is not None else (default_resize(size) if size else None)
        return cls(float(fps), short_side, int(size) if size is not None else None, float(native_fps))

    @classmethod
    def from_meta(cls, meta: dict, fps: float | None = None, native_fps: float | None = None) -> "Preprocess":
        """A checkpoint's rule (its ``size``, ``resize``, ``fps``, ``native_fps``); ``fps`` and
        ``native_fps`` given here override the checkpoint's."""
        if native_fps is None:
            native_fps = float(meta.get("native_fps") or NATIVE_FPS)
        rate = float(fps if fps is not None else meta.get("fps", DEFAULT_FPS))
        if not (math.isfinite(rate) and rate > 0):
            raise InputError(f"--fps must be a positive number, got {rate}")
        return cls.for_size(rate, meta.get("size"), meta.get("resize"), native_fps)

    def decode(self, path: str | os.PathLike, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Resized frames ``(T, H, W, 3)`` uint8 and their times ``(T,)`` (a file or a frame folder;
        ``kwargs`` as :func:`~.video.read_frames`)."""
        from .video import read_frames  # PyAV: only where video is read

        return read_frames(path, self.fps, self.short_side, native_fps=self.native_fps, **kwargs)

    def crop(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Decoded frames -> the model's uint8 clip ``(3, T, size, size)`` (the centre crop)."""
        clip = to_clip(frames)
        if self.size is not None:
            clip = center_crop(clip, self.size) if clip.shape[1] else clip.new_zeros(3, 0, self.size, self.size)
        return clip.contiguous()

    def read(self, path: str | os.PathLike, **kwargs: Any) -> tuple[torch.Tensor, np.ndarray]:
        """Decode (part of) a video: uint8 clip ``(3, T, size, size)`` and times ``(T,)``."""
        frames, times = self.decode(path, **kwargs)
        return self.crop(frames), times


__all__ = ["Preprocess", "default_resize"]
