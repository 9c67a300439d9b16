"""The main job: the paper's Tables 1-2 on the built-in synthetic benchmark, on a CPU, in minutes.

``run_demo`` generates the benchmark as real H.264 files + a dense JSON annotation file, then
trains and evaluates TAN, the two baselines and two Table-2 ablations through exactly the code a
real dataset uses (:func:`tan_video.training.fit`: decoding, clip datasets, Lightning, exact
chunked evaluation, the official metrics), and writes ``results.json``, ``results.md``,
per-class AP and timeline pictures.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .complexity import count_macs, count_params
from .config import Config, DataConfig, ModelConfig, TrainConfig
from .data import synthetic
from .errors import InputError
from .models import create_model
from .training import fit
from .viz import plot_per_class_ap, plot_timeline

log = logging.getLogger(__name__)

# (key, label, registered name, builder arguments): Table 1 then Table 2 on the tiny models.
DEMO_MODELS = [
    ("tan", "TAN (tan_tiny)", "tan_tiny", {}),
    ("2d_lstm", "2D+LSTM (tiny_2d_lstm, paper Res50-2D)", "tiny_2d_lstm", {}),
    ("3d", "3D (tiny_3d, paper Res50-3D)", "tiny_3d", {}),
    ("no_dilation", "TAN, no dilation (dilations=(1,))", "tan_tiny", {"dilations": [1]}),
    ("level4_only", "TAN, TA at level 4 only (levels=(4,))", "tan_tiny", {"levels": [4]}),
]


@dataclass
class DemoSettings:
    num_train: int = 384
    num_test: int = 128
    frames: int = 64
    size: int = 64
    fps: float = 8.0
    clip_frames: int = 16
    batch_size: int = 8
    epochs: int = 20
    lr: float = 1e-3
    precision: str = "bf16-mixed"
    timelines: int = 4

    @classmethod
    def quick(cls) -> "DemoSettings":
        return cls(num_train=96, num_test=32, epochs=6)


def demo_settings(quick: bool = False, epochs: int | None = None) -> DemoSettings:
    """The full or ``--quick`` settings, with ``epochs`` per model when given (>= 1)."""
    s = DemoSettings.quick() if quick else DemoSettings()
    if epochs is not None:
        if epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {epochs}")
        s = replace(s, epochs=epochs)
    return s


def demo_config(data_dir: Path, out: Path, name: str, args: dict, s: DemoSettings, seed: int,
                num_classes: int, train_overrides: dict | None = None) -> Config:
    cfg = Config(
        model=ModelConfig(name=name, num_classes=num_classes, args=dict(args)),
        data=DataConfig(annotations=str(data_dir / "annotations.json"), format="dense_json", class_base=0,
                        classes=str(data_dir / "classes.txt"), videos=str(data_dir / "videos"), fps=s.fps,
                        clip_frames=s.clip_frames, size=s.size, resize=s.size, protocol="frames",
                        num_workers=1, cache_videos=True),
        train=TrainConfig(epochs=s.epochs, lr=s.lr, lr_steps=[max(1, int(s.epochs * 0.75))], batch_size=s.batch_size,
                          precision=s.precision, out=str(out), seed=seed, val_every=0, log_every=10),
    )
    for key, value in (train_overrides or {}).items():
        if not hasattr(cfg.train, key):
            raise ValueError(f"unknown train setting {key!r}")
        setattr(cfg.train, key, value)
    return cfg


def run_demo(out_dir: str | Path = "runs/demo", quick: bool = False, seed: int = 0,
             settings: DemoSettings | None = None, models=DEMO_MODELS, train_overrides: dict | None = None) -> dict:
    """Generate, train, evaluate, report. Returns the ``results.json`` content.

    ``models``: ``(key, label, registered name, builder arguments)`` tuples; ``train_overrides``:
    :class:`~tan_video.config.TrainConfig` fields set for every model (for experiments, e.g.
    ``{"temporal_lr": "fan_in"}``; the demo itself uses the paper's recipe).
    """
    s = settings or demo_settings(quick)
    out = Path(out_dir)
    t0 = time.perf_counter()
    data_dir = out / "data"
    info = synthetic.generate(data_dir, num_train=s.num_train, num_test=s.num_test, frames=s.frames,
                              size=s.size, fps=s.fps, seed=seed)
    gen_seconds = time.perf_counter() - t0
    class_names = [c.name for c in synthetic.CLASSES]
    groups = {c.name: c.group for c in synthetic.CLASSES}

    dataset = {"path": str(data_dir), **asdict(info), "classes_file": info.classes, "generation_seconds":
               round(gen_seconds, 1), "classes": {c.name: {"group": c.group, "definition": c.definition}
                                                  for c in synthetic.CLASSES}}
    results = {"models": {}, "dataset": dataset, "settings": {**asdict(s), "seed": seed, "quick": quick,
                                                              "train_overrides": dict(train_overrides or {})}}
    predictions = {}
    for key, label, name, args in models:
        log.info("== %s ==", label)
        cfg = demo_config(data_dir, out / "runs" / key, name, args, s, seed, len(class_names), train_overrides)
        run = fit(cfg)
        m = run["metrics"]
        steps = run["global_step"]
        model = create_model(name, num_classes=len(class_names), **args)
        results["models"][key] = {
            "label": label, "model": name, "args": args,
            "frame_map": m["frame_map"], "video_map": m["video_map"], "per_class_ap": m["per_class_ap"],
            "params": count_params(model),
            "gmacs_per_clip": round(count_macs(name, s.clip_frames, s.size, len(class_names), **args) / 1e9, 3),
            "train_seconds": round(run["train_seconds"], 1),
            "clips_per_second": round(steps * s.batch_size / run["train_seconds"], 1),
            "steps": steps,
        }
        predictions[key] = {p.video_id: p for p in run["predictions"]}
    results["total_seconds"] = round(time.perf_counter() - t0, 1)

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(results_markdown(results, groups))
    plot_per_class_ap(out / "per_class_ap.png", {results["models"][k]["label"]: results["models"][k]["per_class_ap"]
                                                 for k in results["models"]}, groups)
    _timelines(out / "timelines", predictions, results, class_names, s.timelines)
    return results


def _timelines(folder: Path, predictions: dict, results: dict, class_names: list[str], n: int) -> None:
    from .data.annotations import dense_targets

    first = next(iter(predictions.values()))
    for vid in sorted(first)[:n]:
        p = first[vid]
        rows = {"ground truth": dense_targets(p.annotation, p.times, len(class_names))}
        rows.update({key: predictions[key][vid].scores for key in predictions})
        plot_timeline(folder / f"{vid}.png", p.times, class_names, rows, title=f"{vid}: ground truth and "
                      "per-frame probabilities of each model")


def results_markdown(results: dict, groups: dict[str, str]) -> str:
    models = results["models"]
    lines = ["| model | frame mAP | video mAP | params | GMACs/clip | train s | clips/s |", "|---|---|---|---|---|---|---|"]
    for r in models.values():
        lines.append(f"| {r['label']} | {100 * r['frame_map']:.1f} | {100 * r['video_map']:.1f} | "
                     f"{r['params'] / 1e6:.2f} M | {r['gmacs_per_clip']:.2f} | {r['train_seconds']:.0f} | "
                     f"{r['clips_per_second']:.0f} |")
    lines += ["", "Mean frame AP per class group (the temporal scale a class needs):", ""]
    group_names = list(dict.fromkeys(groups.values()))
    lines.append("| model | " + " | ".join(group_names) + " |")
    lines.append("|---|" + "---|" * len(group_names))
    for r in models.values():
        means = group_means(r["per_class_ap"], groups)
        cells = ["-" if means[g] is None else f"{100 * means[g]:.1f}" for g in group_names]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Per-class frame AP:", "", "| class | group | " + " | ".join(models) + " |",
              "|---|---|" + "---|" * len(models)]
    for c in sorted(groups, key=lambda c: group_names.index(groups[c])):
        cells = [("-" if r["per_class_ap"].get(c) is None else f"{100 * r['per_class_ap'][c]:.1f}") for r in models.values()]
        lines.append(f"| {c} | {groups[c]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def group_means(per_class_ap: dict[str, float | None], groups: dict[str, str]) -> dict[str, float | None]:
    """Mean AP of each class group (classes without positives, AP None, left out; None if none left)."""
    out: dict[str, float | None] = {}
    for g in dict.fromkeys(groups.values()):
        aps = [ap for c, ap in per_class_ap.items() if groups.get(c) == g and ap is not None]
        out[g] = float(np.mean(aps)) if aps else None
    return out


def seed_summary(runs: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds of several demo ``results.json`` contents.

    The runs must differ only in their seed (same data sizes, epochs, models). Returns
    ``{"seeds": [..], "settings": {..}, "models": {KEY: {"label", "frame_map": {"mean", "sd",
    "values"}, "video_map": {..}, "groups": {GROUP: {..}}}}}`` (fractions, like results.json); a
    group is left out of a model when one run has no AP for it (no positive test frames).
    """
    if len(runs) < 2:
        raise ValueError("a seed summary needs at least two runs")
    # (results written before train_overrides existed lack the key: the same as none)
    strip = lambda r: {"train_overrides": {}, **{k: v for k, v in r["settings"].items() if k != "seed"}}  # noqa: E731
    for r in runs[1:]:
        if strip(r) != strip(runs[0]) or list(r["models"]) != list(runs[0]["models"]):
            raise ValueError(f"runs differ in more than the seed: {strip(runs[0])} / {list(runs[0]['models'])} "
                             f"against {strip(r)} / {list(r['models'])}")
    seeds = [r["settings"]["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the same seed twice: {seeds}")
    groups = {c.name: c.group for c in synthetic.CLASSES}

    def stats(values: list[float]) -> dict:
        return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)), "values": values}

    models = {}
    for key, first in runs[0]["models"].items():
        per_run = [r["models"][key] for r in runs]
        by_group = [group_means(m["per_class_ap"], groups) for m in per_run]
        models[key] = {"label": first["label"],
                       "frame_map": stats([m["frame_map"] for m in per_run]),
                       "video_map": stats([m["video_map"] for m in per_run]),
                       "groups": {g: stats([b[g] for b in by_group]) for g in by_group[0]
                                  if all(b[g] is not None for b in by_group)}}
    return {"seeds": seeds, "settings": strip(runs[0]), "models": models}


def seed_summary_markdown(summary: dict) -> str:
    """The table of :func:`seed_summary` for people: mean +- sd (per-seed values), in percent; "-"
    for a group without positives in some run."""
    models = summary["models"]
    group_names = list(dict.fromkeys(g for m in models.values() for g in m["groups"]))
    pm = lambda s: f"{100 * s['mean']:.1f} +- {100 * s['sd']:.1f}"  # noqa: E731
    lines = [f"| model | frame mAP (seeds {', '.join(map(str, summary['seeds']))}) | video mAP | "
             + " | ".join(group_names) + " |", "|---|---|---|" + "---|" * len(group_names)]
    for m in models.values():
        values = ", ".join(f"{100 * v:.1f}" for v in m["frame_map"]["values"])
        lines.append(f"| {m['label']} | {pm(m['frame_map'])} ({values}) | {pm(m['video_map'])} | "
                     + " | ".join(pm(m["groups"][g]) if g in m["groups"] else "-" for g in group_names) + " |")
    return "\n".join(lines) + "\n"
