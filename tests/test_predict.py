"""Predict on real videos: streamed == one pass, preprocessing == evaluation, the CLI's files and
error handling, export and filter-response wiring. Everything on tiny generated videos (CPU)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tan_video as tv
from tan_video import predict as predict_mod
from tan_video.checkpoint import build_model_from_checkpoint, save_model_file
from tan_video.cli import main
from tan_video.data import VideoAnnotation, VideoDataset, write_dense_json
from tan_video.data.synthetic import write_video
from tan_video.detection import scores_to_segments
from tan_video.errors import InputError
from tan_video.filter_responses import select_channels
from tan_video.inference import predict_logits, prepare_for_inference
from tan_video.inference import Preprocess, stream_logits

CLASSES = ["walk", "jump, high", "wave"]  # a comma in a name: the CSV must quote it
META = {"class_names": CLASSES, "fps": 8.0, "size": 32, "resize": 36}


def moving_square(frames: int, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """uint8 ``(F, h, w, 3)``: a bright square crossing a noisy background (content changes in time)."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 60, (frames, h, w, 3), dtype=np.uint8)
    for i in range(frames):
        x = (3 * i) % (w - 12)
        video[i, 18:30, x:x + 12] = (230, 200 - 2 * (i % 50), 40)
    return video


def tiny_trained_model(num_classes: int = 3) -> torch.nn.Module:
    """tan_tiny as after training: non-zero temporal branches (the TA modules start as the
    identity, which would hide any context error), moved BN statistics, a biased head."""
    torch.manual_seed(0)
    model = tv.create_model("tan_tiny", num_classes=num_classes).eval()
    with torch.no_grad():
        for ta in model.temporal_modules():
            for conv in ta.convs:
                conv.weight.normal_(0, 0.05)
            if ta.bn is not None:  # the zero-scale BN opens during training
                ta.bn.weight.uniform_(0.5, 1.5)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        model.fc.bias.normal_(0, 1.0)
    return model


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A checkpoint, two good videos (4.5 s and 3 s at 24 FPS) and ground truth for the first."""
    root = tmp_path_factory.mktemp("predict")
    save_model_file(root / "model.pt", tiny_trained_model(), META)
    write_video(root / "clip_a.mp4", moving_square(108), 24.0)
    write_video(root / "clip_b.mp4", moving_square(72, seed=1), 24.0)
    write_dense_json([VideoAnnotation("clip_a", 4.5, [(0, 0.5, 2.0), (2, 1.0, 4.0)], "testing")],
                     root / "gt.json")
    (root / "proposals.json").write_text(json.dumps(
        {"results": {"clip_a": [{"segment": [0.5, 2.0], "score": 0.9}, {"segment": [3.0, 3.1], "score": 0.5}],
                     "elsewhere": [{"segment": [0, 1], "score": 1.0}]}}))
    return root


def loaded(work: Path):
    model, meta = build_model_from_checkpoint(work / "model.pt")
    return prepare_for_inference(model), meta


# -- streaming ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk,window", [(5, 5), (6, 16), (16, 1000)])
def test_streamed_equals_one_pass_over_the_whole_video(work, chunk, window):
    model, meta = loaded(work)
    prep = Preprocess.from_meta(meta, fps=12.0)  # 54 samples: several windows, context r = 12 on both sides
    clip, times = prep.read(work / "clip_a.mp4")
    whole = predict_logits(model, clip, chunk=10_000).numpy()  # one pass, no chunks
    got_times, got = stream_logits(model, work / "clip_a.mp4", prep, chunk=chunk, window=window)
    np.testing.assert_array_equal(got_times, times)
    np.testing.assert_allclose(got, whole, rtol=1e-4, atol=1e-4)


def test_streaming_never_decodes_more_than_a_window(work, monkeypatch):
    """Memory is bounded: every read asks for at most window + r frames, resuming exactly."""
    import tan_video.data.video as video_mod

    calls = []
    real = video_mod.read_frames

    def spy(path, fps, short_side, **kwargs):
        frames, times = real(path, fps, short_side, **kwargs)
        calls.append((kwargs.get("start", 0.0), kwargs.get("max_frames"), len(frames)))
        return frames, times

    monkeypatch.setattr(video_mod, "read_frames", spy)
    model, meta = loaded(work)
    times, _ = stream_logits(model, work / "clip_a.mp4", Preprocess.from_meta(meta), chunk=8, window=8)
    r = model.temporal_radius
    assert len(calls) >= 4 and all(asked <= 8 + r for _, asked, _ in calls)
    starts = np.cumsum([0] + [n for _, _, n in calls[:-1]])
    np.testing.assert_allclose([s for s, _, _ in calls], starts / 8.0)
    assert sum(n for _, _, n in calls) == len(times) == 36


def test_baselines_without_bounded_context_get_one_pass(work, tmp_path):
    torch.manual_seed(0)
    save_model_file(tmp_path / "lstm.pt", tv.create_model("tiny_2d_lstm", num_classes=3), META)
    model, meta = build_model_from_checkpoint(tmp_path / "lstm.pt")
    prepare_for_inference(model)
    prep = Preprocess.from_meta(meta)
    clip, _ = prep.read(work / "clip_b.mp4")
    times, got = stream_logits(model, work / "clip_b.mp4", prep, chunk=4, window=4)
    np.testing.assert_allclose(got, predict_logits(model, clip).numpy(), rtol=1e-5, atol=1e-5)


def test_preprocessing_matches_evaluation(work):
    """Same frames as the VideoDataset that `tan-video evaluate` uses, incl. the default resize."""
    for meta in (META, {**META, "resize": None}):
        prep = Preprocess.from_meta(meta)
        assert prep.short_side == (36 if meta["resize"] else round(32 * 8 / 7))
        ds = VideoDataset([VideoAnnotation("clip_a", 4.5, [], None)], work, 3, fps=8.0, size=32,
                          resize=meta["resize"])
        clip, times = prep.read(work / "clip_a.mp4")
        item = ds[0]
        assert torch.equal(clip, item["frames"])
        np.testing.assert_array_equal(times, item["times"].numpy())


# -- the command ---------------------------------------------------------------------------------


def test_predict_cli_writes_consistent_files(work, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["predict", str(work / "clip_a.mp4"), str(work / "clip_b.mp4"), "--checkpoint",
               str(work / "model.pt"), "--out", str(out), "--annotations", str(work / "gt.json"),
               "--threshold", "0.4", "--merge-gap", "1", "--proposals", str(work / "proposals.json"),
               "--no-progress", "--chunk", "8", "--window", "16"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "clip_a" in printed and "2 of 2 videos predicted" in printed

    for name, n in (("clip_a", 36), ("clip_b", 24)):
        with open(out / f"{name}.scores.csv", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["time", *CLASSES] and len(rows) == n + 1
        table = np.asarray(rows[1:], dtype=np.float64)
        data = json.loads((out / f"{name}.scores.json").read_text())
        times, scores = np.asarray(data["times"]), np.asarray(data["scores"])
        assert data["class_names"] == CLASSES and scores.shape == (n, 3) and data["fps"] == 8.0
        np.testing.assert_allclose(times, np.arange(n) / 8.0)
        np.testing.assert_allclose(table[:, 0], times, atol=1e-4)
        np.testing.assert_allclose(table[:, 1:], scores, atol=2e-6)
        assert ((scores >= 0) & (scores <= 1)).all()

        seg = json.loads((out / f"{name}.segments.json").read_text())
        assert seg["rule"] == {"threshold": 0.4, "min_frames": 1, "merge_gap": 1}
        expected = scores_to_segments(scores, times, 0.4, 1, 1, data["duration"])
        assert [(s["class_index"], s["start"], s["end"]) for s in seg["segments"]] == \
            [(c, round(s, 3), round(e, 3)) for c, s, e, _ in expected]
        for s in seg["segments"]:
            assert s["label"] == CLASSES[s["class_index"]] and 0 <= s["start"] < s["end"] <= data["duration"]
            inside = scores[(times >= s["start"]) & (times <= s["end"]), s["class_index"]]
            assert inside.max() >= 0.4 and inside.mean() == pytest.approx(s["score"], abs=1e-5)
        assert (out / f"{name}.timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    det = json.loads((out / "detections.json").read_text())["results"]
    assert set(det) == {"clip_a"} and len(det["clip_a"]) == 2 * 3  # 2 proposals x 3 classes
    assert {d["label"] for d in det["clip_a"]} == set(CLASSES)
    summary = json.loads((out / "summary.json").read_text())
    assert [v["error"] for v in summary["videos"]] == [None, None]


def test_a_bad_video_is_reported_and_the_others_still_run(work, tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    import av

    with av.open(str(tmp_path / "speech.m4a"), "w") as c:  # audio only
        s = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for p in list(s.encode(frame)) + list(s.encode(None)):
            c.mux(p)
    bad = [tmp_path / "missing.mp4", tmp_path / "empty.mp4", tmp_path / "corrupt.mp4", tmp_path / "speech.m4a"]
    out = tmp_path / "out"
    rc = main(["predict", str(work / "clip_a.mp4"), *map(str, bad), str(work / "clip_b.mp4"),
               "--checkpoint", str(work / "model.pt"), "--out", str(out), "--no-progress", "--no-timeline"])
    assert rc == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == len(bad)
    for path, line in zip(bad, errors):
        assert str(path) in line
    assert "no such video" in errors[0] and "empty" in errors[1] and "no video stream" in errors[3]
    for name in ("clip_a", "clip_b"):  # before and after the bad ones
        assert (out / f"{name}.scores.csv").is_file() and (out / f"{name}.segments.json").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert sum(v["error"] is not None for v in summary["videos"]) == len(bad)


def test_same_file_name_twice_is_a_bad_input_not_an_overwrite(work, tmp_path, capsys):
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "clip_b.mp4").write_bytes((work / "clip_b.mp4").read_bytes())
    video = str(work / "clip_b.mp4")
    rc = main(["predict", video, str(tmp_path / "again" / "clip_b.mp4"), video, "--checkpoint",
               str(work / "model.pt"), "--out", str(tmp_path / "out"), "--no-progress", "--no-timeline"])
    err = [line for line in capsys.readouterr().err.splitlines() if "same file name" in line]
    assert rc == 2 and len(err) == 2 and "again" in err[0]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [v["error"] is None for v in summary["videos"]] == [True, False, False]  # the first one ran


def test_a_folder_of_videos_or_a_quoted_pattern_stands_for_its_videos(work, tmp_path, capsys):
    # found by a new-user review: `predict videos/` said the folder had "no frame images"
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("clip_b.mp4", "clip_a.mp4"):
        (folder / name).write_bytes((work / name).read_bytes())
    (folder / "notes.txt").write_text("not a video")
    for given in (str(folder), str(folder / "clip_*.mp4")):
        out = tmp_path / f"out_{len(given)}"
        assert main(["predict", given, "--checkpoint", str(work / "model.pt"), "--out", str(out), "--no-progress",
                     "--no-timeline"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert [Path(v["path"]).name for v in summary["videos"]] == ["clip_a.mp4", "clip_b.mp4"]
        last = capsys.readouterr().out.strip().splitlines()[-1]
        assert last.startswith(f"wrote {out}/<video>.scores.csv|.scores.json|.segments.json; ")  # no timelines
    frames = tmp_path / "frames"  # a folder of images stays one video
    frames.mkdir()
    (frames / "00001.jpg").write_bytes(b"")
    from tan_video.predict import expand_videos

    assert expand_videos([frames, folder / "clip_a.mp4"]) == [frames, folder / "clip_a.mp4"]
    assert expand_videos([tmp_path]) == [frames]  # a folder of frame folders: each one a video
    assert expand_videos([str(tmp_path / "none_*.mp4")]) == [tmp_path / "none_*.mp4"]  # (then: no such video)


def test_the_frame_rate_of_a_frame_folder_can_be_given(work, tmp_path, capsys):
    # found by a new-user review: 32 frames shot at 8 FPS were read as 1.3 s at the checkpoint's 24
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(moving_square(32)):
        Image.fromarray(frame).save(folder / f"{i + 1:05d}.jpg")
    frames = {}
    for extra in ([], ["--native-fps", "8"]):
        out = tmp_path / f"out{len(extra)}"
        assert main(["predict", str(folder), "--checkpoint", str(work / "model.pt"), "--out", str(out),
                     "--no-progress", "--no-timeline", *extra]) == 0
        frames[len(extra)] = json.loads((out / "summary.json").read_text())["videos"][0]["frames"]
        assert "a folder of frames, taken as" in capsys.readouterr().err
    assert frames == {0: 11, 2: 32}  # 32 / 24 s at 8 FPS, then every frame
    assert main(["predict", str(folder), "--checkpoint", str(work / "model.pt"), "--native-fps", "0"]) == 2


def test_a_feature_file_given_to_a_video_model_says_so(work, tmp_path, capsys):
    np.save(tmp_path / "feats.npy", np.zeros((10, 8), np.float32))
    assert main(["predict", str(tmp_path / "feats.npy"), "--checkpoint", str(work / "model.pt"), "--out",
                 str(tmp_path / "out"), "--no-progress"]) == 2
    assert "feats.npy: a feature file, but this checkpoint's model reads video frames" in capsys.readouterr().err


def test_predict_options_out_of_range_are_one_line_naming_the_option(work, tmp_path, capsys):
    for option, value, message in (("--min-frames", "0", "--min-frames must be >= 1, got 0"),
                                   ("--merge-gap", "-1", "--merge-gap must be >= 0, got -1"),
                                   ("--threshold", "1.5", "--threshold is a score in [0, 1], got 1.5"),
                                   ("--threshold", "nan", "--threshold is a score in [0, 1], got nan")):
        assert main(["predict", str(work / "clip_a.mp4"), "--checkpoint", str(work / "model.pt"), "--out",
                     str(tmp_path / "out"), option, value]) == 2
        assert capsys.readouterr().err.strip() == f"tan-video: error: {message}"


def test_checkpoint_of_another_architecture_is_one_clear_error(work, tmp_path, capsys):
    save_model_file(tmp_path / "m3d.pt", tv.create_model("tiny_3d", num_classes=3), META)
    payload = torch.load(tmp_path / "m3d.pt", weights_only=True)
    payload["build_args"] = {"name": "tan_tiny", "num_classes": 3}  # claims to be a TAN
    torch.save(payload, tmp_path / "liar.pt")
    with pytest.raises(InputError, match="weights do not fit model 'tan_tiny'"):
        build_model_from_checkpoint(tmp_path / "liar.pt")
    rc = main(["predict", str(work / "clip_a.mp4"), "--checkpoint", str(tmp_path / "liar.pt"),
               "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "liar.pt" in err[0] and "do not fit" in err[0]
    assert not (tmp_path / "out").exists()


def test_bf16_and_the_default_precision_stay_within_the_documented_tolerance(work):
    model, meta = loaded(work)
    prep = Preprocess.from_meta(meta)
    probs = {}
    for precision in {"32", "bf16", predict_mod.default_precision()}:
        _, logits = stream_logits(model, work / "clip_a.mp4", prep, precision=precision)
        probs[precision] = predict_mod.to_probabilities(logits)
    for precision, p in probs.items():
        assert np.abs(p - probs["32"]).max() < predict_mod.BF16_TOLERANCE, precision


# -- export and filter responses ---------------------------------------------------------------


def test_export_cli_writes_an_onnx_file(work, tmp_path, capsys):
    onnx = pytest.importorskip("onnx", reason="onnx is the optional [onnx] extra")
    rc = main(["export", "--checkpoint", str(work / "model.pt"), "--format", "onnx",
               "--out", str(tmp_path / "m.onnx")])
    assert rc == 0 and "m.onnx" in capsys.readouterr().out
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto)
    assert json.loads({p.key: p.value for p in proto.metadata_props}["class_names"]) == CLASSES


def test_select_channels_ranks_by_temporal_variance_of_the_pooled_response():
    fmap = torch.zeros(4, 6, 2, 2)
    fmap[1] = 5.0  # strong but constant in time: not representative
    fmap[2, ::2] = 1.0  # alternating: variance 0.25
    fmap[3, :3] = 3.0  # a step: variance 2.25
    idx, var = select_channels(fmap, k=3)
    assert idx.tolist() == [3, 2] and var.tolist() == pytest.approx([2.25, 0.25])  # constant ones dropped


def test_viz_cli_writes_filter_response_images(work, tmp_path, capsys):
    out = tmp_path / "viz"
    rc = main(["viz", "--checkpoint", str(work / "model.pt"), str(work / "clip_a.mp4"), "--out", str(out),
               "--start", "1.0", "--frames", "10", "--channels", "2", "--columns", "3"])
    assert rc == 0
    for name in ["clip_a.responses.png"] + [f"clip_a.level{i}.png" for i in (1, 2, 3, 4)]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    info = json.loads((out / "clip_a.responses.json").read_text())
    assert info["times"][0] == 1.0 and len(info["times"]) == 10
    assert [lv["level"] for lv in info["levels"]] == [1, 2, 3, 4]
    assert all(len(lv["channels"]) == 2 and lv["after_ta"] for lv in info["levels"])
    assert info["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")  # --device auto
    rc = main(["viz", "--checkpoint", str(work / "model.pt"), str(tmp_path / "nope.mp4"), "--out", str(out)])
    assert rc == 2 and "nope.mp4" in capsys.readouterr().err
    rc = main(["viz", "--checkpoint", str(work / "model.pt"), str(work / "clip_a.mp4"), "--out", str(out),
               "--device", "tpu"])
    assert rc == 2 and "--device must be" in capsys.readouterr().err


def test_a_file_is_written_whole_or_not_at_all(tmp_path):
    """tan_video.atomic.atomic_write (predict's, extract's, the checkpoints' and the demo's files)."""
    from tan_video.atomic import atomic_write

    target = tmp_path / "scores.json"
    assert atomic_write(target, lambda tmp: tmp.write_text("new")) == target
    assert target.read_text() == "new"

    def fails(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fails)
    assert target.read_text() == "new"  # the old file is kept whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.json"]  # no temporary file left
    atomic_write(tmp_path / "a.npy", lambda tmp: np.save(tmp, np.arange(3)))  # np.save keeps the name
    assert np.load(tmp_path / "a.npy").tolist() == [0, 1, 2]
