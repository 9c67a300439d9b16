"""Where one clip's inference time goes, by operator (PyTorch's profiler), in the form predict runs.

    python benchmarks/profile_inference.py [--model tan_r50] [--size 224] [--frames 16] [--precision 32]

The model is built as ``tan-video bench --speed`` builds it (trained-like TA branches), then put in
the inference form (``prepare_for_inference``: fused, channels_last, packed on the CPU); after one
warm-up pass, one pass is profiled. Prints the operator table and writes it, with the setting and
the machine, to ``benchmarks/results/profile_<model>_<frames>x<size>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.profiler import profile

from tan_video.benchmark import build, machine_info
from tan_video.inference import autocast, prepare_for_inference


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tan_r50")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--precision", default="32", choices=["32", "bf16"])
    p.add_argument("--out", default="benchmarks/results")
    a = p.parse_args()
    model = prepare_for_inference(build(a.model), device="cpu")
    x = torch.randn(1, 3, a.frames, a.size, a.size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), autocast(a.precision):
        model(x)
        with profile() as prof:
            model(x)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    rows = [{"op": e.key, "calls": e.count, "self_ms": round(e.self_cpu_time_total / 1000, 2),
             "share": round(e.self_cpu_time_total / total, 4)} for e in events if e.self_cpu_time_total > 0]
    for r in rows[:12]:
        print(f"{r['op']:40s} {r['calls']:5d} {r['self_ms']:10.1f} ms {100 * r['share']:6.2f}%")
    out = Path(a.out) / f"profile_{a.model}_{a.frames}x{a.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": a.model, "input": f"{a.frames}x{a.size}", "precision": a.precision,
                               "form": "prepare_for_inference (fused, channels_last, packed)",
                               "total_ms": round(total / 1000, 1), "ops": rows, "machine": machine_info()},
                              indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
