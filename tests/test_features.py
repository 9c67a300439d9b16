"""Features once, temporal models on them: feature files, their time mapping, the feature models,
and extract -> train -> evaluate -> predict on a tiny generated dataset (CPU, no network)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import tan_video as tv
from tan_video.cli import main
from tan_video.data import synthetic
from tan_video.data.annotations import VideoAnnotation
from tan_video.data.datasets import EpochOrder
from tan_video.data.features import (FeatureClipDataset, FeatureFolder, FeatureVideoDataset, feature_times,
                                     read_features)
from tan_video.errors import InputError
from tan_video.extract import feature_context, load_extractor
from tan_video.models import TemporalAggregation
from test_models import randomize_temporal


# -- feature files ------------------------------------------------------------------------------
def test_both_published_shapes_read_as_n_by_d(tmp_path):
    a = np.random.default_rng(0).random((7, 5), dtype=np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", a.reshape(7, 1, 1, 5))
    np.save(tmp_path / "c.npy", a.astype(np.float16))
    np.testing.assert_array_equal(read_features(tmp_path / "a.npy"), a)
    np.testing.assert_array_equal(read_features(tmp_path / "b.npy"), a)
    assert read_features(tmp_path / "c.npy").dtype == np.float16  # as stored; datasets give float32
    assert isinstance(read_features(tmp_path / "a.npy"), np.memmap)  # memory-mapped, not read


@pytest.mark.parametrize("shape,message", [((7,), "shape"), ((7, 2, 5), "shape"), ((7, 1, 2, 5), "shape"),
                                           ((0, 5), "empty"), ((7, 6), "dimension 6, expected 5")])
def test_a_mis_shaped_feature_file_is_a_one_line_error_naming_it(tmp_path, shape, message):
    path = tmp_path / "v1.npy"
    np.save(path, np.zeros(shape, np.float32))
    with pytest.raises(InputError, match=message) as e:
        read_features(path, dim=5)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_a_file_that_is_not_an_array_or_is_missing_is_a_one_line_error(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="junk.npy: not a readable .npy array"):
        read_features(tmp_path / "junk.npy")
    with pytest.raises(InputError, match="gone.npy: no feature file"):
        read_features(tmp_path / "gone.npy")


def test_feature_i_stands_for_i_duration_over_n_or_i_over_fps():
    np.testing.assert_allclose(feature_times(4, 10.0), [0.0, 2.5, 5.0, 7.5])
    np.testing.assert_allclose(feature_times(3, 10.0, fps=2.0), [0.0, 0.5, 1.0])


def _folder(tmp_path: Path, videos: dict[str, int], dim: int = 6, manifest: dict | None = None) -> Path:
    rng = np.random.default_rng(0)
    for vid, n in videos.items():
        np.save(tmp_path / f"{vid}.npy", rng.random((n, dim), dtype=np.float32))
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_nan_or_inf_in_a_feature_file_names_the_file_and_row(tmp_path):
    # found by a new-user review: a NaN in a file was reported as a diverged training ("try a lower
    # train.lr") or as the checkpoint's NaN scores
    anns = [VideoAnnotation("v", 5.0, [(1, 1.0, 2.0)], "training")]
    _folder(tmp_path, {"v": 10})
    arr = np.load(tmp_path / "v.npy")
    arr[3, 2], arr[7, 0] = np.nan, np.inf
    np.save(tmp_path / "v.npy", arr)
    with pytest.raises(InputError, match=r"v.npy: 2 NaN or inf value\(s\) in the features, first in row 3"):
        FeatureVideoDataset(anns, tmp_path, num_classes=3)[0]
    ds = FeatureClipDataset(anns, tmp_path, num_classes=3, clip_frames=10)
    with pytest.raises(InputError, match="v.npy: .* first in row 3"):
        ds[(0, 1)]
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match=r"obj.npy: not a readable .npy array \([^()]*objects[^()]*\)$"):  # one line
        read_features(tmp_path / "obj.npy")


def test_targets_follow_the_time_of_each_feature(tmp_path):
    ann = VideoAnnotation("v", 5.0, [(1, 1.0, 2.0)], "testing")
    _folder(tmp_path, {"v": 10})
    item = FeatureVideoDataset([ann], tmp_path, num_classes=3)[0]  # times 0, 0.5, ..., 4.5
    assert item["frames"].shape == (10, 6) and item["frames"].dtype == torch.float32
    assert torch.nonzero(item["targets"][:, 1]).flatten().tolist() == [2, 3, 4]
    assert item["targets"][:, [0, 2]].sum() == 0
    (tmp_path / "manifest.json").write_text(json.dumps({"fps": 4.0}))  # tan-video extract's rate: i / 4
    item = FeatureVideoDataset([ann], tmp_path, num_classes=3)[0]
    assert torch.nonzero(item["targets"][:, 1]).flatten().tolist() == [4, 5, 6, 7, 8]
    item = FeatureVideoDataset([ann], FeatureFolder(tmp_path, fps=1.0), num_classes=3)[0]  # data.feature_fps
    assert torch.nonzero(item["targets"][:, 1]).flatten().tolist() == [1, 2]


def test_training_clips_come_from_the_items_seed_and_short_videos_are_padded(tmp_path):
    anns = [VideoAnnotation("long", 30.0, [(0, 3.0, 9.0)], "training"), VideoAnnotation("short", 5.0, [], "training")]
    _folder(tmp_path, {"long": 30, "short": 5})
    ds = FeatureClipDataset(anns, tmp_path, num_classes=2, clip_frames=8)
    first = [ds[i] for i in EpochOrder(len(ds), seed=3)]
    again = [ds[i] for i in EpochOrder(len(ds), seed=3)]
    for a, b in zip(first, again):
        assert a["video_id"] == b["video_id"] and torch.equal(a["clip"], b["clip"])
    long = next(x for x in first if x["video_id"] == "long")
    source = np.load(tmp_path / "long.npy")
    start = int(round(float(long["times"][0])))  # 1 feature per second here
    np.testing.assert_array_equal(long["clip"].numpy(), source[start:start + 8])
    assert torch.equal(long["targets"][:, 0], ((long["times"] >= 3) & (long["times"] <= 9)).float())
    short = next(x for x in first if x["video_id"] == "short")
    assert short["clip"].shape == (8, 6) and torch.equal(short["clip"][5:], short["clip"][4:5].expand(3, 6))
    assert ds.stats["padded_clips"] >= 1


def test_a_missing_feature_file_fails_before_training_in_one_line(tmp_path):
    _folder(tmp_path, {"a": 4})
    anns = [VideoAnnotation("a", 2.0, [], "training"), VideoAnnotation("b", 2.0, [], "training")]
    with pytest.raises(InputError, match=r"1 of 2 annotated videos have no feature file \(first: b.npy\)"):
        FeatureFolder(tmp_path).check(anns)
    assert FeatureFolder(tmp_path).check(anns[:1]) == 6  # the dimension
    # every file is checked before training, not only the first: a bad one is named
    _folder(tmp_path, {"b": 4})
    np.save(tmp_path / "c.npy", np.zeros((4, 5), np.float32))
    anns.append(VideoAnnotation("c", 2.0, [], "training"))
    assert FeatureFolder(tmp_path).check(anns[:2]) == 6
    with pytest.raises(InputError, match=r"c\.npy.*features of dimension 5, expected 6"):
        FeatureFolder(tmp_path).check(anns)


# -- the feature models -------------------------------------------------------------------------
def test_ta_head_is_taus_temporal_part():
    model = tv.create_model("ta_head", num_classes=5, in_dim=12, width=8)
    assert len(model.ta) == 4
    assert all(isinstance(m, TemporalAggregation) and m.dilations == (1, 2, 3) and m.kernel_size == 3
               for m in model.ta)
    assert model(torch.randn(2, 9, 12)).shape == (2, 9, 5)  # no temporal stride
    assert model.build_args == {"name": "ta_head", "num_classes": 5, "in_dim": 12, "width": 8}
    with pytest.raises(ValueError, match=r"expected features \(B, T, 12\)"):
        model(torch.randn(2, 3, 9, 12, 12))


@pytest.mark.parametrize("name,kwargs,radius", [("ta_head", {}, 12), ("ta_head", {"dilations": (1,)}, 4),
                                                ("ta_head", {"depth": 2}, 6), ("ta_head", {"depth": 0}, 0),
                                                ("linear_head", {}, 0)])
def test_perturbing_one_feature_changes_outputs_only_within_the_receptive_field(name, kwargs, radius):
    torch.manual_seed(0)
    extra = {"width": 8} if name == "ta_head" else {}
    model = tv.create_model(name, num_classes=4, in_dim=6, **extra, **kwargs).eval()
    randomize_temporal(model, std=0.1)  # as after training
    assert model.temporal_radius == radius
    t, frame = 40, 20
    x = torch.rand(1, t, 6)
    y = x.clone()
    y[:, frame] += torch.randn(6)
    with torch.no_grad():
        diff = (model(x) - model(y)).abs().amax(dim=(0, 2))
    changed = torch.nonzero(diff > 1e-6 * diff.max()).flatten().tolist()
    assert changed == list(range(frame - radius, frame + radius + 1))


@pytest.mark.parametrize("ta_init", ["open", "identity", "zero"])
def test_fused_ta_head_equals_unfused(ta_init):
    torch.manual_seed(0)
    model = tv.create_model("ta_head", num_classes=4, in_dim=6, width=8, ta_init=ta_init).eval()
    randomize_temporal(model, std=0.1)  # as after training
    x = torch.rand(2, 30, 6)
    with torch.no_grad():
        ref = model(x)
        tv.inference.prepare_for_inference(model)  # fused (and packed where oneDNN packs)
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)
        # exact chunks: a long sequence in pieces of 7 with the receptive field as context
        torch.testing.assert_close(tv.inference.predict_logits(model, x[0], chunk=7), ref[0], rtol=1e-5, atol=1e-5)


def test_the_lstm_head_sees_the_whole_sequence():
    model = tv.create_model("lstm_head", num_classes=3, in_dim=6, hidden=5).eval()
    assert model.temporal_radius is None
    x = torch.rand(1, 10, 6)
    y = x.clone()
    y[:, 9] = torch.rand(6)  # (not a constant shift: the LayerNorm removes that)
    with torch.no_grad():
        assert (model(x)[0, 0] != model(y)[0, 0]).any()  # the first frame sees the last


def test_a_model_without_per_frame_features_cannot_extract():
    for name in ("tiny_3d", "ta_head"):
        net, _, _ = load_extractor(model=name, size=32)
        with pytest.raises(InputError, match="extract"):
            feature_context(net)
    assert feature_context(load_extractor(model="tan_tiny", size=32)[0]) == 12
    assert feature_context(load_extractor(model="tiny_2d_lstm", size=32)[0]) == 0


# -- extract -> train -> evaluate -> predict ----------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("feat_syn")
    synthetic.generate(root, num_train=8, num_test=4, frames=24, size=32, fps=8.0, seed=2)
    return root


def write_config(path: Path, data: Path, out: Path) -> Path:
    cfg = {"model": {"name": "tan_tiny"},
           "data": {"annotations": str(data / "annotations.json"), "format": "dense_json",
                    "classes": str(data / "classes.txt"), "videos": str(data / "videos"), "fps": 8,
                    "clip_frames": 8, "size": 32, "resize": 32, "num_workers": 0},
           "train": {"epochs": 2, "lr": 1e-3, "batch_size": 4, "out": str(out), "progress": False, "val_every": 0}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def _extract(args: list[str]) -> int:
    return main(["extract", "--model", "tan_tiny", "--size", "32", "--fps", "8", "--precision", "32",
                 "--no-progress", *args])


def test_extract_then_train_evaluate_and_predict_on_the_features(data, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run")
    feats = tmp_path / "feats"
    assert _extract(["--config", str(cfg), "--out", str(feats)]) == 0
    manifest = json.loads((feats / "manifest.json").read_text())
    assert manifest["model"] == "tan_tiny" and manifest["dim"] == 128 and manifest["fps"] == 8.0
    assert manifest["size"] == 32 and manifest["dtype"] == "float32" and manifest["context"] == 12
    files = sorted(feats.glob("*.npy"))
    assert len(files) == 12 and all(np.load(f).shape == (24, 128) for f in files)  # 3 s at 8 FPS
    # the same features whatever the chunking (exact chunks, as predict)
    assert _extract(["--config", str(cfg), "--out", str(tmp_path / "f2"), "--chunk", "5", "--window", "10"]) == 0
    for f in files:
        np.testing.assert_allclose(np.load(tmp_path / "f2" / f.name), np.load(f), rtol=1e-4, atol=1e-4)
    capsys.readouterr()

    over = ["model.name=ta_head", "model.args.width=16", f"data.features={feats}"]
    assert main(["train", "--config", str(cfg), *over]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["global_step"] == 2 * 2 and 0 <= summary["frame_map"] <= 1
    model, meta = tv.load_model(tmp_path / "run" / "model.pt")
    assert meta["input"] == "features" and meta["feature_dim"] == 128 and meta["feature_fps"] == 8.0
    assert model.build_args["in_dim"] == 128  # taken from the folder

    out = tmp_path / "eval"
    assert main(["evaluate", "--config", str(cfg), "--checkpoint", str(tmp_path / "run" / "model.pt"), "--out", str(out),
                 "--no-progress", "--precision", "32", f"data.features={feats}", "data.protocol=charades"]) == 0
    ev = json.loads((out / "metrics.json").read_text())
    assert ev["frame_map"] == pytest.approx(summary["frame_map"], abs=0.02) and ev["num_frames"] == 4 * 24
    assert (out / "localize_submission.txt").is_file() and (out / "classify_submission.txt").is_file()

    pred = tmp_path / "pred"
    test_file = feats / "syn_test_00000.npy"
    assert main(["predict", str(test_file), "--checkpoint", str(tmp_path / "run" / "model.pt"), "--out", str(pred),
                 "--no-progress", "--no-timeline"]) == 0
    scores = json.loads((pred / "syn_test_00000.scores.json").read_text())
    assert len(scores["times"]) == 24 and scores["fps"] == 8.0 and scores["times"][1] == 0.125


def test_a_second_extract_skips_finished_videos_and_refuses_other_settings(data, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run")
    feats = tmp_path / "feats"
    assert _extract(["--config", str(cfg), "--out", str(feats)]) == 0
    kept = feats / "syn_train_00001.npy"
    before = kept.stat().st_mtime_ns
    (feats / "syn_train_00000.npy").unlink()
    (feats / "syn_test_00000.npy").write_bytes(b"half a file")  # as a crash mid-write could not leave, but still
    capsys.readouterr()
    assert _extract(["--config", str(cfg), "--out", str(feats)]) == 0
    out = capsys.readouterr().out
    assert "extracted 2 videos" in out and "10 already there" in out
    assert kept.stat().st_mtime_ns == before
    assert read_features(feats / "syn_test_00000.npy").shape == (24, 128)
    assert main(["extract", "--model", "tan_tiny", "--size", "32", "--fps", "4", "--config", str(cfg), "--out", str(feats),
                 "--no-progress", "--precision", "32"]) == 2
    assert "other settings (fps: 8.0, now 4.0)" in capsys.readouterr().err


def test_a_damaged_video_is_one_line_and_the_others_are_extracted(data, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("syn_test_00000.mp4", "syn_test_00001.mp4"):
        shutil.copy(data / "videos" / name, videos / name)
    (videos / "broken.mp4").write_bytes(b"\x00" * 1000)
    assert _extract(["--videos", str(videos), "--out", str(tmp_path / "feats")]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1 and "broken.mp4" in errors[0]
    assert sorted(p.name for p in (tmp_path / "feats").glob("*.npy")) == ["syn_test_00000.npy", "syn_test_00001.npy"]
    assert "1 failed" in captured.out


def test_the_model_and_the_data_must_agree(data, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run")
    assert main(["train", "--config", str(cfg), "model.name=ta_head"]) == 2
    assert "reads per-frame features: set data.features" in capsys.readouterr().err
    (tmp_path / "f").mkdir()
    assert main(["train", "--config", str(cfg), f"data.features={tmp_path / 'f'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "have no feature file" in err
