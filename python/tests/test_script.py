"""TorchScript: scripting a model of stock layers works while enable() is active (scripted code
runs PyTorch's convolution, as it does without safeconv); safeconv's own modules refuse to be
scripted with a message saying why. (Before, torch.jit.script failed under enable() with
"Compiled functions can't take variable number of arguments or use keyword-only arguments
with defaults", on safeconv.functional.conv2d.)"""
import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
from conftest import rel_err


class _Model(nn.Module):
    """Every patched entry point: Conv2d (zeros and reflect padding), ConvTranspose2d (also
    with output_size), Conv1d, and a direct F.conv2d."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.r = nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect", groups=2)
        self.t = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1)
        self.c1 = nn.Conv1d(4, 4, 3, padding=1)
        self.register_buffer("k", torch.randn(2, 4, 1, 1))

    def forward(self, x):
        y = self.t(self.r(self.a(x)), output_size=[2 * x.shape[2], 2 * x.shape[3]])
        z = self.c1(y.flatten(2))
        return F.conv2d(y, self.k) + z.sum(), z


def _scripted_function(x, w):
    return F.conv2d(x, w, padding=1).sum() + F.conv1d(x.flatten(2), w[:, :, 0, :1]).sum()


def test_script_model_under_enable_runs_pytorch():
    torch.manual_seed(0)
    m = _Model()
    x = torch.randn(2, 3, 6, 5)
    ref = m(x)  # PyTorch, before enable()
    with safeconv.enable():
        sm = torch.jit.script(m)
        got = sm(x)
        assert safeconv.report(m, print_table=False)["a"]["forward_calls"] == 0
        eager = m(x)  # the same model outside TorchScript still runs safeconv
        assert safeconv.report(m, print_table=False)["a"]["forward_calls"] == 1
    for a, b in zip(got, ref):
        assert a.shape == b.shape and rel_err(a, b) < 1e-6
    for a, b in zip(eager, ref):
        assert rel_err(a, b) < 1e-5
    graph = str(sm.inlined_graph)
    assert "aten::conv2d" in graph and "aten::conv_transpose2d" in graph
    buf = io.BytesIO()  # a scripted module saved under enable() loads and runs anywhere
    torch.jit.save(sm, buf)
    buf.seek(0)
    for a, b in zip(torch.jit.load(buf)(x), ref):
        assert rel_err(a, b) < 1e-6


def test_script_function_under_enable():
    x, w = torch.randn(1, 4, 5, 5), torch.randn(4, 4, 3, 3)
    y_ref = _scripted_function(x, w)
    with safeconv.enable():
        fn = torch.jit.script(_scripted_function)
        y = fn(x, w)
    assert rel_err(y, y_ref) < 1e-6
    assert "aten::conv2d" in str(fn.graph)


@pytest.mark.parametrize("make", [lambda: safeconv.SafeConv2d(3, 4, 3),
                                  lambda: safeconv.SafeConv1d(3, 4, 3),
                                  lambda: safeconv.SafeConvTranspose2d(3, 4, 3),
                                  lambda: safeconv.patch_model(_Model())],
                         ids=["SafeConv2d", "SafeConv1d", "SafeConvTranspose2d", "patched"])
def test_safeconv_modules_refuse_scripting_with_a_reason(make):
    with pytest.raises(safeconv.SafeConvUnsupportedError, match="cannot be compiled by "
                                                                "TorchScript: safeconv computes"):
        torch.jit.script(make())


def test_unpatched_model_scripts():
    m = safeconv.unpatch_model(safeconv.patch_model(_Model()))
    x = torch.randn(1, 3, 4, 4)
    for a, b in zip(torch.jit.script(m)(x), m(x)):
        assert rel_err(a, b) < 1e-6
