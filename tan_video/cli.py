"""``tan-video``: the command line. Each command parses, builds a typed config, calls the library.

Exit status: 0 success; 2 bad usage or bad input (one line naming the file); 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

from .errors import InputError

log = logging.getLogger("tan_video")


def _cmd_train(args) -> int:
    from .config import load_config
    from .training import fit

    cfg = load_config(args.config, args.overrides)
    result = fit(cfg, resume=args.resume)
    metrics = result.get("metrics") or {}
    summary = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
    print(json.dumps({"out": cfg.train.out, "global_step": result["global_step"],
                      "train_seconds": round(result["train_seconds"], 1), **summary}))
    return 0


def _cmd_evaluate(args) -> int:
    from .config import load_config
    from .training import evaluate

    cfg = load_config(args.config, args.overrides)
    result = evaluate(cfg, args.checkpoint, args.out, precision=args.precision, progress=not args.no_progress)
    for key in ("frame_map", "video_map", "charades_localize_map"):
        if key in result:
            print(f"{key:24s} {100 * result[key]:6.2f}   ({result['protocols'][key]})")
    print(f"classes excluded (no positives): {result['classes_excluded']}; files: {', '.join(result['files'])}")
    return 0


def _cmd_bench(args) -> int:
    import torch

    from .complexity import complexity_table, to_markdown, write_complexity

    if not args.complexity:
        raise InputError("bench: only --complexity is available in this version")
    rows = complexity_table(args.models or None, frames=args.frames)
    meta = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "python": platform.python_version(),
            "counter": "torch.utils.flop_counter on the meta device; 1 MAC = 2 FLOPs", "frames": args.frames,
            "num_classes": 157}
    js, md = write_complexity(args.out, rows, meta)
    print(to_markdown(rows), end="")
    print(f"wrote {js} and {md}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tan-video", description="Temporal Aggregation Network: dense multi-label "
                                "action recognition (train, evaluate, benchmark).")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model from a YAML config (paper recipes in configs/)")
    t.add_argument("--config", required=True, help="YAML config file")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.epochs=5 model.name=tan_r101")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="score a checkpoint on the config's test videos (all protocols)")
    e.add_argument("--config", required=True)
    e.add_argument("--checkpoint", required=True, help="model.pt or a Lightning .ckpt written by train")
    e.add_argument("--out", default=None, help="output folder (default: beside the checkpoint, eval/)")
    e.add_argument("--precision", default="32", choices=["32", "bf16"], help="inference precision")
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    e.set_defaults(func=_cmd_evaluate)

    b = sub.add_parser("bench", help="model complexity (params, GMACs, receptive field)")
    b.add_argument("--complexity", action="store_true", help="parameters, GMACs per clip, temporal receptive field")
    b.add_argument("--models", nargs="*", help="registered model names (default: all)")
    b.add_argument("--frames", type=int, default=16)
    b.add_argument("--out", default="benchmarks/results", help="folder for complexity.json / complexity.md")
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except InputError as e:
        print(f"tan-video: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tan-video: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
