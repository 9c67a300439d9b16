"""Milliseconds per training step of the demo's five models, for budgeting the demo.

    python benchmarks/demo_step_times.py --batch 8 --clip 16 --size 48 [--pool] [--precision bf16]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/demo_step_times.py ...  # AVX2 kernels

One Adam step (forward, BCE on every frame, backward, update) on random clips, median of
``--steps`` after two warm-up steps, each model in turn (no data loading: the demo decodes every
video once into memory). Prints one line per model and the sum.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from tan_video.demo import DEMO_MODELS
from tan_video.models import create_model


def step_ms(name: str, args: dict, batch: int, clip: int, size: int, pool: bool, bf16: bool, steps: int) -> float:
    torch.manual_seed(0)
    model = create_model(name, num_classes=14, stem_pool=pool, **args)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(batch, 3, clip, size, size), (torch.rand(batch, clip, 14) > 0.8).float()
    times = []
    for _ in range(steps + 2):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times[2:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--clip", type=int, default=16)
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--pool", action="store_true", help="ResNet's stem max-pool (the tiny models' default before 2026-12-04)")
    p.add_argument("--precision", choices=["32", "bf16"], default="32")
    p.add_argument("--steps", type=int, default=6)
    a = p.parse_args()
    total = 0.0
    for key, _, name, args in DEMO_MODELS:
        ms = step_ms(name, args, a.batch, a.clip, a.size, a.pool, a.precision == "bf16", a.steps)
        total += ms
        print(f"{key:12s} {a.batch}x{a.clip}x{a.size}px pool={a.pool} {a.precision}: {ms:.0f} ms/step", flush=True)
    print(f"{'sum':12s} {total:.0f} ms/step")


if __name__ == "__main__":
    main()
