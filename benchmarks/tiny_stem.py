"""Level-1 resolution and the TA modules' start for the tiny models, measured on the demo's data.

Trains ``tan_tiny`` (and ``tiny_3d``) at the demo's recipe (``tan_video.demo.DemoSettings``,
seed 0) with each stem (ResNet's 7x7/2 conv + 3x3/2 max-pool: level 1 at 16x16 for 64 px
frames; the same without the pool: 32x32; a 3x3/2 conv without the pool: 32x32) and each TA
start (``open``, ``identity``), through ``run_demo`` (real decoding, Lightning, exact
evaluation). Writes frame mAP, the class groups and seconds per model.

    python benchmarks/tiny_stem.py      # -> benchmarks/results/tiny_stem.{json,md}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = [  # (key, registered name, builder arguments)
    ("tan_pool7_identity", "tan_tiny", {"stem_pool": True, "ta_init": "identity"}),
    ("tan_pool7_open", "tan_tiny", {"stem_pool": True, "ta_init": "open"}),
    ("tan_nopool7_identity", "tan_tiny", {"stem_pool": False, "ta_init": "identity"}),
    ("tan_nopool7_open", "tan_tiny", {"stem_pool": False, "ta_init": "open"}),
    ("tan_nopool3_open", "tan_tiny", {"stem_pool": False, "stem_kernel": 3, "ta_init": "open"}),
    ("3d_pool7", "tiny_3d", {"stem_pool": True}),
    ("3d_nopool7", "tiny_3d", {"stem_pool": False}),
    ("2d_lstm_pool7", "tiny_2d_lstm", {"stem_pool": True}),
    ("2d_lstm_nopool7", "tiny_2d_lstm", {"stem_pool": False}),
]


def main() -> None:
    from tan_video.benchmark import machine_info
    from tan_video.demo import group_means, result_groups, run_demo

    keys = sys.argv[1:] or [v[0] for v in VARIANTS]
    models = [(k, k, name, args) for k, name, args in VARIANTS if k in keys]
    result = run_demo("runs/tiny_stem", seed=0, models=models)
    groups = result_groups(result)
    rows = {k: {"args": m["args"], "frame_map": m["frame_map"], "groups": group_means(m["per_class_ap"], groups),
                "train_seconds": m["train_seconds"], "steps": m["steps"]} for k, m in result["models"].items()}
    out = ROOT / "benchmarks" / "results"
    (out / "tiny_stem.json").write_text(json.dumps({"machine": machine_info(), "settings": result["settings"],
                                                    "rows": rows}, indent=1) + "\n")
    names = list(next(iter(rows.values()))["groups"])
    lines = ["| variant | frame mAP | " + " | ".join(names) + " | train s |", "|---|---|" + "---|" * len(names) + "---|"]
    for k, r in rows.items():
        lines.append(f"| {k} | {100 * r['frame_map']:.1f} | " + " | ".join(f"{100 * r['groups'][g]:.1f}" for g in names)
                     + f" | {r['train_seconds']:.0f} |")
    (out / "tiny_stem.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
