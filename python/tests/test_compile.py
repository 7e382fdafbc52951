"""torch.compile with safeconv (PyTorch >= 2.4, CUDA): torch.library.opcheck on each operator,
no graph break at a convolution (torch._dynamo.explain), compiled results equal to eager ones.
Skipped elsewhere (CI's PyTorch 1.13 has no torch.compile; the operators' code itself is
tested there by test_compile_ops.py)."""
import contextlib
import copy

import pytest
import torch
import torch.nn as nn

import safeconv
import safeconv.functional as SF
from conftest import CUDA_SKIP, rel_err

pytestmark = [
    pytest.mark.skipif(SF._compile is None, reason="PyTorch %s has no torch.library.custom_op "
                       "(torch.compile support needs >= 2.4)" % torch.__version__),
    pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP)),
]

TOL = 1e-4  # fp32 (TF32 off in conftest): compiled and eager differ in fusion order only


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_opcheck(nhwc, bias):
    C = SF._compile
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    g = torch.Generator(device="cuda").manual_seed(0)

    def t(*shape):
        v = torch.randn(*shape, device="cuda", generator=g)
        return (v.contiguous(memory_format=fmt) if v.dim() == 4 else v).requires_grad_()
    x, w, b = t(2, 4, 9, 8), t(6, 2, 3, 3), (t(6) if bias else None)
    dy = t(2, 6, 5, 8)  # stride (2, 1), padding 1: P = 5, Q = 8
    args = ([2, 1], [1, 1], [1, 1], 2, nhwc, 0, "conv2d", C.ROLE_NONE)
    torch.library.opcheck(C.conv2d_forward, (x, w, b) + args)
    torch.library.opcheck(C.conv2d_backward_data, (dy, w, [9, 8]) + args)
    torch.library.opcheck(C.conv2d_backward_weight, (x, dy, [3, 3]) + args)


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, groups=2, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                  nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.down(x))


class _ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU())
        self.block1 = _Block(16, 32, 2)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.up = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.seq = nn.Conv1d(16, 8, 3, padding=1)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        y = self.up(torch.relu(self.dw(self.block1(self.stem(x)))))
        y = self.seq(y.flatten(2))
        return self.head(y.mean(dim=2))


def _models(how):
    torch.manual_seed(0)
    ref = _ResNetish().cuda()
    model = copy.deepcopy(ref)
    if how == "patch_model":
        safeconv.patch_model(model, strategy="gpu")
    return ref, model


@pytest.mark.parametrize("nhwc", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("how", ["patch_model", "enable"])
def test_no_graph_break_and_compiled_matches_eager(how, nhwc):
    _, model = _models(how)
    x = torch.randn(4, 3, 16, 16, device="cuda")
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    # patch_model: safeconv's own classes (and per-layer options); enable(): stock classes
    with safeconv.enable(strategy="gpu") if how == "enable" else contextlib.nullcontext():
        explain = torch._dynamo.explain(model)(x)
        assert explain.graph_break_count == 0, explain.break_reasons
        eager = copy.deepcopy(model)
        compiled = torch.compile(model)
        for m in (compiled, eager):
            m.zero_grad(set_to_none=True)
        y_c = compiled(x)
        y_e = eager(x)
        assert rel_err(y_c, y_e) < TOL
        y_c.square().sum().backward()
        y_e.square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), eager.parameters()):
        assert rel_err(p.grad, q.grad) < TOL, name
    rep = safeconv.report(model, print_table=False)
    if how == "patch_model":  # tokens name each layer inside the compiled graph
        assert rep["stem.0"]["forward_calls"] >= 1 and rep["stem.0"]["backward_calls"] >= 1
        assert rep["stem.0"]["path"] == "gpu"


def test_fullgraph_functional():
    w = torch.randn(8, 3, 3, 3, device="cuda", requires_grad=True)
    fn = torch.compile(lambda x: safeconv.conv2d(x, w, padding=1, stride=2).relu().sum(),
                       fullgraph=True)
    x = torch.randn(2, 3, 10, 10, device="cuda", requires_grad=True)
    fn(x).backward()
    gx, gw = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    safeconv.conv2d(x, w, padding=1, stride=2).relu().sum().backward()
    assert rel_err(gx, x.grad) < TOL and rel_err(gw, w.grad) < TOL


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_compiled_autocast(dtype):
    _, model = _models("patch_model")
    x = torch.randn(4, 3, 16, 16, device="cuda")
    with torch.autocast("cuda", dtype=dtype):
        try:
            y_e = model(x)
        except safeconv.SafeConvUnsupportedError as e:
            pytest.skip("no %s GPU kernels in this build: %s" % (dtype, e))
        explain = torch._dynamo.explain(model)(x)
        assert explain.graph_break_count == 0, explain.break_reasons
        y_c = torch.compile(model)(x)
    assert y_c.dtype == y_e.dtype
    assert rel_err(y_c, y_e) < 2e-2
