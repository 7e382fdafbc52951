#!/usr/bin/env python3
"""profile_step.py - where a training step's time goes, safeconv against cuDNN.

For each mode (safeconv with strategy gpu; cuDNN autotuned) it runs warm-up steps, then
profiles a few steps with torch.profiler and prints: wall time per step, GPU kernel time per
step (busy), the difference (GPU idle: host overhead, launch gaps), the convolution kernels'
share and the kernels that take the most time. Reports only; nothing is asserted.

--model resnet18 is examples/train.py's plain ResNet-18; any other name is a torchvision model.
--precision as bench/train_step.py: fp32 (exact), tf32, amp_bf16, amp_fp16 (with GradScaler).

usage: python3 bench/profile_step.py [--model resnet18] [--precision fp32] [--channels-last]
       [--batch 64] [--size 224] [--steps 3] [--top 12] [--modes safeconv,cudnn]
       [--sequence PREFIX] [--cpu-ops N]

--cpu-ops N also prints the N host-side rows (operators, CUDA runtime calls) with the most self
CPU time per step, e.g. safeconv_layer::conv2d against aten::cudnn_convolution.

--sequence PREFIX writes PREFIX_<mode>.csv: every GPU kernel of the last profiled step in launch
order (start in us from the step's first kernel, duration in us, grid, block, name), so that a
layer's kernels can be matched across the two modes by their order.
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "python"))
sys.path.insert(0, os.path.join(HERE, os.pardir, "examples"))
sys.path.insert(0, HERE)  # train_step, also when loaded as a module (the tests)

import torch  # noqa: E402
try:
    from torch.autograd import DeviceType  # noqa: E402
except ImportError:
    from torch._C._autograd import DeviceType  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import safeconv  # noqa: E402
from train import resnet18  # noqa: E402
from train_step import PRECISIONS, make_model, make_step  # noqa: E402


# Kernel-name pieces that mark a convolution's kernels: safeconv's (every __global__ of
# src/gpu/), cuDNN's (its engines, the plain GEMMs it runs 1x1 layers as, and the layout
# transforms its NCHW engines run around an NHWC call) and PyTorch's own (im2col). The GEMM
# names also match the classifier's linear layer in either mode (3 small GEMMs a step).
CONV_KERNELS = ("gemm_kernel", "mma_kernel", "mma_filter_copy", "smallc", "dw_", "dwb_", "naive_",
                "wino_", "bias_n", "bias_sum", "reduce_splits", "reduce_slices", "transpose_krsc",
                "conv", "xmma", "dgrad", "wgrad", "flip_filter", "implicit_convolve",
                "s1688gemm", "nvjet", "nhwcToNchw", "nchwToNhwc", "im2col", "col2im")


def run(mode, a):
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = mode == "cudnn"
    torch.manual_seed(0)
    model = resnet18(1000) if a.model == "resnet18" else make_model(a.model)
    mf = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.cuda().to(memory_format=mf)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(a.batch, 3, a.size, a.size, device="cuda").contiguous(memory_format=mf)
    y = torch.randint(0, 1000, (a.batch,), device="cuda")
    step = make_step(model, opt, x, y, a.precision)
    handle = safeconv.enable(strategy="gpu") if mode == "safeconv" else None

    try:
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step()
            torch.cuda.synchronize()
            wall = (time.perf_counter() - t0) / a.steps
    finally:
        if handle is not None:
            safeconv.disable()
    # Kernels only (device-side events), grouped by name; operator rows would count their
    # kernels a second time.
    groups = {}
    for e in prof.events():
        if getattr(e, "device_type", None) != DeviceType.CUDA:
            continue
        g = groups.setdefault(e.name, [0.0, 0])
        g[0] += e.time_range.elapsed_us()
        g[1] += 1
    busy = sum(g[0] for g in groups.values()) / a.steps / 1e3
    print(f"== {mode}: wall {wall * 1e3:.2f} ms/step (profiled), GPU kernels {busy:.2f} ms/step, "
          f"GPU idle {wall * 1e3 - busy:.2f} ms/step")
    conv = sum(g[0] for n, g in groups.items()
               if any(k in n for k in CONV_KERNELS)) / a.steps / 1e3
    print(f"   convolution kernels (by name) {conv:.2f} ms/step, the rest {busy - conv:.2f} ms/step")
    for n, g in sorted(groups.items(), key=lambda kv: -kv[1][0])[:a.top]:
        print(f"   {g[0] / a.steps / 1e3:7.3f} ms  x{g[1] // a.steps:<4d} {n[:110]}")
    if a.cpu_ops:
        print_cpu_ops(prof, a)
    if a.sequence:
        write_sequence(prof, a, f"{a.sequence}_{mode}.csv")


def print_cpu_ops(prof, a):
    """--cpu-ops N: the N host-side rows (operators, runtime calls such as cudaLaunchKernel)
    with the most self CPU time per step: where the host's time a step goes (a step whose host
    time nears its GPU time is bound by it: train_step.py --host-time). Self time excludes the
    rows recorded inside a row, so the rows add up; the profiler's own cost is in each."""
    rows = [r for r in prof.key_averages() if r.self_cpu_time_total > 0]
    total = sum(r.self_cpu_time_total for r in rows) / a.steps / 1e3
    print(f"   host: {total:.2f} ms/step of self CPU time in profiled rows; the largest:")
    for r in sorted(rows, key=lambda r: -r.self_cpu_time_total)[:a.cpu_ops]:
        per = r.self_cpu_time_total / a.steps
        print(f"   {per / 1e3:7.3f} ms  x{r.count // a.steps:<4d} {per / max(r.count // a.steps, 1):7.1f} "
              f"us/call  {r.key[:90]}")


def write_sequence(prof, a, path):
    """The last profiled step's kernels in launch order, from the profiler's trace (which
    carries each kernel's grid and block)."""
    trace = path + ".json"
    prof.export_chrome_trace(trace)
    with open(trace) as f:
        ev = json.load(f)
    os.remove(trace)
    ev = ev["traceEvents"] if isinstance(ev, dict) else ev
    ks = sorted((e for e in ev if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    per = len(ks) // a.steps
    ks = ks[-per:]
    t0 = ks[0]["ts"]
    with open(path, "w") as f:
        f.write("start_us,dur_us,grid,block,name\n")
        for e in ks:
            g = "x".join(str(v) for v in e["args"].get("grid", []))
            b = "x".join(str(v) for v in e["args"].get("block", []))
            n = e["name"].replace(",", ";")[:160]
            f.write(f"{e['ts'] - t0:.1f},{e['dur']:.1f},{g},{b},{n}\n")
    print(f"   {len(ks)} kernels of the last step -> {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--precision", default="fp32", choices=PRECISIONS)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--modes", default="safeconv,cudnn")
    ap.add_argument("--sequence", default="")
    ap.add_argument("--cpu-ops", type=int, default=0, metavar="N")
    a = ap.parse_args()
    if a.cpu_ops < 0:
        ap.error("--cpu-ops: N must not be negative (0: no host rows)")
    for m in a.modes.split(","):
        run(m, a)


if __name__ == "__main__":
    main()
