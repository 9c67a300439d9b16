"""Speed and memory, measured side by side in one run against the machine's own limit.

``tan-video bench --speed`` runs :func:`run_speed_bench`:

- the machine's peak: fp32 and bf16 GFLOP/s of a dense matmul and a 3x3 convolution (the best
  of the two is "peak"), measured in the same process as everything else;
- inference of each model on one clip ``(1, 3, T, S, S)``: seconds, clips/s, achieved GFLOP/s
  (``2 * MACs / seconds``, MACs from :mod:`tan_video.complexity`) and its fraction of the peak
  of the same precision, peak memory; fp32 vs bf16, NCHW vs channels_last, fused vs unfused TA
  modules, ``torch.compile``;
- the TA modules alone at the shapes of TAN-R50's four levels, fused vs unfused;
- one training step (forward, dense BCE, backward, Adam) per model: clips/s.

Timings are the best of ``repeats`` after a warm-up pass (the minimum is the best estimate of
the code's own cost on a machine that other processes may share; the median is kept beside it).
Peak memory is the process's resident-set high-water mark during one pass (Linux
``/proc/self/clear_refs``) minus the resident set before it.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .complexity import count_macs, count_params
from .inference import autocast
from .models import create_model
from .models import TemporalAggregation
from .models.tan import TAN

DEFAULT_MODELS = ("tan_r50", "r50_3d", "r50_2d_lstm")


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


# -- measuring ------------------------------------------------------------------------------------
def best_of(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> dict:
    """Seconds per call of ``fn``: best and median of ``repeats`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"best": min(times), "median": statistics.median(times)}


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_memory_mb(fn: Callable[[], object]) -> float | None:
    """Resident memory ``fn`` adds at its peak, in MiB (``None`` where Linux's counters are missing)."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    except OSError:
        return None
    before = _status_kb("VmRSS")
    fn()
    peak = _status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return round((peak - before) / 1024, 1)


def _cpu_capability() -> str | None:
    """The instruction set torch's CPU kernels dispatch to (e.g. "AVX512"), None where torch cannot say."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return None


def machine_info() -> dict:
    """CPU, cores, bf16 support, versions, date and load average: what every benchmark result records."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": name or platform.processor(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cpu_capability": _cpu_capability(),
        "avx512_bf16": "avx512_bf16" in cpuinfo, "amx_bf16": "amx_bf16" in cpuinfo,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# -- the machine's limit --------------------------------------------------------------------------
def peak_gflops(dtype: torch.dtype, repeats: int = 5) -> dict:
    """GFLOP/s of a 2048^3 matmul and of a 3x3 conv (256 -> 256 channels, 8 x 56 x 56, channels_last)."""
    g = torch.Generator().manual_seed(0)
    n = 2048
    a, b = torch.randn(n, n, generator=g).to(dtype), torch.randn(n, n, generator=g).to(dtype)
    mm = best_of(lambda: torch.mm(a, b), repeats)["best"]
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).to(dtype=dtype, memory_format=torch.channels_last)
    x = torch.randn(8, 256, 56, 56, generator=g).to(dtype=dtype, memory_format=torch.channels_last)
    with torch.inference_mode():
        cv = best_of(lambda: conv(x), repeats)["best"]
    conv_flops = 2 * 8 * 56 * 56 * 256 * 256 * 9
    out = {"matmul_2048": round(2 * n**3 / mm / 1e9, 1), "conv3x3_256": round(conv_flops / cv / 1e9, 1)}
    out["peak"] = max(out.values())
    return out


# -- models ---------------------------------------------------------------------------------------
def _as_trained(model: nn.Module) -> nn.Module:
    """Small non-zero temporal branches and an open BN scale, as after training (a fresh TAN's TA
    modules are exactly the identity)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, TemporalAggregation):
                for conv in m.convs:
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.01)
                if m.bn is not None:
                    m.bn.weight.fill_(1.0)
    return model


def _has_ta(model: nn.Module) -> bool:
    """A model with TA modules (TAN and its ablations; not the 2D+LSTM, which is a TAN without them)."""
    return isinstance(model, TAN) and bool(model.temporal_modules())


def build(name: str, num_classes: int = 157, fused: bool = False, channels_last: bool = True) -> nn.Module:
    torch.manual_seed(0)
    model = _as_trained(create_model(name, num_classes=num_classes)).eval()
    if fused and _has_ta(model):
        model.fuse()
    if channels_last:
        model.to(memory_format=model.memory_format)
    return model


def inference_row(name: str, frames: int, size: int, precision: str = "32", channels_last: bool = True,
                  fused: bool = True, compiled: bool = False, repeats: int = 3, peak: dict | None = None,
                  macs: int | None = None) -> dict:
    """One clip ``(1, 3, frames, size, size)`` through ``name``: time, throughput, efficiency, memory."""
    model = build(name, fused=fused, channels_last=channels_last)
    fused = fused if _has_ta(model) else None
    x = torch.randn(1, 3, frames, size, size, generator=torch.Generator().manual_seed(0))
    row = {"model": name, "input": f"{frames}x{size}", "precision": precision,
           "layout": "channels_last" if channels_last else "NCHW", "fused": fused,
           "compiled": compiled}
    fn: Callable = model
    compile_seconds = None
    if compiled:
        fn = torch.compile(model)
        t = time.perf_counter()
        try:
            with torch.inference_mode(), autocast(precision):
                fn(x)
        except Exception as e:  # report, do not abort the whole benchmark
            return {**row, "error": f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
        compile_seconds = round(time.perf_counter() - t, 1)

    def run():
        with torch.inference_mode(), autocast(precision):
            fn(x)

    t = best_of(run, repeats)
    mem = peak_memory_mb(run)
    # the MACs of the form that ran: a fused TA module does 7 taps where the unfused does 9
    macs = macs if macs is not None else count_macs(name, frames, size, 157, fused=bool(fused))
    gflops = 2 * macs / t["best"] / 1e9
    row.update({"seconds": round(t["best"], 4), "seconds_median": round(t["median"], 4),
                "clips_per_second": round(1 / t["best"], 3), "frames_per_second": round(frames / t["best"], 1),
                "gmacs": _sig(macs / 1e9), "gflops_per_second": _sig(gflops), "peak_memory_mb": mem})
    if peak:
        row["fraction_of_peak"] = _sig(gflops / peak["bf16" if precision == "bf16" else "fp32"]["peak"], 3)
    if compile_seconds is not None:
        row["compile_seconds"] = compile_seconds
    return row


def training_row(name: str, frames: int, size: int, batch: int = 2, precision: str = "32",
                 channels_last: bool = True, repeats: int = 3) -> dict:
    """Training steps (forward, dense BCE, backward, Adam) on random clips: clips/s and memory."""
    model = build(name, channels_last=channels_last).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, frames, size, size, generator=g)
    y = (torch.rand(batch, frames, 157, generator=g) < 0.05).float()

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(precision):
            logits = model(x)
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
        loss.backward()
        opt.step()

    t = best_of(step, repeats)
    mem = peak_memory_mb(step)
    return {"model": name, "input": f"{frames}x{size}", "batch": batch, "precision": precision,
            "layout": "channels_last" if channels_last else "NCHW", "seconds_per_step": round(t["best"], 3),
            "seconds_per_step_median": round(t["median"], 3), "clips_per_second": round(batch / t["best"], 3),
            "peak_memory_mb": mem}


def ta_module_rows(frames: int, size: int, precision: str = "32", repeats: int = 5) -> list[dict]:
    """The TA module alone at each of TAN-R50's levels (channels 256..2048, spatial size/4../32),
    channels_last, unfused vs fused."""
    rows = []
    g = torch.Generator().manual_seed(0)
    for level, (channels, stride) in enumerate(zip((256, 512, 1024, 2048), (4, 8, 16, 32)), start=1):
        hw = size // stride
        # the layout TAN hands the module: channels_last frames (T, C, H, W) seen as (1, C, T, H, W)
        x = torch.randn(frames, channels, hw, hw, generator=g).contiguous(memory_format=torch.channels_last)
        x = x[None].transpose(1, 2)
        ta = _as_trained(TemporalAggregation(channels)).eval().to(memory_format=torch.channels_last)
        times = {}
        for fused in (False, True):
            if fused:
                ta.fuse()

            def run():
                with torch.inference_mode(), autocast(precision):
                    ta(x)

            times[fused] = best_of(run, repeats)["best"]
        rows.append({"level": level, "shape": f"{channels}x{frames}x{hw}x{hw}", "precision": precision,
                     "unfused_ms": round(1000 * times[False], 2), "fused_ms": round(1000 * times[True], 2),
                     "speedup": round(times[False] / times[True], 2)})
    return rows


# -- the whole run --------------------------------------------------------------------------------
def run_speed_bench(models=DEFAULT_MODELS, sizes=(112, 224), frames: int = 16, repeats: int = 3,
                    compile: bool = True, train: bool = True, train_size: int = 112, train_batch: int = 2,
                    precisions: tuple[str, ...] | None = None, log: Callable[[str], None] = print) -> dict:
    """Everything above, in one process; returns the ``speed.json`` content.

    ``precisions``: ``("32", "bf16")`` where the CPU computes bf16 natively, else ``("32",)``:
    without AVX512-BF16/AMX, bf16 convolutions fall back to a reference kernel, 2-19x slower than
    fp32 (``benchmarks/results/train_precision.json``), which says nothing about TAN. Pass
    ``("32", "bf16")`` to measure it anyway.
    """
    from .inference import bound_heap_growth, default_precision

    if precisions is None:
        precisions = ("32", "bf16") if default_precision() == "bf16" else ("32",)

    bound_heap_growth()  # freed activations go back to the OS, so each pass's peak is its own
    result: dict = {"machine": machine_info(), "setup": {
        "frames": frames, "sizes": list(sizes), "repeats": repeats, "batch_inference": 1,
        "train": {"size": train_size, "batch": train_batch, "loss": "dense BCE", "optimizer": "Adam"},
        "timing": "best of repeats after one warm-up pass (median kept beside it)",
        "memory": "resident-set high-water mark during one pass minus the resident set before it "
                  "(glibc mmap threshold pinned, as tan-video predict does)",
        "gflops": "2 * MACs of the form that ran (torch.utils.flop_counter; fused TA: 7 of 9 taps) / best seconds",
        "precisions": list(precisions)}}
    log("peak GFLOP/s ...")
    result["peak_gflops"] = {"fp32": peak_gflops(torch.float32)}
    if "bf16" in precisions:
        result["peak_gflops"]["bf16"] = peak_gflops(torch.bfloat16)
    log(json.dumps(result["peak_gflops"]))
    peak = result["peak_gflops"]
    rows = []
    for name in models:
        with torch.device("meta"):
            meta_model = create_model(name, num_classes=157)
        is_tan, params = _has_ta(meta_model), count_params(meta_model)
        for size in sizes:
            macs = {f: count_macs(name, frames, size, 157, fused=f) for f in (False, True)}
            # (precision, channels_last, fused, compiled): every eager combination, then compiled at the fastest layout
            variants = [(p, cl, f, False) for p in precisions for cl in (False, True)
                        for f in ((False, True) if is_tan else (False,))]
            if compile:
                variants += [(p, True, is_tan, True) for p in precisions]
            for precision, cl, fused, compiled in variants:
                row = inference_row(name, frames, size, precision, cl, fused, compiled=compiled, repeats=repeats,
                                    peak=peak, macs=macs[fused])
                row["params_m"] = round(params / 1e6, 2)
                rows.append(row)
                log(_short(row))
                if compiled:
                    torch._dynamo.reset()
    result["inference"] = rows
    log("TA modules alone ...")
    result["ta_modules"] = {p: ta_module_rows(frames, max(sizes), p) for p in precisions}
    for p, r in result["ta_modules"].items():
        log(f"{p}: " + ", ".join(f"L{x['level']} x{x['speedup']}" for x in r))
    if train:
        result["training"] = []
        for name in models:
            for precision in precisions:
                row = training_row(name, frames, train_size, train_batch, precision, repeats=repeats)
                result["training"].append(row)
                log(_short(row))
    result["summary"] = summarize(result)
    return result


def _short(row: dict) -> str:
    keys = ("model", "input", "precision", "layout", "fused", "compiled", "seconds", "seconds_per_step",
            "clips_per_second", "fraction_of_peak", "peak_memory_mb", "error")
    return " ".join(f"{k}={row[k]}" for k in keys if k in row)


def _find(rows: list[dict], **match) -> dict | None:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()) and "error" not in r:
            return r
    return None


def summarize(result: dict) -> dict:
    """The issue's targets as ratios from this run (``None`` where a row is missing)."""
    inf = result["inference"]
    out: dict = {}
    for size in result["setup"]["sizes"]:
        key = f"{result['setup']['frames']}x{size}"
        base = dict(model="tan_r50", input=key, compiled=False)
        fp32 = _find(inf, precision="32", layout="channels_last", fused=True, **base)
        bf16 = _find(inf, precision="bf16", layout="channels_last", fused=True, **base)
        unfused = _find(inf, precision="32", layout="channels_last", fused=False, **base)
        nchw = _find(inf, precision="32", layout="NCHW", fused=True, **base)
        if not fp32:
            continue
        s = {"tan_r50_fp32_fraction_of_peak": fp32.get("fraction_of_peak"),
             "tan_r50_bf16_speedup": round(fp32["seconds"] / bf16["seconds"], 2) if bf16 else None,
             "tan_r50_fused_speedup_fp32": round(unfused["seconds"] / fp32["seconds"], 2) if unfused else None,
             "tan_r50_channels_last_speedup_fp32": round(nchw["seconds"] / fp32["seconds"], 2) if nchw else None}
        fastest = min((r for r in inf if r["model"] == "tan_r50" and r["input"] == key and "error" not in r),
                      key=lambda r: r["seconds"])
        s["tan_r50_fastest"] = {k: fastest[k] for k in ("precision", "layout", "fused", "compiled", "seconds")}
        out[key] = s
    if result.get("ta_modules"):
        out["ta_module_fused_speedup"] = {p: [r["speedup"] for r in rows] for p, rows in result["ta_modules"].items()}
    return out


def to_markdown(result: dict) -> str:
    m, pk = result["machine"], result["peak_gflops"]
    lines = [f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, {m['torch_threads']} threads), "
             f"torch {m['torch']}, Python {m['python']}. Peak: fp32 {pk['fp32']['peak']} GFLOP/s"
             + (f", bf16 {pk['bf16']['peak']} GFLOP/s" if "bf16" in pk else " (bf16 not measured: not native here)")
             + " (best of a 2048^3 matmul and a 3x3 conv).", "",
             "| model | input | precision | layout | fused | compiled | s/clip | clips/s | GFLOP/s | % of peak | "
             "peak MB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["inference"]:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['input']} | {r['precision']} | {r['layout']} | {r['fused']} | "
                         f"{r['compiled']} | {r['error']} | | | | |")
            continue
        frac = f"{100 * r['fraction_of_peak']:.0f}" if r.get("fraction_of_peak") is not None else "-"
        lines.append(f"| {r['model']} | {r['input']} | {r['precision']} | {r['layout']} | "
                     f"{'-' if r['fused'] is None else r['fused']} | {r['compiled']} | {r['seconds']:.3f} | "
                     f"{r['clips_per_second']:.2f} | {r['gflops_per_second']:.0f} | {frac} | {r['peak_memory_mb']} |")
    if result.get("ta_modules"):
        lines += ["", "| TA module (TAN-R50 level) | shape | precision | unfused ms | fused ms | speedup |",
                  "|---|---|---|---|---|---|"]
        for p, rows in result["ta_modules"].items():
            lines += [f"| {r['level']} | {r['shape']} | {p} | {r['unfused_ms']} | {r['fused_ms']} | {r['speedup']} |"
                      for r in rows]
    if result.get("training"):
        lines += ["", "| training step | input | batch | precision | s/step | clips/s | peak MB |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['input']} | {r['batch']} | {r['precision']} | {r['seconds_per_step']} | "
                  f"{r['clips_per_second']} | {r['peak_memory_mb']} |" for r in result["training"]]
    return "\n".join(lines) + "\n"


def write_speed(out_dir: str | Path, result: dict) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "speed.json", out_dir / "speed.md"
    js.write_text(json.dumps(result, indent=1) + "\n")
    md.write_text(to_markdown(result))
    return js, md
