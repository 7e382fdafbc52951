#!/usr/bin/env python3
"""train_step.py - training-step throughput of torchvision models with safeconv's convolutions
against cuDNN's, under the precision settings people train with (GPU machine only).

For each model and precision, one process times (median of --steps steps after --warmup):
  safeconv       safeconv.enable(strategy="gpu"): every convolution on safeconv's kernels
                 (batch norm as the library's default puts it: cuDNN on CUDA builds, PyTorch's
                 kernels on ROCm builds; option bypass_other_ops, docs/pytorch.md)
  safeconv_bnpt  the same with bypass_other_ops=True: batch norm (and PyTorch's other cuDNN
                 operators) on PyTorch's own kernels, torch.backends.cudnn.enabled off
  safeconv_bnvendor  the same with bypass_other_ops=False: batch norm on cuDNN/MIOpen
  cudnn          cuDNN, torch.backends.cudnn.benchmark = True (its fastest algorithms)
  cudnn_determ   cuDNN with torch.backends.cudnn.deterministic = True (exact fp32 only)
  torch_nocudnn  PyTorch with torch.backends.cudnn.enabled = False (its own GPU convolution:
                 what a user without a working vendor library gets from PyTorch alone)
Models: torchvision's (resnet50, mobilenet_v3_large, efficientnet_b0, ...) and "yolo", the
YOLO-style backbone of examples/train.py (run it at --size 640, --batch 4 and 16).
Precisions:
  fp32      exact fp32: torch.backends.cudnn.allow_tf32 = False (safeconv: SC_MATH_EXACT)
  tf32      PyTorch's default: allow_tf32 = True (safeconv follows it: SC_MATH_TF32)
  amp_bf16  torch.autocast("cuda", torch.bfloat16)
  amp_fp16  torch.autocast("cuda", torch.float16) with torch.amp.GradScaler
The model and input are channels_last unless --nchw. Prints images/s and the ratio to cuDNN in
the same setting (and safeconv_bnpt/safeconv_bnvendor: what batch norm on PyTorch's kernels
costs); timings are reports, never assertions. A "host:" line (and each JSON record) names the
CPU and whether safeconv's C++ layer serves its calls: eager steps depend on both, so a result
without them cannot be compared with another machine's.

--graph captures each step in a CUDA graph and times its replays: the step's GPU time, without
the host's per-operator work (on a slow host, the eager steps of small-layer models are bound
by that work on both sides); not for amp_fp16 (GradScaler synchronizes).

--paired R times the impls side by side in one process: a model per impl (same seed; safeconv's
through patch_model, strategy "gpu"), then R rounds of --steps steps of each impl, one step of
each in turn (the order rotating every step), each step under its impl's cuDNN flags. The ratio
is of the medians over all rounds, and each round's own ratio is printed too, with their median
(round_ratios): a host whose speed drifts between processes or over seconds moves both sides
alike (the default, one impl after another, measures each impl in its own stretch of time).
Where the step times jump between levels (both sides together: AMP fp16's host work), the two
pooled medians can fall on different levels and the pooled ratio then misleads; the rounds'
median is the paired figure. Impls: safeconv, cudnn,
cudnn_determ, torch_nocudnn (the batch-norm variants need enable()'s process-wide switch).

usage: python3 bench/train_step.py [--models resnet50,...] [--precisions fp32,tf32,...]
       [--impls safeconv,cudnn,...] [--batch 64] [--size 224] [--steps 20] [--warmup 5]
       [--nchw] [--graph | --paired ROUNDS [--host-time]] [--json OUT]

--host-time (with --paired) also times, per impl, how long the host takes to queue one step
while a spin kernel holds the GPU (host_times): the host's own work a step, to set beside the
step's GPU time (--graph); an eager step whose host time nears its GPU time is host-bound.
The cost of batch norm on PyTorch's kernels (issue 19; docs/pytorch.md):
    python3 bench/train_step.py --models resnet50 --batch 64 --precisions fp32,amp_bf16 \
        --impls safeconv_bnvendor,safeconv_bnpt,cudnn
"""
import argparse
import contextlib
import json
import os
import platform
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import safeconv  # noqa: E402


def make_model(name):
    if name == "yolo":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "examples"))
        from train import YoloBackbone
        return YoloBackbone(1000)
    import torchvision.models as tvm
    return getattr(tvm, name)(num_classes=1000)


def host_info():
    """What the eager steps' host side depends on: the CPU (model and count) and whether
    safeconv's calls run through its C++ layer (its operators are built per machine; without
    them the Python layer serves, slower). Eager ratios moved by a third between machines of
    one kind (bench/NOTES.md), so each result names them."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    on, why = safeconv.functional.cpp_layer_status()
    return {"cpu": cpu or platform.processor() or "unknown", "cpus": os.cpu_count(),
            "cpp_layer": bool(on), "cpp_layer_off_why": None if on else str(why)}


def host_line(info):
    """host_info() as one line of the report."""
    layer = ("C++ layer on" if info["cpp_layer"]
             else "C++ layer OFF (%s)" % info["cpp_layer_off_why"])
    return "host: %s x %s | %s" % (info["cpu"], info["cpus"], layer)


PRECISIONS = ("fp32", "tf32", "amp_bf16", "amp_fp16")
AMP_DTYPES = {"amp_bf16": torch.bfloat16, "amp_fp16": torch.float16}


def forward_loss(model, x, y, precision, cache=True):
    """The loss of `model` on (x, y), under autocast for the AMP precisions (cache: autocast's
    cache of cast weights, which a CUDA graph capture must do without)."""
    amp = AMP_DTYPES.get(precision)
    ctx = (torch.autocast(x.device.type, dtype=amp, cache_enabled=cache) if amp is not None
           else contextlib.nullcontext())
    with ctx:
        return F.cross_entropy(model(x), y)


def make_step(model, opt, x, y, precision):
    """One training step of `model` on (x, y) under `precision` (PRECISIONS: autocast for the
    AMP ones, with a GradScaler for fp16; TF32 is the caller's backend flags), as a function
    returning the loss. bench/profile_step.py profiles the same step."""
    scaler = torch.amp.GradScaler(x.device.type) if precision == "amp_fp16" else None

    def step():
        opt.zero_grad(set_to_none=True)
        loss = forward_loss(model, x, y, precision)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        return loss
    return step


def make_graph_step(model, opt, x, y, precision):
    """The step of make_step captured once in a CUDA graph (PyTorch's whole-network recipe:
    warm-up on a side stream, gradients set to None before the capture, autocast without its
    weight cache) and returned as a function that replays it: the step without the host's
    per-operator work, i.e. its GPU time. Call it with safeconv already enabled (or not).
    amp_fp16 cannot be captured: GradScaler reads its found-inf flag on the host."""
    if precision == "amp_fp16":
        raise RuntimeError("--graph: amp_fp16's GradScaler synchronizes with the host")

    def body():
        loss = forward_loss(model, x, y, precision, cache=False)
        loss.backward()
        opt.step()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            body()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = body()

    def step():
        graph.replay()
        return static_loss
    return step


# impl -> safeconv.enable() options (None: PyTorch's convolution, no safeconv)
IMPLS = {
    "safeconv": {"strategy": "gpu"},
    "safeconv_bnpt": {"strategy": "gpu", "bypass_other_ops": True},
    "safeconv_bnvendor": {"strategy": "gpu", "bypass_other_ops": False},
    "cudnn": None,
    "cudnn_determ": None,
    "torch_nocudnn": None,
}


def set_flags(impl, precision):
    """PyTorch's backend flags for `impl` under `precision` (run() and run_paired() alike)."""
    torch.backends.cudnn.benchmark = impl == "cudnn"
    torch.backends.cudnn.deterministic = impl == "cudnn_determ"
    torch.backends.cudnn.enabled = impl != "torch_nocudnn"
    tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def make_setup(model_name, args, device="cuda"):
    """(model, optimizer, x, y) of a timed run: the model from seed 0, in the layout args asks
    for, and a random batch (run() and run_paired() alike)."""
    torch.manual_seed(0)
    mf = torch.contiguous_format if args.nchw else torch.channels_last
    model = make_model(model_name).to(device).to(memory_format=mf)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).contiguous(memory_format=mf)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    return model, opt, x, y


def median(v):
    """The upper median of the step times v (a list, left as it is)."""
    return sorted(v)[len(v) // 2]


def round_ratios(res, mine="safeconv", ref="cudnn"):
    """--paired: (each round's throughput ratio mine/ref, their upper median), from run_paired's
    per-round median step times ("round_ms"); None where either impl has none."""
    a, b = res.get(mine, {}).get("round_ms"), res.get(ref, {}).get("round_ms")
    if not a or not b:
        return None
    ratios = [r / m for m, r in zip(a, b)]
    return ratios, median(ratios)


def result_line(model_name, precision, impls, res, args):
    """(the report's line for one model and precision, round_ratios(res) or None): each impl's
    images/s (or its error), safeconv's ratios to the references, with --paired the rounds'
    ratios and their median, with --host-time each impl's host ms a step."""
    line = "%-20s %-9s" % (model_name, precision)
    for impl in impls:
        r = res[impl]
        line += "  %s %s" % (impl, "%.1f img/s" % r["images_per_s"] if "images_per_s" in r
                             else "ERROR " + r["error"])
    for mine, refs in (("safeconv", ("cudnn", "cudnn_determ", "torch_nocudnn")),
                       ("safeconv_bnpt", ("safeconv_bnvendor",))):
        if "images_per_s" not in res.get(mine, {}):
            continue
        for ref in refs:
            if "images_per_s" in res.get(ref, {}):
                line += "  %s/%s %.3fx" % (
                    mine, ref, res[mine]["images_per_s"] / res[ref]["images_per_s"])
    rr = round_ratios(res) if args.paired else None
    if rr is not None:
        line += "  rounds safeconv/cudnn %s (median %.3f)" % (
            " ".join("%.3f" % v for v in rr[0]), rr[1])
    if args.host_time:
        line += "  host ms a step " + " ".join(
            "%s %s" % (i, "-" if res[i].get("host_ms") is None else "%.2f" % res[i]["host_ms"])
            for i in impls if i in res)
    return line, rr


def run(model_name, precision, impl, args):
    set_flags(impl, precision)
    model, opt, x, y = make_setup(model_name, args)
    step = make_step(model, opt, x, y, precision)
    opts = IMPLS[impl]
    handle = safeconv.enable(**opts) if opts is not None else None
    bn_on_cudnn = torch.backends.cudnn.enabled  # False while bypass_other_ops is in force
    try:
        if args.graph:
            step = make_graph_step(model, opt, x, y, precision)
        times = []
        for i in range(args.warmup + args.steps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            loss = step()
            torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
        report = safeconv.report(model) if handle is not None and args.report else None
    finally:
        if handle is not None:
            safeconv.disable()
        torch.backends.cudnn.enabled = True
    med = median(times)
    del model, opt, x, y
    torch.cuda.empty_cache()
    return {"images_per_s": args.batch / med, "ms": 1000 * med, "loss": float(loss.detach()),
            "bn_on_cudnn": bn_on_cudnn, "report": report}


PAIRED_IMPLS = ("safeconv", "cudnn", "cudnn_determ", "torch_nocudnn")


def run_paired(model_name, precision, impls, args, device="cuda"):
    """The impls timed side by side in one process (--paired: the module docstring): returns
    {impl: run()'s fields} plus, per impl, "round_ms" (each round's median step time)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    steps, models = {}, []
    for impl in impls:
        model, opt, x, y = make_setup(model_name, args, device)
        if impl == "safeconv":
            safeconv.patch_model(model, strategy="gpu" if device == "cuda" else "auto")
        steps[impl] = make_step(model, opt, x, y, precision)
        models.append(model)
    times = {impl: [] for impl in impls}
    rounds = {impl: [] for impl in impls}
    loss = {}
    try:
        for impl in impls:  # warm-up: first calls, plans, cuDNN's benchmark searches
            set_flags(impl, precision)
            for _ in range(args.warmup):
                steps[impl]()
        for r in range(args.paired):
            block = {impl: [] for impl in impls}
            for i in range(args.steps):  # one step of each impl in turn, the order rotating
                k = (r * args.steps + i) % len(impls)
                for impl in impls[k:] + impls[:k]:
                    set_flags(impl, precision)
                    sync()
                    t0 = time.perf_counter()
                    loss[impl] = steps[impl]()
                    sync()
                    block[impl].append(time.perf_counter() - t0)
            for impl in impls:
                times[impl] += block[impl]
                rounds[impl].append(1000 * median(block[impl]))
        host = host_times(steps, impls, precision, args) if args.host_time else {}
    finally:
        torch.backends.cudnn.enabled = True
    out = {}
    for impl in impls:
        med = median(times[impl])
        out[impl] = {"images_per_s": args.batch / med, "ms": 1000 * med,
                     "loss": float(loss[impl].detach()), "round_ms": rounds[impl]}
        if impl in host:
            out[impl]["host_ms"] = host[impl]
    del models, steps
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


# --host-time: the GPU is held this long by a spin kernel while the host queues one step
HOST_HOLD_S = 0.25


def host_times(steps, impls, precision, args):
    """--host-time: {impl: median host ms a step}, the time the host takes to queue one step
    while the GPU is held by a spin kernel (torch.cuda._sleep) longer than the step's host
    work, so that the host never waits for the GPU: the host's per-operator work alone. An eager
    step whose host time nears its GPU time (--graph) is bound by the host in part of it. A step
    that waits for the GPU (amp_fp16's GradScaler reads its flag on the host) or a launch queue
    that fills up would read as the hold's length: such impls get None."""
    if precision == "amp_fp16":
        return {impl: None for impl in impls}
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    torch.cuda._sleep(10000000)
    torch.cuda.synchronize()
    cycles = int(10000000 * HOST_HOLD_S / max(time.perf_counter() - t0, 1e-6))
    out = {}
    for impl in impls:
        set_flags(impl, precision)
        v = []
        for _ in range(args.steps):
            torch.cuda.synchronize()
            torch.cuda._sleep(cycles)
            t0 = time.perf_counter()
            steps[impl]()
            v.append(time.perf_counter() - t0)
            torch.cuda.synchronize()
        med = median(v)
        out[impl] = 1000 * med if med < 0.8 * HOST_HOLD_S else None
    return out


def parse_args(argv=None):
    """The command line, checked (no GPU needed: the tests run it on the CPU)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50")
    ap.add_argument("--precisions", default="fp32,tf32,amp_bf16,amp_fp16")
    ap.add_argument("--impls", default="safeconv,cudnn")
    ap.add_argument("--determ", action="store_true", help="also cuDNN deterministic (fp32 only)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--nchw", action="store_true")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--graph", action="store_true",
                    help="time CUDA-graph replays of the step (its GPU time, no host work)")
    ap.add_argument("--paired", type=int, default=0, metavar="ROUNDS",
                    help="time the impls side by side in one process, ROUNDS rounds of --steps")
    ap.add_argument("--host-time", action="store_true",
                    help="with --paired: also the host's time to queue a step (host_times)")
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.warmup < 0:
        ap.error("--steps must be at least 1 and --warmup not negative (the medians need steps)")
    if a.paired < 0:
        ap.error("--paired: ROUNDS must be positive")
    if a.paired and a.graph:
        ap.error("--paired times eager steps: not with --graph")
    if a.host_time and not a.paired:
        ap.error("--host-time: with --paired")
    if a.paired:
        bad = [v for v in a.impls.split(",") if v not in PAIRED_IMPLS]
        if bad:
            ap.error("--paired: impls %s need enable() (paired: %s)"
                     % (", ".join(bad), ", ".join(PAIRED_IMPLS)))
    for name, valid in (("precisions", PRECISIONS), ("impls", tuple(IMPLS))):
        bad = [v for v in getattr(a, name).split(",") if v not in valid]
        if bad:
            ap.error("--%s: unknown %s (valid: %s)" % (name, ", ".join(bad), ", ".join(valid)))
    return a


def main(argv=None):
    a = parse_args(argv)
    print("device:", torch.cuda.get_device_name(), "| torch", torch.__version__, "| cudnn",
          torch.backends.cudnn.version(), "| batch", a.batch, "| size", a.size,
          "| layout", "nchw" if a.nchw else "channels_last", "| CUDA graph" if a.graph else "",
          "| paired, %d rounds of %d steps" % (a.paired, a.steps) if a.paired else "")
    host = host_info()
    print(host_line(host))
    out = []
    for m in a.models.split(","):
        for p in a.precisions.split(","):
            impls = a.impls.split(",") + (["cudnn_determ"] if a.determ and p == "fp32" else [])
            res = {}
            if a.paired:
                try:
                    res = run_paired(m, p, impls, a)
                except Exception as e:  # a setting that cannot run is reported, not fatal
                    res = {impl: {"error": str(e)[:200]} for impl in impls}
            for impl in impls if not a.paired else ():
                try:
                    res[impl] = run(m, p, impl, a)
                except Exception as e:
                    res[impl] = {"error": str(e)[:200]}
            line, rr = result_line(m, p, impls, res, a)
            print(line, flush=True)
            out.append({"model": m, "precision": p, "results": res, "host": host,
                        "round_ratio_median": None if rr is None else rr[1]})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
