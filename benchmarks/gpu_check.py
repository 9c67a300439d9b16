"""The GPU check: a few minutes on a lent GPU machine, one result file.

1. Runs the CUDA-marked tests (``tests/test_device.py``: fused model, predict and evaluate on CUDA
   against the CPU), which CI (CPU-only) skips.
2. Measures, in the same process: the device's bf16 dense peak (a 8192^3 GEMM, best of 5), then
   TAN-R50 inference at 16x224 (batch 4: channels_last + fused, eager and ``torch.compile``) and
   one training step (batch 4, channels_last, bf16 autocast, Adam), each as TFLOP/s and as a
   fraction of that peak (FLOPs from ``tan_video.complexity``, 1 MAC = 2 FLOPs; a training step
   counted as 3x the forward).
3. Writes ``benchmarks/results/gpu.json`` (device, versions, the figures, the tests' outcome).

    python benchmarks/gpu_check.py            # on a machine with CUDA; exits 1 without one

Budget: about 5 minutes on one current GPU (compiling TAN-R50 takes most of it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def cuda_seconds(fn, repeats: int = 10, warmup: int = 3) -> float:
    """Median seconds per call, synchronised."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def bf16_peak_tflops() -> float:
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    return 2 * 8192 ** 3 / min(cuda_seconds(lambda: a @ b, repeats=5) for _ in range(3)) / 1e12


def model_figures(peak: float, batch: int = 4, frames: int = 16, size: int = 224) -> list[dict]:
    import tan_video as tv
    from tan_video.complexity import count_macs

    flops = 2 * count_macs("tan_r50", frames, size, 157, fused=True) * batch
    clip = torch.randn(batch, 3, frames, size, size, device="cuda").contiguous(memory_format=torch.channels_last_3d)
    rows = []
    model = tv.create_model("tan_r50", num_classes=157).cuda().eval().fuse()
    model = tv.models.to_channels_last(model)
    for compiled in (False, True):
        run = torch.compile(model) if compiled else model

        def infer():
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
                run(clip)

        s = cuda_seconds(infer)
        rows.append({"what": "inference", "compiled": compiled, "batch": batch, "seconds": s,
                     "tflops": flops / s / 1e12, "fraction_of_peak": flops / s / 1e12 / peak})
    train = tv.models.to_channels_last(tv.create_model("tan_r50", num_classes=157).cuda().train())
    opt = torch.optim.Adam(train.parameters(), lr=1e-4)
    target = torch.rand(batch, frames, 157, device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(train(clip).float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    s = cuda_seconds(step, repeats=5)
    train_flops = 3 * 2 * count_macs("tan_r50", frames, size, 157) * batch
    rows.append({"what": "training step", "compiled": False, "batch": batch, "seconds": s,
                 "tflops": train_flops / s / 1e12, "fraction_of_peak": train_flops / s / 1e12 / peak})
    return rows


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing measured", file=sys.stderr)
        return 1
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", str(ROOT / "tests" / "test_device.py")],
                           capture_output=True, text=True, cwd=ROOT)
    peak = bf16_peak_tflops()
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
              "bf16_peak_tflops": peak, "rows": model_figures(peak),
              "tests": {"returncode": tests.returncode, "summary": tests.stdout.strip().splitlines()[-1:]}}
    out = ROOT / "benchmarks" / "results" / "gpu.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for r in result["rows"]:
        print(f"{r['what']:14s} compiled={r['compiled']!s:5s} {r['seconds'] * 1e3:8.1f} ms  "
              f"{r['tflops']:6.1f} TFLOP/s  {100 * r['fraction_of_peak']:5.1f}% of the bf16 peak ({peak:.0f})")
    print(f"tests: {result['tests']['summary']}; wrote {out}")
    return 0 if tests.returncode == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
