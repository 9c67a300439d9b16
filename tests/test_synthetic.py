"""The synthetic benchmark: class design properties, determinism, H.264 survival, files and reuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tan_video.data import synthetic
from tan_video.data.annotations import VideoAnnotation, dense_targets, read_annotations, read_class_names
from tan_video.data.synthetic import CLASS_INDEX, CLASSES, GROUPS, generate, render_video, write_video
from tan_video.data.video import read_video

FPS = 8.0


def renders(n: int, seed: int = 0, **kwargs) -> list[synthetic.RenderedVideo]:
    return [render_video(np.random.default_rng([seed, i]), **kwargs) for i in range(n)]


@pytest.fixture(scope="module")
def many() -> list[synthetic.RenderedVideo]:
    return renders(120)


# -- the class list -------------------------------------------------------------------------------


def test_classes_cover_every_group():
    assert 10 <= len(CLASSES) <= 16
    assert len({c.name for c in CLASSES}) == len(CLASSES)
    for group in GROUPS:
        members = [c for c in CLASSES if c.group == group]
        assert 2 <= len(members) <= 5, group
    assert {c.group for c in CLASSES} == set(GROUPS)
    assert all(c.definition and c.temporal_scale for c in CLASSES)
    # the long classes need more context than TAN without dilation (+-4 frames) has
    assert all(c.context_frames > 4 for c in CLASSES if c.group == "long")
    assert all(c.context_frames <= 4 for c in CLASSES if c.group != "long")


# -- the pure renderer ----------------------------------------------------------------------------


def test_render_is_deterministic():
    a = render_video(np.random.default_rng(3))
    b = render_video(np.random.default_rng(3))
    c = render_video(np.random.default_rng(4))
    assert a.frames.shape == (64, 64, 64, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.labels, b.labels) and a.segments == b.segments
    assert not np.array_equal(a.frames, c.frames)


def test_segments_give_back_the_frame_labels(many):
    k = len(CLASSES)
    for r in many[:30]:
        ann = VideoAnnotation("v", 64 / FPS, r.segments)
        np.testing.assert_array_equal(dense_targets(ann, np.arange(64) / FPS, k), r.labels.astype(np.float32))


def test_label_statistics(many):
    labels = np.stack([r.labels for r in many])  # (V, F, K)
    per_frame = labels.sum(axis=2).mean()
    assert 1.2 < per_frame < 3.5, per_frame  # actions overlap
    video_freq = labels.any(axis=1).mean(axis=0)
    assert np.all(video_freq > 0.15) and np.all(video_freq < 0.7), video_freq  # classes switch per video
    lengths = [(e - s) * FPS + 0.5 for r in many for _, s, e in r.segments]
    assert min(lengths) == 1 and max(lengths) >= 56  # from one frame to (most of) the video
    for group in GROUPS:
        idx = [i for i, c in enumerate(CLASSES) if c.group == group]
        assert labels[..., idx].any(), group


def test_short_events_are_short(many):
    for r in many:
        for cls, s, e in r.segments:
            n = round((e - s) * FPS + 0.5)
            if CLASSES[cls].name == "flash":
                assert n == 1
            if CLASSES[cls].name == "blip":
                assert n <= 2 * 5  # blips are 1-2 frames, up to 5 of them; neighbours may touch


def _long_events(r: synthetic.RenderedVideo) -> dict[str, list[int]]:
    return {"periodic_beacon": r.events["beacon"]["on"],
            "periodic_swap": r.events.get("periodic_swap", {}).get("changes", [])}


def test_long_classes_need_two_events_and_more_than_4_frames(many):
    """Events of a train are PERIOD apart; every labelled frame's +-9 window holds two of them,
    while many labelled frames' +-4 windows hold one (the undilated TAN's reach); events outside
    an episode are isolated (no other within +-24)."""
    from tan_video.data.synthetic.classes import PERIOD
    seen_isolated = seen_periodic = 0
    one_in_4 = labelled = 0
    for r in many:
        for name, events in _long_events(r).items():
            ev = np.asarray(sorted(events))
            label = r.labels[:, CLASS_INDEX[name]]
            for t in np.flatnonzero(label):
                assert ((ev >= t - 9) & (ev <= t + 9)).sum() >= 2, (name, t, ev)
                one_in_4 += int(((ev >= t - 4) & (ev <= t + 4)).sum() < 2)
                labelled += 1
            if label.any():
                seen_periodic += 1
                lit = np.flatnonzero(label)
                assert lit[0] in ev and lit[-1] in ev  # the episode spans first to last event
                inside = ev[(ev >= lit[0]) & (ev <= lit[-1])]
                assert PERIOD[0] <= np.diff(inside).min() and np.diff(inside).max() <= PERIOD[1], (name, inside)
            for t in ev:
                if not label[t]:
                    seen_isolated += 1
                    assert np.all((np.abs(ev - t) >= 25) | (ev == t)), (name, t, ev)
    assert one_in_4 > 0.5 * labelled  # most labelled frames need more than +-4 frames of context
    assert seen_periodic > 20 and seen_isolated > 20  # both cases really occur


def test_forced_classes_and_no_distractors():
    r = render_video(np.random.default_rng(0), classes=["slow_sideways"], distractors=False)
    present = set(np.flatnonzero(r.labels.any(axis=0)))
    assert present == {CLASS_INDEX["slow_sideways"]}
    (mover,) = r.events["movers"]
    assert len(set(mover["ys"])) == 1 and np.all(np.abs(np.diff(mover["xs"])) > 0)


# -- the patterns survive H.264 -------------------------------------------------------------------


def _encode_decode(frames: np.ndarray, tmp_path: Path) -> np.ndarray:
    write_video(tmp_path / "v.mp4", frames, FPS)
    decoded, times = read_video(tmp_path / "v.mp4", fps=FPS)
    np.testing.assert_array_equal(times, np.arange(len(frames)) / FPS)  # every frame, in order
    return decoded.astype(np.int32)


def _box(frames: np.ndarray, box) -> np.ndarray:
    y, x, d = box
    return frames[:, y + 2:y + d - 2, x + 2:x + d - 2].mean(axis=(1, 2))  # (F, 3) inner pixels


@pytest.mark.parametrize("seed", [11, 129])
def test_short_events_survive_h264(tmp_path, seed):
    r = render_video(np.random.default_rng(seed), classes=["flash", "blip", "fast_blink"], distractors=True)
    f = _encode_decode(r.frames, tmp_path)
    # flash: exactly the flash frames rise by most of the flash brightness (70) above both
    # neighbours; a distractor fade's peak rises by at most half of it
    mean = f.mean(axis=(1, 2, 3))
    padded = np.r_[-np.inf, mean, -np.inf]
    jump = mean - np.maximum(padded[:-2], padded[2:])  # above the brighter existing neighbour
    assert r.events["flash"] and set(np.flatnonzero(jump > 50)) == set(r.events["flash"])
    # blink lamp: lit (orange: red >> blue) in exactly the frames it was lit
    lamp = _box(f, r.events["blink"]["box"])
    np.testing.assert_array_equal(np.flatnonzero(lamp[:, 0] - lamp[:, 2] > 120), r.events["blink"]["on"])
    # blip: magenta (red and blue high, green low) at its place in exactly its frames
    for t, y, x, d in r.events["blip"]:
        px = f[:, y + d // 2, x + d // 2]
        magenta = (px[:, 0] - px[:, 1] > 80) & (px[:, 2] - px[:, 1] > 80)  # also on a flash frame
        assert magenta[t], t
        others = {tt for tt, yy, xx, _ in r.events["blip"] if abs(yy - y) < d and abs(xx - x) < d}
        assert set(np.flatnonzero(magenta)) <= others | {t}


def test_long_events_survive_h264(tmp_path):
    r = render_video(np.random.default_rng(5), classes=["periodic_beacon", "periodic_swap"], distractors=False)
    f = _encode_decode(r.frames, tmp_path)
    beacon = _box(f, r.events["beacon"]["box"])
    lit = np.flatnonzero(beacon[:, 1] - beacon[:, 0] > 120)  # cyan: green >> red
    np.testing.assert_array_equal(lit, r.events["beacon"]["on"])
    assert len(lit) >= 3
    # the tile's colour (pink: red > blue, purple: blue > red) switches exactly at the changes
    y, x, d = r.events["periodic_swap"]["box"]
    t0, t1 = r.events["periodic_swap"]["visible"]
    drawn = np.arange(t0, t1)
    rim = f[drawn, y + 1, x + d // 2]
    state = rim[:, 2] > rim[:, 0]
    switches = drawn[1:][state[1:] != state[:-1]]
    np.testing.assert_array_equal(switches, r.events["periodic_swap"]["changes"])
    # each swap also fills the tile for its one frame: visible in that frame alone
    centre = f[drawn, y + d // 2, x + d // 2].astype(int)
    filled = np.abs(centre - rim.astype(int)).sum(1) < 60
    np.testing.assert_array_equal(drawn[filled], r.events["periodic_swap"]["changes"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_long_events_survive_h264_among_distractors(tmp_path, seed):
    r = render_video(np.random.default_rng(seed), classes=["periodic_beacon", "periodic_swap"], distractors=True)
    f = _encode_decode(r.frames, tmp_path)
    beacon = _box(f, r.events["beacon"]["box"])
    np.testing.assert_array_equal(np.flatnonzero(beacon[:, 1] - beacon[:, 0] > 120), r.events["beacon"]["on"])
    y, x, d = r.events["periodic_swap"]["box"]
    t0, t1 = r.events["periodic_swap"]["visible"]
    rim = f[t0:t1, y + 1, x + d // 2]
    state = rim[:, 2] - rim[:, 1] > 72  # purple's blue-green gap is 140, pink's 40: fades add to both
    switches = np.arange(t0 + 1, t1)[state[1:] != state[:-1]]
    np.testing.assert_array_equal(switches, r.events["periodic_swap"]["changes"])


@pytest.mark.parametrize("name", ["slow_sideways", "fast_sideways"])
def test_slow_motion_survives_h264(tmp_path, name):
    checked = total = 0
    for seed in range(4):
        r = render_video(np.random.default_rng(seed), classes=[name], distractors=False)
        f = _encode_decode(r.frames, tmp_path)
        lamps = [r.events[k]["box"] for k in ("beacon", "blink")]
        (mover,) = r.events["movers"]
        t0, t1 = mover["frames"]
        d = mover["d"]
        total += t1 - t0
        for t in range(t0, t1):
            y, x = round(mover["ys"][t - t0]), round(mover["xs"][t - t0])
            if any(y < ly + ld + 2 and ly < y + d + 2 and x < lx + ld + 2 and lx < x + d + 2 for ly, lx, ld in lamps):
                continue  # passing under a lamp (movers are drawn below static objects)
            # the square's centre is white, a pixel just outside it is not (both in the decode)
            assert f[t, y + d // 2, x + d // 2].min() > 200, (seed, t)
            outside = f[t, y + d // 2, x + d + 1] if x + d + 1 < 64 else f[t, y + d // 2, x - 2]
            assert outside.min() < 200, (seed, t)
            checked += 1
    assert checked >= total // 2


# -- files ----------------------------------------------------------------------------------------

SMALL = dict(num_train=6, num_test=3, frames=32, size=32, fps=FPS)


def _decoded(root: Path, vid: str) -> np.ndarray:
    return read_video(root / "videos" / f"{vid}.mp4", fps=FPS)[0]


def test_generate_files_and_reuse(tmp_path):
    info = generate(tmp_path / "a", seed=1, workers=1, **SMALL)
    root = Path(info.root)
    assert not info.reused and info.version == synthetic.GENERATOR_VERSION
    anns = read_annotations(root / "annotations.json", "dense_json", classes=root / "classes.txt")
    assert read_class_names(root / "classes.txt") == [c.name for c in CLASSES]
    assert [a.subset for a in anns].count("training") == 6 and [a.subset for a in anns].count("testing") == 3
    assert all(a.duration == 32 / FPS for a in anns)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["settings"]["seed"] == 1 and meta["version"] == synthetic.GENERATOR_VERSION
    # sampling at the benchmark's fps returns every frame
    frames = _decoded(root, anns[0].video_id)
    assert frames.shape == (32, 32, 32, 3)

    mtime = (root / "videos" / f"{anns[0].video_id}.mp4").stat().st_mtime_ns
    again = generate(tmp_path / "a", seed=1, workers=1, **SMALL)
    assert again.reused and (root / "videos" / f"{anns[0].video_id}.mp4").stat().st_mtime_ns == mtime

    changed = generate(tmp_path / "a", seed=1, workers=1, **{**SMALL, "num_train": 4})
    assert not changed.reused
    assert len(list((root / "videos").glob("*.mp4"))) == 7  # stale videos removed
    (root / "videos" / "syn_train_00000.mp4").unlink()
    assert not generate(tmp_path / "a", seed=1, workers=1, **{**SMALL, "num_train": 4}).reused


def test_generate_is_deterministic_across_processes(tmp_path):
    a = generate(tmp_path / "a", seed=0, workers=1, **SMALL)
    b = generate(tmp_path / "b", seed=0, workers=2, **SMALL)
    c = generate(tmp_path / "c", seed=1, workers=1, **SMALL)
    read = lambda info: Path(info.annotations).read_text()  # noqa: E731
    assert read(a) == read(b) and read(a) != read(c)
    for vid in ("syn_train_00000", "syn_test_00002"):
        assert np.array_equal(_decoded(Path(a.root), vid), _decoded(Path(b.root), vid))
        assert (Path(a.videos) / f"{vid}.mp4").read_bytes() == (Path(b.videos) / f"{vid}.mp4").read_bytes()
        assert not np.array_equal(_decoded(Path(a.root), vid), _decoded(Path(c.root), vid))
    assert a.label_stats == b.label_stats and a.label_stats["labels_per_frame"] > 0


def test_generate_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        generate(tmp_path, **{**SMALL, "size": 33})
