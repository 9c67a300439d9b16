"""Training and evaluation on Lightning: the paper's recipe (section 4.3) as a typed config.

- Multi-label mode: BCE-with-logits on dense ``(T, K)`` targets of 16-frame clips.
- Single-label mode (Kinetics-style pretraining, Table 5): the clip's frame logits are averaged
  and trained with softmax cross-entropy; fine-tune from that checkpoint with ``model.init_from``
  (a new head when the number of classes differs).
- Validation runs whole videos through :func:`tan_video.inference.predict_logits` (exact chunks)
  and scores them with the protocols of :mod:`tan_video.evaluation` (which also scores saved
  checkpoints: :func:`tan_video.evaluation.evaluate`).

Checkpoints are self-describing (:mod:`tan_video.checkpoint`). Writes are atomic: a checkpoint is
written to a temporary name and moved into place, so a killed run never leaves half a file, and
``resume=True`` continues from ``checkpoints/last.ckpt`` (every epoch, and every
``train.checkpoint_every_steps`` steps when set) as the same run: bit-identical to one that was
never stopped (:mod:`tan_video.resume`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from torch.nn import functional as F
from torch.utils.data import DataLoader

from .checkpoint import load_checkpoint, save_model_file, training_progress
from .config import POS_WEIGHTS, Config, normalize_precision, save_config
from .data.annotations import dense_targets
from .data.datasets import ClipDataset, EpochOrder, LabelListDataset, VideoDataset
from .data.features import FeatureClipDataset, FeatureFolder, FeatureVideoDataset
from .data.split import check_videos, read_split
from .data.transforms import normalize
from .data.video import sample_times
from .errors import InputError, TrainingDiverged
from .evaluation import VideoPrediction, check_finite, compute_metrics
from .inference import predict_logits
from .models import create_model, takes_features, to_channels_last
from .models.registry import CHANGED_DEFAULTS, list_models, model_arguments, recorded_args
from .models import TemporalAggregation
from .models.weights import IMAGENET_MEAN, IMAGENET_STD
from .quiet import quiet_lightning  # noqa: F401  (also used as tan_video.training.quiet_lightning)
from .resume import ResumeState

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to ``<name>.tmp`` then rename: a checkpoint on disk is always complete."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        # (not tan_video.atomic: its temporary name would end in .ckpt, which Lightning may read
        # as a checkpoint; a killed run leaves "<name>.tmp" instead)
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


# -- data ---------------------------------------------------------------------------------------
def _first_item(batch: list[dict]) -> dict:
    return batch[0]


class TANDataModule(L.LightningDataModule):
    """Annotations -> train clips + whole test videos; the split comes from each video's subset."""

    def __init__(self, cfg: Config, resume_state: ResumeState | None = None):
        super().__init__()
        self.cfg = cfg
        self.resume_state = resume_state
        self.class_names, self.train_anns, self.test_anns = read_split(cfg)
        self.features = None  # a FeatureFolder when the config trains on features
        if cfg.data.features:
            if cfg.train.mode == "single_label":
                raise InputError("train.mode=single_label reads videos from data.label_list, not data.features")
            self.features = FeatureFolder(cfg.data.features, cfg.data.feature_fps)
            self.features.check(self.train_anns + self.test_anns)
        elif cfg.train.mode != "single_label":
            check_videos(self.train_anns + self.test_anns, cfg.data.videos)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def train_dataloader(self) -> DataLoader:
        d, t = self.cfg.data, self.cfg.train
        if self.features is not None:
            ds = FeatureClipDataset(self.train_anns, self.features, self.num_classes, clip_frames=d.clip_frames)
        elif t.mode == "single_label":
            ds = LabelListDataset(d.label_list, fps=d.fps, clip_frames=d.clip_frames, size=d.size, train=True,
                                  resize=d.resize, root=d.videos, cache=d.cache_videos, flip=d.flip,
                                  native_fps=d.native_fps, **_crop(d))
        else:
            ds = ClipDataset(self.train_anns, d.videos, self.num_classes, fps=d.fps, clip_frames=d.clip_frames,
                             size=d.size, train=True, resize=d.resize, cache=d.cache_videos, flip=d.flip,
                             native_fps=d.native_fps, **_crop(d))
        return DataLoader(ds, sampler=self.training_order(len(ds)), batch_size=t.batch_size,
                          drop_last=len(ds) > t.batch_size * self._world_size(), num_workers=d.num_workers,
                          persistent_workers=d.num_workers > 0,
                          generator=torch.Generator().manual_seed(t.seed))  # the workers' base seed

    def _world_size(self) -> int:
        return self.trainer.world_size if self.trainer is not None else 1

    def training_order(self, size: int) -> EpochOrder:
        """This rank's order, starting where the run is (a resume skips the batches already done)."""
        world, rank = self._world_size(), (self.trainer.global_rank if self.trainer is not None else 0)
        epoch, batches = self.resume_state.start(world) if self.resume_state is not None else (0, 0)
        return EpochOrder(size, self.cfg.train.seed, world, rank, epoch=epoch, skip=batches * self.cfg.train.batch_size)

    def val_dataloader(self) -> DataLoader:
        d = self.cfg.data
        if self.features is not None:
            ds = FeatureVideoDataset(self.test_anns, self.features, self.num_classes)
        else:
            ds = VideoDataset(self.test_anns, d.videos, self.num_classes, fps=d.fps, size=d.size, resize=d.resize,
                              cache=d.cache_videos, native_fps=d.native_fps)
        return DataLoader(ds, batch_size=1, shuffle=False, num_workers=d.num_workers, collate_fn=_first_item,
                          persistent_workers=d.num_workers > 0)


def _crop(d) -> dict:
    return {} if d.crop_scale is None else {"crop_scale": tuple(d.crop_scale)}


class StepProgress(L.Callback):
    """One progress bar for a whole run (every optimiser step of every epoch), named after the run,
    with the running loss; replaces Lightning's bar, which starts anew each epoch."""

    def __init__(self, desc: str, refresh: int = 10):
        self.desc, self.refresh, self.bar = desc, max(1, refresh), None

    def on_train_start(self, trainer, pl_module):
        if trainer.is_global_zero:
            from tqdm import tqdm

            total = trainer.estimated_stepping_batches
            self.bar = tqdm(total=None if total == float("inf") else int(total), desc=self.desc, unit="step",
                            initial=trainer.global_step, dynamic_ncols=True, mininterval=1.0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.bar is not None and trainer.global_step > self.bar.n:
            loss = trainer.callback_metrics.get("train/loss")
            if loss is not None and trainer.global_step % self.refresh == 0:
                self.bar.set_postfix(loss=f"{float(loss):.3f}", refresh=False)
            self.bar.update(trainer.global_step - self.bar.n)

    def on_train_end(self, trainer, pl_module):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class SampleLog(L.Callback):
    """Appends the video ids of every training batch to ``logs/samples_rank<R>.txt`` (audit, DDP check)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"samples_rank{trainer.global_rank}.txt", "a") as f:
            f.write("\n".join(batch["video_id"]) + "\n")


class NonFiniteGuard(L.Callback):
    """Stops training at the first non-finite loss, or non-finite gradient, before the optimiser
    applies it: :class:`~tan_video.errors.TrainingDiverged` with one line that names the run, the
    step and what to try. The weights are never updated from a bad step, and ``last.ckpt`` (written
    at an earlier step) stays as it was. Gradients are not checked under ``16-mixed``, whose
    gradient scaler expects and skips the occasional overflowing step itself."""

    def __init__(self, run: str, ckpt_dir: Path, precision: str, lr: float):
        self.run, self.ckpt_dir, self.precision, self.lr = run, Path(ckpt_dir), precision, lr

    def on_before_backward(self, trainer, pl_module, loss):
        if not torch.isfinite(loss.detach()).all():
            self._stop(trainer, f"the training loss is {float(loss.detach().float().sum())}")

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.precision.startswith("16"):
            return
        grads = [(n, p.grad) for n, p in pl_module.named_parameters() if p.grad is not None]
        if not grads:
            return
        finite = torch.stack([torch.isfinite(g).all() for _, g in grads]).cpu()  # one device sync
        if not finite.all():
            name = grads[int((~finite).nonzero()[0])][0]
            self._stop(trainer, f"the gradient of {name.removeprefix('model.')} is not finite")

    def _stop(self, trainer, what: str):
        last = self.ckpt_dir / "last.ckpt"
        kept = (f"the last good checkpoint, {last} (step {training_progress(last)[2]}), is kept"
                if last.is_file() else "no checkpoint had been written yet")
        raise TrainingDiverged(
            f"{self.run}: training diverged at optimiser step {trainer.global_step + 1}: {what}; {kept}. Try a "
            f"lower train.lr (now {self.lr:g})"
            + (f" or train.precision=32 (now {self.precision})" if self.precision != "32-true" else "")
            + ", with --overwrite to train again in the same folder")


# -- the Lightning module -----------------------------------------------------------------------
class TANModule(L.LightningModule):
    """A registered model + the paper's optimiser; every hyper-parameter is saved in checkpoints."""

    def __init__(self, model_args: dict, class_names: list[str], fps: float, size: int, lr: float = 1e-4,
                 lr_steps: list[int] | None = None, lr_gamma: float = 0.1, weight_decay: float = 0.0,
                 schedule: str = "step", warmup: float = 0.0,
                 temporal_lr: str = "same", pos_weight: list[float] | None = None, mode: str = "multilabel",
                 channels_last: bool = True, protocol: str = "frames",
                 eval_precision: str = "32", clip_frames: int = 16, resize: int | None = None,
                 mean: tuple = IMAGENET_MEAN, std: tuple = IMAGENET_STD):
        super().__init__()
        self.save_hyperparameters()
        args = dict(model_args)
        self.model = create_model(args.pop("name"), **args)
        # (a buffer, so that it follows the module to its device; not persistent: the hyper-
        # parameters record it, and state dicts stay the model's own)
        self.register_buffer("pos_weight", None if pos_weight is None else torch.tensor(pos_weight), persistent=False)
        if channels_last:
            to_channels_last(self.model)
        self._val: list[VideoPrediction] = []
        self.run_name = "the model"  # fit() names it after the run's folder
        self.last_metrics: dict | None = None
        self.last_predictions: list[VideoPrediction] = []

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """uint8 clip ``(B, 3, T, H, W)`` (or features ``(B, T, D)`` for a feature model) -> frame
        logits ``(B, T, K)``."""
        return self.model(clip.float() if takes_features(self.model) else normalize(clip))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        logits = self(batch["clip"]).float()
        if self.hparams.mode == "single_label":
            loss = F.cross_entropy(logits.mean(dim=1), batch["label"])
        else:
            loss = F.binary_cross_entropy_with_logits(logits, batch["targets"].float(), pos_weight=self.pos_weight)
        self.log("train/loss", loss, prog_bar=True, batch_size=logits.shape[0])
        return loss

    def validation_step(self, item: dict, batch_idx: int) -> None:
        logits = predict_logits(self.model, item["frames"], precision=self.hparams.eval_precision)
        self._val.append(VideoPrediction(item["annotation"], item["times"].cpu().numpy(),  # (on a GPU, Lightning
                                         torch.sigmoid(logits).float().cpu().numpy()))  # moved the item there)

    def on_validation_epoch_end(self) -> None:
        preds = self._gather(self._val)
        self._val = []
        if not preds:
            return
        try:
            check_finite(preds, self.run_name)
        except InputError as e:
            raise TrainingDiverged(str(e) + "; the training diverged: try a lower train.lr or train.precision=32") from None
        result = compute_metrics(preds, self.hparams.class_names, self.hparams.protocol)
        self.last_metrics, self.last_predictions = result, preds
        for key in ("frame_map", "video_map", "charades_localize_map"):
            if key in result:
                self.log(f"val/{key}", result[key], prog_bar=key == "frame_map", sync_dist=False)

    def _gather(self, preds: list[VideoPrediction]) -> list[VideoPrediction]:
        """All processes' predictions (DDP shards the test videos), one per video."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            parts = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(parts, preds)
            preds = [p for part in parts for p in part]
        unique = {p.video_id: p for p in preds}  # the distributed sampler pads with repeats
        return [unique[k] for k in sorted(unique)]

    def param_groups(self) -> list[dict]:
        """One group at ``lr``; with ``temporal_lr="fan_in"`` each TA module's branches get their own
        group at ``lr / sqrt(branches * k * C)`` (Adam moves every weight by about ``lr`` per step,
        so a zero-initialised module's output would otherwise move in proportion to its fan-in)."""
        lr = self.hparams.lr
        if self.hparams.get("temporal_lr", "same") != "fan_in":
            return [{"params": list(self.parameters()), "lr": lr}]
        groups, taken = [], set()
        for m in self.model.modules():
            if isinstance(m, TemporalAggregation) and len(m.convs):
                params = [p for conv in m.convs for p in conv.parameters()]
                taken |= {id(p) for p in params}
                groups.append({"params": params, "lr": lr / math.sqrt(len(m.dilations) * m.kernel_size * m.channels)})
        rest = [p for p in self.parameters() if id(p) not in taken]
        return [{"params": rest, "lr": lr}] + groups

    def make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.param_groups(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    def configure_optimizers(self):
        opt = self.make_optimizer()
        h = self.hparams
        total = max(1, int(self.trainer.estimated_stepping_batches))
        per_epoch = max(1, math.ceil(self.trainer.num_training_batches / self.trainer.accumulate_grad_batches))
        schedule = LRSchedule(total, warmup=round(h.get("warmup", 0.0) * total), kind=h.get("schedule", "step"),
                              milestones=[e * per_epoch for e in (h.lr_steps or [])], gamma=h.lr_gamma)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class LRSchedule:
    """The learning-rate factor of optimiser step ``i`` (0-based): a linear warm-up over the first
    ``warmup`` steps (``(i + 1) / warmup``), times either a cosine from 1 down to 0 at step
    ``total`` (``kind="cosine"``) or ``gamma`` per milestone step passed (``kind="step"``).

    Why the warm-up: Adam's first steps move every weight by about ``lr`` regardless of its
    gradient's size, all in step; from pretrained features that is the most violent moment of a
    run (see the README's TA-initialisation measurements). Picklable, so resumed runs rebuild it.
    """

    def __init__(self, total: int, warmup: int = 0, kind: str = "cosine", milestones=(), gamma: float = 0.1):
        if kind not in ("cosine", "step"):
            raise ValueError(f"unknown schedule {kind!r}")
        self.total, self.warmup, self.kind = max(1, total), max(0, warmup), kind
        self.milestones, self.gamma = sorted(milestones), gamma

    def __call__(self, step: int) -> float:
        factor = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.kind == "step":
            return factor * self.gamma ** sum(step >= m for m in self.milestones)
        start = self.warmup
        progress = min(1.0, max(0.0, (step - start) / max(1, self.total - start)))
        return factor * 0.5 * (1.0 + math.cos(math.pi * progress))


def train_precision(t) -> str:
    """Lightning's precision for a :class:`~tan_video.config.TrainConfig`, ``"auto"`` resolved.

    ``auto``: ``bf16-mixed`` on a CUDA GPU with bf16 (``16-mixed`` on older GPUs) or on a CPU with
    native bf16 (:func:`~tan_video.inference.default_precision`), else ``32-true``. On a CPU
    without it, oneDNN has no bf16 convolution and PyTorch falls back to a reference kernel:
    measured 2-19x *slower* than fp32 for the tiny models on the 2-core AVX2 machine
    (``benchmarks/results/train_precision.json``).
    """
    precision = normalize_precision(t.precision)
    if precision != "auto":
        return precision
    if t.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    from .inference import default_precision

    return "bf16-mixed" if default_precision() == "bf16" else "32-true"


def _model_args(cfg: Config, num_classes: int, feature_dim: int | None = None) -> dict:
    if cfg.model.num_classes is not None and cfg.model.num_classes != num_classes:
        raise InputError(f"model.num_classes={cfg.model.num_classes} but the class list has {num_classes} classes")
    args = recorded_args(cfg.model.name, cfg.model.args)
    reads_features = "in_dim" in model_arguments(cfg.model.name)
    if reads_features != bool(cfg.data.features):
        raise InputError(f"model {cfg.model.name!r} reads per-frame features: set data.features to a feature folder"
                         if reads_features else
                         f"data.features is set but model {cfg.model.name!r} reads video frames; the feature models "
                         f"are {', '.join(list_models('*_head'))}")
    if reads_features and feature_dim is not None:
        if args.get("in_dim", feature_dim) != feature_dim:
            raise InputError(f"model.args.in_dim={args['in_dim']} but the features have dimension {feature_dim}",
                             path=cfg.data.features)
        args = {**args, "in_dim": feature_dim}
    return {"name": cfg.model.name, "num_classes": num_classes, **args}


def positive_rates(annotations, num_classes: int, fps: float) -> tuple[np.ndarray, int]:
    """Per class, the fraction of the frames sampled at ``fps`` (all videos together) that carry it,
    and the number of frames counted."""
    positives, frames = np.zeros(num_classes), 0
    for ann in annotations:
        times = sample_times(ann.duration, fps)
        positives += dense_targets(ann, times, num_classes).sum(axis=0)
        frames += len(times)
    return positives / max(1, frames), frames


def class_pos_weight(kind: str, annotations, num_classes: int, fps: float) -> list[float] | None:
    """``train.pos_weight`` as a list of K weights (None for ``"none"``): ``(1 - p) / p`` per class
    for ``"balanced"``, its square root for ``"sqrt"``, where ``p`` is the class's share of the
    training frames; 1 for a class with no positive (or no negative) frame."""
    if kind == "none":
        return None
    if kind not in POS_WEIGHTS:
        raise InputError(f"train.pos_weight must be one of {', '.join(POS_WEIGHTS)}, got {kind!r}")
    p, frames = positive_rates(annotations, num_classes, fps)
    if frames == 0:
        raise InputError("train.pos_weight needs training videos with a duration: none has any")
    w = np.ones(num_classes)
    seen = (p > 0) & (p < 1)
    w[seen] = (1 - p[seen]) / p[seen]
    if kind == "sqrt":
        w = np.sqrt(w)
    return [float(x) for x in w]


def build_module(cfg: Config, class_names: list[str], feature_dim: int | None = None,
                 pos_weight: list[float] | None = None) -> TANModule:
    module = TANModule(
        _model_args(cfg, len(class_names), feature_dim), class_names, fps=cfg.data.fps, size=cfg.data.size, lr=cfg.train.lr,
        lr_steps=cfg.train.lr_steps, lr_gamma=cfg.train.lr_gamma, weight_decay=cfg.train.weight_decay,
        schedule=cfg.train.schedule, warmup=cfg.train.warmup,
        temporal_lr=cfg.train.temporal_lr, pos_weight=pos_weight, mode=cfg.train.mode,
        channels_last=cfg.train.channels_last, protocol=cfg.data.protocol,
        eval_precision="bf16" if train_precision(cfg.train).startswith("bf16") else "32", clip_frames=cfg.data.clip_frames,
        resize=cfg.data.resize, mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD),
    )
    if cfg.model.pretrained:
        from .models.weights import load_pretrained

        source = module.model.imagenet_weights if cfg.model.pretrained == "imagenet" else cfg.model.pretrained
        if source is None:
            raise InputError(f"model {cfg.model.name!r} has no ImageNet weights")
        load_pretrained(module.model, source)
    if cfg.model.init_from:
        init_from_checkpoint(module.model, cfg.model.init_from)
    return module


def init_from_checkpoint(model: torch.nn.Module, path: str) -> None:
    """Fine-tuning (Table 5): every tensor of a tan-video checkpoint; a new head if K differs."""
    ckpt = load_checkpoint(path)
    state = ckpt["state_dict"]
    own = model.state_dict()
    head = {k for k in state if k.startswith("fc.") and k in own and state[k].shape != own[k].shape}
    missing = [k for k in own if k not in state]
    if missing:
        raise InputError(f"checkpoint architecture differs from model {ckpt['build_args']['name']!r} "
                         f"({len(missing)} tensors missing, first {missing[0]})", path=path)
    model.load_state_dict({k: v for k, v in state.items() if k not in head}, strict=False)
    if head:
        log.info("%s: new classifier for %d classes (checkpoint had %d)", path, own["fc.weight"].shape[0],
                 state["fc.weight"].shape[0])


# -- fit ----------------------------------------------------------------------------------------
def fit(cfg: Config, resume: bool = False, callbacks: list | None = None, overwrite: bool = False) -> dict:
    """Train as configured; returns the final validation metrics and the paths written.

    A ``cfg.train.out`` that already holds a run (``model.pt`` or ``checkpoints/last.ckpt``) is an
    :class:`~tan_video.errors.InputError` unless ``resume`` (continue it) or ``overwrite`` (remove
    its model, checkpoints, metrics and logs, then train from scratch); not both.

    Writes into ``cfg.train.out``: ``config.yaml`` (resolved), ``checkpoints/last.ckpt``
    (resumable), ``model.pt`` (the self-describing final model), ``metrics.json``, CSV and
    TensorBoard logs. The terminal shows one progress bar for the run and Lightning's warnings,
    not its informational lines.
    """
    with quiet_lightning():
        return _fit(cfg, resume, callbacks, overwrite)


EARLIER_RUN = ("model.pt", "metrics.json", "checkpoints", "logs", "tb")
"""What a run writes into ``train.out`` besides its config: a run started again from scratch
(``overwrite``) removes them, so that no file of the earlier run is taken for the new one's."""


VECTOR_MATH_OPS = ("sqrt", "rsqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "tanh", "sigmoid", "sin", "cos",
                   "tan", "asin", "acos", "atan", "sinh", "cosh", "erf", "erfc", "erfinv", "lgamma", "reciprocal")


def init_vector_math() -> None:
    """Call each of PyTorch's MKL-backed elementwise functions once, on one thread, before training.

    PyTorch runs them (``sqrt`` in Adam's step, ``exp``, ``tanh``, ...) through MKL's vector
    math, split across the threads once a tensor has 2048 elements or more. Measured on the 2-core AVX-512
    machine: in 8 of 69 training processes on a loaded machine, the *first* such ``sqrt``
    call (Adam's first step, on a 2352-element weight) returned half its elements, exactly the
    first thread's chunk, with a relative error up to 3e-4 instead of correctly rounded, and that
    run then took another, repeatable, path (docs/training.md, "Resuming"). A first call made
    here, on 4 elements, runs on one thread."""
    x = torch.full((4,), 0.5)
    for name in VECTOR_MATH_OPS:
        getattr(torch, name)(x)


def clear_run(out: Path) -> None:
    """Remove what an earlier run wrote into ``out`` (:data:`EARLIER_RUN`); its config stays."""
    for name in EARLIER_RUN:
        target = Path(out) / name
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)


def _claim_out_folder(cfg: Config, out: Path, resume: bool, overwrite: bool) -> None:
    """A ``train.out`` holding an earlier run (its ``model.pt`` or ``checkpoints/last.ckpt``) is
    continued (``resume``), cleared (``overwrite``) or refused in one line."""
    if resume and overwrite:
        raise InputError("--resume continues a run, --overwrite starts it again: choose one")
    earlier = [name for name in ("model.pt", "checkpoints/last.ckpt") if (out / name).exists()]
    if not earlier or resume:
        return
    if not overwrite:
        hint = "--resume continues it, " if (out / "checkpoints" / "last.ckpt").exists() else ""
        raise InputError(f"holds an earlier run ({', '.join(earlier)}): {hint}--overwrite trains again from scratch "
                         "in its place, or set train.out to a new folder", path=out)
    for source in (cfg.model.init_from, cfg.model.pretrained):
        if source and source != "imagenet" and any(
                Path(source).resolve().is_relative_to((out / name).resolve()) for name in EARLIER_RUN):
            raise InputError(f"--overwrite would delete {source}, which this run starts from: copy it elsewhere "
                             "first", path=out)
    if rank_zero_only.rank == 0:  # (several processes, however launched: the first one clears)
        clear_run(out)


def _fit(cfg: Config, resume: bool, callbacks: list | None, overwrite: bool = False) -> dict:
    out = Path(cfg.train.out)
    _claim_out_folder(cfg, out, resume, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    torch.set_flush_denormal(True)  # late low-lr steps measured ~5x slower on denormal floats
    init_vector_math()
    resume_state = ResumeState()
    dm = TANDataModule(cfg, resume_state)
    pos_weight = None
    if cfg.train.mode == "multilabel":
        pos_weight = class_pos_weight(cfg.train.pos_weight, dm.train_anns, dm.num_classes,
                                      dm.features.fps if dm.features is not None and dm.features.fps else cfg.data.fps)
        if pos_weight is not None:
            log.info("%s: positives weighted %.2f to %.2f (train.pos_weight=%s)", out, min(pos_weight),
                     max(pos_weight), cfg.train.pos_weight)
    module = build_module(cfg, dm.class_names, dm.features.dim if dm.features is not None else None, pos_weight)
    module.run_name = str(out)
    ckpt_dir = out / "checkpoints"
    ckpt_path, resumed_at = _resume_from(ckpt_dir) if resume else (None, 0)
    if ckpt_path:
        _check_same_architecture(ckpt_path, module.hparams.model_args)
    t = cfg.train
    checkpoints = _checkpoint_callbacks(ckpt_dir, t.checkpoint_every_steps)
    precision = train_precision(t)
    guard = NonFiniteGuard(str(out), ckpt_dir, precision, t.lr)
    validating = _Validating()
    cbs = [resume_state, guard, validating, *checkpoints] + ([StepProgress(t.progress_label or out.name, t.log_every)] if t.progress else []) + (callbacks or [])
    if t.log_samples:
        cbs.append(SampleLog(out / "logs"))
    has_val = bool(dm.test_anns) and t.mode != "single_label"
    if not has_val and t.mode != "single_label":
        log.warning("%s: no videos with subset 'testing' or 'validation' (nor data.test_annotations): trained without "
                    "evaluation, no metrics.json", cfg.data.annotations)
    trainer = L.Trainer(
        max_epochs=t.epochs, max_steps=t.max_steps, precision=precision, accumulate_grad_batches=t.accumulate,
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        default_root_dir=str(out), callbacks=cbs, plugins=[AtomicCheckpointIO()],
        # a resumed run logs beside the first part (CSVLogger would overwrite its metrics.csv)
        # (written every log_every steps, so that a killed run keeps its log)
        logger=[CSVLogger(str(out), name="logs", version=f"resumed_{resumed_at}" if ckpt_path else "",
                          flush_logs_every_n_steps=t.log_every),
                TensorBoardLogger(str(out), name="tb", version="")],
        # val_every=0: no validation during fit (one validation pass follows it)
        check_val_every_n_epoch=t.val_every if t.val_every else t.epochs + 1,
        limit_val_batches=1.0 if has_val else 0, num_sanity_val_steps=0,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=t.log_every,
        deterministic=False,
    )
    with warnings.catch_warnings():
        # Lightning's advice about logging intervals and its own deprecations are not the user's business
        warnings.filterwarnings("ignore", message=".*(log_every_n_steps|LeafSpec|does not have many workers).*")
        # validation metrics are computed once from every rank's gathered predictions, so syncing them is moot
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        # a resume inside an epoch is exact here (EpochOrder skips the batches done), and the
        # checkpoint folder of a resumed run is expected to exist
        warnings.filterwarnings("ignore", message=".*(ended before the epoch ended|Checkpoint directory .* exists).*")
        start = time.perf_counter()
        try:
            trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
        except Exception:  # the last epoch's validation failed (a test video that fails to decode)
            if validating.active and trainer.current_epoch >= t.epochs - 1:
                _keep_trained_model(trainer, out, cfg, dm, module)
            raise
        train_seconds = time.perf_counter() - start
        validated_last_epoch = t.val_every and t.epochs % t.val_every == 0 and module.last_metrics is not None
        if has_val and not validated_last_epoch:  # the metrics reported are always the final model's
            try:
                trainer.validate(module, datamodule=dm, verbose=False)
            except Exception:
                _keep_trained_model(trainer, out, cfg, dm, module)
                raise
    result = {"train_seconds": train_seconds, "global_step": trainer.global_step,
              "predictions": module.last_predictions}
    if trainer.is_global_zero:
        save_model_file(out / "model.pt", module.model, _model_meta(cfg, dm, module))
        result.update(metrics=module.last_metrics, model_file=str(out / "model.pt"))
        if module.last_metrics:
            (out / "metrics.json").write_text(json.dumps(module.last_metrics, indent=2) + "\n")
    return result


class _Validating(L.Callback):
    """Whether a validation is running (``active``): a failure then leaves a trained model to keep."""

    active = False

    def on_validation_start(self, trainer, pl_module):
        self.active = True

    def on_validation_end(self, trainer, pl_module):
        self.active = False


def _keep_trained_model(trainer, out: Path, cfg: Config, dm: "TANDataModule", module) -> None:
    """Training finished and its evaluation failed: save ``model.pt`` (without metrics) first."""
    if trainer.is_global_zero:
        module.last_metrics = None
        save_model_file(out / "model.pt", module.model, _model_meta(cfg, dm, module))
        log.error("%s: training finished, its evaluation did not; the model is saved in model.pt", out)


def _model_meta(cfg: Config, dm: TANDataModule, module) -> dict:
    """What ``model.pt`` says of itself besides the weights: classes, sampling, preprocessing, metrics."""
    meta = {"class_names": dm.class_names, "fps": cfg.data.fps, "native_fps": cfg.data.native_fps,
            "size": cfg.data.size, "resize": cfg.data.resize, "clip_frames": cfg.data.clip_frames,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "mode": cfg.train.mode, "metrics": _scalars(module.last_metrics)}
    if dm.features is not None:  # what predict needs to read feature files
        meta.update(input="features", feature_dim=dm.features.dim, feature_fps=dm.features.fps)
    return meta


def _check_same_architecture(path: str, model_args: dict) -> None:
    """A run resumes with the architecture it started with: a builder default that changed since
    (:data:`~tan_video.models.registry.CHANGED_DEFAULTS`) must be set in the config to the old value."""
    old = load_checkpoint(path)["build_args"]
    for key in CHANGED_DEFAULTS:
        if key in old and old[key] != model_args.get(key):
            raise InputError(f"this run was started with model.args.{key}: {old[key]} (the default then) and "
                             f"the config now builds {key}: {model_args.get(key)}; set model.args.{key}: "
                             f"{old[key]} in the config to resume it", path=path)


def _resume_from(ckpt_dir: Path) -> tuple[str, int]:
    """``last.ckpt`` and the step it was written at."""
    last = ckpt_dir / "last.ckpt"
    if not last.is_file():
        raise InputError(f"nothing to resume: {last} does not exist")
    epoch, batch, step = training_progress(last)
    log.info("%s: resuming after step %d, at epoch %d batch %d (counted from 0)", last, step, epoch, batch)
    return str(last), step


def _checkpoint_callbacks(ckpt_dir: Path, every_steps: int) -> list[ModelCheckpoint]:
    """One rolling checkpoint, ``last.ckpt``, rewritten (atomically) at the end of every epoch and,
    with ``every_steps``, every that many optimiser steps too; not tied to validation, which may
    be rare. (``save_last`` alone only writes after a top-k save; Lightning keeps the epoch and
    the step triggers in separate callbacks.)"""
    if every_steps < 0:
        raise InputError(f"train.checkpoint_every_steps must be >= 0, got {every_steps}")
    out = [ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None, every_n_epochs=1,
                           save_on_train_epoch_end=True, enable_version_counter=False)]
    if every_steps:
        out.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None,
                                   every_n_train_steps=every_steps, enable_version_counter=False))
    return out


def _scalars(m: dict | None) -> dict:
    return {k: v for k, v in (m or {}).items() if isinstance(v, (int, float))}


__all__ = ["TANModule", "TANDataModule", "LRSchedule", "fit", "train_precision"]
