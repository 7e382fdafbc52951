"""The two checks behind `examples/train.py --compare` (docs/pytorch.md, "What --compare checks").

One run's final loss cannot tell a correct convolution from a wrong one: two correct
implementations that sum in different orders drift apart chaotically over a few hundred SGD
steps (bench/NOTES.md: cuDNN and PyTorch's own convolution differ by 3.9% after 200 steps on
ResNet-18). So the comparison has two parts:

early agreement   the first few optimizer steps, same seed (same initial weights, same batches,
                  same order) with safeconv and with the reference (cuDNN on a GPU, PyTorch's
                  CPU convolution on the CPU): the losses and every parameter after each step
                  must agree within a bound derived from the precision of the arithmetic
                  (bound() below). Rounding differences have not grown yet, so a wrong
                  gradient shows at once.
statistical       several seeds per implementation trained to the end on data whose loss
agreement         plateaus above zero; safeconv's mean final training loss and held-out accuracy
                  must lie in the band the two reference implementations span, widened by the
                  seed-to-seed spread (band() below).

The statistical check's roles (Roles: the candidate, the base each seed is paired with, the
second reference that sets the band) are parameters: `examples/train.py --compare-bn` runs it
on batch norm (PyTorch's kernels against cuDNN's, the band from PyTorch's cuDNN path).

examples/train.py holds the models, the data and the training loop; this file only compares.
"""
import math

import torch
import torch.nn.functional as F


class NonFiniteLoss(RuntimeError):
    """A training run's loss became inf or NaN (raised by examples/train.py's train())."""

# Unit roundoff u (half the distance from 1 to the next number) of the arithmetic in which two
# correct implementations can differ: fp32 with TF32 off, TF32 (10 explicit mantissa bits:
# the operands are rounded to it), fp16 and bf16 (AMP: operands and results stored in the
# 16-bit type, accumulation in fp32).
UNIT_ROUNDOFF = {"fp32": 2.0 ** -24, "tf32": 2.0 ** -11, "fp16": 2.0 ** -11, "bf16": 2.0 ** -8}

# Growth factors G (bound = G * u), per quantity and precision. How they are derived
# (docs/pytorch.md, "What --compare checks", has the table):
#
# layer   each convolution of the first step recomputed by the reference from the same tensors.
#   fp32: the two sides differ only in summation order. A dot product of length n summed in
#   two orders differs by about sqrt(n) u (Higham and Mary's probabilistic bound; the worst
#   case n u does not happen with rounding to nearest), and a sum that cancels (a weight
#   gradient is a sum of positive and negative products) loses up to another sqrt(n)
#   relative to its result: n u in all, n <= 2^15 here (backward-weight sums over batch x
#   output pixels, 32 x 32 x 32 at the stem). G = 2^15: 2.0e-3, 5x below the 1e-2 of a
#   gradient scaled by 1.01, and above Winograd's error should cuDNN choose it. (Measured on
#   the CPU: <= 1.6e-6.)
#   fp16, bf16 (AMP): both sides accumulate in fp32 and round the result once to the 16-bit
#   type. Their fp32 sums differ by ~1e-6 relative, so the rounded results are equal except
#   where the two sums straddle a rounding boundary, and there they differ by one unit in the
#   last place (2u) on a few elements: the norm of the difference is far below u. G = 1.
#   (Measured, bf16 on the CPU: <= 1.7e-4 = 0.04 u; a gradient scaled by 1.01, 2.6 u before
#   rounding: >= 7.7e-3.)
#   tf32: the operands are rounded to TF32 (u = 2^-11) and the products summed in fp32; two
#   implementations may round the operands differently (to nearest, or truncating): up to ~2u
#   per product, less after the sum. G = 8 (3.9e-3).
# loss    |loss_s - loss_c| / |loss_c| of each step judged. The loss is a mean over the batch
#   and well conditioned: G = the layer's fp32 G (measured, fp32, steps 1-3: <= 2.7e-4 = 2^12
#   u). In the short formats the loss of step 2 on already carries step 1's gradient
#   differences (below), so only step 1's (the forward pass) is judged there: G = 4.
# param   ||P_s - P_c|| / ||P_c - P_0|| after step 1 (same weights, same batch: the gradients'
#   difference relative to the update). The backward pass through ~20 normalised layers of a
#   network at initialisation (a gradient that is a small difference of large terms)
#   amplifies the layers' differences: measured in fp32 between two correct CPU
#   implementations (oneDNN and PyTorch's im2col + GEMM), ResNet-18 batch 32: 2.1e-3 = 2^15 u
#   from layers that differ by 1e-6; G = 2^17 (7.8e-3, still below a 1.01 scale's 1e-2). In
#   bf16 two correct implementations' step-1 gradients differ by 2^2 u (YOLO-style) to 2^6 u
#   (ResNet-18): G = 2^7 (0.5). In fp16 (AMP with GradScaler) the two correct GPU
#   implementations, cuDNN and PyTorch's own convolution, differed by 2^7.5 u on ResNet-18
#   (9.1e-2 at seed 0; 2^7 u, bf16's G, failed them): G = 2^9 (0.25); a 1.01 scale is the
#   layer check's to see, as in bf16. After step 1 the difference grows chaotically (ResNet-18,
#   fp32: 2e-3, 3e-2, 0.11 over steps 1-3), so later steps are printed, not judged.
# drift   <d, D> / ||D||^2 after step 1 (d = P_s - P_c, D = P_c - P_0): the signed part of
#   the difference along the update. Rounding differences and their amplification point
#   every way and nearly cancel here (measured in fp32: <= 1e-5 where param was 2.1e-3);
#   a gradient scaled by 1.01 gives +1e-2. fp32: G = 2^15 (2.0e-3). bf16: the 16-bit
#   roundings shrink the whole update a little on either side (measured -2.2e-2 = 2^2.5 u
#   between two correct implementations on ResNet-18): G = 2^4; in bf16 the layer check is
#   the sharp one.
GROWTH = {
    "fp32": {"layer": 2.0 ** 15, "loss": 2.0 ** 15, "param": 2.0 ** 17, "drift": 2.0 ** 15},
    "tf32": {"layer": 8.0, "loss": 4.0, "param": 2.0 ** 7, "drift": 2.0 ** 4},
    "fp16": {"layer": 1.0, "loss": 4.0, "param": 2.0 ** 9, "drift": 2.0 ** 4},
    "bf16": {"layer": 1.0, "loss": 4.0, "param": 2.0 ** 7, "drift": 2.0 ** 4},
}


def precision_of(args, device):
    """The arithmetic of the run: the AMP dtype, else tf32 when allowed on a GPU, else fp32."""
    if args.amp in ("bf16", "fp16"):
        return args.amp
    return "tf32" if args.tf32 and device.type == "cuda" else "fp32"


def bounds(precision):
    """{"layer", "loss", "param", "drift"}: G x u for the precision."""
    return {k: g * UNIT_ROUNDOFF[precision] for k, g in GROWTH[precision].items()}


def loss_steps_judged(precision, early_steps):
    """fp32: the loss of every early step; the short formats: step 1's (see GROWTH)."""
    return early_steps if precision == "fp32" else min(1, early_steps)


def _flat(tensors):
    return torch.cat([t.reshape(-1).double().cpu() for t in tensors])


def _rel(a, b):
    """||a - b|| / ||b|| in float64 (0 when both are zero)."""
    a, b = a.double(), b.double()
    nb = float(b.norm())
    nd = float((a - b).norm())
    return nd / nb if nb > 0 else (0.0 if nd == 0 else math.inf)


def layer_metrics(layers):
    """Each convolution of the first step recomputed with PyTorch's convolution (whatever
    set_vendor_mode chose: cuDNN / oneDNN) from the tensors safeconv saw: the relative norm
    difference of the output, the input gradient and the weight gradient. Same inputs on
    both sides, so this is the convolution alone, in the dtype it ran in."""
    out = []
    for rec in layers:
        if rec["dy"] is None:
            continue
        dt = rec["y"].dtype
        x = rec["x"].to(dt).requires_grad_(rec["dx"] is not None)
        w = rec["w"].to(dt).requires_grad_(True)
        b = None if rec["b"] is None else rec["b"].to(dt)
        with torch.enable_grad():
            y = F.conv2d(x, w, b, rec["stride"], rec["padding"], rec["dilation"], rec["groups"])
            want = (x, w) if rec["dx"] is not None else (w,)
            grads = torch.autograd.grad(y, want, rec["dy"].to(dt))
        m = {"name": rec["name"], "forward": _rel(rec["y"], y.detach())}
        if rec["dx"] is not None:
            m["backward_data"] = _rel(rec["dx"].to(dt), grads[0])
        if rec["dw"] is not None:
            m["backward_weight"] = _rel(rec["dw"], grads[-1].to(rec["dw"].dtype))
        out.append(m)
    return out


def early_metrics(ref, run):
    """Per step t = 1..T of two runs with snapshots (train(..., snapshots=T)), over all the
    parameters as one vector:

    loss    |loss_run - loss_ref| / |loss_ref| of step t's loss (step 1: the initial weights;
            later steps: after t-1 updates)
    param   ||P_run - P_ref|| / ||P_ref - P_0||: the difference of the two runs' parameters
            relative to the reference's update so far (the weights themselves are much larger
            than their update, and would hide it)
    drift   <d, D> / ||D||^2 with d = P_run - P_ref, D = P_ref - P_0: the signed part of the
            difference along the reference's update (a gradient scaled by 1.01 gives +0.01;
            rounding differences point every way and mostly cancel here). |drift| <= param.
    """
    out = []
    p0 = ref["params"][0]
    for t in range(1, len(ref["params"])):
        D = _flat([a - a0 for a, a0 in zip(ref["params"][t], p0)])
        d = _flat([b - a for a, b in zip(ref["params"][t], run["params"][t])])
        dn = float(D.norm())
        lr, ls = ref["losses"][t - 1], run["losses"][t - 1]
        out.append({"step": t, "loss": abs(ls - lr) / abs(lr),
                    "param": float(d.norm()) / dn if dn > 0 else math.inf,
                    "drift": float(torch.dot(d, D)) / dn ** 2 if dn > 0 else math.inf})
    return out


def _fmt_bound(precision, key):
    g = GROWTH[precision][key]
    return "%.2e (2^%g u)" % (g * UNIT_ROUNDOFF[precision], math.log2(g))


def _verdict(ok):
    return "PASS" if ok else "FAIL"


def early_check(model_name, args, device, tr):
    """The early-agreement check of one model. tr: train and set_vendor_mode from
    examples/train.py. Returns a dict with the numbers and "pass"."""
    prec = precision_of(args, device)
    T = args.early_steps
    b = bounds(prec)
    judged = loss_steps_judged(prec, T)
    ref = tr.train(model_name, "cudnn", args, device, steps=T, snapshots=T, quiet=True)
    try:
        run = tr.train(model_name, "safeconv", args, device, steps=T, snapshots=T, quiet=True,
                       capture_layers=True)
    except NonFiniteLoss as e:
        print("  %-8s early agreement: safeconv's %s where the reference's is not: FAIL"
              % (model_name, e))
        return {"precision": prec, "bounds": b, "pass": False, "diverged": True}
    tr.set_vendor_mode("cudnn", args.tf32)
    layers = layer_metrics(run.pop("layers"))
    traj = early_metrics(ref, run)
    # For scale, not judged: the same trajectory with PyTorch's own convolution (cuDNN off,
    # or mkldnn off on the CPU) against the reference, two implementations that are correct.
    floor = None
    if args.early_floor:
        other = tr.train(model_name, "nocudnn", args, device, steps=T, snapshots=T, quiet=True)
        floor = early_metrics(ref, other)
    print("  %-8s early agreement, %s (u = %.2e), seed %d, safeconv vs %s:"
          % (model_name, prec, UNIT_ROUNDOFF[prec], args.seed, reference_name(device)))
    worst = {}
    for key in ("forward", "backward_data", "backward_weight"):
        vals = [(m[key], m["name"]) for m in layers if key in m]
        if vals:
            worst[key] = max(vals)
    layers_ok = bool(layers) and all(v[0] <= b["layer"] for v in worst.values())
    print("    layers of step 1 (%d convolutions, same tensors), worst: %s; bound %s: %s"
          % (len(layers), ", ".join("%s %.2e (%s)" % (k, v[0], v[1]) for k, v in worst.items()),
             _fmt_bound(prec, "layer"), _verdict(layers_ok)))
    ok = layers_ok
    checks = []
    for i, m in enumerate(traj):
        fl = floor[i] if floor else None
        step = m["step"]
        parts = []
        if step <= judged:
            good = m["loss"] <= b["loss"]
            checks.append(good)
            parts.append("loss %.2e (bound %s) %s" % (m["loss"], _fmt_bound(prec, "loss"),
                                                      _verdict(good)))
        else:
            parts.append("loss %.2e (not judged)" % m["loss"])
        if step == 1:
            good_p, good_d = m["param"] <= b["param"], abs(m["drift"]) <= b["drift"]
            checks += [good_p, good_d]
            parts.append("parameters %.2e (bound %s) %s" % (m["param"], _fmt_bound(prec, "param"),
                                                            _verdict(good_p)))
            parts.append("drift %+.2e (bound %s) %s" % (m["drift"], _fmt_bound(prec, "drift"),
                                                        _verdict(good_d)))
        else:
            parts.append("parameters %.2e, drift %+.2e (not judged)" % (m["param"], m["drift"]))
        if fl is not None:
            parts.append("[%s vs reference: loss %.2e, parameters %.2e, drift %+.2e]"
                         % (floor_name(device), fl["loss"], fl["param"], fl["drift"]))
        print("    step %d: %s" % (step, "; ".join(parts)))
    ok = ok and all(checks)
    print("  %-8s early agreement: %s" % (model_name, _verdict(ok)))
    return {"precision": prec, "bounds": b, "loss_steps_judged": judged, "layers": layers,
            "trajectory": traj, "floor_trajectory": floor, "pass": ok}


def reference_name(device):
    return "cuDNN" if device.type == "cuda" else "PyTorch's CPU convolution (oneDNN)"


def floor_name(device):
    return "cuDNN off" if device.type == "cuda" else "mkldnn off"


def _mean_var(v):
    m = sum(v) / len(v)
    var = sum((x - m) ** 2 for x in v) / (len(v) - 1) if len(v) > 1 else 0.0
    return m, var


class Roles:
    """Who plays which part in the statistical check (band(), statistical_check()).

    candidate  the implementation judged
    base       what each seed's runs are paired against: d = value - base's value, per seed
    reference  a second correct implementation that differs from the base; its mean d shows
               how far a legitimate change of implementation moves the outcome (the band)
    names      the label of each mode in the printed lines
    title      what the check is called in its verdict line

    --compare: safeconv against cuDNN and PyTorch's own convolution (compare_roles());
    examples/train.py --compare-bn casts its own."""

    def __init__(self, candidate, base, reference, names, title):
        self.candidate, self.base, self.reference = candidate, base, reference
        self.names, self.title = names, title

    @property
    def modes(self):
        """The modes in the order each seed trains them."""
        return [self.candidate, self.base, self.reference]


def compare_roles(device):
    """--compare's roles: safeconv judged, paired against cuDNN (oneDNN on the CPU), the band
    from PyTorch's own convolution (cuDNN off; mkldnn off on the CPU)."""
    return Roles("safeconv", "cudnn", "nocudnn",
                 {"safeconv": "safeconv", "cudnn": "cudnn" if device.type == "cuda" else "onednn",
                  "nocudnn": floor_name(device).replace(" ", "-")},
                 "statistical agreement")


def band(values, k, candidate="safeconv", base="cudnn", reference="nocudnn"):
    """values: {candidate: [...], base: [...], reference: [...]}, one value per seed, the i-th
    of each from the same seed (same initial weights, same batches). The defaults are
    --compare's roles (Roles).

    Runs of one seed are paired: what two implementations share (the seed's luck) cancels in
    their difference, and the seed-to-seed spread of whole runs (0.2 in loss on the CPU
    test, from a seed whose run got stuck) would hide any implementation's effect. So with
    d_m = values[m] - values[base] per seed: the band is the span of the two references'
    mean differences [min(0, mean d_reference), max(0, mean d_reference)] (the base's own is
    0), widened on each side by k standard errors s / sqrt(n), s the seed-to-seed standard
    deviation of the differences pooled over the candidate's and the reference's; the
    candidate's mean difference must lie inside. (Once training has decorrelated the runs, s
    becomes the plain seed-to-seed spread.) The result names the candidate's mean difference
    "<candidate>_diff" (also in diff_means) and keeps the per-seed differences ("diffs")."""
    n = len(values[candidate])
    roles = {"candidate": candidate, "base": base, "reference": reference}
    if not all(math.isfinite(v) for v in values[candidate]):
        return {"roles": roles, "means": {}, "sds": {}, "diffs": {},
                "diff_means": {candidate: math.nan, reference: math.nan},
                "diff_sd": math.nan, "widening": math.nan, "band": [math.nan, math.nan],
                candidate + "_diff": math.nan, "pass": False, "diverged": True}
    d = {m: [a - c for a, c in zip(values[m], values[base])] for m in (candidate, reference)}
    mv = {m: _mean_var(v) for m, v in d.items()}
    s = math.sqrt(sum(var for _, var in mv.values()) / len(mv))
    w = k * s / math.sqrt(n)
    ref = mv[reference][0]
    lo, hi = min(0.0, ref) - w, max(0.0, ref) + w
    mean = mv[candidate][0]
    return {"roles": roles, "means": {m: _mean_var(v)[0] for m, v in values.items()},
            "sds": {m: math.sqrt(_mean_var(v)[1]) for m, v in values.items()}, "diffs": d,
            "diff_means": {m: x[0] for m, x in mv.items()}, "diff_sd": s, "widening": w,
            "band": [lo, hi], candidate + "_diff": mean, "pass": lo <= mean <= hi}


def statistical_check(model_name, args, device, tr, roles=None):
    """--seeds runs per implementation, --steps steps each; the final training loss (mean of
    the last 20 steps) and the held-out accuracy as distributions (band()). roles (Roles):
    who is judged against whom; default --compare's (compare_roles())."""
    roles = compare_roles(device) if roles is None else roles
    cand, base, ref = roles.candidate, roles.base, roles.reference
    names = roles.names
    seeds = [args.seed + i for i in range(args.seeds)]
    modes = roles.modes
    runs = {m: [] for m in modes}
    width = max([8] + [len(m) for m in modes])  # the mode column (8: --compare's)
    for seed in seeds:
        for m in modes:
            try:
                r = tr.train(model_name, m, args, device, seed=seed, quiet=True)
            except NonFiniteLoss:
                if m != cand:
                    raise
                # the candidate diverged where the references did not: a FAIL, not a crash
                r = {"final_loss": math.inf, "eval_acc": 0.0, "eval_loss": math.inf,
                     "images_per_s": math.nan, "losses": None, "diverged": True}
            r.pop("losses")
            runs[m].append(r)
            print("    %-8s seed %d %-*s final loss %.4f, held-out accuracy %.3f, loss %.4f, "
                  "%.0f images/s" % (model_name, seed, width, m, r["final_loss"], r["eval_acc"],
                                     r["eval_loss"], r["images_per_s"]))
    out = {"seeds": seeds, "steps": args.steps, "runs": runs}
    ok = True
    for metric, label in (("final_loss", "final training loss"),
                          ("eval_acc", "held-out accuracy")):
        b = band({m: [r[metric] for r in runs[m]] for m in modes}, args.band_k,
                 candidate=cand, base=base, reference=ref)
        out[metric] = b
        ok &= b["pass"]
        if b.get("diverged"):
            print("  %-8s %s: a %s run diverged (the references did not): FAIL"
                  % (model_name, label, names[cand]))
            continue
        print("  %-8s %s, %d seeds: means %s %.4f, %s %.4f, %s %.4f (seed-to-seed sd "
              "%.4f); minus %s's per seed: %s %+.4f, %s %+.4f; band [%+.4f, %+.4f] (the "
              "references' span +- %g x %.4f/sqrt(%d)): %s"
              % (model_name, label, len(seeds), names[cand], b["means"][cand], names[base],
                 b["means"][base], names[ref], b["means"][ref],
                 b["sds"][base], names[base], names[cand], b["diff_means"][cand],
                 names[ref], b["diff_means"][ref], b["band"][0], b["band"][1],
                 args.band_k, b["diff_sd"], len(seeds), "PASS" if b["pass"] else "FAIL"))
    tput = [s["images_per_s"] / c["images_per_s"] for s, c in zip(runs[cand], runs[base])]
    out["throughput_ratio"] = sum(tput) / len(tput)  # nan if a run diverged
    out["pass"] = ok
    print("  %-8s %s: %s (throughput %s/%s %.2fx)"
          % (model_name, roles.title, "PASS" if ok else "FAIL", names[cand], names[base],
             out["throughput_ratio"]))
    return out


def compare(model_name, args, device, tr):
    """Both checks for one model (those in args.checks); the verdict is PASS when all pass."""
    out = {"model": model_name}
    ok = True
    if "early" in args.checks:
        out["early"] = early_check(model_name, args, device, tr)
        ok &= out["early"]["pass"]
    if "stat" in args.checks:
        out["statistical"] = statistical_check(model_name, args, device, tr)
        ok &= out["statistical"]["pass"]
    out["pass"] = ok
    print("  %-8s verdict: %s" % (model_name, "PASS" if ok else "FAIL"))
    return out
