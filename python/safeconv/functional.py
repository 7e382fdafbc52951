"""Convolutions through libsafeconv, with autograd: conv2d, conv1d, conv_transpose2d.

The signatures are torch.nn.functional's, so enable() can put these in its place.

Three primitives on one convolution `desc` (x: N,C,H,W -> y: N,K,P,Q), each a library call:
  forward           y  = conv(x, w) + b            sc_conv2d_forward
  backward_data     dx = conv^T(dy, w)             sc_conv2d_backward_data
  backward_weight   dw = dW(x, dy) (and db)        sc_conv2d_backward_weight (or _bias)
Each one's gradient is made of the others (PyTorch's convolution_backward formulas), so every
gradient can itself be differentiated (double backward: gradient penalties, Hessian-vector
products):
  forward:          dx = backward_data(dy, w), dw = backward_weight(x, dy), db = sum(dy)
  backward_data:    d/d dy = forward(ddx, w),    d/dw = backward_weight(ddx, dy)
  backward_weight:  d/dx = backward_data(dy, ddw), d/d dy = forward(x, ddw)
A plain first-order backward (no create_graph) calls the library directly, with the weight
and bias gradients in one backward_weight call, as before.

  conv2d            forward on the conv's descriptor.
  conv_transpose2d  backward_data of the convolution whose output is this input; bias added
                    (and its gradient summed) by PyTorch.
  conv1d            conv2d with height 1.

Layouts: an input in channels_last memory format (and not also plain contiguous) runs as
SC_NHWC with the weight made channels_last ((K,R,S,C/g) in memory, the header's NHWC weight)
and gives a channels_last output; anything else runs as SC_NCHW on contiguous copies.
Non-contiguous inputs are copied, never rejected.

Devices: CPU tensors run on a CPU context (strategy "cpu" unless force_strategy=True); CUDA
tensors (also ROCm builds of PyTorch, which call them "cuda") on the context of their GPU, on
torch.cuda.current_stream(). Tensors on other devices (meta, xla, ...), non-tensor arguments
(torch.fx proxies) and calls under torch.jit tracing or scripting go to PyTorch's own function
unchanged. Under torch.compile (PyTorch >= 2.4) the same primitives run as custom operators
(_compile.py), so the compiled graph has no break at a convolution.

dtypes: float32, float16 and bfloat16 (fp32 accumulation; the CPU backend widens half inputs
to float32 and rounds its outputs once). Others raise SafeConvUnsupportedError, or run
PyTorch's own convolution with fallback="torch". Under autocast the inputs are cast as
PyTorch's autocast casts them for that function and device, so the result has PyTorch's dtype.

fp32 on GPUs: TF32 where the Config's tf32 option allows it (None: follow PyTorch's
torch.backends.cudnn.allow_tf32, as cuDNN convolutions do), through the context's math mode.
"""
import ctypes
import hashlib
import logging
import operator
import os
import time

import torch
import torch.nn.functional as F

from . import _lib as L
from . import _stats
from .config import current_config

# PyTorch's own functions, taken before enable() can replace them.
TORCH_CONV1D = F.conv1d
TORCH_CONV2D = F.conv2d
TORCH_CONV_TRANSPOSE2D = F.conv_transpose2d
TORCH_PAD = F.pad

_DTYPES = {torch.float32: L.DTYPE_F32, torch.float16: L.DTYPE_F16, torch.bfloat16: L.DTYPE_BF16}
_DTYPE_LABELS = {L.DTYPE_F32: "fp32", L.DTYPE_F16: "fp16", L.DTYPE_BF16: "bf16"}
_FN_NAMES = {L.DIR_FORWARD: "sc_conv2d_forward", L.DIR_BACKWARD_DATA: "sc_conv2d_backward_data",
             L.DIR_BACKWARD_WEIGHT: "sc_conv2d_backward_weight",
             L.DIR_BACKWARD_BIAS: "sc_conv2d_backward_bias"}
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


# --- argument checks ---------------------------------------------------------------------------
def _int64(v, name):
    """v if it fits a C int64_t; else SafeConvInputError (ctypes would wrap it silently:
    padding=2**64+1 would run as padding 1)."""
    if v < _INT64_MIN or v > _INT64_MAX:
        raise L.SafeConvInputError("%s: %d does not fit in a 64-bit integer" % (name, v))
    return v


def _pair(v, name, n=2):
    """(v,)*n for an int, or a tuple of n ints (anything with __index__, not bools or floats),
    each within int64 (negative values go on to the library, whose message names the field)."""
    bad = L.SafeConvInputError("%s: expected an int or a tuple of %d ints, got %r" % (name, n, v))
    if isinstance(v, bool):
        raise bad
    try:
        t = (operator.index(v),) * n
    except TypeError:
        try:
            t = tuple(operator.index(i) for i in v)
        except TypeError:
            raise bad from None
        if any(isinstance(i, bool) for i in v):
            raise bad
        if len(t) == 1:
            t = t * n
        if len(t) != n:
            raise L.SafeConvInputError("%s: expected %d values, got %r" % (name, n, v))
    for i in t:
        _int64(i, name)
    return t


def _groups(groups, what):
    try:
        g = operator.index(groups)
    except TypeError:
        g = None
    if g is None or isinstance(groups, bool) or g < 1:
        raise L.SafeConvInputError("%s: groups must be an int >= 1, got %r" % (what, groups))
    return _int64(g, "%s: groups" % what)


def _dev_str(t):
    return str(t.device)


def _check_tensors(what, x, w, b, x_dims, w_dims):
    """Types, ranks, dtypes and devices. Raises SafeConvInputError naming the problem, or
    SafeConvUnsupportedError for a valid request safeconv cannot compute."""
    if x.dim() not in x_dims:
        raise L.SafeConvInputError("%s: input must have %s dimensions, got shape %s"
                                   % (what, " or ".join(map(str, x_dims)), tuple(x.shape)))
    if w.dim() != w_dims:
        raise L.SafeConvInputError("%s: weight must have %d dimensions, got shape %s"
                                   % (what, w_dims, tuple(w.shape)))
    for name, t in (("weight", w), ("bias", b)):
        if t is None:
            continue
        if t.device != x.device:
            raise L.SafeConvInputError(
                "%s: %s is on %s but input is on %s; all tensors must be on one device"
                % (what, name, _dev_str(t), _dev_str(x)))
        if t.dtype != x.dtype:
            raise L.SafeConvInputError("%s: %s dtype %s does not match input dtype %s"
                                       % (what, name, t.dtype, x.dtype))
    if b is not None and b.dim() != 1:
        raise L.SafeConvInputError("%s: bias must be 1-dimensional, got shape %s"
                                   % (what, tuple(b.shape)))


def _check_dtype(what, x):
    if x.dtype not in _DTYPES:
        raise L.SafeConvUnsupportedError(
            "%s: dtype %s is not supported (safeconv computes float32, float16 and bfloat16); "
            "convert the model and input with .float(), or pass fallback='torch' to run "
            "PyTorch's convolution for such calls" % (what, x.dtype))


def _delegate(x, w, b):
    """True when the call should go to PyTorch unchanged (see the module docstring)."""
    if not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor):
        return True
    if b is not None and not isinstance(b, torch.Tensor):
        return True
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return True
    return False


def _supported_device(x):
    return x.device.type in ("cpu", "cuda")


# --- autocast ----------------------------------------------------------------------------------
def _autocast_state(device_type):
    """(enabled, dtype) of autocast for "cuda" or "cpu" (PyTorch 2.4+'s API or the older one)."""
    if hasattr(torch, "get_autocast_dtype"):
        try:
            if not torch.is_autocast_enabled(device_type):
                return False, None
            return True, torch.get_autocast_dtype(device_type)
        except TypeError:
            pass
    if device_type == "cuda":
        if not torch.is_autocast_enabled():
            return False, None
        return True, torch.get_autocast_gpu_dtype()
    if not torch.is_autocast_cpu_enabled():
        return False, None
    return True, torch.get_autocast_cpu_dtype()


def _cpu_autocast_policy():
    """{kind: True when PyTorch's CPU autocast runs that function in the lower precision}.
    The lists differ between versions (1.13 leaves conv_transpose2d in float32, 2.x casts it),
    so PyTorch itself is asked once, with 1x1 tensors, at import (not inside a traced call)."""
    out = {"conv2d": True, "conv1d": True, "conv_transpose2d": True}
    try:
        x = torch.ones(1, 1, 1, 1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out["conv2d"] = TORCH_CONV2D(x, x).dtype != torch.float32
            out["conv1d"] = TORCH_CONV1D(x[0], x[0]).dtype != torch.float32
            out["conv_transpose2d"] = TORCH_CONV_TRANSPOSE2D(x, x).dtype != torch.float32
    except Exception:  # no CPU autocast in this build: the defaults are never used then
        pass
    return out


_CPU_AUTOCAST = _cpu_autocast_policy()


def _autocast_dtype(dev, kind):
    """The dtype PyTorch's autocast casts the operands of its own `kind` function to on device
    type `dev` now (CUDA: all convolutions; CPU: the functions this PyTorch casts), or None."""
    if dev == "cuda":
        on, dt = _autocast_state("cuda")
    elif dev == "cpu":
        on, dt = _autocast_state("cpu")
        on = on and _CPU_AUTOCAST.get(kind, True)
    else:
        return None
    return dt if on else None


def _cast_dtype(t, dt):
    """The dtype autocast to `dt` (None: no autocast) gives tensor t: dt for every
    floating-point tensor but float64, else t's own."""
    if dt is None or not t.is_floating_point() or t.dtype == torch.float64:
        return t.dtype
    return dt


def _autocast(x, w, b, kind):
    """The operands as PyTorch's autocast would give them to its own `kind` function
    (_autocast_dtype, _cast_dtype)."""
    dt = _autocast_dtype(x.device.type, kind)
    if dt is None:
        return x, w, b

    def cast(t):
        if t is None or _cast_dtype(t, dt) == t.dtype:
            return t
        return t.to(dt)
    return cast(x), cast(w), cast(b)


def _channels_last(x):
    return (not x.is_contiguous()) and x.is_contiguous(memory_format=torch.channels_last)


# --- descriptors -------------------------------------------------------------------------------
_DESC_INTS = ("n", "c", "h", "w", "k", "r", "s", "pad_h", "pad_w", "stride_h", "stride_w",
              "dil_h", "dil_w", "groups")


def _make_desc(n, c, h, w_, k, r, s, pad, stride, dil, groups, dtype, nhwc, what="conv2d"):
    vals = (n, c, h, w_, k, r, s) + tuple(pad) + tuple(stride) + tuple(dil) + (groups,)
    for name, v in zip(_DESC_INTS, vals):  # sizes computed here (a transposed conv's output)
        _int64(v, "%s: desc.%s" % (what, name))
    d = L.ConvDesc()
    d.n, d.c, d.h, d.w, d.k, d.r, d.s = n, c, h, w_, k, r, s
    d.pad_h, d.pad_w = pad
    d.stride_h, d.stride_w = stride
    d.dil_h, d.dil_w = dil
    d.groups = groups
    d.dtype = _DTYPES[dtype]
    d.layout = L.NHWC if nhwc else L.NCHW
    return d


def _output_size(d, what):
    """(P, Q) of `d`, validated by the library (its message names the bad field). A batch of
    zero is valid in PyTorch: it is validated as a batch of one (on a copy: `d` may be shared
    by other calls)."""
    if d.n == 0:
        d = L.ConvDesc.from_buffer_copy(d)
        d.n = 1
    p, q = ctypes.c_int64(), ctypes.c_int64()
    L.check(L.load_library().sc_conv2d_output_size(ctypes.byref(d), ctypes.byref(p),
                                                    ctypes.byref(q)), what)
    return p.value, q.value



# --- calling the library -----------------------------------------------------------------------
def _ptr(t):
    """A tensor's data pointer as the library functions take it (their argtypes say c_void_p:
    an int, or None for NULL)."""
    return None if t is None else t.data_ptr()


# The current stream's raw handle without building a torch.cuda.Stream (PyTorch >= 1.11 has
# this; it is what the Triton integration calls). The per-call host work matters: a training
# step makes three library calls per layer, and on small late layers the host, not the GPU,
# sets the pace (bench/NOTES.md, runs 20-23, and "The Python layer's host time per call").
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)
# The current device and the capture state straight from torch._C where it has them (the
# Python wrappers add a lazy-init check and a call each, on every library call).
_get_device = getattr(torch._C, "_cuda_getDevice", None) or torch.cuda.current_device
_capturing = (getattr(torch._C, "_cuda_isCurrentStreamCapturing", None)
              or torch.cuda.is_current_stream_capturing)


def _stream_handle(dev):
    if _raw_stream is not None:
        return _raw_stream(dev)
    return torch.cuda.current_stream(dev).cuda_stream


def _context(cfg, dev, on_cpu):
    """The library context for `cfg` on device `dev` (L.DEVICE_CPU for the CPU), remembered on
    the Config until clear_contexts()."""
    key = (dev, on_cpu)
    got = cfg._ctx_cache.get(key)
    if got is not None and got[0] == L.contexts_generation:
        return got[1]
    cctx = L.get_context(dev, cfg.context_options(on_cpu))
    cfg._ctx_cache[key] = (L.contexts_generation, cctx)
    return cctx


def _is_workspace_error(st):
    return st == L.STATUS_BAD_PARAM and L.last_error().startswith("workspace_size:")


def torch_allows_tf32():
    """Whether PyTorch lets cuDNN convolutions use TF32 now: torch.backends.cudnn.conv
    .fp32_precision where this PyTorch has it (2.9+; "none" defers to the cudnn-wide and then
    the global setting), else torch.backends.cudnn.allow_tf32 (True by default). Read on every
    fp32 CUDA call (the descriptor key), so the reader is built once (_tf32_reader)."""
    global _tf32_read
    if _tf32_read is None:
        _tf32_read = _tf32_reader(torch.backends.cudnn, torch.backends)
    return _tf32_read()


_tf32_read = None  # torch_allows_tf32's reader, built on first use


def _tf32_reader(cudnn, backends):
    """A function that reads torch_allows_tf32's answer from `cudnn` (torch.backends.cudnn) and
    `backends` (torch.backends). Which of them have fp32_precision is found here, once: asking a
    PyTorch module for an attribute it lacks raises inside its __getattr__, about 1 us each on
    a fast CPU, which the reader would otherwise pay twice a call on PyTorch before 2.9.
    The values are still read on every call (a user may change them between steps)."""
    holders = []
    for h in (getattr(cudnn, "conv", None), cudnn, backends):
        if h is None:
            continue
        try:
            getattr(h, "fp32_precision")
        except AttributeError:
            continue
        except Exception:  # present, unreadable now: asked again on every call
            pass
        holders.append(h)
    holders = tuple(holders)

    def read():
        for h in holders:
            try:
                p = h.fp32_precision
            except Exception:
                p = None
            if p in ("tf32", "ieee"):
                return p == "tf32"
        try:
            return bool(cudnn.allow_tf32)
        except Exception:  # e.g. conv and rnn set apart through the newer API: PyTorch's default
            return True
    return read


def _math_mode(cfg, dtype, torch_tf32=None):
    """The context math mode for a GPU call: TF32 for fp32 when the Config's tf32 says so
    (None: as PyTorch's cuDNN convolutions would run now: torch_tf32 where the caller has
    already read torch_allows_tf32(), else read here); fp16/bf16 ignore the mode."""
    if dtype != L.DTYPE_F32:
        return None
    tf32 = cfg.tf32
    if tf32 is None:
        tf32 = torch_tf32 if torch_tf32 is not None else torch_allows_tf32()
    return L.MATH_TF32 if tf32 else L.MATH_EXACT


def _math_label(dtype, mode, algo):
    """What report() shows for a call: "tf32" only when fp32 tensors ran on the matrix-unit
    GEMM with TF32 allowed (every other kernel computes exact fp32 whatever the mode)."""
    if dtype == L.DTYPE_F32 and mode == L.MATH_TF32 and algo == L.ALGO_GPU_IMPLICIT_GEMM_MMA:
        return "tf32"
    return _DTYPE_LABELS.get(dtype, "?")


def _call_lib(direction, spec, device, ptrs):
    """Run one direction of the spec's convolution. ptrs: the direction's pointer arguments in
    the header's order (_ptr), without workspace. Records the path, the math and (on a sample
    of GPU calls) the time in the spec's statistics."""
    fn = getattr(L.load_library(), _FN_NAMES[direction])
    d, rec = spec.desc, spec.rec
    seconds = events = mode = None
    if device.type == "cpu":
        cctx = _context(spec.cfg, L.DEVICE_CPU, True)
        with cctx.lock:
            t0 = time.perf_counter()
            if direction == L.DIR_BACKWARD_BIAS:
                st = fn(cctx.handle, d, *ptrs)
            else:
                st = fn(cctx.handle, d, *ptrs, None, 0)
            seconds = time.perf_counter() - t0
            L.check(st, _FN_NAMES[direction])
            algo = cctx.get_stats().last_algo
    else:
        def run(dev, cctx):
            st, ev = _call_gpu(fn, direction, spec, device, dev, cctx, ptrs)
            L.check(st, _FN_NAMES[direction])
            return ev, cctx.get_stats().last_algo

        mode, (events, algo) = _on_gpu(spec, device, run)
    # the route that served the call: where its algorithm runs
    rec.add(direction, L.algo_path(algo), algo, seconds, events, _math_label(d.dtype, mode, algo))


def _on_gpu(spec, device, run):
    """(math mode, run(dev, cctx)) for a GPU call: the spec's context on the tensor's device
    with the spec's math mode set, its lock held, its GPU current. The library makes its
    context's GPU current; PyTorch's current device is kept as it was (the guard only when they
    differ: it costs host time on every call)."""
    dev = device.index if device.index is not None else _get_device()
    cctx = _context(spec.cfg, dev, False)
    mode = spec.math_mode()
    with cctx.lock:
        if mode is not None:
            cctx.set_math_mode(mode)
        if _get_device() == dev:
            return mode, run(dev, cctx)
        with torch.cuda.device(dev):
            return mode, run(dev, cctx)


# device index -> a small buffer passed as the workspace of calls that need none (see below)
_no_workspace = {}


def _empty_workspace(dev):
    buf = _no_workspace.get(dev)
    if buf is None:
        buf = _no_workspace[dev] = torch.empty(256, dtype=torch.uint8,
                                               device=torch.device("cuda", dev))
    return buf


def _call_gpu(fn, direction, spec, device, dev, cctx, ptrs):
    """The GPU half of _call_lib (context lock held, dev current): (status, events or None).

    CUDA graph capture: nothing here synchronizes or queries the device. The workspace always
    comes from the caller (PyTorch's caching allocator, which captures correctly); a call that
    needs none still gets a non-NULL pointer of size 0, so the library never allocates its own
    device pool: that pool is what would make sc_context_set_stream wait for the old stream
    when the stream changes (as it does between a warm-up stream and the capture stream).
    No timing events are recorded while capturing (they would become graph nodes)."""
    cctx.set_stream(_stream_handle(dev))
    d = spec.desc
    if direction == L.DIR_BACKWARD_BIAS:
        return fn(cctx.handle, d, *ptrs), None
    timed = spec.rec.want_time(direction) and not _capturing()
    events = []

    def call(ws, nbytes):
        if timed:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
        st = fn(cctx.handle, d, *ptrs, ws, nbytes)
        if timed:
            end.record()
            events[:] = (start, end)
        return st

    st = _with_gpu_workspace(spec, device, dev, cctx, (direction,), call)
    return st, (tuple(events) if timed and st == L.STATUS_OK else None)


def _with_gpu_workspace(spec, device, dev, cctx, dirs, call):
    """call(workspace pointer, bytes) -> status, with a workspace from PyTorch's caching
    allocator (stream-ordered, and visible to torch.cuda.memory_allocated()): the largest that
    the directions `dirs` ask for (they run one after the other on the stream). Its size is
    remembered per shape (Context.ws_sizes); if the library's plan has changed since and needs
    more, the call fails before running anything, and one retry with a fresh query follows."""
    dbytes = spec.desc_bytes()
    for attempt in (0, 1):
        nbytes = 0
        for direction in dirs:
            nbytes = max(nbytes, cctx.workspace_size(dbytes, spec.desc, direction))
        ws = (torch.empty(nbytes, dtype=torch.uint8, device=device) if nbytes
              else _empty_workspace(dev))
        st = call(ws.data_ptr(), nbytes)
        if attempt == 0 and _is_workspace_error(st):
            for direction in dirs:
                cctx.forget_workspace_size(dbytes, direction)
            continue
        return st


def _call_lib_backward(spec, device, x, w, dy, dx, dw, db):
    """The backward pass's directions in one library call (sc_conv2d_backward): dx, dw and db
    (None: not wanted; db without dw is the bias gradient alone). Each direction is recorded
    as _call_lib records it: on the CPU with an equal share of the call's wall time each; on a
    GPU without timing events (callers use _call_lib for the timed sample). The host time of a
    whole layer's backward is one library call, and on the CPU dy is reordered once for both
    directions where oneDNN runs them."""
    d, rec = spec.desc, spec.rec
    dirs = []
    if dx is not None:
        dirs.append(L.DIR_BACKWARD_DATA)
    if dw is not None:
        dirs.append(L.DIR_BACKWARD_WEIGHT)
    elif db is not None:
        dirs.append(L.DIR_BACKWARD_BIAS)
    fn = L.load_library().sc_conv2d_backward
    args = (_ptr(x), _ptr(w), _ptr(dy), _ptr(dx), _ptr(dw), _ptr(db))
    share = mode = None
    if device.type == "cpu":
        cctx = _context(spec.cfg, L.DEVICE_CPU, True)
        with cctx.lock:
            t0 = time.perf_counter()
            st = fn(cctx.handle, d, *args, None, 0, cctx.algos)
            share = (time.perf_counter() - t0) / len(dirs)
            L.check(st, "sc_conv2d_backward")
            algos = tuple(cctx.algos)
    else:
        def run(dev, cctx):
            # the same stream handling and workspace as _call_gpu (the bias gradient, when it
            # runs alone here, needs none); no timing events
            cctx.set_stream(_stream_handle(dev))
            st = _with_gpu_workspace(
                spec, device, dev, cctx, [k for k in dirs if k != L.DIR_BACKWARD_BIAS],
                lambda ws, nbytes: fn(cctx.handle, d, *args, ws, nbytes, cctx.algos))
            L.check(st, "sc_conv2d_backward")
            return tuple(cctx.algos)

        mode, algos = _on_gpu(spec, device, run)
    for direction in dirs:
        a = algos[direction]
        rec.add(direction, L.algo_path(a), a, share, None, _math_label(d.dtype, mode, a))


def _empty(shape, like, nhwc):
    return torch.empty(shape, dtype=like.dtype, device=like.device,
                       memory_format=torch.channels_last if nhwc else torch.contiguous_format)


# --- the three primitives ----------------------------------------------------------------------
class _Spec:
    """What a primitive needs besides tensors: the convolution's descriptor (every primitive of
    one layer shares it), options, statistics, layout; kept on ctx for backward."""
    __slots__ = ("desc", "cfg", "rec", "nhwc", "out_hw", "w_stride", "_torch_tf32", "_mode",
                 "_dbytes")

    def __init__(self, desc, cfg, rec, nhwc, out_hw=None, w_stride=None, torch_tf32=None):
        self.desc, self.cfg, self.rec, self.nhwc = desc, cfg, rec, nhwc
        self.out_hw = out_hw  # the output's (P, Q) when known (else asked from the library)
        # The weight's strides as the library gets it: the weight gradient is made with exactly
        # these. Where a dimension has size 1 (1x1 kernels) several strides describe one dense
        # layout; a gradient whose strides differ from its parameter's in any of them is kept
        # as it is by AccumulateGrad, and DistributedDataParallel, which compares strides
        # exactly, then warns "Grad strides do not match bucket view strides" and copies.
        self.w_stride = w_stride
        self._torch_tf32 = torch_tf32  # torch_allows_tf32() as the call already read it, or None
        self._mode = _UNSET
        self._dbytes = None

    def math_mode(self):
        """The GPU math mode of this convolution's calls (_math_mode), decided at its first
        library call: a layer's backward runs in the mode its forward ran in."""
        if self._mode is _UNSET:
            self._mode = _math_mode(self.cfg, self.desc.dtype, self._torch_tf32)
        return self._mode

    def desc_bytes(self):
        """The descriptor's bytes (the key of the context's workspace sizes), made once."""
        if self._dbytes is None:
            self._dbytes = bytes(self.desc)
        return self._dbytes

    def lay(self, t):
        """t in this spec's layout (dense NCHW, or dense channels_last for NHWC)."""
        if t is None:
            return None
        return t.contiguous(memory_format=torch.channels_last if self.nhwc
                            else torch.contiguous_format)


_UNSET = object()


def _conv_args(d):
    return ([d.stride_h, d.stride_w], [d.pad_h, d.pad_w], [d.dil_h, d.dil_w], d.groups)


def _torch_instead(spec, err):
    """After SafeConvUnsupportedError from the library: PyTorch computes that call when the
    Config says fallback="torch" (told once with verbose, counted as path "torch"), else the
    error stands."""
    if spec.cfg.fallback != "torch":
        raise err
    _tell_fallback(spec.cfg, err)
    spec.rec.torch_calls += 1


def _torch_conv_backward(d, dy, x, w, mask):
    """PyTorch's convolution_backward for the convolution `d`; x or w may be None (only their
    shapes are needed then)."""
    x_ = x if x is not None else dy.new_empty(1).expand(d.n, d.c, d.h, d.w)
    w_ = w if w is not None else dy.new_empty(1).expand(d.k, d.c // d.groups, d.r, d.s)
    stride, pad, dil, groups = _conv_args(d)
    return torch.ops.aten.convolution_backward(dy, x_, w_, [d.k] if mask[2] else None, stride,
                                               pad, dil, False, [0, 0], groups, list(mask))


def _run_forward(spec, x, w, b):
    """y = conv(x, w) + b, operands in the spec's layout; no autograd."""
    d = spec.desc
    p, q = spec.out_hw or _output_size(d, "conv2d")
    y = _empty((d.n, d.k, p, q), x, spec.nhwc)
    if d.n > 0:
        try:
            _call_lib(L.DIR_FORWARD, spec, x.device, (_ptr(x), _ptr(w), _ptr(b), _ptr(y)))
        except L.SafeConvUnsupportedError as e:
            _torch_instead(spec, e)
            y.copy_(TORCH_CONV2D(x, w, b, *_conv_args(d)))
    return y


def _run_backward_data(spec, dy, w):
    """dx (N, C, H, W) of the spec's convolution; no autograd."""
    d = spec.desc
    dx = _empty((d.n, d.c, d.h, d.w), dy, spec.nhwc)
    if d.n > 0:
        try:
            _call_lib(L.DIR_BACKWARD_DATA, spec, dy.device, (_ptr(dy), _ptr(w), _ptr(dx)))
        except L.SafeConvUnsupportedError as e:
            _torch_instead(spec, e)
            dx.copy_(_torch_conv_backward(d, dy, None, w, (True, False, False))[0])
    return dx


def _run_backward_weight(spec, x, dy, want_db):
    """(dw, db or None) of the spec's convolution; no autograd."""
    d = spec.desc
    dw = _new_dw(spec, x)
    db = torch.empty((d.k,), dtype=x.dtype, device=x.device) if want_db else None
    if d.n == 0:
        return dw.zero_(), (None if db is None else db.zero_())
    try:
        _call_lib(L.DIR_BACKWARD_WEIGHT, spec, x.device, (_ptr(x), _ptr(dy), _ptr(dw), _ptr(db)))
    except L.SafeConvUnsupportedError as e:
        _torch_instead(spec, e)
        _, gw, gb = _torch_conv_backward(d, dy, x, None, (False, True, want_db))
        dw.copy_(gw)
        if want_db:
            db.copy_(gb)
    return dw, db


def _new_dw(spec, like):
    d = spec.desc
    shape = (d.k, d.c // d.groups, d.r, d.s)
    if spec.w_stride is not None:
        return torch.empty_strided(shape, spec.w_stride, dtype=like.dtype, device=like.device)
    return _empty(shape, like, spec.nhwc)


def _one_call_backward(spec, dy, need_x, need_w, need_b):
    """Whether _run_backward makes one library call for the layer's backward: for two or more
    gradients of a non-empty batch; on a GPU only when the call is not in the statistics'
    timed sample (GPU timing is per direction)."""
    if not (need_x and (need_w or need_b) and spec.desc.n > 0):
        return False
    if dy.device.type == "cpu":
        return True
    rec = spec.rec
    return (not rec.want_time(L.DIR_BACKWARD_DATA)
            and not rec.want_time(L.DIR_BACKWARD_WEIGHT if need_w else L.DIR_BACKWARD_BIAS))


def _run_backward(spec, x, w, dy, need_x, need_w, need_b):
    """(dx, dw, db) of the spec's convolution, each None where not needed; no autograd. One
    library call where _one_call_backward says so (the same bits as the calls one direction
    at a time), else a call per direction."""
    if not _one_call_backward(spec, dy, need_x, need_w, need_b):
        dx = _run_backward_data(spec, dy, w) if need_x else None
        if need_w:
            dw, db = _run_backward_weight(spec, x, dy, need_b)
        else:
            dw, db = None, (_run_backward_bias(spec, dy) if need_b else None)
        return dx, dw, db
    d = spec.desc
    dx = _empty((d.n, d.c, d.h, d.w), dy, spec.nhwc)
    dw = _new_dw(spec, dy) if need_w else None
    db = torch.empty((d.k,), dtype=dy.dtype, device=dy.device) if need_b else None
    try:
        _call_lib_backward(spec, dy.device, x, w, dy, dx, dw, db)
    except L.SafeConvUnsupportedError as e:
        _torch_instead(spec, e)
        spec.rec.torch_calls += 1  # one per direction: dx, and dw or db
        gx, gw, gb = _torch_conv_backward(d, dy, x, w, (True, need_w, need_b))
        dx.copy_(gx)
        if need_w:
            dw.copy_(gw)
        if need_b:
            db.copy_(gb)
    return dx, dw, db


def _run_backward_bias(spec, dy):
    """db (K,) of the spec's convolution; no autograd."""
    d = spec.desc
    db = torch.empty((d.k,), dtype=dy.dtype, device=dy.device)
    if d.n == 0:
        return db.zero_()
    try:
        _call_lib(L.DIR_BACKWARD_BIAS, spec, dy.device, (_ptr(dy), _ptr(db)))
    except L.SafeConvUnsupportedError as e:
        _torch_instead(spec, e)
        db.copy_(dy.sum(dim=(0, 2, 3)))
    return db


# The autograd Functions. `top` marks the call the user made (it counts forward_calls and
# backward_calls in the layer's statistics); the same Functions inside a backward do not.
# Each backward uses the Functions when autograd records it (create_graph=True: the result
# must be differentiable again) and the library directly otherwise.
class _ConvForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, spec, top):
        y = _run_forward(spec, x, w, b)
        if top:
            spec.rec._fwd_calls += 1
        ctx.spec, ctx.top, ctx.has_bias = spec, top, b is not None
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        return y

    @staticmethod
    def backward(ctx, dy):
        spec = ctx.spec
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        dy = spec.lay(dy)
        dx = dw = db = None
        if torch.is_grad_enabled():
            if need_x:
                dx = _ConvBackwardData.apply(dy, w, spec, False)
            if need_w:
                dw = _ConvBackwardWeight.apply(x, dy, spec)
            if need_b:
                db = _ConvBackwardBias.apply(dy, spec)
        else:
            dx, dw, db = _run_backward(spec, x, w, dy, need_x, need_w, need_b)
        if ctx.top:
            spec.rec._bwd_calls += 1
        return dx, dw, db, None, None


class _ConvBackwardData(torch.autograd.Function):
    """dx = backward_data(dy, w); also conv_transpose2d's forward (top=True)."""

    @staticmethod
    def forward(ctx, dy, w, spec, top):
        dx = _run_backward_data(spec, dy, w)
        if top:
            spec.rec._fwd_calls += 1
        ctx.spec, ctx.top = spec, top
        need_dy, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(dy if need_w else None, w if need_dy else None)
        return dx

    @staticmethod
    def backward(ctx, ddx):
        spec = ctx.spec
        dy, w = ctx.saved_tensors
        need_dy, need_w = ctx.needs_input_grad[:2]
        ddx = spec.lay(ddx)
        g_dy = g_w = None
        if torch.is_grad_enabled():
            if need_dy:
                g_dy = _ConvForward.apply(ddx, w, None, spec, False)
            if need_w:
                g_w = _ConvBackwardWeight.apply(ddx, dy, spec)
        else:
            if need_dy:
                g_dy = _run_forward(spec, ddx, w, None)
            if need_w:
                g_w = _run_backward_weight(spec, ddx, dy, False)[0]
        if ctx.top:
            spec.rec._bwd_calls += 1
        return g_dy, g_w, None, None


class _ConvBackwardWeight(torch.autograd.Function):
    """dw = backward_weight(x, dy)."""

    @staticmethod
    def forward(ctx, x, dy, spec):
        dw = _run_backward_weight(spec, x, dy, False)[0]
        ctx.spec = spec
        need_x, need_dy = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if need_dy else None, dy if need_x else None)
        return dw

    @staticmethod
    def backward(ctx, ddw):
        spec = ctx.spec
        x, dy = ctx.saved_tensors
        need_x, need_dy = ctx.needs_input_grad[:2]
        ddw = spec.lay(ddw)
        g_x = g_dy = None
        if torch.is_grad_enabled():
            if need_x:
                g_x = _ConvBackwardData.apply(dy, ddw, spec, False)
            if need_dy:
                g_dy = _ConvForward.apply(x, ddw, None, spec, False)
        else:
            if need_x:
                g_x = _run_backward_data(spec, dy, ddw)
            if need_dy:
                g_dy = _run_forward(spec, x, ddw, None)
        return g_x, g_dy, None


class _ConvBackwardBias(torch.autograd.Function):
    """db = sum of dy over N, P, Q (the library's backward_bias); its gradient is broadcast."""

    @staticmethod
    def forward(ctx, dy, spec):
        ctx.shape = dy.shape
        return _run_backward_bias(spec, dy)

    @staticmethod
    def backward(ctx, ddb):
        return ddb.reshape(1, -1, 1, 1).expand(ctx.shape), None


# --- fallback ----------------------------------------------------------------------------------
_told = set()


def _tell_fallback(cfg, err):
    """Once per distinct reason, on the "safeconv" logger: PyTorch ran instead. A warning with
    verbose >= 1 (on stderr even where logging is not configured), info otherwise."""
    level = logging.WARNING if cfg.verbose else logging.INFO
    if (level, str(err)) not in _told:
        _told.add((level, str(err)))
        L.log.log(level, "fallback='torch': PyTorch's convolution runs instead (%s)", err)


def _torch_fallback(rec, fn, *args):
    """Run PyTorch's own function (fallback='torch'), counted as path "torch"."""
    rec._fwd_calls += 1
    rec.torch_calls += 1
    return fn(*args)


# probe_model's shape collector: (callback(kind, device, desc), Config) while collecting.
_collector = None


def _record(layer, kind, x, w):
    """Where this call's statistics go (nowhere lasting while probe_model collects shapes)."""
    if _collector is not None:
        return _stats.LayerStats(kind)
    # Functional calls are grouped by weight shape only: a model fed varying image sizes must
    # not add a group per size (the statistics would grow without bound).
    return _stats.record_for(layer, kind, None if layer is not None else tuple(w.shape))


def _config_for(layer):
    if _collector is not None:
        return _collector[1]
    cfg = getattr(layer, "safeconv_config", None) if layer is not None else None
    return cfg if cfg is not None else current_config()


# --- public functions --------------------------------------------------------------------------
def _resolve_padding(padding, x, ksize, stride, dil, what):
    """(x, (pad_h, pad_w)): string padding resolved; the odd extra of 'same' is added on the
    bottom/right of x with zeros first, as PyTorch does."""
    if isinstance(padding, str):
        if padding == "valid":
            return x, (0, 0)
        if padding != "same":
            raise L.SafeConvInputError("%s: padding must be 'valid', 'same' or ints, got %r"
                                       % (what, padding))
        if any(s != 1 for s in stride):
            raise L.SafeConvInputError("%s: padding='same' is not supported for strided "
                                       "convolutions (stride %s)" % (what, stride))
        pads, extra = [], []
        for k, dl in zip(ksize, dil):
            total = dl * (k - 1)
            pads.append(total // 2)
            extra.append(total - 2 * (total // 2))
        if any(extra):
            x = TORCH_PAD(x, (0, extra[1], 0, extra[0]))
        return x, tuple(pads)
    return x, _pair(padding, "%s: padding" % what)


def _operands(x, w, b, nhwc=None):
    """(nhwc, x, w, b) in the layout the library gets: channels_last when x is (and is not
    also plain contiguous), else contiguous NCHW; copies only where needed. nhwc: the caller's
    _channels_last(x), when it has it."""
    if nhwc is None:
        nhwc = _channels_last(x)
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    return (nhwc, x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt),
            b.contiguous() if b is not None else None)


def _dispatch(what, torch_fn, args, layer, body):
    """The entry conv2d and conv_transpose2d share. args: the call's arguments as PyTorch's
    torch_fn takes them (input, weight, bias first). PyTorch runs the call when safeconv does
    not serve it (_delegate, or a device safeconv has no backend for); otherwise
    body(x, w, b, cfg, rec) on the operands after autocast and the tensor and dtype checks, a
    3-D (unbatched) input given a batch of one and its result squeezed back, and on
    SafeConvUnsupportedError PyTorch's torch_fn(*args) when the configuration allows the
    fallback (told once, counted in the layer's record), else the error."""
    input, weight, bias = args[:3]
    if _delegate(input, weight, bias):
        return torch_fn(*args)
    x, w, b = _autocast(input, weight, bias, what)
    _check_tensors(what, x, w, b, (3, 4), 4)
    if not _supported_device(x):
        return torch_fn(*args)
    cfg = _config_for(layer)
    rec = _record(layer, what, x, w)
    try:
        _check_dtype(what, x)
        unbatched = x.dim() == 3
        y = body(x.unsqueeze(0) if unbatched else x, w, b, cfg, rec)
        return y.squeeze(0) if unbatched else y
    except L.SafeConvUnsupportedError as e:
        if cfg.fallback != "torch":
            raise
        _tell_fallback(cfg, e)
        return _torch_fallback(rec, torch_fn, *args)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layer=None):
    """torch.nn.functional.conv2d through safeconv. `layer` (a module) is where statistics go."""
    if _compile is not None and _tracing(input):
        return _compile.conv2d(input, weight, bias, stride, padding, dilation, groups, layer)
    return _conv2d_eager(input, weight, bias, stride, padding, dilation, groups, layer)


def _conv2d_eager(input, weight, bias, stride, padding, dilation, groups, layer):
    if _cpp is not False:
        y = _cpp_call(input, weight, bias, stride, padding, dilation, groups, layer)
        if y is not None:
            return y
    args = (input, weight, bias, stride, padding, dilation, groups)
    return _dispatch("conv2d", TORCH_CONV2D, args, layer, lambda x, w, b, cfg, rec: _conv2d_body(
        x, w, b, stride, padding, dilation, groups, cfg, rec))


def _tensor_core_layout(x, w, groups, cfg):
    """True when a CUDA conv2d whose input is not channels_last should still run in the NHWC
    layout: its tensors are fp16/bf16, or fp32 with TF32 allowed, and its channel counts are
    ones the matrix-unit kernels take (K/groups a multiple of 8, not depthwise). Those kernels
    work on NHWC only; the copies to channels_last and of the output back cost less than the
    FMA kernels' reduced-precision path (docs/pytorch.md, "Layouts")."""
    if x.device.type != "cuda" or not cfg.tensor_core_layout:
        return False
    if x.dtype == torch.float32:
        if _math_mode(cfg, L.DTYPE_F32) != L.MATH_TF32:
            return False
    elif x.dtype not in (torch.float16, torch.bfloat16):
        return False
    k, cg = w.shape[0], w.shape[1]
    return cg > 1 and (k // groups) % 8 == 0


def _conv2d_body(x, w, b, stride, padding, dilation, groups, cfg, rec):
    """conv2d's own path (x batched): shape checks, padding, the descriptor, the autograd
    function. A layer called again with the shapes and arguments of its last call reuses that
    call's checked descriptor (the checks and the descriptor cost host time on every call)."""
    key = _desc_key(x, w, b, stride, padding, dilation, groups) if _collector is None else None
    if key is not None:
        hit = rec.desc_cache
        if hit is not None and hit[0] == key:
            tc = hit[3]
            nhwc, xc, wc, bc = _operands(x, w, b, key[4] or tc)
            spec = _Spec(hit[1], cfg, rec, nhwc, hit[2], wc.stride(), key[-1])
            y = _ConvForward.apply(xc, wc, bc, spec, True)
            return y.contiguous() if tc else y
    groups = _groups(groups, "conv2d")
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    if c != cg * groups:
        raise L.SafeConvInputError(
            "conv2d: weight of shape %s expects %d input channels (%d per group x %d "
            "groups), input has %d (input shape %s)"
            % (tuple(w.shape), cg * groups, cg, groups, c, tuple(x.shape)))
    if k % groups:
        raise L.SafeConvInputError("conv2d: weight has %d output channels, not divisible by "
                                   "groups=%d" % (k, groups))
    if b is not None and b.shape[0] != k:
        raise L.SafeConvInputError("conv2d: bias has %d elements, weight has %d output "
                                   "channels" % (b.shape[0], k))
    stride_ = _pair(stride, "conv2d: stride")
    dil = _pair(dilation, "conv2d: dilation")
    x, pad = _resolve_padding(padding, x, (r, s), stride_, dil, "conv2d")
    n, c, h, wd = x.shape
    cl = _channels_last(x)
    tc = not cl and _tensor_core_layout(x, w, groups, cfg)
    nhwc, xc, wc, bc = _operands(x, w, b, cl or tc)
    d = _make_desc(n, c, h, wd, k, r, s, pad, stride_, dil, groups, x.dtype, nhwc)
    out_hw = _output_size(d, "conv2d")
    rec.shape = tuple(x.shape)
    if _collector is not None:
        _collector[0]("conv2d", x.device, d)
    elif key is not None:
        rec.desc_cache = (key, d, out_hw, tc)
    spec = _Spec(d, cfg, rec, nhwc, out_hw, wc.stride(), None if key is None else key[-1])
    y = _ConvForward.apply(xc, wc, bc, spec, True)
    return y.contiguous() if tc else y


# --- the C++ layer (csrc/layer_ops.cpp) --------------------------------------------------------
# A conv2d call whose layer was called before with the same shapes and arguments (the
# descriptor cache above) runs as torch.ops.safeconv_layer.conv2d: the forward and the whole
# backward in C++, with the same library calls (docs/pytorch.md, "The C++ layer"). The first
# call of a shape, calls in the statistics' timing sample, fallback="torch", probe_model's
# collection and PyTorch builds without the compiled operators stay on the Python layer.
CPP_LAYER_ENV = "SAFECONV_CPP_LAYER"  # "0": off; else on where it is built (make layer-ops)
_cpp = None  # None: not loaded yet; False: not available (_cpp_why says why); else the ops
_cpp_why = None
_cpp_conv2d = None  # the conv2d operator as _cpp_call calls it (_load_cpp_layer)


def cpp_layer_path():
    """Where the C++ layer built for this PyTorch lives (python/build_layer_ops.py writes it)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "_layer_ops-torch%s.so" % torch.__version__)


def cpp_layer_source_hash():
    """The SHA-256 of csrc/layer_ops.cpp as shipped (the operators report the one they were
    built from: a file built from another source is not loaded), or None without it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "layer_ops.cpp")
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def _load_cpp_layer(force=False):
    """Load the C++ layer once: _cpp becomes its operators, or False with _cpp_why. force:
    whatever the environment says (bench/host_layer.py --cpp-layer times both layers)."""
    global _cpp, _cpp_why, _cpp_conv2d
    if not force and os.environ.get(CPP_LAYER_ENV) == "0":
        _cpp, _cpp_why = False, "off: %s=0 (docs/pytorch.md, \"The C++ layer\")" % CPP_LAYER_ENV
        return
    path = cpp_layer_path()
    if not os.path.isfile(path):
        _cpp, _cpp_why = False, ("not built for PyTorch %s (make layer-ops builds %s)"
                                 % (torch.__version__, os.path.basename(path)))
        return
    try:
        lib = L.load_library()
        torch.ops.load_library(path)
        ops = torch.ops.safeconv_layer
        # the functions of the library loaded here (the operators load none of their own)
        ops._bind([ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
                   for name in ops._bind_names()])
        if ops._source_hash() != cpp_layer_source_hash():
            raise RuntimeError("it was built from another csrc/layer_ops.cpp (make layer-ops "
                               "rebuilds it)")
        if ops._tally_size() != _stats.CPP_TALLY_SIZE:
            raise RuntimeError("its statistics layout is not this package's")
    except Exception as e:  # noqa: BLE001 (any failure: the Python layer serves every call)
        _cpp_off("%s could not be used: %s" % (path, e))
        return
    # Its one overload called as the builtin function the overload wraps: calling the
    # OpOverloadPacket first walks the arguments in Python for fake script objects (PyTorch
    # 2.x, operators with a torchbind argument), which only tracing passes; _cpp_call never
    # runs while tracing. The packet where a PyTorch has no such builtin.
    op = getattr(getattr(ops.conv2d, "default", None), "_op", None)
    _cpp_conv2d = op if callable(op) else ops.conv2d
    _cpp, _cpp_why = ops, None


def _cpp_off(why):
    """Turn the C++ layer off for the rest of the process, saying why once."""
    global _cpp, _cpp_why
    _cpp, _cpp_why = False, why
    L.log.warning("safeconv: the C++ layer %s; the Python layer runs every call", why)


def cpp_layer_status():
    """(True, None) when conv2d's repeated calls run through the C++ layer, else (False, why)."""
    if _cpp is None:
        _load_cpp_layer()
    return (_cpp is not False), _cpp_why


def _bytes_tensor(b):
    return torch.tensor(list(b), dtype=torch.uint8)


def _cpp_entry(cctx, rec, d, w_stride, mode):
    """A layer_ops _Entry for descriptor d on (the C++ twin of) context cctx."""
    twin = cctx.cpp_twin
    if twin is None:
        twin = torch.classes.safeconv_layer._Context(_bytes_tensor(cctx.options_bytes),
                                                      cctx.cache_path)
        cctx.cpp_twin = twin
    if rec.cpp_tally is None:
        rec.cpp_tally = torch.zeros(_stats.CPP_TALLY_SIZE, dtype=torch.int64)
    return torch.classes.safeconv_layer._Entry(twin, _bytes_tensor(bytes(d)), list(w_stride),
                                               -1 if mode is None else int(mode), rec.cpp_tally)


def _dense_stride(shape, nhwc):
    """The strides .contiguous(memory_format) gives a copy of a 4-D tensor of `shape`."""
    n, c, h, w = (max(v, 1) for v in shape)
    if nhwc:
        return (h * w * c, 1, w * c, c)
    return (c * h * w, h * w, w, 1)


def _cpp_call(x, w, b, stride, padding, dilation, groups, layer):
    """conv2d through the C++ layer, or None where the Python layer is to run the call. It
    runs when the layer's last call had this call's descriptor key (_desc_key, with the dtype
    autocast gives: the operator casts, as PyTorch's convolutions do) and no reason below
    keeps the call in Python. The operands go to the operator as given; it casts them, puts
    them in the layer's layout and checks each against the entry."""
    if _cpp is None:
        _load_cpp_layer()
        if _cpp is False:
            return None
    if (type(x) not in _PLAIN or type(w) not in _PLAIN
            or (b is not None and type(b) not in _PLAIN) or x.dim() != 4
            or _collector is not None or torch.jit.is_tracing()):
        return None
    dev = x.device.type
    if dev != "cuda" and dev != "cpu":
        return None
    rec = _record(layer, "conv2d", x, w)
    hit = rec.desc_cache
    if hit is None:
        return None
    key = _desc_key(x, w, b, stride, padding, dilation, groups,
                    _cast_dtype(x, _autocast_dtype(dev, "conv2d")))
    if key != hit[0]:
        return None
    cfg = _config_for(layer)
    d = hit[1]
    if cfg.fallback == "torch" or d.n == 0 or rec.want_time(L.DIR_FORWARD):
        return None
    if dev == "cpu":
        cctx, mode = _context(cfg, L.DEVICE_CPU, True), None
    else:
        dix = x.device.index
        cctx, mode = _context(cfg, dix, False), _math_mode(cfg, d.dtype, key[-1])
    # the weight's strides in the entry's layout: its own where it is dense in that layout, else
    # the dense ones (an NCHW weight of a layer run in NHWC); worked out again only when the
    # weight's strides are not those of the entry's last call (the entry fixes its shape)
    wst = w.stride()
    got = rec.cpp_entry
    same = got is not None and got[0] is hit and got[1] is cctx and got[3] == mode
    if not same or got[6] != wst:
        nhwc = d.layout == L.NHWC
        ws = wst if w.is_contiguous(memory_format=_FORMATS[nhwc]) else _dense_stride(w.shape, nhwc)
        if not same or got[2] != ws:
            try:
                entry = _cpp_entry(cctx, rec, d, ws, mode)
            except RuntimeError as e:  # what the Python layer accepted, the C++ layer refuses
                _cpp_off("could not make an entry for a call the Python layer runs: %s" % e)
                return None
            # the operator takes the entry's id (layer_ops.cpp, "entries by id"); the object
            # stays here, which keeps the entry alive
            got = (hit, cctx, ws, mode, entry, entry.id())
        rec.cpp_entry = got = got[:6] + (wst,)
    # None: operands the entry does not describe, or a failed library call; the Python layer
    # runs the call again (and raises its typed error)
    y = _cpp_conv2d(x, w, b, got[5])
    if y is None:
        return None
    rec.cpp_calls += 1
    return y.contiguous() if hit[3] else y


_FORMATS = (torch.contiguous_format, torch.channels_last)


def _math_mode_key(x, dtype):
    """What of PyTorch's state changes the NHWC decision of a call between calls: whether
    TF32 is allowed, for fp32 CUDA tensors (_tensor_core_layout); nothing for the others."""
    if dtype != torch.float32 or x.device.type != "cuda":
        return None
    return torch_allows_tf32()


def _all_ints(v):
    """v is exactly an int, or a tuple of exactly ints (True == 1 must not hit an entry made
    with 1: _pair rejects bools)."""
    if type(v) is int:
        return True
    if type(v) is not tuple:
        return False
    for e in v:
        if type(e) is not int:
            return False
    return True


def _desc_key(x, w, b, stride, padding, dilation, groups, dtype=None):
    """What fixes a conv2d call's descriptor, for the one-entry cache per layer (LayerStats
    .desc_cache): shapes, dtype, layout, device type (the NHWC decision depends on it), the
    arguments as given, and last _math_mode_key (the call's spec reuses that read of
    PyTorch's TF32 setting). dtype: the call's dtype where it is not x's (autocast's, before
    the cast: _cpp_call). None (no caching) for string padding (it may pad x) or arguments
    other than ints and tuples."""
    if not (_all_ints(stride) and _all_ints(padding) and _all_ints(dilation)
            and _all_ints(groups)):
        return None
    dt = x.dtype if dtype is None else dtype
    return (x.shape, w.shape, None if b is None else b.shape, dt, _channels_last(x),
            stride, padding, dilation, groups, x.device.type, _math_mode_key(x, dt))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layer=None):
    """torch.nn.functional.conv1d through safeconv: a conv2d of height 1."""
    if _compile is not None and _tracing(input):
        return _compile.conv1d(input, weight, bias, stride, padding, dilation, groups, layer)
    return _conv1d_eager(input, weight, bias, stride, padding, dilation, groups, layer)


def _conv1d_eager(input, weight, bias, stride, padding, dilation, groups, layer):
    args = (input, weight, bias, stride, padding, dilation, groups)
    if _delegate(input, weight, bias):
        return TORCH_CONV1D(*args)
    input, weight, bias = _autocast(input, weight, bias, "conv1d")
    _check_tensors("conv1d", input, weight, bias, (2, 3), 3)
    if not _supported_device(input):
        return TORCH_CONV1D(*args)
    (st,) = _pair(stride, "conv1d: stride", 1)
    (dl,) = _pair(dilation, "conv1d: dilation", 1)
    pad = padding if isinstance(padding, str) else (0, _pair(padding, "conv1d: padding", 1)[0])
    try:
        y = _conv2d_eager(input.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, st), pad,
                          (1, dl), groups, layer)
    except L.SafeConvError as e:
        e.args = (str(e).replace("conv2d:", "conv1d (as conv2d of height 1):", 1),)
        raise
    return y.squeeze(-2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layer=None):
    """torch.nn.functional.conv_transpose2d through safeconv (backward-data of a conv2d)."""
    if _compile is not None and _tracing(input):
        return _compile.conv_transpose2d(input, weight, bias, stride, padding, output_padding,
                                         groups, dilation, layer)
    return _conv_transpose2d_eager(input, weight, bias, stride, padding, output_padding, groups,
                                   dilation, layer)


def _conv_transpose2d_eager(input, weight, bias, stride, padding, output_padding, groups,
                            dilation, layer):
    args = (input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _dispatch("conv_transpose2d", TORCH_CONV_TRANSPOSE2D, args, layer,
                     lambda x, w, b, cfg, rec: _conv_transpose2d_body(
                         x, w, b, stride, padding, output_padding, groups, dilation, cfg, rec))


def _conv_transpose2d_body(x, w, b, stride, padding, output_padding, groups, dilation, cfg, rec):
    """conv_transpose2d's own path: shape checks, the output size, the descriptor of the
    convolution whose backward-data it is, the autograd function (x batched)."""
    groups = _groups(groups, "conv_transpose2d")
    n, cin, h, wd = x.shape
    wk, cog, r, s = w.shape  # weight: (C_in, C_out/groups, R, S)
    if wk != cin:
        raise L.SafeConvInputError(
            "conv_transpose2d: weight of shape %s expects %d input channels, input has %d "
            "(input shape %s)" % (tuple(w.shape), wk, cin, tuple(x.shape)))
    if cin % groups:
        raise L.SafeConvInputError("conv_transpose2d: %d input channels not divisible by "
                                   "groups=%d" % (cin, groups))
    cout = cog * groups
    if b is not None and b.shape[0] != cout:
        raise L.SafeConvInputError("conv_transpose2d: bias has %d elements, output has %d "
                                   "channels" % (b.shape[0], cout))
    if isinstance(padding, str):
        raise L.SafeConvInputError("conv_transpose2d: string padding %r is not supported "
                                   "(PyTorch does not support it either)" % (padding,))
    stride_ = _pair(stride, "conv_transpose2d: stride")
    pad = _pair(padding, "conv_transpose2d: padding")
    dil = _pair(dilation, "conv_transpose2d: dilation")
    opad = _pair(output_padding, "conv_transpose2d: output_padding")
    for i, dim in enumerate("hw"):
        if opad[i] < 0 or opad[i] >= max(stride_[i], dil[i]):
            raise L.SafeConvInputError(
                "conv_transpose2d: output_padding[%d]=%d must be >= 0 and smaller than "
                "stride or dilation" % (i, opad[i]))
        if opad[i] >= stride_[i]:
            raise L.SafeConvUnsupportedError(
                "conv_transpose2d: output_padding[%d]=%d >= stride %d (allowed by PyTorch "
                "when dilation is larger) is not supported by safeconv"
                % (i, opad[i], stride_[i]))
    hout = (h - 1) * stride_[0] - 2 * pad[0] + dil[0] * (r - 1) + opad[0] + 1
    wout = (wd - 1) * stride_[1] - 2 * pad[1] + dil[1] * (s - 1) + opad[1] + 1
    if hout < 1 or wout < 1:
        raise L.SafeConvInputError("conv_transpose2d: output size %dx%d is not positive "
                                   "(input %dx%d, padding %s)" % (hout, wout, h, wd, pad))
    nhwc, xc, wc, bc = _operands(x, w, b)
    d = _make_desc(n, cout, hout, wout, cin, r, s, pad, stride_, dil, groups, x.dtype, nhwc,
                   "conv_transpose2d")
    p, q = _output_size(d, "conv_transpose2d")
    if (p, q) != (h, wd):
        raise L.SafeConvError("conv_transpose2d: internal size mismatch %dx%d vs %dx%d"
                              % (p, q, h, wd), L.STATUS_INTERNAL)
    rec.shape = tuple(x.shape)
    if _collector is not None:
        _collector[0]("conv_transpose2d", x.device, d)
    y = _ConvBackwardData.apply(xc, wc, _Spec(d, cfg, rec, nhwc, (h, wd), wc.stride()), True)
    if bc is not None:  # PyTorch adds the bias (and sums its gradient)
        y = y.add_(bc.view(1, -1, 1, 1))
    return y


def _register_script_builtins():
    """TorchScript resolves the functions a scripted function calls through a table keyed by
    the function object: F.conv2d is aten::conv2d there. Under enable() F.conv2d is safeconv's
    conv2d, which the script compiler cannot compile (keyword-only `layer`); entered in the
    table as the same aten operators, scripted code calling F.conv2d (or safeconv.conv2d)
    runs PyTorch's convolution, as scripting always did without safeconv."""
    try:
        from torch.jit._builtins import _register_builtin
    except ImportError:  # a PyTorch without this table: scripting such code fails as before
        return
    for fn, op in ((conv2d, "aten::conv2d"), (conv1d, "aten::conv1d"),
                   (conv_transpose2d, "aten::conv_transpose2d")):
        _register_builtin(fn, op)


_register_script_builtins()


# --- torch.compile -----------------------------------------------------------------------------
# PyTorch >= 2.4: the primitives are also custom operators (torch.library.custom_op) with fake
# implementations and registered autograd (_compile.py); conv2d and friends use them while
# torch.compile traces (_tracing below), so the compiled graph has no break at a convolution.
# Older PyTorch (1.13 included) never imports _compile.py: eager calls are the same either way.
def _custom_ops_available():
    try:
        major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    except ValueError:
        return False
    return ((major, minor) >= (2, 4) and hasattr(torch.library, "custom_op")
            and hasattr(getattr(torch, "compiler", None), "is_compiling"))


def _fake_check():
    try:
        from torch._subclasses import fake_tensor
    except ImportError:
        return lambda t: False
    fn = getattr(fake_tensor, "is_fake", None)  # also sees fakes inside FunctionalTensor
    return fn if fn is not None else (lambda t: isinstance(t, fake_tensor.FakeTensor))


_is_fake = _fake_check()
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _tracing(x):
    """Whether torch.compile is tracing this call: Dynamo says so (is_compiling), or the input
    is a fake tensor, which is what reaches this code when AOTAutograd traces a module Dynamo
    kept whole (PyTorch's own nn.Conv2d, whose _conv_forward enable() replaced); the library
    cannot take a fake tensor, the operators can. A plain tensor costs one type() check."""
    if _compiling is not None and _compiling():
        return True
    return type(x) not in _PLAIN and _is_fake(x)


_compile = None
_compiling = None
if _custom_ops_available():
    from . import _compile  # noqa: E402  (registers the safeconv:: operators)
    _compiling = torch.compiler.is_compiling
