"""Per-layer statistics: calls, which path served them, bypass rate, time; and report().

Each module that runs through safeconv gets a LayerStats (held in a WeakKeyDictionary, so
stats never keep a model alive and never enter its state_dict). Functional calls with no
module (F.conv2d from user code while enable() is active) are grouped by kind and shape.

Paths: "gpu" (safeconv's GPU kernels), "cpu" (safeconv's CPU backend, or a GPU context's CPU
fallback), "vendor" (cuDNN/MIOpen through the guard), "torch" (PyTorch's own convolution, only
with fallback="torch"). The bypass rate is the share of library calls that did not go to a
vendor library: (gpu + cpu) / all.

Time: on the CPU, wall time of each library call. On a GPU, the time between two CUDA events
recorded on the stream around a sample of the calls (the first TIME_FIRST of each direction,
then one in TIME_EVERY), read when report() runs (it synchronizes them); a direction's time is
its sampled mean times its calls. Creating and recording the two events costs more host time
than the rest of a library call (bench/NOTES.md, run 23), which a training step spends on every
layer; TIME_EVERY = 1 times every call.
"""
import collections
import sys
import threading
import weakref

from . import _lib as L
from . import _other_ops

_lock = threading.Lock()
_modules = weakref.WeakKeyDictionary()
_functional = collections.OrderedDict()

PATHS = ("gpu", "cpu", "vendor", "torch")

# GPU timing sample: the first TIME_FIRST calls of each direction, then every TIME_EVERY-th.
TIME_FIRST = 3
TIME_EVERY = 32

# The C++ layer's tally (csrc/layer_ops.cpp: TALLY_ALGOS, TALLY_MATHS, the two call counts
# after them): calls per direction, algorithm id and math label.
CPP_TALLY_DIRECTIONS = 4
CPP_TALLY_ALGOS = 32
CPP_TALLY_MATHS = 4
CPP_TALLY_MATH_LABELS = ("fp32", "tf32", "fp16", "bf16")
CPP_TALLY_SIZE = CPP_TALLY_DIRECTIONS * CPP_TALLY_ALGOS * CPP_TALLY_MATHS + 2


class LayerStats:
    """One layer's (or functional group's) statistics. A library call costs one dict update
    here (add): the per-direction, per-path, per-algorithm and per-math counts are read from
    that tally when asked for (a training step adds three calls per layer, on the host's
    critical path)."""

    def __init__(self, kind):
        self.kind = kind
        self._fwd_calls = 0
        self._bwd_calls = 0
        # (direction, path, algo id or None, math) -> library calls
        self._tally = collections.defaultdict(int)
        self.torch_calls = 0  # calls PyTorch computed instead (fallback="torch")
        self.shape = None
        self.desc_cache = None  # functional: (call key, descriptor, (P, Q), ...) of the last call
        self.timed_s = [0.0, 0.0, 0.0, 0.0]  # per direction: seconds of the timed calls
        self.timed_n = [0, 0, 0, 0]  # per direction: how many calls were timed
        self._dir_n = [0, 0, 0, 0]  # per direction: library calls
        self._pending = []  # (direction, start, end) CUDA events not yet read
        # The C++ layer's calls (functional._cpp_call): its tally, an int64 tensor the
        # operators add to (layer_ops.cpp, "statistics"), or None; and the forward calls it took
        # (counted here in Python, for the timing sample). The C++ layer times nothing: a
        # call the sample wants goes through the Python layer.
        self.cpp_tally = None
        self.cpp_calls = 0
        # functional._cpp_call: (descriptor-cache entry, context, weight strides, math mode,
        # layer_ops _Entry, its id) of the last call through the C++ layer
        self.cpp_entry = None

    def want_time(self, direction):
        """Whether the next GPU call in `direction` is to be timed (the sample)."""
        n = self._dir_n[direction] + self.cpp_calls
        return n < TIME_FIRST or n % TIME_EVERY == 0

    def _cpp_counts(self):
        """The C++ layer's library calls as {(direction, path, algo, math): calls}
        (layer_ops.cpp's TALLY_* layout; its last two values are _cpp_user_calls)."""
        t = self.cpp_tally
        if t is None:
            return {}
        vals = t.tolist()
        out = {}
        n = CPP_TALLY_DIRECTIONS * CPP_TALLY_ALGOS * CPP_TALLY_MATHS
        for i in range(n):
            if vals[i]:
                m = i % CPP_TALLY_MATHS
                algo = (i // CPP_TALLY_MATHS) % CPP_TALLY_ALGOS
                direction = i // (CPP_TALLY_MATHS * CPP_TALLY_ALGOS)
                out[(direction, L.algo_path(algo), algo, CPP_TALLY_MATH_LABELS[m])] = vals[i]
        return out

    def _cpp_user_calls(self):
        """The C++ layer's (forward calls, backward calls)."""
        t = self.cpp_tally
        return (0, 0) if t is None else tuple(t[-2:].tolist())

    # The user's calls of the layer (the Python layer counts in _fwd_calls and _bwd_calls)
    @property
    def forward_calls(self):
        return self._fwd_calls + self._cpp_user_calls()[0]

    @property
    def backward_calls(self):
        return self._bwd_calls + self._cpp_user_calls()[1]

    def _all_tally(self):
        """The Python layer's tally with the C++ layer's added."""
        out = dict(self._tally)
        for key, n in self._cpp_counts().items():
            out[key] = out.get(key, 0) + n
        return out

    def _calls_per_direction(self):
        n = list(self._dir_n)
        for key, v in self._cpp_counts().items():
            n[key[0]] += v
        return n

    def add(self, direction, path, algo, seconds=None, events=None, math=None):
        """One library call. seconds: its measured time (CPU); events: (start, end) CUDA
        events around it (GPU, sampled calls only); math: the arithmetic it ran in."""
        self._dir_n[direction] += 1
        self._tally[(direction, path, algo, math)] += 1
        if seconds is not None:
            self.timed_s[direction] += seconds
            self.timed_n[direction] += 1
        if events is not None:
            self._pending.append((direction,) + tuple(events))
            if len(self._pending) > 256:
                self._resolve(block=False)

    def _count(self, field, name=lambda v: v):
        out = collections.Counter()
        for key, n in self._all_tally().items():
            if key[field] is not None:
                out[name(key[field])] += n
        return out

    @property
    def direction_calls(self):
        """Counter: library calls per direction ("forward", "backward_data", ...)."""
        return self._count(0, lambda d: L.DIRECTION_NAMES[d])

    @property
    def paths(self):
        """Counter: calls per path ("gpu", "cpu", "vendor", "torch")."""
        out = self._count(1)
        if self.torch_calls:
            out["torch"] = self.torch_calls
        return out

    @property
    def algos(self):
        """Counter: library calls per algorithm name."""
        return self._count(2, L.algo_name)

    @property
    def maths(self):
        """Counter: library calls per arithmetic ("fp32", "tf32", "fp16", "bf16")."""
        return self._count(3)

    def _resolve(self, block):
        keep = []
        for direction, start, end in self._pending:
            if block:
                end.synchronize()
            elif not end.query():
                keep.append((direction, start, end))
                continue
            self.timed_s[direction] += start.elapsed_time(end) / 1000.0
            self.timed_n[direction] += 1
        self._pending = keep

    @property
    def time_s(self):
        """Seconds in the library: per direction, the timed calls' mean times all its calls
        (the exact sum where every call was timed). Reads pending events without waiting."""
        if self._pending:
            self._resolve(block=False)
        calls = self._calls_per_direction()
        return sum(self.timed_s[d] / self.timed_n[d] * calls[d]
                   for d in range(4) if self.timed_n[d])

    def as_dict(self):
        self._resolve(block=True)
        paths, maths = self.paths, self.maths
        lib_calls = sum(n for p, n in paths.items() if p != "torch")
        all_calls = sum(paths.values())
        bypassed = paths["gpu"] + paths["cpu"]
        main = paths.most_common(1)[0][0] if paths else "-"
        return {
            "type": self.kind,
            "shape": self.shape,
            "forward_calls": self.forward_calls,
            "backward_calls": self.backward_calls,
            "calls": dict(self.direction_calls),
            "library_calls": lib_calls,
            "path": main if len(paths) <= 1 else "mixed",
            "paths": {p: paths[p] for p in PATHS if paths[p]},
            "algos": dict(self.algos),
            "math": next(iter(maths)) if len(maths) == 1 else "mixed" if maths else "-",
            "maths": dict(maths),
            "bypass_rate": (bypassed / all_calls) if all_calls else 0.0,
            "time_s": self.time_s,
            "timed_calls": sum(self.timed_n),
        }


def record_for(layer, kind, shape_key=None):
    """The LayerStats of `layer` (a module), or of the functional group (kind, shape_key)."""
    if layer is not None:
        rec = _modules.get(layer)
        if rec is None:
            with _lock:
                rec = _modules.get(layer)
                if rec is None:
                    rec = LayerStats(type(layer).__name__)
                    _modules[layer] = rec
        return rec
    key = (kind, shape_key)
    rec = _functional.get(key)
    if rec is None:
        with _lock:
            rec = _functional.get(key)
            if rec is None:
                rec = LayerStats("F." + kind)
                _functional[key] = rec
    return rec


def reset_stats():
    """Forget every statistic gathered so far."""
    with _lock:
        _modules.clear()
        _functional.clear()


def _is_conv(m):
    import torch.nn as nn
    return isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d))


class Report(collections.OrderedDict):
    """report()'s result: {layer name: {...}} whose str() is the table, so that
    `print(safeconv.report(model))` prints the table (once) and `rows = safeconv.report(model)`
    keeps the numbers. other_ops: which of PyTorch's other operators (batch norm, RNNs) are kept
    off the vendor library while enable() is active, and why (_other_ops.status())."""

    other_ops = None

    def __str__(self):
        text = format_table(self)
        if self.other_ops is not None:
            text += "\nother operators: " + _other_ops.describe(self.other_ops)
        return text


def report(model=None, print_table=False, file=None):
    """Per-layer statistics as a Report: a dict {layer name: {...}} whose str() is a table.
    It prints nothing unless print_table=True (then the table goes to `file`, default stdout):
    `print(safeconv.report(model))` or `rows = safeconv.report(model)`, never both at once.

    With a model: every Conv1d/Conv2d/ConvTranspose2d in it (by its name in
    model.named_modules(), including layers that never ran) and every other module of it that
    ran through safeconv. Without one: every module seen so far. Functional calls (F.conv2d and
    friends outside a Conv module) are listed after the layers as "F.<kind> <shape>".
    Each entry has: type, shape (input shape of the last call), forward_calls, backward_calls,
    calls (per direction), library_calls, path ("gpu", "cpu", "vendor", "torch" or "mixed"),
    paths (calls per path), algos, math ("fp32", "tf32", "fp16", "bf16" or "mixed": the
    arithmetic of its library calls; "tf32" only for fp32 tensors on the matrix-unit GEMM
    with TF32 allowed), maths (calls per math), bypass_rate, time_s.
    The Report's other_ops attribute (and the table's last line) says which of PyTorch's other
    cuDNN/MIOpen operators enable() keeps on PyTorch's kernels, and why: {"bypassed",
    "vendor", "operators", "reason", "cudnn_enabled"}.
    """
    out = Report()
    out.other_ops = _other_ops.status()
    if model is not None:
        for name, m in model.named_modules():
            rec = _modules.get(m)
            if rec is None and not _is_conv(m):
                continue
            out[name or "(model)"] = (rec or LayerStats(type(m).__name__)).as_dict()
    else:
        for m, rec in list(_modules.items()):
            out["%s@%x" % (type(m).__name__, id(m))] = rec.as_dict()
    for (kind, shape), rec in list(_functional.items()):
        out["F.%s %s" % (kind, shape)] = rec.as_dict()
    if print_table:
        print(str(out), file=file or sys.stdout)
    return out


def format_table(rows):
    head = ("layer", "type", "fwd", "bwd", "path", "math", "bypass", "time ms", "algorithms")
    lines = []
    for name, r in rows.items():
        algos = ", ".join("%s:%d" % kv for kv in sorted(r["algos"].items())) or "-"
        lines.append((name, r["type"], str(r["forward_calls"]), str(r["backward_calls"]),
                      r["path"], r.get("math", "-"),
                      "%.0f%%" % (100 * r["bypass_rate"]) if r["paths"] else "-",
                      "%.2f" % (1000 * r["time_s"]), algos))
    widths = [max([len(h)] + [len(l[i]) for l in lines]) for i, h in enumerate(head)]
    fmt = "  ".join("%%-%ds" % w for w in widths[:-1]) + "  %s"
    total_f = sum(r["forward_calls"] for r in rows.values())
    total_b = sum(r["backward_calls"] for r in rows.values())
    total_t = sum(r["time_s"] for r in rows.values())
    text = [fmt % head, fmt % tuple("-" * w for w in widths)]
    text += [fmt % l for l in lines]
    text.append("%d layers, %d forward and %d backward calls, %.2f ms in safeconv"
                % (len(rows), total_f, total_b, 1000 * total_t))
    return "\n".join(text)
