"""The main job: the paper's Tables 1-2 on the built-in synthetic benchmark, on a CPU, in minutes.

``run_demo`` generates the benchmark as real H.264 files + a dense JSON annotation file (or takes
a user's dense-JSON dataset), then trains and evaluates TAN, the two baselines and two Table-2
ablations through exactly the code a real dataset uses (:func:`tan_video.training.fit`:
decoding, clip datasets, Lightning, exact chunked evaluation, the official metrics), tests the
paper's claims on the test predictions (:mod:`tan_video.claims`), and writes ``results.json``,
``results.md``, ``claims.md``, per-class AP and timeline pictures. ``run_demo_seeds`` does
that for several seeds and writes one report whose verdicts need every seed to agree.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from . import claims as claims_mod
from .atomic import atomic_write
from .complexity import count_macs, count_params
from .config import Config, DataConfig, ModelConfig, TrainConfig, load_config
from .data import synthetic
from .data.split import read_split
from .errors import InputError, TrainingDiverged
from .evaluation import load_predictions, save_predictions
from .models import create_model
from .training import clear_run, fit
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
    size: int = 48
    fps: float = 8.0
    clip_frames: int = 16
    batch_size: int = 8
    epochs: int = 12
    lr: float = 2e-3
    warmup: float = 0.05
    schedule: str = "cosine"
    pos_weight: str = "sqrt"  # train.pos_weight of every model (docs/benchmark.md, "Rare classes")
    precision: str = "auto"
    crop_scale: tuple[float, float] | None = (1.0, 1.0)  # (1, 1): the whole frame, no crop
    flip: bool = True
    timelines: int = 4
    bootstrap: int = 1000
    checkpoint_every: int = 50  # steps between checkpoints: a demo killed part-way loses at most this many

    @classmethod
    def quick(cls) -> "DemoSettings":
        return cls(num_train=96, num_test=32, epochs=2, bootstrap=200)


def demo_settings(quick: bool = False, epochs: int | None = None) -> DemoSettings:
    """The full or ``--quick`` settings, with ``epochs`` per model when given (>= 1)."""
    s = DemoSettings.quick() if quick else DemoSettings()
    if epochs is not None:
        if epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {epochs}")
        s = replace(s, epochs=epochs)
    return s


@dataclass
class DemoData:
    """A user's dataset for the five-model comparison instead of the generated benchmark.

    ``annotations``: a dense-JSON file (subsets "training" and "testing"/"validation");
    ``videos``: the folder of video files or frame folders; ``classes``: a class-list file
    (optional: otherwise the names the JSON gives, or ``class_0 ...``); ``groups``: optional
    class name -> group, which enables the per-group claims.
    """

    annotations: str
    videos: str
    classes: str | None = None
    groups: dict[str, str] | None = None
    class_base: int = 0


def demo_config(data_dir: Path | DemoData, out: Path, name: str, args: dict, s: DemoSettings, seed: int,
                num_classes: int, train_overrides: dict | None = None) -> Config:
    if isinstance(data_dir, DemoData):
        data = DataConfig(annotations=data_dir.annotations, format="dense_json", class_base=data_dir.class_base,
                          classes=data_dir.classes, videos=data_dir.videos)
    else:
        data = DataConfig(annotations=str(data_dir / "annotations.json"), format="dense_json", class_base=0,
                          classes=str(data_dir / "classes.txt"), videos=str(data_dir / "videos"))
    data.fps, data.clip_frames, data.size, data.resize = s.fps, s.clip_frames, s.size, s.size
    data.crop_scale = None if s.crop_scale is None else list(s.crop_scale)
    data.flip, data.protocol, data.num_workers, data.cache_videos = s.flip, "frames", 1, True
    cfg = Config(
        model=ModelConfig(name=name, num_classes=num_classes, args=dict(args)),
        data=data,
        train=TrainConfig(epochs=s.epochs, lr=s.lr, schedule=s.schedule, warmup=s.warmup, pos_weight=s.pos_weight,
                          lr_steps=[max(1, int(s.epochs * 0.75))], batch_size=s.batch_size,
                          precision=s.precision, out=str(out), seed=seed, val_every=0, log_every=10,
                          progress_label=out.name, checkpoint_every_steps=s.checkpoint_every),
    )
    for key, value in (train_overrides or {}).items():
        if not hasattr(cfg.train, key):
            raise ValueError(f"unknown train setting {key!r}")
        setattr(cfg.train, key, value)
    return cfg


def data_fingerprint(cfg: Config) -> str:
    """SHA-256 of what a model's results depend on besides its config: the annotation file, the
    class list, for the generated benchmark its ``meta.json`` (generator version, settings), and
    for a feature model the features' ``manifest.json`` (the extractor's checkpoint hash).
    The same paths can hold other data (a regenerated benchmark, an edited annotation file)."""
    h = hashlib.sha256()
    ann = Path(cfg.data.annotations)
    features = Path(cfg.data.features) / "manifest.json" if cfg.data.features else None
    for path in (ann, cfg.data.classes, ann.with_name("meta.json"), features):
        if path is not None and Path(path).is_file():
            h.update(Path(path).read_bytes())
    return h.hexdigest()


def _same_config(path: Path, cfg: Config) -> bool:
    """Whether the run folder's ``config.yaml`` is ``cfg``, read the way ``load_config`` reads it (a
    setting added since, absent from the file, counts as its default; one removed since differs)."""
    if not path.is_file():
        return False
    try:
        old = load_config(path)
    except InputError:
        return False
    return _comparable(old) == _comparable(cfg)


# the settings that name files: the same run may spell them relative or absolute (--out runs/x or
# /home/me/runs/x); a relative path is relative to the working directory, as the run read it
_PATHS = {"model": ("pretrained", "init_from"), "train": ("out",),
          "data": ("annotations", "classes", "test_annotations", "videos", "label_list", "features")}


def _comparable(cfg: Config) -> dict:
    d = yaml.safe_load(yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # (tuples -> lists)
    for section, keys in _PATHS.items():
        for key in keys:
            value = d[section].get(key)
            if isinstance(value, str) and value and not (section == "model" and value == "imagenet"):
                d[section][key] = str(Path(value).resolve())
    return d


def train_or_reuse(cfg: Config) -> dict:
    """Train one model, or take up what an earlier run of the same command left in ``cfg.train.out``.

    A model finished with the same configuration on the same data (its ``demo_run.json`` and
    ``predictions.npz``; :func:`data_fingerprint`) is reused as it is; one killed part-way resumes from its ``last.ckpt`` (bit-identical to an
    uninterrupted run); anything else trains from the start. Returns ``fit``'s ``metrics``,
    ``global_step``, ``train_seconds`` (of this invocation's part) and ``predictions``.
    """
    out = Path(cfg.train.out)
    record, preds, trained_on = out / "demo_run.json", out / "predictions.npz", out / "demo_data.sha256"
    data = data_fingerprint(cfg)
    same = (trained_on.is_file() and trained_on.read_text().strip() == data and _same_config(out / "config.yaml", cfg))
    if same and record.is_file() and preds.is_file():
        log.info("%s: finished by an earlier run, reused", out)
        done = json.loads(record.read_text())
        return {**done, "predictions": load_predictions(preds, read_split(cfg)[2])}
    record.unlink(missing_ok=True)
    preds.unlink(missing_ok=True)
    resume = same and (out / "checkpoints" / "last.ckpt").is_file()
    if not resume:  # what a run of another config or other data left: its checkpoint must not be taken
        # up by a rerun after a kill (this run's data and config are recorded below, before its own
        # first checkpoint exists), and its logs do not describe this run
        clear_run(out)
    out.mkdir(parents=True, exist_ok=True)
    trained_on.write_text(data + "\n")
    run = fit(cfg, resume=resume)
    done = {"metrics": run["metrics"], "global_step": run["global_step"], "train_seconds": run["train_seconds"]}
    save_predictions(preds, run["predictions"])
    # last: a model counts as finished only once both files are complete
    atomic_write(record, lambda tmp: tmp.write_text(json.dumps(done, indent=1) + "\n"))
    return {**done, "predictions": run["predictions"]}


QUICK_NOTE = ("--quick is a smoke test of the whole pipeline: at its budget the models are far from "
              "converged, so these verdicts are not meaningful.")
BUDGET_NOTE = ("These verdicts are at this run's training budget. At the demo's default budget the models are "
               "not converged, and more training can change a verdict: on the built-in benchmark both dilation "
               "claims hold at 3x the training (docs/benchmark.md, \"Is the demo converged?\").")


def report_note(quick: bool) -> str:
    """The line under the claims table: what its verdicts are worth at this budget."""
    return QUICK_NOTE if quick else BUDGET_NOTE


def _prepare_data(out: Path, s: DemoSettings, seed: int, data: DemoData | None):
    """(data source for demo_config, class names, groups, the results' "dataset" block)."""
    if data is None:
        t0 = time.perf_counter()
        data_dir = out / "data"
        info = synthetic.generate(data_dir, num_train=s.num_train, num_test=s.num_test, frames=s.frames,
                                  size=s.size, fps=s.fps, seed=seed)
        class_names = [c.name for c in synthetic.CLASSES]
        groups = {c.name: c.group for c in synthetic.CLASSES}
        dataset = {"path": str(data_dir), **asdict(info), "classes_file": info.classes,
                   "generation_seconds": round(time.perf_counter() - t0, 1),
                   "classes": {c.name: {"group": c.group, "definition": c.definition} for c in synthetic.CLASSES}}
        return data_dir, class_names, groups, dataset
    probe = demo_config(data, out, "tan_tiny", {}, s, seed, None)
    class_names, train, test = read_split(probe)
    if not test:
        raise InputError("no videos with subset 'testing' or 'validation': the comparison needs a test split",
                         path=data.annotations)
    groups = {c: g for c, g in (data.groups or {}).items() if c in class_names} or None
    dataset = {"annotations": data.annotations, "videos": data.videos, "classes_file": data.classes,
               "num_train": len(train), "num_test": len(test),
               "classes": {c: {"group": (groups or {}).get(c)} for c in class_names}}
    return data, class_names, groups, dataset


def settings_record(s: DemoSettings, seed: int, quick: bool = False, train_overrides: dict | None = None) -> dict:
    """The ``settings`` block of ``results.json`` (as JSON reads it back: tuples become lists)."""
    return json.loads(json.dumps({**asdict(s), "seed": seed, "quick": quick,
                                  "train_overrides": dict(train_overrides or {})}))


def run_demo(out_dir: str | Path = "runs/demo", quick: bool = False, seed: int = 0,
             settings: DemoSettings | None = None, models=DEMO_MODELS, train_overrides: dict | None = None,
             data: DemoData | None = None) -> dict:
    """Generate (or take ``data``), train, evaluate, test the claims, report. Returns ``results.json``.

    ``models``: ``(key, label, registered name, builder arguments)`` tuples; ``train_overrides``:
    :class:`~tan_video.config.TrainConfig` fields set for every model (for experiments, e.g.
    ``{"temporal_lr": "fan_in"}``).
    """
    s = settings or demo_settings(quick)
    out = Path(out_dir)
    t0 = time.perf_counter()
    source, class_names, groups, dataset = _prepare_data(out, s, seed, data)
    results = {"models": {}, "dataset": dataset, "settings": settings_record(s, seed, quick, train_overrides)}
    make_cfg = lambda key, name, args: demo_config(source, out / "runs" / key, name, args, s, seed,  # noqa: E731
                                                   len(class_names), train_overrides)
    macs = lambda name, args: count_macs(name, s.clip_frames, s.size, len(class_names), **args)  # noqa: E731
    predictions, failed = _train_models(models, make_cfg, macs, s.batch_size, len(class_names), results)
    return _report(out, results, predictions, failed, claims_mod.PAPER_CLAIMS, class_names, groups, s, seed, quick, t0)


def _train_models(models, make_cfg, macs, batch_size: int, num_classes: int, results: dict) -> tuple[dict, dict]:
    """Train (or reuse) each ``(key, label, name, args)`` of ``models`` with ``make_cfg(key, name,
    args)``; fill ``results["models"]``. Returns (key -> test predictions, key -> why it failed)."""
    predictions, failed = {}, {}
    for key, label, name, args in models:
        log.info("== %s ==", label)
        cfg = make_cfg(key, name, args)
        try:
            run = train_or_reuse(cfg)
        except TrainingDiverged as e:  # the others still train; the report says which claims it leaves untested
            log.error("tan-video: error: %s", e)
            failed[key] = str(e)
            results["models"][key] = {"label": label, "model": name, "args": args, "failed": str(e)}
            continue
        m = run["metrics"]
        steps = run["global_step"]
        model = create_model(name, num_classes=num_classes, **args)
        results["models"][key] = {
            "label": label, "model": name, "args": args,
            "frame_map": m["frame_map"], "video_map": m["video_map"], "per_class_ap": m["per_class_ap"],
            "params": count_params(model),
            "gmacs_per_clip": round(macs(name, args) / 1e9, 3),
            "train_seconds": round(run["train_seconds"], 1),
            "clips_per_second": round(steps * batch_size / run["train_seconds"], 1),
            "steps": steps,
        }
        predictions[key] = run["predictions"]
    return predictions, failed


def _report(out: Path, results: dict, predictions: dict, failed: dict, claims, class_names: list[str],
            groups: dict | None, s: DemoSettings, seed: int, quick: bool, t0: float) -> dict:
    """The claims on the test predictions; ``results.json``, ``results.md``, ``claims.md``, the
    per-class AP picture and the timelines in ``out``. Returns the results."""
    rows = claims_mod.evaluate_claims(claims, predictions, class_names, groups,
                                      n_boot=s.bootstrap, seed=seed, failed=failed)
    if quick:
        for r in rows:
            r["meaningful"] = False
    results["claims"] = rows
    results["total_seconds"] = round(time.perf_counter() - t0, 1)

    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(results_markdown(results, groups or {}))
    (out / "claims.md").write_text(claims_mod.claims_markdown(rows, report_note(quick)))
    if not predictions:
        return results  # every model failed: the report says so, there is nothing to plot
    plot_per_class_ap(out / "per_class_ap.png", {results["models"][k]["label"]: results["models"][k]["per_class_ap"]
                                                 for k in predictions}, groups or {})
    _timelines(out / "timelines", {k: {p.video_id: p for p in v} for k, v in predictions.items()}, results,
               class_names, s.timelines)
    return results


# -- the comparison on features (tan-video demo --features; docs/features.md) -----------------------
FEATURE_EXTRACTOR = ("extractor", "per-frame 2D model (tan_tiny, levels=()), the feature extractor", "tan_tiny",
                     {"levels": []})
"""The per-frame model trained on the frames, whose pooled level-4 output becomes the features."""

FEATURE_MODELS = [
    ("ta_head", "TA modules on the features (ta_head)", "ta_head", {}),
    ("no_dilation", "ta_head, no dilation (dilations=(1,))", "ta_head", {"dilations": [1]}),
    ("linear", "per-frame linear classifier (linear_head)", "linear_head", {}),
    ("lstm", "bidirectional LSTM (lstm_head)", "lstm_head", {}),
]
"""The temporal models compared on the same features; their width is the features' (below)."""


@dataclass
class FeatureSettings:
    """How ``demo --features`` trains: the extractor's epochs on frames, then the feature models'
    clips, batch, epochs and learning rate (the data, the precision and the warm-up + cosine
    schedule are the video demo's)."""

    extractor_epochs: int = 6
    clip_frames: int = 64
    batch_size: int = 8
    epochs: int = 30
    lr: float = 1e-3

    @classmethod
    def quick(cls) -> "FeatureSettings":
        return cls(extractor_epochs=1, epochs=3)


def feature_model_args(name: str, args: dict, dim: int) -> dict:
    """A feature model's builder arguments on ``dim``-wide features: ``in_dim``, and the TA head's
    ``width`` / the LSTM's ``hidden`` at the features' width (as the tiny models scale ResNet
    down), unless given."""
    out = {"in_dim": dim, **args}
    if name == "ta_head":
        out.setdefault("width", dim)
    elif name == "lstm_head":
        out.setdefault("hidden", dim)
    return out


def run_demo_features(out_dir: str | Path = "runs/demo_features", quick: bool = False, seed: int = 0,
                      settings: DemoSettings | None = None, features: FeatureSettings | None = None,
                      models=FEATURE_MODELS, data: DemoData | None = None) -> dict:
    """The comparison on features extracted once: generate (or take ``data``), train the per-frame
    extractor on the frames, extract every video's features (``OUT/features``, the layout of
    docs/features.md), train and evaluate ``models`` on them, test :data:`~tan_video.claims.FEATURE_CLAIMS`,
    report as :func:`run_demo` does. A rerun reuses what is finished (the extractor, the feature
    files, each model), like the video demo."""
    from .extract import extract_features, load_extractor, videos_of_config

    s = settings or demo_settings(quick)
    f = features or (FeatureSettings.quick() if quick else FeatureSettings())
    out = Path(out_dir)
    t0 = time.perf_counter()
    source, class_names, groups, dataset = _prepare_data(out, s, seed, data)
    k = len(class_names)
    results = {"models": {}, "dataset": dataset,
               "settings": {**settings_record(s, seed, quick), "features": asdict(f)}}

    key, label, name, args = FEATURE_EXTRACTOR
    log.info("== %s ==", label)
    ext_cfg = demo_config(source, out / "runs" / key, name, args, replace(s, epochs=f.extractor_epochs), seed, k)
    run = train_or_reuse(ext_cfg)
    net, meta, weights = load_extractor(checkpoint=str(out / "runs" / key / "model.pt"))
    report = extract_features(videos_of_config(ext_cfg), out / "features", net, meta, weights,
                              precision=s.precision, progress=False, replace=True)
    if report.failed:  # generated or checked videos: a failure here is a bug, not bad input
        raise InputError(f"{len(report.failed)} videos failed to extract: {next(iter(report.failed.values()))}")
    dim = report.manifest["dim"]
    results["extractor"] = {"label": label, "model": name, "args": args, "frame_map": run["metrics"]["frame_map"],
                            "video_map": run["metrics"]["video_map"], "train_seconds": round(run["train_seconds"], 1),
                            "steps": run["global_step"], "feature_dim": dim, "features": str(out / "features"),
                            "extract_seconds": round(report.seconds, 1), "videos_extracted": len(report.written),
                            "videos_reused": len(report.skipped)}
    models = [(key, label, name, feature_model_args(name, args, dim)) for key, label, name, args in models]
    fs = replace(s, clip_frames=f.clip_frames, batch_size=f.batch_size, epochs=f.epochs, lr=f.lr)

    def make_cfg(key: str, name: str, args: dict) -> Config:
        cfg = demo_config(source, out / "runs" / key, name, args, fs, seed, k)
        cfg.data.features = str(out / "features")
        cfg.data.num_workers = 0  # memory-mapped reads cost less than a worker process's copies (docs/features.md)
        return cfg

    macs = lambda name, args: count_macs(name, f.clip_frames, s.size, k, **args)  # noqa: E731
    predictions, failed = _train_models(models, make_cfg, macs, f.batch_size, k, results)
    return _report(out, results, predictions, failed, claims_mod.FEATURE_CLAIMS, class_names, groups, s, seed,
                   quick, t0)


def run_demo_seeds(out_dir: str | Path, seeds: list[int], quick: bool = False, settings: DemoSettings | None = None,
                   models=None, train_overrides: dict | None = None, data: DemoData | None = None,
                   on_features: bool = False, features: FeatureSettings | None = None) -> dict:
    """:func:`run_demo` (or with ``on_features`` :func:`run_demo_features`) once per seed into
    ``OUT/seed_<N>/``, then one report in ``OUT``: ``results.json`` (``{"seeds", "summary",
    "claims", "runs"}``), ``results.md`` (mean +- sd per model and group) and ``claims.md`` (each
    seed's margin, mean +- sd; a verdict needs every seed to agree)."""
    if len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds: the same seed twice: {seeds}")
    if len(seeds) < 2:  # (checked before anything runs: the summary needs two)
        raise InputError(f"--seeds needs two or more seeds, got {' '.join(map(str, seeds))}; for one, use --seed N")
    out = Path(out_dir)
    t0 = time.perf_counter()
    if on_features:
        if train_overrides:
            raise ValueError("train_overrides apply to the video demo only")
        one = lambda seed: run_demo_features(out / f"seed_{seed}", quick=quick, seed=seed,  # noqa: E731
                                             settings=settings, features=features, models=models or FEATURE_MODELS,
                                             data=data)
    else:
        one = lambda seed: run_demo(out / f"seed_{seed}", quick=quick, seed=seed, settings=settings,  # noqa: E731
                                    models=models or DEMO_MODELS, train_overrides=train_overrides, data=data)
    runs = {seed: one(seed) for seed in seeds}
    summary = seed_summary(list(runs.values()), result_groups(runs[seeds[0]]))
    rows = claims_mod.combine_seeds({seed: r["claims"] for seed, r in runs.items()})
    report = {"seeds": seeds, "summary": summary, "claims": rows, "runs": [str(out / f"seed_{s}") for s in seeds],
              "total_seconds": round(time.perf_counter() - t0, 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "results.md").write_text(seed_summary_markdown(summary))
    (out / "claims.md").write_text(claims_mod.claims_markdown(rows, report_note(quick)))
    return report


def result_groups(results: dict) -> dict[str, str]:
    """Class name -> group of a ``results.json`` (empty for a user's dataset without groups)."""
    return {c: v["group"] for c, v in results["dataset"]["classes"].items() if v.get("group")}


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
    """The results table for people; the group table and group column only where groups are known."""
    failed = {k: r for k, r in results["models"].items() if r.get("failed")}
    models = {k: r for k, r in results["models"].items() if k not in failed}
    lines = ["| model | frame mAP | video mAP | params | GMACs/clip | train s | clips/s |", "|---|---|---|---|---|---|---|"]
    for r in failed.values():
        lines.append(f"| {r['label']} | failed | failed | | | | |")
    for r in models.values():
        lines.append(f"| {r['label']} | {100 * r['frame_map']:.1f} | {100 * r['video_map']:.1f} | "
                     f"{r['params'] / 1e6:.2f} M | {r['gmacs_per_clip']:.2f} | {r['train_seconds']:.0f} | "
                     f"{r['clips_per_second']:.0f} |")
    group_names = list(dict.fromkeys(groups.values()))
    if group_names:
        lines += ["", "Mean frame AP per class group (the temporal scale a class needs):", ""]
        lines.append("| model | " + " | ".join(group_names) + " |")
        lines.append("|---|" + "---|" * len(group_names))
        for r in models.values():
            means = group_means(r["per_class_ap"], groups)
            cells = ["-" if means[g] is None else f"{100 * means[g]:.1f}" for g in group_names]
            lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    classes = list(next(iter(models.values()))["per_class_ap"]) if models else []
    order = sorted(classes, key=lambda c: group_names.index(groups[c]) if c in groups else len(group_names))
    lines += ["", "Per-class frame AP:", "", "| class | group | " + " | ".join(models) + " |",
              "|---|---|" + "---|" * len(models)]
    for c in order:
        cells = [("-" if r["per_class_ap"].get(c) is None else f"{100 * r['per_class_ap'][c]:.1f}") for r in models.values()]
        lines.append(f"| {c} | {groups.get(c, '-')} | " + " | ".join(cells) + " |")
    for r in failed.values():
        lines += ["", f"**{r['label']} failed:** {r['failed']}"]
    if results.get("extractor"):
        e = results["extractor"]
        lines += ["", f"Features: {e['label']}, trained {e['train_seconds']:.0f} s on the frames (frame mAP "
                  f"{100 * e['frame_map']:.1f}, video mAP {100 * e['video_map']:.1f}); {e['feature_dim']}-d features "
                  f"of every video in {e['features']} (extracted in {e['extract_seconds']:.0f} s)."]
    return "\n".join(lines) + "\n"


def group_means(per_class_ap: dict[str, float | None], groups: dict[str, str]) -> dict[str, float | None]:
    """Mean AP of each class group (classes without positives, AP None, left out; None if none left)."""
    out: dict[str, float | None] = {}
    for g in dict.fromkeys(groups.values()):
        aps = [ap for c, ap in per_class_ap.items() if groups.get(c) == g and ap is not None]
        out[g] = float(np.mean(aps)) if aps else None
    return out


def seed_summary(runs: list[dict], groups: dict[str, str] | None = None) -> dict:
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
    if groups is None:
        groups = {c.name: c.group for c in synthetic.CLASSES}

    def stats(values: list[float]) -> dict:
        return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)), "values": values}

    models = {}
    for key, first in runs[0]["models"].items():
        per_run = [r["models"][key] for r in runs]
        lost = [r["settings"]["seed"] for r, m in zip(runs, per_run) if m.get("failed")]
        if lost:  # no mean over seeds without every seed's number
            models[key] = {"label": first["label"], "failed_seeds": lost}
            continue
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
    group_names = list(dict.fromkeys(g for m in models.values() for g in m.get("groups", {})))
    pm = lambda s: f"{100 * s['mean']:.1f} +- {100 * s['sd']:.1f}"  # noqa: E731
    lines = [f"| model | frame mAP (seeds {', '.join(map(str, summary['seeds']))}) | video mAP | "
             + " | ".join(group_names) + " |", "|---|---|---|" + "---|" * len(group_names)]
    for m in models.values():
        if m.get("failed_seeds"):
            lines.append(f"| {m['label']} | failed to train with seed(s) {', '.join(map(str, m['failed_seeds']))} | | "
                         + " | " * len(group_names))
            continue
        values = ", ".join(f"{100 * v:.1f}" for v in m["frame_map"]["values"])
        lines.append(f"| {m['label']} | {pm(m['frame_map'])} ({values}) | {pm(m['video_map'])} | "
                     + " | ".join(pm(m["groups"][g]) if g in m["groups"] else "-" for g in group_names) + " |")
    return "\n".join(lines) + "\n"
