"""torch.compile support (PyTorch >= 2.4): safeconv's primitives as custom operators.

functional.py imports this module only where torch.library.custom_op exists; PyTorch 1.13
never sees it. While torch.compile traces (Dynamo's is_compiling(), or fake tensors reaching
the layer when AOTAutograd traces a module Dynamo kept whole: functional._tracing), conv2d,
conv1d and conv_transpose2d come here instead of their eager path: a few lines of plain tensor
code that Dynamo traces, around one of three operators

  safeconv::conv2d_forward          y  = conv(x, w) + b
  safeconv::conv2d_backward_data    dx = conv^T(dy, w)      (also conv_transpose2d's forward)
  safeconv::conv2d_backward_weight  dw = dW(x, dy)

each with a fake implementation (output shape, dtype and strides from the arguments alone)
and a registered autograd formula made of the others, as the eager autograd Functions are
(functional.py): the compiled graph has no break at a convolution, the backward graph calls
the same operators, and double backward works. Their real implementation is the eager one
(functional._run_*): the same library calls, the same numbers.

Operators take only tensors, ints, bools and strings, and a compiled graph keeps their
arguments as constants, so what is not a tensor travels as an int: `token` names the module
(safeconv's own modules get one when made or patched: modules.py; 0 = none), and options and
statistics are looked up from it when the operator runs (the Config in force then, as in eager
mode). `role` says whether a call is the one the user made (counted as a forward call), the
first of its backward (counted as a backward call), or part of either (not counted).
"""
import itertools
import weakref
from typing import List, Optional

import torch

from . import _stats
from . import functional as SF

ROLE_NONE, ROLE_FORWARD, ROLE_BACKWARD = 0, 1, 2

# --- modules by token ---------------------------------------------------------------------------
_tokens = itertools.count(1)
_layers = {}  # token -> weakref to the module


def assign_token(module):
    """Give `module` a token (an int attribute, which a compiled graph keeps as a constant):
    its own if it has one, a fresh one otherwise (also for a copy or an unpickled module, whose
    attribute names the original: modules.py, __setstate__)."""
    tok = module.__dict__.get("_safeconv_token")
    if tok is not None and _layer_of(tok) is module:
        return tok
    tok = next(_tokens)
    module.__dict__["_safeconv_token"] = tok
    _layers[tok] = weakref.ref(module, lambda _, t=tok: _layers.pop(t, None))
    return tok


def _layer_of(token):
    ref = _layers.get(token) if token else None
    return ref() if ref is not None else None


# --- building the eager spec from operator arguments ---------------------------------------------
_specs = {}  # argument key -> (descriptor, output (P, Q) or None); bounded


def _spec(kind, token, n, c, h, w, k, r, s, stride, padding, dilation, groups, dtype, nhwc,
          w_shape):
    layer = _layer_of(token)
    cfg = SF._config_for(layer)
    rec = _stats.record_for(layer, kind, None if layer is not None else tuple(w_shape))
    key = (n, c, h, w, k, r, s, tuple(stride), tuple(padding), tuple(dilation), groups, dtype,
           nhwc)
    got = _specs.get(key)
    if got is None:
        d = SF._make_desc(n, c, h, w, k, r, s, tuple(padding), tuple(stride), tuple(dilation),
                          groups, dtype, nhwc, kind)
        got = (d, SF._output_size(d, kind))
        if len(_specs) >= 4096:  # shapes without end (varying image sizes)
            _specs.clear()
        _specs[key] = got
    return SF._Spec(got[0], cfg, rec, nhwc, got[1])


def _count(spec, role, x):
    if role == ROLE_FORWARD:
        spec.rec._fwd_calls += 1
        spec.rec.shape = tuple(x.shape)
    elif role == ROLE_BACKWARD:
        spec.rec._bwd_calls += 1


def _fmt(nhwc):
    return torch.channels_last if nhwc else torch.contiguous_format


def _out(shape, like, nhwc):
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=_fmt(nhwc))


def _out_size(size, k, pad, stride, dil):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


# --- the operators ------------------------------------------------------------------------------
@torch.library.custom_op("safeconv::conv2d_forward", mutates_args=())
def conv2d_forward(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor],
                   stride: List[int], padding: List[int], dilation: List[int], groups: int,
                   nhwc: bool, token: int, kind: str, role: int) -> torch.Tensor:
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    spec = _spec(kind, token, n, c, h, wd, k, r, s, stride, padding, dilation, groups, x.dtype,
                 nhwc, w.shape)
    y = SF._run_forward(spec, spec.lay(x), spec.lay(w), None if b is None else b.contiguous())
    _count(spec, role, x)
    return y


@conv2d_forward.register_fake
def _(x, w, b, stride, padding, dilation, groups, nhwc, token, kind, role):
    p = _out_size(x.shape[2], w.shape[2], padding[0], stride[0], dilation[0])
    q = _out_size(x.shape[3], w.shape[3], padding[1], stride[1], dilation[1])
    return _out((x.shape[0], w.shape[0], p, q), x, nhwc)


@torch.library.custom_op("safeconv::conv2d_backward_data", mutates_args=())
def conv2d_backward_data(dy: torch.Tensor, w: torch.Tensor, input_size: List[int],
                         stride: List[int], padding: List[int], dilation: List[int], groups: int,
                         nhwc: bool, token: int, kind: str, role: int) -> torch.Tensor:
    k, cg, r, s = w.shape
    spec = _spec(kind, token, dy.shape[0], cg * groups, input_size[0], input_size[1], k, r, s,
                 stride, padding, dilation, groups, dy.dtype, nhwc, w.shape)
    dx = SF._run_backward_data(spec, spec.lay(dy), spec.lay(w))
    _count(spec, role, dy)
    return dx


@conv2d_backward_data.register_fake
def _(dy, w, input_size, stride, padding, dilation, groups, nhwc, token, kind, role):
    return _out((dy.shape[0], w.shape[1] * groups, input_size[0], input_size[1]), dy, nhwc)


@torch.library.custom_op("safeconv::conv2d_backward_weight", mutates_args=())
def conv2d_backward_weight(x: torch.Tensor, dy: torch.Tensor, kernel_size: List[int],
                           stride: List[int], padding: List[int], dilation: List[int],
                           groups: int, nhwc: bool, token: int, kind: str,
                           role: int) -> torch.Tensor:
    n, c, h, wd = x.shape
    k = dy.shape[1]
    spec = _spec(kind, token, n, c, h, wd, k, kernel_size[0], kernel_size[1], stride, padding,
                 dilation, groups, x.dtype, nhwc, (k, c // groups) + tuple(kernel_size))
    dw = SF._run_backward_weight(spec, spec.lay(x), spec.lay(dy), False)[0]
    _count(spec, role, x)
    return dw


@conv2d_backward_weight.register_fake
def _(x, dy, kernel_size, stride, padding, dilation, groups, nhwc, token, kind, role):
    return _out((dy.shape[1], x.shape[1] // groups, kernel_size[0], kernel_size[1]), x, nhwc)


# --- autograd: each operator's gradient made of the others ---------------------------------------
def _conv_args(ctx):
    return ctx.conv  # (stride, padding, dilation, groups, nhwc, token, kind)


def _first_role(ctx):
    """The role of the first operator a backward calls: the backward of the user's call is
    counted (once) by that operator."""
    return ROLE_BACKWARD if ctx.role == ROLE_FORWARD else ROLE_NONE


def _setup_forward(ctx, inputs, output):
    x, w, b, stride, padding, dilation, groups, nhwc, token, kind, role = inputs
    ctx.save_for_backward(x, w)
    ctx.conv = (stride, padding, dilation, groups, nhwc, token, kind)
    ctx.role = role
    ctx.has_bias = b is not None


def _backward_forward(ctx, dy):
    x, w = ctx.saved_tensors
    stride, padding, dilation, groups, nhwc, token, kind = _conv_args(ctx)
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    dy = dy.contiguous(memory_format=_fmt(nhwc))
    dx = dw = db = None
    role = _first_role(ctx)
    if need_x:
        dx = conv2d_backward_data(dy, w, [x.shape[2], x.shape[3]], stride, padding, dilation,
                                  groups, nhwc, token, kind, role)
        role = ROLE_NONE
    if need_w:
        dw = conv2d_backward_weight(x, dy, [w.shape[2], w.shape[3]], stride, padding, dilation,
                                    groups, nhwc, token, kind, role)
    if need_b and ctx.has_bias:
        db = dy.sum(dim=(0, 2, 3))
    return dx, dw, db, None, None, None, None, None, None, None, None


def _setup_backward_data(ctx, inputs, output):
    dy, w, input_size, stride, padding, dilation, groups, nhwc, token, kind, role = inputs
    ctx.save_for_backward(dy, w)
    ctx.conv = (stride, padding, dilation, groups, nhwc, token, kind)
    ctx.role = role


def _backward_backward_data(ctx, ddx):
    dy, w = ctx.saved_tensors
    stride, padding, dilation, groups, nhwc, token, kind = _conv_args(ctx)
    need_dy, need_w = ctx.needs_input_grad[:2]
    ddx = ddx.contiguous(memory_format=_fmt(nhwc))
    g_dy = g_w = None
    role = _first_role(ctx)
    if need_dy:
        g_dy = conv2d_forward(ddx, w, None, stride, padding, dilation, groups, nhwc, token, kind,
                              role)
        role = ROLE_NONE
    if need_w:
        g_w = conv2d_backward_weight(ddx, dy, [w.shape[2], w.shape[3]], stride, padding,
                                     dilation, groups, nhwc, token, kind, role)
    return g_dy, g_w, None, None, None, None, None, None, None, None, None


def _setup_backward_weight(ctx, inputs, output):
    x, dy, kernel_size, stride, padding, dilation, groups, nhwc, token, kind, role = inputs
    ctx.save_for_backward(x, dy)
    ctx.conv = (stride, padding, dilation, groups, nhwc, token, kind)
    ctx.role = role


def _backward_backward_weight(ctx, ddw):
    x, dy = ctx.saved_tensors
    stride, padding, dilation, groups, nhwc, token, kind = _conv_args(ctx)
    need_x, need_dy = ctx.needs_input_grad[:2]
    ddw = ddw.contiguous(memory_format=_fmt(nhwc))
    g_x = g_dy = None
    if need_x:
        g_x = conv2d_backward_data(dy, ddw, [x.shape[2], x.shape[3]], stride, padding, dilation,
                                   groups, nhwc, token, kind, ROLE_NONE)
    if need_dy:
        g_dy = conv2d_forward(x, ddw, None, stride, padding, dilation, groups, nhwc, token, kind,
                              ROLE_NONE)
    return g_x, g_dy, None, None, None, None, None, None, None, None, None


conv2d_forward.register_autograd(_backward_forward, setup_context=_setup_forward)
conv2d_backward_data.register_autograd(_backward_backward_data,
                                       setup_context=_setup_backward_data)
conv2d_backward_weight.register_autograd(_backward_backward_weight,
                                         setup_context=_setup_backward_weight)


# --- what Dynamo traces -------------------------------------------------------------------------
def _two(v):
    """A stride/padding/dilation as two ints (module attributes are tuples already)."""
    if isinstance(v, int):
        return [v, v]
    v = list(v)
    return v * 2 if len(v) == 1 else v


def _one(v):
    return v if isinstance(v, int) else list(v)[0]


def _token(layer):
    return getattr(layer, "_safeconv_token", 0) if layer is not None else 0


def _traceable(x, w, b, x_dims, w_dims):
    """Calls this path serves; anything else (other devices, dtypes, ranks, mixed operands,
    probe_model's shape collection) takes the eager path, which raises or falls back exactly
    as without torch.compile (at the price of a graph break)."""
    if not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor):
        return False
    if b is not None and (not isinstance(b, torch.Tensor) or b.dtype != x.dtype
                          or b.device != x.device or b.dim() != 1):
        return False
    return (SF._collector is None and x.device.type in ("cpu", "cuda") and x.dtype in SF._DTYPES
            and w.dtype == x.dtype and w.device == x.device and x.dim() in x_dims
            and w.dim() == w_dims)


def _tensors(x, w):
    return isinstance(x, torch.Tensor) and isinstance(w, torch.Tensor)


def conv2d(input, weight, bias, stride, padding, dilation, groups, layer, kind="conv2d"):
    if not _tensors(input, weight):
        return SF._conv2d_eager(input, weight, bias, stride, padding, dilation, groups, layer)
    x, w, b = SF._autocast(input, weight, bias, kind)
    if not _traceable(x, w, b, (3, 4), 4) or (isinstance(padding, str)
                                               and padding not in ("same", "valid")):
        return SF._conv2d_eager(input, weight, bias, stride, padding, dilation, groups, layer)
    unbatched = x.dim() == 3
    if unbatched:
        x = x.unsqueeze(0)
    st, dil = _two(stride), _two(dilation)
    if isinstance(padding, str):
        if padding == "same" and st != [1, 1]:
            return SF._conv2d_eager(input, weight, bias, stride, padding, dilation, groups, layer)
        x, pad = SF._resolve_padding(padding, x, (w.shape[2], w.shape[3]), st, dil, kind)
        pad = list(pad)
    else:
        pad = _two(padding)
    nhwc = SF._channels_last(x)
    fmt = _fmt(nhwc)
    y = conv2d_forward(x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt),
                       None if b is None else b.contiguous(), st, pad, dil, groups, nhwc,
                       _token(layer), "conv2d", ROLE_FORWARD)
    return y.squeeze(0) if unbatched else y


def conv1d(input, weight, bias, stride, padding, dilation, groups, layer):
    if not _tensors(input, weight):
        return SF._conv1d_eager(input, weight, bias, stride, padding, dilation, groups, layer)
    x, w, b = SF._autocast(input, weight, bias, "conv1d")
    if not _traceable(x, w, b, (2, 3), 3):
        return SF._conv1d_eager(input, weight, bias, stride, padding, dilation, groups, layer)
    pad = padding if isinstance(padding, str) else [0, _one(padding)]
    y = conv2d(x.unsqueeze(-2), w.unsqueeze(-2), b, [1, _one(stride)], pad,
               [1, _one(dilation)], groups, layer, "conv1d")
    return y.squeeze(-2)


def conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation,
                     layer):
    if not _tensors(input, weight):
        return SF._conv_transpose2d_eager(input, weight, bias, stride, padding, output_padding,
                                          groups, dilation, layer)
    x, w, b = SF._autocast(input, weight, bias, "conv_transpose2d")
    st, dil = _two(stride), _two(dilation)
    if (not _traceable(x, w, b, (3, 4), 4) or isinstance(padding, str)
            or any(o >= s or o < 0 for o, s in zip(_two(output_padding), st))):
        return SF._conv_transpose2d_eager(input, weight, bias, stride, padding, output_padding,
                                          groups, dilation, layer)
    pad, opad = _two(padding), _two(output_padding)
    unbatched = x.dim() == 3
    if unbatched:
        x = x.unsqueeze(0)
    size = [(x.shape[2 + i] - 1) * st[i] - 2 * pad[i] + dil[i] * (w.shape[2 + i] - 1) + opad[i]
            + 1 for i in (0, 1)]
    nhwc = SF._channels_last(x)
    fmt = _fmt(nhwc)
    y = conv2d_backward_data(x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt),
                             size, st, pad, dil, groups, nhwc, _token(layer),
                             "conv_transpose2d", ROLE_FORWARD)
    if b is not None:
        y = y + b.view(1, -1, 1, 1)
    return y.squeeze(0) if unbatched else y
