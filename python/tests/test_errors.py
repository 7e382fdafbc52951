"""Bad input gets a clear Python exception naming the problem; fallback="torch" on request."""
import logging
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
from conftest import CUDA_SKIP, rel_err

HERE = os.path.dirname(os.path.abspath(__file__))


def _x(*shape, **kw):
    return torch.randn(*shape, **kw)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32])
def test_unsupported_dtype_on_cpu(dtype):
    x, w = _x(1, 3, 5, 5).to(dtype), _x(2, 3, 3, 3).to(dtype)
    with pytest.raises(safeconv.SafeConvUnsupportedError, match=str(dtype)) as e:
        safeconv.conv2d(x, w)
    assert e.value.status == 2 and isinstance(e.value, safeconv.SafeConvError)
    assert isinstance(e.value, RuntimeError)


def test_fallback_torch_when_asked():
    x, w = _x(1, 3, 5, 5, dtype=torch.float64), _x(2, 3, 3, 3, dtype=torch.float64)
    m = nn.Conv2d(3, 2, 3).double()
    with safeconv.enable(fallback="torch"):
        y = F.conv2d(x, w)
        assert y.dtype == torch.float64
        assert torch.allclose(y, safeconv.functional.TORCH_CONV2D(x, w))
        m(x).sum().backward()                       # gradients through PyTorch's conv
        assert m.weight.grad is not None
        t = safeconv.conv_transpose2d(_x(1, 2, 3, 3, dtype=torch.float64), w)
        assert t.shape == (1, 3, 5, 5)
    rep = safeconv.report(m, print_table=False)["(model)"]
    assert rep["path"] == "torch" and rep["bypass_rate"] == 0.0
    with pytest.raises(safeconv.SafeConvUnsupportedError):   # default: error
        with safeconv.enable():
            F.conv2d(x, w)


def test_mixed_dtypes():
    with pytest.raises(safeconv.SafeConvInputError, match="weight dtype torch.float64 does not "
                                                          "match input dtype torch.float32"):
        safeconv.conv2d(_x(1, 3, 5, 5), _x(2, 3, 3, 3, dtype=torch.float64))
    with pytest.raises(safeconv.SafeConvInputError, match="bias dtype"):
        safeconv.conv2d(_x(1, 3, 5, 5), _x(2, 3, 3, 3), _x(2, dtype=torch.float64))


def test_different_devices():
    # The meta device needs no hardware: it checks the test's premise on any machine.
    with pytest.raises(safeconv.SafeConvInputError, match="weight is on meta but input is on cpu"):
        safeconv.conv2d(_x(1, 3, 5, 5), torch.empty(2, 3, 3, 3, device="meta"))
    with pytest.raises(safeconv.SafeConvInputError, match="bias is on meta"):
        safeconv.conv2d(_x(1, 3, 5, 5), _x(2, 3, 3, 3), torch.empty(2, device="meta"))


@pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))
def test_cpu_and_cuda_mixed():
    with pytest.raises(safeconv.SafeConvInputError, match="weight is on cuda"):
        safeconv.conv2d(_x(1, 3, 5, 5), _x(2, 3, 3, 3, device="cuda"))


@pytest.mark.parametrize("x,w,b,kw,match", [
    ((1, 4, 5, 5), (2, 3, 3, 3), None, {}, r"weight of shape \(2, 3, 3, 3\) expects 3 input "
                                           r"channels.*input has 4"),
    ((1, 6, 5, 5), (4, 3, 3, 3), None, {"groups": 3}, "expects 9 input channels"),
    ((1, 6, 5, 5), (4, 2, 3, 3), None, {"groups": 3}, "4 output channels, not divisible by "
                                                      "groups=3"),
    ((1, 3, 5, 5), (2, 3, 3, 3), (3,), {}, "bias has 3 elements, weight has 2 output channels"),
    ((1, 3, 5, 5), (2, 3, 3), None, {}, "weight must have 4 dimensions"),
    ((3, 5), (2, 3, 3, 3), None, {}, "input must have 3 or 4 dimensions"),
    ((1, 3, 5, 5), (2, 3, 3, 3), (2, 1), {}, "bias must be 1-dimensional"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"groups": 0}, "groups must be an int >= 1"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"stride": (1, 2, 3)}, "stride: expected 2 values"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"padding": 1.5}, "padding: expected an int"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"dilation": (1, 2.0)}, "dilation: expected an int"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"groups": 1.0}, "groups must be an int"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"padding": "full"}, "padding must be 'valid', 'same'"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"padding": "same", "stride": 2},
     "padding='same' is not supported for strided"),
    # found by the library: its message names the descriptor field
    ((1, 3, 2, 5), (2, 3, 3, 3), None, {}, r"desc\.r"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"stride": 0}, r"desc\.stride_h"),
    ((1, 3, 5, 5), (2, 3, 3, 3), None, {"padding": -1}, r"desc\.pad_h"),
])
def test_bad_shapes_name_the_problem(x, w, b, kw, match):
    with pytest.raises(safeconv.SafeConvInputError, match=match) as e:
        safeconv.conv2d(_x(*x), _x(*w), None if b is None else _x(*b), **kw)
    assert e.value.status == 1 and isinstance(e.value, ValueError)


def test_bad_transpose_and_conv1d_inputs():
    with pytest.raises(safeconv.SafeConvInputError, match="expects 4 input channels, input has 3"):
        safeconv.conv_transpose2d(_x(1, 3, 5, 5), _x(4, 2, 3, 3))
    with pytest.raises(safeconv.SafeConvInputError, match="output_padding"):
        safeconv.conv_transpose2d(_x(1, 4, 5, 5), _x(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(safeconv.SafeConvInputError, match="bias has 3 elements, output has 2"):
        safeconv.conv_transpose2d(_x(1, 4, 5, 5), _x(4, 2, 3, 3), _x(3))
    with pytest.raises(safeconv.SafeConvInputError, match="conv1d"):
        safeconv.conv1d(_x(1, 4, 9), _x(2, 3, 3))
    with pytest.raises(safeconv.SafeConvInputError, match="weight must have 3 dimensions"):
        safeconv.conv1d(_x(1, 4, 9), _x(2, 4, 3, 3))


def test_bad_module_weight_shape():
    m = safeconv.SafeConv2d(3, 4, 3)
    with torch.no_grad():
        m.weight = nn.Parameter(torch.randn(4, 2, 3, 3))
    with pytest.raises(safeconv.SafeConvInputError, match="expects 2 input channels"):
        m(_x(1, 3, 6, 6))


def test_non_tensor_and_meta_go_to_pytorch():
    # meta tensors (shape inference) and traced calls are PyTorch's business, unchanged
    y = safeconv.conv2d(torch.empty(1, 3, 5, 5, device="meta"),
                        torch.empty(2, 3, 3, 3, device="meta"))
    assert y.shape == (1, 2, 3, 3) and y.device.type == "meta"
    with pytest.raises(TypeError):
        safeconv.conv2d("not a tensor", _x(2, 3, 3, 3))


def test_library_not_found_is_clear():
    env = dict(os.environ, SAFECONV_LIBRARY="/nonexistent/libsafeconv.so",
               PYTHONPATH=os.path.join(HERE, os.pardir))
    code = ("import safeconv\n"
            "try:\n    safeconv.load_library()\n"
            "except safeconv.LibraryNotFoundError as e:\n    print('OK', e.status, e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OK 6") and "/nonexistent/libsafeconv.so" in out.stdout


def test_gradcheck_small():
    """A float32 finite-difference sanity check on top of the reference comparisons."""
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    w = torch.randn(2, 2, 2, 2, dtype=torch.float64)
    # safeconv is float32: compare its gradients with float64 PyTorch gradients instead
    xs, ws = x.float().requires_grad_(), w.float().requires_grad_()
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
    safeconv.conv2d(xs, ws, stride=2).square().sum().backward()
    F.conv2d(xr, wr, stride=2).square().sum().backward()
    assert rel_err(xs.grad, xr.grad) < 1e-5 and rel_err(ws.grad, wr.grad) < 1e-5


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("need", [(True, True, True), (True, False, False), (False, True, True),
                                  (False, False, True)])
def test_backward_fallback_to_torch(monkeypatch, transposed, need):
    """A backward direction the library reports UNSUPPORTED runs in PyTorch with
    fallback='torch' (and raises without it), whether the backward is one library call or one
    per direction."""
    real = safeconv.functional._call_lib

    def forward_only(direction, spec, device, ptrs):
        if direction != (1 if transposed else 0):
            raise safeconv.SafeConvUnsupportedError("test: direction %d unsupported" % direction)
        return real(direction, spec, device, ptrs)

    def no_backward(*args):  # the backward in one call (sc_conv2d_backward)
        raise safeconv.SafeConvUnsupportedError("test: the backward is unsupported")

    monkeypatch.setattr(safeconv.functional, "_call_lib", forward_only)
    monkeypatch.setattr(safeconv.functional, "_call_lib_backward", no_backward)
    g = torch.Generator().manual_seed(4)
    if transposed:
        x, w, b = (torch.randn(2, 4, 5, 4, generator=g), torch.randn(4, 3, 3, 2, generator=g),
                   torch.randn(6, generator=g))
        kw = dict(stride=2, padding=1, output_padding=1, groups=2)
        fn, ref_fn = safeconv.conv_transpose2d, safeconv.functional.TORCH_CONV_TRANSPOSE2D
    else:
        x, w, b = (torch.randn(2, 4, 7, 6, generator=g), torch.randn(6, 2, 3, 2, generator=g),
                   torch.randn(6, generator=g))
        kw = dict(stride=(2, 1), padding=1, groups=2)
        fn, ref_fn = safeconv.conv2d, safeconv.functional.TORCH_CONV2D
    for t, n in zip((x, w, b), need):
        t.requires_grad_(n)
    wanted = [t for t in (x, w, b) if t.requires_grad]
    if not transposed or need[0] or need[1]:  # a transposed bias gradient is a PyTorch sum
        with pytest.raises(safeconv.SafeConvUnsupportedError):
            torch.autograd.grad(fn(x, w, b, **kw).sum(), wanted)
    with safeconv.enable(fallback="torch"):
        grads = torch.autograd.grad(fn(x, w, b, **kw).square().sum(), wanted)
    ref = torch.autograd.grad(ref_fn(x, w, b, **kw).square().sum(), wanted)
    for a, r in zip(grads, ref):
        assert rel_err(a, r) < 1e-5


def test_fallback_is_told_once_with_verbose(caplog):
    """On the "safeconv" logger: a warning with verbose, once per reason; info without."""
    x, w = _x(1, 3, 5, 5, dtype=torch.float64), _x(2, 3, 3, 3, dtype=torch.float64)
    caplog.set_level(logging.INFO, logger="safeconv")
    safeconv.functional._told.clear()  # reasons told by earlier tests of this process
    with safeconv.enable(fallback="torch", verbose=1):
        F.conv2d(x, w)
        F.conv2d(x, w)
    told = [r for r in caplog.records if "runs instead" in r.getMessage()]
    assert len(told) == 1 and told[0].name == "safeconv", caplog.records
    assert told[0].levelno == logging.WARNING and "float64" in told[0].getMessage()
    caplog.clear()
    x3 = _x(1, 3, 6, 6, dtype=torch.float64)
    with safeconv.enable(fallback="torch"):
        F.conv2d(x3, w)
    told = [r for r in caplog.records if "runs instead" in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO, caplog.records


def test_fallback_warning_reaches_stderr_without_logging_setup():
    """An application that configured no logging still sees the warning (Python's last-resort
    handler), and nothing is printed by the package itself on stdout."""
    code = ("import torch, safeconv\n"
            "with safeconv.enable(fallback='torch', verbose=1):\n"
            "    torch.nn.functional.conv2d(torch.randn(1, 3, 5, 5, dtype=torch.float64),\n"
            "                               torch.randn(2, 3, 3, 3, dtype=torch.float64))\n")
    p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == b""
    assert p.stderr.decode().count("runs instead") == 1, p.stderr.decode()


BIG = 2 ** 64 + 1  # wraps to 1 in a C int64_t


@pytest.mark.parametrize("fn,x,w,kw,match", [
    ("conv2d", (1, 3, 5, 5), (2, 3, 3, 3), {"padding": BIG}, "padding: 18446744073709551617 does "
                                                            "not fit in a 64-bit integer"),
    ("conv2d", (1, 3, 5, 5), (2, 3, 3, 3), {"padding": (1, -BIG)},
     "padding: -18446744073709551617"),
    ("conv2d", (1, 3, 5, 5), (2, 3, 3, 3), {"stride": 2 ** 63}, "stride: 9223372036854775808"),
    ("conv2d", (1, 3, 5, 5), (2, 3, 3, 3), {"dilation": (BIG, 1)}, "dilation: 1844"),
    ("conv2d", (1, 4, 5, 5), (2, 2, 3, 3), {"groups": BIG + 1}, "groups: 1844"),
    ("conv1d", (1, 3, 5), (2, 3, 3), {"padding": BIG}, "padding: 1844"),
    ("conv_transpose2d", (1, 2, 3, 3), (2, 3, 3, 3), {"stride": BIG}, "stride: 1844"),
    ("conv_transpose2d", (1, 2, 3, 3), (2, 3, 3, 3), {"output_padding": BIG, "stride": 2},
     "output_padding"),
    # in range, but the transposed output's size is not: found before the descriptor is filled
    ("conv_transpose2d", (1, 2, 3, 3), (2, 3, 3, 3), {"stride": 2 ** 62}, r"desc\.h: "),
    # negative where not allowed: the library names the descriptor field (as before)
    ("conv2d", (1, 3, 5, 5), (2, 3, 3, 3), {"stride": -1}, r"desc\.stride_h"),
    ("conv2d", (1, 3, 5, 5), (2, 3, 3, 3), {"dilation": (1, 0)}, r"desc\.dil_w"),
    ("conv2d", (1, 3, 5, 5), (2, 3, 3, 3), {"groups": -2}, "groups must be an int >= 1"),
    ("conv_transpose2d", (1, 2, 3, 3), (2, 3, 3, 3), {"padding": -1}, r"desc\.pad_h"),
])
def test_out_of_range_integers_raise(fn, x, w, kw, match):
    """PyTorch raises for integers beyond int64 and for negative sizes; safeconv too, where
    ctypes would otherwise have wrapped them (padding=2**64+1 ran as padding 1)."""
    with pytest.raises(safeconv.SafeConvInputError, match=match):
        getattr(safeconv, fn)(_x(*x), _x(*w), **kw)
    # PyTorch's own answer to the same call: 1.13 raises RuntimeError or TypeError, 2.11
    # ValueError ('Overflow when unpacking long long') for integers beyond int64.
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        getattr(safeconv.functional, "TORCH_" + fn.upper())(_x(*x), _x(*w), **kw)
