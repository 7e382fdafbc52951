"""probe_model(): collect every convolution shape a model uses and probe them all up front.

Collection runs one forward pass of the model under torch.no_grad() with every convolution
routed through safeconv's own kernels (strategy "gpu", CPU fallback allowed), so collecting
never touches the vendor library that probing is meant to vet. Each distinct descriptor is
then probed through the C library's sc_probe_suite (docs/guard.md): one child
process per shape and direction under a watchdog, results kept in the selection cache, where
strategy "auto" reads them. Progress goes to stderr (the library draws it).

A conv_transpose2d layer uses the same three directions of its descriptor as a conv2d
(its forward is backward-data), so every shape is probed for forward, backward-data and
backward-weight unless `directions` says otherwise.
"""
import ctypes

import torch

from . import _lib as L
from . import functional as SF
from .config import Config


class ProbeOptions(ctypes.Structure):
    """sc_probe_options (include/safeconv.h, guard section)."""
    _fields_ = [("device", ctypes.c_int), ("deterministic", ctypes.c_int),
                ("watchdog_s", ctypes.c_double), ("slow_s", ctypes.c_double),
                ("tolerance", ctypes.c_double), ("repeats", ctypes.c_int),
                ("force", ctypes.c_int), ("cache_path", ctypes.c_char_p),
                ("helper", ctypes.c_char_p), ("progress", ctypes.c_int),
                ("on_result", ctypes.c_void_p), ("user", ctypes.c_void_p),
                ("seed", ctypes.c_uint64)]


class ProbeResult(ctypes.Structure):
    """sc_probe_result."""
    _fields_ = [("desc", L.ConvDesc), ("dir", ctypes.c_int), ("outcome", ctypes.c_int),
                ("signal", ctypes.c_int), ("from_cache", ctypes.c_int),
                ("child_pid", ctypes.c_int), ("use_vendor", ctypes.c_int),
                ("vendor_algo", ctypes.c_int), ("vendor_ms", ctypes.c_double),
                ("safeconv_ms", ctypes.c_double), ("first_call_ms", ctypes.c_double),
                ("rel_error", ctypes.c_double), ("elapsed_s", ctypes.c_double),
                ("workspace", ctypes.c_uint64), ("detail", ctypes.c_char * 192)]


# The library's names (sc_probe_outcome_name) are used; this copy is for older builds.
OUTCOMES = ("seen", "ok", "hang", "crash", "error", "wrong", "slow", "no-vendor")
_DESC_FIELDS = [f for f, _ in L.ConvDesc._fields_]


def _desc_key(d):
    return tuple(getattr(d, f) for f in _DESC_FIELDS)


def collect_conv_shapes(model, example_input, **forward_kwargs):
    """Run model(example_input, **forward_kwargs) once without gradients and return the distinct
    convolutions it ran, in order of first use: a list of
    {"device": torch.device, "desc": {field: value}, "kind": "conv2d" | "conv_transpose2d"}.
    `example_input` may be a tensor or a tuple of positional arguments."""
    seen, out = set(), []

    def collect(kind, device, d):
        key = (str(device), _desc_key(d))
        if key not in seen:
            seen.add(key)
            out.append({"device": device, "desc": dict(zip(_DESC_FIELDS, key[1])), "kind": kind})

    args = example_input if isinstance(example_input, tuple) else (example_input,)
    cfg = Config(strategy="gpu", allow_cpu=True, fallback="torch")
    prev = SF._collector
    SF._collector = (collect, cfg)
    try:
        from . import _patch
        with _patch.enable(strategy="gpu", allow_cpu=True, fallback="torch"), torch.no_grad():
            model(*args, **forward_kwargs)
    finally:
        SF._collector = prev
    return out


def probe_available():
    """True if the loaded libsafeconv has the guard's probe (sc_probe_suite)."""
    return L.has_symbol("sc_probe_suite") and L.has_symbol("sc_probe_options_init")


def _declare(lib):
    lib.sc_probe_options_init.restype = None
    lib.sc_probe_options_init.argtypes = [ctypes.POINTER(ProbeOptions)]
    lib.sc_probe_suite.restype = ctypes.c_int
    lib.sc_probe_suite.argtypes = [ctypes.POINTER(ProbeOptions), ctypes.POINTER(L.ConvDesc),
                                   ctypes.c_size_t, ctypes.c_uint, ctypes.POINTER(ProbeResult)]
    if L.has_symbol("sc_probe_outcome_name"):
        lib.sc_probe_outcome_name.restype = ctypes.c_char_p
        lib.sc_probe_outcome_name.argtypes = [ctypes.c_int]


def _outcome_name(lib, o):
    if L.has_symbol("sc_probe_outcome_name"):
        name = lib.sc_probe_outcome_name(o)
        if name:
            return name.decode()
    return OUTCOMES[o] if 0 <= o < len(OUTCOMES) else str(o)


def probe_model(model, example_input, directions=("forward", "backward_data", "backward_weight"),
                force=False, watchdog_s=None, slow_s=None, deterministic=True, cache_path=None,
                progress=True, **forward_kwargs):
    """Collect every convolution shape of `model` (one forward pass on `example_input`) and probe
    each through the vendor library in watched child processes, recording the outcomes in the
    selection cache so that strategy "auto" uses the vendor library only where it was safe,
    correct and faster. Returns one dict per shape and direction: the descriptor, "kind",
    "device", "direction", "outcome" ("ok", "hang", "crash", "error", "wrong", "slow",
    "no-vendor"), "use_vendor", "from_cache", "vendor_ms", "safeconv_ms", "first_call_ms",
    "rel_error", "detail".

    Raises SafeConvUnsupportedError when this build of libsafeconv has no probe (built before
    the guard) -- nothing is probed then. A GPU probe needs the `safeconv` executable for its
    child processes: next to libsafeconv.so (a full `make` puts it there), or $SAFECONV_TOOL."""
    if not probe_available():
        raise L.SafeConvUnsupportedError(
            "probe_model: this build of libsafeconv (%s) has no probe (sc_probe_suite); it was "
            "built without the guard. Rebuild the library from a tree with src/guard, or use "
            "strategy='gpu', which never calls the vendor library." % L.library_path())
    lib = L.load_library()
    _declare(lib)
    mask = 0
    for name in directions:
        if name not in L.DIRECTION_NAMES:
            raise L.SafeConvInputError("probe_model: unknown direction %r (expected %s)"
                                       % (name, ", ".join(L.DIRECTION_NAMES)))
        mask |= 1 << L.DIRECTION_NAMES.index(name)
    dirs = [i for i in range(4) if mask & (1 << i)]
    shapes = collect_conv_shapes(model, example_input, **forward_kwargs)
    by_device = {}
    for s in shapes:
        dev = s["device"]
        idx = L.DEVICE_CPU if dev.type == "cpu" else (dev.index if dev.index is not None
                                                      else torch.cuda.current_device())
        by_device.setdefault(idx, []).append(s)
    results = []
    for idx, group in by_device.items():
        opt = ProbeOptions()
        lib.sc_probe_options_init(ctypes.byref(opt))
        opt.device = idx
        opt.deterministic = 1 if deterministic else 0
        opt.force = 1 if force else 0
        opt.progress = 1 if progress else 0
        if watchdog_s is not None:
            opt.watchdog_s = float(watchdog_s)
        if slow_s is not None:
            opt.slow_s = float(slow_s)
        path = cache_path.encode() if cache_path else None
        opt.cache_path = path
        descs = (L.ConvDesc * len(group))()
        for i, s in enumerate(group):
            for f, v in s["desc"].items():
                setattr(descs[i], f, v)
        res = (ProbeResult * (len(group) * len(dirs)))()
        if idx >= 0:
            torch.cuda.synchronize(idx)  # nothing of ours in flight while children use the GPU
        L.check(lib.sc_probe_suite(ctypes.byref(opt), descs, len(group), mask, res),
                "sc_probe_suite")
        for i, s in enumerate(group):
            for j, dr in enumerate(dirs):
                r = res[i * len(dirs) + j]
                results.append({
                    "kind": s["kind"], "device": str(s["device"]), "desc": dict(s["desc"]),
                    "direction": L.DIRECTION_NAMES[dr],
                    "outcome": _outcome_name(lib, r.outcome),
                    "use_vendor": bool(r.use_vendor), "from_cache": bool(r.from_cache),
                    "signal": r.signal, "vendor_ms": r.vendor_ms, "safeconv_ms": r.safeconv_ms,
                    "first_call_ms": r.first_call_ms, "rel_error": r.rel_error,
                    "detail": r.detail.decode("utf-8", "replace")})
    return results
