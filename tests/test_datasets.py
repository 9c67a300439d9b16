"""Datasets and transforms on fixtures written here: shapes, times, dense targets, sampling, errors."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tan_video.data.annotations import VideoAnnotation, dense_targets
from tan_video.data.datasets import (ClipDataset, ClipSampler, DecodedCache, LabelListDataset, VideoDataset,
                                     VideoResolver)
from tan_video.data.synthetic import write_video
from tan_video.data.transforms import (IMAGENET_MEAN, IMAGENET_STD, center_crop, hflip, normalize,
                                       random_resized_crop, resize_short_side, to_clip)
from tan_video.errors import InputError

FPS = 8.0
STEP = 4
K = 3


def indexed_frames(n: int, h: int = 32, w: int = 48) -> np.ndarray:
    """Frame i is grey level i * STEP, with a bright bar on the left so flips are visible."""
    frames = np.repeat((np.arange(n) * STEP).astype(np.uint8)[:, None, None, None], h, 1)
    frames = np.repeat(np.repeat(frames, w, 2), 3, 3)
    frames[:, :, :4] = 250
    return np.ascontiguousarray(frames)


def frame_index(clip: torch.Tensor) -> np.ndarray:
    """Source frame index of each frame of a (3, T, H, W) clip (its central pixels)."""
    h, w = clip.shape[-2:]
    centre = clip[:, :, h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2].float().mean(dim=(0, 2, 3))
    return torch.round(centre / STEP).int().numpy()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    vdir = root / "videos"
    vdir.mkdir()
    write_video(vdir / "long.mp4", indexed_frames(40), FPS)       # 5 s
    write_video(vdir / "short.mp4", indexed_frames(5), FPS)       # 0.625 s: shorter than a clip
    write_video(vdir / "other.mkv", indexed_frames(24), FPS)      # another container
    # a Charades-style frame folder at 24 FPS, 2 s
    from PIL import Image

    (vdir / "folder").mkdir()
    for i in range(48):
        Image.fromarray(indexed_frames(48)[i]).save(vdir / "folder" / f"folder-{i + 1:06d}.jpg", quality=95)
    anns = [
        VideoAnnotation("long", 5.0, [(0, 0.0, 1.0), (1, 0.5, 4.0), (2, 2.0, 2.0)], "training"),
        VideoAnnotation("short", 0.625, [(1, 0.25, 0.5)], "training"),
        VideoAnnotation("other", 3.0, [(2, 1.0, 3.0)], "training"),
        VideoAnnotation("folder", 2.0, [(0, 0.5, 1.5)], "training"),
    ]
    return root, vdir, anns


# -- transforms -----------------------------------------------------------------------------------


def test_random_resized_crop_is_the_same_for_every_frame():
    base = torch.rand(3, 1, 40, 56) * 100
    clip = base + torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1) * 10  # frame t = base + 10 t
    torch.manual_seed(0)
    for _ in range(5):
        out = random_resized_crop(clip, 24)
        assert out.shape == (3, 6, 24, 24)
        # bilinear resampling is linear: the same crop of every frame differs by exactly 10 t
        diffs = out - out[:, :1]
        torch.testing.assert_close(diffs, torch.arange(6.0).view(1, 6, 1, 1).expand_as(diffs) * 10,
                                   rtol=0, atol=1e-3)


def test_spatial_transforms_shapes_and_values():
    frames = indexed_frames(4, 30, 50)
    clip = to_clip(frames)
    assert clip.shape == (3, 4, 30, 50) and clip.dtype == torch.uint8
    assert resize_short_side(clip, 15).shape == (3, 4, 15, 25)
    assert center_crop(clip, 20).shape == (3, 4, 20, 20)
    assert center_crop(clip, 40).shape == (3, 4, 40, 40)  # scaled up to fit, never smaller
    flipped = hflip(clip)
    assert flipped[0, 0, 0, -1] == 250 and flipped[0, 0, 0, 0] != 250
    assert torch.equal(hflip(flipped), clip)


def test_normalize():
    clip = torch.full((2, 3, 4, 5, 5), 255, dtype=torch.uint8)
    out = normalize(clip)
    assert out.dtype == torch.float32 and out.shape == clip.shape
    for c in range(3):
        assert out[:, c].flatten()[0].item() == pytest.approx((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], rel=1e-6)
    single = normalize(clip[0])
    torch.testing.assert_close(single, out[0])
    with pytest.raises(ValueError):
        normalize(clip[0, 0])


# -- clip sampling --------------------------------------------------------------------------------


def test_clip_sampler():
    assert ClipSampler(8, "center")(20) == 6
    assert ClipSampler(8, "start")(20) == 0
    assert ClipSampler(8)(5) == 0  # too short: from the start, padded later
    torch.manual_seed(0)
    starts = {ClipSampler(8)(20) for _ in range(300)}
    assert starts == set(range(13))  # every position that fits, and nothing else
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert [ClipSampler(8)(100, g1) for _ in range(5)] == [ClipSampler(8)(100, g2) for _ in range(5)]
    with pytest.raises(ValueError):
        ClipSampler(0)


# -- ClipDataset ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", [False, True])
def test_clip_dataset_train_items(data, cache):
    root, vdir, anns = data
    ds = ClipDataset(anns, vdir, K, fps=FPS, clip_frames=8, size=24, train=True, resize=32, cache=cache)
    assert len(ds) == 4
    torch.manual_seed(0)
    for _ in range(3):
        for i, ann in enumerate(anns):
            item = ds[i]
            clip, times = item["clip"], item["times"].numpy()
            assert clip.shape == (3, 8, 24, 24) and clip.dtype == torch.uint8
            assert item["targets"].shape == (8, K) and item["targets"].dtype == torch.float32
            assert item["times"].dtype == torch.float64 and item["video_id"] == ann.video_id
            np.testing.assert_array_equal(item["targets"].numpy(), dense_targets(ann, times, K))
            if ann.video_id != "short":
                np.testing.assert_allclose(np.diff(times), 1 / FPS)  # consecutive grid samples


def test_clip_dataset_frames_match_their_times(data):
    root, vdir, anns = data
    ds = ClipDataset(anns[:1], vdir, K, fps=4.0, clip_frames=6, size=24, train=False, resize=32)
    item = ds[0]
    # eval: the centre clip of the 20 samples at 4 FPS (5 s), samples 7..12
    np.testing.assert_array_equal(item["times"].numpy(), np.arange(7, 13) / 4.0)
    np.testing.assert_array_equal(frame_index(item["clip"]), np.arange(7, 13) * 2)  # 8 FPS source
    assert torch.equal(ds[0]["clip"], item["clip"])  # deterministic


def test_clip_dataset_seeded_like_a_dataloader(data):
    root, vdir, anns = data
    ds = ClipDataset(anns, vdir, K, fps=FPS, clip_frames=8, size=24, resize=32)
    torch.manual_seed(7)
    a = [ds[0]["clip"] for _ in range(3)]
    torch.manual_seed(7)
    b = [ds[0]["clip"] for _ in range(3)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], a[1])  # different positions / crops from one draw to the next
    batch = next(iter(DataLoader(ds, batch_size=2, num_workers=0)))
    assert batch["clip"].shape == (2, 3, 8, 24, 24) and batch["targets"].shape == (2, 8, K)
    assert batch["video_id"] == ["long", "short"]


def test_short_video_is_padded_and_counted(data):
    root, vdir, anns = data
    ds = ClipDataset(anns, vdir, K, fps=FPS, clip_frames=8, size=24, train=False, resize=32)
    item = ds[1]  # "short": 5 frames
    times = item["times"].numpy()
    np.testing.assert_array_equal(times, [0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(frame_index(item["clip"]), [0, 1, 2, 3, 4, 4, 4, 4])
    np.testing.assert_array_equal(item["targets"].numpy(), dense_targets(anns[1], times, K))
    assert ds.stats["padded_clips"] == 1 and ds.stats["padded_frames"] == 3


def test_frame_folder_and_other_extension(data):
    root, vdir, anns = data
    ds = ClipDataset(anns, vdir, K, fps=4.0, clip_frames=4, size=24, train=False, resize=30)
    folder = ds[3]  # 2 s at 24 FPS -> 8 samples at 4 FPS, centre clip 2..5
    np.testing.assert_array_equal(folder["times"].numpy(), np.arange(2, 6) / 4.0)
    np.testing.assert_array_equal(frame_index(folder["clip"]), np.arange(2, 6) * 6)
    other = ds[2]  # other.mkv, 3 s -> 12 samples, centre 4..7
    np.testing.assert_array_equal(other["times"].numpy(), np.arange(4, 8) / 4.0)


def test_resolver(data, tmp_path):
    root, vdir, anns = data
    r = VideoResolver(vdir)
    assert r("long") == vdir / "long.mp4" and r("other") == vdir / "other.mkv" and r("folder") == vdir / "folder"
    assert r("long.mp4") == vdir / "long.mp4"
    with pytest.raises(InputError, match="video nothing: no file"):
        r("nothing")
    assert VideoResolver(lambda vid: vdir / f"{vid}.mp4")("short") == vdir / "short.mp4"
    with pytest.raises(InputError, match="video folder does not exist"):
        VideoResolver(tmp_path / "absent")("x")
    with pytest.raises(InputError):
        VideoResolver(None)
    ds = ClipDataset([VideoAnnotation("ghost", 1.0, [])], vdir, K, fps=FPS, size=24)
    with pytest.raises(InputError, match="ghost"):
        ds[0]


def test_decoded_cache_is_bounded():
    cache = DecodedCache(max_bytes=2500)
    item = lambda: (np.zeros(1000, np.uint8), np.zeros(0))  # noqa: E731
    for key in "abc":
        cache.get(key, item)
    assert cache.bytes <= 2500 and list(cache._items) == ["b", "c"]
    cache.get("b", item)
    assert cache.hits == 1 and cache.misses == 3


# -- VideoDataset ---------------------------------------------------------------------------------


def test_video_dataset_whole_videos(data):
    root, vdir, anns = data
    ds = VideoDataset(anns, vdir, K, fps=4.0, size=24, resize=32)
    item = ds[0]
    assert item["frames"].shape == (3, 20, 24, 24) and item["frames"].dtype == torch.uint8
    np.testing.assert_array_equal(item["times"].numpy(), np.arange(20) / 4.0)
    np.testing.assert_array_equal(item["targets"].numpy(), dense_targets(anns[0], item["times"].numpy(), K))
    assert item["duration"] == 5.0 and item["annotation"] is anns[0] and item["video_id"] == "long"
    folder = ds[3]
    assert folder["frames"].shape[1] == 8
    uncropped = VideoDataset(anns, vdir, K, fps=4.0, size=None, resize=16)[0]["frames"]
    assert uncropped.shape == (3, 20, 16, 24)


def test_video_dataset_charades_points_and_custom_times(data):
    root, vdir, anns = data
    item = VideoDataset(anns, vdir, K, fps=4.0, size=24, resize=32, times="charades")[0]
    expected = np.arange(25) / 25 * 5.0
    np.testing.assert_array_equal(item["times"].numpy(), expected)
    np.testing.assert_array_equal(frame_index(item["frames"]), np.floor(expected * FPS + 1e-9).astype(int))
    np.testing.assert_array_equal(item["targets"].numpy(), dense_targets(anns[0], expected, K))
    custom = VideoDataset(anns, vdir, K, size=24, resize=32, times=lambda a: [0.0, a.duration / 2])[0]
    np.testing.assert_array_equal(custom["times"].numpy(), [0.0, 2.5])
    with pytest.raises(ValueError):
        VideoDataset(anns, vdir, K, times="nonsense")


# -- LabelListDataset -----------------------------------------------------------------------------


def test_label_list_formats(data, tmp_path):
    root, vdir, _ = data
    spaced = tmp_path / "train list.txt"
    spaced.write_text(f"{vdir}/long.mp4 2\n\n{vdir}/other.mkv 0\n")
    ds = LabelListDataset(spaced, fps=FPS, clip_frames=4, size=24, resize=32)
    assert len(ds) == 2 and ds.class_names == ["0", "1", "2"]
    item = ds[0]
    assert item["label"] == 2 and item["clip"].shape == (3, 4, 24, 24)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["label"].dtype == torch.int64 and batch["label"].tolist() == [2, 0]

    csv_list = vdir / "list.csv"
    csv_list.write_text("path,label\nlong.mp4,jumping\nother.mkv,abseiling\nfolder,jumping\n")
    ds = LabelListDataset(csv_list, fps=4.0, clip_frames=4, size=24, resize=32, train=False)
    assert ds.class_names == ["abseiling", "jumping"] and [ds[i]["label"] for i in range(3)] == [1, 0, 1]
    assert LabelListDataset.class_names_of(csv_list) == ["abseiling", "jumping"]
    ordered = LabelListDataset(csv_list, classes=["jumping", "abseiling"])
    assert [label for _, label in ordered.items] == [0, 1, 0]


@pytest.mark.parametrize("text,line,message", [
    ("a.mp4 1\nonlyone\n", 2, "expected 'path label'"),
    ("a.mp4 1\nb.mp4 dancing\n", 2, "mixes integer labels and class names"),
    ("a.mp4 -1\n", 1, "negative"),
])
def test_label_list_errors(tmp_path, text, line, message):
    path = tmp_path / "list.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=rf"list.txt:{line}: .*{message}"):
        LabelListDataset(path)


def test_label_list_csv_errors(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("a.mp4,x\nb.mp4,y,z\n")
    with pytest.raises(InputError, match="list.csv:2: expected 'path,label'"):
        LabelListDataset(path)
    with pytest.raises(InputError, match="no such label list"):
        LabelListDataset(tmp_path / "absent.txt")
    path.write_text("a.mp4,x\n")
    with pytest.raises(InputError, match="list.csv:1: label 'x' is not among"):
        LabelListDataset(path, classes=["y"])


def test_an_id_with_two_video_files_is_warned_about(tmp_path, caplog):
    # found by a new-user review: dup.mp4 beside dup.mkv silently took the .mp4
    from tan_video.data import VideoAnnotation
    from tan_video.data.split import check_videos

    for name in ("dup.mp4", "dup.mkv", "one.mp4"):
        (tmp_path / name).write_bytes(b"")
    anns = [VideoAnnotation("dup", 1.0, [], "training"), VideoAnnotation("one", 1.0, [], "training")]
    with caplog.at_level("WARNING", logger="tan_video.data.split"):
        paths = check_videos(anns, tmp_path, readable=False)
    assert paths == [tmp_path / "dup.mp4", tmp_path / "one.mp4"]
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"1 videos have more than one file (first: {tmp_path / 'dup.mp4'} is used, dup.mkv not)"]
