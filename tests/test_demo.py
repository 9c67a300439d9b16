"""The demo end to end on a very small benchmark: its files, its report, determinism."""

import copy
import json

import pytest
import yaml

from tan_video.cli import main
from tan_video.data import synthetic
from tan_video.demo import (DEMO_MODELS, DemoSettings, demo_config, demo_settings, run_demo, seed_summary,
                            seed_summary_markdown)

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
    assert result["dataset"]["classes"]["flash"]["group"] == "short"
    assert result["dataset"]["classes_file"].endswith("classes.txt")
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


def test_cli_epochs_and_models_select_the_settings_and_models(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run_demo(out, quick, seed, models, settings):
        calls.append((models, settings))
        return {"models": {}, "total_seconds": 0.0}

    monkeypatch.setattr("tan_video.demo.run_demo", fake_run_demo)
    assert main(["demo", "--out", str(tmp_path), "--epochs", "60", "--models", "3d", "tan"]) == 0
    models, settings = calls[-1]
    assert [m[0] for m in models] == ["tan", "3d"]  # the demo's order, not the command line's
    assert settings.epochs == 60 and settings.num_train == DemoSettings().num_train
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 0
    assert calls[-1][1] == DemoSettings.quick() and len(calls[-1][0]) == len(DEMO_MODELS)
    capsys.readouterr()

    assert main(["demo", "--out", str(tmp_path), "--epochs", "0"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--models", "tan", "4d"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tan-video: error: --epochs must be at least 1, got 0",
                   "tan-video: error: --models: unknown 4d; choose from tan 2d_lstm 3d no_dilation level4_only"]
    assert len(calls) == 2  # nothing ran for the bad commands

    with pytest.raises(SystemExit):  # the help names every key (written out: the parser must not import the demo)
        main(["demo", "--help"])
    assert " ".join(m[0] for m in DEMO_MODELS) in " ".join(capsys.readouterr().out.split())


def test_lr_step_is_after_three_quarters_of_the_epochs(tmp_path):
    for epochs, step in ((20, 15), (60, 45), (6, 4), (1, 1)):
        cfg = demo_config(tmp_path, tmp_path, "tan_tiny", {}, demo_settings(epochs=epochs), 0, 14)
        assert cfg.train.epochs == epochs and cfg.train.lr_steps == [step]


def test_seed_summary_is_mean_and_sample_sd_over_runs_that_differ_only_in_seed(demo):
    _, first = demo
    runs = []
    for seed, frame_map in ((0, 0.40), (1, 0.50), (2, 0.60)):
        r = copy.deepcopy(first)
        r["settings"]["seed"] = seed
        r["models"]["tan"]["frame_map"] = frame_map
        aps = r["models"]["tan"]["per_class_ap"]
        r["models"]["tan"]["per_class_ap"] = {c: (frame_map if c == "flash" else 0.5) for c in aps}
        runs.append(r)
    s = seed_summary(runs)
    assert s["seeds"] == [0, 1, 2] and set(s["models"]) == {"tan", "3d"}
    tan = s["models"]["tan"]
    assert tan["frame_map"]["mean"] == pytest.approx(0.5) and tan["frame_map"]["sd"] == pytest.approx(0.1)
    assert tan["frame_map"]["values"] == [0.40, 0.50, 0.60]
    short = [c.name for c in synthetic.CLASSES if c.group == "short"]  # flash + 2 others at 0.5
    assert tan["groups"]["short"]["mean"] == pytest.approx(0.5)
    assert tan["groups"]["short"]["sd"] == pytest.approx(0.1 / len(short))
    assert tan["groups"]["appearance"]["sd"] == pytest.approx(0.0)
    assert s["models"]["3d"]["frame_map"]["sd"] == pytest.approx(0.0)
    md = seed_summary_markdown(s)
    assert "| TAN (tan_tiny) | 50.0 +- 10.0 (40.0, 50.0, 60.0) |" in md

    other = copy.deepcopy(runs[2])
    other["settings"]["epochs"] = 60
    with pytest.raises(ValueError, match="differ in more than the seed"):
        seed_summary(runs[:2] + [other])
    with pytest.raises(ValueError, match="the same seed twice"):
        seed_summary([runs[0], runs[0]])
