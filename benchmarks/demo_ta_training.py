"""The demo's investigation of how TA modules train (README, "The demo": what I found).

    python benchmarks/demo_ta_training.py VARIANT [--out runs/ta_VARIANT] [--seed 0] [--models tan ...]

Runs the full demo settings (same data, 20 epochs, Adam 1e-3) for the chosen demo models with one
change to how the TA modules are initialised or trained:

- ``paper``: zero-initialised branches, one learning rate (what ``tan-video demo`` runs);
- ``fan_in``: ``train.temporal_lr=fan_in`` (each TA module's branches at lr / sqrt(3 * 3 * C));
- ``norm``: ``ta_norm=True`` (random branches behind a zero-scale BatchNorm).

and prints frame mAP and the per-group mean AP. Results go to ``--out`` as ``results.json`` /
``results.md``, like the demo's.
"""

from __future__ import annotations

import argparse
import logging

from tan_video.data import synthetic
from tan_video.demo import DEMO_MODELS, group_means, run_demo

VARIANTS = {"paper": ({}, {}), "fan_in": ({}, {"temporal_lr": "fan_in"}), "norm": ({"ta_norm": True}, {})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variant", choices=sorted(VARIANTS))
    p.add_argument("--out", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="+", default=[m[0] for m in DEMO_MODELS],
                   choices=[m[0] for m in DEMO_MODELS])
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model_args, train = VARIANTS[args.variant]
    models = [(key, label, name, {**a, **(model_args if name.startswith("tan") else {})})
              for key, label, name, a in DEMO_MODELS if key in args.models]
    result = run_demo(args.out or f"runs/ta_{args.variant}", seed=args.seed, models=models, train_overrides=train)
    groups = {c.name: c.group for c in synthetic.CLASSES}
    for key, r in result["models"].items():
        cells = ", ".join(f"{g} {'-' if ap is None else f'{100 * ap:.1f}'}"
                          for g, ap in group_means(r["per_class_ap"], groups).items())
        print(f"{key:12s} frame mAP {100 * r['frame_map']:.1f}  ({cells})")


if __name__ == "__main__":
    main()
