"""bypass_other_ops (issue 19): while enable() is active on a ROCm build of PyTorch,
torch.backends.cudnn.enabled is False (batch norm and PyTorch's other MIOpen operators on
PyTorch's kernels) and disable() restores exactly the value before. A ROCm build is simulated
by setting torch.version.hip; this PyTorch has no GPU, so only the flag is checked here (the
GPU training comparison is bench/bn_bypass_check.py)."""
import io

import pytest
import torch
import torch.nn as nn

import safeconv
from safeconv import _other_ops


@pytest.fixture
def rocm(monkeypatch):
    monkeypatch.setattr(torch.version, "hip", "6.2.41133-simulated")


@pytest.fixture(autouse=True)
def _flag_back():
    """Each test starts with the flag True and leaves it as it found it."""
    before = torch.backends.cudnn.enabled
    torch.backends.cudnn.enabled = True
    yield
    safeconv.disable()
    torch.backends.cudnn.enabled = before


def flag():
    return torch.backends.cudnn.enabled


@pytest.mark.parametrize("initial", [True, False])
def test_rocm_enable_turns_it_off_and_disable_restores_exactly(rocm, initial):
    torch.backends.cudnn.enabled = initial
    safeconv.enable()
    assert flag() is False
    safeconv.enable(strategy="gpu")         # enable twice: still off, the first value kept
    assert flag() is False
    safeconv.disable()
    assert flag() is initial
    safeconv.disable()                      # disable without enable: leaves it alone
    assert flag() is initial


def test_disable_without_enable_leaves_the_flag(rocm):
    torch.backends.cudnn.enabled = False
    safeconv.disable()
    assert flag() is False
    torch.backends.cudnn.enabled = True
    safeconv.disable()
    assert flag() is True


def test_rocm_context_manager_nested_and_exception(rocm):
    with safeconv.enable():
        assert flag() is False
        with safeconv.enable(bypass_other_ops=False):   # inner: MIOpen kept
            assert flag() is True
        assert flag() is False                          # outer's options again
        with safeconv.enable(strategy="cpu"):
            assert flag() is False
        assert flag() is False
    assert flag() is True
    with pytest.raises(KeyError):
        with safeconv.enable():
            assert flag() is False
            raise KeyError("x")
    assert flag() is True and not safeconv.is_enabled()


def test_rocm_option_false_and_vendor_strategy_leave_it_alone(rocm):
    for opts in ({"bypass_other_ops": False}, {"strategy": "vendor"},
                 {"strategy": "implicit_gemm"}):
        with safeconv.enable(**opts):
            assert flag() is True, opts
            assert not _other_ops.status()["bypassed"]
        assert flag() is True
    with safeconv.enable(strategy="vendor", bypass_other_ops=True):   # explicit True wins
        assert flag() is False
    assert flag() is True


def test_rocm_switching_options_while_enabled(rocm):
    torch.backends.cudnn.enabled = False    # what the program had: must come back, not True
    safeconv.enable()
    safeconv.enable(bypass_other_ops=False)  # back to the program's value at once
    assert flag() is False
    torch.backends.cudnn.enabled = True      # the program changes it while not bypassed
    safeconv.enable()
    assert flag() is False
    safeconv.disable()
    assert flag() is True


def test_cuda_build_default_leaves_it_option_true_bypasses(monkeypatch):
    monkeypatch.setattr(torch.version, "hip", None)
    with safeconv.enable():
        assert flag() is True
        assert "not a ROCm build" in _other_ops.status()["reason"]
    with safeconv.enable(bypass_other_ops=True):
        assert flag() is False
        assert _other_ops.status()["vendor"] == "cuDNN"
    assert flag() is True


def test_convolutions_still_go_through_safeconv_and_batch_norm_trains(rocm):
    """With the flag off, convolutions still run in safeconv (the CPU backend here) and batch
    norm's forward and backward give the same numbers as with it on (PyTorch's CPU kernels
    either way: this checks the wiring, not MIOpen)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    x = torch.randn(2, 3, 6, 6)
    ref = model(x)
    ref.square().sum().backward()
    gref = model[1].weight.grad.clone()
    model.zero_grad()
    with safeconv.enable():
        assert flag() is False
        y = model(x)
        y.square().sum().backward()
    rep = safeconv.report(model)
    assert rep["0"]["forward_calls"] == 1 and rep["0"]["path"] == "cpu"
    assert torch.allclose(y, ref, atol=1e-5)
    assert torch.allclose(model[1].weight.grad, gref, atol=1e-4)


def test_bad_option_names_it():
    for bad in ("yes", 1, 0, "auto"):
        with pytest.raises(safeconv.SafeConvInputError, match="bypass_other_ops"):
            safeconv.enable(bypass_other_ops=bad)
        with pytest.raises(safeconv.SafeConvInputError, match="bypass_other_ops"):
            safeconv.setup_environment(bypass_other_ops=bad, environ={}, quiet=True)
    assert flag() is True and not safeconv.is_enabled()
    with pytest.raises(safeconv.SafeConvInputError, match="bypass_other_ops.*enable"):
        safeconv.patch_model(nn.Conv2d(1, 1, 1), bypass_other_ops=True)


def test_report_says_which_operators_and_why(rocm):
    with safeconv.enable():
        rep = safeconv.report()
        buf = io.StringIO()
        safeconv.report(print_table=True, file=buf)
    st = rep.other_ops
    assert st["bypassed"] and st["vendor"] == "MIOpen" and st["cudnn_enabled"] is False
    assert any("batch norm" in op for op in st["operators"])
    line = buf.getvalue().strip().splitlines()[-1]
    assert line.startswith("other operators: kept off MIOpen")
    assert "batch norm" in line and "RDNA" in line and "bypass_other_ops=False" in line
    st = safeconv.report().other_ops     # after disable
    assert not st["bypassed"] and "not active" in st["reason"] and st["cudnn_enabled"] is True
    with safeconv.enable(strategy="vendor"):
        assert "strategy 'vendor'" in str(safeconv.report()).splitlines()[-1]


def test_setup_environment_notes(rocm, tmp_path):
    res = safeconv.setup_environment(cache_dir=str(tmp_path), archs=[], environ={}, quiet=True)
    assert res["other_ops"]["bypassed"] and res["other_ops"]["vendor"] == "MIOpen"
    assert any("kept off MIOpen" in n and "batch norm" in n for n in res["notes"])
    res = safeconv.setup_environment(cache_dir=str(tmp_path), archs=[], environ={}, quiet=True,
                                     strategy="vendor")
    assert not res["other_ops"]["bypassed"] and "'vendor'" in res["other_ops"]["reason"]
    res = safeconv.setup_environment(cache_dir=str(tmp_path), archs=[], environ={}, quiet=True,
                                     bypass_other_ops=False)
    assert not res["other_ops"]["bypassed"]
    assert flag() is True   # setup_environment only says; enable() acts


def test_decide_without_torch_imported_uses_amd_gpus():
    """setup_environment() before `import torch`: an AMD GPU in the KFD list stands for ROCm."""
    bypass, why = _other_ops.decide(None, "auto", "not known: torch not imported yet, AMD GPU gfx1010")
    assert bypass and "gfx1010" in why
    assert _other_ops.decide(None, "auto", None)[0] is False
    assert _other_ops.decide(None, "vendor", "6.2")[0] is False
    assert _other_ops.decide(True, "vendor", None)[0] is True
    assert _other_ops.decide(False, "auto", "6.2")[0] is False


# --- which batch-norm operator PyTorch dispatches (the GPU legs run on the GPU machine) -----------
VENDOR_BN = ("aten::cudnn_batch_norm", "aten::miopen_batch_norm")


def _bn_ops(model, x):
    """Names of the batch-norm operators PyTorch dispatched for a forward and backward (from the
    profiler's op records: aten::cudnn_batch_norm and aten::miopen_batch_norm are the vendor's,
    their _backward the same)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model(x).sum().backward()
    return {e.name for e in prof.events() if "batch_norm" in e.name}


def _gpu_ready():
    from conftest import CUDA_SKIP
    return CUDA_SKIP


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("bypass", [True, False])
def test_batch_norm_operator_follows_the_option(device, bypass):
    if device == "cuda" and _gpu_ready() is not None:
        pytest.skip(str(_gpu_ready()))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)).to(device)
    x = torch.randn(4, 3, 16, 16, device=device)
    with safeconv.enable(strategy="gpu", allow_cpu=True, bypass_other_ops=bypass):
        ops = _bn_ops(model, x)
    assert any("batch_norm" in op for op in ops), ops       # the profiler saw batch norm
    on_vendor = any(op.startswith(VENDOR_BN) for op in ops)
    if device == "cpu" or bypass:
        assert not on_vendor, ops
    elif torch.backends.cudnn.is_available():
        assert on_vendor, ops
    assert flag() is True
