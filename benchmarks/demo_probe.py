"""The demo with other settings and some of its models: the probes behind the demo's budget.

    python benchmarks/demo_probe.py --size 48 --batch 8 --clip 16 --epochs 14 --lr 2e-3 --models tan

Runs ``tan_video.demo.run_demo`` (data generation, training, evaluation: the real pipeline) into
``runs/probe/<settings>`` with the given settings changed and prints frame mAP, training seconds
and per-class AP of each model (raw lines for ``benchmarks/results/demo_budget_probe.md``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from tan_video.demo import DEMO_MODELS, demo_settings, run_demo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--clip", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="+", default=[m[0] for m in DEMO_MODELS])
    args = p.parse_args()
    s = demo_settings()
    changes = {"size": args.size, "batch_size": args.batch, "clip_frames": args.clip, "epochs": args.epochs,
               "lr": args.lr}
    s = replace(s, timelines=0, bootstrap=100, **{k: v for k, v in changes.items() if v is not None})
    out = Path("runs/probe") / f"s{s.size}_b{s.batch_size}_c{s.clip_frames}_e{s.epochs}_lr{s.lr}_seed{args.seed}"
    r = run_demo(out, seed=args.seed, settings=s, models=[m for m in DEMO_MODELS if m[0] in args.models])
    for key, m in r["models"].items():
        print(out.name, key, f"frame mAP {100 * m['frame_map']:.1f}", f"train {m.get('train_seconds')} s",
              {name: round(100 * ap) for name, ap in m["per_class_ap"].items()}, flush=True)


if __name__ == "__main__":
    main()
