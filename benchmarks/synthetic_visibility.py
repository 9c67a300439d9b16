"""How visible each periodic class's events are in the decoded videos (docs/benchmark.md).

Renders ``--videos`` videos that show ``periodic_swap`` and ``periodic_beacon`` (no distractors)
at the demo's size, rate and length, encodes them with the benchmark's H.264 writer, decodes them
with PyAV, and measures, in each class's box, the mean absolute change of luma (and of RGB)
from the frame before each event (a swap of the tile's colour, a pulse of the lamp) to the
event's frame: before and after encoding. A class that no model learns although its events are
this visible is hard for a reason of time, not of sight.

    python benchmarks/synthetic_visibility.py     # -> benchmarks/results/synthetic_visibility.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import av
import numpy as np

from tan_video.data.synthetic import GENERATOR_VERSION
from tan_video.data.synthetic.render import render_video
from tan_video.data.synthetic.writer import write_video

LUMA = np.array([0.299, 0.587, 0.114])


def changes(frames: np.ndarray, box, times) -> tuple[list[float], list[float]]:
    y, x, d = box
    patch = frames[:, y:y + d, x:x + d].astype(np.float64)
    luma, rgb = [], []
    for t in times:
        if 1 <= t < len(frames):
            luma.append(float(np.abs(patch[t] @ LUMA - patch[t - 1] @ LUMA).mean()))
            rgb.append(float(np.abs(patch[t] - patch[t - 1]).mean()))
    return luma, rgb


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=12)
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--out", default="benchmarks/results/synthetic_visibility.json")
    args = p.parse_args()
    found: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.videos):
            v = render_video(np.random.default_rng([7, 0, i]), frames=64, size=args.size, fps=8.0,
                             classes=["periodic_swap", "periodic_beacon"], distractors=False)
            path = Path(tmp) / f"v{i}.mp4"
            write_video(path, v.frames, 8.0)
            with av.open(str(path)) as c:
                decoded = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
            for name, key, when in (("periodic_swap", "periodic_swap", "changes"), ("periodic_beacon", "beacon", "on")):
                ev = v.events.get(key) or {}
                if "box" not in ev:
                    continue
                for stage, frames in (("rendered", v.frames), ("decoded", decoded)):
                    luma, rgb = changes(frames, ev["box"], ev[when])
                    found.setdefault(f"{name}/{stage}/luma", []).extend(luma)
                    found.setdefault(f"{name}/{stage}/rgb", []).extend(rgb)
    result = {"generator_version": GENERATOR_VERSION, "videos": args.videos, "size": args.size,
              "mean_abs_change_per_event": {k: {"events": len(v), "mean": round(float(np.mean(v)), 1)}
                                            for k, v in sorted(found.items())}}
    print(json.dumps(result, indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
