"""Training and evaluation end to end on a tiny synthetic dataset (real H.264 files, CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import tan_video as tv
from tan_video import metrics
from tan_video.checkpoint import load_checkpoint, save_model_file
from tan_video.cli import main
from tan_video.config import load_config
from tan_video.data import synthetic
from tan_video.checkpoint import training_progress
from tan_video.training import fit, init_from_checkpoint

CLI = [sys.executable, "-m", "tan_video.cli"]
K = len(synthetic.CLASSES)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn")
    synthetic.generate(root, num_train=12, num_test=6, frames=32, size=32, fps=8.0, seed=1)
    return root


def write_config(path: Path, data: Path, out: Path, **train) -> Path:
    cfg = {
        "model": {"name": "tan_tiny"},
        "data": {"annotations": str(data / "annotations.json"), "format": "dense_json",
                 "classes": str(data / "classes.txt"), "videos": str(data / "videos"), "fps": 8,
                 "clip_frames": 8, "size": 32, "resize": 32, "num_workers": 0},
        "train": {"epochs": 2, "lr": 1e-3, "lr_steps": [1], "batch_size": 4, "precision": "auto",
                  "out": str(out), "progress": False, "val_every": 0, **train},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_then_evaluate_through_the_cli(data, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run")
    assert main(["train", "--config", str(cfg)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["global_step"] == 2 * 3  # 12 videos / batch 4, 2 epochs
    run = tmp_path / "run"
    for name in ("config.yaml", "model.pt", "metrics.json", "checkpoints/last.ckpt", "logs/metrics.csv"):
        assert (run / name).is_file(), name
    assert load_config(run / "config.yaml").train.epochs == 2  # the resolved config beside the run
    m = json.loads((run / "metrics.json").read_text())
    assert 0 <= m["frame_map"] <= 1 and 0 <= m["video_map"] <= 1 and m["num_videos"] == 6
    assert set(m["per_class_ap"]) == set(c.name for c in synthetic.CLASSES)
    # the checkpoint describes itself: evaluate rebuilds the model from the file alone
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["build_args"]["name"] == "tan_tiny" and ckpt["fps"] == 8 and len(ckpt["class_names"]) == K
    resumable = load_checkpoint(run / "checkpoints" / "last.ckpt")  # the Lightning file describes itself too
    assert resumable["build_args"] == ckpt["build_args"] and resumable["resize"] == 32
    assert resumable["mean"] == list(ckpt["mean"])

    for source in ("model.pt", "checkpoints/last.ckpt"):
        out = tmp_path / f"eval_{Path(source).stem}"
        assert main(["evaluate", "--config", str(cfg), "--checkpoint", str(run / source), "--out", str(out),
                     "--no-progress", "data.protocol=charades"]) == 0
        ev = json.loads((out / "metrics.json").read_text())
        assert {"frame_map", "video_map", "charades_localize_map", "protocols"} <= set(ev)
        assert ev["frame_map"] == pytest.approx(m["frame_map"], abs=0.02)  # fp32 here, bf16 in training
        ids, scores = metrics.read_charades_submission(out / "classify_submission.txt")
        assert len(ids) == 6 and scores.shape == (6, K)
        ids, scores = metrics.read_charades_submission(out / "localize_submission.txt")
        assert scores.reshape(-1, K).shape[0] == 6 * 25
        assert (out / "per_class_ap.csv").read_text().count("\n") == 15


def test_bad_inputs_are_one_line_errors(data, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run")
    assert main(["train", "--config", str(cfg), f"data.videos={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and [ln for ln in err.splitlines() if "error" in ln] == [err.splitlines()[-1]]
    assert err.splitlines()[-1].startswith("tan-video: error: ") and "18 of 18 annotated videos have no file" in err
    save_model_file(tmp_path / "k5.pt", tv.create_model("tan_tiny", num_classes=5),
                    {"class_names": list("abcde"), "fps": 8.0, "size": 32})
    assert main(["evaluate", "--config", str(cfg), "--checkpoint", str(tmp_path / "k5.pt")]) == 2
    assert f"checkpoint has 5 classes, the data {K}" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_same_seed_same_metrics(data, tmp_path):
    results = []
    for i in range(2):
        cfg = load_config(write_config(tmp_path / f"c{i}.yaml", data, tmp_path / f"r{i}", epochs=1))
        results.append(fit(cfg)["metrics"])
    assert results[0]["frame_map"] == results[1]["frame_map"]
    assert results[0]["per_class_ap"] == results[1]["per_class_ap"]


def test_tiny_tan_learns_well_above_chance(tmp_path):
    # 8 videos, trained and scored on the same videos: a fit test, not generalisation.
    root = tmp_path / "syn"
    synthetic.generate(root, num_train=8, num_test=0, frames=32, size=32, fps=8.0, seed=3)
    anns = tv.data.read_annotations(root / "annotations.json", "dense_json")
    for a in anns:
        a.subset = "testing"
    tv.data.write_dense_json(anns, root / "test.json")
    cfg = load_config(write_config(tmp_path / "c.yaml", root, tmp_path / "run", epochs=40, lr_steps=[30],
                                   batch_size=4),
                      [f"data.test_annotations={root / 'test.json'}"])
    cfg.model.args = {"drop_rate": 0.0}
    m = fit(cfg)["metrics"]
    labels = np.concatenate([tv.data.dense_targets(a, np.arange(32) / 8.0, K) for a in anns])
    chance = labels[:, labels.sum(0) > 0].mean()  # AP of random scores ~ the positive rate
    assert m["frame_map"] > chance + 0.3, (m["frame_map"], chance)


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(data, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run", epochs=30)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(CLI + ["train", "--config", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not last.exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # let it get past the first checkpoint
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert last.exists(), "no checkpoint before the kill"
    # whatever moment the kill hit, the file under the real name is complete (atomic rename)
    killed_at = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < killed_at < 30 * 3
    epoch, step = training_progress(last)
    done = subprocess.run(CLI + ["train", "--config", str(cfg), "--resume", "train.epochs=" + str(killed_at // 3 + 2)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["global_step"] == (killed_at // 3 + 2) * 3  # continued, not restarted
    assert step == killed_at
    assert f"resuming after epoch {epoch} (step {step})" in done.stderr


@pytest.mark.slow
def test_ddp_two_cpu_processes_see_disjoint_data(data, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run", epochs=1, batch_size=2, log_samples=True,
                       devices=2, strategy="ddp", accelerator="cpu")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                           "-m", "tan_video.cli", "train", "--config", str(cfg)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = tmp_path / "run" / "logs"
    seen = [set((logs / f"samples_rank{r}.txt").read_text().split()) for r in (0, 1)]
    assert seen[0] and seen[1] and not (seen[0] & seen[1])
    assert len(seen[0] | seen[1]) == 12  # together they cover the training set once
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["num_videos"] == 6  # the test videos gathered from both processes, each once


def test_single_label_pretraining_then_finetuning_with_a_new_head(data, tmp_path):
    anns = tv.data.read_annotations(data / "annotations.json", "dense_json")
    train = [a for a in anns if a.subset == "training"]
    lines = [f"videos/{a.video_id}.mp4 {['cat_a', 'cat_b', 'cat_c'][i % 3]}" for i, a in enumerate(train)]
    (data / "kinetics.txt").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path / "pre.yaml", data, tmp_path / "pre", epochs=1, mode="single_label")
    assert main(["train", "--config", str(cfg), f"data.label_list={data / 'kinetics.txt'}", f"data.videos={data}",
                 "data.annotations=null"]) == 0
    pre = load_checkpoint(tmp_path / "pre" / "model.pt")
    assert pre["class_names"] == ["cat_a", "cat_b", "cat_c"] and pre["mode"] == "single_label"
    model = tv.create_model("tan_tiny", num_classes=K)
    init_from_checkpoint(model, tmp_path / "pre" / "model.pt")
    assert model.fc.out_features == K
    torch.testing.assert_close(model.state_dict()["layer2.0.conv2.weight"], pre["state_dict"]["layer2.0.conv2.weight"])
    torch.testing.assert_close(model.state_dict()["ta3.convs.1.weight"], pre["state_dict"]["ta3.convs.1.weight"])


def test_evaluate_scores_a_detection_file(data, tmp_path, capsys):
    from tan_video.detection import write_detections

    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run")
    test = [a for a in tv.data.read_annotations(data / "annotations.json", "dense_json") if a.subset == "testing"]
    names = [c.name for c in synthetic.CLASSES]
    perfect = [(a.video_id, c, s, e, 1.0) for a in test for c, s, e in a.segments]
    write_detections(tmp_path / "perfect.json", perfect, names)
    assert main(["evaluate", "--config", str(cfg), "--detections", str(tmp_path / "perfect.json")]) == 0
    result = json.loads((tmp_path / "detection_metrics.json").read_text())
    assert result["detection_map"] == {"0.3": 1.0, "0.4": 1.0, "0.5": 1.0, "0.6": 1.0, "0.7": 1.0}
    shifted = [(v, c, s + 0.6 * (e - s), e + 0.6 * (e - s), 1.0) for v, c, s, e, _ in perfect]  # tIoU 0.25
    write_detections(tmp_path / "shifted.json", shifted, names)
    assert main(["evaluate", "--config", str(cfg), "--detections", str(tmp_path / "shifted.json")]) == 0
    assert json.loads((tmp_path / "detection_metrics.json").read_text())["detection_map"]["0.3"] == 0.0
    assert main(["evaluate", "--config", str(cfg)]) == 2
    assert "needs --checkpoint" in capsys.readouterr().err


def test_fan_in_temporal_lr_gives_each_ta_module_its_own_learning_rate():
    import math

    from tan_video.training import TANModule

    def module(temporal_lr):
        return TANModule({"name": "tan_tiny", "num_classes": 3}, ["a", "b", "c"], fps=4.0, size=32, lr=1e-3,
                         temporal_lr=temporal_lr)

    m = module("fan_in")
    opt = m.make_optimizer()
    lrs = [g["lr"] for g in opt.param_groups]
    # tan_tiny's TA modules have 16, 32, 64, 128 channels, 3 branches of 3 taps each
    assert lrs == pytest.approx([1e-3] + [1e-3 / math.sqrt(9 * c) for c in (16, 32, 64, 128)])
    assert all(isinstance(p, torch.nn.Parameter) for g in opt.param_groups[1:] for p in g["params"])
    grouped = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in m.parameters())  # every parameter exactly once
    assert [g["lr"] for g in module("same").make_optimizer().param_groups] == [1e-3]


def test_lr_schedule_warms_up_linearly_then_decays_by_cosine_or_steps():
    import math

    from tan_video.training import LRSchedule

    cos = LRSchedule(100, warmup=10, kind="cosine")
    assert [cos(i) for i in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert cos(9) == pytest.approx(1.0) and cos(10) == pytest.approx(1.0)
    assert cos(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert cos(100) == pytest.approx(0.0, abs=1e-12) and cos(99) > 0
    step = LRSchedule(100, warmup=5, kind="step", milestones=[40, 80], gamma=0.1)
    assert step(0) == pytest.approx(0.2) and step(39) == pytest.approx(1.0)
    assert step(40) == pytest.approx(0.1) and step(80) == pytest.approx(0.01)
    assert LRSchedule(10)(0) == 1.0  # no warm-up: the full rate from the first step
    import pickle

    assert pickle.loads(pickle.dumps(cos))(55) == cos(55)  # resumed runs rebuild it
    with pytest.raises(ValueError, match="unknown schedule"):
        LRSchedule(10, kind="linear")


def test_terminal_shows_one_progress_bar_and_no_lightning_adverts(data, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "quiet", epochs=2)
    done = subprocess.run(CLI + ["train", "--config", str(cfg), "train.progress=true"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    err = done.stderr
    for noise in ("Tip:", "litlogger", "GPU available", "TPU available", "was configured so",
                  "Loading `train_dataloader`"):
        assert noise not in err, noise
    # one bar for the whole run (both epochs), named after the run folder, ending at 6 of 6 steps
    assert err.count("quiet: 100%") >= 1 and "6/6" in err and "Epoch 1" not in err


def test_precision_auto_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    from tan_video.config import TrainConfig
    from tan_video.training import train_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("tan_video.inference.default_precision", lambda: "bf16")
    assert train_precision(TrainConfig()) == "bf16-mixed"
    monkeypatch.setattr("tan_video.inference.default_precision", lambda: "32")
    assert train_precision(TrainConfig()) == "32-true"
    assert train_precision(TrainConfig(precision="bf16-mixed")) == "bf16-mixed"  # explicit: as given
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert train_precision(TrainConfig()) == "16-mixed"
