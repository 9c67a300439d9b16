"""Writing the benchmark: H.264 files, the dense-JSON annotations, the class list, meta.json.

The only part of the synthetic benchmark that needs PyAV.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ...atomic import atomic_write
from ..annotations import VideoAnnotation, write_dense_json
from .classes import CLASSES
from .render import GENERATOR_VERSION, render_video

log = logging.getLogger("tan_video.data.synthetic")

DEFAULT_CRF = 17


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = DEFAULT_CRF) -> None:
    """Encode uint8 ``(F, H, W, 3)`` RGB frames as H.264 (yuv420p) at ``fps`` into an mp4.

    Frame ``i`` gets the presentation time ``i / fps``. Colour conversion and x264 run
    single-threaded and without macroblock-tree rate control, so the same frames give the
    same bytes and pixels on every run. H and W must be even (4:2:0 chroma).
    """
    f, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even frame sizes, got {w}x{h}")
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # mbtree=0: with x264's macroblock-tree rate control the same frames measured to encode
        # to different bytes (and pixels) from run to run, even single-threaded; without it
        # 12 of 12 test videos were identical over 25 runs. Files get ~1.6x larger (16 KB).
        stream.options = {"crf": str(crf), "threads": "1", "preset": "medium", "x264-params": "mbtree=0"}
        # One single-threaded colour converter for the whole video (the encoder's own would
        # build a threaded one per frame: slower, and one more thing to keep deterministic).
        reformatter = VideoReformatter()
        for i in range(f):
            rgb = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame = reformatter.reformat(rgb, format="yuv420p", threads=1)
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _video_rng(seed: int, subset: str, index: int) -> np.random.Generator:
    # One independent stream per (seed, subset, video): the result does not depend on how the
    # videos are split between processes, nor on how many videos are generated.
    return np.random.default_rng([seed, 0 if subset == "training" else 1, index])


def _video_id(subset: str, index: int) -> str:
    return f"syn_{'train' if subset == 'training' else 'test'}_{index:05d}"


def _make_videos(job: tuple[str, list[tuple[str, int]], int, int, float, int, int]) -> list[tuple[str, str, list, np.ndarray]]:
    """Render and encode a batch of videos (runs in a worker process)."""
    video_dir, items, frames, size, fps, seed, crf = job
    out = []
    for subset, index in items:
        rendered = render_video(_video_rng(seed, subset, index), frames, size, fps)
        vid = _video_id(subset, index)
        write_video(Path(video_dir) / f"{vid}.mp4", rendered.frames, fps, crf)
        out.append((vid, subset, rendered.segments, rendered.labels.sum(axis=0)))
    return out


@dataclass
class SyntheticInfo:
    """What :func:`generate` produced (paths are strings so that the record is JSON-friendly)."""

    root: str
    annotations: str
    classes: str
    videos: str
    num_train: int
    num_test: int
    frames: int
    size: int
    fps: float
    seed: int
    crf: int
    version: int
    reused: bool
    seconds: float
    label_stats: dict[str, Any]


def _settings(num_train: int, num_test: int, frames: int, size: int, fps: float, seed: int, crf: int) -> dict:
    return {"num_train": num_train, "num_test": num_test, "frames": frames, "size": size, "fps": float(fps),
            "seed": seed, "crf": crf}


_VIDEO_NAME = re.compile(r"syn_(train|test)_\d{5}\.mp4")


def generate(out_dir: str | os.PathLike, num_train: int = 384, num_test: int = 128, frames: int = 64,
             size: int = 64, fps: float = 8.0, seed: int = 0, *, crf: int = DEFAULT_CRF,
             workers: int | None = None, force: bool = False) -> SyntheticInfo:
    """Write the benchmark to ``out_dir`` (or reuse it when it is already there).

    Layout: ``videos/syn_train_00000.mp4`` ..., ``annotations.json`` (dense JSON, class ids
    0-based, subsets "training"/"testing"; read it with ``read_annotations(path, "dense_json")``),
    ``classes.txt`` (one name per line, in index order) and ``meta.json`` (settings, generator
    version, label statistics). ``meta.json`` is written last: a dataset whose meta.json has
    the same settings and version, and whose files all exist, is reused as is; anything else
    is regenerated (old generated videos are removed first).

    Args:
        num_train, num_test: videos per subset.
        frames, size, fps: F frames of size x size pixels (size even), timed at fps.
        seed: everything (labels and pixels) is a function of it.
        crf: x264 quality; 17 keeps 1-frame events and 1-pixel motion (tested).
        workers: processes for rendering + encoding; None: up to the CPU count for 32+ videos.
        force: regenerate even when the existing files match.
    """
    t_start = time.perf_counter()
    root = Path(out_dir)
    video_dir = root / "videos"
    settings = _settings(num_train, num_test, frames, size, fps, seed, crf)
    paths = {"annotations": root / "annotations.json", "classes": root / "classes.txt", "meta": root / "meta.json"}
    items = [("training", i) for i in range(num_train)] + [("testing", i) for i in range(num_test)]

    def info(reused: bool, stats: dict) -> SyntheticInfo:
        return SyntheticInfo(str(root), str(paths["annotations"]), str(paths["classes"]), str(video_dir),
                             num_train, num_test, frames, size, float(fps), seed, crf, GENERATOR_VERSION, reused,
                             round(time.perf_counter() - t_start, 3), stats)

    if not force:
        stats = _reusable_stats(paths, video_dir, settings, items)
        if stats is not None:
            log.info("reusing the synthetic benchmark in %s", root)
            return info(True, stats)

    if size % 2:
        raise ValueError(f"size must be even (H.264 4:2:0), got {size}")
    if frames < 1 or num_train < 0 or num_test < 0:
        raise ValueError("frames must be >= 1 and the video counts >= 0")
    video_dir.mkdir(parents=True, exist_ok=True)
    paths["meta"].unlink(missing_ok=True)  # an interrupted run must not look complete
    for p in video_dir.iterdir():
        if _VIDEO_NAME.fullmatch(p.name):
            p.unlink()

    results = _render_all(video_dir, items, frames, size, fps, seed, crf, workers)
    stats = _write_index(paths, results, frames, fps, settings)
    result = info(False, stats)
    log.info("wrote the synthetic benchmark (%d videos) to %s in %.1f s", len(items), root, result.seconds)
    return result


def _reusable_stats(paths: dict[str, Path], video_dir: Path, settings: dict, items: list[tuple[str, int]]) -> dict | None:
    """The label statistics of a complete dataset made with these settings and this generator
    version; None when anything differs or is missing."""
    if not paths["meta"].is_file():
        return None
    try:
        meta = json.loads(paths["meta"].read_text())
    except (OSError, ValueError):
        return None
    if (meta.get("version") == GENERATOR_VERSION and meta.get("settings") == settings
            and paths["annotations"].is_file() and paths["classes"].is_file()
            and all((video_dir / f"{_video_id(s, i)}.mp4").is_file() for s, i in items)):
        return meta.get("label_stats", {})
    return None


def _render_all(video_dir: Path, items: list[tuple[str, int]], frames: int, size: int, fps: float, seed: int,
                crf: int, workers: int | None) -> list[tuple[str, str, list, np.ndarray]]:
    """Render and encode every video, in worker processes for 32+ videos."""
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(items) >= 32 else 1
    chunk = max(1, math.ceil(len(items) / (workers * 4)))
    jobs = [(str(video_dir), items[i:i + chunk], frames, size, float(fps), seed, crf)
            for i in range(0, len(items), chunk)]
    if workers > 1 and len(jobs) > 1:
        # fork is cheap and fine here (the workers only run numpy and PyAV); elsewhere spawn
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            return [r for batch in pool.map(_make_videos, jobs) for r in batch]
    return [r for job in jobs for r in _make_videos(job)]


def _write_index(paths: dict[str, Path], results: list, frames: int, fps: float, settings: dict) -> dict:
    """Write annotations.json, classes.txt and, last and atomically, meta.json; return the label statistics."""
    duration = frames / fps
    annotations = [VideoAnnotation(vid, duration, list(segments), subset) for vid, subset, segments, _ in results]
    write_dense_json(annotations, paths["annotations"], class_base=0)
    paths["classes"].write_text("".join(c.name + "\n" for c in CLASSES))
    counts = np.stack([c for *_, c in results]) if results else np.zeros((0, len(CLASSES)))
    stats = {
        "labels_per_frame": round(float(counts.sum() / max(1, len(results) * frames)), 3),
        "videos_per_class": {c.name: int((counts[:, i] > 0).sum()) for i, c in enumerate(CLASSES)},
        "frames_per_class": {c.name: int(counts[:, i].sum()) for i, c in enumerate(CLASSES)},
        "groups": {c.name: c.group for c in CLASSES},
    }
    meta = {"generator": "tan_video.data.synthetic", "version": GENERATOR_VERSION, "settings": settings,
            "classes": [asdict(c) for c in CLASSES], "label_stats": stats}
    atomic_write(paths["meta"], lambda tmp: tmp.write_text(json.dumps(meta, indent=1) + "\n"))
    return stats
