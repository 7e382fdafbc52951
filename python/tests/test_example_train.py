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
