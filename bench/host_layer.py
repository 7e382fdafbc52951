#!/usr/bin/env python3
"""host_layer.py - the host time of one convolution layer's training step (forward and
backward) through safeconv's PyTorch layer against PyTorch's own convolution.

A chain of --layers small convolutions (batch 1, --channels channels, --size x --size, 3x3,
padding 1, no bias) is so little GPU work that a step's wall time is the host's: what each
library spends per layer before the GPU sees anything. Steps are timed in blocks of --steps
with one synchronisation at the end of each block; the best block counts (a report, never an
assertion). bench/host_cost.c measures the C library's own share the same way.

--profile prints cProfile's heaviest functions over the safeconv steps (where the Python
layer's time goes). Runs on the CPU when there is no GPU (safeconv's CPU backend then: its
time includes the tiny convolutions themselves).

usage: python3 bench/host_layer.py [--layers 16] [--channels 64] [--size 8] [--steps 200]
       [--blocks 5] [--dtype fp32|bf16|fp16] [--nchw] [--profile N]
"""
import argparse
import cProfile
import os
import pstats
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


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    ap.add_argument("--nchw", action="store_true")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="print cProfile's N heaviest functions of the safeconv steps")
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
    torch_s = time_steps(step, dev, a.steps, a.blocks)
    with safeconv.enable(strategy="gpu" if dev.type == "cuda" else "cpu"):
        sc_s = time_steps(step, dev, a.steps, a.blocks)
        if a.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(a.steps):
                step()
            sync(dev)
            prof.disable()
    per = 1e6 / a.layers
    print("host_layer: %s, %s, %d layers of %dx%dx%d, batch 1: per layer and step (fwd+bwd): "
          "PyTorch %.1f us, safeconv %.1f us (%.2fx)"
          % (dev.type, a.dtype, a.layers, a.channels, a.size, a.size, torch_s * per,
             sc_s * per, sc_s / torch_s))
    if a.profile:
        pstats.Stats(prof).sort_stats("tottime").print_stats(a.profile)


if __name__ == "__main__":
    main()
