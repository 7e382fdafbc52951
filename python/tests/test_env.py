"""Environment and multiprocessing helpers, options, and the package's import behaviour."""
import os
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import safeconv
from conftest import rel_err

PKG_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)


def _run(code, **env):
    e = dict(os.environ, PYTHONPATH=PKG_ROOT, **env)
    out = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_does_not_import_torch(tmp_path):
    out = _run("import sys, safeconv\n"
               "safeconv.setup_environment(archs=[], quiet=True)\n"
               "print('torch' in sys.modules)\n"
               "safeconv.enable\n"
               "print('torch' in sys.modules)\n", XDG_CACHE_HOME=str(tmp_path))
    assert out.split() == ["False", "True"]


def test_public_submodules_are_attributes_in_a_fresh_process(tmp_path):
    """safeconv.functional, .modules and .config as attributes right after `import safeconv`
    (docs/pytorch.md: `safeconv.functional.cpp_layer_status()`), imported only when asked
    for; other names still raise AttributeError."""
    out = _run("import sys, safeconv\n"
               "print('torch' in sys.modules)\n"
               "on, why = safeconv.functional.cpp_layer_status()\n"
               "print(isinstance(on, bool), safeconv.modules.SafeConv2d is safeconv.SafeConv2d,\n"
               "      safeconv.config.Config is safeconv.Config)\n"
               "try:\n"
               "    safeconv.functionl\n"
               "except AttributeError as e:\n"
               "    print('AttributeError', 'functionl' in str(e))\n",
               XDG_CACHE_HOME=str(tmp_path))
    assert out.split() == ["False", "True", "True", "True", "AttributeError", "True"]


def test_setup_environment_sets_and_keeps(tmp_path):
    env = {"MIOPEN_FIND_MODE": "1"}
    res = safeconv.setup_environment(cache_dir=str(tmp_path / "miopen"), archs=["gfx1030"],
                                     environ=env, quiet=True)
    assert env["MIOPEN_FIND_MODE"] == "1" and res["kept"] == {"MIOPEN_FIND_MODE": "1"}
    assert env["PYTORCH_MIOPEN_SUGGEST_NHWC"] == "0"
    assert env["MIOPEN_USER_DB_PATH"] == str(tmp_path / "miopen")
    assert os.path.isdir(env["MIOPEN_CUSTOM_CACHE_DIR"])
    assert "MIOPEN_DEBUG_CONV_IMPLICIT_GEMM" not in env and res["warnings"] == []
    env2 = {}
    safeconv.setup_environment(strategy="implicit_gemm", cache_dir=str(tmp_path),
                               avoid_crashing_solvers=True, archs=[], environ=env2, quiet=True)
    assert env2["MIOPEN_DEBUG_CONV_IMPLICIT_GEMM"] == "1"
    assert env2["MIOPEN_DEBUG_CONV_GEMM"] == "0"
    assert env2["MIOPEN_DEBUG_CONV_DIRECT_OCL_WRW2"] == "0"


def test_setup_environment_warns_on_rdna1_override(tmp_path):
    env = {"HSA_OVERRIDE_GFX_VERSION": "10.3.0"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = safeconv.setup_environment(cache_dir=str(tmp_path), archs=["gfx1010"], environ=env)
    assert len(res["warnings"]) == 1
    text = res["warnings"][0]
    assert "HSA_OVERRIDE_GFX_VERSION=10.3.0" in text and "gfx1010" in text
    assert "segfault" in text and "instruction set" in text
    assert any("HSA_OVERRIDE_GFX_VERSION" in str(w.message) for w in caught)
    # RDNA2 with the override: common and usually fine, no warning
    res = safeconv.setup_environment(cache_dir=str(tmp_path), archs=["gfx1031"], quiet=True,
                                     environ={"HSA_OVERRIDE_GFX_VERSION": "10.3.0"})
    assert res["warnings"] == []


def test_setup_multiprocessing_spawn():
    out = _run("import safeconv, multiprocessing as mp\n"
               "print(safeconv.setup_multiprocessing())\n"
               "print(mp.get_start_method())\n")
    assert out.split() == ["spawn", "spawn"]


def test_patch_dataloader_defaults_and_restore():
    ds = TensorDataset(torch.arange(8.0))
    orig = DataLoader.__dict__["__init__"]
    safeconv.patch_dataloader()
    try:
        safeconv.patch_dataloader()  # idempotent
        dl = DataLoader(ds, batch_size=2, num_workers=2)
        assert dl.persistent_workers is True
        ctx = dl.multiprocessing_context
        assert ctx is not None and ctx.get_start_method() == "spawn"
        dl = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=False,
                        multiprocessing_context="fork")
        assert dl.persistent_workers is False and dl.multiprocessing_context.get_start_method() == "fork"
        dl = DataLoader(ds, 2, False, None, None, 0)   # positional, no workers: untouched
        assert dl.persistent_workers is False and dl.multiprocessing_context is None
    finally:
        safeconv.unpatch_dataloader()
    assert DataLoader.__dict__["__init__"] is orig
    safeconv.unpatch_dataloader()  # idempotent


def test_enable_all_in_a_fresh_process(tmp_path):
    out = _run("import safeconv, os\n"
               "h = safeconv.enable_all(strategy='gpu')\n"
               "import torch, torch.nn.functional as F, multiprocessing as mp\n"
               "print(F.conv2d is safeconv.conv2d, mp.get_start_method(),\n"
               "      os.environ['MIOPEN_FIND_MODE'])\n"
               "safeconv.disable(); safeconv.unpatch_dataloader()\n",
               XDG_CACHE_HOME=str(tmp_path))
    assert out.split() == ["True", "spawn", "2"]


# --- options ------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["auto", "gpu", "gpu_unfold", "vendor", "implicit_gemm",
                                      "selective", "cpu", "cpu_fallback"])
def test_every_strategy_name_on_cpu_tensors(strategy):
    """CPU tensors use the CPU backend whatever the strategy (force_strategy=False)."""
    x, w = torch.randn(2, 3, 6, 6, requires_grad=True), torch.randn(4, 3, 3, 3)
    with safeconv.enable(strategy=strategy):
        y = F.conv2d(x, w, padding=1)
        y.sum().backward()
    assert rel_err(y, safeconv.functional.TORCH_CONV2D(x, w, padding=1)) < 1e-5


@pytest.mark.parametrize("options", [
    {"deterministic": False}, {"allow_cpu": True}, {"verbose": 0}, {"size_threshold": 7},
    {"cache_decisions": False}, {"workspace_limit": 4096}, {"num_threads": 1},
    {"algo": "cpu_reference"}, {"algo": "cpu_im2col_gemm"}, {"strategy": "gpu", "force_strategy": True},
])
def test_options_give_pytorchs_result(options):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(2, 4, 9, 7, generator=g, requires_grad=True)
    w = torch.randn(6, 2, 3, 2, generator=g, requires_grad=True)
    b = torch.randn(6, generator=g, requires_grad=True)
    with safeconv.enable(**options):
        y = F.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)
        grads = torch.autograd.grad(y.square().sum(), (x, w, b))
    yr = safeconv.functional.TORCH_CONV2D(x, w, b, stride=(1, 2), padding=1, groups=2)
    ref = torch.autograd.grad(yr.square().sum(), (x, w, b))
    assert rel_err(y, yr) < 1e-5
    for a, r in zip(grads, ref):
        assert rel_err(a, r) < 1e-5


def test_verbose_prints_decisions(capfd):
    with safeconv.enable(verbose=2):
        F.conv2d(torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3))
    err = capfd.readouterr().err
    # every call, its direction by name (not "dir 0")
    assert "safeconv: forward n1 c3 5x5 k2 3x3 g1 -> " in err and "dir " not in err, err


def _run_with_env(env_extra, code):
    import textwrap
    env = dict(os.environ, **env_extra)
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, timeout=120,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


CONV_FWD_BWD = """
    import torch, safeconv
    x = torch.randn(1, 3, 6, 6, requires_grad=True)
    with safeconv.enable(strategy="cpu"):
        w = torch.randn(2, 3, 3, 3, requires_grad=True)
        torch.nn.functional.conv2d(x, w).sum().backward()
    print("done")
"""


def test_verbosity_environment_variable_named_levels():
    """SAFECONV_VERBOSITY=calls turns on the library's per-call messages without touching the
    program; a bad level is an error naming the variable."""
    rc, out, err = _run_with_env({"SAFECONV_VERBOSITY": "calls"}, CONV_FWD_BWD)
    assert rc == 0 and "done" in out, err
    assert "safeconv: forward " in err and "safeconv: backward_data " in err, err
    assert "safeconv: backward_weight " in err, err
    rc, out, err = _run_with_env({"SAFECONV_VERBOSITY": "silent"}, CONV_FWD_BWD)
    assert rc == 0 and "safeconv:" not in err, err
    rc, out, err = _run_with_env({"SAFECONV_VERBOSITY": "loud"}, CONV_FWD_BWD)
    assert rc != 0 and "SAFECONV_VERBOSITY" in err and "'loud'" in err, err


def test_forced_algorithm_is_used():
    layer = torch.nn.Module()
    safeconv.functional.conv2d(torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3), layer=layer)
    with safeconv.enable(algo="cpu_reference"):
        safeconv.functional.conv2d(torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3), layer=layer)
    algos = safeconv.report(layer, print_table=False)["(model)"]["algos"]
    assert algos.get("cpu_reference") == 1 and sum(algos.values()) == 2


def test_vendor_forced_on_cpu_is_clear_or_works():
    """strategy='vendor' with force_strategy on CPU tensors needs a host vendor adapter (only the
    guard's test adapter is one): either a clear UNSUPPORTED/NOT_AVAILABLE error or a result."""
    x, w = torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3)
    with safeconv.enable(strategy="vendor", force_strategy=True):
        try:
            y = F.conv2d(x, w)
        except safeconv.SafeConvUnsupportedError as e:
            assert "vendor" in str(e)
        else:
            assert rel_err(y, safeconv.functional.TORCH_CONV2D(x, w)) < 1e-5


@pytest.mark.parametrize("bad,match", [
    ({"strategy": "fast"}, "strategy"), ({"size_threshold": -1}, "size_threshold"),
    ({"verbose": 5}, "verbose"), ({"algo": "winograd"}, "algo"), ({"fallback": "cpu"}, "fallback"),
    ({"workspace": 1}, "unknown option"),
])
def test_bad_options(bad, match):
    with pytest.raises(safeconv.SafeConvInputError, match=match):
        safeconv.enable(**bad)
    with pytest.raises(safeconv.SafeConvInputError, match=match):
        safeconv.patch_model(torch.nn.Conv2d(1, 1, 1), **bad)


def test_library_facts():
    assert safeconv.library_version().startswith("0.")
    assert "cpu" in safeconv.backends_compiled()
    info = safeconv.device_info()
    assert info["index"] == -1 and info["backend"] == "cpu" and info["multiprocessors"] >= 1
    assert safeconv.device_count() >= 0
    assert os.path.exists(safeconv.library_path())
