"""A layer's backward in one library call (sc_conv2d_backward): the same bits and the same
report as one call per direction, on the CPU (where oneDNN then reorders dy once for both
directions) and on a GPU (fp32, TF32, bf16, fp16)."""
import pytest
import torch
import torch.nn as nn

import safeconv
from conftest import CUDA_SKIP, rel_err, tol

CUDA = pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))

# (device, dtype, tf32, channels_last): the CPU in both layouts (NCHW 3x3 runs oneDNN's blocked
# variant in both backward directions, which shares dy's reorder), the GPU's matrix-unit and
# exact kernels in channels_last.
CASES = [("cpu", torch.float32, None, False), ("cpu", torch.float32, None, True),
         pytest.param("cuda", torch.float32, False, True, marks=CUDA),
         pytest.param("cuda", torch.float32, True, True, marks=CUDA),
         pytest.param("cuda", torch.bfloat16, None, True, marks=CUDA),
         pytest.param("cuda", torch.float16, None, True, marks=CUDA)]


def _grads_of_two_steps(device, dtype, tf32, cl, bias, stride, seed=11):
    """dx, dw, db of the second of two identical steps of one 3x3 layer under enable(), the
    layer's report, and the float64 reference gradients."""
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(4, 32, 14, 14, generator=g)
    w0 = torch.randn(64, 32, 3, 3, generator=g)
    b0 = torch.randn(64, generator=g) if bias else None
    p = (14 + 2 - 3) // stride + 1
    dy0 = torch.randn(4, 64, p, p, generator=g)
    fmt = torch.channels_last if cl else torch.contiguous_format
    layer = nn.Module()
    out = None
    strategy = "gpu" if device == "cuda" else "cpu"
    with safeconv.enable(strategy=strategy, tf32=tf32):
        for _ in range(2):
            x = x0.to(device, dtype).clone(memory_format=fmt).requires_grad_()
            w = w0.to(device, dtype).clone(memory_format=fmt).requires_grad_()
            b = b0.to(device, dtype).clone().requires_grad_() if bias else None
            y = safeconv.conv2d(x, w, b, padding=1, stride=stride, layer=layer)
            y.backward(dy0.to(device, dtype).contiguous(memory_format=fmt))
            out = (x.grad, w.grad, b.grad if bias else None)
    rep = safeconv.report(layer, print_table=False)["(model)"]
    ref = [t.double().requires_grad_() if t is not None else None for t in (x0, w0, b0)]
    yr = torch.conv2d(ref[0], ref[1], ref[2], padding=1, stride=stride)
    want = torch.autograd.grad(yr, [t for t in ref if t is not None], dy0.double())
    return out, rep, want


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("device,dtype,tf32,cl", CASES)
def test_backward_in_one_library_call(monkeypatch, python_layer, device, dtype, tf32, cl, bias,
                                      stride):
    """The Python layer's one-call backward's gradients have the bits of the calls made one
    direction at a time, and the report counts the same calls, paths, algorithms and math. On
    a GPU it is made outside the statistics' timed sample only (GPU calls there go one
    direction at a time, so each direction keeps its time)."""
    from safeconv import _stats
    from safeconv import functional as SF
    monkeypatch.setattr(_stats, "TIME_FIRST", 0)  # GPU: only the first call of each is timed
    monkeypatch.setattr(_stats, "TIME_EVERY", 1 << 30)
    calls = []
    real = SF._call_lib_backward

    def spy(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(SF, "_call_lib_backward", spy)
    one, rep_one, want = _grads_of_two_steps(device, dtype, tf32, cl, bias, stride)
    assert len(calls) == (2 if device == "cpu" else 1)  # a GPU's first backward is timed
    monkeypatch.setattr(SF, "_one_call_backward", lambda *args: False)
    sep, rep_sep, _ = _grads_of_two_steps(device, dtype, tf32, cl, bias, stride)
    assert len(calls) == (2 if device == "cpu" else 1)
    for a, b, name in zip(one, sep, ("dx", "dw", "db")):
        if b is None:
            continue
        assert a.dtype == b.dtype and a.stride() == b.stride(), name
        assert torch.equal(a, b), name
    for a, r in zip([t for t in one if t is not None], want):
        assert rel_err(a, r) < (5e-3 if tf32 else tol(device, dtype))
    for key in ("forward_calls", "backward_calls", "calls", "paths", "algos", "maths"):
        assert rep_one[key] == rep_sep[key], (key, rep_one[key], rep_sep[key])
    assert rep_one["path"] == ("gpu" if device == "cuda" else "cpu")
