"""Video decoding: exact sample times, the right frame for each time, sizes, rotation, VFR, errors.

Fixtures are written here with PyAV (H.264) and Pillow (JPEG folders). Each frame's index is
encoded in its grey level (``index * STEP``), which survives compression to within a few
levels, so the test can tell which source frame a sample shows.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tan_video.data.video import read_frames, read_frames_dir, read_video, sample_times, video_info
from tan_video.errors import InputError

STEP = 4


def write_indexed(path: Path, n: int, fps: float, w: int = 48, h: int = 32, *, gop: int | None = None,
                  rotation: int | None = None, marker: bool = False) -> Path:
    """An H.264 file whose frame i is grey level i * STEP (mod 256); optional red top-left marker."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "10", "threads": "1", **({"g": str(gop)} if gop else {})}
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(n):
            a = np.full((h, w, 3), (i * STEP) % 256, np.uint8)
            if marker:
                a[:8, :8] = (255, 0, 0)
            f = av.VideoFrame.from_ndarray(a, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    return path


def frame_index(frames: np.ndarray) -> np.ndarray:
    """Recover the encoded source frame index of each decoded frame (centre pixels)."""
    h, w = frames.shape[1:3]
    centre = frames[:, h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2].astype(float).mean(axis=(1, 2, 3))
    return np.rint(centre / STEP).astype(int)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    out = {f"{fps}fps": write_indexed(d / f"v{fps}.mp4", 2 * fps, fps) for fps in (24, 25, 30)}
    out["long"] = write_indexed(d / "long.mp4", 60, 10, gop=10)  # 6 s, a keyframe every second
    out["rotated"] = write_indexed(d / "rot.mp4", 8, 8, rotation=90, marker=True)
    return out


# -- sample times ---------------------------------------------------------------------------------


def test_sample_times_grid():
    np.testing.assert_array_equal(sample_times(2.0, 4.0), np.arange(8) / 4.0)
    np.testing.assert_array_equal(sample_times(2.0, 4.0, start=0.5, end=1.5), [0.5, 0.75, 1.0, 1.25])
    np.testing.assert_array_equal(sample_times(2.0, 4.0, start=0.6), np.arange(3, 8) / 4.0)
    assert len(sample_times(2.0, 4.0, max_frames=3)) == 3
    assert len(sample_times(2.01, 4.0)) == 9  # 2.0 < 2.01
    assert len(sample_times(0.0, 4.0)) == 0
    with pytest.raises(ValueError):
        sample_times(1.0, 0.0)


# -- which frame, at which time -------------------------------------------------------------------


@pytest.mark.parametrize("native,fps", [(24, 4), (25, 10), (30, 4), (30, 10), (24, 24), (25, 3)])
def test_frame_for_each_sample_time(videos, native, fps):
    frames, times = read_video(videos[f"{native}fps"], fps=fps)
    duration = 2.0  # 2 * native frames at native fps
    expected_times = np.arange(math.ceil(duration * fps)) / fps
    np.testing.assert_array_equal(times, expected_times)
    assert frames.shape == (len(expected_times), 32, 48, 3) and frames.dtype == np.uint8
    # the frame displayed at t: the latest frame with i / native <= t
    expected_index = np.floor(expected_times * native + 1e-9).astype(int)
    np.testing.assert_array_equal(frame_index(frames), expected_index)


def test_native_rate_returns_every_frame(videos):
    frames, times = read_video(videos["25fps"], fps=25)
    assert len(frames) == 50
    np.testing.assert_array_equal(frame_index(frames), np.arange(50))


def test_short_side_keeps_aspect(videos):
    frames, _ = read_video(videos["24fps"], fps=4, short_side=16)
    assert frames.shape[1:] == (16, 24, 3)
    np.testing.assert_array_equal(frame_index(frames), np.arange(8) * 6)


def test_time_range_and_max_frames_match_full_decode(videos):
    full, full_t = read_video(videos["long"], fps=4)
    assert len(full) == 24
    for start, end in [(0.0, 1.0), (1.25, 2.5), (3.5, None), (4.9, 5.6)]:
        for seek in (True, False):
            part, part_t = read_video(videos["long"], fps=4, start=start, end=end, seek=seek)
            keep = (full_t >= start) & (full_t < (end if end is not None else np.inf))
            np.testing.assert_array_equal(part_t, full_t[keep])
            np.testing.assert_array_equal(part, full[keep])
    clip, clip_t = read_video(videos["long"], fps=4, start=2.0, max_frames=5)
    np.testing.assert_array_equal(clip_t, [2.0, 2.25, 2.5, 2.75, 3.0])
    np.testing.assert_array_equal(frame_index(clip), [20, 22, 25, 27, 30])


def test_explicit_times(videos):
    frames, times = read_video(videos["long"], times=[0.0, 0.05, 0.1, 2.99, 5.95, 7.0])
    np.testing.assert_array_equal(times, [0.0, 0.05, 0.1, 2.99, 5.95, 7.0])
    # past the end (6 s): the last frame
    np.testing.assert_array_equal(frame_index(frames), [0, 0, 1, 29, 59, 59])
    with pytest.raises(ValueError):
        read_video(videos["long"], times=[1.0, 0.5])


def test_empty_range_gives_empty_arrays(videos):
    frames, times = read_video(videos["long"], fps=4, start=10.0)
    assert frames.shape == (0, 32, 48, 3) and times.shape == (0,)


def test_threads_option_same_result(videos):
    a, _ = read_video(videos["30fps"], fps=10)
    b, _ = read_video(videos["30fps"], fps=10, threads=True)
    np.testing.assert_array_equal(a, b)


def test_rotation_is_applied(videos):
    info = video_info(videos["rotated"])
    assert info.rotation == 90 and (info.width, info.height) == (32, 48)
    frames, _ = read_video(videos["rotated"], fps=8)
    assert frames.shape[1:3] == (48, 32)
    # 90 degrees counter-clockwise: the top-left marker ends up bottom-left
    assert frames[0, -4, 2, 0] > 200 and frames[0, -4, 2, 1] < 60
    assert frames[0, 2, 2, 0] < 60


def test_variable_frame_rate_uses_timestamps(tmp_path):
    pts_ms = [0, 40, 50, 120, 200, 210, 300, 420, 430, 440, 600]
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        s.options = {"crf": "10", "threads": "1", "bf": "0"}
        for i, p in enumerate(pts_ms):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * STEP, np.uint8), format="rgb24")
            f.pts, f.time_base = p, Fraction(1, 1000)
            c.mux(s.encode(f))
        c.mux(s.encode())
    frames, times = read_video(path, fps=10)
    # the last frame (600 ms) is displayed for one nominal frame (40 ms): 7 samples up to 0.6 s
    np.testing.assert_array_equal(times, np.arange(7) / 10)
    np.testing.assert_array_equal(frame_index(frames), [0, 2, 4, 6, 6, 9, 10])


def test_video_info(videos):
    info = video_info(videos["30fps"])
    assert info.duration == pytest.approx(2.0) and info.fps == pytest.approx(30.0)
    assert (info.width, info.height, info.num_frames, info.rotation) == (48, 32, 60, 0)


# -- errors ---------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.mp4: no such video file"):
        read_video(tmp_path / "nope.mp4")


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty.mp4: empty file"):
        read_video(tmp_path / "empty.mp4")


def test_garbage_file(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputError, match="junk.mp4"):
        read_video(tmp_path / "junk.mp4")


def test_truncated_file(videos, tmp_path):
    data = Path(videos["long"]).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) is at the end
    with pytest.raises(InputError, match="cut.mp4"):
        read_video(tmp_path / "cut.mp4")


def test_truncated_faststart_file(tmp_path):
    # Index at the front (as web videos are): the container opens, the data stops half-way.
    path = tmp_path / "fs.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        s.options = {"g": "10", "threads": "1"}
        for i in range(60):
            noise = np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)
            f = av.VideoFrame.from_ndarray(noise, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    data = path.read_bytes()
    (tmp_path / "fs_cut.mp4").write_bytes(data[: len(data) // 2])
    assert video_info(tmp_path / "fs_cut.mp4").duration == pytest.approx(6.0)  # the header still says 6 s
    with pytest.raises(InputError, match=r"fs_cut.mp4: corrupt video data after \d"):
        read_video(tmp_path / "fs_cut.mp4", fps=10)


def test_truncated_matroska_file_is_an_error_not_a_shorter_video(tmp_path):
    # Matroska states the duration in its header and FFmpeg reads a cut file to its end without
    # complaint: the frames simply stop (found by a new-user review: 19 frames of a 10 s video).
    path = write_indexed(tmp_path / "long.mkv", 100, fps=10.0)
    frames, times = read_video(path, fps=4)  # whole: no complaint
    assert len(times) == 40
    data = path.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 3])
    assert video_info(tmp_path / "cut.mkv").duration == pytest.approx(10.0)
    with pytest.raises(InputError, match=r"cut.mkv: truncated: its frames end at \d+\.\d+ s of the 10.000 s"):
        read_video(tmp_path / "cut.mkv", fps=4)
    # a clip that ends before the cut decodes, as the file holds it
    frames, times = read_video(tmp_path / "cut.mkv", fps=4, end=1.0)
    assert len(times) == 4


def test_a_whole_matroska_file_starting_late_is_not_truncated(tmp_path):
    # Matroska declares the time of its end: 9 s for 4 s of frames from 5 s (a recording or a
    # remux that kept its timestamps). Found by a new-user review: it was called truncated.
    path = tmp_path / "late.mkv"
    with av.open(str(path), "w", format="matroska") as c:
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(32):
            noise = np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8)
            f = av.VideoFrame.from_ndarray(noise, format="rgb24")
            f.pts, f.time_base = 5000 + 125 * i, Fraction(1, 1000)
            c.mux(s.encode(f))
        c.mux(s.encode())
    frames, times = read_video(path, fps=8)
    assert len(times) == 32 and times[0] == 0.0  # time 0 is the video stream's start
    assert video_info(path).duration == pytest.approx(4.0)  # not the 9 s the header states
    data = path.read_bytes()
    (tmp_path / "late_cut.mkv").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="late_cut.mkv: truncated"):
        read_video(tmp_path / "late_cut.mkv", fps=8)


def test_a_video_starting_after_its_audio_is_warned_about_once(tmp_path, caplog):
    path = tmp_path / "late_video.mp4"
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=8)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        for i in range(16):  # video from 1 s
            f = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            f.pts, f.time_base = 1000 + 125 * i, Fraction(1, 1000)
            c.mux(v.encode(f))
        c.mux(v.encode())
        for k in range(0, 3 * 16000, 1024):  # audio from 0 s
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, k
            c.mux(a.encode(fr))
        c.mux(a.encode())
    with caplog.at_level("WARNING", logger="tan_video.data.video"):
        frames, times = read_video(path, fps=4)
        read_video(path, fps=4)
    assert times[0] == 0.0 and len(times) == 8  # time 0 is the first frame
    late = [r.getMessage() for r in caplog.records if "after the file's first stream" in r.getMessage()]
    assert len(late) == 1 and "late_video.mp4: the video starts 1.0" in late[0]


@pytest.mark.parametrize("late", [1.0, 6.0])
def test_a_whole_matroska_file_with_audio_longer_than_its_video_is_not_truncated(tmp_path, late):
    # found by a review: with the video 6 s after the audio, FFmpeg fills the video's duration
    # in from the audio's end, and the file was called truncated
    path = tmp_path / "av.mkv"
    with av.open(str(path), "w", format="matroska") as c:
        v = c.add_stream("libx264", rate=8)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=16000)
        for i in range(80):  # 10 s of video from `late`
            f = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            f.pts, f.time_base = int(late * 1000) + 125 * i, Fraction(1, 1000)
            c.mux(v.encode(f))
        c.mux(v.encode())
        for k in range(0, 20 * 16000, 1024):  # 20 s of audio from 0
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, k
            c.mux(a.encode(fr))
        c.mux(a.encode())
    frames, times = read_video(path, fps=4)
    assert len(times) >= 40


def test_corrupt_stream_data(videos, tmp_path):
    # Keep the container intact but overwrite the coded frames with noise.
    data = bytearray(Path(videos["long"]).read_bytes())
    mdat = data.find(b"mdat")
    noise = np.random.default_rng(1).bytes(len(data) // 3)
    data[mdat + 8:mdat + 8 + len(noise)] = noise
    (tmp_path / "noisy.mp4").write_bytes(bytes(data))
    # FFmpeg conceals some corruption; what must never happen is a crash other than InputError.
    try:
        frames, times = read_video(tmp_path / "noisy.mp4", fps=4)
    except InputError as e:
        assert "noisy.mp4" in str(e)
    else:
        assert frames.dtype == np.uint8 and len(frames) == len(times)


def test_audio_only_file(tmp_path):
    path = tmp_path / "audio.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        t = np.linspace(0, 1, 16000, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(np.sin(2 * np.pi * 440 * t)[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        c.mux(s.encode(frame))
        c.mux(s.encode())
    with pytest.raises(InputError, match="audio.m4a: no video stream"):
        read_video(path)
    with pytest.raises(InputError, match="no video stream"):
        video_info(path)


def test_directory_given_to_read_video(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        read_video(tmp_path)


# -- frame folders --------------------------------------------------------------------------------


def write_frames_dir(folder: Path, n: int, first_number: int = 1, skip: tuple[int, ...] = (),
                     w: int = 40, h: int = 30) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        if i in skip:
            continue
        a = np.full((h, w, 3), (i * STEP) % 256, np.uint8)
        Image.fromarray(a).save(folder / f"{folder.name}-{i + first_number:06d}.jpg", quality=95)
    return folder


@pytest.mark.parametrize("fps", [4, 10])
def test_frames_dir_sampling(tmp_path, fps):
    folder = write_frames_dir(tmp_path / "VID01", 48)  # 2 s at 24 FPS, Charades naming
    frames, times = read_frames_dir(folder, fps=fps, native_fps=24)
    np.testing.assert_array_equal(times, np.arange(2 * fps) / fps)
    np.testing.assert_array_equal(frame_index(frames), np.floor(times * 24 + 1e-9).astype(int))
    assert frames.shape[1:] == (30, 40, 3)


def test_frames_dir_resize_zero_based_and_gaps(tmp_path):
    folder = write_frames_dir(tmp_path / "zero", 24, first_number=0, skip=(6, 7))
    frames, times = read_frames_dir(folder, fps=4, native_fps=24, short_side=15)
    assert frames.shape == (4, 15, 20, 3)
    # 0-based numbering: frame 0 at time 0; missing frame 6 shows the latest before it (5)
    np.testing.assert_array_equal(frame_index(frames), [0, 5, 12, 18])
    # read_frames dispatches on the path type
    a, _ = read_frames(folder, fps=4, native_fps=24, short_side=15, seek=True)
    np.testing.assert_array_equal(a, frames)


def test_frames_dir_errors(tmp_path):
    with pytest.raises(InputError, match="no such frame folder"):
        read_frames_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frame images"):
        read_frames_dir(tmp_path / "empty")
    folder = write_frames_dir(tmp_path / "bad", 4)
    (folder / "bad-000003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="bad-000003.jpg"):
        read_frames_dir(folder, fps=24, native_fps=24)
