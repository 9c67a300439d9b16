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
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load_predictions(path: str | Path, annotations: list[VideoAnnotation]) -> list[VideoPrediction]:
    """:func:`save_predictions`'s file back, joined to ``annotations`` by video id (in their order)."""
    with np.load(path) as z:
        try:
            return [VideoPrediction(a, z[f"{a.video_id}/times"], z[f"{a.video_id}/scores"]) for a in annotations]
        except KeyError as e:
            raise InputError(f"no predictions for video {e.args[0].split('/')[0]!r}", path=path) from None


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
def predict_dataset(model, dataset, precision: str = "32", progress: bool = False,
                    num_workers: int = 0) -> list[VideoPrediction]:
    """Dense probabilities for every video of a :class:`~tan_video.data.VideoDataset` (exact chunks).

    ``num_workers`` > 0 decodes the next videos in DataLoader worker processes while the model
    scores this one (pinned memory when the model is on a GPU); the results are the same.
    """
    import torch
    from torch.utils.data import DataLoader

    from .inference import predict_logits

    cuda = next(model.parameters()).device.type == "cuda"
    loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=num_workers, pin_memory=cuda)
    items = loader
    if progress:
        from tqdm import tqdm

        items = tqdm(loader, desc="videos", unit="video")
    preds = []
    for item in items:
        logits = predict_logits(model, item["frames"], precision=precision)
        preds.append(VideoPrediction(item["annotation"], item["times"].numpy(), torch.sigmoid(logits).numpy()))
    return preds


def evaluate(cfg, checkpoint: str | Path, out_dir: str | Path | None = None, precision: str = "auto",
             progress: bool = True, device: str = "auto") -> dict:
    """Score a checkpoint on the config's test videos; write metrics and submission files.

    ``device``: ``auto`` (the first GPU when there is one), ``cpu``, ``cuda``, ``cuda:N``.
    ``precision="auto"``: bf16 on GPUs that compute it (fp16 on others) and on CPUs with native
    bf16, else fp32 (:func:`~tan_video.inference.default_precision`). Videos are decoded in
    ``data.num_workers`` worker processes while the model runs. The device and precision used
    are recorded in the result (and ``metrics.json``).
    """
    from .checkpoint import build_model_from_checkpoint
    from .data.datasets import VideoDataset
    from .data.split import read_split
    from .inference import prepare_for_inference, resolve_device, resolve_precision

    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    class_names, _, test = read_split(cfg)
    if not test:
        raise InputError(f"{cfg.data.annotations}: no videos with subset 'testing' or 'validation'")
    model, meta = build_model_from_checkpoint(checkpoint)
    if len(meta["class_names"]) != len(class_names):
        raise InputError(f"checkpoint has {len(meta['class_names'])} classes, the data {len(class_names)}",
                         path=checkpoint)
    prepare_for_inference(model, device=device)
    ds = VideoDataset(test, cfg.data.videos, len(class_names), fps=meta.get("fps", cfg.data.fps),
                      size=meta.get("size", cfg.data.size), resize=meta.get("resize", cfg.data.resize),
                      native_fps=cfg.data.native_fps)
    preds = predict_dataset(model, ds, precision=precision, progress=progress, num_workers=cfg.data.num_workers)
    result = compute_metrics(preds, class_names, cfg.data.protocol)
    result["checkpoint"] = str(checkpoint)
    result["precision"] = precision
    result["device"] = str(device)
    out = Path(out_dir) if out_dir is not None else Path(checkpoint).parent / "eval"
    result["files"] = [str(p) for p in write_evaluation(out, preds, result, class_names, cfg.data.protocol)]
    return result
