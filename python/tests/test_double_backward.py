"""Double backward: gradients of safeconv's gradients (gradient penalties, Hessian-vector
products) against PyTorch's own convolution, which supports them.

Both sides compute in float32 on the CPU (or on CUDA where available), from the same inputs;
second derivatives go through two or three convolutions each. Tolerance: relative L2 error
1e-5 on the CPU (observed: below 3e-7), 1e-4 on a GPU (other summation orders).

Before safeconv's backward was built from its own differentiable primitives, its gradients
were once_differentiable: create_graph=True gave gradients with requires_grad False, a gradient
penalty contributed nothing, and torch.autograd.functional.hvp returned zeros, silently."""
import pytest
import torch

import safeconv
import safeconv.functional as SF
from conftest import DEVICES, rel_err

def _tol(device):
    return 1e-5 if device == "cpu" else 1e-4

# (kind, x shape, w shape, kwargs): groups, stride, padding, dilation, asymmetric sizes
CASES = [
    ("conv2d", (2, 4, 9, 8), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                                                groups=2)),
    ("conv2d", (1, 3, 7, 7), (5, 3, 3, 3), dict(stride=2, padding=0)),   # rows left over
    ("conv2d", (2, 4, 6, 5), (4, 1, 3, 3), dict(padding=1, groups=4)),   # depthwise
    ("conv2d", (2, 3, 6, 6), (4, 3, 1, 1), dict()),                      # 1x1
    ("conv1d", (2, 4, 11), (6, 2, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
    ("conv_transpose2d", (2, 4, 5, 4), (4, 3, 3, 2), dict(stride=2, padding=1, output_padding=1,
                                                          groups=2)),
    ("conv_transpose2d", (1, 3, 4, 4), (3, 2, 2, 2), dict(stride=2, dilation=(1, 2))),
]
IDS = ["%s-%d" % (c[0], i) for i, c in enumerate(CASES)]

FNS = {"conv2d": (safeconv.conv2d, SF.TORCH_CONV2D),
       "conv1d": (safeconv.conv1d, SF.TORCH_CONV1D),
       "conv_transpose2d": (safeconv.conv_transpose2d, SF.TORCH_CONV_TRANSPOSE2D)}


def _bias_size(kind, w_shape, kw):
    if kind == "conv_transpose2d":
        return w_shape[1] * kw.get("groups", 1)
    return w_shape[0]


def _make(case, device, channels_last, bias, seed=0):
    kind, xs, ws, kw = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*xs, generator=g)
    w = torch.randn(*ws, generator=g) * 0.5
    b = torch.randn(_bias_size(kind, ws, kw), generator=g) if bias else None

    def prep(t):
        if t is None:
            return None
        t = t.to(device)
        if channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t.requires_grad_()
    return [prep(t) for t in (x, w, b)]


def _clone(ts):
    return [None if t is None else t.detach().clone().requires_grad_() for t in ts]


def _zeros_for_none(grads, like):
    return [torch.zeros_like(t) if gr is None else gr for gr, t in zip(grads, like)]


def _second_order(fn, ins, kw, seed):
    """First gradients with create_graph, then the gradient of a scalar made of them: every
    path of the double backward (through dy as well, because the loss is quadratic in y)."""
    x, w, b = ins
    y = fn(x, w, b, **kw)
    g = torch.Generator().manual_seed(seed)
    cot = torch.randn(y.shape, generator=g).to(y.device)
    loss = (y.square() * cot).sum()
    leaves = [t for t in ins if t is not None]
    first = torch.autograd.grad(loss, leaves, create_graph=True)
    vs = [torch.randn(t.shape, generator=g).to(t.device) for t in leaves]
    s = sum((f * v).sum() for f, v in zip(first, vs))
    second = torch.autograd.grad(s, leaves, allow_unused=True)
    return first, _zeros_for_none(second, leaves)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_grad_of_grad_matches_pytorch(case, bias, channels_last, device):
    fn, ref_fn = FNS[case[0]]
    ins = _make(case, device, channels_last, bias)
    ref_ins = _clone(ins)
    first, second = _second_order(fn, ins, case[3], 1)
    assert all(f.requires_grad for f in first), "first gradients are not differentiable"
    first_ref, second_ref = _second_order(ref_fn, ref_ins, case[3], 1)
    for name, a, r in zip(("x", "w", "b"), first, first_ref):
        assert rel_err(a, r) < _tol(device), "first derivative d/d%s" % name
    for name, a, r in zip(("x", "w", "b"), second, second_ref):
        assert a.shape == r.shape
        assert rel_err(a, r) < _tol(device), "second derivative d/d%s" % name


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hvp_matches_pytorch(case, device):
    """Hessian-vector products with respect to the weight and to the input."""
    fn, ref_fn = FNS[case[0]]
    x, w, b = (t.detach() for t in _make(case, device, False, True))
    kw = case[3]
    g = torch.Generator().manual_seed(2)
    vw = torch.randn(w.shape, generator=g).to(device)
    vx = torch.randn(x.shape, generator=g).to(device)

    def loss_w(f):
        return lambda w_: f(x, w_, b, **kw).tanh().sum()

    def loss_x(f):
        return lambda x_: f(x_, w, b, **kw).tanh().sum()
    for make, v in ((loss_w, vw), (loss_x, vx)):
        arg = w if make is loss_w else x
        _, hv = torch.autograd.functional.hvp(make(fn), arg, v)
        _, hv_ref = torch.autograd.functional.hvp(make(ref_fn), arg, v)
        assert hv_ref.abs().max() > 0  # the premise: a non-zero Hessian
        assert rel_err(hv, hv_ref) < _tol(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_gradient_penalty_step_matches_pytorch(device, channels_last):
    """A WGAN-GP style step on a small critic: loss + (||d critic / d x|| - 1)^2, then
    backward; every parameter's and the input's .grad against the same model run by PyTorch."""
    torch.manual_seed(3)
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.Tanh(),
                              torch.nn.Conv2d(8, 8, 3, padding=1, groups=2), torch.nn.Tanh(),
                              torch.nn.ConvTranspose2d(8, 4, 2, stride=2), torch.nn.Tanh(),
                              torch.nn.Conv2d(4, 1, 1)).to(device)
    import copy
    model = safeconv.patch_model(copy.deepcopy(ref))
    if channels_last:
        ref = ref.to(memory_format=torch.channels_last)
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 8, 8, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def step(m):
        xi = x.detach().clone().requires_grad_()
        out = m(xi)
        (gx,) = torch.autograd.grad(out.sum(), xi, create_graph=True)
        penalty = (gx.flatten(1).norm(dim=1) - 1).square().mean()
        (out.mean() + 10 * penalty).backward()
        return xi.grad, [p.grad for p in m.parameters()], penalty.detach()
    gx, grads, pen = step(model)
    gx_ref, grads_ref, pen_ref = step(ref)
    assert rel_err(pen, pen_ref) < _tol(device)
    assert rel_err(gx, gx_ref) < _tol(device)
    for (name, _), a, r in zip(ref.named_parameters(), grads, grads_ref):
        assert rel_err(a, r) < _tol(device), name
    # statistics: one forward and two backward passes (the create_graph one and the final
    # one) per layer; the double backward's library calls are counted by direction only
    layers = [r for r in safeconv.report(model, print_table=False).values()
              if r["type"].startswith("SafeConv")]
    assert len(layers) == 4
    assert all(r["forward_calls"] == 1 and r["backward_calls"] == 2 for r in layers)


def test_create_graph_gradients_are_differentiable():
    """The symptom of the defect, in its plainest form."""
    x = torch.randn(1, 2, 5, 5)
    w = torch.randn(3, 2, 3, 3, requires_grad=True)
    (g,) = torch.autograd.grad(safeconv.conv2d(x, w).square().sum(), w, create_graph=True)
    assert g.requires_grad
    (h,) = torch.autograd.grad(g.sum(), w)
    wr = w.detach().clone().requires_grad_()
    (gr,) = torch.autograd.grad(SF.TORCH_CONV2D(x, wr).square().sum(), wr, create_graph=True)
    (hr,) = torch.autograd.grad(gr.sum(), wr)
    assert rel_err(h, hr) < _tol("cpu")


def test_first_order_backward_is_unchanged_by_create_graph():
    """create_graph=True takes the differentiable route (separate weight and bias calls);
    its first derivatives agree with the plain route's."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 7, 7, generator=g)
    w, b = torch.randn(6, 2, 3, 3, generator=g), torch.randn(6, generator=g)
    ins = [t.clone().requires_grad_() for t in (x, w, b)]
    plain = torch.autograd.grad(safeconv.conv2d(*ins, padding=1, groups=2).sum(), ins)
    graph = torch.autograd.grad(safeconv.conv2d(*ins, padding=1, groups=2).sum(), ins,
                                create_graph=True)
    for a, r in zip(graph, plain):
        assert rel_err(a, r) < 1e-6
