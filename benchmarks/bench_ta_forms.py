"""The TA module in training: three dilated convolutions against the one-convolution form.

Forward + backward of one TA module at each level of ``tan_tiny`` (8 clips of 16 frames, 64 px,
no stem pool: 32x32 at level 1) and of TAN-R50's levels 1 and 4 (2 clips of 16 frames at 224 px), in fp32 and (where the CPU
computes it natively) bf16 autocast, channels_last. The two forms alternate, 20 repeats each (5 for TAN-R50),
medians and their ratio. Same function, same gradients (tests/test_models.py).

    python benchmarks/bench_ta_forms.py     # -> benchmarks/results/ta_forms.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tan_video.benchmark import machine_info  # noqa: E402
from tan_video.inference import default_precision  # noqa: E402
from tan_video.models import TemporalAggregation  # noqa: E402

SHAPES = [("tan_tiny level 1", 16, 32), ("tan_tiny level 2", 32, 16), ("tan_tiny level 3", 64, 8),
          ("tan_tiny level 4", 128, 4), ("tan_r50 level 1 (224 px)", 256, 56), ("tan_r50 level 4 (224 px)", 2048, 7)]


def step(ta, form, x, precision):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = form(x)
    out.float().sum().backward()


def main() -> None:
    torch.manual_seed(0)
    rows = []
    precisions = ["32"] + (["bf16"] if default_precision() == "bf16" else [])
    only = sys.argv[1:]
    for name, channels, side in SHAPES:
        if only and not any(o in name for o in only):
            continue
        batch = 8 if name.startswith("tan_tiny") else 2
        ta = TemporalAggregation(channels, init="open").to(memory_format=torch.channels_last)
        x = torch.rand(batch * 16, channels, side, side).contiguous(memory_format=torch.channels_last)
        x5 = x.unflatten(0, (batch, 16)).transpose(1, 2).requires_grad_()
        for precision in precisions:
            times = {"three": [], "one": []}
            forms = {"three": ta.forward_branches, "one": ta.forward}
            for form in forms.values():
                step(ta, form, x5, precision)  # warm-up
            for _ in range(20 if name.startswith("tan_tiny") else 5):
                for key, form in forms.items():
                    start = time.perf_counter()
                    step(ta, form, x5, precision)
                    times[key].append(time.perf_counter() - start)
            three, one = statistics.median(times["three"]), statistics.median(times["one"])
            rows.append({"shape": name, "channels": channels, "side": side, "precision": precision,
                         "three_ms": round(1e3 * three, 2), "one_ms": round(1e3 * one, 2),
                         "speedup": round(three / one, 2)})
            print(rows[-1], flush=True)
    out = ROOT / "benchmarks" / "results" / "ta_forms.json"
    # a run of some shapes (python benchmarks/bench_ta_forms.py tiny) replaces those rows only
    kept = json.loads(out.read_text())["rows"] if only and out.is_file() else []
    rows = [r for r in kept if r["shape"] not in {x["shape"] for x in rows}] + rows
    out.write_text(json.dumps({"machine": machine_info(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
