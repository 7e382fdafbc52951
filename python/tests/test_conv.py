"""Every layer type against PyTorch's own convolution (computed in float64 on the CPU), forward and
every gradient, on random shapes with groups, dilation, stride, padding and asymmetric kernels;
NCHW and channels_last; on the CPU, and on CUDA where available (conftest.DEVICES)."""
import random

import pytest
import torch
import torch.nn.functional as F

import safeconv
from conftest import DEVICES, rel_err, tol


def _conv_case(seed):
    rng = random.Random(seed)
    if rng.random() < 0.2:  # depthwise
        groups = rng.randint(2, 6)
        cg, kg = 1, rng.choice([1, 2])
    else:
        groups = rng.choice([1, 1, 2, 3])
        cg, kg = rng.randint(1, 4), rng.randint(1, 4)
    r, s = rng.randint(1, 5), rng.randint(1, 5)
    stride = (rng.randint(1, 3), rng.randint(1, 3))
    dil = (rng.randint(1, 3), rng.randint(1, 3))
    pad = (rng.randint(0, 3), rng.randint(0, 3))
    need_h = max(1, dil[0] * (r - 1) + 1 - 2 * pad[0])
    need_w = max(1, dil[1] * (s - 1) + 1 - 2 * pad[1])
    h, w = max(need_h, rng.randint(1, 12)), max(need_w, rng.randint(1, 12))
    return dict(n=rng.randint(1, 3), c=cg * groups, h=h, w=w, k=kg * groups, r=r, s=s,
                stride=stride, padding=pad, dilation=dil, groups=groups,
                bias=rng.random() < 0.7)


def _inputs(shape_x, shape_w, k_bias, device, channels_last, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape_x, generator=g, dtype=torch.float64)
    w = torch.randn(*shape_w, generator=g, dtype=torch.float64)
    b = torch.randn(k_bias, generator=g, dtype=torch.float64) if k_bias else None

    def dev(t):
        if t is None:
            return None
        t = t.to(device=device, dtype=dtype)
        if channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t.requires_grad_()
    return (x, w, b), (dev(x), dev(w), dev(b))


def _compare(fn_ref, fn_safe, ref_in, safe_in, device, seed, dtype=torch.float32):
    for t in ref_in:
        if t is not None:
            t.requires_grad_()
    y_ref = fn_ref(*ref_in)
    y = fn_safe(*safe_in)
    assert y.shape == y_ref.shape
    assert y.dtype == dtype and y.device.type == device
    assert rel_err(y, y_ref) < tol(device, dtype), "forward"
    g = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(seed + 1),
                    dtype=torch.float64)
    ins_ref = [t for t in ref_in if t is not None]
    ins = [t for t in safe_in if t is not None]
    grads_ref = torch.autograd.grad(y_ref, ins_ref, g)
    grads = torch.autograd.grad(y, ins, g.to(device=device, dtype=dtype))
    for name, a, b in zip(("input", "weight", "bias"), grads, grads_ref):
        assert a.shape == b.shape, name
        assert rel_err(a, b) < tol(device, dtype), name
    return y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("seed", range(40))
def test_conv2d_random(device, channels_last, seed):
    cs = _conv_case(seed)
    ref_in, safe_in = _inputs((cs["n"], cs["c"], cs["h"], cs["w"]),
                              (cs["k"], cs["c"] // cs["groups"], cs["r"], cs["s"]),
                              cs["k"] if cs["bias"] else 0, device, channels_last, seed)
    kw = dict(stride=cs["stride"], padding=cs["padding"], dilation=cs["dilation"],
              groups=cs["groups"])
    y = _compare(lambda x, w, b: F.conv2d(x, w, b, **kw),
                 lambda x, w, b: safeconv.conv2d(x, w, b, **kw),
                 ref_in, safe_in, device, seed)
    if channels_last and not safe_in[0].is_contiguous():
        assert y.is_contiguous(memory_format=torch.channels_last)  # PyTorch's behaviour too


def _transpose_case(seed):
    rng = random.Random(1000 + seed)
    groups = rng.choice([1, 1, 2, 3])
    cin, cout = rng.randint(1, 4) * groups, rng.randint(1, 4) * groups
    r, s = rng.randint(1, 4), rng.randint(1, 4)
    stride = (rng.randint(1, 3), rng.randint(1, 3))
    dil = (rng.randint(1, 2), rng.randint(1, 2))
    opad = (rng.randint(0, stride[0] - 1), rng.randint(0, stride[1] - 1))
    h, w = rng.randint(1, 7), rng.randint(1, 7)
    pad = []
    for hw, st, dl, k, op in ((h, stride[0], dil[0], r, opad[0]), (w, stride[1], dil[1], s, opad[1])):
        full = (hw - 1) * st + dl * (k - 1) + op + 1
        pad.append(rng.randint(0, max(0, min(3, (full - 1) // 2))))
    return dict(n=rng.randint(1, 3), cin=cin, cout=cout, h=h, w=w, r=r, s=s, stride=stride,
                padding=tuple(pad), output_padding=opad, dilation=dil, groups=groups,
                bias=rng.random() < 0.7)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("seed", range(16))
def test_conv_transpose2d_random(device, channels_last, seed):
    cs = _transpose_case(seed)
    ref_in, safe_in = _inputs((cs["n"], cs["cin"], cs["h"], cs["w"]),
                              (cs["cin"], cs["cout"] // cs["groups"], cs["r"], cs["s"]),
                              cs["cout"] if cs["bias"] else 0, device, channels_last, seed)
    kw = dict(stride=cs["stride"], padding=cs["padding"], output_padding=cs["output_padding"],
              groups=cs["groups"], dilation=cs["dilation"])
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
             lambda x, w, b: safeconv.conv_transpose2d(x, w, b, **kw),
             ref_in, safe_in, device, seed)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(12))
def test_conv1d_random(device, seed):
    rng = random.Random(2000 + seed)
    groups = rng.choice([1, 2])
    c, k, ks = rng.randint(1, 3) * groups, rng.randint(1, 3) * groups, rng.randint(1, 6)
    dil, stride = rng.randint(1, 3), rng.randint(1, 3)
    padding = rng.choice([0, 1, 2, "valid", "same"])
    if padding == "same":
        stride = 1
    length = max(dil * (ks - 1) + 1, rng.randint(1, 20))
    ref_in, safe_in = _inputs((rng.randint(1, 3), c, length), (k, c // groups, ks), k, device,
                              False, seed)
    kw = dict(stride=stride, padding=padding, dilation=dil, groups=groups)
    _compare(lambda x, w, b: F.conv1d(x, w, b, **kw),
             lambda x, w, b: safeconv.conv1d(x, w, b, **kw), ref_in, safe_in, device, seed)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding,kernel,dilation", [
    ("same", (3, 3), (1, 1)), ("same", (4, 2), (1, 1)), ("same", (2, 5), (2, 1)),
    ("same", (1, 4), (1, 3)), ("valid", (3, 2), (1, 2))])
def test_conv2d_string_padding(device, padding, kernel, dilation):
    ref_in, safe_in = _inputs((2, 4, 9, 8), (6, 2) + kernel, 6, device, False, 7)
    kw = dict(padding=padding, dilation=dilation, groups=2)
    _compare(lambda x, w, b: F.conv2d(x, w, b, **kw),
             lambda x, w, b: safeconv.conv2d(x, w, b, **kw), ref_in, safe_in, device, 7)


@pytest.mark.parametrize("device", DEVICES)
def test_noncontiguous_and_unbatched_inputs(device):
    g = torch.Generator().manual_seed(3)
    base = torch.randn(2, 9, 7, 5, generator=g).to(device)
    x = base.permute(0, 1, 3, 2)[:, ::2]          # strided, neither layout
    w = torch.randn(3, 5, 3, 2, generator=g).to(device)
    assert not x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
    y = safeconv.conv2d(x, w, padding=1)
    assert rel_err(y, F.conv2d(x.double().cpu(), w.double().cpu(), padding=1)) < tol(device)
    x3 = torch.randn(5, 6, 6, generator=g).to(device)
    y3 = safeconv.conv2d(x3, w)
    assert y3.shape == (3, 4, 5)
    assert rel_err(y3, F.conv2d(x3.double().cpu(), w.double().cpu())) < tol(device)


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch(device):
    x = torch.randn(0, 4, 6, 6, device=device, requires_grad=True)
    w = torch.randn(8, 4, 3, 3, device=device, requires_grad=True)
    b = torch.randn(8, device=device, requires_grad=True)
    y = safeconv.conv2d(x, w, b, padding=1)
    assert y.shape == (0, 8, 6, 6)
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.abs().sum() == 0 and b.grad.abs().sum() == 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("need", ["input", "weight", "bias", "weight+bias", "input+bias"])
def test_only_needed_gradients(device, need):
    """Only the gradients autograd asks for are computed (checked through the call counts)."""
    ref_in, (x, w, b) = _inputs((2, 3, 6, 6), (4, 3, 3, 3), 4, device, False, 11)
    x.requires_grad_("input" in need)
    w.requires_grad_("weight" in need)
    b.requires_grad_("bias" in need)
    layer = torch.nn.Module()  # a key for the statistics
    y = safeconv.conv2d(x, w, b, padding=1, layer=layer)
    wanted = [t for t in (x, w, b) if t.requires_grad]
    grads = torch.autograd.grad(y.sum(), wanted)
    ref = [t.requires_grad_() for t in ref_in]
    yr = F.conv2d(*ref, padding=1)
    refg = torch.autograd.grad(yr.sum(), [r for r, t in zip(ref, (x, w, b)) if t.requires_grad])
    for a, r in zip(grads, refg):
        assert rel_err(a, r) < tol(device)
    calls = safeconv.report(layer, print_table=False)["(model)"]["calls"]
    expect = {"forward": 1}
    if "input" in need:
        expect["backward_data"] = 1
    if "weight" in need:
        expect["backward_weight"] = 1
    elif "bias" in need:
        expect["backward_bias"] = 1
    assert calls == expect


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic_bits(device):
    """Same inputs, same bits (weight gradient included), run to run."""
    _, (x, w, b) = _inputs((4, 8, 10, 10), (16, 8, 3, 3), 16, device, False, 5)
    outs = []
    for _ in range(2):
        y = safeconv.conv2d(x, w, b, padding=1)
        outs.append([y] + list(torch.autograd.grad((y * y).sum(), (x, w, b))))
    for a, b_ in zip(*outs):
        assert torch.equal(a, b_)


def test_threads_share_contexts_safely():
    """Calls from several threads (DataParallel-like) on shared contexts give right results."""
    import threading
    g = torch.Generator().manual_seed(21)
    cases = [(torch.randn(2, 4, 9, 9, generator=g), torch.randn(6, 4, 3, 3, generator=g))
             for _ in range(4)]
    errors, results = [], [None] * 4

    def work(i):
        try:
            x, w = cases[i]
            for _ in range(10):
                xr = x.clone().requires_grad_()
                y = safeconv.conv2d(xr, w, padding=1)
                (dx,) = torch.autograd.grad(y.sum(), [xr])
            results[i] = (y, dx)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (x, w), (y, dx) in zip(cases, results):
        xr = x.double().requires_grad_()
        yr = F.conv2d(xr, w.double(), padding=1)
        assert rel_err(y, yr) < 2e-5
        assert rel_err(dx, torch.autograd.grad(yr.sum(), [xr])[0]) < 2e-5
