"""Pretrained weights as data, and loading them into TAN-family models.

ImageNet initialisation (paper section 3.4): the 2D path of every model keeps torchvision's
ResNet state-dict names, so torchvision's files load by name. 2D kernels inflate to the 3D
baseline. Temporal modules are not in those files and stay identity-initialised; the classifier
is replaced. :func:`load_pretrained` says exactly which keys were not used and why, and refuses
a file that is not the right backbone.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Weights:
    """One downloadable weight file. The file name carries the first hex digits of its SHA-256."""

    name: str
    url: str
    arch: str
    num_classes: int = 1000
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int = 256
    crop: int = 224
    metrics: dict = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash_prefix(self) -> str | None:
        m = re.search(r"-([0-9a-f]{6,})\.", self.file_name)
        return m.group(1) if m else None


_TV = "https://download.pytorch.org/models/"
# torchvision's IMAGENET1K_V1 ResNets (top-1 as published by torchvision).
IMAGENET_RESNET: dict[int, Weights] = {
    50: Weights("resnet50.imagenet1k_v1", _TV + "resnet50-0676ba61.pth", "resnet50", metrics={"top1": 76.130}),
    101: Weights("resnet101.imagenet1k_v1", _TV + "resnet101-63fe2227.pth", "resnet101", metrics={"top1": 77.374}),
    152: Weights("resnet152.imagenet1k_v1", _TV + "resnet152-394f9c45.pth", "resnet152", metrics={"top1": 78.312}),
}


def cache_dir() -> Path:
    """``$TAN_VIDEO_CACHE`` or torch.hub's checkpoint folder."""
    env = os.environ.get("TAN_VIDEO_CACHE")
    return Path(env) if env else Path(torch.hub.get_dir()) / "checkpoints"


def download(weights: Weights, directory: str | Path | None = None, progress: bool = True) -> Path:
    """Fetch ``weights.url`` into the cache once, checking the SHA-256 prefix in its name."""
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / weights.file_name
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s to %s", weights.url, path)
        try:
            # Writes to a temporary file and moves it into place only when the hash matches.
            torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=weights.hash_prefix, progress=progress)
        except RuntimeError as e:  # hash mismatch
            raise InputError(f"download of {weights.url} failed its hash check: {e}") from None
        except OSError as e:
            raise InputError(f"cannot download {weights.url} ({e}); put the file in {directory} "
                             f"or pass its path as pretrained=") from None
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a file, never unpickling code (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such weights file", path=path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated zip, code objects refused by weights_only
        raise InputError(f"not a readable PyTorch weights file ({type(e).__name__})", path=path) from None
    for key in ("state_dict", "model"):  # common wrappers around a plain state dict
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError("does not hold a state dict of tensors", path=path)
    return obj


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did, key by key."""

    source: str
    loaded: list[str] = field(default_factory=list)
    inflated: list[str] = field(default_factory=list)
    not_loaded: dict[str, str] = field(default_factory=dict)  # model key -> why it kept its init
    unused: dict[str, str] = field(default_factory=dict)  # file key -> why it was not used

    def summary(self) -> str:
        lines = [f"{self.source}: loaded {len(self.loaded)} tensors ({len(self.inflated)} inflated 2D->3D)"]
        lines += [f"  kept init  {k}: {why}" for k, why in self.not_loaded.items()]
        lines += [f"  unused     {k}: {why}" for k, why in self.unused.items()]
        return "\n".join(lines)


def _why_not_in_file(key: str) -> str:
    if re.match(r"ta\d\.", key):
        return "temporal aggregation module, identity-initialised"
    if key.startswith(("lstm.", "norm.")):
        return "temporal head of the 2D+LSTM baseline, not in a 2D ResNet"
    if key.startswith("fc."):
        return "classifier"
    return "missing from the file"


def load_pretrained(model: nn.Module, source: "str | Path | Weights | dict") -> LoadReport:
    """Load 2D ResNet weights into ``model`` by name.

    ``source``: a :class:`Weights` record (downloaded and cached), a file path, or a state dict.
    Same-shaped tensors load; a 2D kernel ``(O, I, kh, kw)`` loading into a 3D kernel
    ``(O, I, kt, kh, kw)`` is repeated over time and divided by ``kt``; the classifier is kept
    when its shape differs (new classes). Any other backbone key missing from the file, or any file
    key left over, raises :class:`InputError`: the file is not this backbone.
    """
    if isinstance(source, Weights):
        label, state = source.name, read_state_dict(download(source))
    elif isinstance(source, dict):
        label, state = "state dict", source
    else:
        label, state = str(source), read_state_dict(source)

    own = model.state_dict()
    report = LoadReport(source=label)
    new_state = {}
    for key, value in state.items():
        if key not in own:
            report.unused[key] = "no such tensor in the model"
            continue
        target = own[key]
        if value.shape == target.shape:
            new_state[key] = value
            report.loaded.append(key)
        elif value.dim() == 4 and target.dim() == 5 and value.shape == target.shape[:2] + target.shape[3:]:
            kt = target.shape[2]
            new_state[key] = value.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
            report.loaded.append(key)
            report.inflated.append(key)
        elif key.startswith("fc."):
            report.unused[key] = f"classifier shape {tuple(value.shape)} != model's {tuple(target.shape)}"
        else:
            report.unused[key] = f"shape {tuple(value.shape)} != model's {tuple(target.shape)}"
    for key in own:
        if key not in new_state:
            report.not_loaded[key] = (
                report.unused.get(key, "").replace("classifier shape", "new classifier, file has shape")
                or _why_not_in_file(key)
            )

    backbone_missing = [k for k, why in report.not_loaded.items() if why == "missing from the file"]
    backbone_unused = [k for k, why in report.unused.items() if not k.startswith("fc.")]
    if backbone_missing or backbone_unused:
        bad = backbone_missing or backbone_unused
        raise InputError(
            f"{label} does not match the model's 2D backbone: {len(backbone_missing)} tensors missing, "
            f"{len(backbone_unused)} unusable (first: {bad[0]}: {report.not_loaded.get(bad[0]) or report.unused[bad[0]]})"
        )
    model.load_state_dict(new_state, strict=False)
    starts_from_2d = getattr(model, "start_from_pretrained", None)
    if starts_from_2d is not None:  # a TAN with ta_init="auto": its TA modules now start as the identity
        starts_from_2d()
    log.info(report.summary())
    return report
