#!/usr/bin/env python3
"""Data-parallel training with safeconv: DistributedDataParallel on one machine.

    torchrun --nproc_per_node 2 examples/ddp_train.py                            # gloo, CPU
    torchrun --nproc_per_node 2 examples/ddp_train.py --backend nccl --device cuda
    python3 examples/ddp_train.py                    # one process: the reference run alone

A small CNN (convolutions with stride, groups, depthwise, 1x1 and a transposed convolution,
GroupNorm: no BatchNorm, whose per-rank statistics a single process cannot reproduce) trains
with its convolutions through safeconv (patch_model, or --enable for safeconv.enable()). Every
rank builds the same global batch from a fixed seed and trains on its slice; DDP averages the
gradients, which is the gradient of the mean loss over the global batch. Rank 0 then repeats
the steps in one process on the whole global batch and prints both final losses, their
relative difference and the tolerance: the exit status is 1 when they differ by more, or when
PyTorch warned "Grad strides do not match bucket view strides" (a weight gradient whose
strides differ from its weight's: DDP then copies every gradient). --channels-last runs model
and data in channels_last; --channels-last-input feeds channels_last data to a contiguous
model, where the 1x1 weights' gradients are the easy ones to get wrong (several strides
describe the same dense layout, and DDP compares strides exactly).

The last line rank 0 prints is JSON (final losses, difference, tolerance, ok) for scripts.
"""
import argparse
import json
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "python"))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import safeconv  # noqa: E402

STRIDE_WARNING = "Grad strides do not match bucket view strides"


def make_model(classes):
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.ReLU(),    # depthwise
        nn.Conv2d(32, 16, 1), nn.ReLU(),                           # 1x1
        nn.ConvTranspose2d(16, 8, 2, stride=2), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, classes))


def global_batch(step, args, device):
    """The same global batch on every rank: images whose class sets a pattern, plus noise."""
    g = torch.Generator().manual_seed(1000 + step)
    labels = torch.randint(0, args.classes, (args.batch,), generator=g)
    templates = torch.randn(args.classes, 3, args.size, args.size,
                            generator=torch.Generator().manual_seed(7))
    x = templates[labels] + 0.8 * torch.randn(args.batch, 3, args.size, args.size, generator=g)
    x = x.to(device)
    if args.channels_last or args.channels_last_input:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, labels.to(device)


def build(args, device):
    torch.manual_seed(args.seed)
    model = make_model(args.classes).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if not args.enable:
        safeconv.patch_model(model, strategy=args.strategy)
    return model


def train(model, args, device, rank=0, world=1):
    """args.steps SGD steps; returns the global mean loss of each step."""
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    per_rank = args.batch // world
    losses = []
    for step in range(args.steps):
        x, y = global_batch(step, args, device)
        x, y = x[rank * per_rank:(rank + 1) * per_rank], y[rank * per_rank:(rank + 1) * per_rank]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        mean = loss.detach().clone()
        if world > 1:  # equal slices: the global mean is the mean of the ranks' means
            dist.all_reduce(mean)
            mean /= world
        losses.append(mean.item())
    return losses


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="gloo", help="gloo (CPU) or nccl (CUDA)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--strategy", default=None,
                   help="safeconv strategy (default: cpu on the CPU, gpu on CUDA)")
    p.add_argument("--enable", action="store_true",
                   help="safeconv.enable() instead of patch_model (stock layer classes)")
    p.add_argument("--channels-last", action="store_true",
                   help="model and data in channels_last memory format")
    p.add_argument("--channels-last-input", action="store_true",
                   help="only the data in channels_last (a contiguous model fed channels_last "
                        "images: weight layouts differ from the layout the convolutions run in)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=16, help="global batch (split over ranks)")
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest relative difference of the final losses (float32 sums in "
                        "another order: about 1e-6 is typical)")
    args = p.parse_args(argv)
    if args.strategy is None:
        args.strategy = "gpu" if args.device == "cuda" else "cpu"
    return args


def main(argv=None):
    args = parse(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if args.batch % world:
        print("--batch %d is not divisible by %d processes" % (args.batch, world))
        return 2
    # CUDA: one GPU per process; more processes than GPUs share them (gloo only: NCCL refuses
    # two ranks on one GPU)
    device = (torch.device("cuda", local % torch.cuda.device_count()) if args.device == "cuda"
              else torch.device("cpu"))
    if args.device == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.allow_tf32 = False  # exact fp32, as the tolerance assumes
        torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(1)
    if args.enable:
        safeconv.enable(strategy=args.strategy)
    ok = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if world > 1:
            dist.init_process_group(args.backend)
            model = build(args, device)
            ddp = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if args.device == "cuda" else None)
            losses = train(ddp, args, device, rank, world)
        else:
            losses = None
        if rank == 0:
            ref = train(build(args, device), args, device)
    stride_warnings = [str(w.message) for w in caught if STRIDE_WARNING in str(w.message)]
    if stride_warnings:
        print("rank %d: %s" % (rank, stride_warnings[0]), file=sys.stderr)
        ok = False
    if world > 1:
        flag = torch.tensor([0 if ok else 1], device=device if args.backend == "nccl" else "cpu")
        dist.all_reduce(flag)
        ok = flag.item() == 0
    if rank == 0:
        final = losses[-1] if losses is not None else ref[-1]
        diff = abs(final - ref[-1]) / abs(ref[-1])
        print("loss every 5 steps (%s): %s" % ("ddp x%d" % world if losses else "single",
                                               " ".join("%.5f" % v for v in
                                                        (losses or ref)[::5])))
        print("final loss: %d processes %.7f, one process %.7f; relative difference %.2e "
              "(tolerance %.0e); grad-stride warnings: %d"
              % (world, final, ref[-1], diff, args.tolerance, len(stride_warnings)))
        if diff > args.tolerance:
            ok = False
        print(json.dumps({"world": world, "final_loss": final, "single_loss": ref[-1],
                          "relative_difference": diff, "tolerance": args.tolerance,
                          "stride_warnings": len(stride_warnings), "ok": bool(ok)}))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
