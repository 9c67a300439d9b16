"""The demo end to end on a very small benchmark: its files, its report, determinism."""

import json

import pytest
import yaml

from tan_video.data import synthetic
from tan_video.demo import DEMO_MODELS, DemoSettings, run_demo

TINY = DemoSettings(num_train=8, num_test=4, frames=16, size=32, epochs=1, batch_size=4, timelines=2)
MODELS = [m for m in DEMO_MODELS if m[0] in ("tan", "3d")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, seed=3, settings=TINY, models=MODELS)


def test_demo_writes_results_report_and_pictures(demo):
    out, result = demo
    assert json.loads((out / "results.json").read_text()) == result
    assert set(result["models"]) == {"tan", "3d"}
    classes = {c.name for c in synthetic.CLASSES}
    for r in result["models"].values():
        assert 0 <= r["frame_map"] <= 1 and 0 <= r["video_map"] <= 1
        assert set(r["per_class_ap"]) == classes
        assert r["params"] > 0 and r["gmacs_per_clip"] > 0 and r["steps"] == 2  # 8 videos / batch 4, 1 epoch
    assert result["settings"]["seed"] == 3 and result["dataset"]["num_train"] == 8
    md = (out / "results.md").read_text()
    assert "| model | appearance | short | motion | long |" in md
    assert (out / "per_class_ap.png").stat().st_size > 0
    assert len(list((out / "timelines").glob("*.png"))) == 2


def test_demo_is_deterministic_for_a_seed(demo, tmp_path):
    out, first = demo
    again = run_demo(tmp_path, seed=3, settings=TINY, models=MODELS[:1])
    assert again["models"]["tan"]["per_class_ap"] == first["models"]["tan"]["per_class_ap"]


def test_train_overrides_reach_every_model_and_unknown_ones_are_refused(tmp_path):
    run_demo(tmp_path, seed=0, settings=TINY, models=MODELS[:1], train_overrides={"temporal_lr": "fan_in"})
    saved = yaml.safe_load((tmp_path / "runs" / "tan" / "config.yaml").read_text())
    assert saved["train"]["temporal_lr"] == "fan_in"
    with pytest.raises(ValueError, match="unknown train setting 'lrr'"):
        run_demo(tmp_path, seed=0, settings=TINY, models=MODELS[:1], train_overrides={"lrr": 1.0})
