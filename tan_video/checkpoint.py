"""Self-describing checkpoints: a file alone rebuilds the model for evaluate / predict / export.

Two kinds are read:

- ``model.pt`` (written at the end of training): ``{"format": "tan-video-model/1",
  "build_args": {name, num_classes, levels, ...}, "state_dict", "class_names", "fps", "size",
  "mean", "std", ...}``: plain tensors and Python literals, loaded with ``weights_only=True``.
- Lightning's ``*.ckpt`` (resumable training state): the same information lives in its
  ``hyper_parameters``; the model's tensors are under the ``model.`` prefix.
"""

from __future__ import annotations

import collections
import pickle
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_write
from .errors import InputError
from .models import create_model, list_models
from .models.registry import with_old_defaults

FORMAT = "tan-video-model/1"


def save_model_file(path: str | Path, model: nn.Module, meta: dict) -> Path:
    """Write ``model.pt`` atomically (temporary name, then rename)."""
    path = Path(path)
    payload = {"format": FORMAT, "build_args": dict(model.build_args),
               "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, **meta}
    payload["mean"], payload["std"] = list(payload.get("mean", ())), list(payload.get("std", ()))
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def _safe_load(path: str | Path):
    """``torch.load`` of plain tensors and literals only (Lightning stores the LR scheduler's
    milestones as a Counter: that type alone is allowed besides)."""
    with torch.serialization.safe_globals([collections.Counter]):
        return torch.load(path, map_location="cpu", weights_only=True)


def load_checkpoint(path: str | Path) -> dict:
    """``{"build_args", "state_dict", "class_names", "fps", "size", ...}`` from either kind of file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such checkpoint", path=path)
    try:
        obj = _safe_load(path)
    except Exception as e:
        raise InputError(_unreadable(path, e), path=path) from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _old_defaults(obj)
    if isinstance(obj, dict) and "hyper_parameters" in obj and "state_dict" in obj:
        hp = obj["hyper_parameters"]
        try:
            return _old_defaults({"format": "lightning", "build_args": dict(hp["model_args"]),
                    "state_dict": {k[len("model."):]: v for k, v in obj["state_dict"].items() if k.startswith("model.")},
                    "class_names": list(hp["class_names"]), "fps": hp["fps"], "size": hp["size"],
                    "clip_frames": hp.get("clip_frames", 16), "mode": hp.get("mode", "multilabel"),
                    **{k: list(hp[k]) if k != "resize" else hp[k] for k in ("resize", "mean", "std") if k in hp}})
        except KeyError as e:
            raise InputError(f"Lightning checkpoint without tan-video hyper-parameter {e}", path=path) from None
    raise InputError("not a tan-video checkpoint (no model description inside)", path=path)


def _unreadable(path: Path, error: Exception) -> str:
    """Why ``torch.load`` refused a file, in one line (PyTorch's own message runs to a screenful)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":  # torch.save's zip archive
        if isinstance(error, pickle.UnpicklingError):
            refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
            what = f" ({refused.group(1)})" if refused else ""
            return (f"holds pickled Python objects{what}, which are not loaded (a whole module saved with "
                    "torch.save(model)?): give model.pt or a .ckpt written by tan-video train")
        if not zipfile.is_zipfile(path):
            return "truncated or damaged (its archive is incomplete): copy the checkpoint again"
        return f"not a readable checkpoint ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
    if head[:1] == b"\x80":  # a legacy (pre-zip) pickle
        return "an old-style pickle file, not a checkpoint written by tan-video train"
    return f"not a PyTorch file (it starts with {head!r}): give model.pt or a .ckpt written by tan-video train"


def _old_defaults(ckpt: dict) -> dict:
    """A checkpoint written before a builder default changed was built with the old default."""
    name = ckpt["build_args"].get("name")
    if name in list_models():
        ckpt["build_args"] = {"name": name, **with_old_defaults(name, ckpt["build_args"])}
    return ckpt


def build_model_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the registered model the checkpoint describes and load its weights (strict)."""
    ckpt = load_checkpoint(path)
    args = dict(ckpt["build_args"])
    model = create_model(args.pop("name"), **args)
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise InputError(f"weights do not fit model {ckpt['build_args']['name']!r}: {first[:160]}", path=path) from None
    bad = [k for k, v in ckpt["state_dict"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise InputError(f"{len(bad)} of the model's weight tensors hold NaN or inf (first {bad[0]}): the run that "
                         "wrote it diverged; train again (a lower train.lr, or train.precision=32)", path=path)
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return model, meta


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A trained model ready to predict: ``model.pt`` or a Lightning ``.ckpt`` -> (the model in eval
    mode on ``device``, its metadata: class names, fps, size, resize, mean/std, metrics, ...)."""
    model, meta = build_model_from_checkpoint(path)
    return model.to(device).eval(), meta


def training_progress(path: str | Path) -> tuple[int, int, int]:
    """Where a Lightning training checkpoint (``last.ckpt``) continues: ``(epoch, batch, global
    step)``, the epoch and the batch in it counted from 0 (a checkpoint written at the end of an
    epoch continues at batch 0 of the next)."""
    try:
        obj = _safe_load(path)
        step = int(obj["global_step"])
        state = obj.get("callbacks", {}).get("ResumeState")
        if state is not None:
            return int(state["next_epoch"]), int(state["next_batch"]), step
        return int(obj["epoch"]) + 1, 0, step  # older checkpoints: written at epoch ends only
    except Exception as e:
        raise InputError(f"not a resumable training checkpoint ({type(e).__name__})", path=path) from None
