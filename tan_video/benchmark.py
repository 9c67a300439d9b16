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
from .models.packing import PLAIN_CONV2D

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


def peak_memory_mb(fn: Callable[[], object], device: str | torch.device = "cpu") -> float | None:
    """Memory ``fn`` adds at its peak, in MiB: resident memory on the CPU (``None`` where Linux's
    counters are missing), the caching allocator's peak on a GPU."""
    gc.collect()
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return round((torch.cuda.max_memory_allocated(device) - before) / 2**20, 1)
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
RESNET_CONV_SHAPES = ((64, 56), (128, 28), (256, 14), (512, 7))
"""(channels, side) of the 3x3 convolutions in ResNet-50's four stages at 224 px."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gflops(dtype: torch.dtype, repeats: int = 5, device: str | torch.device = "cpu", frames: int = 16) -> dict:
    """GFLOP/s of a 2048^3 matmul and of the 3x3 convolutions of ResNet-50's four stages
    (``frames`` frames at 224 px, channels_last); ``peak`` is the best of them all."""
    device = torch.device(device)
    g = torch.Generator().manual_seed(0)
    n = 2048
    a, b = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))

    def timed(fn):
        return best_of(lambda: (fn(), _sync(device)), repeats)["best"]

    out = {"matmul_2048": round(2 * n**3 / timed(lambda: torch.mm(a, b)) / 1e9, 1)}
    for channels, side in RESNET_CONV_SHAPES:
        conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device, dtype, memory_format=torch.channels_last)
        x = torch.randn(frames, channels, side, side, generator=g).to(device, dtype).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode():
            seconds = timed(lambda: conv(x))
        out[f"conv3x3_{channels}x{side}"] = round(2 * frames * side * side * channels * channels * 9 / seconds / 1e9, 1)
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


def build(name: str, num_classes: int = 157, fused: bool = False, channels_last: bool = True,
          packed: bool = False, device: str | torch.device = "cpu") -> nn.Module:
    """A registered model (or a peer, :data:`PEERS`) in eval mode, as inference would run it:
    ``fused`` (TA modules and BatchNorms folded), ``channels_last``, ``packed`` (CPU weights in
    oneDNN's layout; needs ``fused``)."""
    torch.manual_seed(0)
    model = PEERS[name]() if name in PEERS else create_model(name, num_classes=num_classes)
    model = _as_trained(model).eval().to(device)
    if fused:
        model.fuse()
    if channels_last:
        model.to(memory_format=model.memory_format)
    if packed:
        from .models.packing import pack

        pack(model)
    return model


def _macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of one forward pass of this very model (meta-device copy: nothing is computed)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


def inference_row(name: str, frames: int, size: int, precision: str = "32", channels_last: bool = True,
                  fused: bool = True, compiled: bool = False, repeats: int = 3, peak: dict | None = None,
                  macs: int | None = None, packed: bool = False, device: str | torch.device = "cpu") -> dict:
    """One clip ``(1, 3, frames, size, size)`` through ``name``: time, throughput, efficiency, memory."""
    device = torch.device(device)
    model = build(name, fused=fused, channels_last=channels_last, packed=packed, device=device)
    x = torch.randn(1, 3, frames, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    row = {"model": name, "input": f"{frames}x{size}", "precision": precision,
           "layout": "channels_last" if channels_last else "NCHW", "fused": fused, "packed": packed,
           "compiled": compiled, "device": str(device)}
    fn: Callable = model
    compile_seconds = None
    if compiled:
        fn = torch.compile(model)
        t = time.perf_counter()
        try:
            with torch.inference_mode(), autocast(precision, device):
                fn(x)
        except Exception as e:  # report, do not abort the whole benchmark
            return {**row, "error": f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
        compile_seconds = round(time.perf_counter() - t, 1)

    def run():
        with torch.inference_mode(), autocast(precision, device):
            fn(x)
        _sync(device)

    t = best_of(run, repeats)
    mem = peak_memory_mb(run, device)
    if macs is None:  # the MACs of the form that ran: a fused TA module does 7 taps where the unfused does 9
        macs = count_macs(name, frames, size, 157, fused=fused) if name not in PEERS else _peer_macs(name, frames, size)
    gflops = 2 * macs / t["best"] / 1e9
    row.update({"seconds": _sig(t["best"]), "seconds_median": _sig(t["median"]),  # (4 digits: a tiny model runs in 1 ms)
                "clips_per_second": round(1 / t["best"], 3), "frames_per_second": round(frames / t["best"], 1),
                "gmacs": _sig(macs / 1e9), "gflops_per_second": _sig(gflops), "peak_memory_mb": mem})
    if peak and ("bf16" if precision == "bf16" else "fp32") in peak:
        row["fraction_of_peak"] = _sig(gflops / peak["bf16" if precision == "bf16" else "fp32"]["peak"], 3)
    if compile_seconds is not None:
        row["compile_seconds"] = compile_seconds
    return row


def training_row(name: str, frames: int, size: int, batch: int = 2, precision: str = "32",
                 channels_last: bool = True, repeats: int = 3, peak: dict | None = None,
                 device: str | torch.device = "cpu", compiled: bool = False) -> dict:
    """Training steps (forward, dense BCE, backward, Adam) on random clips: clips/s, memory, and
    the step's FLOPs (3x the forward's: the backward computes gradients for inputs and weights)
    over its time as a fraction of the fp32 and (where measured) the bf16 peak."""
    device = torch.device(device)
    model = build(name, channels_last=channels_last, device=device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, frames, size, size, generator=g).to(device)
    y = (torch.rand(batch, frames, 157, generator=g) < 0.05).float().to(device)
    forward = torch.compile(model) if compiled else model

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(precision, device):
            logits = forward(x)
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
        loss.backward()
        opt.step()
        _sync(device)

    row = {"model": name, "input": f"{frames}x{size}", "batch": batch, "precision": precision,
           "layout": "channels_last" if channels_last else "NCHW", "compiled": compiled, "device": str(device)}
    if compiled:
        t0 = time.perf_counter()
        try:
            step()
        except Exception as e:
            return {**row, "error": f"torch.compile failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}
        row["compile_seconds"] = round(time.perf_counter() - t0, 1)
    t = best_of(step, repeats)
    mem = peak_memory_mb(step, device)
    flops = 3 * 2 * batch * count_macs(name, frames, size, 157)
    row.update({"seconds_per_step": round(t["best"], 3), "seconds_per_step_median": round(t["median"], 3),
                "clips_per_second": round(batch / t["best"], 3), "peak_memory_mb": mem,
                "gflops_per_second": _sig(flops / t["best"] / 1e9)})
    for key in ("fp32", "bf16"):
        if peak and key in peak:
            row[f"fraction_of_{key}_peak"] = _sig(flops / t["best"] / 1e9 / peak[key]["peak"], 3)
    return row


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


# -- the peers a user would pick instead ----------------------------------------------------------
class _PeerBlock(nn.Module):
    """torchvision's video ResNet BasicBlock: two (conv, BN) pairs, ReLU, a strided shortcut."""

    def __init__(self, conv_builder, cin: int, planes: int, stride: int):
        super().__init__()
        # R(2+1)D's mid width keeps the parameters of a full 3x3x3 conv from cin to planes (Tran et
        # al. 2018); torchvision uses the block's first one for both of its convs
        mid = (cin * planes * 27) // (cin * 9 + 3 * planes)
        self.conv1 = nn.Sequential(conv_builder(cin, planes, stride, mid), nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv_builder(planes, planes, 1, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv3d(cin, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


def _conv3d_full(cin: int, cout: int, stride: int, mid: int) -> nn.Module:
    return nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv2plus1d(cin: int, cout: int, stride: int, mid: int) -> nn.Module:
    return nn.Sequential(nn.Conv3d(cin, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
                         nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
                         nn.Conv3d(mid, cout, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False))


class PeerVideoResNet(nn.Module):
    """The 18-layer video ResNets of torchvision (``r3d_18``, ``r2plus1d_18``), layer for layer
    (same convolutions, strides and widths, 400 classes), built here for timing only: torchvision
    has no build for this project's torch. Clip in, clip scores out; BN kept, as torchvision runs."""

    memory_format = torch.channels_last_3d

    def __init__(self, conv_builder, stem: nn.Module):
        super().__init__()
        self.stem = stem
        layers, cin = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(_PeerBlock(conv_builder, cin, planes, stride),
                                        _PeerBlock(conv_builder, planes, planes, 1)))
            cin = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 400)

    def forward(self, x):
        if self.stem[0].weight.is_contiguous(memory_format=torch.channels_last_3d):
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self.fc(self.layers(self.stem(x)).mean(dim=(2, 3, 4)))

    def fuse(self):
        return self  # torchvision's models have no such step: they run as they are


def _r3d_18() -> PeerVideoResNet:
    stem = nn.Sequential(nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))
    return PeerVideoResNet(_conv3d_full, stem)


def _r2plus1d_18() -> PeerVideoResNet:
    stem = nn.Sequential(nn.Conv3d(3, 45, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
                         nn.BatchNorm3d(45), nn.ReLU(inplace=True),
                         nn.Conv3d(45, 64, (3, 1, 1), padding=(1, 0, 0), bias=False),
                         nn.BatchNorm3d(64), nn.ReLU(inplace=True))
    return PeerVideoResNet(_conv2plus1d, stem)


PEERS = {"peer_r3d_18": _r3d_18, "peer_r2plus1d_18": _r2plus1d_18}


def _peer_macs(name: str, frames: int, size: int) -> int:
    with torch.device("meta"):
        return _macs(PEERS[name]().eval(), torch.empty(1, 3, frames, size, size))


# -- ONNX -----------------------------------------------------------------------------------------
def onnx_rows(name: str, frames: int, sizes, repeats: int = 3, peak: dict | None = None) -> list[dict]:
    """The fused model exported to ONNX and run by onnxruntime (CPU), beside PyTorch: seconds, the
    BatchNormalization nodes left in the graph (none expected) and the largest output difference."""
    import tempfile

    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        return [{"model": name, "runtime": "onnxruntime", "error": "onnx/onnxruntime not installed ([onnx] extra)"}]
    from .export import export_model

    rows = []
    for size in sizes:
        model = build(name, fused=True, channels_last=False)
        x = torch.randn(1, 3, frames, size, size, generator=torch.Generator().manual_seed(0))
        with tempfile.TemporaryDirectory() as tmp:
            path = export_model(model, Path(tmp) / "model.onnx", size, frames=frames)
            ops = [node.op_type for node in onnx.load(str(path)).graph.node]
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = torch.get_num_threads()
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            feed = {"clip": x.numpy()}
            t = best_of(lambda: session.run(None, feed), repeats)
            out = session.run(None, feed)[0]
        with torch.inference_mode():
            ref = model(x).numpy()
        macs = count_macs(name, frames, size, 157, fused=True)
        row = {"model": name, "input": f"{frames}x{size}", "runtime": f"onnxruntime {ort.__version__}",
               "precision": "32", "seconds": round(t["best"], 4), "seconds_median": round(t["median"], 4),
               "gflops_per_second": _sig(2 * macs / t["best"] / 1e9), "batchnorm_nodes": ops.count("BatchNormalization"),
               "conv_nodes": ops.count("Conv"), "max_abs_difference": _sig(float(abs(out - ref).max()), 3)}
        if peak:
            row["fraction_of_peak"] = _sig(row["gflops_per_second"] / peak["fp32"]["peak"], 3)
        rows.append(row)
    return rows


# -- the whole run --------------------------------------------------------------------------------
def inference_variants(precisions, compile: bool, packable: bool) -> list[tuple]:
    """``(precision, channels_last, fused, packed, compiled)`` per row: the plain model in both
    layouts, then fused, then fused + packed (CPU models with 2D convs), then compiled, all
    channels_last."""
    out = []
    for p in precisions:
        out += [(p, False, False, False, False), (p, True, False, False, False), (p, True, True, False, False)]
        if packable:
            out.append((p, True, True, True, False))
        if compile:
            out.append((p, True, True, False, True))
    return out


def run_speed_bench(models=DEFAULT_MODELS, sizes=(112, 224), frames: int = 16, repeats: int = 3,
                    compile: bool = True, train: bool = True, train_size: int = 112, train_batch: int = 2,
                    precisions: tuple[str, ...] | None = None, log: Callable[[str], None] = print,
                    device: str | torch.device = "cpu", peers=tuple(PEERS), onnx: bool = True) -> dict:
    """Everything above, in one process; returns the ``speed.json`` content.

    ``precisions``: on the CPU ``("32", "bf16")`` where it computes bf16 natively, else
    ``("32",)``: without AVX512-BF16/AMX, bf16 convolutions fall back to a reference kernel, 2-19x
    slower than fp32 (``benchmarks/results/train_precision.json``), which says nothing about TAN.
    Pass ``("32", "bf16")`` to measure it anyway. On a GPU: fp32 and bf16 where it computes bf16.
    ``peers``: torchvision's video ResNets (:data:`PEERS`) timed beside, at the smallest size.
    """
    from .inference import bound_heap_growth, default_precision, resolve_device

    device = resolve_device(device)
    cpu = device.type == "cpu"
    if precisions is None:
        precisions = ("32", "bf16") if default_precision(device) == "bf16" else ("32",)

    bound_heap_growth()  # freed activations go back to the OS, so each pass's peak is its own
    result: dict = {"machine": machine_info(), "setup": {
        "device": str(device), "frames": frames, "sizes": list(sizes), "repeats": repeats, "batch_inference": 1,
        "train": {"size": train_size, "batch": train_batch, "loss": "dense BCE", "optimizer": "Adam"},
        "timing": "best of repeats after one warm-up pass (median kept beside it)",
        "memory": "resident-set high-water mark during one pass minus the resident set before it "
                  "(glibc mmap threshold pinned, as tan-video predict does); on a GPU, the allocator's peak",
        "gflops": "2 * MACs of the form that ran (torch.utils.flop_counter; fused TA: 7 of 9 taps) / best seconds",
        "peak": "best of a 2048^3 matmul and the 3x3 convs of ResNet-50's stages at 224 px, same process",
        "precisions": list(precisions)}}
    log("peak GFLOP/s ...")
    result["peak_gflops"] = {"fp32": peak_gflops(torch.float32, device=device, frames=frames)}
    if "bf16" in precisions:
        result["peak_gflops"]["bf16"] = peak_gflops(torch.bfloat16, device=device, frames=frames)
    log(json.dumps(result["peak_gflops"]))
    peak = result["peak_gflops"]
    rows = []
    for name in models:
        with torch.device("meta"):
            meta_model = create_model(name, num_classes=157)
        params = count_params(meta_model)
        packable = cpu and any(type(m) in PLAIN_CONV2D for m in meta_model.modules())
        for size in sizes:
            macs = {f: count_macs(name, frames, size, 157, fused=f) for f in (False, True)}
            for precision, cl, fused, packed, compiled in inference_variants(precisions, compile, packable):
                row = inference_row(name, frames, size, precision, cl, fused, compiled=compiled, repeats=repeats,
                                    peak=peak, macs=macs[fused], packed=packed, device=device)
                row["params_m"] = round(params / 1e6, 2)
                rows.append(row)
                log(_short(row))
                if compiled:
                    torch._dynamo.reset()
    for name in peers:
        for precision in precisions:
            row = inference_row(name, frames, min(sizes), precision, True, False, repeats=repeats, peak=peak,
                                device=device)
            rows.append(row)
            log(_short(row))
    result["inference"] = rows
    if onnx and cpu and "tan_r50" in models:
        log("ONNX ...")
        result["onnx"] = onnx_rows("tan_r50", frames, sizes, repeats, peak)
        for r in result["onnx"]:
            log(_short(r))
    if cpu:
        log("TA modules alone ...")
        result["ta_modules"] = {p: ta_module_rows(frames, max(sizes), p) for p in precisions}
        for p, r in result["ta_modules"].items():
            log(f"{p}: " + ", ".join(f"L{x['level']} x{x['speedup']}" for x in r))
    if train:
        result["training"] = []
        for name in models:
            for precision in precisions:
                row = training_row(name, frames, train_size, train_batch, precision, repeats=repeats, peak=peak,
                                   device=device)
                result["training"].append(row)
                log(_short(row))
    result["summary"] = summarize(result)
    return result


def _short(row: dict) -> str:
    keys = ("model", "input", "precision", "layout", "fused", "packed", "compiled", "runtime", "seconds",
            "seconds_per_step", "clips_per_second", "fraction_of_peak", "fraction_of_fp32_peak", "peak_memory_mb",
            "batchnorm_nodes", "max_abs_difference", "error")
    return " ".join(f"{k}={row[k]}" for k in keys if k in row)


def _find(rows: list[dict], **match) -> dict | None:
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()) and "error" not in r:
            return r
    return None


TARGETS = {
    "fp32_fraction_of_peak": (0.80, "TAN-R50 fp32 eager, inference form, GFLOP/s over the measured peak"),
    "fused_speedup_fp32": (1.25, "TAN-R50 fp32: plain model's seconds over the inference form's (16x224)"),
    "bf16_speedup": (1.9, "TAN-R50 inference form: fp32 seconds over bf16 seconds"),
    "gflops_over_best_peer": (1.0, "TAN-R50 inference form GFLOP/s over the best peer's (16x112), per precision"),
}
"""The issue's targets: ``name -> (threshold, what is measured)``; a target is met at >= threshold."""


def summarize(result: dict) -> dict:
    """The targets as ratios from this run (``None`` where a row is missing), plus what the
    inference form (fused, and packed on the CPU: what predict and evaluate run) buys."""
    inf = result["inference"]
    cpu = result["setup"].get("device", "cpu") == "cpu"
    out: dict = {"targets": []}

    def target(name, key, value, **extra):
        threshold = TARGETS[name][0]
        out["targets"].append({"target": name, "input": key, "value": value, "threshold": threshold,
                               "met": None if value is None else value >= threshold, **extra})

    for size in result["setup"]["sizes"]:
        key = f"{result['setup']['frames']}x{size}"
        base = dict(model="tan_r50", input=key, compiled=False, layout="channels_last")
        form = {p: _find(inf, precision=p, fused=True, packed=cpu, **base) for p in ("32", "bf16")}
        fused = _find(inf, precision="32", fused=True, packed=False, **base)
        plain = _find(inf, precision="32", fused=False, **base)
        nchw = _find(inf, precision="32", layout="NCHW", model="tan_r50", input=key, fused=False, compiled=False)
        if not form["32"]:
            continue
        ratio = lambda a, b: round(a["seconds"] / b["seconds"], 2) if a and b else None  # noqa: E731
        s = {"tan_r50_fp32_fraction_of_peak": form["32"].get("fraction_of_peak"),
             "tan_r50_bf16_speedup": ratio(form["32"], form["bf16"]),
             "tan_r50_inference_form_speedup_fp32": ratio(plain, form["32"]),
             "tan_r50_fused_speedup_fp32": ratio(plain, fused),
             "tan_r50_packed_speedup_fp32": ratio(fused, form["32"]) if cpu else None,
             "tan_r50_channels_last_speedup_fp32": ratio(nchw, plain)}
        fastest = min((r for r in inf if r["model"] == "tan_r50" and r["input"] == key and "error" not in r),
                      key=lambda r: r["seconds"])
        s["tan_r50_fastest"] = {k: fastest.get(k) for k in ("precision", "layout", "fused", "packed", "compiled",
                                                             "seconds")}
        out[key] = s
        target("fp32_fraction_of_peak", key, s["tan_r50_fp32_fraction_of_peak"])
        if size == max(result["setup"]["sizes"]):
            target("fused_speedup_fp32", key, s["tan_r50_inference_form_speedup_fp32"])
        if "bf16" in result["setup"]["precisions"]:
            target("bf16_speedup", key, s["tan_r50_bf16_speedup"])
        for p in result["setup"]["precisions"]:
            peers = [r for r in inf if r["model"] in PEERS and r["input"] == key and r["precision"] == p
                     and "error" not in r]
            if peers and form[p]:
                best = max(peers, key=lambda r: r["gflops_per_second"])
                target("gflops_over_best_peer", key, round(form[p]["gflops_per_second"] / best["gflops_per_second"], 2),
                       precision=p, peer=best["model"])
    if result.get("ta_modules"):
        out["ta_module_fused_speedup"] = {p: [r["speedup"] for r in rows] for p, rows in result["ta_modules"].items()}
    return out


def _flag(value) -> str:
    return "-" if value is None else str(value)


def _pct(row: dict, key: str = "fraction_of_peak") -> str:
    """A row's fraction as a whole percentage, ``-`` where it was not measured."""
    return f"{100 * row[key]:.0f}" if row.get(key) is not None else "-"


def to_markdown(result: dict) -> str:
    m, pk = result["machine"], result["peak_gflops"]
    where = result["setup"].get("device", "cpu")
    lines = [f"Measured {m['date']} on {m['cpu'] if where == 'cpu' else m.get('cuda') or where} "
             f"({m['cores']} cores, {m['torch_threads']} threads, load average {m.get('load_average')}), "
             f"torch {m['torch']}, Python {m['python']}. Peak: fp32 {pk['fp32']['peak']} GFLOP/s"
             + (f", bf16 {pk['bf16']['peak']} GFLOP/s" if "bf16" in pk else " (bf16 not measured: not native here)")
             + " (best of a 2048^3 matmul and the 3x3 convs of ResNet-50's four stages).", "",
             "| model | input | precision | layout | fused | packed | compiled | s/clip | clips/s | GFLOP/s | "
             "% of peak | peak MB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["inference"]:
        head = (f"| {r['model']} | {r['input']} | {r['precision']} | {r['layout']} | {_flag(r['fused'])} | "
                f"{_flag(r.get('packed'))} | {r['compiled']} |")
        if "error" in r:
            lines.append(f"{head} {r['error']} | | | | |")
            continue
        lines.append(f"{head} {r['seconds']:.3f} | {r['clips_per_second']:.2f} | {r['gflops_per_second']:.0f} | "
                     f"{_pct(r)} | {r['peak_memory_mb']} |")
    if result.get("onnx"):
        lines += ["", "| ONNX (fused) | input | runtime | s/clip | GFLOP/s | % of peak | BatchNormalization nodes | "
                  "max abs diff vs PyTorch |", "|---|---|---|---|---|---|---|---|"]
        for r in result["onnx"]:
            if "error" in r:
                lines.append(f"| {r['model']} | | {r['runtime']} | {r['error']} | | | | |")
                continue
            lines.append(f"| {r['model']} | {r['input']} | {r['runtime']} | {r['seconds']:.3f} | "
                         f"{r['gflops_per_second']:.0f} | {_pct(r)} | {r['batchnorm_nodes']} | {r['max_abs_difference']} |")
    if result.get("ta_modules"):
        lines += ["", "| TA module (TAN-R50 level) | shape | precision | unfused ms | fused ms | speedup |",
                  "|---|---|---|---|---|---|"]
        for p, rows in result["ta_modules"].items():
            lines += [f"| {r['level']} | {r['shape']} | {p} | {r['unfused_ms']} | {r['fused_ms']} | {r['speedup']} |"
                      for r in rows]
    if result.get("training"):
        lines += ["", "| training step | input | batch | precision | compiled | s/step | clips/s | GFLOP/s | "
                  "% of fp32 peak | % of bf16 peak | peak MB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in result["training"]:
            if "error" in r:
                lines.append(f"| {r['model']} | {r['input']} | {r['batch']} | {r['precision']} | "
                             f"{r.get('compiled')} | {r['error']} | | | | | |")
                continue
            lines.append(f"| {r['model']} | {r['input']} | {r['batch']} | {r['precision']} | {r.get('compiled')} | "
                         f"{r['seconds_per_step']} | {r['clips_per_second']} | {r.get('gflops_per_second', '-')} | "
                         f"{_pct(r, 'fraction_of_fp32_peak')} | {_pct(r, 'fraction_of_bf16_peak')} | {r['peak_memory_mb']} |")
    targets = result.get("summary", {}).get("targets")
    if targets:
        lines += ["", "| target | input | precision | value | threshold | met |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['target']} | {t['input']} | {t.get('precision', '-')} | {_flag(t['value'])} | "
                  f"{t['threshold']} | {_flag(t['met'])} |" for t in targets]
    return "\n".join(lines) + "\n"


def write_speed(out_dir: str | Path, result: dict) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "speed.json", out_dir / "speed.md"
    js.write_text(json.dumps(result, indent=1) + "\n")
    md.write_text(to_markdown(result))
    return js, md
