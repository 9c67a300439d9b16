"""What folding BatchNorm into the convolutions buys at inference (issue: inference at the machine's limit).

For each model and size, in one process, alternating A B A B: A is the model with its TA modules
fused but every BatchNorm kept (the inference form before BN folding), B is ``model.fuse()`` (TA
modules fused and every BatchNorm folded). fp32, channels_last, eval, batch 1, 16 frames.
Writes ``benchmarks/results/fold_bn.json``: per pair the seconds of A and B, their ratio, and
the medians; the machine (load average included) is recorded with the figures.

    python benchmarks/bench_fold_bn.py [--models tan_r50 r50_3d] [--sizes 112] [--pairs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from tan_video.benchmark import _as_trained, machine_info
from tan_video.models import create_model, to_channels_last


def build(name: str, fold: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = _as_trained(create_model(name, num_classes=157)).eval()
    if fold:
        model.fuse()
    else:
        for ta in getattr(model, "temporal_modules", lambda: [])():
            ta.fuse()
    return to_channels_last(model)


def seconds(model, clip) -> float:
    with torch.inference_mode():
        t = time.perf_counter()
        model(clip)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["tan_r50", "r50_3d", "tan_tiny"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[112])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "fold_bn.json"))
    args = ap.parse_args()
    rows = []
    for name in args.models:
        kept, folded = build(name, False), build(name, True)
        bns = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in kept.modules())
        for size in args.sizes:
            clip = torch.randn(1, 3, 16, size, size)
            with torch.inference_mode():
                diff = float(((folded(clip) - kept(clip)).norm() / kept(clip).norm()))
            for m in (kept, folded):  # warm-up: oneDNN primitives, allocator
                seconds(m, clip)
            pairs = [(seconds(kept, clip), seconds(folded, clip)) for _ in range(args.pairs)]
            row = {"model": name, "size": size, "batchnorms_folded": bns, "relative_difference": diff,
                   "seconds_bn_kept": [round(a, 4) for a, _ in pairs], "seconds_bn_folded": [round(b, 4) for _, b in pairs],
                   "median_ratio_kept_over_folded": round(statistics.median(a / b for a, b in pairs), 3)}
            rows.append(row)
            print(f"{name} 16x{size}: BN kept {statistics.median(a for a, _ in pairs):.3f} s, folded "
                  f"{statistics.median(b for _, b in pairs):.3f} s, median ratio {row['median_ratio_kept_over_folded']}"
                  f" ({bns} BatchNorms folded, relative difference {diff:.1e})")
    Path(args.out).write_text(json.dumps({"machine": machine_info(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
