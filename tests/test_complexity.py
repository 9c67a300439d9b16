"""Complexity counting: MACs against hand-derived counts, the bench command's files."""

from __future__ import annotations

import json

import tan_video as tv
from tan_video.cli import main
from tan_video.complexity import count_macs, count_params


def test_ta_macs_match_the_formula():
    # The paper's module is 3 branches x 3 taps x C_i^2 MACs per output pixel per frame; computed as
    # one convolution of 7 taps (dilations 1, 2, 3 overlap at the centre) it costs 7 x C_i^2, in
    # training as in inference. At 224 px the levels' maps are 56, 28, 14, 7 px wide and
    # C = 256..2048, so every level costs the same: 7 * 256^2 * 56^2 * 16 frames.
    per_level = 7 * 256**2 * 56**2 * 16
    assert count_macs("tan_r50", 16, 224) - count_macs("tan_r50", 16, 224, levels=()) == 4 * per_level
    assert count_macs("tan_r50", 16, 224, dilations=(1,)) - count_macs("tan_r50", 16, 224, levels=()) == 4 * per_level * 3 // 7


def test_the_fused_form_does_the_same_7_taps_and_folds_the_rest():
    assert count_macs("tan_r50", 16, 224, fused=True) <= count_macs("tan_r50", 16, 224)  # (BN folded: no MACs)
    assert count_macs("tan_r50", 16, 224) - count_macs("tan_r50", 16, 224, fused=True) < 1e-3 * count_macs("tan_r50", 16, 224)
    assert count_macs("tiny_3d", 8, 64, fused=True) == count_macs("tiny_3d", 8, 64)  # nothing to fuse


def test_per_frame_resnet50_costs_its_published_4_1_gmacs():
    per_frame = count_macs("tan_r50", 1, 224, num_classes=1000, levels=())
    assert 4.08e9 < per_frame < 4.12e9  # torchvision lists resnet50 at 4.09 GFLOPs (multiply-adds)


def test_3d_baseline_costs_less_than_per_frame_2d_because_of_its_temporal_stride():
    assert count_macs("r50_3d", 16, 112) < count_macs("tan_r50", 16, 112, levels=())


def test_bench_complexity_writes_json_and_markdown(tmp_path, capsys):
    assert main(["bench", "--complexity", "--models", "tan_tiny", "tiny_3d", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "complexity.json").read_text())
    rows = {r["model"]: r for r in data["models"]}
    assert set(rows) == {"tan_tiny", "tiny_3d"}
    assert rows["tan_tiny"]["temporal_rf"] == "+-12 frames"
    assert rows["tan_tiny"]["params_m"] == round(count_params(tv.create_model("tan_tiny", num_classes=157)) / 1e6, 2)
    assert rows["tan_tiny"]["gmacs_16x224"] > rows["tan_tiny"]["gmacs_16x112"] > 0
    assert "| tan_tiny |" in (tmp_path / "complexity.md").read_text()
    assert "tan_tiny" in capsys.readouterr().out


def test_unknown_model_is_a_one_line_usage_error(tmp_path, capsys):
    assert main(["bench", "--complexity", "--models", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tan-video: error: unknown model 'nope'") and "\n" not in err
