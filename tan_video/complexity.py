"""Model complexity: parameters, multiply-accumulates, temporal receptive field.

MACs are counted with PyTorch's own FLOP counter (``torch.utils.flop_counter``) on the meta
device: no weights are allocated and nothing is computed, so even TAN-R152 at 224 px counts in
about a second. One MAC = 2 FLOPs as the counter reports them (convolutions, matmuls, LSTM gates'
matmuls; element-wise ops are not counted, as is conventional).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import torch
from torch.utils.flop_counter import FlopCounterMode

from .models import create_model, list_models


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(name: str, frames: int = 16, size: int = 224, num_classes: int = 157, fused: bool = False,
               **kwargs) -> int:
    """Multiply-accumulates of one forward pass over a clip ``(1, 3, frames, size, size)`` (for a
    feature model, ``frames`` features ``(1, frames, in_dim)``: ``size`` does not apply);
    ``fused=True`` counts the inference form (each TA module one 7-tap conv: 7/9 of its MACs)."""
    from .models import takes_features

    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, **kwargs).eval()
        if fused:
            model.fuse()
        clip = (torch.empty(1, frames, model.in_dim) if takes_features(model)
                else torch.empty(1, 3, frames, size, size))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(clip)
    return counter.get_total_flops() // 2


def complexity_table(names: Iterable[str] | None = None, frames: int = 16, sizes=(112, 224),
                     num_classes: int = 157) -> list[dict]:
    """One row per model: params, GMACs per clip at each size, temporal receptive field."""
    rows = []
    for name in names or list_models():
        with torch.device("meta"):
            model = create_model(name, num_classes=num_classes)
        radius = model.temporal_radius
        row = {
            "model": name,
            "params_m": round(count_params(model) / 1e6, 2),
            "temporal_rf": "unbounded (LSTM)" if radius is None and hasattr(model, "lstm")
            else "strided (x8)" if radius is None else f"+-{radius} frames",
        }
        for size in sizes:
            row[f"gmacs_{frames}x{size}"] = round(count_macs(name, frames, size, num_classes) / 1e9, 2)
        rows.append(row)
    return rows


def to_markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_complexity(out_dir: str | Path, rows: list[dict], meta: dict) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "complexity.json", out_dir / "complexity.md"
    js.write_text(json.dumps({"meta": meta, "models": rows}, indent=2) + "\n")
    md.write_text(to_markdown(rows))
    return js, md
