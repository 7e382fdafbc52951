"""safeconv's custom operators (_compile.py, what torch.compile traces) run eagerly: their
results, first and second derivatives against PyTorch's convolution, their fake
implementations against their real outputs, statistics through tokens.

On PyTorch >= 2.4 these are the registered torch.library operators. On older PyTorch (1.13 in
CI) _compile.py is loaded with a stand-in for torch.library.custom_op that gives each operator
its registered autograd formula through an autograd.Function, as PyTorch's own
make_autograd_impl does, so that the operators' code and formulas are tested there too; what
only PyTorch >= 2.4 can check (opcheck, Dynamo tracing without graph breaks, compiled results)
is in test_compile.py."""
import importlib
import sys

import pytest
import torch

import safeconv
import safeconv.functional as SF
from conftest import DEVICES, rel_err


class _StandInOp:
    """torch.library.custom_op's CustomOpDef, reduced to what _compile.py uses."""

    def __init__(self, fn):
        self.fn, self.fake, self.backward, self.setup = fn, None, None, None

    def register_fake(self, fn):
        self.fake = fn
        return fn

    def register_autograd(self, backward, setup_context=None):
        self.backward, self.setup = backward, setup_context

    def __call__(self, *args):
        op = self
        if not (torch.is_grad_enabled()
                and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args)):
            return self.fn(*args)

        class Generated(torch.autograd.Function):
            @staticmethod
            def forward(ctx, *a):
                out = op.fn(*a)
                op.setup(ctx, a, out)
                return out

            @staticmethod
            def backward(ctx, *grads):
                return op.backward(ctx, *grads)
        return Generated.apply(*args)


def _stand_in_custom_op(name, fn=None, *, mutates_args):
    assert mutates_args == () and name.startswith("safeconv::")
    return _StandInOp if fn is None else _StandInOp(fn)


@pytest.fixture(scope="module")
def C():
    if SF._compile is not None:  # PyTorch >= 2.4: the real operators
        yield SF._compile
        return
    saved = getattr(torch.library, "custom_op", None)
    torch.library.custom_op = _stand_in_custom_op
    try:
        sys.modules.pop("safeconv._compile", None)
        mod = importlib.import_module("safeconv._compile")
    finally:
        if saved is None:
            del torch.library.custom_op
        else:
            torch.library.custom_op = saved
    yield mod
    sys.modules.pop("safeconv._compile", None)


def _fake(op):
    f = getattr(op, "fake", None)
    return f if f is not None else op._abstract_fn


CASES = [  # (x, w, stride, padding, dilation, groups)
    ((2, 4, 9, 8), (6, 2, 3, 2), [2, 1], [1, 2], [1, 2], 2),
    ((1, 3, 7, 7), (5, 3, 3, 3), [2, 2], [0, 0], [1, 1], 1),
    ((2, 4, 6, 5), (4, 1, 3, 3), [1, 1], [1, 1], [1, 1], 4),
]


def _inputs(case, device, nhwc, seed=0):
    xs, ws = case[0], case[1]
    g = torch.Generator().manual_seed(seed)
    x, w, b = torch.randn(*xs, generator=g), torch.randn(*ws, generator=g), \
        torch.randn(ws[0], generator=g)
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    return [t.to(device).contiguous(memory_format=fmt) if t.dim() == 4 else t.to(device)
            for t in (x, w, b)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_operators_and_fakes(C, case, nhwc, device):
    x, w, b = _inputs(CASES[case], device, nhwc)
    st, pad, dil, groups = CASES[case][2:]
    args = (st, pad, dil, groups, nhwc, 0, "conv2d", C.ROLE_NONE)
    y = C.conv2d_forward(x, w, b, *args)
    y_ref = SF.TORCH_CONV2D(x, w, b, st, pad, dil, groups)
    assert rel_err(y, y_ref) < 1e-5
    dy = torch.randn_like(y)
    dx = C.conv2d_backward_data(dy, w, list(x.shape[2:]), *args)
    dw = C.conv2d_backward_weight(x, dy, list(w.shape[2:]), *args)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    dx_ref, dw_ref = torch.autograd.grad(SF.TORCH_CONV2D(xr, wr, None, st, pad, dil, groups),
                                         (xr, wr), dy)
    assert rel_err(dx, dx_ref) < 1e-5 and rel_err(dw, dw_ref) < 1e-5
    # fake implementations: the same shape, dtype, device and strides as the real outputs
    meta = lambda t: torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
    for op, real, ins in ((C.conv2d_forward, y, (x, w, b)),
                          (C.conv2d_backward_data, dx, (dy, w, list(x.shape[2:]))),
                          (C.conv2d_backward_weight, dw, (x, dy, list(w.shape[2:])))):
        f = _fake(op)(*[meta(t) if isinstance(t, torch.Tensor) else t for t in ins], *args)
        assert (f.shape, f.stride(), f.dtype) == (real.shape, real.stride(), real.dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("kind", ["conv2d", "conv2d-same", "conv1d", "conv_transpose2d"])
def test_traced_entry_points_and_double_backward(C, kind, nhwc, device):
    """The functions Dynamo traces, run eagerly: values, and the gradient of a gradient
    through the operators' registered autograd, against PyTorch's convolution."""
    g = torch.Generator().manual_seed(1)
    if kind == "conv2d":
        x, w, b = torch.randn(2, 4, 9, 8, generator=g), torch.randn(6, 2, 3, 2, generator=g), \
            torch.randn(6, generator=g)
        kw = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 2), groups=2)
        ours = lambda x, w, b: C.conv2d(x, w, b, kw["stride"], kw["padding"], kw["dilation"],
                                        kw["groups"], None)
        ref = lambda x, w, b: SF.TORCH_CONV2D(x, w, b, **kw)
    elif kind == "conv1d":
        x, w, b = torch.randn(2, 4, 11, generator=g), torch.randn(6, 2, 3, generator=g), \
            torch.randn(6, generator=g)
        ours = lambda x, w, b: C.conv1d(x, w, b, (2,), (1,), (2,), 2, None)
        ref = lambda x, w, b: SF.TORCH_CONV1D(x, w, b, 2, 1, 2, 2)
    elif kind == "conv2d-same":  # string padding, with the odd extra added bottom/right
        x, w, b = torch.randn(2, 4, 7, 6, generator=g), torch.randn(6, 2, 3, 2, generator=g), \
            torch.randn(6, generator=g)
        ours = lambda x, w, b: C.conv2d(x, w, b, 1, "same", (1, 3), 2, None)
        ref = lambda x, w, b: SF.TORCH_CONV2D(x, w, b, 1, "same", (1, 3), 2)
    else:
        x, w, b = torch.randn(2, 4, 5, 4, generator=g), torch.randn(4, 3, 3, 2, generator=g), \
            torch.randn(6, generator=g)
        ours = lambda x, w, b: C.conv_transpose2d(x, w, b, (2, 2), (1, 1), (1, 0), 2, (1, 1),
                                                  None)
        ref = lambda x, w, b: SF.TORCH_CONV_TRANSPOSE2D(x, w, b, 2, 1, (1, 0), 2, 1)
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    ins = [t.to(device).contiguous(memory_format=fmt) if t.dim() == 4 else t.to(device)
           for t in (x, w, b)]
    ins = [t.requires_grad_() for t in ins]
    ref_ins = [t.detach().clone().requires_grad_() for t in ins]
    outs = []
    for fn, leaves in ((ours, ins), (ref, ref_ins)):
        y = fn(*leaves)
        first = torch.autograd.grad(y.square().sum(), leaves, create_graph=True)
        s = sum((f * f).sum() for f in first)
        second = torch.autograd.grad(s, leaves)
        outs.append((y, first, second))
    (y, first, second), (y_r, first_r, second_r) = outs
    assert y.shape == y_r.shape and rel_err(y, y_r) < 1e-5
    for a, r in zip(first + second, first_r + second_r):
        assert rel_err(a, r) < 1e-5


def test_tokens_route_statistics_and_options(C):
    """A token names the module: the operators count its calls in its statistics and use its
    options; copies get their own token."""
    import copy
    layer = safeconv.SafeConv2d(3, 4, 3, padding=1)
    tok = C.assign_token(layer)
    assert C.assign_token(layer) == tok and C._layer_of(tok) is layer
    twin = copy.deepcopy(layer)
    if SF._compile is None:  # the stand-in module: modules.py did not assign tokens
        C.assign_token(twin)
    assert twin._safeconv_token != tok and C._layer_of(twin._safeconv_token) is twin
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    y = C.conv2d(x, layer.weight, layer.bias, (1, 1), (1, 1), (1, 1), 1, layer)
    y.sum().backward()
    rep = safeconv.report(layer, print_table=False)["(model)"]
    assert rep["forward_calls"] == 1 and rep["backward_calls"] == 1
    assert rep["calls"] == {"forward": 1, "backward_data": 1, "backward_weight": 1}
    assert rep["path"] == "cpu"
    del layer
    import gc
    gc.collect()
    assert C._layer_of(tok) is None


def test_untraceable_calls_take_the_eager_path(C):
    x, w = torch.randn(1, 3, 5, 5, dtype=torch.float64), torch.randn(2, 3, 3, 3,
                                                                        dtype=torch.float64)
    with pytest.raises(safeconv.SafeConvUnsupportedError, match="float64"):
        C.conv2d(x, w, None, 1, 0, 1, 1, None)
    y = C.conv2d(torch.empty(1, 3, 5, 5, device="meta"), torch.empty(2, 3, 3, 3, device="meta"),
                 None, 1, 0, 1, 1, None)
    assert y.device.type == "meta" and y.shape == (1, 2, 3, 3)


def test_non_tensor_arguments_take_the_eager_path(C):
    with pytest.raises(TypeError):
        C.conv2d("not a tensor", torch.randn(2, 3, 3, 3), None, 1, 0, 1, 1, None)
    with pytest.raises(TypeError):
        C.conv_transpose2d(torch.randn(1, 2, 3, 3), 3.0, None, 1, 0, 0, 1, 1, None)


def test_tracing_is_seen_from_fake_tensors():
    """AOTAutograd traces a module Dynamo kept whole (a stock nn.Conv2d under enable()) with
    fake tensors, outside Dynamo's is_compiling(); a fake input must route the call to the
    operators (the library cannot read a fake tensor), a real one never."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode():
        fake = torch.empty(2, 3, 4, 4)
    assert SF._tracing(fake)
    assert not SF._tracing(torch.empty(2, 3, 4, 4))
    assert not SF._tracing(torch.nn.Parameter(torch.empty(2)))
    assert not SF._tracing("not a tensor")
