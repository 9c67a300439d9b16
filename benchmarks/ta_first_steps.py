"""How far the first optimiser steps move TAN-R50's features, by TA initialisation and warm-up.

    python benchmarks/ta_first_steps.py [--train all|ta] [--steps 10] [--size 32]

No ImageNet file can be downloaded here, so the 2D path gets *calibrated random* weights: He-
initialised convolutions whose BatchNorm statistics are set from a pass over random frames, so
that every layer's activations are normalised as in a trained network. BatchNorm statistics are
then frozen (as in a fine-tune), and the paper's recipe runs: Adam at lr 1e-4 on every
parameter (``--train all``) or on the TA modules alone (``--train ta``), BCE on random dense targets, batches of two 8-frame clips. After steps 1, 10 and
``--steps`` the script records the relative change ``||y_t - y_0|| / ||y_0||`` of the level-4
feature map on a fixed probe clip, for the TA modules as zero-initialised branches (``ta_norm=False``,
the paper's literal reading) and behind a zero-scale BatchNorm (the default), each with no
warm-up and with a linear warm-up of ``--warmup-steps`` steps (5% of a 1000-step run).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.nn import functional as F

import tan_video as tv
from tan_video.benchmark import machine_info
from tan_video.training import LRSchedule


def calibrated(model: torch.nn.Module, size: int, seed: int = 0) -> torch.nn.Module:
    """Set every BatchNorm's running statistics from one pass over random frames (train mode,
    cumulative averages), then freeze them (eval mode)."""
    torch.manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 8, size, size))
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


def level4(model, clip):
    with torch.no_grad():
        return model.forward_features(clip, return_levels=True)[1][-1]


def run(ta_norm: bool, warmup: int, steps: int, size: int, state: dict, train: str = "all") -> dict:
    torch.manual_seed(1)
    model = tv.create_model("tan_r50", num_classes=10, ta_norm=ta_norm)
    missing = model.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys
    model.eval()  # frozen BN statistics, no dropout
    probe = torch.randn(1, 3, 8, size, size, generator=torch.Generator().manual_seed(2))
    y0 = level4(model, probe)
    params = ([p for ta in model.temporal_modules() for p in ta.parameters()] if train == "ta"
              else list(model.parameters()))
    opt = torch.optim.Adam(params, lr=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, LRSchedule(100 * steps, warmup=warmup, kind="step"))
    g = torch.Generator().manual_seed(3)
    out = {}
    for step in range(1, steps + 1):
        clip = torch.randn(2, 3, 8, size, size, generator=g)
        targets = (torch.rand(2, 8, 10, generator=g) < 0.1).float()
        loss = F.binary_cross_entropy_with_logits(model(clip), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step in (1, 10, steps):
            out[str(step)] = float((level4(model, probe) - y0).norm() / y0.norm())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--warmup-steps", type=int, default=50, help="warm-up length (5%% of a 1000-step run)")
    p.add_argument("--train", choices=["all", "ta"], default="all",
                   help="all: every parameter (a fine-tune); ta: the TA modules alone (what the init controls)")
    p.add_argument("--out", default=None, help="default: benchmarks/results/ta_first_steps_<train>.json")
    args = p.parse_args()
    torch.set_flush_denormal(True)
    base = calibrated(tv.create_model("tan_r50", num_classes=10, levels=()), args.size)
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("fc.")}
    rows = {}
    for ta_norm in (False, True):
        for warmup in (0, args.warmup_steps):
            name = f"{'zero-scale BN (default)' if ta_norm else 'zero branches'}, warm-up {warmup}"
            rows[name] = run(ta_norm, warmup, args.steps, args.size, state, args.train)
            print(name, {k: round(v, 4) for k, v in rows[name].items()}, flush=True)
    out = args.out or f"benchmarks/results/ta_first_steps_{args.train}.json"
    result = {"relative_change_of_level4": rows, "trained": args.train, "lr": 1e-4, "steps": args.steps,
              "size": args.size,
              "warmup_steps": args.warmup_steps, "weights": "calibrated random (see the docstring)",
              "machine": machine_info()}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
