"""The demo end to end on a very small benchmark: its files, its report, determinism."""

import copy
from dataclasses import replace
import json
from pathlib import Path

import pytest
import yaml

from tan_video.cli import main
from tan_video.data import synthetic
from tan_video.demo import (DEMO_MODELS, DemoData, DemoSettings, demo_config, demo_settings, run_demo,
                            run_demo_seeds, seed_summary, seed_summary_markdown, train_or_reuse)

TINY = DemoSettings(num_train=8, num_test=4, frames=16, size=32, epochs=1, batch_size=4, timelines=2, bootstrap=50)
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
    # the claims these two models allow, with numbers, an interval and a verdict
    rows = result["claims"]
    assert [r["key"] for r in rows] == ["tan_vs_3d", "short_vs_3d"]
    for r in rows:
        assert r["verdict"] in ("holds", "contradicted", "not shown")
        assert r["ci95"][0] <= r["margin"] <= r["ci95"][1]
    assert rows[0]["value_a"] == pytest.approx(result["models"]["tan"]["frame_map"])
    assert "| TAN above 3D (frame mAP) | Table 1 |" in (out / "claims.md").read_text()


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

    def fake_run_demo(out, quick, seed, models, settings, data):
        calls.append((models, settings, data))
        return {"models": {}, "total_seconds": 0.0, "claims": [], "dataset": {"classes": {}}}

    monkeypatch.setattr("tan_video.demo.run_demo", fake_run_demo)
    assert main(["demo", "--out", str(tmp_path), "--epochs", "60", "--models", "3d", "tan"]) == 0
    models, settings, data = calls[-1]
    assert [m[0] for m in models] == ["tan", "3d"]  # the demo's order, not the command line's
    assert settings.epochs == 60 and settings.num_train == DemoSettings().num_train and data is None
    out = capsys.readouterr().out
    assert "not converged" in out and "not meaningful" not in out  # the full run's note on its budget
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 0
    assert calls[-1][1] == DemoSettings.quick() and len(calls[-1][0]) == len(DEMO_MODELS)
    assert "not meaningful" in capsys.readouterr().out
    assert main(["demo", "--out", str(tmp_path), "--no-flip", "--fps", "4"]) == 0
    assert calls[-1][1].flip is False and calls[-1][1].fps == 4.0
    assert main(["demo", "--out", str(tmp_path), "--precision", "32"]) == 0
    assert calls[-1][1].precision == "32-true"
    assert calls[-1][1].pos_weight == "sqrt"  # the demo's default
    assert main(["demo", "--out", str(tmp_path), "--pos-weight", "none"]) == 0
    assert calls[-1][1].pos_weight == "none"
    (tmp_path / "a.json").write_text("{}")
    assert main(["demo", "--out", str(tmp_path), "--data", str(tmp_path / "a.json"), "--videos", str(tmp_path),
                 "--class-base", "1"]) == 0
    assert calls[-1][2].class_base == 1  # a 1-based file: the option its error message names
    assert demo_config(calls[-1][2], tmp_path, "tan_tiny", {}, DemoSettings(), 0, 3).data.class_base == 1
    assert main(["demo", "--out", str(tmp_path), "--class-base", "1"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "tan-video: error: --class-base needs --data"

    assert main(["demo", "--out", str(tmp_path), "--epochs", "0"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--models", "tan", "4d"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--data", str(tmp_path / "none.json"), "--videos", str(tmp_path)]) == 2
    assert main(["demo", "--out", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert main(["demo", "--out", str(tmp_path), "--precision", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tan-video: error: --epochs must be at least 1, got 0",
                   "tan-video: error: --models: unknown 4d; choose from tan 2d_lstm 3d no_dilation level4_only",
                   f"tan-video: error: {tmp_path / 'none.json'}: no such file or folder",
                   "tan-video: error: --data and --videos go together (a dense-JSON annotation file and its video "
                   "folder)", err[-1]]
    assert err[-1].startswith("tan-video: error: --precision must be one of auto, 32,") and "'8'" in err[-1]
    assert len(calls) == 6  # nothing ran for the bad commands

    with pytest.raises(SystemExit):  # the help names every key (written out: the parser must not import the demo)
        main(["demo", "--help"])
    assert " ".join(m[0] for m in DEMO_MODELS) in " ".join(capsys.readouterr().out.split())


def test_demo_on_a_users_dense_json_dataset_without_flips(tmp_path, monkeypatch):
    """--data: the five-model comparison on any dense-JSON dataset; no groups, so only the model claims;
    --no-flip reaches the training dataset."""
    info = synthetic.generate(tmp_path / "mine", num_train=8, num_test=4, frames=16, size=32, fps=8.0, seed=5)
    flips = []
    import tan_video.data.datasets as ds

    original = ds.ClipDataset.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        flips.append(self.flip)

    monkeypatch.setattr(ds.ClipDataset, "__init__", spy)
    settings = DemoSettings(size=32, epochs=1, batch_size=4, timelines=1, bootstrap=50, flip=False)
    data = DemoData(info.annotations, info.videos)  # no class list: the JSON's ids name the classes
    result = run_demo(tmp_path / "out", settings=settings, models=MODELS, data=data)
    assert flips == [False, False]
    assert result["dataset"]["num_train"] == 8 and result["dataset"]["num_test"] == 4
    assert [r["key"] for r in result["claims"]] == ["tan_vs_3d"]  # groups unknown: no group claims
    assert not (tmp_path / "out" / "data").exists()  # nothing generated
    md = (tmp_path / "out" / "results.md").read_text()
    assert "appearance" not in md and "| class_0 | - |" in md
    saved = yaml.safe_load((tmp_path / "out" / "runs" / "tan" / "config.yaml").read_text())
    assert saved["data"]["annotations"] == info.annotations and saved["data"]["flip"] is False


def test_several_seeds_give_one_report_whose_verdicts_need_every_seed(tmp_path):
    report = run_demo_seeds(tmp_path, [0, 1], settings=TINY, models=MODELS[:1] + MODELS[1:], quick=True)
    assert report["seeds"] == [0, 1]
    assert (tmp_path / "seed_0" / "results.json").is_file() and (tmp_path / "seed_1" / "claims.md").is_file()
    row = report["claims"][0]
    assert set(row["seeds"]) == {"0", "1"} and row["meaningful"] is False
    per_seed = [json.loads((tmp_path / f"seed_{s}" / "results.json").read_text())["claims"][0] for s in (0, 1)]
    assert row["margin"] == pytest.approx((per_seed[0]["margin"] + per_seed[1]["margin"]) / 2)
    if len({r["verdict"] for r in per_seed}) > 1:
        assert row["verdict"] == "not shown"
    text = (tmp_path / "claims.md").read_text()
    assert "seed 0: margin" in text and "not meaningful" in text
    assert "| TAN (tan_tiny) |" in (tmp_path / "results.md").read_text()


def test_demo_recipe_is_warmup_then_cosine_over_every_epoch(tmp_path):
    for epochs in (14, 42, 1):
        cfg = demo_config(tmp_path, tmp_path, "tan_tiny", {}, demo_settings(epochs=epochs), 0, 14)
        assert cfg.train.epochs == epochs and cfg.train.schedule == "cosine" and cfg.train.warmup == 0.05
        assert cfg.data.crop_scale == [1.0, 1.0] and cfg.data.flip is True and cfg.train.precision == "auto"
        assert cfg.train.pos_weight == "sqrt"


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


def test_one_seed_in_seeds_is_a_one_line_error_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tan_video.demo.run_demo", lambda *a, **k: pytest.fail("a model was trained"))
    assert main(["demo", "--out", str(tmp_path), "--seeds", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tan-video: error: --seeds needs two or more seeds, got 2; for one, use --seed N"]


def test_the_demo_help_states_the_real_defaults():
    import argparse

    from tan_video.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(commands.choices["demo"].format_help().split())
    full, quick = DemoSettings(), DemoSettings.quick()
    assert f"default {full.epochs}, --quick {quick.epochs}" in text
    assert f"({quick.num_train} + {quick.num_test} videos, {quick.epochs} epochs)" in text


def test_a_finished_model_is_reused_only_on_the_data_it_was_trained_on(tmp_path, monkeypatch):
    """Same config, other data (a regenerated benchmark, an edited annotation file): train again."""
    synthetic.generate(tmp_path / "data", num_train=4, num_test=2, frames=16, size=32, fps=8.0, seed=1)
    settings = DemoSettings(num_train=4, num_test=2, frames=16, size=32, epochs=1, batch_size=4, bootstrap=10)
    cfg = demo_config(tmp_path / "data", tmp_path / "run", "tan_tiny", {}, settings, seed=0,
                      num_classes=len(synthetic.CLASSES))
    record = tmp_path / "run" / "demo_run.json"
    train_or_reuse(cfg)
    first = record.stat().st_mtime_ns
    train_or_reuse(cfg)
    assert record.stat().st_mtime_ns == first  # reused
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del saved["data"]["feature_fps"]  # as written before that setting existed: its default
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    train_or_reuse(cfg)
    assert record.stat().st_mtime_ns == first  # still reused
    monkeypatch.chdir(tmp_path)  # the same run with its paths spelled relative (--out run, not /abs/run)
    train_or_reuse(demo_config(Path("data"), Path("run"), "tan_tiny", {}, settings, seed=0,
                               num_classes=len(synthetic.CLASSES)))
    assert record.stat().st_mtime_ns == first  # reused
    ann = json.loads((tmp_path / "data" / "annotations.json").read_text())
    video = next(v for v in ann.values() if v["actions"])
    video["actions"] = video["actions"][1:]  # one segment fewer
    (tmp_path / "data" / "annotations.json").write_text(json.dumps(ann))
    train_or_reuse(cfg)
    assert record.stat().st_mtime_ns != first  # trained again


def test_a_model_trained_again_never_resumes_the_old_runs_checkpoint(tmp_path, monkeypatch):
    """Other data, then a kill before the new run's first checkpoint: the rerun must train from the
    start, not take up the checkpoint of the model trained on the old data."""
    import tan_video.demo as demo_mod

    synthetic.generate(tmp_path / "data", num_train=4, num_test=2, frames=16, size=32, fps=8.0, seed=1)
    settings = DemoSettings(num_train=4, num_test=2, frames=16, size=32, epochs=1, batch_size=4, bootstrap=10)
    cfg = demo_config(tmp_path / "data", tmp_path / "run", "tan_tiny", {}, settings, seed=0,
                      num_classes=len(synthetic.CLASSES))
    train_or_reuse(cfg)
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "logs").is_dir()
    ann = json.loads((tmp_path / "data" / "annotations.json").read_text())
    next(v for v in ann.values() if v["actions"])["actions"].pop(0)
    (tmp_path / "data" / "annotations.json").write_text(json.dumps(ann))

    resumed = []

    def killed(cfg, resume=False):  # as if killed before the run's first checkpoint
        resumed.append(resume)
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_mod, "fit", killed)
    for _ in range(2):  # the kill, then the rerun
        with pytest.raises(KeyboardInterrupt):
            train_or_reuse(cfg)
        assert not (run / "checkpoints").exists() and not (run / "logs").exists()
    assert resumed == [False, False]  # from the start both times: nothing of the old run to take up


@pytest.mark.slow
def test_a_demo_killed_part_way_and_run_again_ends_with_the_same_report(demo, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out, full = demo
    again = tmp_path / "again"
    settings = {k: v for k, v in vars(TINY).items()}
    settings["checkpoint_every"] = 1
    code = ("import logging; logging.basicConfig(level=logging.INFO)\n"
            "from tan_video.demo import DemoSettings, run_demo, DEMO_MODELS\n"
            f"s = DemoSettings(**{settings!r})\n"
            "run_demo(%r, seed=3, settings=s, models=[m for m in DEMO_MODELS if m[0] in ('tan', '3d')])\n" % str(again))
    second = again / "runs" / "3d" / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 240
        while not second.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert second.exists() and not (again / "results.json").exists(), "not killed while training the second model"
    finished = (again / "runs" / "tan" / "demo_run.json").stat().st_mtime_ns
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "finished by an earlier run, reused" in done.stderr
    assert (again / "runs" / "tan" / "demo_run.json").stat().st_mtime_ns == finished  # kept, not retrained
    resumed = json.loads((again / "results.json").read_text())
    for key in ("tan", "3d"):
        for field in ("frame_map", "video_map", "per_class_ap", "steps"):
            assert resumed["models"][key][field] == full["models"][key][field], (key, field)
    assert [r["margin"] for r in resumed["claims"]] == [r["margin"] for r in full["claims"]]


def test_a_model_that_diverges_is_reported_failed_and_the_others_still_count(tmp_path, monkeypatch, capsys):
    from tan_video import demo as demo_mod
    from tan_video.cli import _failed_models
    from tan_video.errors import TrainingDiverged

    real_fit = demo_mod.fit

    def fit(cfg, resume=False):
        if cfg.model.name == "tiny_3d":
            raise TrainingDiverged(f"{cfg.train.out}: training diverged at optimiser step 2: the training loss is nan")
        return real_fit(cfg, resume=resume)

    monkeypatch.setattr(demo_mod, "fit", fit)
    result = run_demo(tmp_path, seed=3, settings=TINY, models=MODELS)
    assert result["models"]["3d"]["failed"].endswith("the training loss is nan")
    assert 0 <= result["models"]["tan"]["frame_map"] <= 1  # trained and scored
    rows = {r["key"]: r for r in result["claims"]}
    assert rows["tan_vs_3d"]["verdict"] == rows["short_vs_3d"]["verdict"] == "not tested"
    assert "3d failed: " in rows["tan_vs_3d"]["reason"] and rows["tan_vs_3d"]["margin"] is None
    md = (tmp_path / "results.md").read_text()
    assert "| 3D (tiny_3d, paper Res50-3D) | failed | failed |" in md and "training loss is nan" in md
    assert "**not tested** (3d failed: " in (tmp_path / "claims.md").read_text()
    assert _failed_models([m for m in result["models"].values() if m.get("failed")]) == 2
    assert "1 model(s) failed to train (3D (tiny_3d, paper Res50-3D))" in capsys.readouterr().err
    # over seeds: the model that failed has no mean, and its claims no verdict
    summary = seed_summary([result, {**result, "settings": {**result["settings"], "seed": 4}}])
    assert summary["models"]["3d"] == {"label": result["models"]["3d"]["label"], "failed_seeds": [3, 4]}
    assert "failed to train with seed(s) 3, 4" in seed_summary_markdown(summary)


def test_the_comparison_on_features_extracts_once_and_reuses_what_is_finished(tmp_path, capsys):
    """demo --features: the extractor trains on frames, every video's features are written in the
    published layout, the feature models train on them, the feature claims are tested; a rerun
    reuses the extractor, the files and the models; a new extractor invalidates the rest."""
    from tan_video.data.features import read_features, read_manifest
    from tan_video.demo import FEATURE_MODELS, FeatureSettings, run_demo_features

    feats = FeatureSettings(extractor_epochs=1, clip_frames=16, batch_size=4, epochs=1)
    models = [m for m in FEATURE_MODELS if m[0] in ("ta_head", "linear")]
    result = run_demo_features(tmp_path, seed=3, settings=TINY, features=feats, models=models)
    e = result["extractor"]
    assert e["model"] == "tan_tiny" and e["args"] == {"levels": []} and e["videos_extracted"] == 12
    manifest = read_manifest(tmp_path / "features")
    assert manifest["dim"] == e["feature_dim"] == 128 and manifest["fps"] == TINY.fps
    ann = json.loads((tmp_path / "data" / "annotations.json").read_text())
    assert sorted(p.stem for p in (tmp_path / "features").glob("*.npy")) == sorted(ann)
    vid = next(iter(ann))
    assert read_features(tmp_path / "features" / f"{vid}.npy").shape == (TINY.frames, 128)
    assert set(result["models"]) == {"ta_head", "linear"}
    ta = result["models"]["ta_head"]
    assert ta["args"] == {"in_dim": 128, "width": 128} and ta["steps"] == 2
    saved = yaml.safe_load((tmp_path / "runs" / "ta_head" / "config.yaml").read_text())
    assert saved["data"]["features"] == str(tmp_path / "features") and saved["data"]["clip_frames"] == 16
    assert [r["key"] for r in result["claims"]] == ["ta_vs_per_frame", "motion_vs_per_frame"]
    assert "Features: per-frame 2D model" in (tmp_path / "results.md").read_text()
    # a rerun reuses everything
    mtime = (tmp_path / "runs" / "ta_head" / "demo_run.json").stat().st_mtime_ns
    again = run_demo_features(tmp_path, seed=3, settings=TINY, features=feats, models=models)
    assert again["extractor"]["videos_reused"] == 12 and again["extractor"]["videos_extracted"] == 0
    assert again["models"]["ta_head"]["per_class_ap"] == ta["per_class_ap"]
    assert (tmp_path / "runs" / "ta_head" / "demo_run.json").stat().st_mtime_ns == mtime
    # another extractor (2 epochs): the features are written again and the models retrained on them
    third = run_demo_features(tmp_path, seed=3, settings=TINY, features=replace(feats, extractor_epochs=2),
                              models=models)
    assert third["extractor"]["videos_extracted"] == 12 and third["extractor"]["steps"] == 4
    assert (tmp_path / "runs" / "ta_head" / "demo_run.json").stat().st_mtime_ns != mtime
    # the command line: --features picks the feature models, and refuses the video demo's keys
    assert main(["demo", "--features", "--models", "tan", "--out", str(tmp_path)]) == 2
    assert "unknown tan; choose from ta_head no_dilation linear lstm" in capsys.readouterr().err
