"""Typed configs: every shipped recipe loads and builds its model; overrides; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import tan_video as tv
from tan_video.config import load_config, save_config
from tan_video.errors import InputError

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_loads_and_builds_its_model(path):
    cfg = load_config(path)
    assert cfg.train.out.startswith("runs/")
    with torch.device("meta"):
        model = tv.create_model(cfg.model.name, num_classes=157, **cfg.model.args)
    if tv.models.takes_features(model):  # a feature model: (B, T, D) features, and a feature folder
        assert cfg.data.features
        x = torch.empty(1, 4, model.in_dim, device="meta")
    else:
        x = torch.empty(1, 3, 4, 64, 64, device="meta")
    assert model(x).shape == (1, 4, 157)


def test_paper_recipe_values():
    cfg = load_config(CONFIGS[0].parent / "charades_tan_r50.yaml")
    assert (cfg.data.fps, cfg.data.clip_frames, cfg.data.size, cfg.train.lr, cfg.train.epochs, cfg.train.lr_steps) == \
        (4.0, 16, 224, 1e-4, 20, [10])
    mt = load_config(CONFIGS[0].parent / "multithumos_tan_r152.yaml")
    assert (mt.data.fps, mt.train.epochs, mt.data.class_base) == (10.0, 15, 1)
    ablation = load_config(CONFIGS[0].parent / "table2_levels_3_4.yaml")
    assert ablation.model.args == {"levels": [3, 4]} and ablation.data.fps == 4.0  # inherited from base


def test_overrides_are_typed_and_nested(tmp_path):
    cfg = load_config(CONFIGS[0].parent / "charades_tan_r50.yaml",
                      ["train.epochs=3", "data.fps=2", "model.args.dilations=[1]", "train.out=" + str(tmp_path)])
    assert cfg.train.epochs == 3 and cfg.data.fps == 2.0 and isinstance(cfg.data.fps, float)
    assert cfg.model.args == {"dilations": [1]}
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg  # the saved, resolved config round-trips


def test_config_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochz: 3}\n")
    with pytest.raises(InputError, match=r"bad.yaml: train: unknown key 'epochz'; did you mean 'epochs'\?"):
        load_config(bad)
    # an override's typo is the override's, not the file's
    bad.write_text("train: {epochs: 3}\n")
    with pytest.raises(InputError, match=r"^override 'train.epoch=5': unknown key 'epoch' in train; did you mean "
                                         r"train.epochs\?"):
        load_config(bad, ["train.epoch=5"])
    with pytest.raises(InputError, match=r"^override 'trian.epochs=5': unknown section 'trian'"):
        load_config(bad, ["trian.epochs=5"])
    with pytest.raises(InputError, match=r"^override 'train=5': name a key of train"):
        load_config(bad, ["train=5"])
    assert load_config(bad, ["model.args.levels=[4]"]).model.args == {"levels": [4]}  # deeper keys: the model's
    bad.write_text("model:\n  name: [unclosed\n")
    with pytest.raises(InputError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(bad)
    with pytest.raises(InputError, match="train.epochs must be a number"):
        load_config(None, ["train.epochs=many"])
    with pytest.raises(InputError, match="train.temporal_lr must be one of same, fan_in, got 'fanin'"):
        load_config(None, ["train.temporal_lr=fanin"])
    with pytest.raises(InputError, match="not KEY=VALUE"):
        load_config(None, ["train.epochs"])
    with pytest.raises(InputError, match="no such config file"):
        load_config(tmp_path / "absent.yaml")
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(InputError, match="loop"):
        load_config(loop)


@pytest.mark.parametrize("override, message", [
    ("train.epochs=-1", "train.epochs must be at least 1, got -1"),
    ("train.epochs=1.5", "train.epochs must be a whole number, got 1.5"),
    ("train.batch_size=0", "train.batch_size must be at least 1, got 0"),
    ("data.clip_frames=0", "data.clip_frames must be at least 1, got 0"),
    ("data.size=0", "data.size must be at least 1, got 0"),
    ("data.num_workers=-1", "data.num_workers must be at least 0, got -1"),
    ("data.fps=0", "data.fps must be positive, got 0.0"),
    ("data.fps=-2", "data.fps must be positive, got -2.0"),
    ("train.lr=-1", "train.lr must be positive, got -1.0"),
    ("data.crop_scale=0.5", "data.crop_scale is an area range [low, high] with 0 < low <= high <= 1, got 0.5"),
    ("data.crop_scale=[0.8, 0.2]", "data.crop_scale is an area range"),
])
def test_numbers_out_of_range_are_one_line_errors(override, message):
    with pytest.raises(InputError) as e:
        load_config(None, [override])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_whole_numbers_written_as_floats_are_read_as_ints():
    cfg = load_config(None, ["train.epochs=3.0", "data.crop_scale=[0.5, 1]"])
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int) and cfg.data.crop_scale == [0.5, 1]
