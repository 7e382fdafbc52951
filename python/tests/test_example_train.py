"""examples/train.py on the CPU, tiny sizes: the training loop, the loss comparison and the
throughput benchmark run end to end and write their JSON (the GPU numbers come from the GPU
machine; here only that the script works and reports what it claims)."""
import argparse
import importlib.util
import json
import math
import os
import re
import types

import pytest
import torch

import safeconv

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(HERE, os.pardir, os.pardir, "examples", "train.py")


@pytest.fixture(scope="module")
def train_mod():
    spec = importlib.util.spec_from_file_location("safeconv_example_train", TRAIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_one_model_runs(train_mod, tmp_path):
    out = tmp_path / "train.json"
    rc = train_mod.main(["--device", "cpu", "--model", "yolo", "--data", "synthetic",
                         "--dataset", "64", "--steps", "3", "--batch", "4", "--size", "32",
                         "--log-every", "1", "--json", str(out)])
    assert rc == 0
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 1
    r = runs[0]
    assert math.isfinite(r["final_loss"]) and r["final_loss"] > 0
    assert r["images_per_s"] > 0


def test_benchmark_subset_of_modes(train_mod, tmp_path):
    out = tmp_path / "bench.json"
    rc = train_mod.main(["--device", "cpu", "--benchmark", "--bench-batch", "2",
                         "--bench-size", "32", "--bench-steps", "1", "--bench-warmup", "0",
                         "--bench-modes", "safeconv,cudnn", "--json", str(out)])
    assert rc == 0
    b = json.loads(out.read_text())["benchmark"]
    assert set(b) >= {"safeconv", "cudnn", "ratio_vs_cudnn"}
    assert "nocudnn" not in b and "ratio_vs_nocudnn" not in b
    assert b["safeconv"] > 0 and b["ratio_vs_cudnn"] == pytest.approx(b["safeconv"] / b["cudnn"])


# --compare's checks (docs/pytorch.md, "What --compare checks"): the early agreement on a tiny
# YOLO-style model, 3 steps, against PyTorch's CPU convolution: it passes for safeconv and
# fails for the test-only wrong variant (weight gradients scaled by 1.01).
EARLY = ["--device", "cpu", "--compare", "--checks", "early", "--model", "yolo", "--size", "32",
         "--batch", "8", "--dataset", "64", "--held-out", "32", "--no-early-floor"]


def _early(train_mod, tmp_path, extra):
    out = tmp_path / "early.json"
    rc = train_mod.main(EARLY + extra + ["--json", str(out)])
    run = json.loads(out.read_text())["runs"][0]
    return rc, run["early"], run


def test_compare_early_agreement_passes(train_mod, tmp_path):
    rc, early, run = _early(train_mod, tmp_path, [])
    assert rc == 0 and early["pass"] and run["pass"]
    assert early["precision"] == "fp32"
    b = early["bounds"]
    assert b["layer"] == pytest.approx(2.0 ** 15 * 2.0 ** -24)
    assert len(early["layers"]) == 25  # every Conv2d of the model
    for m in early["layers"]:
        assert m["forward"] <= b["layer"] and m["backward_weight"] <= b["layer"]
    assert [t["step"] for t in early["trajectory"]] == [1, 2, 3]
    assert early["loss_steps_judged"] == 3
    assert all(t["loss"] <= b["loss"] for t in early["trajectory"])
    step1 = early["trajectory"][0]
    assert step1["param"] <= b["param"] and abs(step1["drift"]) <= b["drift"]
    assert "statistical" not in run


def test_compare_early_agreement_fails_wrong_gradient(train_mod, tmp_path):
    import safeconv.functional as SF
    orig = SF._run_backward
    rc, early, run = _early(train_mod, tmp_path, ["--test-wrong-dw-scale", "1.01"])
    assert SF._run_backward is orig  # the switch is undone
    assert rc == 1 and not early["pass"] and not run["pass"]
    # every convolution's weight gradient is 1% off; nothing else is
    b = early["bounds"]
    for m in early["layers"]:
        assert m["backward_weight"] == pytest.approx(0.01, rel=0.05)
        assert m["forward"] <= b["layer"]
    step1 = early["trajectory"][0]
    assert step1["param"] > b["param"]
    assert step1["drift"] == pytest.approx(0.01, rel=0.1)  # the update is 1% too long
    assert step1["drift"] > b["drift"]


def test_compare_early_agreement_bf16(train_mod, tmp_path):
    """AMP bf16 on the CPU: the layer check's bound is bf16's unit roundoff (2^-8); it
    passes safeconv and fails the 1.01 variant (the step's bounds in bf16 cannot see 1%)."""
    rc, early, _ = _early(train_mod, tmp_path, ["--amp", "bf16"])
    assert rc == 0 and early["precision"] == "bf16" and early["loss_steps_judged"] == 1
    assert early["bounds"]["layer"] == 2.0 ** -8
    rc, early, _ = _early(train_mod, tmp_path, ["--amp", "bf16", "--test-wrong-dw-scale", "1.01"])
    assert rc == 1 and not early["pass"]
    assert max(m["backward_weight"] for m in early["layers"]) > early["bounds"]["layer"]


def test_band_is_paired_and_widened(train_mod):
    """The statistical check's band on made-up numbers: per-seed differences from the
    cuDNN run, the references' span widened by k standard errors of the differences."""
    import compare_training as ct
    cudnn = [1.0, 1.5, 2.0, 1.2]
    nocudnn = [c + d for c, d in zip(cudnn, [0.01, -0.01, 0.02, 0.0])]
    good = [c + d for c, d in zip(cudnn, [0.0, 0.01, -0.01, 0.005])]
    b = ct.band({"safeconv": good, "cudnn": cudnn, "nocudnn": nocudnn}, 4.0)
    assert b["pass"]
    assert b["band"][0] < 0.0 < 0.005 < b["band"][1]  # contains the span [0, mean nocudnn]
    # the seed-to-seed spread of whole runs (0.4) does not widen it; the differences' does
    assert b["widening"] == pytest.approx(4.0 * b["diff_sd"] / 2.0)
    assert b["widening"] < 0.05
    shifted = [g + 0.1 for g in good]
    assert not ct.band({"safeconv": shifted, "cudnn": cudnn, "nocudnn": nocudnn}, 4.0)["pass"]


def test_compare_statistical_check_runs(train_mod, tmp_path):
    """The statistical check end to end on a tiny run (2 seeds x 3 implementations, 6 steps):
    its numbers and band are reported; whether it passes at this size is not asserted (the
    verdict's numbers come from the GPU machine and the hand-run CPU numbers in the notes)."""
    out = tmp_path / "stat.json"
    train_mod.main(["--device", "cpu", "--compare", "--checks", "stat", "--model", "yolo",
                    "--size", "32", "--batch", "8", "--dataset", "64", "--held-out", "32",
                    "--steps", "6", "--seeds", "2", "--json", str(out)])
    st = json.loads(out.read_text())["runs"][0]["statistical"]
    assert st["seeds"] == [0, 1]
    assert {m: len(v) for m, v in st["runs"].items()} == {"safeconv": 2, "cudnn": 2,
                                                         "nocudnn": 2}
    for metric in ("final_loss", "eval_acc"):
        b = st[metric]
        lo, hi = b["band"]
        assert lo <= min(0.0, b["diff_means"]["nocudnn"])
        assert hi >= max(0.0, b["diff_means"]["nocudnn"])
        assert b["pass"] == (lo <= b["safeconv_diff"] <= hi)
    assert isinstance(st["pass"], bool)


def test_compare_bn_runs_and_is_exact_on_the_cpu(train_mod, tmp_path, capsys):
    """--compare-bn (issue 19): --compare's statistical check with batch norm on PyTorch's
    kernels judged, paired per seed with batch norm on the vendor's, the band from PyTorch's
    vendor-library path. On the CPU batch norm is PyTorch's kernel whichever way
    bypass_other_ops points, so the candidate's per-seed differences are exactly 0 and it
    passes."""
    out = tmp_path / "bn.json"
    rc = train_mod.main(["--device", "cpu", "--compare-bn", "--model", "yolo", "--size", "32",
                         "--batch", "4", "--dataset", "32", "--held-out", "16", "--steps", "3",
                         "--seeds", "2", "--band-k", "3", "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "data: synthetic" in printed  # like --compare: a loss that plateaus above zero
    r = json.loads(out.read_text())["runs"][0]
    assert r["model"] == "yolo" and r["pass"]
    st = r["statistical"]
    assert st["pass"] and st["seeds"] == [0, 1] and st["steps"] == 3
    assert {m: len(v) for m, v in st["runs"].items()} == {
        "safeconv_bnpt": 2, "safeconv_bnvendor": 2, "cudnn": 2}
    for metric in ("final_loss", "eval_acc"):
        b = st[metric]
        assert b["roles"] == {"candidate": "safeconv_bnpt", "base": "safeconv_bnvendor",
                              "reference": "cudnn"}
        assert b["diffs"]["safeconv_bnpt"] == [0.0, 0.0]
        assert b["safeconv_bnpt_diff"] == 0.0 and b["pass"]
        assert b["widening"] == pytest.approx(3.0 * b["diff_sd"] / math.sqrt(2))
    assert st["throughput_ratio"] > 0
    assert "yolo     batch-norm agreement: PASS (throughput bnpt/bnvendor" in printed
    assert "yolo     verdict: PASS" in printed and printed.rstrip().endswith("verdict: PASS")


def test_data_is_made_once_per_setting(train_mod):
    """get_data() keeps each set it made (the statistical checks train 30 runs on the same
    data): the same arguments give the same tensors, equal to a fresh make; another seed,
    size or held_out another set."""
    import types
    a = types.SimpleNamespace(data="synthetic", dataset=16, held_out=8, size=16, classes=3,
                              seed=5)
    x, y = train_mod.get_data(a)
    assert train_mod.get_data(a)[0] is x
    fx, fy = train_mod.make_dataset(16, 16, 3, 5)
    assert torch_equal(x, fx) and torch_equal(y, fy)
    hx, _ = train_mod.get_data(a, held_out=True)
    assert hx.shape[0] == 8
    b = types.SimpleNamespace(**dict(vars(a), seed=6))
    assert not torch_equal(train_mod.get_data(b)[0], x)
    c = types.SimpleNamespace(**dict(vars(a), size=8))
    assert train_mod.get_data(c)[0].shape[-1] == 8


def torch_equal(a, b):
    return a.shape == b.shape and bool((a == b).all())


def test_seeds_below_one_is_refused(train_mod, capsys):
    """--seeds 0 is an argument error naming the option, not a ZeroDivisionError after the
    runs."""
    for flag in ("--compare", "--compare-bn"):
        with pytest.raises(SystemExit) as e:
            train_mod.main(["--device", "cpu", flag, "--seeds", "0"])
        assert e.value.code == 2
        assert "--seeds must be at least 1" in capsys.readouterr().err


def test_band_with_other_roles_fails_a_shifted_candidate(train_mod):
    """band() with --compare-bn's roles: differences taken from the base (bnvendor) per seed,
    the band from the reference (cudnn); a candidate shifted by more than the band fails."""
    import compare_training as ct
    vendor = [1.0, 1.5, 2.0, 1.2]
    cudnn = [v + d for v, d in zip(vendor, [0.02, -0.01, 0.01, 0.0])]
    good = [v + d for v, d in zip(vendor, [0.0, 0.01, -0.01, 0.005])]
    roles = {"candidate": "safeconv_bnpt", "base": "safeconv_bnvendor", "reference": "cudnn"}
    b = ct.band({"safeconv_bnpt": good, "safeconv_bnvendor": vendor, "cudnn": cudnn}, 4.0,
                **roles)
    assert b["pass"] and b["roles"] == roles
    assert b["diff_means"]["cudnn"] == pytest.approx(0.005)
    assert b["band"][0] < 0.0 < 0.005 < b["band"][1]
    assert b["safeconv_bnpt_diff"] == pytest.approx(0.00125)
    assert b["diffs"]["safeconv_bnpt"] == pytest.approx([0.0, 0.01, -0.01, 0.005])
    shifted = [g + 0.1 for g in good]
    bad = ct.band({"safeconv_bnpt": shifted, "safeconv_bnvendor": vendor, "cudnn": cudnn}, 4.0,
                  **roles)
    assert not bad["pass"] and bad["safeconv_bnpt_diff"] > bad["band"][1]
    # the base is what is subtracted: the same numbers paired against cudnn give other d
    swapped = ct.band({"safeconv_bnpt": good, "safeconv_bnvendor": vendor, "cudnn": cudnn}, 4.0,
                      candidate="safeconv_bnpt", base="cudnn", reference="safeconv_bnvendor")
    assert swapped["diff_means"]["safeconv_bnvendor"] == pytest.approx(-0.005)


def _train_step():
    """bench/train_step.py, loaded as a module."""
    spec = importlib.util.spec_from_file_location(
        "safeconv_bench_train_step",
        os.path.join(HERE, os.pardir, os.pardir, "bench", "train_step.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_step_bench_arguments():
    """bench/train_step.py's command line (the GPU benchmark itself runs on the GPU machine):
    the batch-norm impls map to bypass_other_ops, unknown names are refused."""
    mod = _train_step()
    a = mod.parse_args(["--models", "resnet50", "--batch", "64", "--precisions",
                        "fp32,amp_bf16", "--impls", "safeconv_bnvendor,safeconv_bnpt,cudnn"])
    assert a.impls.split(",") == ["safeconv_bnvendor", "safeconv_bnpt", "cudnn"]
    assert mod.IMPLS["safeconv_bnpt"]["bypass_other_ops"] is True
    assert mod.IMPLS["safeconv_bnvendor"]["bypass_other_ops"] is False
    assert "bypass_other_ops" not in mod.IMPLS["safeconv"]
    for bad in (["--impls", "safeconv_bn"], ["--precisions", "fp64"]):
        with pytest.raises(SystemExit):
            mod.parse_args(bad)
    assert mod.parse_args(["--graph"]).graph and not mod.parse_args([]).graph
    # GradScaler's step reads a flag on the host: refused before any capture
    with pytest.raises(RuntimeError, match="amp_fp16"):
        mod.make_graph_step(None, None, None, None, "amp_fp16")
    assert mod.parse_args(["--paired", "3"]).paired == 3
    for bad in (["--paired", "-1"], ["--paired", "2", "--graph"], ["--steps", "0"],
                ["--host-time"],
                ["--warmup", "-1"],
                ["--paired", "2", "--impls", "safeconv_bnpt,cudnn"]):
        with pytest.raises(SystemExit):
            mod.parse_args(bad)


def test_train_step_paired_rounds_on_cpu():
    """--paired's timing loop on the CPU (the YOLO-style model, tiny): every impl gets one
    median per round and a finite loss, each impl its own model from the same weights (after
    the same 3 steps on the same batch, the losses agree to rounding)."""
    mod = _train_step()
    a = mod.parse_args(["--models", "yolo", "--batch", "2", "--size", "32", "--steps", "1",
                        "--warmup", "0", "--paired", "3", "--nchw"])
    res = mod.run_paired("yolo", "fp32", ["safeconv", "cudnn"], a, device="cpu")
    for impl in ("safeconv", "cudnn"):
        assert len(res[impl]["round_ms"]) == 3 and res[impl]["ms"] > 0
        assert math.isfinite(res[impl]["loss"])
    assert res["safeconv"]["loss"] == pytest.approx(res["cudnn"]["loss"], rel=1e-3)


def test_train_step_round_ratios_are_paired():
    """--paired's rounds' median: each round's ratio is cuDNN's round time over safeconv's (the
    throughput ratio), and the figure is their upper median. The round times are an AMP fp16
    run's (H100, bench/NOTES.md): both sides jumped between about 23 and 29.5 ms together, and
    that run's pooled ratio (medians over all steps) was 0.933x while every round was within
    1.3% of even."""
    mod = _train_step()
    res = {"safeconv": {"round_ms": [22.88, 23.03, 29.40, 25.59, 29.39]},
           "cudnn": {"round_ms": [22.59, 23.17, 29.67, 25.84, 29.49]}}
    ratios, med = mod.round_ratios(res)
    assert ratios == pytest.approx([22.59 / 22.88, 23.17 / 23.03, 29.67 / 29.40, 25.84 / 25.59,
                                    29.49 / 29.39])
    assert med == pytest.approx(23.17 / 23.03)  # the upper median of the five
    assert mod.round_ratios({"safeconv": {"round_ms": [1.0]}, "cudnn": {"error": "x"}}) is None


def test_train_step_result_line():
    """The report's line (main() prints it on the GPU machine only, so it is checked here on
    made-up results): throughputs, ratios to each reference present, the rounds and their
    median with --paired, host times with --host-time ("-" for none), and an impl's error
    instead of its throughput."""
    mod = _train_step()
    a = mod.parse_args(["--paired", "2", "--host-time", "--determ"])
    res = {"safeconv": {"images_per_s": 120.0, "round_ms": [10.0, 12.0], "host_ms": 5.25},
           "cudnn": {"images_per_s": 100.0, "round_ms": [12.0, 12.0], "host_ms": None},
           "cudnn_determ": {"images_per_s": 80.0, "round_ms": [15.0, 15.0], "host_ms": 6.0}}
    line, rr = mod.result_line("resnet50", "fp32", ["safeconv", "cudnn", "cudnn_determ"], res, a)
    assert line.startswith("resnet50             fp32     ")
    for part in ("safeconv 120.0 img/s", "cudnn 100.0 img/s", "safeconv/cudnn 1.200x",
                 "safeconv/cudnn_determ 1.500x", "rounds safeconv/cudnn 1.200 1.000 (median 1.200)",
                 "host ms a step safeconv 5.25 cudnn - cudnn_determ 6.00"):
        assert part in line, (part, line)
    assert rr[1] == pytest.approx(1.2)
    a = mod.parse_args([])
    line, rr = mod.result_line("yolo", "tf32", ["safeconv", "cudnn"],
                               {"safeconv": {"error": "boom"}, "cudnn": {"images_per_s": 9.0}}, a)
    assert "safeconv ERROR boom" in line and "cudnn 9.0 img/s" in line and rr is None
    assert "/cudnn" not in line and "rounds" not in line and "host ms" not in line


def test_train_step_names_its_host_and_the_layer():
    """bench/train_step.py's report names the CPU and whether the C++ layer serves safeconv's
    calls (an eager run without it is slower and must say so), and the line says OFF with the
    reason when it does not."""
    mod = _train_step()
    info = mod.host_info()
    assert info["cpu"] and isinstance(info["cpus"], int) and info["cpus"] >= 1
    on, why = mod.safeconv.functional.cpp_layer_status()
    assert info["cpp_layer"] is bool(on)
    line = mod.host_line(info)
    assert line.startswith("host: " + info["cpu"]) and (" x %d " % info["cpus"]) in line
    off = dict(info, cpp_layer=False, cpp_layer_off_why="SAFECONV_CPP_LAYER=0")
    assert mod.host_line(off).endswith("C++ layer OFF (SAFECONV_CPP_LAYER=0)")
    assert mod.host_line(dict(info, cpp_layer=True)).endswith("C++ layer on")


def test_train_step_host_info_in_a_fresh_process():
    """host_info() in a process that has imported nothing of safeconv but the package, as
    train_step.py's main() runs it: `import safeconv` loads its submodules lazily, so reading
    safeconv.functional as an attribute failed there (AttributeError) while the in-process
    test above passed, the suite having imported the submodule already."""
    import json
    import subprocess
    import sys
    script = os.path.join(HERE, os.pardir, os.pardir, "bench", "train_step.py")
    code = ("import importlib.util, json, sys\n"
            "spec = importlib.util.spec_from_file_location('ts', sys.argv[1])\n"
            "mod = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(mod)\n"
            "assert 'safeconv.functional' not in sys.modules\n"
            "print(json.dumps(mod.host_info()))\n")
    out = subprocess.run([sys.executable, "-c", code, script], check=True, capture_output=True,
                         text=True).stdout
    info = json.loads(out)
    assert info["cpus"] >= 1 and isinstance(info["cpp_layer"], bool)


def test_model_suite_lists_every_conv_once_with_counts():
    """bench/model_suite.py on the YOLO-style model (no torchvision needed): a header, then each
    distinct shape once in the suite format, its _xN counts adding up to the layers the header
    states, and every row a valid convolution whose input has the channels its groups need."""
    import subprocess
    import sys
    script = os.path.join(HERE, os.pardir, os.pardir, "bench", "model_suite.py")
    out = subprocess.run([sys.executable, script, "--model", "yolo", "--batch", "2", "--size",
                          "96", "--prefix", "y"], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    assert out[0] == "# name,n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups"
    layers = int(out[1].split(";")[-1].split()[0])
    rows = [line.split(",") for line in out[2:]]
    assert rows and len({tuple(r[1:]) for r in rows}) == len(rows)  # each shape once
    total = 0
    for r in rows:
        name, v = r[0], [int(x) for x in r[1:]]
        assert len(v) == 14 and name.startswith("y_")
        total += int(name.rsplit("_x", 1)[1]) if "_x" in name else 1
        n, c, h, w, k, kr, ks, sh, sw, ph, pw, dh, dw, g = v
        assert n == 2 and c % g == 0 and k % g == 0 and min(h, w, kr, ks, sh, sw) >= 1
    assert total == layers


def _host_layer():
    """bench/host_layer.py, loaded as a module."""
    spec = importlib.util.spec_from_file_location(
        "safeconv_bench_host_layer",
        os.path.join(HERE, os.pardir, os.pardir, "bench", "host_layer.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_host_layer_bench_runs_and_reports(capsys):
    """bench/host_layer.py on the CPU (no GPU here: safeconv's CPU backend), a tiny chain in
    fp32 and under CPU autocast (NCHW), with its cProfile table, and with --cpp-layer where the
    C++ layer is built: one report line each, every time positive, and the profile's table
    printed."""
    mod = _host_layer()
    from safeconv import functional as SF
    runs = [[], ["--dtype", "bf16", "--nchw", "--profile", "5"]]
    if os.path.isfile(SF.cpp_layer_path()):  # run_python_tests.sh builds it
        runs.append(["--cpp-layer", "--dtype", "bf16"])
    for extra in runs:
        mod.main(["--layers", "2", "--channels", "4", "--size", "4", "--steps", "3",
                  "--blocks", "1"] + extra)
        out = capsys.readouterr().out
        line = [l for l in out.splitlines() if l.startswith("host_layer:")]
        assert len(line) == 1, line
        us = [float(v) for v in re.findall(r"([0-9.]+) us", line[0])]
        assert len(us) == (3 if "--cpp-layer" in extra else 2) and min(us) > 0
        assert ("function calls" in out) == ("--profile" in extra)


def test_host_layer_breakdown_stubs_every_library_call(monkeypatch):
    """bench/host_layer.py --breakdown's two stubbed phases reach no convolution entry point of
    the library (the one-call backward included: a layer's backward is one sc_conv2d_backward),
    and afterwards the entry points are the ones it found."""
    mod = _host_layer()
    from safeconv import _lib as L
    from safeconv import functional as F
    lib = L.load_library()
    names = list(F._FN_NAMES.values()) + ["sc_conv2d_backward"]
    calls = []
    for n in names:
        def counting(*args, _real=getattr(lib, n), _n=n):
            calls.append(_n)
            return _real(*args)
        monkeypatch.setattr(lib, n, counting)
    found = {n: getattr(lib, n) for n in names}
    step = mod.make_step(mod.make_chain(2, 4), torch.randn(1, 4, 4, 4), None)
    with safeconv.enable(strategy="cpu"):
        step()
    assert "sc_conv2d_forward" in calls and "sc_conv2d_backward" in calls
    calls.clear()
    mod.breakdown(step, torch.device("cpu"), argparse.Namespace(steps=2, blocks=1))
    assert calls == []
    assert all(getattr(lib, n) is found[n] for n in names)


def test_profile_step_cpu_ops_rows_per_step(capsys):
    """profile_step.py --cpu-ops: the rows with the most self CPU time, largest first, each
    per step (totals divided by the profiled steps), calls a step and time a call; rows
    without self time are left out."""
    spec = importlib.util.spec_from_file_location(
        "safeconv_bench_profile_step",
        os.path.join(HERE, os.pardir, os.pardir, "bench", "profile_step.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    class Row:
        def __init__(self, key, us, count):
            self.key, self.self_cpu_time_total, self.count = key, us, count

    class Prof:
        def key_averages(self):
            return [Row("aten::empty", 600.0, 30), Row("safeconv_layer::conv2d", 4000.0, 6),
                    Row("idle", 0.0, 9), Row("cudaLaunchKernel", 1500.0, 12)]

    mod.print_cpu_ops(Prof(), types.SimpleNamespace(steps=3, cpu_ops=2))
    out = capsys.readouterr().out.splitlines()
    assert "2.03 ms/step" in out[0]  # (4000 + 600 + 1500) us / 3 steps
    assert len(out) == 3
    assert "safeconv_layer::conv2d" in out[1] and "1.333 ms" in out[1] and "x2 " in out[1]
    assert "666.7 us/call" in out[1]
    assert "cudaLaunchKernel" in out[2] and "0.500 ms" in out[2]
