"""Map-style datasets: training clips, whole videos for dense evaluation, single-label lists.

Every item carries uint8 frames (normalisation happens in the model's step, on the device:
:func:`tan_video.data.transforms.normalize`) and the explicit times they were sampled at;
multi-label items carry dense ``(T, K)`` targets computed at exactly those times with
:func:`tan_video.data.annotations.dense_targets` (inclusive ``start <= t <= end``).

Pieces:

- :class:`VideoResolver`: video id -> file (``<dir>/<id>.mp4`` or another extension) or frame
  folder (``<dir>/<id>/``), or any callable.
- :class:`ClipSampler`: which ``clip_frames`` consecutive samples of a video form a clip
  (random in training, centred in evaluation).
- :class:`EpochOrder`: the training order. Epoch ``e``'s permutation is a function of
  ``(seed, e)``, and every item it yields carries its own seed, a function of ``(seed, e,
  position)``, from which that item's clip position, crop and flip are drawn. Nothing depends
  on which worker decodes an item, on how many workers there are, or on what ran before, so a
  run resumed at any step sees exactly the data of an uninterrupted one. A plain integer index
  (no seed) draws from torch's global RNG instead.
- :class:`DecodedCache`: optional, bounded, per-process cache of decoded videos.
- :class:`ClipDataset`, :class:`VideoDataset`, :class:`LabelListDataset`.

Short videos: a clip needs ``clip_frames`` samples; a video with fewer is padded by repeating
its last frame *and* its last sample time (so the padded frames' targets are the last frame's
targets, consistent with what they show). Each dataset counts this in ``stats`` (per process)
and logs it once.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from .defaults import DEFAULT_FPS, NATIVE_FPS
from ..errors import InputError
from .annotations import VideoAnnotation, dense_targets, read_text_lines
from .preprocess import Preprocess, default_resize
from .transforms import CROP_SCALE, center_crop, random_hflip, random_resized_crop, to_clip
from .video import VIDEO_EXTENSIONS, sample_times, video_info

log = logging.getLogger(__name__)

VideoSource = str | os.PathLike | Callable[[str], str | os.PathLike]
"""A folder of videos / frame folders, or a callable mapping a video id to its path."""


# --------------------------------------------------------------------------------------------
# Video lookup and decoding
# --------------------------------------------------------------------------------------------


class VideoResolver:
    """Video id -> path of its file or frame folder.

    With a folder: ``<dir>/<id>`` when it is a directory (frames) or a file with an extension,
    else ``<dir>/<id><ext>`` for the first of :data:`VIDEO_EXTENSIONS` that exists, else any
    single ``<dir>/<id>.*``. The folder is listed once per process (fast for 10k videos).
    With a callable: whatever it returns.
    """

    def __init__(self, videos: VideoSource | None):
        if videos is None:
            raise InputError("no video folder given (data.videos)")
        self.videos = videos
        self._index: dict[str, list[Path]] | None = None

    def _listing(self, root: Path) -> dict[str, list[Path]]:
        if self._index is None:
            if not root.is_dir():
                raise InputError("video folder does not exist", path=root)
            index: dict[str, list[Path]] = {}
            with os.scandir(root) as it:
                for entry in it:
                    index.setdefault(entry.name, []).append(Path(entry.path))
                    stem, ext = os.path.splitext(entry.name)
                    if ext:
                        index.setdefault(stem, []).append(Path(entry.path))
            self._index = index
        return self._index

    def __call__(self, video_id: str) -> Path:
        if callable(self.videos):
            return Path(self.videos(video_id))
        root = Path(self.videos)
        direct = root / video_id
        if os.sep in video_id or "/" in video_id:  # ids with sub-folders: no listing shortcut
            candidates = [direct] + [direct.with_name(direct.name + e) for e in VIDEO_EXTENSIONS]
            for c in candidates:
                if c.exists():
                    return c
        else:
            entries = self._listing(root).get(video_id, [])
            by_name = {p.name: p for p in entries}
            if video_id in by_name:
                return by_name[video_id]  # a frame folder, or an id that includes its extension
            for ext in VIDEO_EXTENSIONS:
                if video_id + ext in by_name:
                    return by_name[video_id + ext]
            if len(entries) == 1:
                return entries[0]
            if len(entries) > 1:
                names = ", ".join(sorted(p.name for p in entries))
                raise InputError(f"video {video_id}: several candidate files ({names})", path=root)
        raise InputError(f"video {video_id}: no file {video_id}.mp4 (or other video extension) and no "
                         "frame folder", path=root)

    def others(self, video_id: str, chosen: Path) -> list[Path]:
        """Video files of the same id that :meth:`__call__` did not choose (``dup.mkv`` beside
        ``dup.mp4``): an ambiguity worth a word."""
        if callable(self.videos) or os.sep in video_id or "/" in video_id:
            return []
        entries = self._listing(Path(self.videos)).get(video_id, [])
        return [p for p in entries if p != chosen and p.suffix.lower() in VIDEO_EXTENSIONS]


def num_samples(path: Path, fps: float, native_fps: float = NATIVE_FPS) -> int:
    """How many ``j / fps`` grid times the header says the video has (one container open)."""
    info = video_info(path, native_fps=native_fps, rotation=False)
    return len(sample_times(info.duration, fps))


class DecodedCache:
    """Least-recently-used cache of decoded videos, bounded in bytes, one per process.

    For small datasets re-read every epoch (the demo: a few hundred 64-frame 64x64 videos):
    decoding then costs about as much as a tiny model's training step (docs/data.md). Each
    DataLoader worker holds its own copy, so the bound applies per process.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self._items: OrderedDict[Any, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Any, load: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = load()
        size = value[0].nbytes + value[1].nbytes
        if size <= self.max_bytes:
            while self.bytes + size > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self.bytes -= old[0].nbytes + old[1].nbytes
            self._items[key] = value
            self.bytes += size
        return value


DEFAULT_CACHE_MB = 1024


def _make_cache(cache: bool | int | None) -> DecodedCache | None:
    """``False``/None/0: none; ``True``: :data:`DEFAULT_CACHE_MB`; an int: that many MiB."""
    if not cache:
        return None
    mb = DEFAULT_CACHE_MB if cache is True else int(cache)
    return DecodedCache(mb * 2**20)


def pad_to(frames: np.ndarray, times: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat the last frame and its time until there are ``n`` (no-op when already >= n)."""
    missing = n - len(frames)
    if missing <= 0:
        return frames, times
    if len(frames) == 0:
        raise ValueError("cannot pad an empty clip")
    frames = np.concatenate([frames, np.repeat(frames[-1:], missing, axis=0)])
    times = np.concatenate([times, np.repeat(times[-1:], missing)])
    return frames, times


# --------------------------------------------------------------------------------------------
# Clip sampling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSampler:
    """Chooses the first sample index of a clip of ``clip_frames`` consecutive grid samples.

    mode: ``"random"`` (uniform over every position that fits), ``"center"`` or ``"start"``.
    A video with fewer samples than ``clip_frames`` gives 0 (the clip is then padded).
    """

    clip_frames: int
    mode: str = "random"

    def __post_init__(self) -> None:
        if self.clip_frames < 1:
            raise ValueError(f"clip_frames must be >= 1, got {self.clip_frames}")
        if self.mode not in ("random", "center", "start"):
            raise ValueError(f"mode must be random, center or start, got {self.mode!r}")

    def __call__(self, num_samples: int, generator: torch.Generator | None = None) -> int:
        room = num_samples - self.clip_frames
        if room <= 0 or self.mode == "start":
            return 0
        if self.mode == "center":
            return room // 2
        return int(torch.randint(0, room + 1, (1,), generator=generator))


def item_generator(index: int | tuple[int, int]) -> tuple[int, torch.Generator | None]:
    """``(index, seed)`` from :class:`EpochOrder` -> the index and a generator seeded for this
    item alone; a plain index -> ``(index, None)`` (torch's global RNG)."""
    if isinstance(index, (tuple, list)):
        i, seed = index
        return int(i), torch.Generator().manual_seed(int(seed))
    return int(index), None


class EpochOrder(DistributedSampler):
    """The training order: a pure function of ``(seed, epoch)``, sharded over ranks, resumable.

    Epoch ``e`` visits a permutation drawn from ``seed + e`` (torch's
    :class:`~torch.utils.data.DistributedSampler` rule: padded with repeats to a multiple of
    ``num_replicas``, rank ``r`` taking every ``num_replicas``-th item from ``r``) and yields
    ``(index, item_seed)`` pairs; the dataset draws that item's randomness from ``item_seed``
    (:func:`item_generator`), a function of ``(seed, e, position)``. ``skip`` drops the first
    items of the next epoch this rank would yield (a resume inside an epoch), once.

    It is a ``DistributedSampler`` so that Lightning keeps it as it is under DDP rather than
    wrapping it; ``num_replicas``/``rank`` are given, so no process group is needed.
    """

    def __init__(self, size: int, seed: int, num_replicas: int = 1, rank: int = 0, epoch: int = 0, skip: int = 0):
        super().__init__(range(size), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.set_epoch(epoch)
        self.skip = int(skip)

    def __iter__(self):
        order = list(super().__iter__())
        skip, self.skip = self.skip, 0
        for position in range(skip, len(order)):
            yield order[position], self.item_seed(position)

    def item_seed(self, position: int) -> int:
        """The seed of the item at ``position`` of this rank's order in the current epoch."""
        return int(np.random.SeedSequence([self.seed, self.epoch, self.rank, position]).generate_state(1)[0])


class _Padding:
    """Per-process counts of the short-video fallback, logged once per dataset."""

    def __init__(self, name: str):
        self.name = name
        self.stats = {"clips": 0, "padded_clips": 0, "padded_frames": 0}
        self._warned = False

    def count(self, video: str, have: int, want: int) -> None:
        self.stats["clips"] += 1
        if have < want:
            self.stats["padded_clips"] += 1
            self.stats["padded_frames"] += want - have
            if not self._warned:
                self._warned = True
                log.warning("%s: video %s has %d samples, fewer than a clip (%d): padding by repeating "
                            "its last frame (counted in dataset.stats; further cases not logged)",
                            self.name, video, have, want)


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


class _VideoBase(Dataset):
    def __init__(self, videos: VideoSource | None, fps: float, size: int | None, resize: int | None,
                 native_fps: float, cache: bool | int | None):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.resolve = VideoResolver(videos)
        self.fps = float(fps)
        self.size = size
        self.resize = resize if resize is not None else (default_resize(size) if size else None)
        self.native_fps = native_fps
        self.prep = Preprocess(self.fps, self.resize, size, native_fps)  # decoding; VideoDataset's crop
        self.cache = _make_cache(cache)

    def _whole(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        load = lambda: self.prep.decode(path)  # noqa: E731
        return self.cache.get((str(path), self.fps, self.resize), load) if self.cache else load()

    def _augment(self, clip: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training: one random resized crop and flip for the whole clip; else the centre crop.
        ``crop_scale=(1, 1)`` turns the random crop off (the centre crop, as in testing)."""
        if not self.train or self.crop_scale[0] >= 1:
            clip = center_crop(clip, self.size)
            return random_hflip(clip, generator=generator) if self.train and self.flip else clip
        clip = random_resized_crop(clip, self.size, self.crop_scale, self.crop_ratio, generator)
        return random_hflip(clip, generator=generator) if self.flip else clip

    def _clip(self, path: Path, sampler: ClipSampler, padding: _Padding,
              generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``clip_frames`` consecutive grid samples chosen by ``sampler`` (padded if short)."""
        n = sampler.clip_frames
        if self.cache is not None:
            frames, times = self._whole(path)
            s = sampler(len(frames), generator)
            frames, times = frames[s:s + n], times[s:s + n]
        else:
            total = num_samples(path, self.fps, self.native_fps)
            s = sampler(total, generator)
            frames, times = self.prep.decode(path, start=s / self.fps, max_frames=n)
            if len(frames) < n and s > 0:
                # The header promised more than the stream holds: take the clip from what
                # really decodes (rare: muxers that round durations up).
                frames, times = self.prep.decode(path)
                s = sampler(len(frames), generator)
                frames, times = frames[s:s + n], times[s:s + n]
        if len(frames) == 0:
            raise InputError("no frames at the requested sample times", path=path)
        padding.count(path.name, len(frames), n)
        return pad_to(frames, times, n)


class ClipDataset(_VideoBase):
    """Training clips with dense targets (paper section 4.3: 16-frame clips at a fixed FPS).

    Args:
        annotations: the videos (their ids name the files) and their segments.
        videos: a folder of ``<id>.<ext>`` files / ``<id>/`` frame folders, or a callable.
        num_classes: K.
        fps: sampling rate; ``clip_frames`` consecutive samples ``t_j = j / fps`` form a clip.
        size: output side (square crop).
        train: random clip position, random resized crop (``crop_scale``, ``crop_ratio``) and
            horizontal flip; else the centre clip and the centre crop (deterministic).
        resize: short side the frames are decoded at before cropping; None: ``size * 8 / 7``.
        native_fps: frame rate of frame folders (Charades: 24).
        cache: keep decoded videos in memory (True: 1 GiB per process, or an int in MiB).

    Item: ``clip`` uint8 ``(3, T, size, size)``, ``targets`` float32 ``(T, K)``, ``times``
    float64 ``(T,)`` seconds, ``video_id`` str.
    """

    def __init__(self, annotations: Sequence[VideoAnnotation], videos: VideoSource | None, num_classes: int,
                 fps: float = DEFAULT_FPS, clip_frames: int = 16, size: int = 224, train: bool = True,
                 resize: int | None = None, *, native_fps: float = NATIVE_FPS, cache: bool | int | None = False,
                 crop_scale: tuple[float, float] = CROP_SCALE, crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 flip: bool = True, sampler: ClipSampler | None = None):
        super().__init__(videos, fps, size, resize, native_fps, cache)
        self.annotations = list(annotations)
        self.num_classes = num_classes
        self.clip_frames = clip_frames
        self.train = train
        self.crop_scale, self.crop_ratio, self.flip = crop_scale, crop_ratio, flip
        self.sampler = sampler or ClipSampler(clip_frames, "random" if train else "center")
        self._padding = _Padding(type(self).__name__)

    @property
    def stats(self) -> dict[str, int]:
        """Clips served and short-video padding in this process."""
        return self._padding.stats

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        index, generator = item_generator(index)
        ann = self.annotations[index]
        path = self.resolve(ann.video_id)
        frames, times = self._clip(path, self.sampler, self._padding, generator)
        clip = self._augment(to_clip(frames), generator)
        return {
            "clip": clip.contiguous(),
            "targets": torch.from_numpy(dense_targets(ann, times, self.num_classes)),
            "times": torch.from_numpy(times),
            "video_id": ann.video_id,
        }


def _charades_times(annotation: VideoAnnotation) -> np.ndarray:
    from ..metrics import charades_localize_times

    return charades_localize_times(annotation.duration)


class VideoDataset(_VideoBase):
    """Whole videos for dense evaluation.

    Args:
        annotations, videos, num_classes, fps, native_fps, cache: as :class:`ClipDataset`.
        size: centre-crop side after resizing; None: no crop (the whole resized frame).
        resize: short side before cropping; None: ``size * 8 / 7`` (or native when size is None).
        times: None: every ``j / fps`` time of the video; ``"charades"``: the Charades localize
            protocol's 25 points ``t_j = (j - 1) / 25 * duration`` of the annotation's
            duration; or a callable ``annotation -> times (T,)`` (sorted, seconds).

    Item: ``frames`` uint8 ``(3, T, H, W)``, ``targets`` float32 ``(T, K)``, ``times`` float64
    ``(T,)``, ``video_id`` str, ``duration`` float (the annotation's), ``annotation``.
    The annotation object does not go through the default collate: load with
    ``batch_size=1, collate_fn=lambda b: b[0]`` (videos differ in length anyway).
    """

    def __init__(self, annotations: Sequence[VideoAnnotation], videos: VideoSource | None, num_classes: int,
                 fps: float = DEFAULT_FPS, size: int | None = 224, resize: int | None = None, *,
                 times: str | Callable[[VideoAnnotation], np.ndarray] | None = None, native_fps: float = NATIVE_FPS,
                 cache: bool | int | None = False):
        super().__init__(videos, fps, size, resize, native_fps, cache)
        if isinstance(times, str) and times != "charades":
            raise ValueError(f"times must be None, 'charades' or a callable, got {times!r}")
        self.times = _charades_times if times == "charades" else times
        self.annotations = list(annotations)
        self.num_classes = num_classes

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, index: int) -> dict[str, Any]:
        ann = self.annotations[index]
        path = self.resolve(ann.video_id)
        if self.times is None:
            frames, times = self._whole(path)
        else:
            wanted = np.asarray(self.times(ann), dtype=np.float64)
            frames, times = self.prep.decode(path, times=wanted)
        return {
            "frames": self.prep.crop(frames),
            "targets": torch.from_numpy(dense_targets(ann, times, self.num_classes)),
            "times": torch.from_numpy(np.ascontiguousarray(times)),
            "video_id": ann.video_id,
            "duration": float(ann.duration),
            "annotation": ann,
        }


# --------------------------------------------------------------------------------------------
# Single-label lists (Kinetics-style pretraining, paper Table 5)
# --------------------------------------------------------------------------------------------

_HEADER_LABELS = {"label", "labels", "class", "class_name", "classname", "category"}


def _read_label_list(path: Path) -> list[tuple[str, str, int]]:
    """``[(video_path_text, label_text, line)]`` from ``path label`` lines or a ``path,label`` CSV."""
    lines = read_text_lines(path, "label list")
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    is_csv = path.suffix.lower() == ".csv" or ("," in first and len(first.split()) == 1)
    rows: list[tuple[str, str, int]] = []
    if is_csv:
        for lineno, fields in enumerate(csv.reader(lines), start=1):
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != 2:
                raise InputError(f"expected 'path,label', got {len(fields)} fields", path=path, line=lineno)
            video, label = fields[0].strip(), fields[1].strip()
            if not rows and label.lower() in _HEADER_LABELS:
                continue  # header row
            if not video or not label:
                raise InputError("empty path or label", path=path, line=lineno)
            rows.append((video, label, lineno))
    else:
        for lineno, line in enumerate(lines, start=1):
            s = line.strip()
            if not s:
                continue
            parts = s.rsplit(None, 1)  # the path may contain spaces; the label is the last token
            if len(parts) != 2:
                raise InputError(f"expected 'path label', got {s!r}", path=path, line=lineno)
            rows.append((parts[0], parts[1], lineno))
    if not rows:
        raise InputError("no entries", path=path)
    return rows


def _label_index(rows: list[tuple[str, str, int]], path: Path,
                 classes: Sequence[str] | None) -> tuple[list[str], list[int]]:
    """Class names and each row's label index: integer labels are indices; otherwise names."""
    numeric = [r[1].lstrip("-").isdigit() for r in rows]
    if classes is not None:
        names = list(classes)
        index = {n: i for i, n in enumerate(names)}
        out = []
        for (_, label, lineno), is_num in zip(rows, numeric):
            if label in index:
                out.append(index[label])
            elif is_num and 0 <= int(label) < len(names):
                out.append(int(label))
            else:
                raise InputError(f"label {label!r} is not among the {len(names)} classes given", path=path,
                                 line=lineno)
        return names, out
    if all(numeric):
        labels = [int(r[1]) for r in rows]
        for (_, label, lineno), v in zip(rows, labels):
            if v < 0:
                raise InputError(f"label {label} is negative", path=path, line=lineno)
        return [str(i) for i in range(max(labels) + 1)], labels
    if any(numeric):
        bad = next(r for r, n in zip(rows, numeric) if n != numeric[0])
        raise InputError(f"label {bad[1]!r} mixes integer labels and class names in one list", path=path,
                         line=bad[2])
    names = sorted({r[1] for r in rows})
    index = {n: i for i, n in enumerate(names)}
    return names, [index[r[1]] for r in rows]


class _RelativeTo:
    """Resolves list paths against a folder (a class, not a lambda: workers may pickle it)."""

    def __init__(self, base: Path):
        self.base = base

    def __call__(self, video: str) -> Path:
        p = Path(video)
        return p if p.is_absolute() else self.base / p


class LabelListDataset(_VideoBase):
    """Single-label clips from a list file (Kinetics-style pretraining, paper Table 5).

    The list: ``path label`` lines (the label is the last whitespace-separated token), or a CSV
    ``path,label`` (``.csv``, optional header). Labels are all integers (class indices) or all
    class names (indexed in sorted order, unless ``classes`` gives the order). Relative paths
    are relative to ``root`` (default: the list's folder); a path may be a video file or a frame
    folder. Malformed lines raise InputError ``file:line``.

    Item: ``clip`` uint8 ``(3, T, size, size)``, ``label`` int, ``times`` float64 ``(T,)``,
    ``video_id`` str (the path as written).
    """

    def __init__(self, label_list: str | os.PathLike, fps: float = DEFAULT_FPS, clip_frames: int = 16, size: int = 224,
                 train: bool = True, resize: int | None = None, *, root: str | os.PathLike | None = None,
                 classes: Sequence[str] | None = None, native_fps: float = NATIVE_FPS, cache: bool | int | None = False,
                 crop_scale: tuple[float, float] = CROP_SCALE, crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
                 flip: bool = True):
        self.list_path = Path(label_list)
        base = Path(root) if root is not None else self.list_path.parent
        super().__init__(_RelativeTo(base), fps, size, resize, native_fps, cache)
        rows = _read_label_list(self.list_path)
        self.class_names, labels = _label_index(rows, self.list_path, classes)
        self.items = [(video, label) for (video, _, _), label in zip(rows, labels)]
        self.clip_frames, self.train = clip_frames, train
        self.crop_scale, self.crop_ratio, self.flip = crop_scale, crop_ratio, flip
        self.sampler = ClipSampler(clip_frames, "random" if train else "center")
        self._padding = _Padding(type(self).__name__)

    @staticmethod
    def class_names_of(label_list: str | os.PathLike, classes: Sequence[str] | None = None) -> list[str]:
        """The class names a list defines (see the class docstring for the indexing rule)."""
        path = Path(label_list)
        return _label_index(_read_label_list(path), path, classes)[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def stats(self) -> dict[str, int]:
        return self._padding.stats

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        index, generator = item_generator(index)
        video, label = self.items[index]
        path = self.resolve(video)
        frames, times = self._clip(path, self.sampler, self._padding, generator)
        clip = self._augment(to_clip(frames), generator)
        return {"clip": clip.contiguous(), "label": label, "times": torch.from_numpy(times), "video_id": video}


__all__ = ["VideoSource", "VideoResolver", "ClipSampler", "DecodedCache", "ClipDataset", "VideoDataset", "EpochOrder",
           "item_generator",
           "LabelListDataset", "default_resize", "pad_to", "num_samples"]
