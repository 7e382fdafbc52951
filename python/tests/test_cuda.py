"""GPU-only checks (the CPU/CUDA-parametrized tests in the other files cover the rest):
streams, devices, half precision, the CPU route of a GPU context, statistics on the GPU.
Skipped unless torch sees a GPU and libsafeconv reports one."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
from conftest import CUDA_SKIP, rel_err, tol

pytestmark = pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))


def _data(seed=0, device="cuda", dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 16, 20, 18, generator=g, dtype=torch.float64)
    w = torch.randn(32, 8, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(32, generator=g, dtype=torch.float64)
    return (x, w, b), [t.to(device=device, dtype=dtype).requires_grad_() for t in (x, w, b)]


def _check_against_cpu_double(ref, got, dtype=torch.float32, **kw):
    ref = [t.clone().requires_grad_() for t in ref]
    # torch.conv2d, not F.conv2d: inside safeconv.enable() F.conv2d is safeconv itself, which
    # (rightly) refuses the float64 reference.
    yr = torch.conv2d(*ref, **kw)
    y = safeconv.conv2d(*got, **kw)
    assert y.dtype == dtype and y.is_cuda
    assert rel_err(y, yr) < tol("cuda", dtype)
    g = torch.randn(yr.shape, dtype=torch.float64)
    for a, r in zip(torch.autograd.grad(y, got, g.to(y)), torch.autograd.grad(yr, ref, g)):
        assert rel_err(a, r) < tol("cuda", dtype)


def test_gpu_path_and_report():
    ref, got = _data()
    layer = nn.Module()
    y = safeconv.conv2d(*got, padding=1, groups=2, layer=layer)
    y.sum().backward()
    rep = safeconv.report(layer, print_table=False)["(model)"]
    assert rep["path"] == "gpu" and rep["bypass_rate"] == 1.0
    assert rep["time_s"] > 0
    assert all(a.startswith("gpu_") for a in rep["algos"])


def test_non_default_stream():
    """Work is queued on torch.cuda.current_stream(): inputs made on a side stream are read
    after they are written, and the result is right without extra synchronization."""
    ref, _ = _data(1)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        got = [t.to("cuda", torch.float32).requires_grad_() for t in ref]
        for _ in range(3):
            got[0] = (got[0].detach() * 1.0).requires_grad_()  # more work queued on s
        y = safeconv.conv2d(*got, padding=1, groups=2)
        (dx,) = torch.autograd.grad(y.sum(), [got[0]])
    s.synchronize()
    yr = F.conv2d(*ref, padding=1, groups=2)
    assert rel_err(y, yr) < tol("cuda")
    ref0 = ref[0].clone().requires_grad_()
    (dxr,) = torch.autograd.grad(F.conv2d(ref0, ref[1], ref[2], padding=1, groups=2).sum(),
                                 [ref0])
    assert rel_err(dx, dxr) < tol("cuda")


def test_current_device_is_kept():
    before = torch.cuda.current_device()
    last = torch.cuda.device_count() - 1
    ref, got = _data(2, device="cuda:%d" % last)
    _check_against_cpu_double(ref, got, padding=1, groups=2)
    assert torch.cuda.current_device() == before


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_or_clear_error(dtype):
    ref, got = _data(3, dtype=dtype)
    try:
        _check_against_cpu_double(ref, got, dtype=dtype, padding=1, groups=2)
    except safeconv.SafeConvUnsupportedError as e:
        assert "unsupported" in str(e).lower() or "not supported" in str(e).lower()
        with safeconv.enable(fallback="torch"):
            y = F.conv2d(*got, padding=1, groups=2)
        assert y.dtype == dtype


def test_autocast():
    ref, got = _data(4)
    with torch.autocast("cuda", dtype=torch.float16):
        try:
            y = safeconv.conv2d(*got, padding=1, groups=2)
        except safeconv.SafeConvUnsupportedError:
            pytest.skip("this build has no fp16 GPU kernels")
    assert y.dtype == torch.float16
    assert rel_err(y, F.conv2d(*ref, padding=1, groups=2)) < 2e-2


@pytest.mark.parametrize("options", [{"strategy": "cpu"}, {"strategy": "gpu", "allow_cpu": True},
                                     {"strategy": "gpu", "deterministic": False},
                                     {"strategy": "gpu", "workspace_limit": 4 << 20}])
def test_gpu_options(options):
    ref, got = _data(5)
    layer = nn.Module()
    with safeconv.enable(**options):
        _check_against_cpu_double(ref, got, padding=1, groups=2)
        safeconv.conv2d(*got, padding=1, groups=2, layer=layer)
    if options["strategy"] == "cpu":
        assert safeconv.report(layer, print_table=False)["(model)"]["path"] == "cpu"


def test_channels_last_model_on_gpu():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(),
                          nn.ConvTranspose2d(16, 8, 2, stride=2), nn.Conv2d(8, 4, 1))
    model = model.cuda().to(memory_format=torch.channels_last)
    ref = [p.detach().double().cpu() for p in model.parameters()]
    x = torch.randn(2, 3, 16, 16, device="cuda").to(memory_format=torch.channels_last)
    safe = safeconv.patch_model(model)
    y = safe(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    ref_model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(),
                              nn.ConvTranspose2d(16, 8, 2, stride=2), nn.Conv2d(8, 4, 1)).double()
    with torch.no_grad():
        for p, r in zip(ref_model.parameters(), ref):
            p.copy_(r)
    assert rel_err(y, ref_model(x.double().cpu())) < tol("cuda")
    y.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def _amp_model():
    torch.manual_seed(7)
    return safeconv.patch_model(nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2, padding=1,
                                                             groups=4), nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 2, stride=2), nn.ReLU(), nn.Conv2d(8, 4, 1)).cuda(),
        strategy="gpu")


def _grad_scaler(scale):
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        try:
            return amp.GradScaler("cuda", init_scale=scale)
        except TypeError:
            pass
    return torch.cuda.amp.GradScaler(init_scale=scale)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_amp_step_with_grad_scaler(dtype):
    """CUDA autocast: convolutions computed by the library in the autocast dtype (descriptor
    dtype F16/BF16), weight gradients float32 for float32 parameters. GradScaler: a finite
    step is taken with the scale kept; an inf in the input reaches the gradients (never
    sanitized), so the step is skipped and the scale lowered."""
    model = _amp_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = _grad_scaler(2.0 ** 12)
    x = torch.randn(4, 3, 16, 16, device="cuda")
    with torch.autocast("cuda", dtype=dtype):
        try:
            y = model(x)
        except safeconv.SafeConvUnsupportedError as e:
            pytest.skip("this build has no %s GPU kernels: %s" % (dtype, e))
        loss = y.float().square().mean()
    assert y.dtype == dtype
    rep = safeconv.report(model, print_table=False)
    assert rep["0"]["math"] == {torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    assert rep["0"]["path"] == "gpu"
    scaler.scale(loss).backward()
    assert all(p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
               for p in model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2.0 ** 12
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))

    opt.zero_grad(set_to_none=True)
    x[0, 0, 5, 5] = float("inf")
    with torch.autocast("cuda", dtype=dtype):
        loss = model(x).float().square().mean()
    scaler.scale(loss).backward()
    assert any(not torch.isfinite(p.grad).all() for p in model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() < 2.0 ** 12
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_tf32_follows_pytorch_unless_configured():
    """fp32 tensors: the matrix-unit GEMM (gpu_implicit_gemm_mma) may round to TF32 only when
    torch.backends.cudnn.allow_tf32 allows it (tf32=None) or tf32=True says so; report()
    names the math. Where that family does not run (no sm_80+, or a shape it does not take),
    every call is exact fp32 whatever the setting."""
    g = torch.Generator().manual_seed(8)
    x64 = torch.randn(8, 64, 28, 28, generator=g, dtype=torch.float64)
    w64 = torch.randn(64, 64, 3, 3, generator=g, dtype=torch.float64)
    ref = torch.conv2d(x64, w64, padding=1)
    x, w = x64.float().cuda(), w64.float().cuda()
    before = torch.backends.cudnn.allow_tf32
    try:
        for allow, opt, tf32 in [(True, None, True), (False, None, False), (True, False, False),
                                 (False, True, True)]:
            torch.backends.cudnn.allow_tf32 = allow
            safeconv.reset_stats()
            layer = nn.Module()
            with safeconv.enable(strategy="gpu", tf32=opt):
                y = safeconv.conv2d(x, w, padding=1, layer=layer)
            rep = safeconv.report(layer, print_table=False)["(model)"]
            mma = "gpu_implicit_gemm_mma" in rep["algos"]
            assert rep["math"] == ("tf32" if tf32 and mma else "fp32"), (allow, opt, rep)
            assert rel_err(y, ref) < (5e-3 if tf32 and mma else 1e-4)
    finally:
        torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("channels_last", [False, True])
def test_winograd_default_on_a_large_layer(channels_last):
    """A 3x3 stride-1 fp32 layer past the Winograd family's default rules (fam_winograd.c:
    backward-weight from 2^29 multiply-adds with 16+ channels; here 9.2e8) runs Winograd in all
    three directions by default, and its results and gradients match the double reference.
    `safeconv verify` draws layers of at most 2e7 multiply-adds, so this is the check of that
    default route (the forced checks cover the kernels)."""
    g = torch.Generator().manual_seed(11)
    shapes = ((32, 64, 28, 28), (64, 64, 3, 3), (64,))
    ref = [torch.randn(s, generator=g, dtype=torch.float64).requires_grad_() for s in shapes]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    got = [t.detach().to("cuda", torch.float32) for t in ref]
    got[0] = got[0].contiguous(memory_format=fmt)
    got = [t.requires_grad_() for t in got]
    layer = nn.Module()
    with safeconv.enable(strategy="gpu", tf32=False):
        y = safeconv.conv2d(*got, padding=1, layer=layer)
    yr = torch.conv2d(*ref, padding=1)
    dy = torch.randn(yr.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad(y, got, dy.to(y))
    grads_ref = torch.autograd.grad(yr, ref, dy)
    assert rel_err(y, yr) < tol("cuda")
    for a, r in zip(grads, grads_ref):
        assert rel_err(a, r) < tol("cuda")
    rep = safeconv.report(layer, print_table=False)["(model)"]
    assert rep["algos"].get("gpu_winograd", 0) == 3, rep["algos"]  # forward, dx, dw


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_nchw_reduced_precision_runs_on_tensor_cores(dtype):
    """An NCHW fp16/bf16 conv2d on CUDA runs as NHWC on the matrix-unit kernels (the Config's
    tensor_core_layout) and still returns a contiguous NCHW output with the right values and
    gradients; with tensor_core_layout=False it stays NCHW (the FMA kernels)."""
    g = torch.Generator().manual_seed(3)
    ref = [torch.randn(s, generator=g, dtype=torch.float64) for s in ((2, 16, 12, 10), (32, 16, 3, 3), (32,))]
    for tcl, family in ((True, "gpu_implicit_gemm_mma"), (False, "gpu_implicit_gemm")):
        got = [t.to("cuda", dtype).requires_grad_() for t in ref]
        layer = nn.Module()
        with safeconv.enable(strategy="gpu", tensor_core_layout=tcl):
            y = safeconv.conv2d(*got, padding=1, layer=layer)
            y.float().square().sum().backward()
        assert y.is_contiguous() and y.dtype == dtype
        rounded = [t.to(dtype).double().requires_grad_() for t in ref]
        yr = torch.conv2d(*rounded, padding=1)
        yr.square().sum().backward()
        assert rel_err(y, yr) < 2e-2
        for a, r in zip(got, rounded):
            assert rel_err(a.grad, r.grad) < 5e-2
        rep = safeconv.report(layer, print_table=False)["(model)"]
        assert family in rep["algos"], rep["algos"]

