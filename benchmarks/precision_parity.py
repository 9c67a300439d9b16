"""Every demo model trained in fp32 and in bf16-mixed at the demo's recipe: frame mAP side by side,
and the first non-finite step of any run that diverged.

Each configuration runs the demo (``tan_video.demo.run_demo``, same seed, same data) in its own
process:

- ``32-true`` and ``bf16-mixed`` on this CPU's own oneDNN kernels;
- on a CPU with AMX and AVX512-BF16, also ``bf16-mixed`` with oneDNN held to its AVX512-BF16
  kernels (``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16``: the kernels of Zen 4 and Cooper Lake CPUs,
  where the 3D baseline's loss turned NaN), with the convolution guard of
  :mod:`tan_video.models.bf16` and, for the record, without it (``--no-guard`` in the child).

    python benchmarks/precision_parity.py                # -> benchmarks/results/precision_parity.{json,md}
    python benchmarks/precision_parity.py --epochs 3     # fewer steps (AVX2: bf16 is emulated and slow)

On a machine with a GPU the two runs are fp32 and bf16-mixed on the GPU (``--results NAME`` to
keep them apart from the CPU's file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def child(args) -> None:
    """One configuration: the demo at one precision; prints its results as JSON."""
    from dataclasses import replace

    from tan_video.demo import DEMO_MODELS, demo_settings, run_demo

    if args.no_guard:  # the raw oneDNN kernels, to show what the guard prevents
        import tan_video.models.bf16 as guard

        guard.needs_fp32 = lambda conv, x: False
    settings = replace(demo_settings(epochs=args.epochs), precision=args.precision)
    models = [m for m in DEMO_MODELS if args.models is None or m[0] in args.models]
    result = run_demo(args.out, seed=args.seed, settings=settings, models=models)
    rows = {}
    for key, m in result["models"].items():
        failed = m.get("failed")
        step = re.search(r"optimiser step (\d+)", failed or "")
        rows[key] = {"label": m["label"], "frame_map": m.get("frame_map"), "steps": m.get("steps"),
                     "train_seconds": m.get("train_seconds"), "failed": failed,
                     "first_non_finite_step": int(step.group(1)) if step else None}
    print("RESULT " + json.dumps(rows))


def configurations() -> list[dict]:
    import torch

    if torch.cuda.is_available():  # Lightning trains on the GPU: fp32 against bf16 there
        return [{"precision": p, "kernels": torch.cuda.get_device_name(0), "guard": True}
                for p in ("32-true", "bf16-mixed")]
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    out = [{"precision": "32-true", "kernels": "native", "guard": True},
           {"precision": "bf16-mixed", "kernels": "native", "guard": True}]
    if caps.get("amx_bf16") and caps.get("avx512_bf16"):
        out += [{"precision": "bf16-mixed", "kernels": "AVX512_CORE_BF16", "guard": True},
                # without the guard only the model it was written for (the others train as with it)
                {"precision": "bf16-mixed", "kernels": "AVX512_CORE_BF16", "guard": False, "models": ["3d"]}]
    return out


def name(c: dict) -> str:
    return f"{c['precision']}, {c['kernels']} kernels" + ("" if c["guard"] else ", no guard")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default: the demo's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--work", default="runs/precision_parity", help="where the runs go")
    p.add_argument("--results", default="precision_parity", help="file name under benchmarks/results/")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--precision", help=argparse.SUPPRESS)
    p.add_argument("--no-guard", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    from tan_video.benchmark import machine_info

    report = {"machine": machine_info(), "epochs": args.epochs, "seed": args.seed, "runs": []}
    for c in configurations():
        env = dict(os.environ)
        if c["kernels"] == "AVX512_CORE_BF16":
            env["ONEDNN_MAX_CPU_ISA"] = c["kernels"]
        out = Path(args.work) / re.sub(r"[^a-z0-9]+", "_", name(c).lower()).strip("_")
        cmd = [sys.executable, __file__, "--child", "--precision", c["precision"], "--out", str(out),
               "--seed", str(args.seed)] + (["--epochs", str(args.epochs)] if args.epochs else []) \
            + ([] if c["guard"] else ["--no-guard"]) \
            + (["--models", *(c.get("models") or args.models)] if c.get("models") or args.models else [])
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        run = {**c, "name": name(c), "seconds": round(time.perf_counter() - start, 1), "exit": done.returncode,
               "models": json.loads(line[7:]) if line else None,
               "error": None if line else done.stderr.strip().splitlines()[-1:]}
        report["runs"].append(run)
        print(f"{run['name']}: {run['seconds']} s, exit {run['exit']}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.results}.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / f"{args.results}.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    m = report["machine"]
    runs = [r for r in report["runs"] if r["models"]]
    keys = list(dict.fromkeys(k for r in runs for k in r["models"]))
    lines = [f"# fp32 against bf16-mixed training: the demo's models ({m.get('cpu')}, CPU capability "
             f"{m.get('cpu_capability')}, torch {m.get('torch')}, {m.get('date')}, load {m.get('load_average')})", "",
             f"Seed {report['seed']}, {'the demo' if report['epochs'] is None else report['epochs']}"
             f"{'' if report['epochs'] is None else ' epochs'}'s budget. Frame mAP on the test videos; 'diverged at N' = "
             "the first optimiser step with a non-finite loss or gradient (training stops there). Command: "
             "`python benchmarks/precision_parity.py`.", "",
             "| model | " + " | ".join(r["name"] for r in runs) + " |", "|---|" + "---|" * len(runs)]
    for k in keys:
        cells = []
        for r in runs:
            row = r["models"].get(k)
            if row is None:
                cells.append("-")
            elif row["failed"]:
                cells.append(f"diverged at {row['first_non_finite_step']}")
            else:
                cells.append(f"{100 * row['frame_map']:.1f} ({row['train_seconds']:.0f} s)")
        label = next(r["models"][k]["label"] for r in runs if k in r["models"])
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for r in report["runs"]:
        if not r["models"]:
            lines += ["", f"{r['name']}: no result (exit {r['exit']}): {r['error']}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
