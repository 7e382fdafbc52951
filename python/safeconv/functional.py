"""Convolutions through libsafeconv, with autograd: conv2d, conv1d, conv_transpose2d.

The signatures are torch.nn.functional's, so enable() can put these in its place.

How each maps onto the C API (include/safeconv.h):
  conv2d            forward: sc_conv2d_forward; backward: backward_data (input gradient),
                    backward_weight (weight, and bias in the same pass), backward_bias (bias
                    alone). Only the gradients autograd asks for are computed.
  conv_transpose2d  is the input gradient of a convolution whose output is this input:
                    forward = backward_data, input gradient = forward, weight gradient =
                    backward_weight with the roles of x and dy swapped. Bias: added/summed in
                    PyTorch (the transposed output has the conv's input channel count).
  conv1d            conv2d with height 1.

Layouts: an input in channels_last memory format (and not also plain contiguous) runs as
SC_NHWC with the weight made channels_last ((K,R,S,C/g) in memory, the header's NHWC weight)
and gives a channels_last output; anything else runs as SC_NCHW on contiguous copies.
Non-contiguous inputs are copied, never rejected.

Devices: CPU tensors run on a CPU context (strategy "cpu" unless force_strategy=True); CUDA
tensors (also ROCm builds of PyTorch, which call them "cuda") on the context of their GPU, on
torch.cuda.current_stream(). Tensors on other devices (meta, xla, ...), non-tensor arguments
(torch.fx proxies) and calls under torch.jit tracing go to PyTorch's own function unchanged.

dtypes: float32 everywhere; float16/bfloat16 on GPUs if the library's GPU backend does them.
Others raise SafeConvUnsupportedError, or run PyTorch's own convolution with fallback="torch".
Under CUDA autocast the inputs are cast to the autocast dtype first (what PyTorch's conv does);
under CPU autocast they are computed in float32.

Gradients are computed once (no double backward: torch.autograd.function.once_differentiable).
"""
import ctypes
import logging
import operator
import time

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from . import _lib as L
from . import _stats
from .config import current_config

# PyTorch's own functions, taken before enable() can replace them.
TORCH_CONV1D = F.conv1d
TORCH_CONV2D = F.conv2d
TORCH_CONV_TRANSPOSE2D = F.conv_transpose2d
TORCH_PAD = F.pad

_DTYPES = {torch.float32: L.DTYPE_F32, torch.float16: L.DTYPE_F16, torch.bfloat16: L.DTYPE_BF16}
_FN_NAMES = {L.DIR_FORWARD: "sc_conv2d_forward", L.DIR_BACKWARD_DATA: "sc_conv2d_backward_data",
             L.DIR_BACKWARD_WEIGHT: "sc_conv2d_backward_weight",
             L.DIR_BACKWARD_BIAS: "sc_conv2d_backward_bias"}


# --- argument checks ---------------------------------------------------------------------------
def _pair(v, name, n=2):
    """(v,)*n for an int, or a tuple of n ints (anything with __index__, not bools or floats)."""
    bad = L.SafeConvInputError("%s: expected an int or a tuple of %d ints, got %r" % (name, n, v))
    if isinstance(v, bool):
        raise bad
    try:
        return (operator.index(v),) * n
    except TypeError:
        pass
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
    return t


def _groups(groups, what):
    try:
        g = operator.index(groups)
    except TypeError:
        g = None
    if g is None or isinstance(groups, bool) or g < 1:
        raise L.SafeConvInputError("%s: groups must be an int >= 1, got %r" % (what, groups))
    return g


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
            "%s: dtype %s is not supported (safeconv computes float32, and float16/bfloat16 on "
            "GPUs); convert the model and input with .float(), or pass fallback='torch' to run "
            "PyTorch's convolution for such calls" % (what, x.dtype))
    if x.device.type == "cpu" and x.dtype != torch.float32:
        raise L.SafeConvUnsupportedError(
            "%s: dtype %s is not supported on the CPU (float32 only); use .float(), or pass "
            "fallback='torch'" % (what, x.dtype))


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


def _autocast_state(device_type):
    """(enabled, dtype) of autocast for "cuda" or "cpu", with PyTorch 2.4+'s API or the older one."""
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
    return torch.is_autocast_cpu_enabled(), None


def _autocast(x, w, b):
    if x.device.type == "cuda":
        on, dt = _autocast_state("cuda")
    elif x.device.type == "cpu":
        on, dt = _autocast_state("cpu")
        dt = torch.float32  # the CPU backend computes float32
    else:
        on = False
    if not on:
        return x, w, b
    cast = lambda t: t if t is None or t.dtype == dt or not t.is_floating_point() else t.to(dt)
    return cast(x), cast(w), cast(b)


def _channels_last(x):
    return (not x.is_contiguous()) and x.is_contiguous(memory_format=torch.channels_last)


# --- descriptors -------------------------------------------------------------------------------
def _make_desc(n, c, h, w_, k, r, s, pad, stride, dil, groups, dtype, nhwc):
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
    return None if t is None else ctypes.c_void_p(t.data_ptr())


# The current stream's raw handle without building a torch.cuda.Stream (PyTorch >= 1.11 has
# this; it is what the Triton integration calls). The per-call host work matters: a training
# step makes three library calls per layer, and on small late layers the host, not the GPU,
# sets the pace (bench/NOTES.md, runs 20-23).
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


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


def _call_lib(direction, cfg, rec, device, d, ptrs):
    """Run one direction. ptrs: the direction's pointer arguments in the header's order,
    without workspace. Records the path (and, on a sample of GPU calls, the time) in `rec`."""
    lib = L.load_library()
    on_cpu = device.type == "cpu"
    fn = getattr(lib, _FN_NAMES[direction])
    d_ref = ctypes.byref(d)
    seconds = events = None
    if on_cpu:
        cctx = _context(cfg, L.DEVICE_CPU, True)
        with cctx.lock:
            t0 = time.perf_counter()
            if direction == L.DIR_BACKWARD_BIAS:
                st = fn(cctx.handle, d_ref, *ptrs)
            else:
                st = fn(cctx.handle, d_ref, *ptrs, None, 0)
            seconds = time.perf_counter() - t0
            L.check(st, _FN_NAMES[direction])
            s = cctx.get_stats()
            path = _path_of(cctx, s)
    else:
        dev = device.index if device.index is not None else torch.cuda.current_device()
        cctx = _context(cfg, dev, False)
        with cctx.lock:
            # The library makes its context's GPU current; keep PyTorch's current device as
            # it was (only when they differ: the guard costs host time on every call).
            if torch.cuda.current_device() == dev:
                st, events = _call_gpu(lib, fn, direction, rec, device, dev, cctx, d, d_ref, ptrs)
            else:
                with torch.cuda.device(dev):
                    st, events = _call_gpu(lib, fn, direction, rec, device, dev, cctx, d, d_ref,
                                           ptrs)
            L.check(st, _FN_NAMES[direction])
            s = cctx.get_stats()
            path = _path_of(cctx, s)
    rec.add(direction, path, s.last_algo, seconds, events)


def _path_of(cctx, s):
    """Which route served the call just made: the counter of the context's statistics that
    moved (s: the statistics read after it)."""
    prev = cctx.prev_counts
    now = (s.gpu_calls, s.cpu_calls, s.vendor_calls)
    cctx.prev_counts = now
    return "gpu" if now[0] > prev[0] else "vendor" if now[2] > prev[2] else "cpu"


def _call_gpu(lib, fn, direction, rec, device, dev, cctx, d, d_ref, ptrs):
    """The GPU half of _call_lib (context lock held, dev current): (status, events or None)."""
    cctx.set_stream(_stream_handle(dev))
    if direction == L.DIR_BACKWARD_BIAS:
        return fn(cctx.handle, d_ref, *ptrs), None
    # No timing events inside CUDA graph capture (they would become graph nodes).
    timed = rec.want_time(direction) and not torch.cuda.is_current_stream_capturing()
    for attempt in (0, 1):
        # Workspace from PyTorch's caching allocator: stream-ordered, and visible to
        # torch.cuda.memory_allocated(). Its size is remembered per shape (Context.ws_sizes);
        # if the library's plan has changed since and needs more, the call fails before
        # running anything, and one retry with a fresh query follows.
        nbytes = cctx.workspace_size(d, d_ref, direction)
        ws = torch.empty(nbytes, dtype=torch.uint8, device=device) if nbytes else None
        if timed:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
        st = fn(cctx.handle, d_ref, *ptrs, _ptr(ws), nbytes)
        if timed:
            end.record()
        if attempt == 0 and _is_workspace_error(st):
            cctx.forget_workspace_size(d, direction)
            continue
        return st, ((start, end) if timed and st == L.STATUS_OK else None)


def _empty(shape, like, nhwc):
    return torch.empty(shape, dtype=like.dtype, device=like.device,
                       memory_format=torch.channels_last if nhwc else torch.contiguous_format)


# --- autograd functions ------------------------------------------------------------------------
class _Spec:
    """What a Function needs besides tensors (kept on ctx for backward)."""
    __slots__ = ("desc", "cfg", "rec", "nhwc", "transposed", "output_padding", "out_hw")

    def __init__(self, desc, cfg, rec, nhwc, transposed, output_padding=(0, 0), out_hw=None):
        self.desc, self.cfg, self.rec, self.nhwc, self.transposed = desc, cfg, rec, nhwc, transposed
        self.output_padding = output_padding
        self.out_hw = out_hw  # conv2d: the output's (P, Q), known from the descriptor cache


def _torch_backward(spec, x, w, dy, need):
    """Gradients by PyTorch (fallback='torch' when the library cannot do a backward call).
    x or w may be None when not saved: only their shapes are needed then."""
    d = spec.desc
    if spec.transposed:  # x: (N, C_in=K, P, Q), dy: (N, C_out=C, H, W)
        x_shape = (d.n, d.k) + _output_size(d, "conv_transpose2d")
        bias = [d.c] if need[2] else None
    else:
        x_shape = (d.n, d.c, d.h, d.w)
        bias = [d.k] if need[2] else None
    x_ = x if x is not None else dy.new_empty(1).expand(x_shape)
    w_ = w if w is not None else dy.new_empty(1).expand(d.k, d.c // d.groups, d.r, d.s)
    spec.rec.paths["torch"] += 1
    return torch.ops.aten.convolution_backward(
        dy, x_, w_, bias, [d.stride_h, d.stride_w], [d.pad_h, d.pad_w], [d.dil_h, d.dil_w],
        spec.transposed, list(spec.output_padding), d.groups, list(need))


class _Conv2dFunction(torch.autograd.Function):
    """y = conv2d(x, w) + b, x and w already in the spec's layout (contiguous)."""

    @staticmethod
    def forward(ctx, x, w, b, spec):
        d = spec.desc
        p, q = spec.out_hw or _output_size(d, "conv2d")
        y = _empty((d.n, d.k, p, q), x, spec.nhwc)
        if d.n > 0:
            _call_lib(L.DIR_FORWARD, spec.cfg, spec.rec, x.device, d,
                      (_ptr(x), _ptr(w), _ptr(b), _ptr(y)))
        spec.rec.forward_calls += 1
        ctx.spec = spec
        ctx.has_bias = b is not None
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        spec, d = ctx.spec, ctx.spec.desc
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        fmt = torch.channels_last if spec.nhwc else torch.contiguous_format
        dy = dy.contiguous(memory_format=fmt)
        dx = dw = db = None
        dev = dy.device
        if need_x:
            dx = _empty((d.n, d.c, d.h, d.w), dy, spec.nhwc)
        if need_w:
            dw = _empty((d.k, d.c // d.groups, d.r, d.s), dy, spec.nhwc)
        if need_b:
            db = torch.empty((d.k,), dtype=dy.dtype, device=dev)
        try:
            if d.n == 0:
                dw = dw.zero_() if dw is not None else None
                db = db.zero_() if db is not None else None
            else:
                if need_x:
                    _call_lib(L.DIR_BACKWARD_DATA, spec.cfg, spec.rec, dev, d,
                              (_ptr(dy), _ptr(w), _ptr(dx)))
                if need_w:
                    _call_lib(L.DIR_BACKWARD_WEIGHT, spec.cfg, spec.rec, dev, d,
                              (_ptr(x), _ptr(dy), _ptr(dw), _ptr(db)))
                elif need_b:
                    _call_lib(L.DIR_BACKWARD_BIAS, spec.cfg, spec.rec, dev, d,
                              (_ptr(dy), _ptr(db)))
        except L.SafeConvUnsupportedError as e:
            if spec.cfg.fallback != "torch":
                raise
            _tell_fallback(spec.cfg, e)
            dx, dw, db = _torch_backward(spec, x, w, dy, (need_x, need_w, need_b))
        spec.rec.backward_calls += 1
        return dx, dw, db, None


class _ConvTranspose2dFunction(torch.autograd.Function):
    """y = conv_transpose2d(x, w) + b: the input gradient of the convolution `desc` whose
    input is y (N, C_out, Hout, Wout) and whose output is x (N, C_in, H, W)."""

    @staticmethod
    def forward(ctx, x, w, b, spec):
        d = spec.desc
        y = _empty((d.n, d.c, d.h, d.w), x, spec.nhwc)
        if d.n > 0:
            _call_lib(L.DIR_BACKWARD_DATA, spec.cfg, spec.rec, x.device, d,
                      (_ptr(x), _ptr(w), _ptr(y)))
        if b is not None:
            y.add_(b.view(1, -1, 1, 1))
        spec.rec.forward_calls += 1
        ctx.spec = spec
        ctx.has_bias = b is not None
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        spec, d = ctx.spec, ctx.spec.desc
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        fmt = torch.channels_last if spec.nhwc else torch.contiguous_format
        dy = dy.contiguous(memory_format=fmt)
        dev = dy.device
        dx = dw = db = None
        if need_x:
            p, q = _output_size(d, "conv_transpose2d")
            dx = _empty((d.n, d.k, p, q), dy, spec.nhwc)
        if need_w:
            dw = _empty((d.k, d.c // d.groups, d.r, d.s), dy, spec.nhwc)
        try:
            if d.n == 0:
                dw = dw.zero_() if dw is not None else None
            else:
                if need_x:
                    _call_lib(L.DIR_FORWARD, spec.cfg, spec.rec, dev, d,
                              (_ptr(dy), _ptr(w), None, _ptr(dx)))
                if need_w:
                    _call_lib(L.DIR_BACKWARD_WEIGHT, spec.cfg, spec.rec, dev, d,
                              (_ptr(dy), _ptr(x), _ptr(dw), None))
        except L.SafeConvUnsupportedError as e:
            if spec.cfg.fallback != "torch":
                raise
            _tell_fallback(spec.cfg, e)
            dx, dw, _ = _torch_backward(spec, x, w, dy, (need_x, need_w, False))
        if need_b and ctx.has_bias:
            db = dy.sum(dim=(0, 2, 3))
        spec.rec.backward_calls += 1
        return dx, dw, db, None


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
    rec.forward_calls += 1
    rec.paths["torch"] += 1
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
    x, w, b = _autocast(input, weight, bias)
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
    args = (input, weight, bias, stride, padding, dilation, groups)
    return _dispatch("conv2d", TORCH_CONV2D, args, layer, lambda x, w, b, cfg, rec: _conv2d_body(
        x, w, b, stride, padding, dilation, groups, cfg, rec))


def _conv2d_body(x, w, b, stride, padding, dilation, groups, cfg, rec):
    """conv2d's own path (x batched): shape checks, padding, the descriptor, the autograd
    function. A layer called again with the shapes and arguments of its last call reuses that
    call's checked descriptor (the checks and the descriptor cost host time on every call)."""
    key = _desc_key(x, w, b, stride, padding, dilation, groups) if _collector is None else None
    if key is not None:
        hit = rec.desc_cache
        if hit is not None and hit[0] == key:
            nhwc, xc, wc, bc = _operands(x, w, b, key[4])
            return _Conv2dFunction.apply(xc, wc, bc,
                                         _Spec(hit[1], cfg, rec, nhwc, False, out_hw=hit[2]))
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
    nhwc, xc, wc, bc = _operands(x, w, b)
    d = _make_desc(n, c, h, wd, k, r, s, pad, stride_, dil, groups, x.dtype, nhwc)
    out_hw = _output_size(d, "conv2d")
    rec.shape = tuple(x.shape)
    if _collector is not None:
        _collector[0]("conv2d", x.device, d)
    elif key is not None:
        rec.desc_cache = (key, d, out_hw)
    return _Conv2dFunction.apply(xc, wc, bc, _Spec(d, cfg, rec, nhwc, False, out_hw=out_hw))


def _desc_key(x, w, b, stride, padding, dilation, groups):
    """What fixes a conv2d call's descriptor, for the one-entry cache per layer (LayerStats
    .desc_cache): shapes, dtype, layout and the arguments as given; None (no caching) for
    string padding (it may pad x) or arguments other than ints and tuples."""
    for v in (stride, padding, dilation, groups):
        # exactly int (True == 1 must not hit an entry made with 1: _pair rejects bools)
        if type(v) is not int and not (type(v) is tuple and all(type(e) is int for e in v)):
            return None
    return (x.shape, w.shape, None if b is None else b.shape, x.dtype, _channels_last(x),
            stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layer=None):
    """torch.nn.functional.conv1d through safeconv: a conv2d of height 1."""
    args = (input, weight, bias, stride, padding, dilation, groups)
    if _delegate(input, weight, bias):
        return TORCH_CONV1D(*args)
    input, weight, bias = _autocast(input, weight, bias)
    _check_tensors("conv1d", input, weight, bias, (2, 3), 3)
    if not _supported_device(input):
        return TORCH_CONV1D(*args)
    (st,) = _pair(stride, "conv1d: stride", 1)
    (dl,) = _pair(dilation, "conv1d: dilation", 1)
    pad = padding if isinstance(padding, str) else (0, _pair(padding, "conv1d: padding", 1)[0])
    try:
        y = conv2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, st), pad, (1, dl), groups,
                   layer=layer)
    except L.SafeConvError as e:
        e.args = (str(e).replace("conv2d:", "conv1d (as conv2d of height 1):", 1),)
        raise
    return y.squeeze(-2)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, layer=None):
    """torch.nn.functional.conv_transpose2d through safeconv (backward-data of a conv2d)."""
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
    d = _make_desc(n, cout, hout, wout, cin, r, s, pad, stride_, dil, groups, x.dtype, nhwc)
    p, q = _output_size(d, "conv_transpose2d")
    if (p, q) != (h, wd):
        raise L.SafeConvError("conv_transpose2d: internal size mismatch %dx%d vs %dx%d"
                              % (p, q, h, wd), L.STATUS_INTERNAL)
    rec.shape = tuple(x.shape)
    if _collector is not None:
        _collector[0]("conv_transpose2d", x.device, d)
    return _ConvTranspose2dFunction.apply(xc, wc, bc, _Spec(d, cfg, rec, nhwc, True, opad))
