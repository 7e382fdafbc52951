#!/usr/bin/env python3
"""Train with safeconv or with the vendor library, and compare.

Models: torchvision's ResNet-18 (random init, nothing downloaded; the same architecture is
defined here when torchvision is missing) and a small YOLO-style
backbone (Conv-BN-SiLU, CSP blocks, SPPF) with a classification head. Data: a fixed-seed
synthetic image set (class templates under noise, with 30% of the labels shuffled so that
the loss plateaus well above zero), or scikit-learn's digits.

    # one run
    python3 examples/train.py --mode safeconv          # safeconv.enable(strategy="gpu")
    python3 examples/train.py --mode cudnn             # PyTorch with cuDNN (fp32, TF32 off)
    # safeconv against cuDNN and PyTorch's own convolution: early agreement (the first
    # steps, bounds from the dtype's unit roundoff) and statistical agreement (5 seeds each);
    # PASS/FAIL per model, exit 1 on a FAIL (examples/compare_training.py, docs/pytorch.md)
    python3 examples/train.py --compare                # exact fp32
    python3 examples/train.py --compare --amp bf16     # AMP bf16
    # ResNet-18 training-step throughput, batch 64, 224x224, fp32:
    # safeconv vs cuDNN (target >= 0.8x) and vs PyTorch with cuDNN off (target >= 1.5x)
    python3 examples/train.py --benchmark
    # batch norm on PyTorch's kernels (bypass_other_ops=True) vs on cuDNN/MIOpen, both with
    # safeconv's convolutions (issue 19): --compare's statistical check, 5 seeds each, paired
    # per seed with the vendor's batch norm, the band from PyTorch's cuDNN path; PASS/FAIL
    # per model, exit 1 on a FAIL
    python3 examples/train.py --compare-bn

The library is found through $SAFECONV_LIBRARY, next to the package, or in <repo>/build; the
package itself is taken from <repo>/python when it is not installed. Without a GPU everything
runs on the CPU (slowly: use --steps 5 --size 32 --model yolo to try it).
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "python"))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import safeconv  # noqa: E402

import compare_training  # noqa: E402


# --- models -------------------------------------------------------------------------------------
class _BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def _resnet18_plain(num_classes):
    """ResNet-18 with torchvision's layer shapes, for machines without torchvision."""
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(512, num_classes))


def resnet18(num_classes):
    """torchvision's ResNet-18, random init (nothing downloaded); the same architecture
    defined here when torchvision is not installed."""
    try:
        import torchvision
    except ImportError:
        return _resnet18_plain(num_classes)
    try:
        return torchvision.models.resnet18(weights=None, num_classes=num_classes)
    except TypeError:  # torchvision before 0.13
        return torchvision.models.resnet18(pretrained=False, num_classes=num_classes)


def conv_bn_act(cin, cout, k=3, s=1, g=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=False),
                         nn.BatchNorm2d(cout), nn.SiLU())


class Bottleneck(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b = conv_bn_act(c, c, 1), conv_bn_act(c, c, 3)

    def forward(self, x):
        return x + self.b(self.a(x))


class CSP(nn.Module):
    """Cross-stage partial block (YOLOv5's C3): split, n bottlenecks on one half, concat."""

    def __init__(self, c, n=1):
        super().__init__()
        h = c // 2
        self.left, self.right = conv_bn_act(c, h, 1), conv_bn_act(c, h, 1)
        self.blocks = nn.Sequential(*[Bottleneck(h) for _ in range(n)])
        self.out = conv_bn_act(2 * h, c, 1)

    def forward(self, x):
        return self.out(torch.cat([self.blocks(self.left(x)), self.right(x)], 1))


class SPPF(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b = conv_bn_act(c, c // 2, 1), conv_bn_act(2 * c, c, 1)

    def forward(self, x):
        x = self.a(x)
        y1 = F.max_pool2d(x, 5, 1, 2)
        y2 = F.max_pool2d(y1, 5, 1, 2)
        return self.b(torch.cat([x, y1, y2, F.max_pool2d(y2, 5, 1, 2)], 1))


class YoloBackbone(nn.Module):
    """A small YOLO-style backbone (strides 2-32) with a 1x1 detection-style head pooled into
    class logits."""

    def __init__(self, num_classes, w=16):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_act(3, w, 6, 2),                # the stem (YOLOv5's 6x6 stride 2)
            conv_bn_act(w, 2 * w, 3, 2), CSP(2 * w, 1),
            conv_bn_act(2 * w, 4 * w, 3, 2), CSP(4 * w, 2),
            conv_bn_act(4 * w, 8 * w, 3, 2), CSP(8 * w, 1),
            conv_bn_act(8 * w, 8 * w, 3, 2), SPPF(8 * w))
        self.head = nn.Conv2d(8 * w, num_classes, 1)

    def forward(self, x):
        return self.head(self.features(x)).mean((2, 3))


MODELS = {"resnet18": resnet18, "yolo": YoloBackbone}


# --- data -------------------------------------------------------------------------------------
def make_dataset(n, size, classes, seed, sample_seed=None, label_noise=0.3):
    """Fixed-seed images: a smooth random template per class (from `seed`) plus noise (from
    `sample_seed`, default `seed`); a share `label_noise` of the labels replaced at random, so
    that the achievable loss stays well above zero. A held-out set takes the same seed (the
    same classes) and another sample_seed."""
    g = torch.Generator().manual_seed(seed)
    templates = F.interpolate(torch.randn(classes, 3, 8, 8, generator=g), size=(size, size),
                              mode="bilinear", align_corners=False)
    if sample_seed is not None:
        g = torch.Generator().manual_seed(sample_seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    images = 0.5 * templates[labels] + torch.randn(n, 3, size, size, generator=g)
    noisy = torch.rand(n, generator=g) < label_noise
    labels[noisy] = torch.randint(0, classes, (int(noisy.sum()),), generator=g)
    return images, labels


def load_digits_split(size, seed):
    """scikit-learn's bundled handwritten digits (1797 real 8x8 images, 10 classes, nothing
    downloaded), scaled to size x size, 3 channels, standardised; a fixed-seed split of 1497
    training and 300 held-out images."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = ((x - x.mean()) / x.std()).repeat(1, 3, 1, 1)
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + 7))
    x, y = x[perm], y[perm]
    return (x[:1497], y[:1497]), (x[1497:], y[1497:])


# get_data()'s sets, by what they depend on: the statistical checks train 30 runs on the same
# data, and making the synthetic set (4096 images of 64x64) took 3 s per run on a 2-core CPU.
# Nothing writes into them: train() indexes copies out, evaluate() only reads slices.
_DATA_CACHE = {}


def get_data(args, held_out=False):
    """The training set (or the held-out set) for args.data. Fixed by args.seed: the runs of
    other seeds in --compare's statistical check differ in their initial weights and batch
    order, not in their data. The synthetic held-out set has the training set's classes,
    other images, and clean labels. Made once per process (_DATA_CACHE)."""
    if args.data == "digits":
        key = ("digits", args.size, args.seed, held_out)
    else:
        key = ("synthetic", args.held_out if held_out else args.dataset, args.size,
               args.classes, args.seed, held_out)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = _make_data(args, held_out)
    return _DATA_CACHE[key]


def _make_data(args, held_out):
    if args.data == "digits":
        train_set, test_set = load_digits_split(args.size, args.seed)
        return test_set if held_out else train_set
    if held_out:
        return make_dataset(args.held_out, args.size, args.classes, args.seed,
                            sample_seed=args.seed + 100, label_noise=0.0)
    return make_dataset(args.dataset, args.size, args.classes, args.seed)


# --- the deliberately wrong variant (tests only) -----------------------------------------------
class wrong_backward_weight:
    """TEST ONLY: while active, every weight gradient safeconv computes is multiplied by
    `scale` (safeconv.functional._run_backward, a layer's backward without create_graph,
    wrapped in the Python layer; the library is untouched). `--test-wrong-dw-scale 1.01` uses it to show that --compare catches a wrong
    gradient; a scale of 1 (or None) changes nothing."""

    def __init__(self, scale):
        self.scale = scale
        self._orig = None

    def __enter__(self):
        if self.scale is not None and self.scale != 1.0:
            import safeconv.functional as SF
            orig = self._orig = SF._run_backward

            def scaled(*args):
                dx, dw, db = orig(*args)
                return dx, (dw.mul_(self.scale) if dw is not None else None), db

            SF._run_backward = scaled
        return self

    def __exit__(self, *exc):
        if self._orig is not None:
            import safeconv.functional as SF
            SF._run_backward, self._orig = self._orig, None
        return False


# --- running ----------------------------------------------------------------------------------
# Modes that run safeconv.enable(), and their bypass_other_ops (docs/pytorch.md): "safeconv"
# the library's default (batch norm on cuDNN with CUDA builds, on PyTorch's kernels with ROCm
# builds), "safeconv_bnpt" batch norm on PyTorch's kernels, "safeconv_bnvendor" on the vendor's.
SAFECONV_MODES = {"safeconv": None, "safeconv_bnpt": True, "safeconv_bnvendor": False}


def enable_for(mode, args):
    """safeconv.enable() for a safeconv mode (a handle to disable), None for the others."""
    if mode not in SAFECONV_MODES:
        return None
    return safeconv.enable(strategy=args.strategy, bypass_other_ops=SAFECONV_MODES[mode])


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def set_vendor_mode(mode, tf32=False):
    """cudnn: PyTorch's convolution through the vendor library (cuDNN on a GPU; oneDNN, alias
    mkldnn, on the CPU), deterministic, TF32 only when asked. nocudnn: PyTorch's own
    convolution (im2col + GEMM: cuDNN off on a GPU, mkldnn off on the CPU). safeconv runs set
    "cudnn" so that the layers safeconv does not replace run as in the cudnn runs."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.enabled = mode != "nocudnn"
    torch.backends.mkldnn.enabled = mode != "nocudnn"
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _grad_scaler(args, device):
    """fp16 needs loss scaling (GradScaler, CUDA only); bf16 and fp32 do not."""
    if args.amp != "fp16":
        return None
    if device.type != "cuda":
        raise SystemExit("--amp fp16 needs a CUDA device (PyTorch's GradScaler)")
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler("cuda", init_scale=2.0 ** 10)
    return torch.cuda.amp.GradScaler(init_scale=2.0 ** 10)


def _autocast(args, device):
    if args.amp not in AMP_DTYPES:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[args.amp])


class _LayerCapture:
    """Records, during one training step, every nn.Conv2d's input, output, output gradient
    and input gradient, and after the backward its weight gradient: the early-agreement
    check recomputes each with PyTorch's convolution from the same tensors."""

    def __init__(self, model):
        self.records, self._handles = [], []
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d) and m.padding_mode == "zeros":
                self._handles.append(m.register_forward_pre_hook(self._alias))
                self._handles.append(m.register_forward_hook(self._hook(name)))

    @staticmethod
    def _alias(module, inputs):
        # A view of the input, so that the hook on it sees this convolution's input gradient
        # alone (an input shared by two convolutions, as in CSP, gets the sum of both).
        x = inputs[0]
        return (x.view_as(x),) + tuple(inputs[1:]) if x.requires_grad else None

    def _hook(self, name):
        def hook(module, inputs, y):
            x = inputs[0]
            rec = {"name": name, "module": module, "x": x.detach().clone(),
                   "y": y.detach().clone(), "dy": None, "dx": None}
            y.register_hook(lambda g: rec.__setitem__("dy", g.detach().clone()))
            if x.requires_grad:
                x.register_hook(lambda g: rec.__setitem__("dx", g.detach().clone()))
            self.records.append(rec)
        return hook

    def finish(self):
        """After the backward: remove the hooks, take each weight gradient."""
        for h in self._handles:
            h.remove()
        out = []
        for rec in self.records:
            m = rec.pop("module")
            rec.update(w=m.weight.detach().clone(), b=None if m.bias is None else
                       m.bias.detach().clone(), stride=m.stride, padding=m.padding,
                       dilation=m.dilation, groups=m.groups,
                       dw=None if m.weight.grad is None else m.weight.grad.detach().clone())
            out.append(rec)
        return out


def train(model_name, mode, args, device, seed=None, steps=None, snapshots=0, quiet=False,
          capture_layers=False):
    """Train one model for `steps` (default args.steps) steps with seed `seed` (default
    args.seed): the initial weights and the batch order follow the seed (the data follows
    args.seed), so two runs with the same seed see the same weights and batches. snapshots=T
    keeps a float32 copy of every parameter before the first step and after each of the
    first T optimizer steps (result["params"], T+1 lists). capture_layers=True keeps every
    convolution's tensors of the first step (result["layers"], see _LayerCapture). Returns
    the losses, held-out loss and accuracy, throughput."""
    seed = args.seed if seed is None else seed
    steps = args.steps if steps is None else steps
    set_vendor_mode("cudnn" if mode in SAFECONV_MODES else mode, args.tf32)
    torch.manual_seed(seed)
    model = MODELS[model_name](args.classes)
    model = model.to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    images, labels = get_data(args)
    n = len(labels)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    scaler = _grad_scaler(args, device)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    warmup = min(args.warmup, max(0, steps - 1))
    log_every = 0 if quiet else args.log_every

    def snapshot():
        return [p.detach().float().clone() for p in model.parameters()]

    params = [snapshot()] if snapshots else None
    handle = enable_for(mode, args)
    losses, t_start, timed_images = [], None, 0
    try:
        model.train()
        for step in range(steps):
            if step == warmup:
                sync(device)
                t_start, timed_images = time.perf_counter(), 0
            idx = order[(step * args.batch) % n:][:args.batch]
            if len(idx) < args.batch:
                idx = torch.cat([idx, order[:args.batch - len(idx)]])
            x, y = images[idx].to(device), labels[idx].to(device)
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            opt.zero_grad(set_to_none=True)
            capture = _LayerCapture(model) if capture_layers and step == 0 else None
            with _autocast(args, device):
                loss = F.cross_entropy(model(x), y)
            (loss if scaler is None else scaler.scale(loss)).backward()
            if capture is not None:
                layers = capture.finish()
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            losses.append(loss.item())
            timed_images += args.batch
            if params is not None and step < snapshots:
                params.append(snapshot())
            if log_every and (step + 1) % log_every == 0:
                print("  %-8s %-8s step %4d  loss %.4f" % (model_name, mode, step + 1, losses[-1]))
            if not math.isfinite(losses[-1]):
                raise compare_training.NonFiniteLoss("loss is not finite at step %d"
                                                     % (step + 1))
        sync(device)
        elapsed = time.perf_counter() - t_start if t_start is not None else float("nan")
        eval_loss, eval_acc = evaluate(model, args, device)
        if mode in SAFECONV_MODES and args.report and not quiet:
            print(safeconv.report(model))
    finally:
        if handle is not None:
            safeconv.disable()
    tail = losses[-20:]
    result = {"model": model_name, "mode": mode, "seed": seed, "steps": steps,
              "final_loss": sum(tail) / len(tail), "last_loss": losses[-1],
              "eval_loss": eval_loss, "eval_acc": eval_acc,
              "images_per_s": timed_images / elapsed if elapsed > 0 else float("nan"),
              "losses": losses}
    if capture_layers:
        result["layers"] = layers
    if params is not None:
        result["params"] = params
        result["param_names"] = [name for name, _ in model.named_parameters()]
    if not quiet:
        print("  %-8s %-8s final loss %.4f (mean of the last %d steps; last %.4f), held-out "
              "loss %.4f, accuracy %.3f, %.1f images/s"
              % (model_name, mode, result["final_loss"], len(tail), result["last_loss"],
                 eval_loss, eval_acc, result["images_per_s"]))
    return result


def evaluate(model, args, device):
    """Mean cross-entropy and accuracy in eval mode on the held-out set (fixed seed), computed
    the same way as training (through safeconv in safeconv runs, under the same autocast)."""
    images, labels = get_data(args, held_out=True)
    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad(), _autocast(args, device):
        for i in range(0, len(images), 128):
            x = images[i:i + 128].to(device)
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[i:i + 128].to(device)
            out = model(x).float()
            total += F.cross_entropy(out, y, reduction="sum").item()
            correct += int((out.argmax(1) == y).sum().item())
    model.train()
    return total / len(images), correct / len(images)


def bn_roles(device):
    """--compare-bn's roles in the statistical check (compare_training.Roles): batch norm on
    PyTorch's kernels judged (safeconv_bnpt), each seed paired against batch norm on the
    vendor's (safeconv_bnvendor; the same safeconv convolutions), the band from PyTorch's
    convolutions and batch norm on cuDNN (cudnn): a correct implementation that differs from
    the base, so its d shows how far a legitimate change of implementation moves the outcome.
    On the CPU batch norm is PyTorch's in both safeconv modes (their d is exactly 0) and the
    reference is oneDNN's convolution."""
    return compare_training.Roles(
        "safeconv_bnpt", "safeconv_bnvendor", "cudnn",
        {"safeconv_bnpt": "bnpt", "safeconv_bnvendor": "bnvendor",
         "cudnn": "cudnn" if device.type == "cuda" else "onednn"},
        "batch-norm agreement")


def compare_bn(model_name, args, device):
    """Batch norm on PyTorch's kernels vs on cuDNN/MIOpen, convolutions on safeconv in both
    (issue 19): --compare's statistical check (--seeds seeds, --steps steps, --band-k) with
    bn_roles(). One run's final loss cannot judge it: two correct runs drift apart
    chaotically (docs/pytorch.md, "What --compare checks")."""
    st = compare_training.statistical_check(model_name, args, device, _training,
                                            roles=bn_roles(device))
    print("  %-8s verdict: %s" % (model_name, "PASS" if st["pass"] else "FAIL"))
    return {"model": model_name, "statistical": st, "pass": st["pass"]}


def benchmark(args, device):
    """ResNet-18 training steps (batch, size, fp32) per second. cuDNN three ways, all fp32 with
    TF32 off: "cudnn" autotuned (benchmark=True, any algorithm: its best), "cudnn_default"
    (PyTorch's defaults: heuristics, nondeterministic algorithms allowed) and "cudnn_determ"
    (deterministic=True, like safeconv, which is always deterministic)."""
    res = {}
    for mode in args.bench_modes.split(","):
        set_vendor_mode("nocudnn" if mode == "nocudnn" else "cudnn")
        torch.backends.cudnn.benchmark = mode == "cudnn"
        torch.backends.cudnn.deterministic = mode in SAFECONV_MODES or mode == "cudnn_determ"
        torch.manual_seed(args.seed)
        model = resnet18(1000).to(device)
        if args.channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(args.bench_batch, 3, args.bench_size, args.bench_size, device=device)
        if args.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 1000, (args.bench_batch,), device=device)
        if mode in SAFECONV_MODES and args.probe:
            # strategy "auto" uses the vendor library only for shapes probed ok and faster:
            # probe this model's shapes first (child processes; results kept in the cache).
            res_p = safeconv.probe_model(model, x, progress=False)
            n_vendor = sum(1 for r in res_p if r["use_vendor"])
            print("  probed %d shape-directions: %d use the vendor library under 'auto' (%s)"
                  % (len(res_p), n_vendor, ", ".join(sorted({r["outcome"] for r in res_p}))))
        handle = enable_for(mode, args)
        try:
            times = []
            for i in range(args.bench_warmup + args.bench_steps):
                sync(device)
                t0 = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()
                sync(device)
                if i >= args.bench_warmup:
                    times.append(time.perf_counter() - t0)
        finally:
            if handle is not None:
                safeconv.disable()
        times.sort()
        med = times[len(times) // 2]
        res[mode] = args.bench_batch / med
        print("  resnet18 train step, batch %d, %dx%d fp32, %-13s: %8.1f images/s (median of %d "
              "steps, %.1f ms)" % (args.bench_batch, args.bench_size, args.bench_size, mode,
                                   res[mode], len(times), 1000 * med))
        del model, opt, x, y
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if "safeconv_bnpt" in res and "safeconv_bnvendor" in res:
        print("  batch norm on PyTorch's kernels / on the vendor's = %.3fx"
              % (res["safeconv_bnpt"] / res["safeconv_bnvendor"]))
    if "safeconv" not in res:
        return res
    if "cudnn" in res:
        r1 = res["safeconv"] / res["cudnn"]
        print("  safeconv / cudnn fp32      = %.2fx (target >= 0.8x: %s)"
              % (r1, "PASS" if r1 >= 0.8 else "FAIL"))
        res["ratio_vs_cudnn"] = r1
    for other in ("cudnn_default", "cudnn_determ"):
        if other in res:
            print("  safeconv / %-15s = %.2fx" % (other, res["safeconv"] / res[other]))
    if "nocudnn" in res:
        r2 = res["safeconv"] / res["nocudnn"]
        print("  safeconv / cudnn disabled  = %.2fx (target >= 1.5x: %s)"
              % (r2, "PASS" if r2 >= 1.5 else "FAIL"))
        res["ratio_vs_nocudnn"] = r2
    return res


# What compare_training needs from this file, passed in (this file may be loaded under any
# module name, e.g. by the tests).
_training = types.SimpleNamespace(train=train, set_vendor_mode=set_vendor_mode)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=list(SAFECONV_MODES) + ["cudnn", "nocudnn"],
                   default="safeconv",
                   help="safeconv: safeconv.enable(strategy=...); cudnn: PyTorch with cuDNN "
                        "(fp32, TF32 off); nocudnn: PyTorch with cuDNN disabled")
    p.add_argument("--compare", action="store_true",
                   help="check safeconv's training against the reference implementations: "
                        "early agreement and statistical agreement (docs/pytorch.md)")
    p.add_argument("--checks", default="early,stat",
                   help="--compare: which checks, comma-separated: early, stat")
    p.add_argument("--early-steps", type=int, default=3,
                   help="--compare: optimizer steps of the early-agreement check")
    p.add_argument("--no-early-floor", dest="early_floor", action="store_false",
                   help="--compare: skip the (unjudged) early trajectory of PyTorch's own "
                        "convolution, printed for scale")
    p.add_argument("--seeds", type=int, default=5,
                   help="--compare, --compare-bn: seeds per implementation in the statistical "
                        "check")
    p.add_argument("--band-k", type=float, default=4.0,
                   help="--compare, --compare-bn: the band is widened by this many standard "
                        "errors")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none",
                   help="train under autocast in this dtype (fp16 with GradScaler, CUDA only)")
    p.add_argument("--tf32", action="store_true",
                   help="allow TF32 for the convolutions and matmuls (default: exact fp32)")
    # TEST ONLY: a deliberately wrong safeconv (its weight gradients scaled), to show that
    # --compare fails it. Hidden from --help.
    p.add_argument("--test-wrong-dw-scale", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--compare-bn", action="store_true",
                   help="batch norm on PyTorch's kernels vs cuDNN/MIOpen (both with safeconv's "
                        "convolutions): --compare's statistical check, the band from cuDNN "
                        "(docs/pytorch.md)")
    p.add_argument("--benchmark", action="store_true",
                   help="ResNet-18 training-step throughput: safeconv, cudnn, cudnn off")
    p.add_argument("--model", choices=["resnet18", "yolo", "both"], default="both")
    p.add_argument("--strategy", default="gpu", help="safeconv strategy (default gpu)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64, help="image size for training runs")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--data", choices=["digits", "synthetic"], default=None,
                   help="digits: scikit-learn's bundled handwritten digits (real data; the "
                        "default when scikit-learn is installed); synthetic: fixed-seed "
                        "templates with noisy labels")
    p.add_argument("--dataset", type=int, default=4096, help="synthetic images")
    p.add_argument("--held-out", type=int, default=512, help="synthetic held-out images")
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5, help="steps not timed")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--report", action="store_true", help="print safeconv.report(model)")
    p.add_argument("--bench-batch", type=int, default=64)
    p.add_argument("--probe", action="store_true",
                   help="--benchmark: probe the model's shapes first (safeconv.probe_model), for "
                        "--strategy auto")
    p.add_argument("--bench-modes", default="safeconv,cudnn,cudnn_default,cudnn_determ,nocudnn",
                   help="comma-separated subset of the benchmark's configurations (also "
                        "safeconv_bnpt, safeconv_bnvendor: batch norm on PyTorch's kernels or "
                        "the vendor's)")
    p.add_argument("--bench-size", type=int, default=224)
    p.add_argument("--bench-steps", type=int, default=20)
    p.add_argument("--bench-warmup", type=int, default=3)
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--json", help="write the results to this file")
    args = p.parse_args(argv)
    if args.seeds < 1:  # the statistical check's means would divide by zero
        p.error("--seeds must be at least 1 (got %d)" % args.seeds)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.warmup = min(args.warmup, max(0, args.steps - 1))
    if args.data is None and (args.compare or args.compare_bn):
        # The statistical check needs a loss that plateaus above zero (digits is fitted to
        # ~0.01, where differences are noise): the synthetic set with 30% noisy labels.
        args.data = "synthetic"
    if args.data is None:
        try:
            import sklearn.datasets  # noqa: F401
            args.data = "digits"
        except ImportError:
            args.data = "synthetic"
    if args.data == "digits":
        args.classes = 10
    print("data: %s" % args.data)
    print("safeconv %s (library %s at %s), PyTorch %s, device %s%s" % (
        safeconv.__version__, safeconv.library_version(), safeconv.library_path(),
        torch.__version__, device,
        " (%s)" % torch.cuda.get_device_name(device) if device.type == "cuda" else ""))
    models = ["resnet18", "yolo"] if args.model == "both" else [args.model]
    out = {"args": vars(args), "runs": []}
    failed = False
    if args.test_wrong_dw_scale not in (None, 1.0):
        print("TEST ONLY: safeconv's weight gradients scaled by %g (a deliberately wrong "
              "variant)" % args.test_wrong_dw_scale)
    with wrong_backward_weight(args.test_wrong_dw_scale):
        if args.benchmark:
            out["benchmark"] = benchmark(args, device)
        else:
            for m in models:
                if args.compare_bn:
                    r = compare_bn(m, args, device)
                    failed |= not r["pass"]
                elif args.compare:
                    r = compare_training.compare(m, args, device, _training)
                    failed |= not r["pass"]
                else:
                    r = train(m, args.mode, args, device)
                out["runs"].append(r)
    if args.compare or args.compare_bn:
        print("verdict: %s" % ("FAIL" if failed else "PASS"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
