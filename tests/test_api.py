"""The top-level API and class names from the files: read_split per format, create_model defaults,
list_models(pattern), load_model, predict_video."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

import tan_video as tv
from tan_video.checkpoint import save_model_file
from tan_video.config import load_config
from tan_video.data.split import read_split
from tan_video.data.synthetic import write_video


def _cfg(**data):
    return load_config(None, [f"data.{k}={v}" for k, v in data.items()])


def test_activitynet_without_a_class_list_names_classes_by_its_labels(tmp_path):
    path = tmp_path / "thumos.json"
    path.write_text(json.dumps({"database": {
        "a": {"subset": "training", "duration": 10.0, "annotations": [{"label": "Run", "segment": [1, 2]}]},
        "b": {"subset": "testing", "duration": 10.0, "annotations": [{"label": "Dive", "segment": [3, 4]}]}}}))
    names, train, test = read_split(_cfg(annotations=path, format="activitynet_json"))
    assert names == ["Dive", "Run"]  # the labels, not class_0 / class_1
    assert [a.video_id for a in train] == ["a"] and [a.video_id for a in test] == ["b"]
    assert train[0].segments == [(1, 1.0, 2.0)]


def test_multithumos_directory_names_its_classes(tmp_path):
    d = tmp_path / "ann"
    d.mkdir()
    (d / "Run.txt").write_text("video_validation_0000001 0.0 2.0\n")
    (d / "Jump.txt").write_text("video_test_0000001 1.0 2.0\n")
    names, train, test = read_split(_cfg(annotations=d, format="multithumos_txt"))
    assert names == ["Jump", "Run"] and len(train) == 1 and len(test) == 1


def test_dense_json_without_names_is_class_i_with_a_notice_and_k_from_the_ids(tmp_path, caplog):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"a": {"subset": "training", "duration": 5, "actions": [[3, 0, 1]]},
                                "b": {"subset": "testing", "duration": 5, "actions": [[1, 0, 1]]}}))
    with caplog.at_level(logging.INFO, logger="tan_video.data.split"):
        names, _, _ = read_split(_cfg(annotations=path, format="dense_json"))
    assert names == ["class_0", "class_1", "class_2", "class_3"]
    assert "no class list" in caplog.text
    classes = tmp_path / "classes.txt"
    classes.write_text("w\nx\ny\nz\nextra\n")
    names, _, _ = read_split(_cfg(annotations=path, format="dense_json", classes=classes))
    assert names == ["w", "x", "y", "z", "extra"]  # K is the class list's length


def test_charades_csv_pair_takes_the_class_list(tmp_path):
    for name, vid in (("Charades_v1_train.csv", "AAA"), ("Charades_v1_test.csv", "BBB")):
        (tmp_path / name).write_text(f"id,actions,length\n{vid},c001 0.0 1.0,5.0\n")
    classes = tmp_path / "Charades_v1_classes.txt"
    classes.write_text("c000 Holding something\nc001 Opening a door\n")
    names, train, test = read_split(_cfg(annotations=tmp_path / "Charades_v1_train.csv",
                                         test_annotations=tmp_path / "Charades_v1_test.csv", classes=classes))
    assert names == ["Holding something", "Opening a door"]
    assert [a.video_id for a in train] == ["AAA"] and [a.video_id for a in test] == ["BBB"]


def test_create_model_keeps_the_builders_default_and_list_models_filters():
    assert tv.create_model("tan_r50").num_classes == 157
    assert tv.create_model("tan_tiny").num_classes == 16
    # the effective stem is recorded: its default changed, and a checkpoint must rebuild what it was trained as
    assert tv.create_model("tan_tiny").build_args == {"name": "tan_tiny", "num_classes": 16, "stem_pool": False}
    assert tv.create_model("tan_tiny", num_classes=3).num_classes == 3
    assert tv.list_models("tiny_*") == ["tiny_2d_lstm", "tiny_3d"]
    assert tv.list_models("*3d") == ["r50_3d", "tiny_3d"]
    assert tv.list_models() == sorted(tv.list_models())


def test_load_model_and_predict_video_in_one_call(tmp_path):
    torch.manual_seed(0)
    model = tv.create_model("tan_tiny", num_classes=2)
    meta = {"class_names": ["bright", "dark"], "fps": 8.0, "size": 32, "resize": 32,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    save_model_file(tmp_path / "model.pt", model, meta)
    frames = np.zeros((24, 32, 32, 3), dtype=np.uint8)
    frames[8:16] = 200
    write_video(tmp_path / "v.mp4", frames, 8.0)
    loaded, got = tv.load_model(tmp_path / "model.pt")
    assert not loaded.training and got["class_names"] == ["bright", "dark"]
    scores = tv.predict_video(tmp_path / "model.pt", tmp_path / "v.mp4")
    assert scores.class_names == ["bright", "dark"]
    assert scores.times.shape == (24,) and scores.probabilities.shape == (24, 2)
    np.testing.assert_allclose(scores.times, np.arange(24) / 8.0)
    assert ((scores.probabilities >= 0) & (scores.probabilities <= 1)).all()
    again = tv.predict_video(loaded, tmp_path / "v.mp4", got, precision="32")
    np.testing.assert_allclose(again.probabilities, tv.predict_video(tmp_path / "model.pt", tmp_path / "v.mp4",
                                                                     precision="32").probabilities, atol=1e-6)
    assert [name for name, _ in scores.top(1)][0] in ("bright", "dark")
    with pytest.raises(ValueError, match="needs the model's meta"):
        tv.predict_video(loaded, tmp_path / "v.mp4")
