"""Evaluation, in one place: dense predictions of whole videos scored with the official
protocols, a saved checkpoint scored on a config's test videos (:func:`evaluate`), and
detections scored against ground-truth segments (:func:`evaluate_detections`).

Every number is reported under the name of its protocol:

- ``frame_map``: every sampled frame (MultiTHUMOS / THUMOS14 style); classes without a positive
  frame are excluded and counted in ``classes_excluded``.
- ``video_map``: Charades classify: one score per video (mean of its frame probabilities, paper
  section 4.3) against its video-level labels; unlabelled videos ranked last.
- ``charades_localize_map``: Charades localize: 25 points per video at ``(j-1)/25 * length``,
  each scored by the nearest sampled frame; every point counts, unlabelled ones included.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import metrics
from .atomic import atomic_write
from .errors import InputError
from .data.annotations import VideoAnnotation, dense_targets

PROTOCOLS = {
    "frame_map": "mean AP over classes of every sampled frame; classes without positives excluded",
    "video_map": "Charades classify: video score = mean frame probability; unlabelled videos last",
    "charades_localize_map": "Charades localize: 25 points per video at (j-1)/25*length, nearest frame's score",
}


@dataclass
class VideoPrediction:
    """Dense probabilities ``(T, K)`` of one video at sample times ``(T,)``, with its annotation."""

    annotation: VideoAnnotation
    times: np.ndarray
    scores: np.ndarray

    @property
    def video_id(self) -> str:
        return self.annotation.video_id


def video_labels(annotation: VideoAnnotation, num_classes: int) -> np.ndarray:
    """Multi-hot ``(K,)``: the classes with at least one segment in the video."""
    labels = np.zeros(num_classes, dtype=np.float32)
    for cls, _, _ in annotation.segments:
        labels[cls] = 1.0
    return labels


def localize_scores(pred: VideoPrediction) -> tuple[np.ndarray, np.ndarray]:
    """The 25 Charades localize points of one video: ``(scores (25, K), labels (25, K))``."""
    times25 = metrics.charades_localize_times(pred.annotation.duration)
    nearest = np.abs(pred.times[None, :] - times25[:, None]).argmin(axis=1)
    return pred.scores[nearest], dense_targets(pred.annotation, times25, pred.scores.shape[1])


def save_predictions(path: str | Path, preds: list[VideoPrediction]) -> None:
    """The dense scores of every video, as ``.npz`` (``<video_id>/times``, ``<video_id>/scores``),
    written atomically."""
    path = Path(path)
    arrays = {}
    for p in preds:
        arrays[f"{p.video_id}/times"], arrays[f"{p.video_id}/scores"] = p.times, p.scores
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # (a file object: np.savez would add .npz to a name)
            np.savez(f, **arrays)

    atomic_write(path, write)


def load_predictions(path: str | Path, annotations: list[VideoAnnotation]) -> list[VideoPrediction]:
    """:func:`save_predictions`'s file back, joined to ``annotations`` by video id (in their order)."""
    with np.load(path) as z:
        try:
            return [VideoPrediction(a, z[f"{a.video_id}/times"], z[f"{a.video_id}/scores"]) for a in annotations]
        except KeyError as e:
            raise InputError(f"no predictions for video {e.args[0].split('/')[0]!r}", path=path) from None


def check_finite(preds: list[VideoPrediction], model: object, precision: str | None = None) -> None:
    """An :class:`InputError` naming ``model`` (a checkpoint path or a run) when any score is NaN or
    inf: such scores cannot be ranked, and they mean the model (or its precision) broke down."""
    bad = [p.video_id for p in preds if not np.isfinite(p.scores).all()]
    if bad:
        hint = f" at precision {precision}; try --precision 32" if precision not in (None, "32") else ""
        raise InputError(f"the model's scores are NaN or inf on {len(bad)} of {len(preds)} test videos "
                         f"(first {bad[0]}){hint}", path=model)


def compute_metrics(preds: list[VideoPrediction], class_names: list[str], protocol: str = "frames") -> dict:
    """All metrics that apply, named by protocol, plus per-class frame AP."""
    k = len(class_names)
    scores = np.concatenate([p.scores for p in preds])
    targets = np.concatenate([dense_targets(p.annotation, p.times, k) for p in preds])
    frame_map, per_class = metrics.frame_map(scores, targets)
    vscores = np.stack([p.scores.mean(axis=0) for p in preds])
    vlabels = np.stack([video_labels(p.annotation, k) for p in preds])
    result = {
        "frame_map": float(frame_map),
        "video_map": float(metrics.charades_classify_map(vscores, vlabels)),
        "num_videos": len(preds),
        "num_frames": int(scores.shape[0]),
        "classes_excluded": int(np.isnan(per_class).sum()),
        "per_class_ap": {name: (None if np.isnan(ap) else float(ap)) for name, ap in zip(class_names, per_class)},
    }
    if protocol == "charades":
        loc = [localize_scores(p) for p in preds]
        result["charades_localize_map"] = float(metrics.charades_localize_map(
            np.concatenate([s for s, _ in loc]), np.concatenate([lab for _, lab in loc])))
    result["protocols"] = {name: PROTOCOLS[name] for name in PROTOCOLS if name in result}
    return result


def write_evaluation(out_dir: str | Path, preds: list[VideoPrediction], result: dict,
                     class_names: list[str], protocol: str) -> list[Path]:
    """``metrics.json``, ``per_class_ap.csv`` and the official Charades submission files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    with open(out / "per_class_ap.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class_index", "class", "frame_ap"])
        for i, name in enumerate(class_names):
            ap = result["per_class_ap"][name]
            w.writerow([i, name, "" if ap is None else f"{ap:.6f}"])
    ids = [p.video_id for p in preds]
    written = [out / "metrics.json", out / "per_class_ap.csv", out / "classify_submission.txt"]
    metrics.write_charades_classify(out / "classify_submission.txt", ids, np.stack([p.scores.mean(0) for p in preds]))
    if protocol == "charades":
        metrics.write_charades_localize(out / "localize_submission.txt", ids,
                                        np.stack([localize_scores(p)[0] for p in preds]))
        written.append(out / "localize_submission.txt")
    return written


def evaluate_detections(cfg, detections_path: str | Path, out_dir: str | Path | None = None,
                        tiou_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7)) -> dict:
    """Detection mAP of an ActivityNet detection JSON against the config's test annotations.

    Writes ``detection_metrics.json`` into ``out_dir`` (default: beside the detection file).
    """
    from .data.split import read_split
    from .detection import read_detections

    class_names, _, test = read_split(cfg)
    dets = read_detections(detections_path, class_names)
    ground_truth = [(a.video_id, c, s, e) for a in test for c, s, e in a.segments]
    result = {
        "detection_map": {str(t): float(v) for t, v in metrics.detection_map(dets, ground_truth, tiou_thresholds).items()},
        "protocol": "ActivityNet style: greedy matching by score, all-point interpolated AP, mean over classes "
                    "with ground truth",
        "num_detections": len(dets), "num_ground_truth": len(ground_truth), "detections": str(detections_path),
    }
    out = Path(out_dir) if out_dir is not None else Path(detections_path).parent
    out.mkdir(parents=True, exist_ok=True)
    result["file"] = str(out / "detection_metrics.json")
    (out / "detection_metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


# -- scoring a checkpoint -------------------------------------------------------------------------
def score_video(model, item: dict, precision: str = "32") -> VideoPrediction:
    """One decoded :class:`~tan_video.data.VideoDataset` item scored with exact chunks."""
    import torch

    from .inference import predict_logits

    logits = predict_logits(model, item["frames"], precision=precision)
    return VideoPrediction(item["annotation"], item["times"].cpu().numpy(), torch.sigmoid(logits).numpy())


def _loader(dataset, model, num_workers: int, sampler=None):
    from torch.utils.data import DataLoader

    cuda = next(model.parameters()).device.type == "cuda"
    return DataLoader(dataset, batch_size=None, shuffle=False, sampler=sampler, num_workers=num_workers,
                      pin_memory=cuda)


def predict_dataset(model, dataset, precision: str = "32", progress: bool = False,
                    num_workers: int = 0) -> list[VideoPrediction]:
    """Dense probabilities for every video of a :class:`~tan_video.data.VideoDataset` (exact chunks).

    ``num_workers`` > 0 decodes the next videos in DataLoader worker processes while the model
    scores this one (pinned memory when the model is on a GPU); the results are the same.
    """
    items = _loader(dataset, model, num_workers)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="videos", unit="video")
    return [score_video(model, item, precision) for item in items]


def shard(durations, rank: int, world: int) -> list[int]:
    """The dataset indices process ``rank`` of ``world`` scores: disjoint shards that together hold
    every index exactly once (no padding, unlike ``DistributedSampler``). The longest videos are
    dealt first, in turn, so that the shards' work is about equal."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in a world of {world}")
    order = sorted(range(len(durations)), key=lambda i: (-durations[i], i))
    return sorted(order[rank::world])


def world_size(devices, num_nodes: int = 1) -> int:
    """How many processes ``devices`` x ``num_nodes`` means (``"auto"``/-1: every visible GPU, else
    one process); under ``torchrun`` (``WORLD_SIZE`` set) that world."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return int(os.environ["WORLD_SIZE"])
    if isinstance(devices, (list, tuple)):
        n = len(devices)
    elif devices in ("auto", -1, "-1"):
        import torch

        n = max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1
    else:
        try:
            n = int(devices)
        except (TypeError, ValueError):
            raise InputError(f"devices must be a number, a list of GPU ids or auto, got {devices!r}") from None
    return max(1, n) * max(1, int(num_nodes))


def _score_distributed(model, dataset, *, precision: str, device, devices, num_nodes: int, strategy: str,
                       num_workers: int, progress: bool) -> tuple[list[VideoPrediction] | None, list[int]]:
    """Every process scores its :func:`shard` in Lightning's predict loop; process 0 receives all the
    predictions (``None`` elsewhere). Also returns how many videos each process scored."""
    import lightning as L
    from torch import distributed as dist

    durations = [a.duration for a in dataset.annotations]

    class Scorer(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def predict_dataloader(self):
            mine = shard(durations, self.trainer.global_rank, self.trainer.world_size)
            return _loader(dataset, self.model, num_workers, sampler=mine)

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            return batch  # predict_logits moves each chunk to the model's device

        def predict_step(self, item, batch_idx):
            return score_video(self.model, item, precision)

    import warnings

    from .quiet import quiet_lightning

    local = int(os.environ.get("LOCAL_WORLD_SIZE", "0")) or None  # torchrun's processes on this node
    with quiet_lightning(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # Lightning's own deprecation
        trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu",
                            devices=local or devices, num_nodes=num_nodes,
                            strategy="ddp" if strategy == "auto" else strategy, precision="32-true",
                            logger=False, enable_checkpointing=False, enable_model_summary=False,
                            enable_progress_bar=progress, use_distributed_sampler=False)
        mine = trainer.predict(Scorer(), return_predictions=True)
    if not (dist.is_available() and dist.is_initialized()):
        return mine, [len(mine)]
    parts = [None] * dist.get_world_size() if trainer.is_global_zero else None
    dist.gather_object(mine, parts, dst=0)
    counts = [len(mine)]
    if not trainer.is_global_zero:
        return None, counts
    preds = {p.video_id: p for part in parts for p in part}
    if sum(len(part) for part in parts) != len(dataset) or len(preds) != len(dataset):
        raise RuntimeError(f"the processes scored {sum(len(part) for part in parts)} videos "
                           f"({len(preds)} distinct) of {len(dataset)}")
    return [preds[a.video_id] for a in dataset.annotations], [len(part) for part in parts]


def evaluate(cfg, checkpoint: str | Path, out_dir: str | Path | None = None, precision: str = "auto",
             progress: bool = True, device: str = "auto", devices=None) -> dict:
    """Score a checkpoint on the config's test videos; write metrics and submission files.

    ``device``: ``auto`` (the first GPU when there is one), ``cpu``, ``cuda``, ``cuda:N``.
    ``precision="auto"``: bf16 on GPUs that compute it (fp16 on others) and on CPUs with native
    bf16, else fp32 (:func:`~tan_video.inference.default_precision`). Videos are decoded in
    ``data.num_workers`` worker processes while the model runs. The device and precision used
    are recorded in the result (and ``metrics.json``).

    Several processes (``devices`` > 1, default ``cfg.train.devices``, times
    ``cfg.train.num_nodes``; or launched by ``torchrun``): each scores a disjoint :func:`shard` of
    the videos through Lightning's predict loop (``cfg.train.strategy``, DDP by default), process
    0 gathers them and alone computes and writes the metrics; the other processes return
    ``{"rank": r, "videos_scored": n}``.
    """
    from .checkpoint import build_model_from_checkpoint
    from .data.datasets import VideoDataset
    from .data.features import FeatureFolder, FeatureVideoDataset
    from .data.split import check_videos, read_split
    from .inference import prepare_for_inference, resolve_device, resolve_precision
    from .models import takes_features

    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    devices = cfg.train.devices if devices is None else devices
    world = world_size(devices, cfg.train.num_nodes)
    class_names, _, test = read_split(cfg)
    if not test:
        raise InputError(f"{cfg.data.annotations}: no videos with subset 'testing' or 'validation'")
    model, meta = build_model_from_checkpoint(checkpoint)
    if len(meta["class_names"]) != len(class_names):
        raise InputError(f"checkpoint has {len(meta['class_names'])} classes, the data {len(class_names)}",
                         path=checkpoint)
    differ = [i for i, (a, b) in enumerate(zip(meta["class_names"], class_names)) if str(a) != str(b)]
    if differ:
        i = differ[0]
        order = " (the same names in another order)" if sorted(map(str, meta["class_names"])) == sorted(
            map(str, class_names)) else ""
        raise InputError(f"the checkpoint's classes are not the data's: {len(differ)} of {len(class_names)} differ"
                         f"{order}, first class {i}: {meta['class_names'][i]!r} in the checkpoint, {class_names[i]!r} "
                         "in the data; every per-class AP would be mislabelled (data.classes: the list it was "
                         "trained with)", path=checkpoint)
    if takes_features(model) != bool(cfg.data.features):
        raise InputError("the checkpoint's model reads per-frame features: set data.features" if takes_features(model)
                         else "data.features is set but the checkpoint's model reads video frames", path=checkpoint)
    if cfg.data.features:
        folder = FeatureFolder(cfg.data.features, cfg.data.feature_fps)
        folder.check(test)
        if folder.dim != model.in_dim:
            raise InputError(f"the features have dimension {folder.dim}, the model reads {model.in_dim}",
                             path=cfg.data.features)
        ds = FeatureVideoDataset(test, folder, len(class_names))
    else:
        check_videos(test, cfg.data.videos)  # before any work: a bad file found late would cost the rest
        ds = VideoDataset(test, cfg.data.videos, len(class_names), fps=meta.get("fps", cfg.data.fps),
                          size=meta.get("size", cfg.data.size), resize=meta.get("resize", cfg.data.resize),
                          native_fps=cfg.data.native_fps)
    if world > 1:
        # each process moves the model to its own device (Lightning picks it)
        prepare_for_inference(model, device=None if device.type == "cuda" else device, pack=device.type == "cpu")
        preds, counts = _score_distributed(model, ds, precision=precision, device=device, devices=devices,
                                           num_nodes=cfg.train.num_nodes, strategy=cfg.train.strategy,
                                           num_workers=cfg.data.num_workers, progress=progress)
        if preds is None:
            return {"rank": _rank(), "videos_scored": counts[0]}
    else:
        prepare_for_inference(model, device=device)
        preds = predict_dataset(model, ds, precision=precision, progress=progress, num_workers=cfg.data.num_workers)
        counts = [len(preds)]
    check_finite(preds, checkpoint, precision)
    result = compute_metrics(preds, class_names, cfg.data.protocol)
    result["checkpoint"] = str(checkpoint)
    result["precision"] = precision
    result["device"] = str(device)
    result["processes"] = len(counts)
    result["videos_per_process"] = counts
    out = Path(out_dir) if out_dir is not None else Path(checkpoint).parent / "eval"
    result["files"] = [str(p) for p in write_evaluation(out, preds, result, class_names, cfg.data.protocol)]
    return result


def _rank() -> int:
    from torch import distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
