"""The per-call host work the Python layer saves: the per-layer descriptor cache, the per-shape
workspace size, the sampled GPU timing. Each cache must give the answer of the slow path:
results checked against PyTorch in float64 after every change a cache could miss."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
from safeconv import _lib as L, _stats
from safeconv import functional as FN
from safeconv.config import current_config
from conftest import CUDA_SKIP, DEVICES, rel_err, tol


def _ref_conv(x, w, b, **kw):
    return F.conv2d(x.detach().double().cpu(), w.detach().double().cpu(),
                    None if b is None else b.detach().double().cpu(), **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_layer_descriptor_cache_follows_shape_layout_and_arguments(device):
    """One layer called with a shape, the same shape channels_last, another shape, a batch of
    zero, then the first shape again: each result is right and has the right shape and
    layout."""
    torch.manual_seed(3)
    layer = safeconv.SafeConv2d(6, 8, 3, padding=1, bias=True).to(device)
    w, b = layer.weight, layer.bias
    shapes = [(2, 6, 9, 7), (2, 6, 9, 7), (3, 6, 5, 11), (0, 6, 9, 7), (2, 6, 9, 7)]
    for i, shp in enumerate(shapes):
        x = torch.randn(shp, device=device)
        if i == 1:
            x = x.contiguous(memory_format=torch.channels_last)
        y = layer(x)
        assert y.shape == (shp[0], 8, shp[2], shp[3])
        if i == 1:
            assert y.is_contiguous(memory_format=torch.channels_last)
        if shp[0]:
            assert rel_err(y, _ref_conv(x, w, b, padding=1)) < tol(device)
    # the cache holds the last call's key and descriptor
    rec = _stats.record_for(layer, "conv2d")
    assert rec.desc_cache is not None and rec.desc_cache[0][0] == (2, 6, 9, 7)
    assert rec.desc_cache[1].n == 2


@pytest.mark.parametrize("device", DEVICES)
def test_functional_cache_does_not_hide_argument_changes(device):
    """Same shapes, different stride/padding/dilation/groups: a new descriptor each time; and a
    bool argument after the int one is still refused (True == 1 must not hit the cache)."""
    torch.manual_seed(4)
    x = torch.randn(2, 4, 12, 10, device=device)
    w = torch.randn(4, 2, 3, 3, device=device)
    for kw in (dict(stride=1, padding=1, groups=2), dict(stride=2, padding=1, groups=2),
               dict(stride=(1, 2), padding=(0, 1), groups=2),
               dict(stride=1, padding=2, dilation=2, groups=2), dict(stride=1, padding=1, groups=2)):
        y = safeconv.conv2d(x, w, **kw)
        assert rel_err(y, _ref_conv(x, w, None, **kw)) < tol(device)
    with pytest.raises(safeconv.SafeConvInputError, match="stride"):
        safeconv.conv2d(x, w, stride=True, padding=1, groups=2)
    with pytest.raises(safeconv.SafeConvInputError, match="padding"):
        safeconv.conv2d(x, w, stride=1, padding=(True, 1), groups=2)
    # lists are accepted (not cached) and give the same result
    y = safeconv.conv2d(x, w, stride=[1, 1], padding=[1, 1], groups=2)
    assert rel_err(y, _ref_conv(x, w, None, padding=1, groups=2)) < tol(device)


def test_output_size_leaves_a_shared_descriptor_alone():
    """A batch of zero is validated on a copy: the (shared, cached) descriptor keeps n = 0."""
    d = FN._make_desc(0, 4, 6, 6, 8, 3, 3, (1, 1), (1, 1), (1, 1), 1, torch.float32, False)
    assert FN._output_size(d, "conv2d") == (6, 6)
    assert d.n == 0


def test_sampled_timing_estimate():
    """The first TIME_FIRST calls of a direction and then one in TIME_EVERY are timed; time_s
    is the timed mean times all calls (exact where every call is timed, as on the CPU)."""
    rec = _stats.LayerStats("x")
    timed = 0
    for i in range(100):
        if rec.want_time(L.DIR_FORWARD):
            rec.add(L.DIR_FORWARD, "gpu", None, seconds=0.002)
            timed += 1
        else:
            rec.add(L.DIR_FORWARD, "gpu", None)
    expect = _stats.TIME_FIRST + len([n for n in range(_stats.TIME_FIRST, 100)
                                      if n % _stats.TIME_EVERY == 0])
    assert timed == expect < 10
    for _ in range(10):  # another direction, every call timed
        rec.add(L.DIR_BACKWARD_DATA, "gpu", None, seconds=0.001)
    d = rec.as_dict()
    assert d["timed_calls"] == expect + 10
    assert d["time_s"] == pytest.approx(100 * 0.002 + 10 * 0.001)
    assert d["calls"] == {"forward": 100, "backward_data": 10}


@pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))
def test_gpu_calls_are_timed_on_a_sample():
    layer = nn.Module()
    x = torch.randn(2, 8, 6, 6, device="cuda")
    w = torch.randn(8, 8, 3, 3, device="cuda")
    for _ in range(50):
        safeconv.conv2d(x, w, padding=1, layer=layer)
    rep = safeconv.report(layer, print_table=False)["(model)"]
    assert rep["calls"] == {"forward": 50}
    assert rep["timed_calls"] == 4  # calls 0, 1, 2 and 32
    assert rep["time_s"] > 0


def _fresh_sizes():
    """The current Config's GPU context with its remembered workspace sizes forgotten: the
    context lives as long as the Config, so earlier tests' shapes are in it too, and a test that
    makes "every remembered size" stale would make theirs stale, which its calls never re-query."""
    cctx = FN._context(current_config(), torch.cuda.current_device(), False)
    cctx.ws_sizes.clear()
    return cctx


@pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))
def test_stale_workspace_size_is_requeried():
    """A remembered workspace size that became too small (a tuned plan, a new guard decision)
    makes the call fail before it runs; the layer re-queries, retries and gets it right."""
    torch.manual_seed(5)
    # 64 channels, multiple of 8: the NCHW GEMM copies the weight into the workspace
    x = torch.randn(2, 64, 8, 8, device="cuda", requires_grad=True)
    w = torch.randn(64, 64, 3, 3, device="cuda", requires_grad=True)
    with safeconv.enable(strategy="gpu"):
        cctx = _fresh_sizes()
        y = F.conv2d(x, w, padding=1)
        sizes = {k: v for k, v in cctx.ws_sizes.items() if k[1] == L.DIR_FORWARD and v}
        assert sizes, "expected a forward call that needs workspace"
        for k in sizes:
            cctx.ws_sizes[k] = 256  # too small (a stale 0: the next test)
        y2 = F.conv2d(x, w, padding=1)
        for k, v in sizes.items():
            assert cctx.ws_sizes[k] == v
        (dx,) = torch.autograd.grad(y2.sum(), [x])
    assert torch.equal(y, y2)
    assert rel_err(y2, _ref_conv(x, w, None, padding=1)) < tol("cuda")
    xr = x.detach().double().cpu().requires_grad_()
    (dxr,) = torch.autograd.grad(F.conv2d(xr, w.detach().double().cpu(), padding=1).sum(), [xr])
    assert rel_err(dx, dxr) < tol("cuda")


@pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))
def test_zero_workspace_size_never_lets_the_library_use_its_pool():
    """A remembered size of 0 that became too small is found out too: calls that need no
    workspace still pass a (non-NULL, size 0) pointer, so the library reports the shortfall
    instead of allocating its own device pool (which CUDA graph capture cannot have)."""
    x = torch.randn(2, 64, 8, 8, device="cuda")
    w = torch.randn(64, 64, 3, 3, device="cuda")
    with safeconv.enable(strategy="gpu"):
        cctx = _fresh_sizes()
        y = F.conv2d(x, w, padding=1)
        sizes = {k: v for k, v in cctx.ws_sizes.items() if k[1] == L.DIR_FORWARD and v}
        assert sizes, "expected a forward call that needs workspace"
        for k in sizes:
            cctx.ws_sizes[k] = 0
        assert torch.equal(F.conv2d(x, w, padding=1), y)
        for k, v in sizes.items():
            assert cctx.ws_sizes[k] == v


class _FakeGpuContext:
    def __init__(self, nbytes):
        self.nbytes, self.streams, self.handle = nbytes, [], None

    def set_stream(self, s):
        self.streams.append(s)

    def workspace_size(self, dbytes, d, direction):
        return self.nbytes

    def forget_workspace_size(self, dbytes, direction):
        pass


@pytest.mark.parametrize("nbytes", [0, 4096])
def test_gpu_call_is_capture_safe(monkeypatch, nbytes):
    """_call_gpu (CPU stand-ins for the device pieces): while a CUDA graph is being captured it
    records no timing events, and the workspace pointer is never NULL (size 0 where the call
    needs none), so the library never falls back to its own pool."""
    monkeypatch.setattr(FN, "_stream_handle", lambda dev: 1234)
    monkeypatch.setattr(FN, "_empty_workspace", lambda dev: torch.empty(256, dtype=torch.uint8))
    monkeypatch.setattr(FN, "_capturing", lambda: True)
    seen = []

    def fn(handle, d, *args):
        seen.append(args)
        return L.STATUS_OK
    rec = _stats.LayerStats("x")
    assert rec.want_time(L.DIR_FORWARD)  # a call that would be timed outside capture
    cctx = _FakeGpuContext(nbytes)
    spec = FN._Spec(L.ConvDesc(), None, rec, False)
    st, events = FN._call_gpu(fn, L.DIR_FORWARD, spec, torch.device("cpu"), 0, cctx,
                              (None, None, None, None))
    assert st == L.STATUS_OK and events is None
    assert cctx.streams == [1234]
    ws, size = seen[0][-2], seen[0][-1]
    assert ws and size == nbytes
