"""bf16 on every machine: right convolution gradients, training steps of every tiny model, the
non-finite guard, precision as users spell it. Runs on AVX2 (bf16 emulated, small sizes) and on
AVX-512/AMX CPUs with native bf16 alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import tan_video as tv
from tan_video.cli import main
from tan_video.config import load_config, normalize_precision
from tan_video.data import synthetic
from tan_video.errors import InputError, TrainingDiverged
from tan_video.inference import inference_precision
from tan_video.models.bf16 import GuardedConv2d, GuardedConv3d, guard_bf16_convolutions, needs_fp32
from tan_video.training import fit

from test_training import write_config

TINY = ["tan_tiny", "tiny_2d_lstm", "tiny_3d"]

# convolutions whose input is smaller than the kernel's reach: oneDNN's bf16 backward-weights
# kernels got these wrong (AMX: the 1x1 maps; AVX512-BF16, Zen 4: also 2 frames under a 3-tap kernel)
AT_RISK = [
    ("3x3x3 on 2 frames of 2x2 (tiny_3d level 4)", nn.Conv3d(32, 32, 3, padding=1, bias=False), (4, 32, 2, 2, 2)),
    ("3x3x3 stride 2 to 1x1", nn.Conv3d(16, 32, 3, stride=2, padding=1, bias=False), (4, 16, 4, 1, 1)),
    ("3x3 stride 2 on 1x1", nn.Conv2d(32, 32, 3, stride=2, padding=1, bias=False), (8, 32, 1, 1)),
]


def _weight_grad_error(conv: nn.Module, shape) -> float:
    """Relative error of the weight gradient under bf16 autocast against float64 on the same
    bf16-rounded input and weight (what a right bf16 kernel computes, up to bf16 rounding)."""
    torch.manual_seed(0)
    x = torch.randn(shape)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    gy = torch.randn(y.shape)
    y.float().backward(gy)
    xr = x.bfloat16().double()
    wr = conv.weight.detach().bfloat16().double().requires_grad_()
    op = F.conv3d if x.dim() == 5 else F.conv2d
    op(xr, wr, stride=conv.stride, padding=conv.padding).backward(gy.double())
    return float((conv.weight.grad.double() - wr.grad).norm() / wr.grad.norm())


@pytest.mark.parametrize("case", AT_RISK, ids=[c[0] for c in AT_RISK])
def test_a_guarded_convolution_has_the_right_weight_gradient_under_bf16(case):
    _, conv, shape = case
    guard_bf16_convolutions(conv)
    assert isinstance(conv, (GuardedConv2d, GuardedConv3d))
    assert _weight_grad_error(conv, shape) < 0.02


def _has_avx512_bf16() -> bool:
    try:
        return bool(torch.cpu.get_capabilities().get("avx512_bf16"))
    except (AttributeError, RuntimeError):
        return False


@pytest.mark.skipif(not _has_avx512_bf16(), reason="needs a CPU with AVX512-BF16")
def test_the_guard_holds_on_the_avx512_bf16_kernels_too():
    """On an AMX machine, oneDNN can be held to its AVX512-BF16 kernels (those of Zen 4, where the
    3D baseline's loss turned NaN): the guarded convolutions are right there too."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from test_bf16 import AT_RISK, _weight_grad_error\n"
            "from tan_video.models.bf16 import guard_bf16_convolutions\n"
            "errors = []\n"
            "for _, conv, shape in AT_RISK:\n"
            "    guard_bf16_convolutions(conv)\n"
            "    errors.append(_weight_grad_error(conv, shape))\n"
            "print(max(errors))\n") % str(Path(__file__).parent)
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    assert float(done.stdout.strip()) < 0.02


def test_needs_fp32_only_where_a_bf16_gradient_would_be_computed_on_a_small_input():
    conv = nn.Conv3d(8, 8, 3, padding=1)
    small, large = torch.randn(1, 8, 2, 4, 4), torch.randn(1, 8, 4, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert needs_fp32(conv, small)  # 2 frames under a 3-tap kernel
        assert not needs_fp32(conv, large)
        with torch.no_grad():
            assert not needs_fp32(conv, small)  # inference: the forward kernels are right
    assert not needs_fp32(conv, small)  # fp32: nothing to do
    assert needs_fp32(conv.bfloat16(), small.bfloat16())  # a model held in bf16 ("bf16-true")
    dilated = nn.Conv2d(8, 8, (3, 1), padding=(3, 0), dilation=(3, 1))  # reach 7 frames
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert needs_fp32(dilated, torch.randn(1, 8, 6, 4)) and not needs_fp32(dilated, torch.randn(1, 8, 7, 4))


def test_a_guarded_convolution_keeps_its_dtype_contract():
    conv = nn.Conv3d(8, 8, 3, padding=1)
    guard_bf16_convolutions(conv)
    x = torch.randn(2, 8, 2, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(x).dtype == torch.float32  # computed in fp32; autocast casts for the next op
        with torch.no_grad():
            assert conv(x).dtype == torch.bfloat16  # the plain bf16 path
    held = conv.bfloat16()
    assert held(x.bfloat16()).dtype == torch.bfloat16  # a bf16 model gets bf16 back


@pytest.mark.parametrize("name", [n for n in tv.list_models() if n not in ("linear_head", "lstm_head")])  # (no convs)
def test_every_model_of_the_zoo_has_guarded_convolutions(name):
    if name.startswith(("tan_r", "r50")) and name not in ("tan_r50", "r50_3d"):
        pytest.skip("the deeper ResNets are built the same way")
    model = tv.create_model(name)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    assert convs and all(type(m).__name__.startswith("Guarded") for m in convs)
    assert guard_bf16_convolutions(model) == len(convs)  # idempotent
    assert list(model.state_dict()) == list(tv.create_model(name).state_dict())  # names unchanged


@pytest.mark.parametrize("name", TINY)
def test_each_tiny_model_trains_a_step_under_bf16_mixed(name):
    """Forward + backward + Adam step under bf16 autocast (as Lightning's bf16-mixed), small enough
    for the emulated bf16 of an AVX2 CPU; gradients finite and close to fp32's."""
    torch.manual_seed(0)
    model = tv.create_model(name, num_classes=5).eval()  # eval: no dropout, both passes compute one function
    tv.models.to_channels_last(model)
    reference = tv.create_model(name, num_classes=5).eval()
    reference.load_state_dict(model.state_dict())
    clip, targets = torch.randn(2, 3, 8, 32, 32), (torch.rand(2, 8, 5) < 0.3).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(clip)
    assert logits.shape == (2, 8, 5) and torch.isfinite(logits).all()
    F.binary_cross_entropy_with_logits(logits.float(), targets).backward()
    F.binary_cross_entropy_with_logits(reference(clip), targets).backward()
    grads = [(p.grad, q.grad) for p, q in zip(model.parameters(), reference.parameters())]
    assert all(torch.isfinite(g).all() for g, _ in grads)
    flat = torch.cat([g.flatten() for g, _ in grads]), torch.cat([r.flatten() for _, r in grads])
    assert torch.nn.functional.cosine_similarity(*flat, dim=0) > 0.98  # the same direction as fp32's
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())


# -- the non-finite guard ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn")
    synthetic.generate(root, num_train=8, num_test=4, frames=16, size=32, fps=8.0, seed=2)
    return root


class PoisonAt(L.Callback):
    """Makes the classifier's bias NaN before optimiser step ``step`` (counted from 1)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step + 1 == self.step:
            with torch.no_grad():
                pl_module.model.fc.bias.fill_(float("nan"))


def test_training_stops_at_the_first_non_finite_loss_and_keeps_the_last_good_checkpoint(data, tmp_path):
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data, tmp_path / "run", epochs=3, precision="32",
                                   checkpoint_every_steps=1))
    with pytest.raises(TrainingDiverged) as info:
        fit(cfg, callbacks=[PoisonAt(4)])
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "run") in message and "optimiser step 4" in message and "loss is nan" in message
    assert "train.lr" in message and "last.ckpt (step 3)" in message
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert state["model.fc.bias"].isfinite().all()  # written before the bad step
    assert not (tmp_path / "run" / "model.pt").exists()


def test_the_train_command_exits_2_with_one_line_on_divergence(data, tmp_path, monkeypatch, capsys):
    from tan_video import training

    original = training.TANModule.training_step

    def nan_at_second(self, batch, batch_idx):
        loss = original(self, batch, batch_idx)
        return loss * float("nan") if self.trainer.global_step == 1 else loss

    monkeypatch.setattr(training.TANModule, "training_step", nan_at_second)
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run", precision=32)
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tan-video: error: ") and "optimiser step 2" in err[0]
    assert "train.precision=32" not in err[0]  # already fp32: only the lr advice


def test_a_checkpoint_with_non_finite_weights_is_one_line_for_evaluate_and_predict(data, tmp_path, capsys):
    from tan_video.checkpoint import save_model_file

    model = tv.create_model("tan_tiny", num_classes=len(synthetic.CLASSES))
    with torch.no_grad():
        model.layer4[0].conv1.weight[0, 0, 0, 0] = float("nan")
    meta = {"class_names": [c.name for c in synthetic.CLASSES], "fps": 8.0, "size": 32, "resize": 32,
            "mean": tv.models.weights.IMAGENET_MEAN, "std": tv.models.weights.IMAGENET_STD}
    ckpt = save_model_file(tmp_path / "model.pt", model, meta)
    cfg = write_config(tmp_path / "cfg.yaml", data, tmp_path / "run")
    assert main(["evaluate", "--config", str(cfg), "--checkpoint", str(ckpt), "--no-progress"]) == 2
    video = next((data / "videos").iterdir())
    assert main(["predict", str(video), "--checkpoint", str(ckpt), "--out", str(tmp_path / "p"), "--no-progress"]) == 2
    for line in capsys.readouterr().err.strip().splitlines():
        assert "NaN or inf" in line and str(ckpt) in line and "layer4.0.conv1.weight" in line


def test_scores_that_are_not_finite_name_the_model():
    from tan_video.data.annotations import VideoAnnotation
    from tan_video.evaluation import VideoPrediction, check_finite

    ann = VideoAnnotation("v1", 2.0, [], "testing")
    good = VideoPrediction(ann, np.arange(4) / 2, np.full((4, 3), 0.5))
    bad = VideoPrediction(VideoAnnotation("v2", 2.0, [], "testing"), np.arange(4) / 2, np.full((4, 3), np.nan))
    check_finite([good], "m.pt")
    with pytest.raises(InputError, match=r"m\.pt: .* 1 of 2 test videos \(first v2\) at precision bf16; try --precision 32"):
        check_finite([good, bad], "m.pt", "bf16")


# -- precision as users spell it ----------------------------------------------------------------------
@pytest.mark.parametrize("given, expected", [
    (32, "32-true"), ("32", "32-true"), ("32-true", "32-true"), (16, "16-mixed"), ("16-mixed", "16-mixed"),
    (64, "64-true"), ("bf16", "bf16-mixed"), ("bf16-mixed", "bf16-mixed"), ("bf16-true", "bf16-true"),
    ("auto", "auto"), ("BF16", "bf16-mixed")])
def test_training_precision_in_every_spelling(given, expected, tmp_path):
    assert normalize_precision(given) == expected
    path = tmp_path / "c.yaml"
    path.write_text(f"train:\n  precision: {given}\n")
    assert load_config(path).train.precision == expected  # YAML reads 32 as a number


@pytest.mark.parametrize("bad", ["fp32", 8, "bf32", True, None])
def test_an_unknown_precision_is_one_line_listing_the_accepted_ones(bad, tmp_path):
    with pytest.raises(InputError, match=r"train\.precision must be one of auto, 32, 32-true, .*bf16-mixed"):
        load_config(None, [f"train.precision={'null' if bad is None else bad}"])


def test_inference_precision_spellings_on_the_command_line(capsys):
    assert inference_precision("32-true") == "32" and inference_precision(32) == "32"
    assert inference_precision("bf16-mixed") == "bf16" and inference_precision("16-mixed") == "16"
    with pytest.raises(SystemExit) as info:
        main(["predict", "v.mp4", "--checkpoint", "m.pt", "--precision", "fp8"])
    assert info.value.code == 2
    assert "precision must be one of auto, 32, 32-true, bf16" in capsys.readouterr().err


def test_training_at_precision_32_from_yaml_runs(data, tmp_path):
    """The spelling that used to fail (``precision: 32`` read by YAML as a number)."""
    cfg = load_config(write_config(tmp_path / "cfg.yaml", data, tmp_path / "run", epochs=1, precision=32))
    result = fit(cfg)
    assert result["global_step"] == 2 and json.loads((tmp_path / "run" / "metrics.json").read_text())["frame_map"] >= 0
