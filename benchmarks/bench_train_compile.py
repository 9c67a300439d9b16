"""Does ``torch.compile`` of a training step pay back within one demo run? Measured per demo model.

    python benchmarks/bench_train_compile.py [--repeats 10]

Each demo model (at the demo's clip, batch and size, channels_last, fp32 or the demo's
precision) trains eagerly and compiled, in one process: the eager step's median; the compiled
model's first step (compilation included) and its median step after that. Compilation pays
back after ``(first compiled step - eager step) / (eager step - compiled step)`` steps; one demo
run trains each model for ``epochs x ceil(num_train / batch)`` steps. Writes
``benchmarks/results/train_compile.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

import tan_video as tv
from tan_video.benchmark import machine_info
from tan_video.demo import DEMO_MODELS, DemoSettings
from tan_video.inference import autocast
from tan_video.training import train_precision


def steps(model, opt, x, y, n: int, precision: str) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        with autocast(precision):
            out = model(x)
        loss = F.binary_cross_entropy_with_logits(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times


def measure(name: str, args: dict, s: DemoSettings, precision: str, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(s.batch_size, 3, s.clip_frames, s.size, s.size, generator=g)
    y = (torch.rand(s.batch_size, s.clip_frames, 14, generator=g) < 0.2).float()
    out = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        model = tv.create_model(name, num_classes=14, **args)
        model = model.to(memory_format=model.memory_format).train()
        opt = torch.optim.Adam(model.parameters(), s.lr)
        fn = torch.compile(model) if compiled else model
        times = steps(fn, opt, x, y, repeats + 1, precision)
        out["compiled" if compiled else "eager"] = {"first_s": round(times[0], 3),
                                                     "median_s": round(statistics.median(times[1:]), 4)}
        torch._dynamo.reset()
    eager, comp = out["eager"]["median_s"], out["compiled"]["median_s"]
    extra = out["compiled"]["first_s"] - eager
    out["speedup"] = round(eager / comp, 3)
    out["break_even_steps"] = math.ceil(extra / (eager - comp)) if eager > comp else None
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", default="benchmarks/results/train_compile.json")
    a = p.parse_args()
    torch.set_flush_denormal(True)
    s = DemoSettings()
    precision = train_precision(type("T", (), {"precision": s.precision, "accelerator": "cpu"})())
    demo_steps = s.epochs * math.ceil(s.num_train / s.batch_size)
    rows = []
    for key, _, name, args in DEMO_MODELS:
        r = {"demo_model": key, "model": name, "args": args, **measure(name, args, s, precision, a.repeats)}
        r["pays_back_in_one_demo_run"] = r["break_even_steps"] is not None and r["break_even_steps"] <= demo_steps
        saved = (r["eager"]["median_s"] - r["compiled"]["median_s"]) * demo_steps
        r["seconds_saved_per_demo_run"] = round(saved - (r["compiled"]["first_s"] - r["eager"]["median_s"]), 1)
        rows.append(r)
        print(json.dumps(r), flush=True)
    result = {"rows": rows, "clip": f"{s.batch_size}x{s.clip_frames}x{s.size}x{s.size}", "precision": precision,
              "steps_per_demo_model": demo_steps, "statistic": f"median of {a.repeats} steps after the first",
              "machine": machine_info()}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
