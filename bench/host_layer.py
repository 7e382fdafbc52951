#!/usr/bin/env python3
"""host_layer.py - the host time of one convolution layer's training step (forward and
backward) through safeconv's PyTorch layer against PyTorch's own convolution.

A chain of --layers small convolutions (batch 1, --channels channels, --size x --size, 3x3,
padding 1, no bias) is so little GPU work that a step's wall time is the host's: what each
library spends per layer before the GPU sees anything. Steps are timed in blocks of --steps
with one synchronisation at the end of each block, the modes' blocks in turn (--blocks rounds);
the best block counts, with the median and the process's CPU time beside it (a report, never
an assertion). bench/host_cost.c measures the C library's own share the same way.

--profile prints cProfile's heaviest functions over the safeconv steps (where the Python
layer's time goes). --breakdown times the safeconv step twice more with parts of the call
replaced by stubs that return at once (the outputs are then garbage; only the host time
counts): the library's convolution functions, the one-call backward among them (what is left
is the Python layer and its other library calls), then the whole of functional._call_lib and
_call_lib_backward (what is left is the Python layer around the calls: autocast, checks,
outputs, autograd). Runs on the CPU when there is no GPU (safeconv's CPU backend then: its
time includes the tiny convolutions themselves).

--cpp-layer adds a third mode, safeconv's C++ layer (docs/pytorch.md, "The C++ layer"; built by
`make layer-ops`), timed in the same rounds as PyTorch and the Python layer, whatever
SAFECONV_CPP_LAYER says: the two layers compared in one process, on one host's moment.

usage: python3 bench/host_layer.py [--layers 16] [--channels 64] [--size 8] [--steps 200]
       [--blocks 5] [--dtype fp32|bf16|fp16] [--nchw] [--separate-backward] [--breakdown]
       [--profile N] [--cpp-layer]
"""
import argparse
import contextlib
import cProfile
import os
import pstats
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import safeconv  # noqa: E402

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def make_chain(n, c):
    return torch.nn.Sequential(*[torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
                                 for _ in range(n)])


def make_step(model, x, dtype):
    dev = x.device.type

    def step():
        if dtype is None:
            y = model(x)
        else:
            with torch.autocast(dev, dtype=dtype):
                y = model(x)
        y.float().sum().backward()
    return step


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_steps(step, dev, steps, blocks):
    """Best of `blocks` blocks of `steps` steps: seconds per step."""
    for _ in range(10):
        step()
    sync(dev)
    best = None
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync(dev)
        t = (time.perf_counter() - t0) / steps
        best = t if best is None else min(best, t)
    return best


def time_modes(modes, step, dev, steps, blocks):
    """Blocks of `steps` steps of each mode in turn (modes: {name: context manager factory}),
    `blocks` rounds: {name: (best wall s/step, median wall s/step, median CPU s/step)}. The
    rounds interleave the modes so that a slow spell of the host hits them alike; CPU time is
    the process's (every thread: the autograd engine runs the backward on its own)."""
    walls = {m: [] for m in modes}
    cpus = {m: [] for m in modes}
    for m, ctx in modes.items():
        with ctx():
            for _ in range(10):
                step()
            sync(dev)
    for _ in range(blocks):
        for m, ctx in modes.items():
            with ctx():
                sync(dev)
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(steps):
                    step()
                sync(dev)
                walls[m].append((time.perf_counter() - t0) / steps)
                cpus[m].append((time.process_time() - c0) / steps)
    return {m: (min(walls[m]), statistics.median(walls[m]), statistics.median(cpus[m]))
            for m in modes}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--nchw", action="store_true")
    ap.add_argument("--separate-backward", action="store_true",
                    help="also time safeconv with each backward direction a library call of its "
                    "own (the one-call backward switched off), interleaved")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time the step with the library calls stubbed out")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="print cProfile's N heaviest functions of the safeconv steps")
    ap.add_argument("--cpp-layer", action="store_true",
                    help="also time safeconv's C++ layer (and the Python layer without it)")
    a = ap.parse_args(argv)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = make_chain(a.layers, a.channels).to(dev)
    x = torch.randn(1, a.channels, a.size, a.size, device=dev, requires_grad=True)
    if not a.nchw:
        model = model.to(memory_format=torch.channels_last)
        x = x.detach().to(memory_format=torch.channels_last).requires_grad_()
    dtype = DTYPES[a.dtype]
    step = make_step(model, x, dtype)
    strategy = "gpu" if dev.type == "cuda" else "cpu"
    modes = {"PyTorch": contextlib.nullcontext,
             "safeconv": lambda: safeconv.enable(strategy=strategy)}
    if a.cpp_layer:
        ops = load_cpp_layer()
        modes["safeconv"] = lambda: layer_impl(strategy, False)
        modes[CPP_MODE] = lambda: layer_impl(strategy, ops)
    if a.separate_backward:
        modes["safeconv, backward per direction"] = lambda: separate_backward(strategy)
    got = time_modes(modes, step, dev, a.steps, a.blocks)
    torch_s, sc_s = got["PyTorch"][0], got["safeconv"][0]
    if a.profile:
        with safeconv.enable(strategy=strategy):
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(a.steps):
                step()
            sync(dev)
            prof.disable()
    per = 1e6 / a.layers
    if a.breakdown:
        parts = breakdown(step, dev, a)
    cpp = ("" if not a.cpp_layer else ", C++ layer %.1f us (%.2fx)"
           % (got[CPP_MODE][0] * per, got[CPP_MODE][0] / torch_s))
    print("host_layer: %s, %s, %d layers of %dx%dx%d, batch 1: per layer and step (fwd+bwd): "
          "PyTorch %.1f us, safeconv %.1f us (%.2fx)%s"
          % (dev.type, a.dtype, a.layers, a.channels, a.size, a.size, torch_s * per,
             sc_s * per, sc_s / torch_s, cpp))
    for m, (best, med, cpu) in got.items():
        print("  %-34s best %7.1f us, median %7.1f us, CPU time (median) %7.1f us"
              % (m, best * per, med * per, cpu * per))
    if a.breakdown:
        print("  stubbed: convolution functions %.1f us (the C calls cost %.1f), "
              "_call_lib(_backward) %.1f us (the Python around and beside the C calls %.1f)"
              % (parts[0] * per, (sc_s - parts[0]) * per, parts[1] * per,
                 (parts[0] - parts[1]) * per))
    if a.profile:
        pstats.Stats(prof).sort_stats("tottime").print_stats(a.profile)


CPP_MODE = "safeconv, C++ layer"


def load_cpp_layer():
    """The C++ layer's operators, loaded whatever SAFECONV_CPP_LAYER says; exits saying why
    when there are none."""
    from safeconv import functional as F
    saved = F._cpp, F._cpp_why
    if F._cpp is None or F._cpp is False:
        F._load_cpp_layer(force=True)
    ops, why = F._cpp, F._cpp_why
    F._cpp, F._cpp_why = saved  # the process's own setting stays as it was
    if ops is False:
        sys.exit("host_layer.py --cpp-layer: no C++ layer: %s" % why)
    return ops


@contextlib.contextmanager
def layer_impl(strategy, ops):
    """safeconv enabled with its repeated conv2d calls on the C++ layer (ops) or, with ops
    False, on the Python layer alone."""
    from safeconv import functional as F
    saved = F._cpp
    F._cpp = ops
    try:
        with safeconv.enable(strategy=strategy):
            yield
    finally:
        F._cpp = saved


@contextlib.contextmanager
def separate_backward(strategy):
    """safeconv enabled, with the one-call backward switched off."""
    from safeconv import functional as F
    real = F._one_call_backward
    F._one_call_backward = lambda *args: False
    try:
        with safeconv.enable(strategy=strategy):
            yield
    finally:
        F._one_call_backward = real


def breakdown(step, dev, a):
    """Seconds per step with (1) the library's convolution entry points and (2) the Python
    layer's _call_lib and _call_lib_backward replaced by stubs that return at once (host time
    only)."""
    from safeconv import functional as F
    from safeconv import _lib as L
    lib = L.load_library()
    # every entry point the layer calls: the per-direction ones and the one-call backward
    names = [n for n in vars(F).get("_FN_NAMES", {}).values()] + ["sc_conv2d_backward"]
    saved = {n: getattr(lib, n) for n in names}
    out = []
    with safeconv.enable(strategy="gpu" if dev.type == "cuda" else "cpu"):
        try:
            for n in names:
                setattr(lib, n, lambda *args: 0)
            out.append(time_steps(step, dev, a.steps, a.blocks))
        finally:
            for n, f in saved.items():
                setattr(lib, n, f)
        real, real_bw = F._call_lib, F._call_lib_backward
        try:
            F._call_lib = F._call_lib_backward = lambda *args: None
            out.append(time_steps(step, dev, a.steps, a.blocks))
        finally:
            F._call_lib, F._call_lib_backward = real, real_bw
    return out


if __name__ == "__main__":
    main()
