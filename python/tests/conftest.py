"""Shared fixtures. The library comes from $SAFECONV_LIBRARY (tests/run_python_tests.sh sets it)
or the package's own lookup; if it cannot load, every test that needs it fails (never skips).

CUDA: tests parametrized over DEVICES also run on "cuda" when torch sees a GPU and the library
reports one (sc_device_count() > 0); otherwise those cases are skipped with the reason.
"""
import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

# The selection cache of strategy auto goes to a fresh folder, never the user's own cache.
os.environ["SAFECONV_CACHE_DIR"] = tempfile.mkdtemp(prefix="safeconv-test-cache-")

import torch  # noqa: E402

import safeconv  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))
# PyTorch references on a GPU must be fp32, not TF32 (cuDNN's default allows TF32).
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def _cuda_reason():
    if not torch.cuda.is_available():
        return "torch sees no CUDA/ROCm GPU"
    try:
        if safeconv.device_count() == 0:
            return "libsafeconv reports no GPU (built without a GPU backend?)"
    except safeconv.SafeConvError as e:
        return "libsafeconv did not load: %s" % e
    return None


CUDA_SKIP = _cuda_reason()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(CUDA_SKIP is not None,
                                                                reason=str(CUDA_SKIP)))]


@pytest.fixture(autouse=True)
def _clean_state():
    """Every test starts and ends disabled, with default options and fresh statistics."""
    safeconv.disable()
    safeconv.reset_stats()
    yield
    safeconv.disable()


@pytest.fixture
def python_layer(monkeypatch):
    """conv2d's repeated calls stay on the Python layer (tests of its own internals); without
    this fixture they run through the C++ layer where it is built (test_cpp_layer.py)."""
    from safeconv import functional
    monkeypatch.setattr(functional, "_cpp", False)


@pytest.fixture(scope="session")
def lib():
    return safeconv.load_library()


def rel_err(a, b):
    """||a - b|| / ||b|| in float64 (NaN/inf in `a` give inf)."""
    a = a.detach().double().cpu()
    b = b.detach().double().cpu()
    if not torch.isfinite(a).all():
        return float("inf")
    den = b.norm().item()
    num = (a - b).norm().item()
    return num / den if den > 0 else num


def tol(device, dtype=torch.float32):
    if dtype in (torch.float16, torch.bfloat16):
        return 2e-2
    return 2e-5 if device == "cpu" else 1e-4
