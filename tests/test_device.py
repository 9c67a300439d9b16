"""Where inference runs: --device for evaluate and predict, decoding in workers, CUDA parity.

CI is CPU-only: the tests marked ``cuda`` are skipped without a GPU (benchmarks/gpu_check.py runs
them where there is one)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import tan_video as tv
from tan_video.checkpoint import save_model_file
from tan_video.cli import main
from tan_video.data import synthetic
from tan_video.errors import InputError
from tan_video.evaluation import evaluate
from tan_video.inference import default_precision, resolve_device, resolve_precision
from tan_video.models.weights import IMAGENET_MEAN, IMAGENET_STD

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("device")
    synthetic.generate(root / "data", num_train=2, num_test=5, frames=24, size=32, fps=8.0, seed=2)
    torch.manual_seed(0)
    model = tv.create_model("tan_tiny", num_classes=len(synthetic.CLASSES)).eval()
    save_model_file(root / "model.pt", model, {"class_names": [c.name for c in synthetic.CLASSES], "fps": 8.0,
                                               "size": 32, "resize": 32, "mean": IMAGENET_MEAN,
                                               "std": IMAGENET_STD})
    cfg = {"model": {"name": "tan_tiny"},
           "data": {"annotations": str(root / "data" / "annotations.json"), "format": "dense_json",
                    "classes": str(root / "data" / "classes.txt"), "videos": str(root / "data" / "videos"),
                    "fps": 8, "size": 32, "resize": 32, "num_workers": 0}}
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    return root


def test_devices_resolve_or_fail_in_one_line():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "cuda:x", ""):
        with pytest.raises(InputError, match="--device must be"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device is available here"):
            resolve_device("cuda:0")
    assert resolve_precision("auto", "cpu") == default_precision("cpu")
    with pytest.raises(InputError, match="on cpu"):
        resolve_precision("16", "cpu")  # fp16 autocast is a GPU precision


def test_evaluate_on_the_cpu_with_decoding_workers_equals_the_plain_run(work):
    from tan_video.config import load_config

    plain = evaluate(load_config(work / "cfg.yaml"), work / "model.pt", work / "e0", precision="32",
                     progress=False, device="cpu")
    workers = evaluate(load_config(work / "cfg.yaml", ["data.num_workers=2"]), work / "model.pt", work / "e2",
                       precision="32", progress=False, device="auto" if not torch.cuda.is_available() else "cpu")
    assert plain["device"] == "cpu" and workers["device"] == "cpu"
    assert plain["num_videos"] == workers["num_videos"] == 5
    assert plain["per_class_ap"] == workers["per_class_ap"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_gpu_that_is_not_here_is_a_one_line_error(work, capsys):
    assert main(["evaluate", "--config", str(work / "cfg.yaml"), "--checkpoint", str(work / "model.pt"),
                 "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device is available here" in err and "Traceback" not in err
    video = next((work / "data" / "videos").glob("*.mp4"))
    assert main(["predict", str(video), "--checkpoint", str(work / "model.pt"), "--out", str(work / "p"),
                 "--device", "cuda:1"]) == 2


@cuda
@pytest.mark.parametrize("name", ["tan_tiny", "tan_r50"])
def test_fused_model_on_cuda_equals_the_cpu(name):
    torch.manual_seed(0)
    model = tv.create_model(name, num_classes=7).eval().fuse()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        ref = model(x)
        out = model.to("cuda")(x.cuda()).cpu()
    assert ((out - ref).norm() / ref.norm()).item() < 1e-3  # TF32 convolutions on Ampere and later


@cuda
def test_predict_and_evaluate_on_cuda_equal_the_cpu(work):
    from tan_video.config import load_config

    video = next((work / "data" / "videos").glob("*.mp4"))
    cpu = tv.predict_video(work / "model.pt", video, precision="32", device="cpu")
    gpu = tv.predict_video(work / "model.pt", video, precision="32", device="cuda")
    assert np.abs(cpu.probabilities - gpu.probabilities).max() < 1e-3
    a = evaluate(load_config(work / "cfg.yaml"), work / "model.pt", work / "c", precision="32", progress=False,
                 device="cpu")
    b = evaluate(load_config(work / "cfg.yaml"), work / "model.pt", work / "g", precision="32", progress=False,
                 device="cuda")
    assert b["device"].startswith("cuda") and abs(a["frame_map"] - b["frame_map"]) < 1e-3
    assert json.loads((work / "g" / "metrics.json").read_text())["device"].startswith("cuda")


def test_shards_are_disjoint_cover_every_video_once_and_share_the_work():
    from tan_video.evaluation import shard, world_size

    durations = [30.0, 5.0, 12.0, 30.0, 1.0, 8.0, 20.0]
    for world in (1, 2, 3, 7, 9):
        parts = [shard(durations, r, world) for r in range(world)]
        flat = [i for p in parts for i in p]
        assert sorted(flat) == list(range(len(durations)))  # each index exactly once
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    two = [sum(durations[i] for i in shard(durations, r, 2)) for r in (0, 1)]
    assert abs(two[0] - two[1]) <= max(durations)  # longest first, dealt in turn
    with pytest.raises(ValueError):
        shard(durations, 2, 2)
    assert world_size(1) == 1 and world_size(2, num_nodes=3) == 6 and world_size([0, 1]) == 2
    with pytest.raises(InputError, match="devices must be"):
        world_size("two")


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["lightning", "torchrun"])
def test_evaluate_in_two_processes_equals_one_process(work, launcher):
    import os
    import subprocess
    import sys

    from tan_video.config import load_config

    one = evaluate(load_config(work / "cfg.yaml"), work / "model.pt", work / "one", precision="32",
                   progress=False, device="cpu")
    out = work / f"two_{launcher}"
    args = ["-m", "tan_video.cli", "evaluate", "--config", str(work / "cfg.yaml"), "--checkpoint",
            str(work / "model.pt"), "--out", str(out), "--device", "cpu", "--precision", "32", "--no-progress"]
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29541", *args,
               "train.strategy=ddp"]
    else:
        cmd = [sys.executable, *args, "--devices", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("frame_map") == 1  # one report, from process 0
    two = json.loads((out / "metrics.json").read_text())
    assert two["processes"] == 2 and sorted(two["videos_per_process"]) == [2, 3]
    assert two["num_videos"] == one["num_videos"] == 5 and two["num_frames"] == one["num_frames"]
    assert two["per_class_ap"] == one["per_class_ap"] and two["video_map"] == one["video_map"]
    assert (out / "classify_submission.txt").read_text() == (work / "one" / "classify_submission.txt").read_text()
