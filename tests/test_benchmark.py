"""The speed benchmark's measuring code (not the machine's speed: no timed assertions here)."""

import json
import subprocess
import sys

import pytest
import torch

from tan_video import benchmark as B
from tan_video.inference import default_precision


def test_best_of_calls_warmup_then_repeats_and_keeps_the_minimum():
    calls = []
    t = B.best_of(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6
    assert 0 <= t["best"] <= t["median"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc counters")
def test_peak_memory_sees_a_transient_allocation():
    # in a fresh process, as `tan-video bench --speed` runs: a long-lived process's warm heap
    # (pages freed by earlier work but still resident) can serve an allocation without new RSS
    code = (
        "import torch\n"
        "from tan_video import benchmark as B\n"
        "from tan_video.inference import bound_heap_growth\n"
        "bound_heap_growth()\n"
        "print(B.peak_memory_mb(lambda: float(torch.ones(64 * 2**20 // 4)[-1])))\n"  # 64 MiB written, freed
        "print(B.peak_memory_mb(lambda: None))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert 56 <= float(out[0]) <= 90
    assert float(out[1]) < 8


def test_inference_row_fields_are_consistent():
    row = B.inference_row("tan_tiny", frames=4, size=32, precision="32", channels_last=True, fused=True, repeats=1,
                          peak={"fp32": {"peak": 100.0}, "bf16": {"peak": 200.0}})
    assert row["fused"] is True and row["layout"] == "channels_last"
    assert row["gflops_per_second"] == pytest.approx(2 * row["gmacs"] / row["seconds"], rel=0.02)
    assert row["fraction_of_peak"] == pytest.approx(row["gflops_per_second"] / 100.0, abs=2e-3)
    for name in ("tiny_3d", "tiny_2d_lstm"):  # fused: BatchNorms folded
        baseline = B.inference_row(name, frames=4, size=32, fused=True, repeats=1)
        assert baseline["fused"] is True and baseline["packed"] is False
        assert "fraction_of_peak" not in baseline  # no peak given


def test_build_fuses_and_converts_layout_as_asked():
    model = B.build("tan_tiny", num_classes=5, fused=True, channels_last=True)
    assert all(ta.fused is not None for ta in model.temporal_modules())
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert any(ta.fused.weight.abs().sum() > ta.channels for ta in model.temporal_modules())  # non-zero branches


def test_ta_module_rows_cover_the_four_levels():
    rows = B.ta_module_rows(frames=4, size=64, repeats=1)
    assert [r["level"] for r in rows] == [1, 2, 3, 4]
    assert rows[3]["shape"] == "2048x4x2x2"
    assert all(r["speedup"] == pytest.approx(r["unfused_ms"] / r["fused_ms"], rel=0.05) for r in rows)


def _row(precision, layout, fused, seconds, compiled=False, packed=False, model="tan_r50", gflops=100.0):
    return {"model": model, "input": "16x112", "precision": precision, "layout": layout, "fused": fused,
            "packed": packed, "compiled": compiled, "seconds": seconds, "fraction_of_peak": 0.5,
            "gflops_per_second": gflops}


def test_summary_ratios_and_targets_come_from_the_matching_rows():
    result = {"setup": {"frames": 16, "sizes": [112], "precisions": ["32", "bf16"], "device": "cpu"}, "inference": [
        _row("32", "NCHW", False, 3.0), _row("32", "channels_last", False, 2.5), _row("32", "channels_last", True, 2.0),
        _row("32", "channels_last", True, 1.6, packed=True, gflops=150.0),
        _row("bf16", "channels_last", True, 0.8, packed=True, gflops=300.0),
        _row("bf16", "channels_last", True, 0.7, compiled=True),
        _row("32", "channels_last", False, 1.0, model="peer_r3d_18", gflops=120.0),
        _row("bf16", "channels_last", False, 1.0, model="peer_r3d_18", gflops=400.0)]}
    summary = B.summarize(result)
    s = summary["16x112"]
    assert s["tan_r50_bf16_speedup"] == 2.0  # the inference form (fused + packed) in both precisions
    assert s["tan_r50_fused_speedup_fp32"] == 1.25 and s["tan_r50_packed_speedup_fp32"] == 1.25
    assert s["tan_r50_inference_form_speedup_fp32"] == round(2.5 / 1.6, 2)
    assert s["tan_r50_channels_last_speedup_fp32"] == 1.2
    assert s["tan_r50_fastest"]["compiled"] is True and s["tan_r50_fastest"]["seconds"] == 0.7
    targets = {(t["target"], t.get("precision")): t for t in summary["targets"]}
    assert targets[("fp32_fraction_of_peak", None)]["met"] is False  # 0.5 < 0.8
    assert targets[("fused_speedup_fp32", None)]["value"] == round(2.5 / 1.6, 2)
    assert targets[("bf16_speedup", None)]["met"] is True
    assert targets[("gflops_over_best_peer", "32")]["value"] == 1.25  # 150 over the peer's 120
    assert targets[("gflops_over_best_peer", "bf16")]["met"] is False  # 300 over 400


def test_the_peers_match_torchvisions_published_sizes():
    # torchvision's r3d_18: 33.4 M parameters, 40.7 GMACs at 16x112; r2plus1d_18: 31.5 M, 40.5 GMACs
    params = {n: sum(p.numel() for p in B.PEERS[n]().parameters()) for n in B.PEERS}
    assert round(params["peer_r3d_18"] / 1e6, 1) == 33.4 and round(params["peer_r2plus1d_18"] / 1e6, 1) == 31.5
    assert round(B._peer_macs("peer_r3d_18", 16, 112) / 1e9, 1) == 40.7
    assert round(B._peer_macs("peer_r2plus1d_18", 16, 112) / 1e9, 1) == 40.5
    out = B.build("peer_r3d_18")(torch.randn(1, 3, 4, 32, 32))
    assert out.shape == (1, 400)


def test_cli_speed_bench_writes_json_and_markdown(tmp_path):
    cmd = [sys.executable, "-m", "tan_video.cli", "bench", "--speed", "--models", "tan_tiny", "tiny_3d",
           "--sizes", "32", "--frames", "4", "--repeats", "1", "--no-compile", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "speed.json").read_text())
    precisions = result["setup"]["precisions"]
    # bf16 only where this CPU has it natively (emulated bf16 is many times slower and says nothing)
    assert precisions == (["32", "bf16"] if default_precision() == "bf16" else ["32"])
    assert result["peak_gflops"]["fp32"]["peak"] > 0 and set(result["peak_gflops"]) == {"fp32"} | (
        {"bf16"} if "bf16" in precisions else set())
    # per precision: plain NCHW, plain channels_last, fused, fused + packed (2D convs only), each peer once
    assert sum(r["model"] == "tan_tiny" for r in result["inference"]) == 4 * len(precisions)
    assert sum(r["model"] == "tiny_3d" for r in result["inference"]) == 3 * len(precisions)
    assert sum(r["model"] in B.PEERS for r in result["inference"]) == len(B.PEERS) * len(precisions)
    assert all("error" not in r for r in result["inference"])
    assert {r["precision"] for r in result["training"]} == set(precisions)
    assert "torch" in result["machine"] and "date" in result["machine"]
    assert "| tan_tiny | 4x32 |" in (tmp_path / "speed.md").read_text()


def test_cli_bench_needs_a_choice_and_known_models(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tan_video.cli", "bench", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--complexity and/or --speed" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "tan_video.cli", "bench", "--speed", "--models", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown model(s) nope" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "tan_video.cli", "bench", "--speed", "--device", "tpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--device must be" in proc.stderr and "Traceback" not in proc.stderr


def test_machine_info_records_the_dispatch_level_and_bf16_support():
    info = B.machine_info()
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # e.g. "AVX512", never left out
    assert info["cpu_capability"] is not None
    assert info["cores"] >= 1 and info["torch"] == torch.__version__
    assert isinstance(info["avx512_bf16"], bool) and isinstance(info["amx_bf16"], bool)
