"""The inference engine: preprocessing, chunked and streamed dense logits, precision, memory.

Everything after training runs through here: ``tan-video predict``, ``evaluate``, the demo's and
training's validation, the filter-response figures and the speed benchmark.

TAN's temporal receptive field is bounded (+-12 frames for the paper's model, the sum of the TA
modules' radii, ``model.temporal_radius``), so a long video is processed in chunks with that
much context on each side and the result equals one pass over the whole video (tested). Models
without a bounded, shift-equivariant receptive field (the LSTM and strided-3D baselines) get one
pass over the whole video.

Streaming (why memory does not grow with video length)
------------------------------------------------------
TAN's output at frame ``t`` depends only on input frames ``t - r .. t + r`` (``r =
model.temporal_radius``, 12 for the paper's model: four TA modules of +-3). The video is
therefore decoded in windows of ``window`` sampled frames; only the last ``2 r`` decoded frames
are carried over to the next window, and the model runs on chunks of ``chunk`` output frames with
``r`` frames of context on each side (:func:`tan_video.inference.predict_logits`). Only the
logits ``(T, K)`` and the sample times ``(T,)`` are kept: a few MB for an hour of video, whatever
its resolution. The result equals one pass over the whole video to float tolerance (tested).

The LSTM and strided-3D baselines have no bounded receptive field (``temporal_radius`` is
None): they get one pass over the whole decoded video, as in evaluation, and memory does grow.

Preprocessing is :class:`tan_video.data.preprocess.Preprocess`, the one rule that evaluation's
:class:`~tan_video.data.VideoDataset` uses too: sample the ``t_j = j / fps`` grid, resize the
short side to ``meta["resize"]`` (default ``size * 8 / 7``) inside FFmpeg's scaler, centre-crop
``size``; ImageNet normalisation happens on the model's device (:func:`predict_logits`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data.preprocess import Preprocess
from .data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from .errors import InputError
from .models import takes_features, to_channels_last


def prepare_for_inference(model: nn.Module, fuse: bool = True, channels_last: bool = True,
                          device: torch.device | str | None = None, pack: bool | None = None) -> nn.Module:
    """Eval mode, the fused form (TA modules folded into one conv each, BatchNorms into their
    convolutions: exact, fewer operations), the fast memory layout, on ``device`` when given
    (:func:`resolve_device`; frames follow the model there in :func:`predict_logits`).

    ``pack`` (default: on the CPU with ``fuse`` and ``channels_last``): 2D convolution weights
    laid out for oneDNN's kernels once (:mod:`tan_video.models.packing`); exact, and the model
    then stays on the CPU.
    """
    if device is not None:
        model.to(resolve_device(device))
    model.eval()
    if fuse:
        model.fuse()
    if channels_last:
        to_channels_last(model)
    on_cpu = next(model.parameters()).device.type == "cpu"
    if pack if pack is not None else (fuse and channels_last and on_cpu):
        from .models.packing import pack as pack_weights

        pack_weights(model)
    return model


def resolve_device(device: torch.device | str = "auto") -> torch.device:
    """``"auto"`` (the first CUDA device when there is one, else the CPU), ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"``; a device that is not here is a one-line error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"--device {device}: no CUDA device is available here")
        if (dev.index or 0) >= count:
            raise InputError(f"--device {device}: this machine has {count} CUDA device(s)")
    return dev


def default_precision(device: torch.device | str = "cpu") -> str:
    """What ``precision="auto"`` means. On a GPU: ``"bf16"`` where it computes bf16, else ``"16"``
    (fp16 autocast). On a CPU: ``"bf16"`` with native bf16 arithmetic (AVX512-BF16 or AMX), else
    ``"32"``.

    Measured for tan_tiny on a 2-core AVX512-BF16 CPU (benchmarks/results/long_video.json):
    bf16 autocast is about 2x faster per chunk than fp32 and its probabilities stay within
    :data:`BF16_TOLERANCE`. Without native bf16, oneDNN emulates it and it does not pay.
    """
    if torch.device(device).type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "16"
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):  # older torch: no capability query, stay exact
        return "32"
    return "bf16" if caps.get("avx512_bf16") or caps.get("amx_bf16") else "32"


def inference_precision(precision: "str | int") -> str:
    """A precision in any of the training spellings (:data:`tan_video.config.PRECISIONS`) but fp64 ->
    this module's name: ``32`` / ``"32-true"`` -> ``"32"``, ``"bf16-mixed"`` -> ``"bf16"``,
    ``"16-mixed"`` -> ``"16"``, ``"auto"``; anything else is an error that lists the accepted ones."""
    from .config import PRECISIONS, normalize_precision

    choices = [k for k, v in PRECISIONS.items() if v != "64-true"]
    return normalize_precision(precision, "precision", choices).split("-")[0]


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """``"auto"`` -> :func:`default_precision` for ``device``; ``"32"`` / ``"bf16"`` (and ``"16"`` on a
    GPU), in any spelling of :func:`inference_precision`; anything else is an error."""
    precision = inference_precision(precision)
    if precision == "auto":
        return default_precision(device)
    allowed = ("32", "bf16", "16") if torch.device(device).type == "cuda" else ("32", "bf16")
    if precision not in allowed:
        raise InputError(f"precision must be auto or {', '.join(allowed)} on {torch.device(device).type}, "
                         f"got {precision!r}")
    return precision


def autocast(precision: str, device: torch.device | str = "cpu"):
    """``bf16``/``bf16-mixed`` or ``16-mixed`` autocast; anything else runs in fp32."""
    device_type = torch.device(device).type
    if precision.startswith("bf16"):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device_type, dtype=torch.float16)
    return contextlib.nullcontext()


FRAME_CHUNK = 64
"""Output frames per forward pass of :func:`predict_logits` on frames: bounds the memory of the
activations (a chunk of 64 frames at 224 px through a ResNet-50 is a few GB in fp32)."""

FEATURE_CHUNK = 4096
"""The same on features: a feature model's activations are a few kB per feature, so a whole video
(Charades: at most a few hundred features) is one pass; chunks of 64 cost twice the time through
the overlap of their context and the calls (measured on ``ta_head``, docs/features.md)."""


@torch.no_grad()
def predict_logits(model: nn.Module, frames: torch.Tensor, chunk: int | None = None, precision: str = "32",
                   context: int | None = None, forward: Callable[[torch.Tensor], torch.Tensor] | None = None
                   ) -> torch.Tensor:
    """Frame logits ``(T, K)`` float32 for one whole video.

    Args:
        frames: uint8 ``(3, T, H, W)`` (the model's normalisation is applied here, chunk by chunk,
            so a long video stays uint8 in memory); for a feature model
            (:func:`~tan_video.models.takes_features`), the video's features ``(T, D)``.
        chunk: output frames per forward pass; default :data:`FRAME_CHUNK` for frames,
            :data:`FEATURE_CHUNK` for features.
        precision: ``"32"`` or ``"bf16"`` (autocast).
        context: frames of context on each side; default ``model.temporal_radius``. ``None``
            radius (unbounded / strided models): a single pass over the whole video.
        forward: what to compute instead of ``model(x)``, on the same chunks: e.g.
            ``model.forward_features`` (``tan-video extract``); its output ``(1, T, C)`` per chunk.
    """
    device = next(model.parameters()).device
    features = takes_features(model)
    t = frames.shape[0 if features else 1]
    chunk = chunk or (FEATURE_CHUNK if features else FRAME_CHUNK)
    forward = forward or model
    radius = model.temporal_radius if context is None else context
    if radius is None or t <= chunk:
        spans = [(0, t)]
    else:
        spans = [(s, min(s + chunk, t)) for s in range(0, t, chunk)]
    out = None
    for start, end in spans:
        lo, hi = (0, t) if radius is None else (max(0, start - radius), min(t, end + radius))
        clip = frames[lo:hi].to(device).float()[None] if features else normalize(frames[:, lo:hi].to(device))[None]
        with autocast(precision, device):
            logits = forward(clip)[0].float()
        if out is None:
            out = torch.empty(t, logits.shape[-1])
        out[start:end] = logits[start - lo:end - lo].cpu()
    return out


DEFAULT_WINDOW = 256
"""Sampled frames decoded per read (64 s at 4 FPS). Each read re-opens the file and seeks to the
keyframe before it, so a longer window amortises that; memory is ``window + 2 r`` frames."""

BF16_TOLERANCE = 0.03
"""Largest allowed difference of bf16 from fp32 *probabilities* (tested in test_inference.py and
test_predict.py; measured 0.007 on the long-video benchmark)."""


# --------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------


def check_normalisation(meta: dict, path: object = None) -> None:
    """:func:`predict_logits` applies ImageNet's mean/std: refuse a checkpoint trained otherwise
    rather than silently feeding it differently normalised frames."""
    for key, ref in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
        value = meta.get(key)
        if value and not np.allclose(np.asarray(value, dtype=np.float64), ref, atol=1e-6):
            raise InputError(f"checkpoint {key} {list(value)} is not ImageNet's {list(ref)}; not supported by "
                             "predict", path=path)


# --------------------------------------------------------------------------------------------
# Streamed dense inference
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def stream_logits(model: nn.Module, path: str | os.PathLike, prep: Preprocess, *, chunk: int | None = None,
                  window: int = DEFAULT_WINDOW, precision: str = "32",
                  on_frames: Callable[[int], None] | None = None, context: int | None = None,
                  forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame logits of a whole video, decoded and run window by window (module docstring).

    Args:
        model: in inference form (:func:`prepare_for_inference`).
        path: a video file or a folder of extracted frames.
        chunk: output frames per forward pass (each pass sees ``chunk + 2 r`` frames; default
            :data:`FRAME_CHUNK`).
        window: sampled frames decoded per read; rounded up to a multiple of ``chunk``.
        precision: ``"32"`` or ``"bf16"``.
        on_frames: called with the number of output frames finished (a progress bar).
        context, forward: as :func:`predict_logits` (``tan-video extract`` streams
            ``model.forward_features`` with the context the features need).

    Returns:
        times: float64 ``(T,)`` sample times in seconds; logits: float32 ``(T, K)``.

    Raises:
        InputError: unreadable video, or no frame on the sampling grid.
    """
    chunk = FRAME_CHUNK if chunk is None else chunk
    path = Path(path)
    if chunk < 1 or window < 1:
        raise ValueError(f"chunk and window must be positive, got {chunk}, {window}")
    radius = model.temporal_radius if context is None else context
    if radius is None:
        clip, times = prep.read(path)
        _check_not_empty(clip, path, prep.fps)
        logits = predict_logits(model, clip, chunk=chunk, precision=precision, forward=forward)
        if on_frames:
            on_frames(len(times))
        return times, logits.numpy()

    window = chunk * math.ceil(window / chunk)
    buf: torch.Tensor | None = None  # decoded frames [buf_lo, decoded), cropped, uint8
    buf_lo = decoded = 0
    ended = False
    all_times: list[np.ndarray] = []
    outputs: list[torch.Tensor] = []
    a = 0  # first output frame of the current window
    while True:
        # Decode up to the window's end plus the right context (fewer at the end of the video).
        want = a + window + radius
        if not ended and decoded < want:
            # start = decoded / fps is the grid time j / fps computed the way read_video computes
            # it, so the read resumes exactly at sample `decoded`; max_frames makes the count exact.
            clip, times = prep.read(path, start=decoded / prep.fps, max_frames=want - decoded)
            if decoded == 0:
                _check_not_empty(clip, path, prep.fps)
            if len(times) and abs(times[0] * prep.fps - decoded) > 1e-3:
                raise RuntimeError(f"{path}: resumed decoding at t={times[0]:.6f}s, expected sample {decoded}")
            ended = len(times) < want - decoded
            buf = clip if buf is None else torch.cat([buf, clip], dim=1)
            all_times.append(times)
            decoded += len(times)
        b = min(a + window, decoded)
        if a >= b:
            break
        # Right context is complete: either decoded >= b + radius, or the video ended there.
        for c in range(a, b, chunk):
            e = min(c + chunk, b)
            lo, hi = max(0, c - radius), min(decoded, e + radius)
            seg = buf[:, lo - buf_lo:hi - buf_lo]
            # One pass over exactly [c - r, e + r): the same computation predict_logits does for
            # this chunk of the whole video, so outputs [c, e) are identical to a single pass.
            logits = predict_logits(model, seg, chunk=seg.shape[1], precision=precision, context=radius,
                                    forward=forward)
            outputs.append(logits[c - lo:e - lo].clone())
            if on_frames:
                on_frames(e - c)
        a = b
        # Keep only the left context of the next window.
        keep = max(0, a - radius)
        buf, buf_lo = buf[:, keep - buf_lo:].clone(), keep
        if ended and a >= decoded:
            break
    times = np.concatenate(all_times)
    logits = torch.cat(outputs).numpy()
    assert len(times) == len(logits), (len(times), len(logits))
    return times, logits


def bound_heap_growth() -> bool:
    """Pin glibc's mmap threshold so that freed frame buffers go back to the OS (process-wide).

    glibc raises its mmap threshold (up to 32 MiB) each time a large mmapped block is freed;
    after that, multi-MB buffers (a decoded window, a chunk's activations) come from the heap,
    where fragmentation keeps freed memory resident. Measured on a 10-minute video: RSS grew
    from 357 to 603 MB and was still growing; with the threshold pinned at glibc's initial 128 KiB
    it stayed at about 306 MB, at no measurable cost in speed. ``tan-video predict`` calls this;
    Python users streaming long videos may too. Returns False where it does not apply (not
    glibc).
    """
    import ctypes
    import platform

    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3  # from <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 128 * 1024))
    except (OSError, AttributeError):
        return False


def _check_not_empty(clip: torch.Tensor, path: Path, fps: float) -> None:
    if clip.shape[1] == 0:
        raise InputError(f"no frames to sample at {fps:g} FPS (zero-length video)", path=path)


def to_probabilities(logits: np.ndarray, mode: str = "multilabel") -> np.ndarray:
    """Frame logits ``(T, K)`` -> scores in [0, 1]: sigmoid (multi-label), softmax (single-label)."""
    x = torch.from_numpy(np.asarray(logits, dtype=np.float32))
    return (torch.softmax(x, dim=-1) if mode == "single_label" else torch.sigmoid(x)).numpy()


@dataclass
class VideoScores:
    """What :func:`predict_video` returns: per-frame probabilities of one video.

    times: float64 ``(T,)`` sample times in seconds; probabilities: float32 ``(T, K)`` (sigmoid,
    or softmax for single-label models); class_names: the K names.
    """

    times: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` classes with the highest peak probability over the video, with that peak."""
        peaks = self.probabilities.max(axis=0) if len(self.times) else np.zeros(len(self.class_names))
        order = np.argsort(-peaks, kind="stable")[:k]
        return [(self.class_names[i], float(peaks[i])) for i in order]


def predict_video(model: nn.Module | str | os.PathLike, video: str | os.PathLike, meta: dict | None = None, *,
                  fps: float | None = None, precision: str = "auto", chunk: int = 64,
                  window: int = DEFAULT_WINDOW, device: torch.device | str = "auto") -> VideoScores:
    """Score one video in one call, streamed exactly as ``tan-video predict`` does.

    ``model``: a checkpoint path (``model.pt`` / ``.ckpt``), or a model with its ``meta`` (the
    second value of :func:`tan_video.load_model`); a model passed in is put in inference form in
    place (:func:`prepare_for_inference`: eval mode, fused TA modules, channels_last).
    ``fps`` overrides the checkpoint's sampling rate; ``device``: :func:`resolve_device` (the model
    moves there), ``precision``: :func:`resolve_precision` for that device.
    """
    if isinstance(model, (str, os.PathLike)):
        from .checkpoint import load_model

        model, meta = load_model(model)
    if meta is None:
        raise ValueError("predict_video needs the model's meta (class names, fps, size): pass the checkpoint "
                         "path, or the (model, meta) pair from tan_video.load_model")
    check_normalisation(meta)
    device = resolve_device(device)
    prepare_for_inference(model, device=device)
    times, logits = stream_logits(model, video, Preprocess.from_meta(meta, fps), chunk=chunk, window=window,
                                  precision=resolve_precision(precision, device))
    return VideoScores(times, to_probabilities(logits, meta.get("mode", "multilabel")), list(meta["class_names"]))
