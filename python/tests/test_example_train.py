"""examples/train.py on the CPU, tiny sizes: the training loop, the loss comparison and the
throughput benchmark run end to end and write their JSON (the GPU numbers come from the GPU
machine; here only that the script works and reports what it claims)."""
import importlib.util
import json
import math
import os

import pytest

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


def test_compare_bn_runs_and_is_exact_on_the_cpu(train_mod, tmp_path):
    """--compare-bn (issue 19): both runs train; on the CPU batch norm is PyTorch's kernel
    whichever way bypass_other_ops points, so the two runs must agree to the bit."""
    out = tmp_path / "bn.json"
    rc = train_mod.main(["--device", "cpu", "--compare-bn", "--model", "yolo", "--data",
                         "synthetic", "--dataset", "32", "--steps", "2", "--batch", "4",
                         "--size", "32", "--log-every", "0", "--json", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())["runs"][0]
    assert r["pass"] and r["noise_floor_pct"] is None
    assert r["safeconv_bnpt"]["losses"] == r["safeconv_bnvendor"]["losses"]
    assert r["loss_diff_pct"] == 0.0


def test_train_step_bench_arguments():
    """bench/train_step.py's command line (the GPU benchmark itself runs on the GPU machine):
    the batch-norm impls map to bypass_other_ops, unknown names are refused."""
    spec = importlib.util.spec_from_file_location(
        "safeconv_bench_train_step",
        os.path.join(HERE, os.pardir, os.pardir, "bench", "train_step.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    a = mod.parse_args(["--models", "resnet50", "--batch", "64", "--precisions",
                        "fp32,amp_bf16", "--impls", "safeconv_bnvendor,safeconv_bnpt,cudnn"])
    assert a.impls.split(",") == ["safeconv_bnvendor", "safeconv_bnpt", "cudnn"]
    assert mod.IMPLS["safeconv_bnpt"]["bypass_other_ops"] is True
    assert mod.IMPLS["safeconv_bnvendor"]["bypass_other_ops"] is False
    assert "bypass_other_ops" not in mod.IMPLS["safeconv"]
    for bad in (["--impls", "safeconv_bn"], ["--precisions", "fp64"]):
        with pytest.raises(SystemExit):
            mod.parse_args(bad)
