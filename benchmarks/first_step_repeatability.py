"""Does a fresh training process always take the same path? (docs/training.md, "A rare mismatch")

    python benchmarks/first_step_repeatability.py --runs 24

Trains the tests' tiny run (tan_tiny, 12 + 6 synthetic videos of 32 px, 6 epochs of 3 steps,
fp32, a checkpoint every step) in ``--runs`` fresh processes per arm, every other one beside a
process that keeps a core busy (``python -c "while True: pass"``), and compares each run's
final metrics and logged losses with the arm's first, idle, run. Arms, interleaved:
``init`` (as shipped: ``training.init_vector_math`` before the first step) and ``no_init``
(that call replaced by a no-op). Writes ``benchmarks/results/first_step_repeatability.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tan_video.benchmark import machine_info
from tan_video.data import synthetic

RUN = ("import sys, tan_video.training as t\n"
       "if sys.argv[1] == 'no_init': t.init_vector_math = lambda: None\n"
       "from tan_video.cli import main\n"
       "sys.exit(main(['train', '--config', sys.argv[2]]))\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=24, help="processes per arm")
    p.add_argument("--out", default="benchmarks/results/first_step_repeatability.json")
    a = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="repeat_"))
    data = root / "data"
    synthetic.generate(data, num_train=12, num_test=6, frames=32, size=32, fps=8.0, seed=1)
    arms: dict[str, list[dict]] = {"init": [], "no_init": []}
    for i in range(a.runs):
        for arm, rows in arms.items():
            out = root / f"{arm}_{i}"
            cfg = {"model": {"name": "tan_tiny"},
                   "data": {"annotations": str(data / "annotations.json"), "format": "dense_json",
                            "classes": str(data / "classes.txt"), "videos": str(data / "videos"), "fps": 8,
                            "clip_frames": 8, "size": 32, "resize": 32, "num_workers": 0},
                   "train": {"epochs": 6, "lr": 1e-3, "lr_steps": [1], "batch_size": 4, "precision": "32-true",
                             "out": str(out), "progress": False, "val_every": 0, "checkpoint_every_steps": 1,
                             "log_every": 1}}
            (root / f"{arm}_{i}.yaml").write_text(yaml.safe_dump(cfg))
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if i % 2 else None
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", RUN, arm, str(root / f"{arm}_{i}.yaml")],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if busy is not None:
                busy.kill()
                busy.wait()
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            metrics = json.loads((out / "metrics.json").read_text())
            rows.append({"run": i, "beside_busy_core": busy is not None, "seconds": round(seconds, 1),
                         "frame_map": metrics["frame_map"],
                         "losses": (out / "logs" / "metrics.csv").read_text()})
            ref = rows[0]
            print(arm, i, busy is not None, metrics["frame_map"], rows[-1]["losses"] == ref["losses"], flush=True)
    summary = {}
    for arm, rows in arms.items():
        ref = rows[0]
        other = [r for r in rows if r["losses"] != ref["losses"] or r["frame_map"] != ref["frame_map"]]
        summary[arm] = {"runs": len(rows), "beside_busy_core": sum(r["beside_busy_core"] for r in rows),
                        "took_another_path": len(other),
                        "of_them_beside_busy_core": sum(r["beside_busy_core"] for r in other),
                        "frame_maps": sorted({r["frame_map"] for r in rows}),
                        "median_seconds": sorted(r["seconds"] for r in rows)[len(rows) // 2]}
    result = {"command": "python benchmarks/first_step_repeatability.py --runs %d" % a.runs,
              "machine": machine_info(), "arms": summary}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
