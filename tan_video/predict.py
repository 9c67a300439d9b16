"""Predict on your own videos (the batch application): streamed dense scores, action segments,
timelines, proposal scoring. The engine it drives (preprocessing, streaming, chunking) is
:mod:`tan_video.inference`.

What ``tan-video predict`` runs, usable from Python too::

    from tan_video.predict import PredictOptions, predict_videos
    report = predict_videos(["a.mp4", "b.mkv"], "runs/x/model.pt", "predictions/", PredictOptions())
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from torch import nn

from .checkpoint import build_model_from_checkpoint
from .data.annotations import VideoAnnotation, dense_targets, read_annotations
from .data.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, video_info
from .detection import read_proposals, score_proposals, scores_to_segments, write_detections
from .atomic import atomic_write
from .errors import InputError
from .models import takes_features
from .inference import (BF16_TOLERANCE, DEFAULT_WINDOW, Preprocess, bound_heap_growth, check_normalisation,  # noqa: F401
                        default_precision, predict_logits, prepare_for_inference, resolve_device, resolve_precision, stream_logits,
                        to_probabilities)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Options, results, files
# --------------------------------------------------------------------------------------------


@dataclass
class PredictOptions:
    """Everything ``tan-video predict`` takes besides the videos, checkpoint and output folder.

    fps: sampling rate; None: the checkpoint's (what the model was trained at).
    native_fps: the frame rate of folders of extracted frames; None: the checkpoint's (its
        ``data.native_fps``, 24 for Charades).
    threshold, min_frames, merge_gap: the segments rule (:func:`scores_to_segments`).
    annotations, format, class_base: ground truth for the timeline (matched by file stem).
    proposals: ActivityNet-style proposals JSON -> ``detections.json`` (paper's scoring).
    top_k: classes kept per proposal (None: all).
    precision: ``"auto"`` (:func:`default_precision` for the device), ``"32"``, ``"bf16"`` (autocast),
        or ``"16"`` on a GPU.
    device: ``"auto"`` (the first GPU when there is one), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    chunk, window: output frames per forward pass (None: 64 for videos, the whole file up to 4,096
        for feature files, :data:`~tan_video.inference.FEATURE_CHUNK`); sampled frames per decoded window.
    progress: a tqdm bar per video.
    timeline: write ``<name>.timeline.png``.
    """

    fps: float | None = None
    native_fps: float | None = None
    threshold: float = 0.5
    min_frames: int = 1
    merge_gap: int = 0
    annotations: str | None = None
    format: str | None = None
    class_base: int = 0
    proposals: str | None = None
    top_k: int | None = None
    precision: str = "auto"
    device: str = "auto"
    chunk: int | None = None
    window: int = DEFAULT_WINDOW
    progress: bool = True
    timeline: bool = True


@dataclass
class VideoResult:
    """One video's outcome. ``error`` set: it failed (one line naming the file); else the rest."""

    path: str
    name: str
    error: str | None = None
    frames: int = 0
    duration: float = 0.0
    seconds: float = 0.0
    segments: int = 0
    top: list[tuple[str, float]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class PredictReport:
    """All videos' results plus the run-level files (``detections.json``, ``summary.json``)."""

    videos: list[VideoResult]
    files: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[VideoResult]:
        return [v for v in self.videos if not v.ok]


def write_scores(out: Path, name: str, times: np.ndarray, scores: np.ndarray, class_names: Sequence[str],
                 header: dict, block: int = 1024) -> list[Path]:
    """``<name>.scores.csv`` (``time`` + one column per class) and ``<name>.scores.json``.

    JSON: ``{**header, "class_names", "times": [T], "scores": [T][K]}``; scores rounded to 6 digits.
    Both are written ``block`` rows at a time: an hour of Charades (14400 x 157 scores) as
    Python lists or one string would cost far more memory than the scores themselves.
    """
    def csv_file(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow(["time", *class_names])  # quotes names with commas
            for i in range(0, len(times), block):
                body = np.column_stack([times[i:i + block], scores[i:i + block]])
                np.savetxt(f, body, fmt=["%.4f"] + ["%.6f"] * scores.shape[1], delimiter=",")

    def json_file(tmp: Path) -> None:
        head = json.dumps({**header, "class_names": list(class_names), "times": np.round(times, 4).tolist()},
                          separators=(",", ":"))
        with open(tmp, "w") as f:
            f.write(head[:-1] + ',"scores":[')
            for i in range(0, len(times), block):
                rows = np.round(scores[i:i + block].astype(np.float64), 6).tolist()
                f.write(("," if i else "") + ",".join(json.dumps(r, separators=(",", ":")) for r in rows))
            f.write("]}\n")

    return [atomic_write(out / f"{name}.scores.csv", csv_file), atomic_write(out / f"{name}.scores.json", json_file)]


def write_segments(out: Path, name: str, segments: Sequence[tuple[int, float, float, float]],
                   class_names: Sequence[str], header: dict) -> Path:
    """``<name>.segments.json``: ``{**header, "segments": [{label, class_index, start, end, score}]}``."""
    items = [{"label": class_names[c], "class_index": c, "start": round(s, 3), "end": round(e, 3),
              "score": round(sc, 6)} for c, s, e, sc in segments]
    return atomic_write(out / f"{name}.segments.json",
                        lambda tmp: tmp.write_text(json.dumps({**header, "segments": items}, indent=1) + "\n"))


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def _output_names(videos: Sequence[Path]) -> list[str | None]:
    """Output name per video: its stem. A later video with the same stem would overwrite an
    earlier one's files; it gets None (reported as a bad input)."""
    seen: set[str] = set()
    names: list[str | None] = []
    for v in videos:
        stem = v.name if v.is_dir() else v.stem
        names.append(None if stem in seen else stem)
        seen.add(stem)
    return names


def _ground_truth(options: PredictOptions, class_names: Sequence[str]) -> dict[str, VideoAnnotation]:
    if not options.annotations:
        return {}
    anns = read_annotations(options.annotations, options.format, class_base=options.class_base,
                            classes=list(class_names))
    return {a.video_id: a for a in anns}


def predict_one(model: nn.Module, meta: dict, path: Path, name: str, out: Path, prep: Preprocess,
                options: PredictOptions, annotation: VideoAnnotation | None = None
                ) -> tuple[VideoResult, np.ndarray, np.ndarray]:
    """Stream one video and write its files. Returns the result, times ``(T,)``, scores ``(T, K)``."""
    class_names = list(meta["class_names"])
    started = time.perf_counter()
    if takes_features(model):
        times, logits, fps = _score_features(model, path, meta, options)
        video_duration = 0.0
    else:
        if path.suffix.lower() == ".npy":
            raise InputError("a feature file, but this checkpoint's model reads video frames (a model trained on "
                             "features, e.g. ta_head, reads .npy files)", path=path)
        info = video_info(path, native_fps=prep.native_fps, rotation=False)
        if path.is_dir():
            log.info("%s: a folder of frames, taken as %g FPS (--native-fps)", path, prep.native_fps)
        video_duration, fps = info.duration, prep.fps
        expected = max(1, math.ceil(info.duration * prep.fps)) if info.duration > 0 else None
        bar = None
        if options.progress:
            from tqdm import tqdm

            # disable=None: no bar when stderr is not a terminal (logs, CI)
            bar = tqdm(total=expected, desc=name[:24], unit="frame", leave=False, dynamic_ncols=True, disable=None)
        try:
            times, logits = stream_logits(model, path, prep, chunk=options.chunk, window=options.window,
                                          precision=options.precision, on_frames=bar.update if bar else None)
        finally:
            if bar is not None:
                bar.close()
    seconds = time.perf_counter() - started
    if not np.isfinite(np.asarray(logits)).all():
        hint = f" at precision {options.precision}; try --precision 32" if options.precision != "32" else ""
        raise InputError(f"{path}: the model {meta.get('_path')} gives NaN or inf scores on this video{hint}")
    scores = to_probabilities(logits, meta.get("mode", "multilabel"))
    # The segments' end is clipped to the video's length: the decoder's duration when it is
    # plausible (headers can be off), else the last sample plus one step.
    step = 1.0 / fps
    duration = video_duration if video_duration > times[-1] else float(times[-1]) + step
    header = {"video": str(path), "video_id": name, "checkpoint": meta.get("_path"), "fps": fps,
              "duration": round(duration, 4), "precision": options.precision}
    files = write_scores(out, name, times, scores, class_names, header)
    segments = scores_to_segments(scores, times, options.threshold, options.min_frames, options.merge_gap,
                                  duration)
    rule = {"threshold": options.threshold, "min_frames": options.min_frames, "merge_gap": options.merge_gap}
    files.append(write_segments(out, name, segments, class_names, {**header, "rule": rule}))
    if options.timeline:
        from .viz import plot_timeline

        rows = {}
        if annotation is not None:
            rows["ground truth"] = dense_targets(annotation, times, len(class_names))
        rows["prediction"] = scores
        title = f"{name}: per-frame scores at {fps:g} FPS"
        files.append(atomic_write(out / f"{name}.timeline.png",
                                  lambda tmp: plot_timeline(tmp, times, class_names, rows, title=title,
                                                            threshold=options.threshold)))
    mean = scores.mean(axis=0)
    top = [(class_names[c], float(mean[c])) for c in np.argsort(-mean)[:3]]
    result = VideoResult(str(path), name, frames=len(times), duration=duration, seconds=seconds,
                         segments=len(segments), top=top, files=[str(f) for f in files])
    return result, times, scores


def _score_features(model: nn.Module, path: Path, meta: dict, options: PredictOptions
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """A feature model on one ``<id>.npy`` file (:mod:`tan_video.data.features`): times, logits (in
    exact chunks, like a video's) and the rate ``fps``, feature ``i`` standing for ``i / fps``:
    ``--fps``, else the file's folder's ``manifest.json``, else the rate the model was trained on."""
    import torch

    from .data.features import finite_features, read_features, read_manifest

    if path.suffix != ".npy":
        raise InputError("this model reads per-frame features: give .npy feature files (tan-video extract)", path=path)
    arr = read_features(path, model.in_dim)
    fps = options.fps or (read_manifest(path.parent) or {}).get("fps") or meta.get("feature_fps")
    if not fps:
        raise InputError("the features' rate is unknown (no manifest.json beside the file, none in the checkpoint): "
                         "give --fps (features per second)", path=path)
    feats = torch.from_numpy(finite_features(np.array(arr, dtype=np.float32), path))
    logits = predict_logits(model, feats, chunk=options.chunk, precision=options.precision)
    return np.arange(len(arr), dtype=np.float64) / float(fps), logits.numpy(), float(fps)


def predict_videos(videos: Sequence[str | os.PathLike], checkpoint: str | os.PathLike, out: str | os.PathLike,
                   options: PredictOptions | None = None) -> PredictReport:
    """Predict every video; a bad video is reported and skipped, the others still run.

    Raises InputError (before any video is touched) for a bad checkpoint, annotation or
    proposals file: those concern every video. Per-video failures are in the report.
    """
    options = options or PredictOptions()
    device = resolve_device(options.device)
    options = replace(options, precision=resolve_precision(options.precision, device))
    for name, value, least in (("chunk", options.chunk, 1), ("window", options.window, 1),
                               ("min-frames", options.min_frames, 1), ("merge-gap", options.merge_gap, 0)):
        if value is not None and value < least:
            raise InputError(f"--{name} must be >= {least}, got {value}")
    if not 0.0 <= options.threshold <= 1.0:  # (NaN fails too)
        raise InputError(f"--threshold is a score in [0, 1], got {options.threshold}")
    if options.native_fps is not None and not 0 < options.native_fps < math.inf:
        raise InputError(f"--native-fps must be positive, got {options.native_fps}")
    videos = expand_videos(videos)
    model, meta = build_model_from_checkpoint(checkpoint)
    meta["_path"] = str(checkpoint)
    check_normalisation(meta, checkpoint)
    prep = Preprocess.from_meta(meta, options.fps, options.native_fps)
    if takes_features(model):
        pass  # the features' rate: per file (_score_features)
    elif options.fps is not None and meta.get("fps") and abs(float(meta["fps"]) - prep.fps) > 1e-9:
        log.warning("predicting at %g FPS, the model was trained at %g FPS: its temporal filters see a "
                    "different time scale", prep.fps, float(meta["fps"]))
    if model.temporal_radius is None:
        log.warning("%s has no bounded temporal receptive field: each video is decoded whole (memory grows "
                    "with its length)", meta["build_args"]["name"])
    prepare_for_inference(model, device=device)
    truth = _ground_truth(options, meta["class_names"])
    proposals = read_proposals(options.proposals) if options.proposals else None

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [Path(v) for v in videos]
    results: list[VideoResult] = []
    dense: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path, name in zip(paths, _output_names(paths)):
        if name is None:
            results.append(VideoResult(str(path), path.stem, error=f"{path}: same file name as an earlier video; "
                                       "its outputs would overwrite that one's (rename it)"))
            log.error("tan-video: error: %s", results[-1].error)
            continue
        annotation = truth.get(name)
        if truth and annotation is None:
            log.info("%s: no ground truth for video id %r in %s", path, name, options.annotations)
        try:
            result, times, scores = predict_one(model, meta, path, name, out, prep, options, annotation)
        except InputError as e:
            results.append(VideoResult(str(path), name, error=str(e)))
            log.error("tan-video: error: %s", e)
            continue
        results.append(result)
        if proposals is not None:
            dense[name] = (times, scores)

    report = PredictReport(results)
    if proposals is not None:
        kept = [p for p in proposals if p[0] in dense]
        skipped = {p[0] for p in proposals if p[0] not in dense}
        if skipped:
            log.warning("%d proposal video ids have no prediction here (e.g. %r): not scored", len(skipped),
                        sorted(skipped)[0])
        detections = score_proposals(kept, dense, top_k=options.top_k)
        path = atomic_write(out / "detections.json",
                            lambda tmp: write_detections(tmp, detections, meta["class_names"]))
        report.files.append(str(path))
    fps = (options.fps or meta.get("feature_fps")) if takes_features(model) else prep.fps
    summary = {"checkpoint": str(checkpoint), "model": meta["build_args"]["name"], "fps": fps,
               "short_side": prep.short_side, "size": prep.size, "options": _jsonable(options),
               "videos": [_jsonable(v) for v in results]}
    report.files.append(str(atomic_write(out / "summary.json",
                                         lambda tmp: tmp.write_text(json.dumps(summary, indent=1) + "\n"))))
    return report


def expand_videos(videos: Sequence[str | os.PathLike]) -> list[Path]:
    """The videos the command line names: a folder of video (or ``.npy``) files stands for the
    files in it, sorted, and a folder of frame folders (Charades' ``Charades_v1_rgb/<id>/``) for
    those; a folder of frame images is one video; a pattern that names no file (``'clips/*.mp4'``,
    quoted, or on a shell that does not expand it) stands for its matches."""
    out: list[Path] = []
    for v in videos:
        path = Path(v)
        if not path.exists() and glob.has_magic(str(v)):
            matches = sorted(glob.glob(str(v)))
            if matches:
                out.extend(Path(m) for m in matches)
                continue
        if path.is_dir():
            entries = sorted(path.iterdir())
            files = [p for p in entries if p.is_file()]
            if not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in files):
                inside = [p for p in files if p.suffix.lower() in (*VIDEO_EXTENSIONS, ".npy")]
                if not inside:  # a folder of frame folders
                    inside = [d for d in entries if d.is_dir() and not d.name.startswith(".")
                              and any(f.suffix.lower() in IMAGE_EXTENSIONS for f in d.iterdir())]
                if inside:
                    log.info("%s: %d files to predict", path, len(inside))
                    out.extend(inside)
                    continue
        out.append(path)
    return out


def _jsonable(obj) -> dict:
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def summary_table(report: PredictReport) -> str:
    """The terminal summary: one line per video (frames, length, speed, segments, top classes)."""
    rows = [("video", "frames", "length", "time", "x realtime", "segments", "top classes (mean score)")]
    for v in report.videos:
        if not v.ok:
            rows.append((v.name, "-", "-", "-", "-", "-", "FAILED (see the error above)"))
            continue
        speed = v.duration / v.seconds if v.seconds > 0 else float("inf")
        top = ", ".join(f"{n} {s:.2f}" for n, s in v.top)
        rows.append((v.name, str(v.frames), _clock(v.duration), f"{v.seconds:.1f}s", f"{speed:.1f}",
                     str(v.segments), top))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[-1]
             for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    ok = len(report.videos) - len(report.failed)
    lines.append(f"{ok} of {len(report.videos)} videos predicted" +
                 (f"; {len(report.failed)} failed" if report.failed else ""))
    return "\n".join(lines) + "\n"


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


__all__ = ["Preprocess", "PredictOptions", "PredictReport", "VideoResult", "stream_logits", "to_probabilities",
           "predict_one", "predict_videos", "summary_table", "write_scores", "write_segments", "bound_heap_growth",
           "default_precision", "check_normalisation", "DEFAULT_WINDOW", "BF16_TOLERANCE"]
