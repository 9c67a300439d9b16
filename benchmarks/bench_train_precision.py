"""One training step of the tiny models in fp32 and in bf16 autocast, side by side.

    python benchmarks/bench_train_precision.py [--frames 16] [--batch 8] [--repeats 5]

What ``train.precision: auto`` decides from: on a CPU without native bf16 (no AVX512-BF16 or
AMX), PyTorch has no oneDNN bf16 convolution and falls back to a reference kernel, so
bf16-mixed is several times *slower* than fp32 there. Each row: the median seconds of a
forward + backward + Adam step on a batch of clips (channels_last, after one warm-up step), for
fp32 and bf16, and the ratio. Writes ``benchmarks/results/train_precision.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

import tan_video as tv
from tan_video.benchmark import machine_info


def step_seconds(name: str, bf16: bool, frames: int, batch: int, size: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = tv.create_model(name, num_classes=14)
    model = model.to(memory_format=model.memory_format)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(batch, 3, frames, size, size), torch.rand(batch, frames, 14).round()
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = F.binary_cross_entropy_with_logits(out.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--models", nargs="+", default=["tan_tiny", "tiny_2d_lstm", "tiny_3d"])
    p.add_argument("--out", default="benchmarks/results/train_precision.json")
    args = p.parse_args()
    torch.set_flush_denormal(True)
    rows = []
    for name in args.models:
        fp32 = step_seconds(name, False, args.frames, args.batch, args.size, args.repeats)
        bf16 = step_seconds(name, True, args.frames, args.batch, args.size, args.repeats)
        rows.append({"model": name, "fp32_s": round(fp32, 4), "bf16_s": round(bf16, 4),
                     "bf16_over_fp32": round(bf16 / fp32, 2)})
        print(rows[-1], flush=True)
    native = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    result = {"rows": rows, "clip": f"{args.batch}x{args.frames}x{args.size}x{args.size}", "layout": "channels_last",
              "statistic": f"median of {args.repeats} steps after one warm-up", "onednn_bf16": native,
              "machine": machine_info()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
