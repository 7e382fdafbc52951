"""probe_model: shape collection always; probing when the library has the guard's probe."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import safeconv
from safeconv import _probe


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = safeconv.SafeConv2d(8, 8, 3, padding=1, groups=8)
        self.c = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.d = nn.Conv1d(4, 4, 3)

    def forward(self, x):
        y = self.c(self.b(self.a(x)))
        y = y + F.conv2d(y, torch.ones(4, 4, 1, 1))            # functional, same shape twice
        y = y + F.conv2d(y, torch.ones(4, 4, 1, 1))
        return self.d(y.flatten(2))


def test_collect_conv_shapes():
    net = Net()
    net.b.safeconv_config = safeconv.Config(strategy="vendor")  # overridden while collecting
    shapes = _probe.collect_conv_shapes(net, torch.randn(2, 3, 6, 6))
    kinds = [s["kind"] for s in shapes]
    assert kinds == ["conv2d", "conv2d", "conv_transpose2d", "conv2d", "conv2d"]
    a = shapes[0]["desc"]
    assert (a["n"], a["c"], a["h"], a["w"], a["k"], a["r"], a["s"], a["pad_h"]) == \
        (2, 3, 6, 6, 8, 3, 3, 1)
    assert shapes[1]["desc"]["groups"] == 8
    t = shapes[2]["desc"]  # the transposed layer as the conv whose input gradient it is
    assert (t["c"], t["h"], t["w"], t["k"], t["stride_h"]) == (4, 12, 12, 8, 2)
    assert (shapes[4]["desc"]["h"], shapes[4]["desc"]["w"]) == (1, 144)   # Conv1d: height 1
    assert not safeconv.is_enabled() and F.conv2d is safeconv.functional.TORCH_CONV2D


def test_probe_model_or_clear_error(tmp_path):
    net = Net()
    if not _probe.probe_available():
        with pytest.raises(safeconv.SafeConvUnsupportedError, match="no probe"):
            safeconv.probe_model(net, torch.randn(1, 3, 4, 4))
        return
    res = safeconv.probe_model(net, torch.randn(1, 3, 4, 4), cache_path=str(tmp_path / "c.sqlite"),
                               watchdog_s=30, progress=False)
    assert len(res) == 5 * 3
    assert {r["direction"] for r in res} == {"forward", "backward_data", "backward_weight"}
    for r in res:
        assert r["outcome"] in _probe.OUTCOMES
        if r["outcome"] in ("hang", "crash", "error", "wrong", "slow"):
            assert not r["use_vendor"]
    with pytest.raises(safeconv.SafeConvInputError, match="unknown direction"):
        safeconv.probe_model(net, torch.randn(1, 3, 4, 4), directions=("sideways",))


def _fault_vendor():
    lib_dir = os.path.dirname(safeconv.library_path())
    plugin = os.path.join(lib_dir, "libsafeconv_fault_vendor.so")
    if not _probe.probe_available():
        pytest.skip("library built without the guard")
    if not os.path.exists(plugin):
        pytest.skip("no %s (built by `make test-c` or `make fault-vendor`)" % plugin)
    return plugin


def test_guard_end_to_end_with_fault_vendor(tmp_path, monkeypatch):
    """probe_model through the fault-injection vendor (host memory, so it serves CPU tensors
    with force_strategy=True): failures are recorded, and strategy auto then never sends those
    shapes to the vendor; results stay right. A forced vendor strategy shows as path "vendor"."""
    plugin = _fault_vendor()
    monkeypatch.setenv("SAFECONV_VENDOR_LIBRARY", plugin)
    monkeypatch.setenv("SAFECONV_FAULT_RULES", "k=6:error; k=5:wrong; k=3:segv; ok")
    cache = str(tmp_path / "cache.sqlite")
    safeconv.clear_contexts()
    try:
        net = nn.Sequential(nn.Conv2d(3, 6, 3), nn.Conv2d(6, 5, 3), nn.Conv2d(5, 4, 1),
                            nn.Conv2d(4, 3, 1))
        x = torch.randn(2, 3, 10, 10)
        res = safeconv.probe_model(net, x, cache_path=cache, watchdog_s=60, progress=False)
        outcome = {}
        for r in res:
            outcome.setdefault(r["desc"]["k"], set()).add(r["outcome"])
        assert outcome == {6: {"error"}, 5: {"wrong"}, 4: {"ok"}, 3: {"crash"}}
        again = safeconv.probe_model(net, x, cache_path=cache, progress=False)
        assert all(r["from_cache"] for r in again)
        ref = net(x)
        with safeconv.enable(strategy="auto", force_strategy=True, cache_path=cache):
            y = net(x)
            y.sum().backward()
        assert (y - ref).abs().max() < 1e-5
        rep = safeconv.report(net, print_table=False)
        for name in ("0", "1", "3"):
            assert rep[name]["paths"].get("vendor", 0) == 0 and rep[name]["bypass_rate"] == 1.0
        ok_layer = nn.Conv2d(5, 4, 1)
        z = torch.randn(2, 5, 6, 6)
        with safeconv.enable(strategy="vendor", force_strategy=True, cache_path=cache):
            out = ok_layer(z)
        assert (out - safeconv.functional.TORCH_CONV2D(z, ok_layer.weight, ok_layer.bias)
                ).abs().max() < 1e-5
        r = safeconv.report(ok_layer, print_table=False)["(model)"]
        assert r["path"] == "vendor" and r["bypass_rate"] == 0.0
    finally:
        safeconv.clear_contexts()


def test_probe_helper_not_from_working_directory(tmp_path):
    """libsafeconv.so loaded by a relative name (SAFECONV_LIBRARY=build/libsafeconv.so): after
    os.chdir elsewhere, probe_model must not run a `build/safeconv` planted there and cache
    what it prints (issue 14). The library's folder is made absolute when it is loaded."""
    plugin = _fault_vendor()
    lib = os.path.abspath(safeconv.library_path())
    base, build = os.path.split(os.path.dirname(lib))
    evil = tmp_path / "elsewhere"
    (evil / build).mkdir(parents=True)
    marker = tmp_path / "planted-ran"
    planted = evil / build / "safeconv"
    planted.write_text("#!/bin/sh\ntouch '%s'\necho 'R 1 0 0.001 1 1 0 0 planted' >&3\n" % marker)
    planted.chmod(0o755)
    code = (
        "import os, sys, torch, torch.nn as nn, safeconv\n"
        "net, x = nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8)\n"
        "safeconv.library_path()  # loaded here, from the starting folder\n"
        "os.chdir(sys.argv[1])\n"
        "r = safeconv.probe_model(net, x, cache_path=sys.argv[2], directions=('forward',),\n"
        "                         watchdog_s=60, progress=False)[0]\n"
        "print('RESULT', r['outcome'], repr(r['detail']))\n")
    env = dict(os.environ, SAFECONV_LIBRARY=os.path.join(build, os.path.basename(lib)),
               SAFECONV_VENDOR_LIBRARY=plugin, SAFECONV_FAULT_RULES="ok")
    env.pop("SAFECONV_TOOL", None)
    out = subprocess.run([sys.executable, "-c", code, str(evil), str(tmp_path / "c.sqlite")],
                         cwd=base, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not marker.exists(), "the planted %s was executed" % planted
    assert "RESULT ok" in out.stdout and "planted" not in out.stdout, out.stdout
