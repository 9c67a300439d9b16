"""Which bf16 CPU convolutions give wrong gradients, and whether the guard fixes them.

For each convolution shape (the tiny models' and ResNet-50 3D's levels, and edge cases around
"input smaller than the kernel's reach") and each oneDNN kernel family this CPU can run (the
native one, and on a CPU with AVX512-BF16 also oneDNN held to ``AVX512_CORE_BF16``, the kernels
of Zen 4 / Cooper Lake), it measures the relative error of the forward output, the input
gradient and the weight gradient of a bf16 convolution against float64 on the same bf16-rounded
tensors, raw (``F.conv*``) and through :class:`tan_video.models.bf16` 's guard. Every case runs
in a forked child: a kernel that corrupts the heap kills only that child (recorded as a crash).
The children run with ``MALLOC_PERTURB_`` set, so memory a kernel reads without writing holds
large values rather than the zeros of a fresh process, which would hide the error.

    python benchmarks/onednn_bf16_conv.py      # -> benchmarks/results/onednn_bf16_conv.{json,md}
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

RESULTS = Path(__file__).parent / "results"
TOLERANCE = 0.02  # bf16 rounding of a right kernel stays far below this (measured ~0.002-0.005)


def cases() -> list[tuple]:
    """(dims, C_in, C_out, batch, input size, kernel, stride, padding, dilation)."""
    out = [(3, 32, 32, 4, (2, 2, 2), (3, 3, 3), 1, 1, 1), (3, 16, 32, 4, (4, 1, 1), (3, 3, 3), 2, 1, 1),
           (2, 32, 32, 8, (1, 1), (3, 3), 2, 1, 1)]  # tests/test_bf16.py's shapes
    for b, c in ((8, 128), (1, 16)):
        # inflated 3D: 3x3x3 (stride 1 and 2), 1x1x1 stride 2 shortcuts, the 3x7x7 stem
        for t, h in itertools.product((1, 2, 3, 4, 8), (1, 2, 4, 7)):
            out.append((3, c, c, b, (t, h, h), (3, 3, 3), 1, 1, 1))
            out.append((3, c, c, b, (t, h, h), (3, 3, 3), 2, 1, 1))
            out.append((3, c, c, b, (t, h, h), (1, 1, 1), 2, 0, 1))
        # 2D per frame: 3x3 stride 1 / 2, the 7x7 stem
        for h in (1, 2, 3, 4, 7):
            out.append((2, c, c, b, (h, h), (3, 3), 1, 1, 1))
            out.append((2, c, c, b, (h, h), (3, 3), 2, 1, 1))
            out.append((2, 3, c, b, (h, h), (7, 7), 2, 3, 1))
        # TAN's temporal branches: (3, 1) kernels with dilation d over (T, H*W)
        for t, hw, d in itertools.product((2, 4, 6, 7, 16), (1, 4), (1, 2, 3)):
            out.append((2, c, c, b, (t, hw), (3, 1), 1, (d, 0), (d, 1)))
    return out


def _error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b).norm() / b.norm().clamp_min(1e-30))


def measure(case: tuple, guarded: bool) -> dict:
    dims, cin, cout, b, size, k, s, p, d = case
    torch.manual_seed(0)
    conv = (nn.Conv3d if dims == 3 else nn.Conv2d)(cin, cout, k, stride=s, padding=p, dilation=d, bias=False)
    if guarded:
        from tan_video.models.bf16 import guard_bf16_convolutions

        guard_bf16_convolutions(conv)
    x = torch.randn(b, cin, *size, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    gy = torch.randn(y.shape)
    y.float().backward(gy)
    xr = x.detach().bfloat16().double().requires_grad_()
    wr = conv.weight.detach().bfloat16().double().requires_grad_()
    yr = (F.conv3d if dims == 3 else F.conv2d)(xr, wr, stride=s, padding=p, dilation=d)
    yr.backward(gy.double())
    return {"forward": _error(y.detach(), yr.detach()), "grad_input": _error(x.grad, xr.grad),
            "grad_weight": _error(conv.weight.grad, wr.grad)}


def _child(case, guarded, queue):
    queue.put(measure(case, guarded))


def run_isolated(case: tuple, guarded: bool, timeout: float = 20.0) -> dict | str:
    queue = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_child, args=(case, guarded, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        return "hung"
    return queue.get() if proc.exitcode == 0 else f"crashed (exit {proc.exitcode})"


def sweep() -> list[dict]:
    rows = []
    for case in cases():
        row = {"case": list(case)}
        for guarded in (False, True):
            row["guarded" if guarded else "raw"] = run_isolated(case, guarded)
        rows.append(row)
    return rows


def wrong(result) -> bool:
    return isinstance(result, str) or not all(v < TOLERANCE for v in result.values())


def _kernels() -> list[str]:
    """The native kernels, and the AVX512-BF16 ones where the CPU also has AMX (which oneDNN prefers)."""
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return ["native"] + (["AVX512_CORE_BF16"] if caps.get("amx_bf16") and caps.get("avx512_bf16") else [])


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":  # one kernel family, JSON to stdout
        print(json.dumps(sweep()))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tan_video.benchmark import machine_info

    report = {"machine": machine_info(), "tolerance": TOLERANCE, "kernels": {}}
    for kernels in _kernels():
        # allocated memory filled with 0x5A bytes (glibc): a kernel that reads memory it never wrote
        # then sees ~1.5e16 instead of whatever the heap held (often zeros in a fresh process)
        env = {**os.environ, "MALLOC_PERTURB_": "165"}
        if kernels != "native":
            env["ONEDNN_MAX_CPU_ISA"] = kernels
        done = subprocess.run([sys.executable, __file__, "--child", kernels], capture_output=True, text=True,
                              env=env, check=True)
        rows = json.loads(done.stdout)
        report["kernels"][kernels] = {
            "cases": len(rows), "raw_wrong": sum(wrong(r["raw"]) for r in rows),
            "guarded_wrong": sum(wrong(r["guarded"]) for r in rows), "rows": rows}
        print(f"{kernels}: {len(rows)} shapes, raw wrong {report['kernels'][kernels]['raw_wrong']}, "
              f"guarded wrong {report['kernels'][kernels]['guarded_wrong']}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "onednn_bf16_conv.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "onednn_bf16_conv.md").write_text(markdown(report))


def _fmt(result) -> str:
    if isinstance(result, str):
        return result
    return " / ".join(f"{v:.2g}" for v in result.values())


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# bf16 convolution gradients on the CPU ({m.get('cpu')}, torch {m.get('torch')}, "
             f"capability {m.get('cpu_capability')})", "",
             "Relative error against float64 on the same bf16-rounded tensors: forward / input gradient / weight "
             f"gradient; wrong = any above {report['tolerance']}, NaN, a crash or a hang. Command: "
             "`python benchmarks/onednn_bf16_conv.py`.", ""]
    for kernels, block in report["kernels"].items():
        lines += [f"## oneDNN kernels: {kernels}", "",
                  f"{block['cases']} shapes: **{block['raw_wrong']} wrong raw, {block['guarded_wrong']} wrong "
                  "through the guard**.", "", "| conv | input (B, C, size) | kernel, stride, padding, dilation | raw | guarded |",
                  "|---|---|---|---|---|"]
        for r in block["rows"]:
            if wrong(r["raw"]) or wrong(r["guarded"]):
                dims, cin, cout, b, size, k, s, p, d = r["case"]
                lines.append(f"| {dims}D {cin}->{cout} | ({b}, {cin}, {'x'.join(map(str, size))}) | {k}, {s}, {p}, {d} "
                             f"| {_fmt(r['raw'])} | {_fmt(r['guarded'])} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
