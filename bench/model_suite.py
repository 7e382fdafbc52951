#!/usr/bin/env python3
"""model_suite.py - a model's convolutions as a bench suite (the format of bench/suites/*.csv).

Runs one forward pass of the model on the CPU (random init, no gradients) with a hook on every
nn.Conv2d, and prints each distinct convolution shape once, in order of first use; a shape used
by N layers gets the name suffix _xN, so bench/compare.py prints the N-weighted total (one
training step's convolutions). Names: <prefix>_<index>_<kind>, kind one of conv, 1x1, dw
(depthwise), g<groups> (other grouped), s<stride> appended when strided.

--model: a torchvision model name, or yolo (examples/train.py's YOLO-style backbone).

usage: python3 bench/model_suite.py --model mobilenet_v3_large --batch 64 [--size 224]
       [--prefix mnv3] > bench/suites/mobilenet_v3_large_b64.csv
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import make_model  # noqa: E402

FIELDS = "n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups"


def shapes(model, batch, size):
    """The (n, c, h, w, k, r, s, stride, pad, dilation, groups) tuple of each nn.Conv2d call
    of one forward pass, in call order."""
    seen = []

    def hook(mod, inp, out):
        x = inp[0]
        if not isinstance(mod.padding, tuple):
            raise SystemExit(f"padding {mod.padding!r} of {mod} is not numeric")
        seen.append((x.shape[0], x.shape[1], x.shape[2], x.shape[3], mod.out_channels,
                     *mod.kernel_size, *mod.stride, *mod.padding, *mod.dilation, mod.groups))

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.randn(batch, 3, size, size))
    for h in hs:
        h.remove()
    return seen


def kind(t):
    c, k, r, s, sh, g = t[1], t[4], t[5], t[6], t[7], t[13]
    name = "1x1" if (r, s) == (1, 1) and g == 1 else "conv"
    if g > 1:
        name = "dw" if g == c == k else f"g{g}"
    return name + (f"{r}" if name == "dw" else "") + (f"s{sh}" if sh > 1 else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--prefix", default=None)
    a = ap.parse_args()
    torch.manual_seed(0)
    calls = shapes(make_model(a.model), a.batch, a.size)
    count = {}
    for t in calls:
        count[t] = count.get(t, 0) + 1
    prefix = a.prefix or a.model
    print(f"# name,{FIELDS}")
    print(f"# {a.model} at batch {a.batch}, {a.size}x{a.size}: every distinct conv shape once "
          f"(bench/model_suite.py); _xN = N layers of that shape; {len(calls)} layers in all.")
    for i, t in enumerate(count):
        n = count[t]
        name = f"{prefix}_{i:02d}_{kind(t)}" + (f"_x{n}" if n > 1 else "")
        print(name + "," + ",".join(str(v) for v in t))


if __name__ == "__main__":
    main()
