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


def _cmd_demo(args) -> int:
    from dataclasses import replace

    from . import claims
    from .demo import DEMO_MODELS, FEATURE_MODELS, DemoData, FeatureSettings, demo_settings, results_markdown, run_demo
    from .demo import report_note, result_groups, run_demo_features, run_demo_seeds, seed_summary_markdown

    zoo = FEATURE_MODELS if args.features else DEMO_MODELS
    keys = [m[0] for m in zoo]
    unknown = [k for k in args.models or [] if k not in keys]
    if unknown:
        raise InputError(f"--models: unknown {' '.join(unknown)}; choose from {' '.join(keys)}"
                         + (" (the models on features)" if args.features else ""))
    models = [m for m in zoo if args.models is None or m[0] in args.models]
    if args.out is None:
        args.out = "runs/demo_features" if args.features else "runs/demo"
    settings = demo_settings(quick=args.quick, epochs=args.epochs)
    features = None
    if args.features:  # --epochs: the feature models' epochs (the extractor keeps its own)
        features = FeatureSettings.quick() if args.quick else FeatureSettings()
        if args.epochs is not None:
            features = replace(features, epochs=args.epochs)
    if args.fps is not None:
        if args.fps <= 0:
            raise InputError(f"--fps must be positive, got {args.fps}")
        settings = replace(settings, fps=args.fps)
    if args.no_flip:
        settings = replace(settings, flip=False)
    if args.pos_weight is not None:
        settings = replace(settings, pos_weight=args.pos_weight)
    if args.precision is not None:
        from .config import normalize_precision

        settings = replace(settings, precision=normalize_precision(args.precision, "--precision"))
    data = None
    if args.data is not None or args.videos is not None:
        if args.data is None or args.videos is None:
            raise InputError("--data and --videos go together (a dense-JSON annotation file and its video folder)")
        for path in (args.data, args.videos, args.classes):
            if path is not None and not Path(path).exists():
                raise InputError("no such file or folder", path=path)
        data = DemoData(args.data, args.videos, args.classes, class_base=args.class_base)
    elif args.classes is not None or args.class_base != 0:
        raise InputError(f"{'--classes' if args.classes is not None else '--class-base'} needs --data")
    if args.seeds:
        report = run_demo_seeds(args.out, args.seeds, quick=args.quick, models=models, settings=settings, data=data,
                                on_features=args.features, features=features)
        print(seed_summary_markdown(report["summary"]))
        print(claims.claims_markdown(report["claims"], report_note(args.quick)), end="")
        print(f"total {report['total_seconds']:.0f} s; wrote {args.out}/results.json, results.md, claims.md, "
              f"seed_*/")
        return _failed_models([m for m in report["summary"]["models"].values() if m.get("failed_seeds")])
    extra = {"features": features} if args.features else {}
    run = run_demo_features if args.features else run_demo
    results = run(args.out, quick=args.quick, seed=args.seed, models=models, settings=settings, data=data, **extra)
    print(results_markdown(results, result_groups(results)))
    print(claims.claims_markdown(results["claims"], report_note(args.quick)), end="")
    print(f"total {results['total_seconds']:.0f} s; wrote {args.out}/results.json, results.md, claims.md, "
          f"per_class_ap.png, timelines/")
    return _failed_models([m for m in results["models"].values() if m.get("failed")])


def _failed_models(failed: list[dict]) -> int:
    """Exit status 2 with one line when some model failed to train (its report is written)."""
    if not failed:
        return 0
    print(f"tan-video: error: {len(failed)} model(s) failed to train ({', '.join(m['label'] for m in failed)}); "
          "the report marks the claims that need them 'not tested'", file=sys.stderr)
    return 2


def _cmd_train(args) -> int:
    from .config import load_config
    from .training import fit

    cfg = load_config(args.config, args.overrides)
    result = fit(cfg, resume=args.resume, overwrite=args.overwrite)
    metrics = result.get("metrics") or {}
    summary = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
    print(json.dumps({"out": cfg.train.out, "global_step": result["global_step"],
                      "train_seconds": round(result["train_seconds"], 1), **summary}))
    return 0


def _cmd_evaluate(args) -> int:
    from .config import load_config
    from .evaluation import evaluate

    cfg = load_config(args.config, args.overrides)
    if args.detections:
        from .evaluation import evaluate_detections

        result = evaluate_detections(cfg, args.detections, args.out)
        for tiou, value in result["detection_map"].items():
            print(f"detection mAP @ tIoU {tiou}: {100 * value:6.2f}")
        print(f"({result['protocol']}); wrote {result['file']}")
        return 0
    if not args.checkpoint:
        raise InputError("evaluate needs --checkpoint (or --detections to score a detection file)")
    result = evaluate(cfg, args.checkpoint, args.out, precision=args.precision, progress=not args.no_progress,
                      device=args.device, devices=args.devices)
    if "frame_map" not in result:  # another process of a multi-process run: process 0 reports
        return 0
    for key in ("frame_map", "video_map", "charades_localize_map"):
        if key in result:
            print(f"{key:24s} {100 * result[key]:6.2f}   ({result['protocols'][key]})")
    if result["processes"] > 1:
        print(f"scored in {result['processes']} processes: {result['videos_per_process']} videos each")
    print(f"classes excluded (no positives): {result['classes_excluded']}; files: {', '.join(result['files'])}")
    return 0


def _cmd_bench(args) -> int:
    import torch

    if not (args.complexity or args.speed):
        raise InputError("bench: choose --complexity and/or --speed")
    if args.complexity:
        from .complexity import complexity_table, to_markdown, write_complexity

        rows = complexity_table(args.models or None, frames=args.frames)
        meta = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "python": platform.python_version(),
                "counter": "torch.utils.flop_counter on the meta device; 1 MAC = 2 FLOPs", "frames": args.frames,
                "num_classes": 157}
        js, md = write_complexity(args.out, rows, meta)
        print(to_markdown(rows), end="")
        print(f"wrote {js} and {md}")
    if args.speed:
        from .benchmark import DEFAULT_MODELS, PEERS, run_speed_bench, write_speed
        from .models import list_models

        models = args.models or DEFAULT_MODELS
        unknown = [m for m in models if m not in list_models()]
        if unknown:
            raise InputError(f"bench: unknown model(s) {', '.join(unknown)}; see `tan-video bench --complexity`")
        result = run_speed_bench(models, sizes=tuple(args.sizes), frames=args.frames, repeats=args.repeats,
                                 compile=not args.no_compile, train=not args.no_train,
                                 train_size=min(args.sizes), precisions=tuple(args.precisions) if args.precisions else None,
                                 device=args.device, peers=() if args.no_peers else PEERS, onnx=not args.no_onnx)
        js, md = write_speed(args.out, result)
        print(json.dumps(result["summary"], indent=1))
        print(f"wrote {js} and {md}")
    return 0


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (it may be replaced after set-up, e.g. by tests)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _cmd_predict(args) -> int:
    from .inference import bound_heap_growth
    from .predict import PredictOptions, predict_videos, summary_table

    bound_heap_growth()  # this process streams long videos: keep its memory flat (see the docstring)

    options = PredictOptions(fps=args.fps, native_fps=args.native_fps, threshold=args.threshold, min_frames=args.min_frames,
                             merge_gap=args.merge_gap, annotations=args.annotations, format=args.format,
                             class_base=args.class_base, proposals=args.proposals, top_k=args.top_k,
                             precision=args.precision, device=args.device, chunk=args.chunk, window=args.window,
                             progress=not args.no_progress, timeline=not args.no_timeline)
    report = predict_videos(args.videos, args.checkpoint, args.out, options)
    print(summary_table(report), end="")
    per_video = ".scores.csv|.scores.json|.segments.json" + ("" if args.no_timeline else "|.timeline.png")
    done = len(report.videos) - len(report.failed)
    print("wrote " + f"{args.out}/<video>{per_video}; " * (done > 0) + ", ".join(report.files))
    return 2 if report.failed else 0


def _cmd_extract(args) -> int:
    from .extract import extract_features, load_extractor, videos_of_config, videos_of_folder

    if (args.config is None) == (args.videos is None):
        raise InputError("extract needs --config (every annotated video of its dataset) or --videos DIR (one of them)")
    if args.overrides and args.config is None:
        raise InputError("KEY=VALUE overrides go with --config")
    if args.config is not None:
        from .config import load_config

        videos = videos_of_config(load_config(args.config, args.overrides))
    else:
        videos = videos_of_folder(args.videos)
    net, meta, weights = load_extractor(args.checkpoint, args.model, args.pretrained, args.fps, args.size)
    report = extract_features(videos, args.out, net, meta, weights, dtype=args.dtype, precision=args.precision,
                              device=args.device, chunk=args.chunk, window=args.window, progress=not args.no_progress)
    m = report.manifest
    print(f"extracted {len(report.written)} videos ({report.frames} frames, {m['dim']}-d {m['dtype']}, {m['fps']:g} FPS, "
          f"{m['precision']}) in {report.seconds:.1f} s; {len(report.skipped)} already there; "
          f"{len(report.failed)} failed; wrote {args.out}/<video id>.npy and {args.out}/manifest.json")
    return 2 if report.failed else 0


def _cmd_export(args) -> int:
    from .export import export_onnx

    out = export_onnx(args.checkpoint, args.out, opset=args.opset)
    print(f"wrote {out} (ONNX opset {args.opset}, fused, input clip (B, 3, T, H, W) with dynamic B and T)")
    return 0


def _cmd_viz(args) -> int:
    from .filter_responses import write_filter_responses

    files = write_filter_responses(args.checkpoint, args.video, args.out, start=args.start, frames=args.frames,
                                   channels=args.channels, columns=args.columns, fps=args.fps, device=args.device)
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


DEVICE_HELP = "auto (the first GPU if any, else the CPU), cpu, cuda, cuda:N"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tan-video", description="Temporal Aggregation Network: dense multi-label "
                                "action recognition: demo, train, evaluate, predict, extract, export, viz, bench.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="the main job: TAN vs the paper's baselines and ablations on the built-in "
                       "synthetic benchmark (CPU, minutes)")
    d.add_argument("--out", default=None, help="output folder (data, runs, results, pictures; default runs/demo, "
                   "with --features runs/demo_features)")
    d.add_argument("--features", action="store_true",
                   help="the comparison on features extracted once: train a per-frame 2D model, extract every "
                   "video's features, compare ta_head, its no-dilation ablation, a per-frame linear head and an "
                   "LSTM on them (about two minutes)")
    d.add_argument("--quick", action="store_true",
                   help="a smoke test of the whole pipeline (96 + 32 videos, 2 epochs); its verdicts are not meaningful")
    d.add_argument("--seed", type=int, default=0, help="seed of the data and of training")
    d.add_argument("--seeds", type=int, nargs="+", default=None, metavar="N",
                   help="run every seed into OUT/seed_N and write one report; a claim's verdict needs every seed")
    d.add_argument("--epochs", type=int, default=None,
                   help="epochs per model (default 12, --quick 2; with --features: of each feature model, default 30, "
                   "--quick 3); warm-up then cosine decay over all of them")
    d.add_argument("--models", nargs="+", default=None, metavar="KEY",
                   help="train only these (default all: tan 2d_lstm 3d no_dilation level4_only; with --features: "
                   "ta_head no_dilation linear lstm)")
    d.add_argument("--data", default=None, metavar="ANNOTATIONS.json",
                   help="your own dense-JSON dataset instead of the built-in benchmark (needs --videos)")
    d.add_argument("--videos", default=None, metavar="DIR", help="the folder of --data's videos or frame folders")
    d.add_argument("--classes", default=None, metavar="FILE", help="class list of --data (one name per line)")
    d.add_argument("--class-base", type=int, default=0, help="id of the first class in --data (default 0)")
    d.add_argument("--fps", type=float, default=None, help="sampling rate (default: the benchmark's 8)")
    d.add_argument("--no-flip", action="store_true",
                   help="no horizontal flips in training (for classes such as 'moving left')")
    d.add_argument("--precision", default=None, metavar="{auto,32,bf16,...}",
                   help="training precision (default auto: bf16 where the CPU has native bf16, else 32)")
    from .config import POS_WEIGHTS

    d.add_argument("--pos-weight", default=None, choices=POS_WEIGHTS,
                   help="train.pos_weight of every model (default sqrt; none: the paper's plain BCE)")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train a model from a YAML config (paper recipes in configs/)")
    t.add_argument("--config", required=True, help="YAML config file")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt as the same run (bit-identical to one never stopped)")
    t.add_argument("--overwrite", action="store_true",
                   help="train.out holds an earlier run: remove its model, checkpoints, metrics and logs and train from scratch")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.epochs=5 model.name=tan_r101")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="score a checkpoint on the config's test videos (all protocols), or "
                       "a detection file with detection mAP")
    e.add_argument("--config", required=True)
    e.add_argument("--checkpoint", help="model.pt or a Lightning .ckpt written by train")
    e.add_argument("--detections", help="ActivityNet detection JSON (tan-video predict --proposals): detection mAP "
                   "against the config's test annotations at tIoU 0.3-0.7")
    e.add_argument("--out", default=None, help="output folder (default: beside the checkpoint, eval/)")
    e.add_argument("--precision", default="auto", type=_precision_arg, metavar="{auto,32,bf16,16}",
                   help="inference precision; auto: bf16 on GPUs that compute it (else 16) and on CPUs with native "
                   "bf16, else 32 (default: auto)")
    e.add_argument("--device", default="auto", help=DEVICE_HELP)
    e.add_argument("--devices", default=None, metavar="N", type=lambda v: int(v) if v.isdigit() else v,
                   help="processes to score in (each a disjoint shard of the videos, through Lightning's DDP): "
                   "N GPUs with --device cuda, N CPU processes with --device cpu (default: train.devices)")
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    e.set_defaults(func=_cmd_evaluate)

    b = sub.add_parser("bench", help="model complexity (params, GMACs, receptive field) and measured speed")
    b.add_argument("--complexity", action="store_true", help="parameters, GMACs per clip, temporal receptive field")
    b.add_argument("--speed", action="store_true", help="peak GFLOP/s of this machine, then inference and training "
                   "speed and memory per model: fp32/bf16, NCHW/channels_last, plain/fused/packed, torch.compile, "
                   "ONNX Runtime, the peers; the targets met or not")
    b.add_argument("--models", nargs="*", help="registered model names (default: all for --complexity; "
                   "tan_r50 r50_3d r50_2d_lstm for --speed)")
    b.add_argument("--frames", type=int, default=16)
    b.add_argument("--sizes", type=int, nargs="+", default=[112, 224], help="--speed: input sizes (pixels)")
    b.add_argument("--repeats", type=int, default=3, help="--speed: timed passes per setting (best is kept)")
    b.add_argument("--no-compile", action="store_true", help="--speed: skip torch.compile")
    b.add_argument("--no-train", action="store_true", help="--speed: skip the training-step measurements")
    b.add_argument("--no-peers", action="store_true", help="--speed: skip torchvision's r3d_18 / r2plus1d_18 "
                   "(rebuilt here layer for layer) timed beside")
    b.add_argument("--no-onnx", action="store_true", help="--speed: skip the onnxruntime rows")
    b.add_argument("--device", default="cpu", help="--speed: cpu (default), cuda, cuda:N or auto")
    b.add_argument("--precisions", nargs="+", choices=["32", "bf16"], default=None,
                   help="--speed: precisions to measure (default: 32 and bf16 where bf16 is native, else 32)")
    b.add_argument("--out", default="benchmarks/results", help="folder for complexity.* / speed.*")
    b.set_defaults(func=_cmd_bench)

    pr = sub.add_parser("predict", help="per-frame action scores, segments and timelines for your own videos")
    pr.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (or folders of extracted frames)")
    pr.add_argument("--checkpoint", required=True, help="model.pt or a Lightning .ckpt written by train")
    pr.add_argument("--out", default="predictions", help="output folder (default: predictions/)")
    pr.add_argument("--fps", type=float, default=None, help="sampling rate (default: the checkpoint's)")
    pr.add_argument("--native-fps", type=float, default=None,
                    help="frame rate of folders of extracted frames (default: the checkpoint's data.native_fps, 24)")
    pr.add_argument("--threshold", type=float, default=0.5, help="segments: a frame is on when score >= X")
    pr.add_argument("--min-frames", type=int, default=1, help="segments: drop runs shorter than N frames")
    pr.add_argument("--merge-gap", type=int, default=0, help="segments: merge runs at most N off frames apart")
    pr.add_argument("--annotations", default=None, help="ground truth for the timelines (matched by file stem)")
    pr.add_argument("--format", default=None, help="annotation format (default: detected)")
    pr.add_argument("--class-base", type=int, default=0, help="id of the first class in the annotation file")
    pr.add_argument("--proposals", default=None, help="ActivityNet-style proposals JSON -> OUT/detections.json")
    pr.add_argument("--top-k", type=int, default=None, help="classes kept per proposal (default: all)")
    pr.add_argument("--precision", default="auto", type=_precision_arg, metavar="{auto,32,bf16,16}",
                    help="inference precision; auto: bf16 on GPUs that compute it (else 16) and on CPUs with native "
                    "bf16 (measured 2x faster), else 32")
    pr.add_argument("--device", default="auto", help=DEVICE_HELP)
    pr.add_argument("--chunk", type=int, default=None, help="output frames per forward pass (default: 64 for "
                    "videos; a whole feature file, up to 4096)")
    pr.add_argument("--window", type=int, default=256, help="sampled frames decoded per read")
    pr.add_argument("--no-progress", action="store_true")
    pr.add_argument("--no-timeline", action="store_true", help="skip the PNG timelines")
    pr.set_defaults(func=_cmd_predict)

    f = sub.add_parser("extract", help="per-frame features of every video, once (<id>.npy + manifest.json), for "
                       "the feature models (ta_head, lstm_head, linear_head; data.features)")
    f.add_argument("--config", default=None, help="every annotated video (training and test) of this config's dataset")
    f.add_argument("--videos", default=None, metavar="DIR", help="or every video file / frame folder in DIR (id: file stem)")
    f.add_argument("--checkpoint", default=None, help="a trained model (model.pt or .ckpt): its fps, size and weights")
    f.add_argument("--model", default=None, help="or a zoo model name (e.g. tan_r50), with --pretrained")
    f.add_argument("--pretrained", default=None, help="with --model: imagenet, or a 2D ResNet state-dict file")
    f.add_argument("--out", required=True, help="output folder: <video id>.npy and manifest.json")
    f.add_argument("--fps", type=float, default=None, help="sampling rate (default: the checkpoint's, else 4)")
    f.add_argument("--size", type=int, default=None, help="frame side after the centre crop (default: the "
                   "checkpoint's, else 224)")
    f.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="of the stored features")
    f.add_argument("--precision", default="auto", type=_precision_arg, metavar="{auto,32,bf16,16}",
                   help="inference precision (default auto, as predict)")
    f.add_argument("--device", default="auto", help=DEVICE_HELP)
    f.add_argument("--chunk", type=int, default=64, help="output frames per forward pass")
    f.add_argument("--window", type=int, default=256, help="sampled frames decoded per read")
    f.add_argument("--no-progress", action="store_true")
    f.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="with --config")
    f.set_defaults(func=_cmd_extract)

    x = sub.add_parser("export", help="export a checkpoint for deployment (ONNX, fused, dynamic length)")
    x.add_argument("--checkpoint", required=True)
    x.add_argument("--format", default="onnx", choices=["onnx"])
    x.add_argument("--out", required=True, help="output file, e.g. model.onnx")
    x.add_argument("--opset", type=int, default=17)
    x.set_defaults(func=_cmd_export)

    v = sub.add_parser("viz", help="filter responses after each level's TA module over time (paper Figs. 4-5)")
    v.add_argument("video", metavar="VIDEO")
    v.add_argument("--checkpoint", required=True)
    v.add_argument("--out", default="viz", help="output folder (default: viz/)")
    v.add_argument("--start", type=float, default=0.0, help="first second to show")
    v.add_argument("--frames", type=int, default=48, help="sampled frames analysed")
    v.add_argument("--channels", type=int, default=4, help="channels per level (highest temporal variance)")
    v.add_argument("--columns", type=int, default=8, help="time points drawn")
    v.add_argument("--fps", type=float, default=None, help="sampling rate (default: the checkpoint's)")
    v.add_argument("--device", default="auto", help=DEVICE_HELP)
    v.set_defaults(func=_cmd_viz)
    return p


def _precision_arg(value: str) -> str:
    """--precision as users spell it (32, 32-true, bf16, bf16-mixed, 16, 16-mixed, auto)."""
    from .inference import inference_precision

    try:
        return inference_precision(value)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _check_out_folder(args) -> None:
    """An --out folder that is a file is refused before any work (evaluate would otherwise
    compute every prediction and then fail to write them)."""
    out = getattr(args, "out", None)
    if out is None or args.func is _cmd_export:  # export's --out is a file
        return
    for p in (Path(out), *Path(out).parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"--out {out}: {p} is a file, not a folder")
            return


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Our messages on stderr; Lightning keeps its own handler (no duplicates through the root logger).
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _check_out_folder(args)
        return args.func(args)
    except InputError as e:
        # Re-raised from a DataLoader worker, the message carries the worker's traceback: keep
        # only its last line, the original one-line message.
        message = str(e).strip().splitlines()[-1].replace("tan_video.errors.InputError: ", "")
        print(f"tan-video: error: {message}", file=sys.stderr)
        return 2
    except OSError as e:
        # The file system said no (an output path that is a file, a folder without write
        # permission, a full disk): name the path, as for bad input; what was written stays.
        if e.filename is None:
            raise
        where = e.filename if e.filename2 is None else f"{e.filename} -> {e.filename2}"
        reason = e.strerror or str(e)
        if isinstance(e, (FileExistsError, NotADirectoryError)) and not Path(e.filename).is_dir():
            reason += " (a file where an output folder goes: choose another --out / train.out)"
        print(f"tan-video: error: {where}: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tan-video: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
