"""Seconds per epoch and peak memory of a feature model at Charades' scale (docs/features.md).

Writes ``--videos`` random feature files ``(N, 1024)`` (N uniform in ``[50, --max-n]``, float16
unless ``--dtype float32``) and a dense annotation file with random segments (80% training),
then trains ``--model`` (default ``ta_head``) for one epoch through ``tan_video.training.fit``
(clips of 16 features, batch 32) followed by one validation pass over the test videos (whole
videos). Reports the seconds of the training epoch and of the validation pass apart, the time of
one training step, the feature folder's size and the process's peak RSS (memory-mapped pages that
were read count in it). Results: ``benchmarks/results/bench_features.json``.

    python benchmarks/bench_features.py --videos 9800      # Charades' size (about 3.5 GB float16)
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from tan_video.benchmark import machine_info
from tan_video.config import load_config


def make_folder(root: Path, videos: int, max_n: int, dim: int, classes: int, dtype: str, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    feats = root / "features"
    feats.mkdir(parents=True, exist_ok=True)
    ann, total = {}, 0
    for i in range(videos):
        n = int(rng.integers(50, max_n + 1))
        duration = n / 1.5  # about Charades' 1.5 features per second
        np.save(feats / f"v{i:05d}.npy", rng.random((n, dim), dtype=np.float32).astype(dtype))
        acts = []
        for _ in range(int(rng.integers(1, 5))):
            s = float(rng.uniform(0, duration * 0.8))
            acts.append([int(rng.integers(classes)), round(s, 2), round(min(duration, s + rng.uniform(2, 15)), 2)])
        ann[f"v{i:05d}"] = {"subset": "training" if i % 5 else "testing", "duration": duration, "actions": acts}
        total += n
    (root / "annotations.json").write_text(json.dumps(ann))
    (root / "classes.txt").write_text("\n".join(f"c{k}" for k in range(classes)) + "\n")
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=9800)
    p.add_argument("--max-n", type=int, default=300)
    p.add_argument("--model", default="ta_head")
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--root", default="/tmp/tan_bench_features")
    p.add_argument("--out", default="benchmarks/results/bench_features.json")
    args = p.parse_args()
    root = Path(args.root)
    t0 = time.perf_counter()
    frames = make_folder(root, args.videos, args.max_n, 1024, 157, args.dtype)
    write_s = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in (root / "features").glob("*.npy"))
    cfg = load_config(None, [f"model.name={args.model}", f"data.annotations={root / 'annotations.json'}",
                             "data.format=dense_json", f"data.classes={root / 'classes.txt'}",
                             f"data.features={root / 'features'}", "data.clip_frames=16", "data.num_workers=1",
                             "train.epochs=1", "train.batch_size=32", "train.lr=0.001", f"train.out={root / 'run'}",
                             "train.progress=false", "train.val_every=0"])
    from tan_video.training import fit

    t1 = time.perf_counter()
    run = fit(cfg, overwrite=True)  # (its own scratch folder: a second run replaces the first)
    total_s = time.perf_counter() - t1
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    result = {"videos": args.videos, "features": frames, "dim": 1024, "dtype": args.dtype, "folder_gb": round(size / 1e9, 2),
              "model": args.model, "write_seconds": round(write_s, 1), "train_seconds": round(run["train_seconds"], 1),
              "validation_seconds": round(total_s - run["train_seconds"], 1),
              "validation_features": sum(len(p.times) for p in run["predictions"]),
              "epoch_with_validation_seconds": round(total_s, 1), "steps": run["global_step"],
              "ms_per_step": round(1000 * run["train_seconds"] / max(1, run["global_step"])),
              "peak_rss_mb": round(peak / 1024), "frame_map_random_labels": round(run["metrics"]["frame_map"], 4),
              "machine": machine_info()}
    print(json.dumps(result, indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
