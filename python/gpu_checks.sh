#!/usr/bin/env bash
# python/gpu_checks.sh - the PyTorch layer's checks on the GPU machine, in stages (logs and JSON
# under $OUT). Run from the repository root after the library is built there, e.g. by
# `tests/gpu/run_device.sh build` (which makes build-gpu with GPU=cuda NVCC_ARCHS=sm_90).
#
#   tests    tests/run_python_tests.sh BUILD with python3 (PyTorch 2.11): the CPU tests plus the
#            same cases on CUDA tensors and python/tests/test_cuda.py
#   compare  examples/train.py --compare: ResNet-18 and a YOLO-style backbone, 200 steps each,
#            safeconv.enable(strategy="gpu") vs cuDNN; final-loss difference (target <= 2%)
#   bench    examples/train.py --benchmark: ResNet-18 train step, batch 64, 224x224, fp32;
#            safeconv vs cuDNN (target >= 0.8x) and vs cuDNN off (target >= 1.5x)
#
# usage: python/gpu_checks.sh "tests compare bench" [BUILD]      (BUILD default build-gpu)
set -u
STAGES=${1:-"tests compare bench"}
BUILD=${2:-build-gpu}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if [ -d .devdeps ]; then  # sqlite carried for the guard's cache (see tests/gpu/run_device.sh)
    export LD_LIBRARY_PATH="$PWD/.devdeps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PYTHONUNBUFFERED=1 SAFECONV_LIBRARY=$PWD/$BUILD/libsafeconv.so
PY=${PYTHON:-python3}
if [ ! -e "$SAFECONV_LIBRARY" ]; then
    echo "gpu_checks.sh: $SAFECONV_LIBRARY missing: build first (tests/gpu/run_device.sh build)" >&2
    exit 2
fi
"$PY" -c "import torch, sys; sys.path.insert(0, 'python'); import safeconv; \
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.device_count(), \
'| libsafeconv', safeconv.library_version(), safeconv.backends_compiled(), \
'devices', safeconv.device_count())"
rc=0
for st in $STAGES; do
case $st in
tests)
    # the fault-injection vendor plugin lets the guard's end-to-end test run too
    make BUILD="$BUILD" GPU=cuda NVCC_ARCHS=sm_90 fault-vendor >"$OUT/fault_vendor_build.log" 2>&1
    t0=$(date +%s)
    PYTHON=$PY timeout 420 tests/run_python_tests.sh "$BUILD" -rs \
        --junitxml="$OUT/py_tests.xml" >"$OUT/py_tests.log" 2>&1 || rc=1
    echo "tests: $(( $(date +%s) - t0 )) s: $(grep -E "[0-9]+ (passed|failed|error)" "$OUT/py_tests.log" | tail -1)"
    grep -E "^(FAILED|ERROR)" "$OUT/py_tests.log" | head -30
    grep -E "^SKIPPED" "$OUT/py_tests.log" | head -5 ;;
compare)
    t0=$(date +%s)
    timeout 400 "$PY" examples/train.py --compare --json "$OUT/train_compare.json" \
        >"$OUT/train_compare.log" 2>&1 || rc=1
    echo "compare: $(( $(date +%s) - t0 )) s"
    grep -E "final loss|difference|Error|error" "$OUT/train_compare.log" ;;
bench)
    t0=$(date +%s)
    timeout 300 "$PY" examples/train.py --benchmark --json "$OUT/train_bench.json" \
        >"$OUT/train_bench.log" 2>&1 || rc=1
    echo "bench: $(( $(date +%s) - t0 )) s"
    grep -E "images/s|target|Error|error" "$OUT/train_bench.log" ;;
*) echo "gpu_checks.sh: unknown stage $st" >&2; rc=2 ;;
esac
done
exit $rc
