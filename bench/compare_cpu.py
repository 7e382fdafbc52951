#!/usr/bin/env python3
"""compare_cpu.py - safeconv's CPU backend against PyTorch's CPU convolution, per layer shape.

The CPU mode of bench/compare.py (`compare.py --device cpu ...` runs this). Each shape of a
suite (bench/suites/public.csv, batch overridden by --batch) runs one training step of the
layer, forward with bias and backward (data, weight, bias), through:
  torch        F.conv2d + aten.convolution_backward (PyTorch's CPU path: oneDNN / its own)
  safeconv     libsafeconv.so through ctypes on the same tensors, strategy cpu
  safeconv:ALG the same with the algorithm forced (cpu_onednn, cpu_im2col_gemm, cpu_direct)
  .../sep      the backward as one call per direction instead of sc_conv2d_backward's one
               call (which reorders dy once where oneDNN runs both directions)
Both sides run in this process with the same thread count (--threads: torch.set_num_threads and
sc_context_options.num_threads). Timing is wall clock (time.perf_counter), interleaved and
paired: every repeat times one step of each method back to back, in rotating order, and the
ratio to torch is taken within the repeat, so load from other processes on a shared machine
falls on both sides alike; the report is the median over repeats of those ratios, and the
ratio of the best (minimum) step times: on a loaded machine the best of N is the run least
disturbed by others, the closest to what the code costs. Warm-up calls (primitive creation,
caches) come first. --cpu-time times
CPU time instead of the wall clock: what the calls compute, whatever other processes do to the
scheduling. With one thread, the calling thread's (time.thread_time); with more, the process's
(time.process_time), which needs OMP_WAIT_POLICY=passive in the environment so that idle
OpenMP threads sleep instead of spinning into the count (both sides use the same libgomp).
Caveat: PyTorch 1.13 runs 1x1 layers at batch < 16 on one thread through its own code, not
oneDNN. --block B: every repeat runs B consecutive steps of each method (methods still in
rotating order, the ratio still paired within the repeat) and takes the median step of each
block: the steady state of one implementation stepping on its own, as in training, where
alternating single steps (B = 1, the default) also time what each leaves in the caches and the
allocator for the other (bench/NOTES.md, issue 21). --dirs also times
each direction alone (for analysis; not paired). Prints per shape the step time of each method
and its ratio to torch, then the geometric mean and the worst ratio. Timings are reports, never
assertions.

usage: /usr/bin/python3 bench/compare_cpu.py [--lib build/libsafeconv.so] [--suite FILE]
       [--filter TEXT] [--batch 4] [--threads 2] [--layout nchw|nhwc] [--repeat 15]
       [--methods torch,safeconv,safeconv:cpu_im2col_gemm] [--extra] [--dirs] [--cpu-time]
       [--block B] [--csv OUT]
"""
import argparse
import csv
import ctypes as C
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DIRS = ("fwd", "bwd_data", "bwd_weight")
# Depthwise layers (MobileNet/EfficientNet-style) are not in public.csv; --extra adds these.
EXTRA = [("dw3x3_144_56", [4, 144, 56, 56, 144, 3, 3, 1, 1, 1, 1, 1, 1, 144]),
         ("dw3x3_s2_96_112", [4, 96, 112, 112, 96, 3, 3, 2, 2, 1, 1, 1, 1, 96])]


class Desc(C.Structure):
    _fields_ = [(f, C.c_int64) for f in ("n", "c", "h", "w", "k", "r", "s", "pad_h", "pad_w",
                                         "stride_h", "stride_w", "dil_h", "dil_w", "groups")] + \
               [("dtype", C.c_int), ("layout", C.c_int)]


class Opts(C.Structure):
    _fields_ = [("device", C.c_int), ("stream", C.c_void_p), ("strategy", C.c_int),
                ("deterministic", C.c_int), ("allow_cpu", C.c_int),
                ("workspace_limit", C.c_size_t), ("verbosity", C.c_int),
                ("size_threshold", C.c_int), ("algo", C.c_int), ("num_threads", C.c_int),
                ("cache_path", C.c_char_p)]


def algo_id(lib, name):
    """The sc_algo of an algorithm name (sc_algo_name's spelling); exits on an unknown one.
    bench/compare.py uses it too."""
    names = {(lib.sc_algo_name(i) or b"").decode(): i for i in range(64)}
    if name not in names:
        raise SystemExit("unknown algorithm " + name)
    return names[name]


class SafeConvCPU:
    """One CPU context of libsafeconv (strategy cpu), optionally with a forced algorithm."""

    def __init__(self, lib, threads, algo_name):
        self.lib = L = lib
        algo = algo_id(L, algo_name) if algo_name else 0
        buf = C.create_string_buffer(1024)  # room for fields appended to the options later
        L.sc_context_options_init(buf)
        o = Opts.from_buffer(buf)
        o.device = -1
        o.strategy = 4  # SC_STRATEGY_CPU
        o.num_threads = threads
        o.algo = algo
        self._opts = buf
        self.separate = False  # time the backward as one call per direction
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


def load_lib(path):
    L = C.CDLL(path)
    L.sc_last_error.restype = C.c_char_p
    L.sc_algo_name.restype = C.c_char_p
    L.sc_algo_name.argtypes = [C.c_int]
    L.sc_context_options_init.argtypes = [C.c_void_p]
    L.sc_context_create.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
    L.sc_conv2d_forward.argtypes = [C.c_void_p, C.POINTER(Desc)] + [C.c_void_p] * 5 + [C.c_size_t]
    L.sc_conv2d_backward_data.argtypes = [C.c_void_p, C.POINTER(Desc)] + [C.c_void_p] * 4 + [C.c_size_t]
    L.sc_conv2d_backward_weight.argtypes = [C.c_void_p, C.POINTER(Desc)] + [C.c_void_p] * 5 + [C.c_size_t]
    if hasattr(L, "sc_conv2d_backward"):
        L.sc_conv2d_backward.argtypes = ([C.c_void_p, C.POINTER(Desc)] + [C.c_void_p] * 7 +
                                         [C.c_size_t, C.c_void_p])
    L.sc_conv2d_select.argtypes = [C.c_void_p, C.POINTER(Desc), C.c_int, C.POINTER(C.c_int)]
    return L


def load_suite(path, filt, batch):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            v = line.split(",")
            if filt and filt not in v[0]:
                continue
            shape = [int(t) for t in v[1:]]
            if batch:
                shape[0] = batch
            rows.append((v[0], shape))
    return rows


def methods_for_shape(shape, layout, scs):
    """{method: {dir: fn}} and a correctness check per safeconv method."""
    n, c, h, w, k, r, s, sh, sw, ph, pw, dh, dw, g = shape
    torch.manual_seed(0)
    mf = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    x = torch.randn(n, c, h, w).to(memory_format=mf)
    wt = (torch.randn(k, c // g, r, s) / math.sqrt(c // g * r * s)).to(memory_format=mf)
    bias = torch.randn(k)
    conv = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g)
    y = F.conv2d(x, wt, bias, **conv)
    dy = torch.randn_like(y)

    def bwd(mask):
        return torch.ops.aten.convolution_backward(dy, x, wt, [k], conv["stride"], conv["padding"],
                                                   conv["dilation"], False, (0, 0), g, mask)

    out = {"torch": {"fwd": lambda: F.conv2d(x, wt, bias, **conv),
                     "bwd_data": lambda: bwd((True, False, False)),
                     "bwd_weight": lambda: bwd((False, True, True)),
                     "bwd_all": lambda: bwd((True, True, True))}}
    ref = {"fwd": y, "bwd_data": bwd((True, False, False))[0]}
    gw = bwd((False, True, True))
    ref["bwd_weight"], ref["dbias"] = gw[1], gw[2]
    d = Desc(n, c, h, w, k, r, s, ph, pw, sh, sw, dh, dw, g, 0, 1 if layout == "nhwc" else 0)
    checks = {}
    for name, sc in scs.items():
        L = sc.lib
        yy, dx, dwt, db = (torch.empty_like(t) for t in (y, x, wt, bias))
        p = lambda t: t.data_ptr()  # noqa: E731
        ops = {
            "fwd": lambda sc=sc, L=L, yy=yy: sc.check(L.sc_conv2d_forward(
                sc.ctx, C.byref(d), p(x), p(wt), p(bias), p(yy), None, 0)),
            "bwd_data": lambda sc=sc, L=L, dx=dx: sc.check(L.sc_conv2d_backward_data(
                sc.ctx, C.byref(d), p(dy), p(wt), p(dx), None, 0)),
            "bwd_weight": lambda sc=sc, L=L, dwt=dwt, db=db: sc.check(L.sc_conv2d_backward_weight(
                sc.ctx, C.byref(d), p(x), p(dy), p(dwt), p(db), None, 0)),
        }
        if hasattr(L, "sc_conv2d_backward") and not sc.separate:
            # the backward in one call (dy reordered once where oneDNN runs both directions);
            # run last below, so the check reads its outputs
            ops["bwd_all"] = lambda sc=sc, L=L, dx=dx, dwt=dwt, db=db: sc.check(
                L.sc_conv2d_backward(sc.ctx, C.byref(d), p(x), p(wt), p(dy), p(dx), p(dwt),
                                     p(db), None, 0, None))
        for fn in ops.values():
            fn()
        errs = {}
        for dn, got in (("fwd", yy), ("bwd_data", dx), ("bwd_weight", dwt), ("dbias", db)):
            want = ref[dn]
            errs[dn] = ((got - want).norm() / want.norm().clamp_min(1e-30)).item()
        checks[name] = dict(err=max(errs.values()),
                            algos=[sc.algo(d, i) for i in range(3)])
        out[name] = ops
    return out, checks


def step_fn(name, ops):
    if name == "torch":  # what autograd runs: forward, then one backward call for all grads
        return lambda: (ops["fwd"](), ops["bwd_all"]())
    if "bwd_all" in ops:
        return lambda: (ops["fwd"](), ops["bwd_all"]())
    return lambda: (ops["fwd"](), ops["bwd_data"](), ops["bwd_weight"]())


CLOCK = time.perf_counter


def timed(fn):
    t = CLOCK()
    fn()
    return (CLOCK() - t) * 1e3


def timed_block(fn, block):
    """The median of block consecutive steps' times (ms)."""
    return statistics.median(timed(fn) for _ in range(block))


def run_shape(shape, layout, scs, repeat, warm, dirs, block=1):
    ops, checks = methods_for_shape(shape, layout, scs)
    names = list(ops)
    steps = {m: step_fn(m, ops[m]) for m in names}
    for _ in range(warm):
        for m in names:
            steps[m]()
    times = {m: [] for m in names}
    ratios = {m: [] for m in names}
    dtimes = {(m, dn): [] for m in names for dn in DIRS}
    for rep in range(repeat):
        order = names[rep % len(names):] + names[:rep % len(names)]
        t = {m: timed_block(steps[m], block) for m in order}
        for m in names:
            times[m].append(t[m])
            ratios[m].append(t[m] / t["torch"])
        if dirs:
            for m in order:
                for dn in DIRS:
                    dtimes[(m, dn)].append(timed(ops[m][dn]))
    res = {m: dict(med=statistics.median(times[m]), min=min(times[m]),
                   ratio=statistics.median(ratios[m]),
                   dirs={dn: statistics.median(dtimes[(m, dn)]) if dirs else float("nan")
                         for dn in DIRS}) for m in names}
    return res, checks


def gmean(v):
    v = [t for t in v if t > 0 and math.isfinite(t)]
    return math.exp(sum(math.log(t) for t in v) / len(v)) if v else float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=os.path.join(HERE, "..", "build", "libsafeconv.so"))
    ap.add_argument("--suite", default=os.path.join(HERE, "suites", "public.csv"))
    ap.add_argument("--filter", default="")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layout", choices=("nchw", "nhwc"), default="nchw")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--warm", type=int, default=2)
    ap.add_argument("--methods", default="torch,safeconv")
    ap.add_argument("--extra", action="store_true", help="add depthwise shapes (EXTRA)")
    ap.add_argument("--dirs", action="store_true", help="also time each direction alone")
    ap.add_argument("--cpu-time", action="store_true",
                    help="CPU time instead of wall clock (see above)")
    ap.add_argument("--block", type=int, default=1,
                    help="consecutive steps of each method per repeat (see above)")
    ap.add_argument("--csv", default="")
    a = ap.parse_args(argv)
    if a.block < 1:
        ap.error("--block: at least 1 step per block")
    if a.cpu_time:
        global CLOCK
        if a.threads == 1:
            CLOCK = time.thread_time
        elif os.environ.get("OMP_WAIT_POLICY", "").lower() == "passive":
            CLOCK = time.process_time
        else:
            raise SystemExit("--cpu-time with several threads: set OMP_WAIT_POLICY=passive "
                             "(spinning OpenMP threads would count as work)")
    torch.set_num_threads(a.threads)
    methods = [m for m in a.methods.split(",") if m]
    if "torch" not in methods:
        methods.insert(0, "torch")
    lib = load_lib(a.lib)
    scs = {}
    for m in methods:
        if m.startswith("safeconv"):
            base = m.split("/", 1)[0]
            scs[m] = SafeConvCPU(lib, a.threads, base.split(":", 1)[1] if ":" in base else "")
            scs[m].separate = m.endswith("/sep")
    rows = load_suite(a.suite, a.filter, a.batch)
    if a.extra:
        rows += [(nm, [a.batch] + sh[1:]) for nm, sh in EXTRA]
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} | safeconv {a.lib} | "
          f"batch {a.batch} layout {a.layout} | {a.repeat} interleaved paired repeats "
          f"({'blocks of %d steps, median' % a.block if a.block > 1 else 'single steps'}), "
          f"{('process CPU time' if a.threads > 1 else 'thread CPU time') if a.cpu_time else 'wall clock'} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '-')} "
          f"| load average {os.getloadavg()[0]:.2f}")
    allres = {}
    for name, shape in rows:
        res, checks = run_shape(shape, a.layout, scs, a.repeat, a.warm, a.dirs, a.block)
        allres[name] = (res, checks)
        cells = [f"{m} med {res[m]['med']:8.2f}ms ({res[m]['ratio']:5.2f}x) best {res[m]['min']:8.2f}ms "
                 f"({res[m]['min'] / res['torch']['min']:5.2f}x)" for m in methods]
        print(f"{name:24s} " + " | ".join(cells) + f"  load {os.getloadavg()[0]:.1f}")
        for m in methods:
            dd = res[m]["dirs"]
            extra = ""
            if m in checks:
                extra = f"  err {checks[m]['err']:.1e}  algos {'/'.join(checks[m]['algos'])}"
            print(f"    {m:26s} min {res[m]['min']:8.2f}ms" +
                  ("  " + " ".join(f"{dn} {dd[dn]:7.2f}" for dn in DIRS) if a.dirs else "") +
                  extra)
        sys.stdout.flush()
    print(f"\nstep time ratio to torch, geometric mean over {len(rows)} shapes; worst; "
          f"load average now {os.getloadavg()[0]:.2f}")
    for m in methods:
        for what, key in (("median of paired ratios", None), ("best of repeats", "min")):
            rat = [((allres[nm][0][m][key] / allres[nm][0]["torch"][key]) if key else
                    allres[nm][0][m]["ratio"], nm) for nm in allres]
            worst = max(rat)
            over = sum(1 for t, _ in rat if t > 1.1)
            print(f"{m:26s} {what:24s} gmean {gmean([t for t, _ in rat]):5.2f}x  worst "
                  f"{worst[0]:5.2f}x ({worst[1]})  shapes over 1.1x: {over}")
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["shape", "method", "step_ms_median", "step_ms_min", "ratio_median",
                         "ratio_best"] +
                        [dn + "_ms" for dn in DIRS] + ["algos", "rel_err"])
            for nm, (res, checks) in allres.items():
                for m in methods:
                    c = checks.get(m, {})
                    wr.writerow([nm, m, f"{res[m]['med']:.3f}", f"{res[m]['min']:.3f}",
                                 f"{res[m]['ratio']:.3f}",
                                 f"{res[m]['min'] / res['torch']['min']:.3f}"] +
                                [f"{res[m]['dirs'][dn]:.3f}" for dn in DIRS] +
                                ["/".join(c.get("algos", [])), c.get("err", "")])


if __name__ == "__main__":
    main()
