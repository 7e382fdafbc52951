#!/usr/bin/env python3
"""compare.py - safeconv's GPU kernels against what people use today, per layer shape.

Runs the shapes of a suite (bench/suites/public.csv) for forward, backward-data and
backward-weight through:
  safeconv      libsafeconv.so through ctypes, on PyTorch's tensors and current stream
  cudnn_fp32    PyTorch -> cuDNN, fp32, TF32 off (the baseline every ratio is relative to)
  cudnn_tf32    PyTorch -> cuDNN, TF32 on
  cudnn_bf16    PyTorch -> cuDNN, bf16, channels_last (NHWC)
  torch_nocudnn PyTorch with torch.backends.cudnn.enabled = False (its own im2col + cuBLAS)
  unfold        F.unfold + matmul (the Python-Conv2d workaround), TF32 off
  cudnn_same    PyTorch -> cuDNN in safeconv's dtype and layout (--dtype, --layout): the
                baseline for reduced precision (TF32 on for tf32)
Times with CUDA events after warm-up, median of repeats. Prints per shape the time of each
and its ratio to the baseline (cudnn_fp32; cudnn_same with --dtype other than f32), then
geometric means per direction and for the sum of the three.
Extra memory: peak allocator growth during the op beyond the output (PyTorch methods), the
workspace safeconv asks for (safeconv). Timings are reports, never assertions.

usage: python3 bench/compare.py [--lib build-gpu/libsafeconv.so] [--suite FILE]
       [--filter TEXT] [--methods a,b] [--repeat N] [--benchmark] [--csv OUT]
       [--dtype f32|tf32|f16|bf16] [--layout nchw|nhwc] [--cold]
       /usr/bin/python3 bench/compare.py --device cpu [bench/compare_cpu.py's options]
--device cpu (first): the CPU backend against PyTorch's CPU convolution, see compare_cpu.py.
"""
import argparse
import ctypes as C
import csv
import math
import re
import os
import statistics
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_cpu  # noqa: E402  (its CPU mode, and the algorithm names)

DIRS = ("fwd", "bwd_data", "bwd_weight")
METHODS = ("safeconv", "cudnn_fp32", "cudnn_tf32", "cudnn_bf16", "torch_nocudnn", "unfold",
           "cudnn_same")
BASE = "cudnn_fp32"       # the method every ratio is relative to (main() may change it)
DTYPE, LAYOUT = "f32", "nchw"


class Desc(C.Structure):
    _fields_ = [(f, C.c_int64) for f in ("n", "c", "h", "w", "k", "r", "s", "pad_h", "pad_w",
                                         "stride_h", "stride_w", "dil_h", "dil_w", "groups")] + \
               [("dtype", C.c_int), ("layout", C.c_int)]


class Opts(C.Structure):
    _fields_ = [("device", C.c_int), ("stream", C.c_void_p), ("strategy", C.c_int),
                ("deterministic", C.c_int), ("allow_cpu", C.c_int),
                ("workspace_limit", C.c_size_t), ("verbosity", C.c_int),
                ("size_threshold", C.c_int), ("algo", C.c_int), ("num_threads", C.c_int),
                ("cache_path", C.c_char_p), ("math", C.c_int)]


class SafeConv:
    def __init__(self, path, device, math=0, algo=""):
        self.lib = C.CDLL(path)
        L = self.lib
        L.sc_last_error.restype = C.c_char_p
        L.sc_context_options_init.argtypes = [C.c_void_p]
        L.sc_context_create.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
        for name in ("sc_conv2d_forward", "sc_conv2d_backward_data"):
            getattr(L, name).argtypes = [C.c_void_p, C.POINTER(Desc)] + [C.c_void_p] * 4 + [C.c_size_t]
        L.sc_conv2d_forward.argtypes = [C.c_void_p, C.POINTER(Desc)] + [C.c_void_p] * 5 + [C.c_size_t]
        L.sc_conv2d_backward_weight.argtypes = [C.c_void_p, C.POINTER(Desc)] + [C.c_void_p] * 5 + [C.c_size_t]
        L.sc_conv2d_workspace_size.argtypes = [C.c_void_p, C.POINTER(Desc), C.c_int, C.POINTER(C.c_size_t)]
        L.sc_conv2d_select.argtypes = [C.c_void_p, C.POINTER(Desc), C.c_int, C.POINTER(C.c_int)]
        L.sc_algo_name.restype = C.c_char_p
        L.sc_algo_name.argtypes = [C.c_int]
        buf = C.create_string_buffer(1024)  # room for fields appended to the options later
        L.sc_context_options_init(buf)
        o = Opts.from_buffer(buf)
        o.device = device
        o.stream = torch.cuda.current_stream().cuda_stream
        o.strategy = 1  # SC_STRATEGY_GPU: safeconv's own kernels
        o.math = math   # 1: SC_MATH_TF32
        if algo:  # force one algorithm by its sc_algo_name; directions it cannot run fail alone
            o.algo = compare_cpu.algo_id(L, algo)
        self._opts = buf
        self.ctx = C.c_void_p()
        if L.sc_context_create(buf, C.byref(self.ctx)) != 0:
            raise RuntimeError("sc_context_create: " + L.sc_last_error().decode())

    def check(self, st):
        if st != 0:
            raise RuntimeError(self.lib.sc_last_error().decode())

    def algo(self, d, dirn):
        a = C.c_int()
        self.check(self.lib.sc_conv2d_select(self.ctx, C.byref(d), dirn, C.byref(a)))
        return self.lib.sc_algo_name(a.value).decode()

    def ws(self, d, dirn):
        b = C.c_size_t()
        self.check(self.lib.sc_conv2d_workspace_size(self.ctx, C.byref(d), dirn, C.byref(b)))
        return b.value


def load_suite(path, filt):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            v = line.split(",")
            if filt and filt not in v[0]:
                continue
            rows.append((v[0], [int(t) for t in v[1:]]))
    return rows


COLD = None  # --cold: a buffer larger than the L2 cache, written before every timed call


def time_op(fn, repeat, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        if COLD is not None:  # evict the operands: inside a training step they arrive cold
            COLD.zero_()
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def peak_extra(fn, out_bytes):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return max(0, torch.cuda.max_memory_allocated() - base - out_bytes)


def run_shape(sc, shape, methods, repeat):
    n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, g = shape
    dev = "cuda"
    x = torch.randn(n, c, h, w, device=dev)
    wt = torch.randn(k, c // g, r, s, device=dev) / math.sqrt(c // g * r * s)
    bias = torch.randn(k, device=dev)
    conv = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g)
    y = F.conv2d(x, wt, bias, **conv)
    dy = torch.randn_like(y)
    res = {}

    def torch_dirs(xx, ww, dyy, bb):
        outs = {}
        outs["fwd"] = lambda: F.conv2d(xx, ww, bb, **conv)
        outs["bwd_data"] = lambda: torch.ops.aten.convolution_backward(
            dyy, xx, ww, None, conv["stride"], conv["padding"], conv["dilation"], False, (0, 0), g,
            (True, False, False))
        outs["bwd_weight"] = lambda: torch.ops.aten.convolution_backward(
            dyy, xx, ww, None, conv["stride"], conv["padding"], conv["dilation"], False, (0, 0), g,
            (False, True, False))
        return outs

    out_bytes = {"fwd": y.numel() * 4, "bwd_data": x.numel() * 4, "bwd_weight": wt.numel() * 4}
    for m in methods:
        try:
            torch.backends.cudnn.enabled = m != "torch_nocudnn"
            tf32 = m == "cudnn_tf32"
            torch.backends.cudnn.allow_tf32 = tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            if m in ("safeconv", "cudnn_same"):
                # safeconv's dtype and layout; the inputs rounded to the dtype once, for both
                tdt = {"f16": torch.float16, "bf16": torch.bfloat16}.get(DTYPE, torch.float32)
                mf = torch.channels_last if LAYOUT == "nhwc" else torch.contiguous_format
                xs, ws_, dys = (t.to(tdt).contiguous(memory_format=mf) for t in (x, wt, dy))
                bs = bias.to(tdt)
            if m == "cudnn_same":
                torch.backends.cudnn.allow_tf32 = DTYPE == "tf32"
                ops = torch_dirs(xs, ws_, dys, bs)
                for dn in DIRS:
                    res[(m, dn)] = dict(ms=time_op(ops[dn], repeat), mem=0)
                continue
            if m == "safeconv":
                sdt = {"f16": 1, "bf16": 2}.get(DTYPE, 0)
                d = Desc(n, c, h, w, k, r, s, ph, pw, sh, sw, dh, dw, g, sdt, 1 if LAYOUT == "nhwc" else 0)
                yy = torch.empty_like(y, dtype=tdt).contiguous(memory_format=mf)
                dx = torch.empty_like(xs)
                dwt = torch.empty_like(ws_)
                L = sc.lib
                ops = {
                    "fwd": lambda: sc.check(L.sc_conv2d_forward(sc.ctx, C.byref(d), xs.data_ptr(), ws_.data_ptr(), bs.data_ptr(), yy.data_ptr(), None, 0)),
                    "bwd_data": lambda: sc.check(L.sc_conv2d_backward_data(sc.ctx, C.byref(d), dys.data_ptr(), ws_.data_ptr(), dx.data_ptr(), None, 0)),
                    "bwd_weight": lambda: sc.check(L.sc_conv2d_backward_weight(sc.ctx, C.byref(d), xs.data_ptr(), dys.data_ptr(), dwt.data_ptr(), None, None, 0)),
                }
                runs = {}
                for dn in DIRS:  # a forced algorithm may not apply to every direction
                    try:
                        ops[dn]()
                        runs[dn] = True
                    except RuntimeError as e:
                        res[(m, dn)] = dict(ms=float("nan"), mem=0, note=str(e)[:80])
                torch.cuda.synchronize()
                # correctness spot check against cuDNN fp32 on the same (rounded) inputs
                torch.backends.cudnn.allow_tf32 = False
                ref = torch_dirs(xs.float(), ws_.float(), dys.float(), bs.float())
                errs = {"fwd": (yy, ref["fwd"]()), "bwd_data": (dx, ref["bwd_data"]()[0]),
                        "bwd_weight": (dwt, ref["bwd_weight"]()[1])}
                for i, dn in enumerate(DIRS):
                    if dn not in runs:
                        continue
                    got, want = errs[dn]
                    got = got.float()
                    e = ((got - want).norm() / want.norm().clamp_min(1e-30)).item()
                    res[(m, dn)] = dict(ms=time_op(ops[dn], repeat), mem=sc.ws(d, i), err=e,
                                        algo=sc.algo(d, i))
                continue
            if m == "cudnn_bf16":
                xx = x.to(torch.bfloat16).to(memory_format=torch.channels_last)
                ww = wt.to(torch.bfloat16).to(memory_format=torch.channels_last)
                dyy = dy.to(torch.bfloat16).to(memory_format=torch.channels_last)
                ops = torch_dirs(xx, ww, dyy, bias.to(torch.bfloat16))
            elif m == "unfold":
                ops = unfold_ops(x, wt, bias, dy, conv, g, y.shape)
            else:
                ops = torch_dirs(x, wt, dy, bias)
            for dn in DIRS:
                ms = time_op(ops[dn], repeat)
                res[(m, dn)] = dict(ms=ms, mem=peak_extra(ops[dn], out_bytes[dn] // (2 if m == "cudnn_bf16" else 1)))
        except Exception as e:  # a method that cannot run a shape is reported, not fatal
            for dn in DIRS:
                res.setdefault((m, dn), dict(ms=float("nan"), mem=0, note=str(e)[:80]))
    torch.backends.cudnn.enabled = True
    return res


def unfold_ops(x, wt, bias, dy, conv, g, yshape):
    """The Python Conv2d workaround: im2col with F.unfold and one matmul (groups via loop)."""
    n, c, h, w = x.shape
    k, cg, r, s = wt.shape
    p, q = yshape[2], yshape[3]
    kw = dict(kernel_size=(r, s), dilation=conv["dilation"], padding=conv["padding"], stride=conv["stride"])

    def fwd():
        cols = F.unfold(x, **kw)                      # N, C*R*S, P*Q
        cols = cols.view(n, g, cg * r * s, p * q)
        wv = wt.view(g, k // g, cg * r * s)
        out = torch.matmul(wv.unsqueeze(0), cols)     # N, g, K/g, PQ
        return out.reshape(n, k, p, q) + bias.view(1, k, 1, 1)

    def bwd_data():
        dyv = dy.reshape(n, g, k // g, p * q)
        wv = wt.view(g, k // g, cg * r * s)
        cols = torch.matmul(wv.transpose(1, 2).unsqueeze(0), dyv)  # N, g, CgRS, PQ
        return F.fold(cols.reshape(n, c * r * s, p * q), output_size=(h, w), **kw)

    def bwd_weight():
        cols = F.unfold(x, **kw).view(n, g, cg * r * s, p * q)
        dyv = dy.reshape(n, g, k // g, p * q)
        return torch.matmul(dyv, cols.transpose(2, 3)).sum(0).reshape(k, cg, r, s)

    return {"fwd": fwd, "bwd_data": bwd_data, "bwd_weight": bwd_weight}


def gmean(v):
    v = [t for t in v if t > 0 and math.isfinite(t)]
    return math.exp(sum(math.log(t) for t in v) / len(v)) if v else float("nan")


def weighted_total(allres, methods):
    """Suites where some names end in _xN (N layers of that shape, e.g. resnet18_b64.csv; a
    name without it is one layer): the N-weighted total time per method and direction, i.e.
    one network step's convolutions."""
    w = {name: int(m.group(1)) if m else 1
         for name, m in ((nm, re.search(r"_x(\d+)$", nm)) for nm in allres)}
    if max(w.values(), default=1) == 1:
        return  # not a model suite
    print("\nweighted total (shape time x N from the _xN names), ms; ratio to", BASE)
    base = {dn: sum(w[nm] * allres[nm].get((BASE, dn), {}).get("ms", float("nan"))
                    for nm in w) for dn in DIRS}
    for m in methods:
        tot = {dn: sum(w[nm] * allres[nm].get((m, dn), {}).get("ms", float("nan")) for nm in w)
               for dn in DIRS}
        s, bs = sum(tot.values()), sum(base.values())
        print(f"{m:14s} " + " ".join(f"{dn} {tot[dn]:7.3f} ({tot[dn] / base[dn]:4.2f}x)" for dn in DIRS)
              + f"  all {s:7.3f} ({s / bs:4.2f}x)")


def main():
    if sys.argv[1:3] == ["--device", "cpu"]:
        return compare_cpu.main(sys.argv[3:])
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--lib", default=os.path.join(here, "..", "build-gpu", "libsafeconv.so"))
    ap.add_argument("--suite", default=os.path.join(here, "suites", "public.csv"))
    ap.add_argument("--filter", default="")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    ap.add_argument("--extra", action="store_true", help="add the depthwise 3x3 target shape")
    ap.add_argument("--csv", default="")
    ap.add_argument("--dtype", default="f32", choices=("f32", "tf32", "f16", "bf16"),
                    help="safeconv's dtype (tf32: fp32 tensors, math mode TF32); the baseline is "
                         "then cuDNN in the same dtype and layout (cudnn_same)")
    ap.add_argument("--algo", default="",
                    help="force safeconv's algorithm (sc_algo_name, e.g. gpu_implicit_gemm); a "
                         "direction it does not apply to is reported, not timed")
    ap.add_argument("--layout", default="", choices=("", "nchw", "nhwc"),
                    help="safeconv's layout (default nchw for f32, nhwc otherwise)")
    ap.add_argument("--cold", action="store_true",
                    help="write 256 MiB before every timed call, so no operand is in the L2 "
                         "cache (as inside a training step, where the per-call rates mislead)")
    a = ap.parse_args()
    global BASE, DTYPE, LAYOUT, COLD
    if a.cold:
        COLD = torch.empty(64 << 20, dtype=torch.float32, device="cuda")
    DTYPE = a.dtype
    LAYOUT = a.layout or ("nchw" if a.dtype == "f32" else "nhwc")
    if DTYPE != "f32":
        BASE = "cudnn_same"
    torch.backends.cudnn.benchmark = a.benchmark
    methods = [m for m in a.methods.split(",") if m]
    if BASE not in methods:
        methods.append(BASE)
    sc = SafeConv(a.lib, torch.cuda.current_device(), 1 if DTYPE == "tf32" else 0, a.algo) \
        if "safeconv" in methods else None
    rows = load_suite(a.suite, a.filter)
    if a.extra:
        rows.append(("dw3x3_144_56", [32, 144, 56, 56, 144, 3, 3, 1, 1, 1, 1, 1, 1, 144]))
    print("device:", torch.cuda.get_device_name(), "| torch", torch.__version__, "| cudnn",
          torch.backends.cudnn.version(), "| cudnn.benchmark", a.benchmark)
    allres = {}
    for name, shape in rows:
        res = run_shape(sc, shape, methods, a.repeat)
        allres[name] = res
        base = {dn: res.get((BASE, dn), {}).get("ms", float("nan")) for dn in DIRS}
        line = [f"{name:24s}"]
        for dn in DIRS:
            cells = []
            for m in methods:
                t = res.get((m, dn), {}).get("ms", float("nan"))
                cells.append(f"{m[:6]} {t:7.3f}ms {t / base[dn]:5.2f}x")
            line.append(f"  [{dn}] " + " | ".join(cells))
        print("\n".join(line))
        if sc:
            print("    safeconv: " + ", ".join(
                f"{dn} {res[('safeconv', dn)].get('algo', '?')} err {res[('safeconv', dn)].get('err', float('nan')):.1e} ws {res[('safeconv', dn)].get('mem', 0) / 2**20:.1f}MiB"
                for dn in DIRS if ("safeconv", dn) in res))
        sys.stdout.flush()
    # summary
    print("\nratio to", BASE, "(dtype %s, layout %s), geometric mean over" % (DTYPE, LAYOUT),
          len(rows), "shapes; worst shape")
    print(f"{'method':14s} " + " ".join(f"{dn:>18s}" for dn in DIRS) + f" {'sum of 3':>18s}  extra MiB (max)")
    for m in methods:
        cells = []
        for dn in list(DIRS) + ["sum"]:
            rat = []
            for name in allres:
                r = allres[name]
                if dn == "sum":
                    t = sum(r.get((m, d), {}).get("ms", float("nan")) for d in DIRS)
                    b = sum(r.get((BASE, d), {}).get("ms", float("nan")) for d in DIRS)
                else:
                    t = r.get((m, dn), {}).get("ms", float("nan"))
                    b = r.get((BASE, dn), {}).get("ms", float("nan"))
                rat.append((t / b, name))
            fin = [t for t in rat if math.isfinite(t[0])]
            worst = max(fin) if fin else (float("nan"), "-")
            cells.append(f"{gmean([t for t, _ in rat]):6.2f}x (max {worst[0]:5.2f})")
        mem = max((allres[nm].get((m, d), {}).get("mem", 0) for nm in allres for d in DIRS), default=0)
        print(f"{m:14s} " + " ".join(f"{c:>18s}" for c in cells) + f"  {mem / 2**20:8.1f}")
    weighted_total(allres, methods)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["shape", "method", "direction", "ms", "ratio_to_" + BASE, "extra_bytes", "algo", "rel_err"])
            for name, r in allres.items():
                for (m, dn), v in r.items():
                    b = r.get((BASE, dn), {}).get("ms", float("nan"))
                    wr.writerow([name, m, dn, f"{v['ms']:.4f}", f"{v['ms'] / b:.3f}", v.get("mem", 0), v.get("algo", ""), v.get("err", "")])


if __name__ == "__main__":
    main()
