"""The C++ layer (csrc/layer_ops.cpp): conv2d's repeated calls run as the
torch.ops.safeconv_layer.conv2d operator with their backward in C++. It must give the Python
layer's bits (forward, every gradient, second-order gradients), the same report, and refuse
operands that do not match its entry with an error.

tests/run_python_tests.sh builds the operators for the PyTorch under test and sets
SAFECONV_REQUIRE_CPP_LAYER=1: then a C++ layer that does not load fails here instead of every
test quietly running the Python layer."""
import os

import pytest
import torch
import torch.nn as nn

import safeconv
from safeconv import functional as SF
from conftest import CUDA_SKIP

CUDA = pytest.mark.skipif(CUDA_SKIP is not None, reason=str(CUDA_SKIP))
STEPS = 6  # the first is the Python layer's (a new shape), then the timing sample's TIME_FIRST


@pytest.fixture(autouse=True)
def _need_cpp_layer():
    ok, why = SF.cpp_layer_status()
    if not ok:
        if os.environ.get("SAFECONV_REQUIRE_CPP_LAYER") == "1":
            pytest.fail("the C++ layer is required here but not in use: %s" % why)
        pytest.skip("no C++ layer: %s" % why)


def _steps(on, device, dtype, cl, bias, stride, groups, tf32=None, seed=3, steps=STEPS):
    """Forward and backward of one layer `steps` times with the C++ layer on or off: the last
    step's y and gradients, the layer's report and how many calls took the C++ layer."""
    g = torch.Generator().manual_seed(seed)
    c, k = 8, 12
    x0 = torch.randn(3, c, 9, 7, generator=g)
    w0 = torch.randn(k, c // groups, 3, 2, generator=g)
    b0 = torch.randn(k, generator=g) if bias else None
    fmt = torch.channels_last if cl else torch.contiguous_format
    layer = nn.Module()
    saved = SF._cpp
    if not on:
        SF._cpp = False
    try:
        with safeconv.enable(strategy="gpu" if device == "cuda" else "cpu", tf32=tf32):
            for _ in range(steps):
                x = x0.to(device, dtype).clone(memory_format=fmt).requires_grad_()
                w = w0.to(device, dtype).clone(memory_format=fmt).requires_grad_()
                b = b0.to(device, dtype).requires_grad_() if bias else None
                y = safeconv.conv2d(x, w, b, padding=1, stride=stride, groups=groups,
                                    layer=layer)
                y.backward(torch.ones_like(y) * 0.5 + y.detach() * 0.25)
    finally:
        SF._cpp = saved
    rec = safeconv._stats._modules[layer]
    out = [y.detach(), x.grad, w.grad, b.grad if bias else None]
    return out, safeconv.report(layer)["(model)"], rec.cpp_calls


CASES = [("cpu", torch.float32, None), pytest.param("cuda", torch.float32, False, marks=CUDA),
         pytest.param("cuda", torch.float32, True, marks=CUDA),
         pytest.param("cuda", torch.bfloat16, None, marks=CUDA),
         pytest.param("cuda", torch.float16, None, marks=CUDA)]


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("cl", [False, True])
@pytest.mark.parametrize("device,dtype,tf32", CASES)
def test_same_bits_and_report_as_python_layer(device, dtype, tf32, cl, bias, stride, groups):
    got, rep, n_cpp = _steps(True, device, dtype, cl, bias, stride, groups, tf32)
    want, rep_py, n_py = _steps(False, device, dtype, cl, bias, stride, groups, tf32)
    assert n_cpp == STEPS - 3 and n_py == 0  # a new shape, then TIME_FIRST sampled calls
    for a, b, name in zip(got, want, ("y", "dx", "dw", "db")):
        if b is None:
            continue
        assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride(), name
        assert torch.equal(a, b), name
    for key in ("forward_calls", "backward_calls", "calls", "paths", "algos", "maths", "path",
                "math"):
        assert rep[key] == rep_py[key], (key, rep[key], rep_py[key])
    assert rep["forward_calls"] == STEPS and rep["backward_calls"] == STEPS


@pytest.mark.parametrize("cl", [False, True])
@pytest.mark.parametrize("device,dtype", [("cpu", torch.bfloat16),
                                          pytest.param("cuda", torch.bfloat16, marks=CUDA),
                                          pytest.param("cuda", torch.float16, marks=CUDA)])
def test_autocast_same_bits_as_python_layer(device, dtype, cl):
    """Under autocast the operator casts the float32 operands itself (PyTorch's cached_cast):
    the output's dtype, y and the float32 parameters' gradients are the Python layer's."""
    def run(on):
        g = torch.Generator().manual_seed(8)
        fmt = torch.channels_last if cl else torch.contiguous_format
        layer = nn.Conv2d(8, 16, 3, padding=1).to(device).to(memory_format=fmt)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
            layer.bias.copy_(torch.randn(16, generator=g))
        x0 = torch.randn(2, 8, 7, 7, generator=g).to(device).contiguous(memory_format=fmt)
        saved = SF._cpp
        if not on:
            SF._cpp = False
        try:
            with safeconv.enable(strategy="gpu" if device == "cuda" else "cpu"):
                for _ in range(STEPS):
                    layer.zero_grad()
                    x = x0.clone().requires_grad_()
                    with torch.autocast(device, dtype=dtype):
                        y = layer(x)
                    y.float().square().sum().backward()
        finally:
            SF._cpp = saved
        rec = safeconv._stats._modules[layer]
        return [y.detach(), x.grad, layer.weight.grad, layer.bias.grad], rec.cpp_calls

    got, n_cpp = run(True)
    want, n_py = run(False)
    assert n_cpp == STEPS - 3 and n_py == 0
    assert got[0].dtype == dtype and got[2].dtype == torch.float32
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.stride() == b.stride() and torch.equal(a, b)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_second_order_gradients_match_python_layer(device):
    """create_graph through the C++ layer's backward (its differentiable Functions): the
    gradient of a gradient penalty has the Python layer's bits."""
    def run(on):
        g = torch.Generator().manual_seed(5)
        x0, w0 = torch.randn(2, 4, 6, 6, generator=g), torch.randn(6, 4, 3, 3, generator=g)
        b0 = torch.randn(6, generator=g)
        saved = SF._cpp
        if not on:
            SF._cpp = False
        try:
            layer = nn.Module()
            for _ in range(STEPS):
                x, w, b = (t.to(device).requires_grad_() for t in (x0, w0, b0))
                y = safeconv.conv2d(x, w, b, padding=1, layer=layer)
                loss = (y.square() * 0.5).sum()
                gx, gw, gb = torch.autograd.grad(loss, (x, w, b), create_graph=True)
                pen = gx.square().sum() + gw.square().sum() + gb.square().sum()
                second = torch.autograd.grad(pen, (x, w, b))
        finally:
            SF._cpp = saved
        return (gx.detach(), gw.detach(), gb.detach()) + tuple(second), \
            safeconv._stats._modules[layer].cpp_calls

    got, n_cpp = run(True)
    want, _ = run(False)
    assert n_cpp > 0
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    # and the second-order gradient is not zero (the silent failure of a detached backward)
    assert all(t.abs().sum() > 0 for t in got[3:])


def test_inference_mode_and_no_grad():
    """Below autograd (inference_mode) the operator's plain kernel runs: the same y."""
    g = torch.Generator().manual_seed(6)
    x, w = torch.randn(2, 4, 6, 6, generator=g), torch.randn(6, 4, 3, 3, generator=g)
    layer = nn.Module()
    ys = []
    for mode in (torch.no_grad, torch.inference_mode, torch.enable_grad):
        with mode():
            for _ in range(STEPS):
                ys.append(safeconv.conv2d(x, w, padding=1, layer=layer))
    assert all(torch.equal(y, ys[0]) for y in ys)
    assert safeconv._stats._modules[layer].cpp_calls > 0


def _entry_for(x, w, b=None):
    """A layer's C++ entry and statistics (and the layer, which keeps them), made by calling
    it until the C++ layer takes the call."""
    layer = nn.Module()
    for _ in range(STEPS):
        safeconv.conv2d(x, w, b, padding=1, layer=layer)
    rec = safeconv._stats._modules[layer]
    assert rec.cpp_entry is not None
    return rec.cpp_entry[5], rec, layer


def test_entry_follows_the_weights_strides_between_calls():
    """An entry holds the weight strides it was made for (the weight gradient is laid out like
    the weight); a call whose weight has other strides works them out again and gets an entry
    for them, and the gradient follows. Here the strides differ only in size-1 dimensions, so
    the descriptor key (shapes, not strides) stays the same. A _cpp_call that kept the entry,
    or its strides, fails here."""
    x = torch.randn(2, 3, 6, 6)
    layer = nn.Module()
    plain = torch.randn(4, 3, 1, 1)
    odd = plain.view(4, 3).as_strided((4, 3, 1, 1), (3, 1, 7, 7)).clone()
    assert odd.stride() == (3, 1, 7, 7) and torch.equal(odd, plain)
    ids = []
    for wt in (plain, odd, plain):
        wt = wt.clone().requires_grad_()
        for _ in range(STEPS):
            wt.grad = None
            safeconv.conv2d(x, wt, layer=layer).sum().backward()
        got = safeconv._stats._modules[layer].cpp_entry
        assert got[2] == wt.stride() and got[6] == wt.stride()
        assert wt.grad.stride() == wt.stride()
        ids.append(got[5])
    assert ids[0] != ids[1] != ids[2]


def test_operator_refuses_operands_that_do_not_match_its_entry():
    """Called directly with tensors its entry does not describe, the operator returns None (it
    never reads memory the entry does not describe); the public function then runs the call
    on the Python layer."""
    x, w = torch.randn(2, 4, 6, 6), torch.randn(6, 4, 3, 3)
    e, _, layer = _entry_for(x, w)  # the layer keeps its statistics, which keep the entry
    op = torch.ops.safeconv_layer.conv2d
    assert (op(x, w, None, e) - SF.TORCH_CONV2D(x, w, padding=1)).abs().max() < 1e-4
    bad = [(torch.randn(2, 4, 6, 5), w, None), (x, torch.randn(6, 4, 3, 2), None),
           (x.double(), w, None), (x, w, torch.randn(5)),
           (torch.randn(2, 4, 6, 6, dtype=torch.bfloat16), w, None)]
    for xa, wa, ba in bad:  # no result, no node: the Python layer takes such a call
        assert op(xa, wa, ba, e) is None
    # operands in another layout are copied into the entry's (as the Python layer copies)
    y = op(x, w, None, e)
    for xa in (torch.stack([x, x], -1)[..., 0], x.contiguous(memory_format=torch.channels_last)):
        assert torch.equal(xa, x) and torch.equal(op(xa, w, None, e), y)
    # through the public function, a mismatch never reaches the operator: the layer's next
    # call with other shapes gets a new descriptor (and the Python layer's checks)
    with pytest.raises(safeconv.SafeConvInputError):
        safeconv.conv2d(x, torch.randn(6, 3, 3, 3), padding=1)


def test_operator_takes_entries_by_id_and_forgets_them_when_gone():
    """The operator takes the entry's id (layer_ops.cpp, "entries by id"): each entry has its
    own, and an id finds its entry only while something holds it: the layer's statistics, or an
    autograd graph made through it (whose backward still runs after the layer is gone). An id
    of an entry that is gone, or one never given, gives None: no call on freed memory."""
    import gc
    x, w = torch.randn(2, 4, 6, 6), torch.randn(6, 4, 3, 3)
    x2 = torch.randn(2, 4, 5, 5)
    ea, rec_a, layer_a = _entry_for(x, w)
    eb, _, layer_b = _entry_for(x2, w)
    assert ea != eb and ea > 0 and eb > 0
    op = torch.ops.safeconv_layer.conv2d
    ref = SF.TORCH_CONV2D(x, w, padding=1)
    assert (op(x, w, None, ea) - ref).abs().max() < 1e-4
    for bad in (0, -1, max(ea, eb) + 1000, 2**62):
        assert op(x, w, None, bad) is None
    # a graph made through the entry keeps it: the layer and its statistics may go first
    wg = w.clone().requires_grad_()
    y = op(x, wg, None, ea)
    del rec_a, layer_a
    gc.collect()
    y.sum().backward()
    ref_dw, = torch.autograd.grad(SF.TORCH_CONV2D(x, wg, padding=1).sum(), wg)
    assert (wg.grad - ref_dw).abs().max() < 1e-3
    del y
    gc.collect()
    assert op(x, w, None, ea) is None  # nothing holds it now: gone from the table


_BAD_BYTES = r"""
import ctypes, sys, torch, torch.nn as nn
sys.path.insert(0, sys.argv[1])
import safeconv, safeconv.functional as SF
cls = torch.classes.safeconv_layer if SF.cpp_layer_status()[0] else None
layer = nn.Module()
x, w = torch.randn(2, 4, 6, 6), torch.randn(6, 4, 3, 3)
for _ in range(6):
    safeconv.conv2d(x, w, padding=1, layer=layer)
rec = safeconv._stats._modules[layer]
twin = rec.cpp_entry[1].cpp_twin
tally = torch.zeros(safeconv._stats.CPP_TALLY_SIZE, dtype=torch.int64)
good = bytes(rec.desc_cache[1])
zero_n = bytearray(good)
zero_n[0:8] = (0).to_bytes(8, "little")
lib = safeconv.load_library()
names = torch.ops.safeconv_layer._bind_names()
addr = [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in names]
bind = torch.ops.safeconv_layer._bind
cases = [("options must be", lambda: cls._Context(torch.zeros(3, dtype=torch.uint8), None)),
         ("takes 12 addresses", lambda: bind(addr[:-1])),
         ("address 1 is not sc_context_destroy", lambda: bind([addr[0], addr[2]] + addr[2:])),
         ("address 0 is not sc_context_create", lambda: bind([addr[0] + 1] + addr[1:])),
         ("desc must be", lambda: cls._Entry(twin, SF._bytes_tensor(good[:-1]), [36, 9, 3, 1],
                                              -1, tally)),
         ("tally must be", lambda: cls._Entry(twin, SF._bytes_tensor(good), [36, 9, 3, 1], -1,
                                               tally[:-1].clone())),
         ("sc_conv2d_validate", lambda: cls._Entry(twin, SF._bytes_tensor(bytes(zero_n)),
                                                   [36, 9, 3, 1], -1, tally)),
         ("w_stride is not a dense layout", lambda: cls._Entry(twin, SF._bytes_tensor(good),
                                                               [0, 0, 0, 0], -1, tally))]
for want, make in cases:
    try:
        make()
        print("no error:", want)
    except RuntimeError as e:
        print("raised" if want in str(e) else "other error: %s" % e)
"""


def test_entry_and_context_refuse_bad_bytes():
    """The operators check what they are given: addresses that are not the library's functions
    in their order, wrong sizes of the option, descriptor and tally bytes, and a descriptor the
    library rejects, raise naming the problem, numbers included. In a child process: operators
    linked with a second C++ runtime crashed on these messages (one with a number in it ended
    the process with SIGSEGV on the GPU machine, and lost its numbers here), and a crash must
    fail this test, not the run (test_build_refuses_a_second_cpp_runtime)."""
    import subprocess
    import sys
    pkg = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
    out = subprocess.run([sys.executable, "-c", _BAD_BYTES, pkg], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr[-2000:])
    assert out.stdout.split("\n")[:8] == ["raised"] * 8, out.stdout
    # and binding again to the same functions is accepted (every process does it once)
    lib = safeconv.load_library()
    import ctypes
    torch.ops.safeconv_layer._bind([ctypes.cast(getattr(lib, n), ctypes.c_void_p).value
                                    for n in torch.ops.safeconv_layer._bind_names()])


def test_switched_by_environment(tmp_path):
    """The C++ layer is on where it is built, unless SAFECONV_CPP_LAYER=0: then every call
    stays on the Python layer (checked in children: the switch is read once per process)."""
    import subprocess
    import sys
    code = ("import torch, torch.nn as nn, safeconv, safeconv.functional as F\n"
            "x, w, layer = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), nn.Module()\n"
            "[F.conv2d(x, w, layer=layer) for _ in range(8)]\n"
            "print(F.cpp_layer_status(), safeconv._stats._modules[layer].cpp_calls)\n")
    for value, want in (("0", "(False, 'off: SAFECONV_CPP_LAYER=0"), (None, "(True, None) "),
                        ("1", "(True, None) ")):
        env = dict(os.environ, SAFECONV_CPP_LAYER=value or "")
        if value is None:
            del env["SAFECONV_CPP_LAYER"]
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(want), (value, out.stdout)
        calls = int(out.stdout.split()[-1])
        assert (calls > 0) == (value != "0"), (value, out.stdout)


_REFUSALS = r"""
import sys, torch, torch.nn as nn, safeconv, safeconv.functional as F
x, w, layer = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), nn.Module()
if sys.argv[1] == "hash":
    F.cpp_layer_source_hash = lambda: "0" * 64  # as if layer_ops.cpp had changed since the build
else:
    def refuse(*a):
        raise RuntimeError("refused")
    F._cpp_entry = refuse
ys = [F.conv2d(x, w, layer=layer) for _ in range(8)]
assert all(torch.equal(y, ys[0]) for y in ys)
print(F.cpp_layer_status(), safeconv._stats._modules[layer].cpp_calls)
"""


def test_stale_build_or_refused_entry_leaves_the_python_layer():
    """Operators built from another layer_ops.cpp are not used (their source hash is not the
    shipped file's), and an entry the C++ layer refuses turns it off for the process with the
    reason: either way every call is computed, by the Python layer (children: the layer's
    state is per process)."""
    import subprocess
    import sys
    for case, why in (("hash", "built from another csrc/layer_ops.cpp"),
                      ("entry", "could not make an entry for a call the Python layer runs: "
                                "refused")):
        out = subprocess.run([sys.executable, "-c", _REFUSALS, case], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("(False, ") and why in out.stdout, out.stdout
        assert out.stdout.split()[-1] == "0", out.stdout
        assert why in out.stderr  # said once, as a warning


def test_operators_report_the_source_they_were_built_from():
    assert torch.ops.safeconv_layer._source_hash() == SF.cpp_layer_source_hash()


def test_build_names_a_compiler_it_cannot_run(tmp_path):
    """build_layer_ops.py with a compiler that does not exist: exit status 1 and a message
    naming it, no traceback, and the built file left as it was."""
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                          "build_layer_ops.py")
    path = SF.cpp_layer_path()
    before = os.stat(path).st_mtime_ns
    out = subprocess.run([sys.executable, script, "--cxx", str(tmp_path / "no-such-g++")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "cannot run the compiler" in out.stderr and "no-such-g++" in out.stderr
    assert "Traceback" not in out.stderr
    assert os.stat(path).st_mtime_ns == before


def test_build_refuses_a_second_cpp_runtime(tmp_path):
    """build_layer_ops.py's check on what it wrote: a shared object linked with a static copy
    of libstdc++ (what a compiler wrapper did on the GPU machine: two C++ runtimes in one
    process, and the operators' error messages crashed or lost their numbers) defines the
    runtime's locale symbols and is named; one linked as usual defines none; and the runtime the
    build links is the one this process loaded."""
    import shutil
    import subprocess
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
    try:
        import build_layer_ops as B
    finally:
        sys.path.pop(0)
    if shutil.which("g++") is None or shutil.which("nm") is None:
        pytest.skip("needs g++ and nm")
    src = tmp_path / "m.cpp"
    src.write_text("#include <sstream>\n#include <string>\n"
                   "std::string f(unsigned long n) { std::ostringstream s; s << n; "
                   "return s.str(); }\n")
    for flags, own in (([], False), (["-static-libstdc++"], True)):
        so = tmp_path / ("m%d.so" % len(flags))
        subprocess.run(["g++", "-shared", "-fPIC", "-O1", str(src), "-o", str(so)] + flags,
                       check=True)
        found = B.own_runtime_symbols(str(so))
        assert bool(found) == own, found
    assert "libstdc++.so.6" in (B.loaded_libstdcxx() or "")
