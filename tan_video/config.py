"""Typed run configuration: YAML files mapped onto dataclasses, with dotted ``KEY=VALUE`` overrides.

A config file may name a ``base:`` file (relative to itself) whose values it overlays, so the
paper's ablations are small overlays of one recipe. Unknown keys are errors that name the file.
The resolved config is written beside every run (``config.yaml``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .data.defaults import DEFAULT_FPS, NATIVE_FPS
from .errors import InputError


@dataclass
class ModelConfig:
    name: str = "tan_r50"
    num_classes: int | None = None  # None: the length of the class list
    pretrained: str | None = None  # None | "imagenet" | path to a 2D ResNet state dict
    init_from: str | None = None  # a tan-video checkpoint to fine-tune from (new head if K differs)
    args: dict[str, Any] = field(default_factory=dict)  # builder arguments: levels, dilations, ...


@dataclass
class DataConfig:
    annotations: str | None = None
    format: str | None = None  # charades_csv | dense_json | multithumos_txt | activitynet_json
    class_base: int = 0
    classes: str | None = None  # class list file (Charades_v1_classes.txt, classes.txt)
    test_annotations: str | None = None  # when the test split lives in its own file (Charades CSVs)
    videos: str | None = None  # folder of video files or of per-video frame folders
    fps: float = DEFAULT_FPS
    native_fps: float = NATIVE_FPS  # frame rate of frame folders (they carry no timing): Charades' are 24
    clip_frames: int = 16
    size: int = 224
    resize: int | None = None  # short side before cropping; None: size * 8 / 7 (256 for 224)
    crop_scale: list[float] | None = None  # random resized crop's area range; None: the dataset default
    flip: bool = True  # random horizontal flips in training; off for classes such as "moving left"
    protocol: str = "frames"  # frames (every sampled frame) | charades (25 points per video)
    label_list: str | None = None  # single-label pretraining: "path label" list (Table 5)
    num_workers: int = 2
    cache_videos: bool = False  # keep decoded videos in memory (small datasets, e.g. the demo)
    # a folder of per-video feature files <id>.npy, (N, D) or (N, 1, 1, D), instead of videos, for
    # the feature models (ta_head, linear_head, lstm_head; docs/features.md)
    features: str | None = None
    # features per second; None: the folder's manifest.json (tan-video extract), else N / duration
    feature_fps: float | None = None


@dataclass
class TrainConfig:
    epochs: int = 20
    lr: float = 1.0e-4
    # learning-rate schedule, applied per optimiser step: "cosine" (to zero at the last step) or
    # "step" (x lr_gamma at each epoch of lr_steps, the paper's); either after a linear warm-up
    schedule: str = "cosine"
    warmup: float = 0.05  # fraction of all optimiser steps spent ramping lr up from lr/steps (0: none)
    lr_steps: list[int] = field(default_factory=lambda: [10])  # schedule=step: epochs where lr *= lr_gamma
    lr_gamma: float = 0.1
    weight_decay: float = 0.0
    # learning rate of the TA modules' temporal branches: "same" as the rest (the paper), or
    # "fan_in": lr / sqrt(branches * k * C) per module, so that an Adam step changes a module's
    # output by about the same amount whatever its width (see the README's demo investigation)
    temporal_lr: str = "same"
    # weight of a class's positive frames in the multi-label BCE, from p, the fraction of the
    # training frames (sampled at data.fps) that carry it: "none" (1: the paper's plain BCE),
    # "sqrt" (sqrt((1 - p) / p)) or "balanced" ((1 - p) / p); rare, short classes are otherwise
    # learnt last (docs/training.md, "Rare classes")
    pos_weight: str = "none"
    batch_size: int = 8
    accumulate: int = 1
    # Lightning's precision; "auto": bf16-mixed where the hardware computes bf16 natively (CPUs
    # with AVX512-BF16/AMX, GPUs with bf16), 16-mixed on other GPUs, else 32-true (see the README:
    # emulated bf16 convolutions measured 2-19x slower than fp32 on an AVX2 CPU)
    precision: str = "auto"
    channels_last: bool = True
    max_steps: int = -1
    val_every: int = 1  # epochs between validations; 0: only at the end
    checkpoint_every_steps: int = 0  # also write last.ckpt every N optimiser steps (0: only every epoch)
    seed: int = 0
    mode: str = "multilabel"  # multilabel (BCE on dense targets) | single_label (softmax, pretraining)
    out: str = "runs/default"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    accelerator: str = "auto"
    progress: bool = True
    progress_label: str = ""  # the progress bar's name; "": the run folder's name
    log_every: int = 10
    log_samples: bool = False  # write the video ids of every training batch, per rank, to logs/


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "args" else v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if not path.is_file():
        raise InputError("no such config file", path=path)
    if path.resolve() in seen:
        raise InputError("config files include each other in a loop", path=path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise InputError(f"invalid YAML ({getattr(e, 'problem', e)})", path=path,
                         line=None if line is None else line + 1) from None
    if not isinstance(raw, dict):
        raise InputError("a config file must be a mapping of sections", path=path)
    base = raw.pop("base", None)
    if base:
        raw = _merge(_read_yaml((path.parent / base), seen + (path.resolve(),)), raw)
    return raw


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise InputError(f"override {text!r} is not KEY=VALUE (e.g. train.epochs=5)")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value != "" else None
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig}


def _check_override_key(text: str, keys: list[str]) -> None:
    """An override's section and key must exist: its typo is the override's, not the config file's."""
    if keys[0] not in _SECTIONS:
        raise InputError(f"override {text!r}: unknown section {keys[0]!r}; known: {', '.join(_SECTIONS)}")
    names = [f.name for f in dataclasses.fields(_SECTIONS[keys[0]])]
    if len(keys) == 1:
        raise InputError(f"override {text!r}: name a key of {keys[0]} (e.g. {keys[0]}.{names[0]}=...)")
    if keys[1] not in names:
        close = difflib.get_close_matches(keys[1], names, n=1)
        hint = f"did you mean {keys[0]}.{close[0]}? " if close else ""
        raise InputError(f"override {text!r}: unknown key {keys[1]!r} in {keys[0]}; {hint}known: {', '.join(names)}")


def _build(cls, values: dict, where: str):
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(f"{where}: unknown key {key!r}; {hint}known: {', '.join(names)}")
        kwargs[key] = value
    return cls(**kwargs)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                defaults: dict | None = None) -> Config:
    """Read a YAML config (and its ``base:`` chain), apply ``section.key=value`` overrides."""
    raw = _merge(defaults or {}, _read_yaml(Path(path)) if path is not None else {})
    for text in overrides:
        keys, value = _parse_override(text)
        _check_override_key(text, keys)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise InputError(f"override {text!r}: {k} is not a section")
        node[keys[-1]] = value
    label = str(path) if path is not None else "config"
    for section in raw:
        if section not in ("model", "data", "train"):
            raise InputError(f"{label}: unknown section {section!r}; known: model, data, train")
        if not isinstance(raw[section], dict):
            raise InputError(f"{label}: section {section!r} must be a mapping")
    cfg = Config(
        model=_build(ModelConfig, raw.get("model", {}), f"{label}: model"),
        data=_build(DataConfig, raw.get("data", {}), f"{label}: data"),
        train=_build(TrainConfig, raw.get("train", {}), f"{label}: train"),
    )
    _check_types(cfg, label)
    return cfg


# Lightning's precision names and the shorter spellings users write (YAML reads 32 as a number)
PRECISIONS = {"auto": "auto", "32": "32-true", "32-true": "32-true",
              "bf16": "bf16-mixed", "bf16-mixed": "bf16-mixed", "bf16-true": "bf16-true",
              "16": "16-mixed", "16-mixed": "16-mixed", "16-true": "16-true", "64": "64-true", "64-true": "64-true"}


def normalize_precision(value, where: str = "train.precision", choices=None) -> str:
    """A precision as users spell it (``32``, ``"bf16"``, ``"16-mixed"``, ...) -> Lightning's full
    name (``"32-true"``, ``"bf16-mixed"``, ...), ``"auto"`` kept; a spelling not among ``choices``
    (default: every key of :data:`PRECISIONS`) is an :class:`~tan_video.errors.InputError` that
    lists them."""
    choices = list(PRECISIONS) if choices is None else choices
    key = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if key not in choices:
        raise InputError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
    return PRECISIONS[key]


POS_WEIGHTS = ("none", "sqrt", "balanced")  # train.pos_weight (training.class_pos_weight)
CHOICES = {("train", "temporal_lr"): ("same", "fan_in"), ("train", "mode"): ("multilabel", "single_label"),
           ("train", "schedule"): ("cosine", "step"), ("train", "pos_weight"): POS_WEIGHTS}


# the numbers with a floor: the smallest value each may take, and those that must be above 0
AT_LEAST = {("train", "epochs"): 1, ("train", "batch_size"): 1, ("train", "accumulate"): 1, ("train", "log_every"): 1,
            ("train", "num_nodes"): 1, ("data", "clip_frames"): 1, ("data", "size"): 1, ("data", "resize"): 1,
            ("data", "num_workers"): 0}
POSITIVE = (("train", "lr"), ("data", "fps"), ("data", "native_fps"), ("data", "feature_fps"))


def _check_types(cfg: Config, label: str) -> None:
    """Catch the common typo classes early (a string where a number belongs, an unknown choice)."""
    for (section, name), allowed in CHOICES.items():
        value = getattr(getattr(cfg, section), name)
        if value not in allowed:
            raise InputError(f"{label}: {section}.{name} must be one of {', '.join(allowed)}, got {value!r}")
    for section in ("model", "data", "train"):
        obj = getattr(cfg, section)
        for f in dataclasses.fields(obj):
            value, default = getattr(obj, f.name), f.default
            if value is None or default is None or default is dataclasses.MISSING:
                continue
            if isinstance(default, bool) and not isinstance(value, bool):
                raise InputError(f"{label}: {section}.{f.name} must be true or false, got {value!r}")
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise InputError(f"{label}: {section}.{f.name} must be a number, got {value!r}")
                if isinstance(default, float):
                    setattr(obj, f.name, float(value))
                elif isinstance(value, float):
                    if not value.is_integer():
                        raise InputError(f"{label}: {section}.{f.name} must be a whole number, got {value!r}")
                    setattr(obj, f.name, int(value))
    for (section, name), low in AT_LEAST.items():
        value = getattr(getattr(cfg, section), name)
        if value is not None and not value >= low:
            raise InputError(f"{label}: {section}.{name} must be at least {low}, got {value!r}")
    for section, name in POSITIVE:
        value = getattr(getattr(cfg, section), name)
        if value is not None and not value > 0:
            raise InputError(f"{label}: {section}.{name} must be positive, got {value!r}")
    if cfg.data.crop_scale is not None and not (
            isinstance(cfg.data.crop_scale, list) and len(cfg.data.crop_scale) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cfg.data.crop_scale)
            and 0 < cfg.data.crop_scale[0] <= cfg.data.crop_scale[1] <= 1):
        raise InputError(f"{label}: data.crop_scale is an area range [low, high] with 0 < low <= high <= 1, "
                         f"got {cfg.data.crop_scale!r}")
    cfg.train.precision = normalize_precision(cfg.train.precision, f"{label}: train.precision")
    if not 0 <= cfg.train.warmup < 1:
        raise InputError(f"{label}: train.warmup is a fraction of the training steps in [0, 1), got {cfg.train.warmup}")


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
