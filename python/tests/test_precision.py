"""dtypes and arithmetic: autocast gives PyTorch's dtypes, float16/bfloat16 on the CPU, inf and
NaN reach the gradients unchanged (GradScaler depends on it), the tf32 option and the math
mode report() shows. CPU only; the GPU side (fp16/bf16 kernels, TF32, GradScaler) is in
test_cuda.py."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
import safeconv._lib as L
import safeconv.functional as SF
from conftest import rel_err

# bfloat16 keeps 8 significant bits: one rounding of the output is 2^-9 relative; two
# implementations that both round once from fp32 sums differ by at most one unit.
BF16_TOL = 1e-2
FP16_TOL = 2e-3

KINDS = {
    "conv2d": (safeconv.conv2d, SF.TORCH_CONV2D, (2, 4, 9, 8), (6, 2, 3, 3),
               dict(padding=1, stride=(2, 1), groups=2)),
    "conv1d": (safeconv.conv1d, SF.TORCH_CONV1D, (2, 4, 11), (6, 4, 3), dict(padding=1)),
    "conv_transpose2d": (safeconv.conv_transpose2d, SF.TORCH_CONV_TRANSPOSE2D, (2, 4, 5, 5),
                         (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
}


def _data(kind, seed=0):
    _, _, xs, ws, kw = KINDS[kind]
    g = torch.Generator().manual_seed(seed)
    x, w = torch.randn(*xs, generator=g), torch.randn(*ws, generator=g)
    nb = ws[1] if kind == "conv_transpose2d" else ws[0]
    return x, w, torch.randn(nb, generator=g), kw


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cpu_autocast_returns_what_pytorch_returns(kind):
    """Under torch.autocast("cpu") PyTorch runs conv1d/conv2d (and, from 2.x on,
    conv_transpose2d) in bfloat16; safeconv gives the same dtype and, within bfloat16's
    rounding, the same values, and the same gradients (float32, for float32 leaves)."""
    fn, ref_fn, *_ = KINDS[kind]
    x, w, b, kw = _data(kind)
    ins = [t.clone().requires_grad_() for t in (x, w, b)]
    ref_ins = [t.clone().requires_grad_() for t in (x, w, b)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fn(*ins, **kw)
        y_ref = ref_fn(*ref_ins, **kw)
    assert y.dtype == y_ref.dtype
    assert rel_err(y, y_ref) < BF16_TOL
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(y, ins, g.to(y.dtype))
    grads_ref = torch.autograd.grad(y_ref, ref_ins, g.to(y_ref.dtype))
    for name, a, r in zip("xwb", grads, grads_ref):
        assert a.dtype == r.dtype == torch.float32, name
        assert rel_err(a, r) < BF16_TOL, name


def test_cpu_autocast_module_under_enable():
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
    x = torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_ref = m(x)
        with safeconv.enable():
            y = m(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    assert rel_err(y, y_ref) < BF16_TOL
    rep = safeconv.report(m, print_table=False)
    assert rep["0"]["math"] == "bf16" and rep["0"]["path"] == "cpu"


def test_autocast_leaves_float64_alone():
    """PyTorch's autocast casts floating-point tensors except float64; so does safeconv (a
    float64 call stays float64: unsupported by safeconv, PyTorch's with fallback='torch')."""
    x, w, _, kw = _data("conv2d")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(safeconv.SafeConvUnsupportedError, match="float64"):
            safeconv.conv2d(x.double(), w.double(), **kw)
        with safeconv.enable(fallback="torch"):
            assert F.conv2d(x.double(), w.double(), **kw).dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_half_precision_on_cpu(kind, dtype):
    """float16/bfloat16 CPU tensors, computed by the CPU backend (inputs widened to float32,
    fp32 sums, outputs rounded once): forward and every gradient against a float64 reference
    on the same (rounded) inputs."""
    fn, ref_fn, *_ = KINDS[kind]
    x, w, b, kw = _data(kind, 3)
    ins = [t.to(dtype).requires_grad_() for t in (x, w, b)]
    ref_ins = [t.detach().double().requires_grad_() for t in ins]
    y = fn(*ins, **kw)
    y_ref = ref_fn(*ref_ins, **kw)
    assert y.dtype == dtype
    tol = BF16_TOL if dtype == torch.bfloat16 else FP16_TOL
    assert rel_err(y, y_ref) < tol
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(4))
    for name, a, r in zip("xwb", torch.autograd.grad(y, ins, g.to(dtype)),
                          torch.autograd.grad(y_ref, ref_ins, g.to(dtype).double())):
        assert a.dtype == dtype, name
        assert rel_err(a, r) < tol, name


def test_half_precision_report():
    x, w = torch.randn(1, 3, 6, 6).bfloat16(), torch.randn(4, 3, 3, 3).bfloat16()
    layer = nn.Module()
    safeconv.conv2d(x, w, layer=layer)
    rep = safeconv.report(layer, print_table=False)["(model)"]
    assert rep["math"] == "bf16" and rep["path"] == "cpu" and rep["library_calls"] == 1


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_inf_and_nan_propagate_to_gradients(bad):
    """Never sanitized: GradScaler finds an overflow only if the inf/NaN of a scaled loss
    reaches the gradients (its step is then skipped and the scale lowered)."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 6, 6, generator=g).requires_grad_()
    w = torch.randn(4, 3, 3, 3, generator=g).requires_grad_()
    b = torch.randn(4, generator=g).requires_grad_()
    y = safeconv.conv2d(x, w, b, padding=1)
    dy = torch.randn(y.shape, generator=g)
    dy[0, 1, 2, 3] = bad
    dx, dw, db = torch.autograd.grad(y, (x, w, b), dy)
    for name, t in (("dx", dx), ("dw", dw), ("db", db)):
        assert not torch.isfinite(t).all(), name
    xb = x.detach().clone()
    xb[1, 2, 0, 0] = bad
    assert not torch.isfinite(safeconv.conv2d(xb, w.detach(), padding=1)).all()


# --- tf32 option and math mode ------------------------------------------------------------
def test_tf32_option_is_validated():
    assert safeconv.Config().tf32 is None
    assert safeconv.Config(tf32=True).tf32 is True
    for bad in ("yes", 1, 0.0):
        with pytest.raises(safeconv.SafeConvInputError, match="option tf32"):
            safeconv.Config(tf32=bad)


def test_math_mode_follows_pytorch_unless_configured(monkeypatch):
    follow, on, off = safeconv.Config(), safeconv.Config(tf32=True), safeconv.Config(tf32=False)
    for allowed in (True, False):
        monkeypatch.setattr(SF, "torch_allows_tf32", lambda: allowed)
        assert SF._math_mode(follow, L.DTYPE_F32) == (L.MATH_TF32 if allowed else L.MATH_EXACT)
        assert SF._math_mode(on, L.DTYPE_F32) == L.MATH_TF32
        assert SF._math_mode(off, L.DTYPE_F32) == L.MATH_EXACT
        assert SF._math_mode(on, L.DTYPE_F16) is None  # half dtypes ignore the mode


def test_torch_allows_tf32_reads_cudnn_flag():
    before = torch.backends.cudnn.allow_tf32
    try:
        for v in (True, False):
            torch.backends.cudnn.allow_tf32 = v
            assert SF.torch_allows_tf32() is v
    finally:
        torch.backends.cudnn.allow_tf32 = before


def test_tf32_reader_follows_each_pytorch_api_and_rereads_every_call():
    class Holder:  # a PyTorch settings module: fp32_precision where given, else none
        def __init__(self, **kw):
            self.__dict__.update(kw)

    class Raising:  # present, but reading it raises (a mixed-API state)
        @property
        def fp32_precision(self):
            raise RuntimeError("mixed")

    # PyTorch before 2.9: no fp32_precision anywhere; allow_tf32 read on every call
    cudnn, backends = Holder(allow_tf32=True), Holder()
    read = SF._tf32_reader(cudnn, backends)
    assert read() is True
    cudnn.allow_tf32 = False
    assert read() is False
    # 2.9+: conv's setting first, "none" defers to cudnn's, then the global one, then allow_tf32
    conv = Holder(fp32_precision="none")
    cudnn = Holder(conv=conv, fp32_precision="none", allow_tf32=False)
    backends = Holder(fp32_precision="tf32")
    read = SF._tf32_reader(cudnn, backends)
    assert read() is True
    conv.fp32_precision = "ieee"
    assert read() is False
    conv.fp32_precision, cudnn.fp32_precision = "none", "ieee"
    assert read() is False
    cudnn.fp32_precision, backends.fp32_precision = "none", "none"
    assert read() is False  # allow_tf32
    cudnn.allow_tf32 = True
    assert read() is True
    # a holder that raises is skipped on that call; allow_tf32 raising means PyTorch's default
    cudnn = Holder(conv=Raising(), fp32_precision="ieee")
    assert SF._tf32_reader(cudnn, Holder())() is False
    assert SF._tf32_reader(Holder(conv=Raising()), Holder())() is True


def test_math_label_names_tf32_only_for_the_matrix_unit_gemm():
    mma = L.ALGO_GPU_IMPLICIT_GEMM_MMA
    assert L.algo_name(mma) == "gpu_implicit_gemm_mma"
    assert SF._math_label(L.DTYPE_F32, L.MATH_TF32, mma) == "tf32"
    assert SF._math_label(L.DTYPE_F32, L.MATH_TF32, 4) == "fp32"   # FMA GEMM: exact anyway
    assert SF._math_label(L.DTYPE_F32, L.MATH_EXACT, mma) == "fp32"
    assert SF._math_label(L.DTYPE_F16, L.MATH_TF32, mma) == "fp16"
    assert SF._math_label(L.DTYPE_BF16, None, mma) == "bf16"


def test_context_math_mode_reaches_the_library():
    cctx = L.get_context(L.DEVICE_CPU, safeconv.Config().context_options(True))
    with cctx.lock:
        assert cctx.math == L.MATH_EXACT
        cctx.set_math_mode(L.MATH_TF32)
        cctx.set_math_mode(L.MATH_EXACT)
        with pytest.raises(safeconv.SafeConvInputError, match="math mode"):
            cctx.math = None  # force the call through
            cctx.set_math_mode(7)
        cctx.math = L.MATH_EXACT


def test_cpu_calls_report_fp32_even_with_tf32_allowed():
    x, w = torch.randn(1, 3, 6, 6), torch.randn(4, 3, 3, 3)
    layer = nn.Module()
    with safeconv.enable(tf32=True):
        safeconv.conv2d(x, w, layer=layer)
    assert safeconv.report(layer, print_table=False)["(model)"]["math"] == "fp32"
