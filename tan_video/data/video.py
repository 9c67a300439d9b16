"""Decoding videos and frame folders at a fixed sampling rate, with explicit sample times.

Conventions (README, "Reading videos"), shared by :func:`read_video` and :func:`read_frames_dir`:

- Time 0 is the start of the video stream (``stream.start_time``; for a frame folder, the
  first frame). A frame is *displayed* from its presentation time until the next frame's.
- Sampling at ``fps`` produces the times ``t_j = j / fps`` for ``j = 0, 1, ...`` while
  ``t_j < duration`` (``duration`` = the last frame's time + its display duration), optionally
  limited to ``start <= t_j < end`` and to ``max_frames`` samples. Sampling at explicit
  ``times`` is supported too (e.g. the Charades localize protocol's 25 points).
- The frame returned for ``t_j`` is the one displayed at that instant: the latest frame whose
  presentation time is ``<= t_j`` (with 1 microsecond of tolerance for timestamp rounding).
  Times before the first frame get the first frame; explicit times after the last frame get
  the last frame. Variable frame rate needs no special case: only timestamps are used.
- Output: ``frames`` uint8 ``(T, H, W, 3)`` RGB and ``times`` float64 ``(T,)`` seconds.
  ``short_side`` resizes (aspect kept, ``round`` for the long side) inside FFmpeg's scaler.
- Rotation metadata (the container's display matrix, e.g. phone videos) is applied, so frames
  come out as a player shows them; ``VideoInfo.width/height`` are the displayed size.

Why decode everything and drop, rather than seek per sample: for sparse sampling (4 FPS from
a 24-30 FPS source) decoding each frame is cheap and converting only the kept ones to RGB is
what costs; seeking to each sample re-decodes from the previous keyframe every time, which was
measured 3-10x slower. A clip that starts late in a long video is the exception: one seek to
the keyframe before its start, then the same decode-and-drop (checked, with a fallback to
decoding from the beginning when the container seeks inaccurately).

Every failure a user can cause (missing file, not a video, no video stream, corrupt or
truncated data, no decodable frame) raises :class:`tan_video.errors.InputError` naming the file.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.video.reformatter import VideoReformatter
import numpy as np

from .defaults import DEFAULT_FPS, NATIVE_FPS
from ..errors import InputError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg",
                                     ".wmv", ".flv", ".3gp", ".ts", ".ogv")
"""Extensions tried, in this order, when a dataset resolves ``<video_dir>/<id>.<ext>``."""

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
"""Files that count as frames inside a frame folder."""

_EPS = 1e-6  # seconds; absorbs float rounding of timestamps when a sample falls on a frame time


@dataclass(frozen=True)
class VideoInfo:
    """What a container (or frame folder) says about its video, without decoding it.

    duration: seconds, from the stream header (else the container's); a frame folder:
        ``num_frames / fps``. Header durations can be slightly off; sampling uses timestamps.
    fps: the native average frame rate (0.0 when the container does not say).
    width, height: the displayed size, i.e. after rotation.
    num_frames: frame count from the header (0 when unknown); exact for a frame folder.
    rotation: counter-clockwise degrees from the display matrix (0, 90, 180, -90).
    """

    path: str
    duration: float
    fps: float
    width: int
    height: int
    num_frames: int
    rotation: int = 0


# --------------------------------------------------------------------------------------------
# Sample times
# --------------------------------------------------------------------------------------------


def sample_times(duration: float, fps: float, start: float = 0.0, end: float | None = None,
                 max_frames: int | None = None) -> np.ndarray:
    """The sampling grid ``t_j = j / fps`` with ``start <= t_j < min(end, duration)``.

    Returns float64 ``(T,)``; at most ``max_frames`` entries. ``j / fps`` is computed as one
    division so a grid time equals the same time computed anywhere else in the library.
    """
    _check_fps(fps)
    stop = duration if end is None else min(duration, end)
    j0 = max(0, math.ceil(start * fps - 1e-9))
    j1 = max(j0, math.ceil(stop * fps - 1e-9))  # first j with j / fps >= stop
    if max_frames is not None:
        j1 = min(j1, j0 + max(0, int(max_frames)))
    times = np.arange(j0, j1, dtype=np.float64) / fps
    # ceil() on floats can be off by one at exact boundaries; enforce the definition.
    return times[(times >= start - 1e-12) & (times < stop)]


def _check_fps(fps: float) -> None:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")


class _Grid:
    """Sample times produced lazily: the fps grid (whose end, the end of the video, is only
    known once decoded) or an explicit sorted array."""

    def __init__(self, fps: float | None, start: float, end: float | None, max_frames: int | None,
                 times: np.ndarray | None):
        self.fps, self.end, self.explicit = fps, end, times
        self.limit = max_frames
        if times is not None:
            self.limit = len(times) if max_frames is None else min(len(times), max_frames)
        self.count = 0
        self.j = 0
        if fps is not None:
            self.j = max(0, math.ceil(start * fps - 1e-9))
            while self.j / fps < start:  # ceil() on floats can be one short at exact boundaries
                self.j += 1

    def peek(self) -> float | None:
        """The next sample time, or None when no more samples are wanted."""
        if self.limit is not None and self.count >= self.limit:
            return None
        if self.explicit is not None:
            return float(self.explicit[self.count])
        t = self.j / self.fps
        if self.end is not None and t >= self.end:
            return None
        return t

    def advance(self) -> None:
        self.count += 1
        self.j += 1


def _explicit_times(times: Sequence[float] | np.ndarray, path: object) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{path}: sample times must be finite")
    if np.any(np.diff(t) < 0):
        raise ValueError(f"{path}: sample times must be sorted ascending")
    return t


def _target_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) with the short side ``short_side`` and the aspect ratio kept."""
    if short_side is None:
        return width, height
    if short_side <= 0:
        raise ValueError(f"short_side must be positive, got {short_side}")
    scale = short_side / min(width, height)
    if width <= height:
        return short_side, max(1, round(height * scale))
    return max(1, round(width * scale)), short_side


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation (multiple of 90) to ``(H, W, 3)``."""
    k = (round(rotation / 90) % 4) if rotation else 0
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


# --------------------------------------------------------------------------------------------
# Video files
# --------------------------------------------------------------------------------------------


LATE_VIDEO = 0.1
"""Seconds after the file's first stream from which a video stream's start is warned about."""


def open_video(path: Path, warn_late: bool = True):
    """A PyAV container of a file with a video stream, or an InputError naming the file (missing,
    a folder, empty, not a video, no video stream). Reads the header only. ``warn_late``: warn,
    once per file, when the video starts well after the file's first stream."""
    if not path.exists():
        raise InputError("no such video file", path=path)
    if path.is_dir():
        raise InputError("is a directory; use read_frames_dir for a folder of frames", path=path)
    if path.stat().st_size == 0:
        raise InputError("empty file, not a video", path=path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot open as a video ({_reason(e)})", path=path) from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise InputError(f"no video stream (streams: {', '.join(kinds)})", path=path)
    if warn_late:
        _warn_late_video(container, path)
    return container


_LATE_WARNED: set[str] = set()


def video_lateness(container) -> float:
    """Seconds from the file's first stream (usually its audio) to its video stream's start."""
    v = container.streams.video[0]
    starts = [float(s.start_time * s.time_base) for s in container.streams if s.start_time is not None and s.time_base]
    if v.start_time is None or not v.time_base or len(starts) < 2:
        return 0.0
    return float(v.start_time * v.time_base) - min(starts)


def note_late_video(container, path: Path) -> float:
    """How late the video starts (:func:`video_lateness`) when that is more than :data:`LATE_VIDEO`
    and not yet noted for ``path`` in this process, else 0: each late file is said once."""
    late = video_lateness(container)
    if late <= LATE_VIDEO or str(path) in _LATE_WARNED:
        return 0.0
    _LATE_WARNED.add(str(path))
    return late


def _warn_late_video(container, path: Path) -> None:
    """Once per file and process: the video stream starts well after the file's first stream (an
    audio track from 0 s, the first frame at 1 s). Time 0 here is the first frame; a player,
    where annotations are made, counts from the file's start, so its times are later by that much."""
    late = note_late_video(container, path)
    if late:
        log.warning("%s: the video starts %.2f s after the file's first stream (its audio?): times here count from the "
                    "first frame, a player's from the file's start, so annotations made in a player are %.2f s "
                    "later than these times", path, late, late)


def _reason(e: BaseException) -> str:
    # FFmpeg messages carry the file name already in some PyAV versions; keep one short line.
    msg = getattr(e, "strerror", None) or str(e)
    return " ".join(str(msg).split())[:200]


def video_info(path: str | os.PathLike, native_fps: float = NATIVE_FPS, rotation: bool = True) -> VideoInfo:
    """Header information of a video file, or of a frame folder (at ``native_fps``).

    Opens the container and, with ``rotation=True``, decodes one frame: FFmpeg exposes the
    display rotation per frame. ``rotation=False`` reads the header only (faster; the size is
    then the coded one and ``rotation`` 0). Raises InputError for anything that is not a
    readable video.
    """
    path = Path(path)
    if path.is_dir():
        files, first = _frame_files(path)
        width, height = _image_size(files[-1][1])
        n = files[-1][0] - first + 1
        return VideoInfo(str(path), n / native_fps, float(native_fps), width, height, n, 0)
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = _container_length(container, stream)
        else:
            duration = 0.0
        rate = stream.average_rate or stream.guessed_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        probe, rotation = rotation, 0
        try:
            for frame in container.decode(stream) if probe else ():
                rotation = int(frame.rotation or 0)
                width, height = frame.width, frame.height
                break
        except av.error.FFmpegError as e:
            raise InputError(f"cannot decode ({_reason(e)})", path=path) from None
        if rotation % 180:
            width, height = height, width
        return VideoInfo(str(path), duration, float(rate) if rate else 0.0, width, height,
                         int(stream.frames or 0), rotation)
    finally:
        container.close()


def read_video(path: str | os.PathLike, fps: float = DEFAULT_FPS, short_side: int | None = None, *,
               start: float = 0.0, end: float | None = None, max_frames: int | None = None,
               times: Sequence[float] | np.ndarray | None = None, seek: bool = True,
               threads: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Decode a video file at ``fps`` (or at explicit ``times``) into RGB frames.

    Args:
        path: a file FFmpeg can read (mp4, webm, mkv, avi, ...).
        fps: sampling rate of the ``t_j = j / fps`` grid; ignored when ``times`` is given.
        short_side: resize so the short side has this many pixels (aspect kept); None: native.
        start, end: only grid times with ``start <= t_j < end`` (a training clip); decoding
            stops as soon as the last needed frame is known.
        max_frames: at most this many samples (from ``start``).
        times: explicit sample times in seconds, sorted ascending; times past the end of the
            video get the last frame. ``start``/``end`` do not apply.
        seek: when the first sample is later than 1 s, seek to the keyframe before it instead of
            decoding from the beginning (verified; falls back to a full decode if inaccurate).
        threads: add frame threading (``thread_type="AUTO"``) to FFmpeg's default slice
            threading. Off by default: on 2 cores it measured no faster (benchmarks/), and
            datasets already decode in parallel DataLoader workers.

    Returns:
        frames: uint8 ``(T, H, W, 3)`` RGB, displayed orientation.
        times: float64 ``(T,)``, the sample time of each frame in seconds.

    Raises:
        InputError: missing/empty/unreadable file, no video stream, corrupt data, no frames.
    """
    path = Path(path)
    explicit = None if times is None else _explicit_times(times, path)
    if explicit is None:
        _check_fps(fps)
    grid = _Grid(None if explicit is not None else fps, 0.0 if explicit is not None else start,
                 None if explicit is not None else end, max_frames, explicit)
    first_needed = grid.peek()
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        origin = stream.start_time
        if first_needed is None:
            w, h = _target_size(stream.codec_context.width, stream.codec_context.height, short_side)
            return np.zeros((0, h, w, 3), np.uint8), np.zeros(0, np.float64)
        if seek and origin is not None and first_needed > 1.0 and stream.time_base is not None:
            result = _decode(container, stream, path, grid, short_side, seek_to=first_needed)
            if result is not None:
                return result
            # The container seeked past the frame we need (or cannot seek): start over.
            container.close()
            container = open_video(path)
            stream = container.streams.video[0]
            if threads:
                stream.thread_type = "AUTO"
            grid = _Grid(None if explicit is not None else fps, 0.0 if explicit is not None else start,
                         None if explicit is not None else end, max_frames, explicit)
        result = _decode(container, stream, path, grid, short_side, seek_to=None)
        assert result is not None
        return result
    finally:
        container.close()


def _frame_times(container, stream, path: Path, seek_to: float | None) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decoded frames with their presentation time in seconds from the stream's start.

    Frames without a timestamp get the previous time + one nominal frame duration; frames whose
    time does not increase (duplicates from broken muxers) are skipped, keeping the first.
    """
    tb = stream.time_base
    origin_pts = stream.start_time
    rate = stream.average_rate or stream.guessed_rate
    nominal = float(1 / rate) if rate else 1 / 25
    if seek_to is not None:
        container.seek(int(origin_pts + math.floor(seek_to / tb)), stream=stream, backward=True)
    last: float | None = None
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and tb is not None:
                if origin_pts is None:
                    origin_pts = frame.pts  # no header start time: the first frame is time 0
                t = float(Fraction(frame.pts - origin_pts) * tb)
            else:
                t = 0.0 if last is None else last + nominal
            if last is not None and t <= last:
                continue
            last = t
            yield t, frame
    except av.error.FFmpegError as e:
        where = "" if last is None else f" after {last:.3f} s"
        raise InputError(f"corrupt video data{where} ({_reason(e)})", path=path) from None


def _decode(container, stream, path: Path, grid: _Grid, short_side: int | None,
            seek_to: float | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Assign each sample time the frame displayed then; None when a seek overshot."""
    out_frames: list[np.ndarray] = []
    out_times: list[float] = []
    prev: tuple[float, av.VideoFrame] | None = None
    size: tuple[int, int] | None = None
    rotation = 0
    rate = stream.average_rate or stream.guessed_rate
    tb = stream.time_base

    # One reformatter (one swscale context) for the whole video, single-threaded: PyAV's
    # frame.to_ndarray() builds a new context with its own thread pool for every frame, which
    # measured 15x slower on the demo's 64x64 frames and 4x on 480x360 (docs/data.md).
    reformatter = VideoReformatter()

    def convert(frame: av.VideoFrame) -> np.ndarray:
        nonlocal size, rotation
        if size is None:
            rotation = int(frame.rotation or 0)
            size = _target_size(frame.width, frame.height, short_side)
        w, h = (None, None) if (frame.width, frame.height) == size else size
        # swscale's bilinear widens its filter when shrinking, so downscaling is antialiased.
        rgb = reformatter.reformat(frame, w, h, format="rgb24", interpolation="BILINEAR", threads=1).to_ndarray()
        return _rotate(rgb, rotation)

    def emit(frame: av.VideoFrame, until: float | None) -> bool:
        """Give ``frame`` to every pending sample time < ``until`` (None: all). False: done."""
        image = None
        while True:
            t = grid.peek()
            if t is None:
                return False
            if until is not None and t >= until - _EPS:
                return True
            if image is None:
                image = convert(frame)
            out_frames.append(image)
            out_times.append(t)
            grid.advance()

    done = False
    for t, frame in _frame_times(container, stream, path, seek_to):
        if prev is None:
            nxt = grid.peek()
            if seek_to is not None and nxt is not None and t > nxt + _EPS:
                return None  # landed after the first sample: the frame we need was skipped
        else:
            if not emit(prev[1], t):
                done = True
                break
        prev = (t, frame)
    if prev is None:
        raise InputError("no decodable video frames", path=path)
    if not done:
        last_t, last_frame = prev
        d = float(last_frame.duration * tb) if (last_frame.duration and tb is not None) else 0.0
        if d <= 0:
            d = float(1 / rate) if rate else 1 / 25
        _check_complete(container, stream, path, last_t + d)
        if grid.explicit is not None:
            emit(last_frame, None)  # explicit times past the end show the last frame
        else:
            emit(last_frame, last_t + d)
    if not out_frames:
        w, h = size or _target_size(prev[1].width, prev[1].height, short_side)
        return np.zeros((0, h, w, 3), np.uint8), np.zeros(0, np.float64)
    return np.stack(out_frames), np.asarray(out_times, dtype=np.float64)


def _is_matroska(container) -> bool:
    return "matroska" in (container.format.name or "")


def _container_length(container, stream) -> float:
    """The container's duration in seconds. Matroska (and WebM) state the time of their end, so
    a file whose video starts at 5 s says 5 s more than it holds (measured with PyAV's FFmpeg: an
    .mkv of 4 s from 5 s reports 9 s, the same .mp4 4 s): the video's start is taken off."""
    length = container.duration / av.time_base
    if _is_matroska(container):
        if stream.start_time is not None and stream.time_base:
            length -= float(stream.start_time * stream.time_base)
        elif container.start_time:
            length -= container.start_time / av.time_base
    return length


def _declared_matroska_length(container, stream) -> float | None:
    """A video-only Matroska/WebM file's length as its header states it, else None. The other
    containers report a cut file themselves (MP4: ``corrupt video data after ...``, or no index),
    and with a second stream FFmpeg may fill the video's duration in from the audio's."""
    if not _is_matroska(container) or len(container.streams) != 1 or container.duration is None:
        return None
    return _container_length(container, stream)


def _check_complete(container, stream, path: Path, decoded_end: float) -> None:
    """A file whose frames stop well before the length its header declares is truncated (a
    partial download or copy): an error, not a silently shorter video (FFmpeg reads a cut
    Matroska file to its end without complaint). Tolerance: 1 s or 5%. ``decoded_end`` counts
    from the video stream's start, as the declared length does."""
    declared = _declared_matroska_length(container, stream)
    if declared is not None and decoded_end < declared - max(1.0, 0.05 * declared):
        raise InputError(f"truncated: its frames end at {decoded_end:.3f} s of the {declared:.3f} s its header "
                         "declares (a partial download or copy?)", path=path)


# --------------------------------------------------------------------------------------------
# Frame folders
# --------------------------------------------------------------------------------------------

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def _frame_files(path: Path) -> tuple[list[tuple[int, Path]], int]:
    """``[(frame_number, file)]`` sorted, and the number of the frame at time 0.

    Frames are numbered by the digits at the end of the file stem (``<id>-000001.jpg``).
    Numbering may start at 1 (FFmpeg's and Charades' convention) or 0; either way the first
    number is time 0 only when it is 0 or 1, so a folder that lost its first frames keeps
    correct times. Gaps repeat the previous frame (the latest frame at or before a time).
    """
    if not path.exists():
        raise InputError("no such frame folder", path=path)
    if not path.is_dir():
        raise InputError("not a directory of frames", path=path)
    files = []
    for p in path.iterdir():
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        m = _TRAILING_NUMBER.search(p.stem)
        if m is None:
            raise InputError(f"frame file name {p.name!r} does not end in a frame number", path=path)
        files.append((int(m.group(1)), p))
    if not files:
        raise InputError(f"no frame images ({', '.join(IMAGE_EXTENSIONS)})", path=path)
    files.sort()
    numbers = [n for n, _ in files]
    dup = next((a for a, b in zip(numbers, numbers[1:]) if a == b), None)
    if dup is not None:
        raise InputError(f"two files with frame number {dup}", path=path)
    first = 0 if numbers[0] == 0 else 1
    return files, first


def _image_size(file: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(file) as im:
            return im.size
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read image ({_reason(e)})", path=file) from None


def _load_image(file: Path, size: tuple[int, int] | None, short_side: int | None) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(file) as im:
            target = size or _target_size(*im.size, short_side)
            if target != im.size:
                # JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale directly from the DCT
                # coefficients (never below the target): much faster than a full decode.
                im.draft("RGB", target)
            im = im.convert("RGB")
            if im.size != target:
                im = im.resize(target, Image.BILINEAR, reducing_gap=None)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"cannot read image ({_reason(e)})", path=file) from None


def read_frames_dir(path: str | os.PathLike, fps: float = DEFAULT_FPS, native_fps: float = NATIVE_FPS,
                    short_side: int | None = None, *, start: float = 0.0, end: float | None = None,
                    max_frames: int | None = None,
                    times: Sequence[float] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample a folder of extracted frames (Charades: ``<id>/<id>-000001.jpg`` at 24 FPS).

    Frame number ``n`` is displayed from ``(n - first) / native_fps`` (``first`` is 1, or 0
    for 0-based folders); the folder's duration is ``(n_max - first + 1) / native_fps``.
    Sampling, arguments and return value are those of :func:`read_video`; only the images that
    are sampled are decoded. Every frame is resized to the size of the first one sampled (the
    usual case, all equal, costs nothing).
    """
    path = Path(path)
    native_fps = float(native_fps)
    _check_fps(native_fps)
    files, first = _frame_files(path)
    numbers = np.asarray([n for n, _ in files], dtype=np.int64)
    duration = (numbers[-1] - first + 1) / native_fps
    if times is not None:
        t = _explicit_times(times, path)
        if max_frames is not None:
            t = t[:max_frames]
    else:
        t = sample_times(duration, fps, start, end, max_frames)
    # Latest frame whose time (n - first) / native_fps <= t, found on the frame numbers so
    # that equal times compare exactly; before the first file: the first file.
    wanted = np.floor(t * native_fps + _EPS * native_fps).astype(np.int64) + first
    idx = np.clip(np.searchsorted(numbers, wanted, side="right") - 1, 0, len(files) - 1)
    if len(t) == 0:
        w, h = _image_size(files[0][1])
        w, h = _target_size(w, h, short_side)
        return np.zeros((0, h, w, 3), np.uint8), np.zeros(0, np.float64)
    frames: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    cache: dict[int, np.ndarray] = {}
    for i in idx.tolist():
        if i not in cache:  # sampling faster than native_fps repeats frames: decode once
            image = _load_image(files[i][1], size, short_side)
            size = (image.shape[1], image.shape[0]) if size is None else size
            cache = {i: image}
        frames.append(cache[i])
    return np.stack(frames), t


def read_frames(path: str | os.PathLike, fps: float = DEFAULT_FPS, short_side: int | None = None, *,
                native_fps: float = NATIVE_FPS, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """:func:`read_frames_dir` for a directory, :func:`read_video` for a file."""
    if Path(path).is_dir():
        # seek/threads only concern video files
        kwargs = {k: v for k, v in kwargs.items() if k not in ("seek", "threads")}
        return read_frames_dir(path, fps, native_fps, short_side, **kwargs)
    return read_video(path, fps, short_side, **kwargs)


__all__ = ["VideoInfo", "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "sample_times", "video_info", "read_video", "open_video",
           "read_frames_dir", "read_frames"]
