#!/usr/bin/env bash
# python/gpu_checks.sh - the PyTorch layer's checks on the GPU machine, in stages (logs and JSON
# under $OUT). Run from the repository root after the library is built there, e.g. by
# `tests/gpu/run_device.sh build` (which makes build-gpu with GPU=cuda NVCC_ARCHS=sm_90).
#
#   tests    tests/run_python_tests.sh BUILD with python3 (PyTorch 2.11): the CPU tests plus the
#            same cases on CUDA tensors, python/tests/test_cuda.py (AMP with GradScaler, TF32)
#            and test_cuda_graphs.py; all but test_compile.py
#   compile  python/tests/test_compile.py: opcheck, no graph break, compiled vs eager (its own
#            stage: Inductor's first compilations take minutes)
#   ddp      examples/ddp_train.py under torchrun, 2 processes: nccl on 2 GPUs (gloo on CUDA
#            tensors with one GPU); final loss vs one process, no grad-stride warning
#   compare  examples/train.py --compare: ResNet-18 and a YOLO-style backbone, safeconv
#            (strategy "gpu") vs cuDNN and PyTorch with cuDNN off: early agreement (each
#            convolution of step 1, the first 3 steps) and statistical agreement (5 seeds x 200
#            steps); exact fp32, then AMP bf16. Passes when both verdicts are PASS
#   wrong    the same checks on the test-only wrong variant (safeconv's weight gradients
#            scaled): 1.01 must fail the early check in fp32 and bf16 (the statistical check
#            cannot see a 1% gradient error: docs/pytorch.md); 0 (convolutions that never
#            learn) must fail both checks, in fp32 and bf16. Passes when every one of them says
#            FAIL
#   bench    examples/train.py --benchmark: ResNet-18 train step, batch 64, 224x224, fp32;
#            safeconv vs cuDNN (target >= 0.8x) and vs cuDNN off (target >= 1.5x)
#   bn       issue 19, batch norm on PyTorch's kernels (bypass_other_ops=True) vs cuDNN's, both
#            with safeconv's convolutions: examples/train.py --compare-bn (ResNet-18 and YOLO,
#            --compare's statistical check, 5 seeds x 200 steps: bnpt paired per seed with
#            bnvendor, the band from cudnn; 30 runs), then bench/train_step.py ResNet-50
#            batch 64, fp32 and AMP bf16 throughput (not in the default stages)
#
# usage: python/gpu_checks.sh "tests compile ddp compare wrong bench" [BUILD] (default build-gpu)
set -u
STAGES=${1:-"tests compile ddp compare wrong bench"}
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
    PYTHON=$PY timeout 480 tests/run_python_tests.sh "$BUILD" -rs \
        --ignore=python/tests/test_compile.py \
        --junitxml="$OUT/py_tests.xml" >"$OUT/py_tests.log" 2>&1 || rc=1
    echo "tests: $(( $(date +%s) - t0 )) s: $(grep -E "[0-9]+ (passed|failed|error)" "$OUT/py_tests.log" | tail -1)"
    grep -E "^(FAILED|ERROR)" "$OUT/py_tests.log" | head -30
    grep -E "^SKIPPED" "$OUT/py_tests.log" | head -5 ;;
compile)
    t0=$(date +%s)
    PYTHONPATH=$PWD/python timeout 580 "$PY" -m pytest -q -rs -p no:cacheprovider \
        python/tests/test_compile.py >"$OUT/py_compile.log" 2>&1 || rc=1
    echo "compile: $(( $(date +%s) - t0 )) s: $(grep -E "[0-9]+ (passed|failed|error|skipped)" "$OUT/py_compile.log" | tail -1)"
    grep -E "^(FAILED|ERROR|SKIPPED)" "$OUT/py_compile.log" | head -20 ;;
ddp)
    t0=$(date +%s)
    ngpu=$("$PY" -c "import torch; print(torch.cuda.device_count())")
    backend=nccl
    [ "$ngpu" -ge 2 ] || backend=gloo
    timeout 300 "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 \
        examples/ddp_train.py --backend $backend --device cuda --channels-last-input \
        >"$OUT/ddp.log" 2>&1 || rc=1
    echo "ddp ($backend, $ngpu GPUs): $(( $(date +%s) - t0 )) s"
    grep -E "final loss|Grad strides|Error|error" "$OUT/ddp.log" ;;
compare)
    for amp in none bf16; do
        t0=$(date +%s)
        timeout 550 "$PY" examples/train.py --compare --amp $amp \
            --json "$OUT/train_compare_$amp.json" >"$OUT/train_compare_$amp.log" 2>&1 || rc=1
        echo "compare (amp $amp): $(( $(date +%s) - t0 )) s"
        grep -E "layers of step|step [0-9]:|agreement|seeds:|verdict|Error|error" \
            "$OUT/train_compare_$amp.log"
    done ;;
wrong)
    # TEST ONLY switch: each of these runs must end in "verdict: FAIL" (exit status 1)
    for run in "1.01 none early" "1.01 bf16 early" "0 none early,stat" "0 bf16 early,stat"; do
        set -- $run
        t0=$(date +%s)
        log="$OUT/train_wrong_$1_$2_${3%%,*}.log"
        timeout 550 "$PY" examples/train.py --compare --test-wrong-dw-scale "$1" --amp "$2" \
            --checks "$3" >"$log" 2>&1
        st=$?
        [ $st -eq 1 ] || { rc=1; echo "wrong variant $run: exit status $st, not 1 (FAIL)"; }
        echo "wrong variant (scale $1, amp $2, checks $3): $(( $(date +%s) - t0 )) s, exit $st"
        grep -E "layers of step|step 1:|agreement|seeds:|verdict|Error|error" "$log"
    done ;;
bench)
    t0=$(date +%s)
    timeout 300 "$PY" examples/train.py --benchmark --json "$OUT/train_bench.json" \
        >"$OUT/train_bench.log" 2>&1 || rc=1
    echo "bench: $(( $(date +%s) - t0 )) s"
    grep -E "images/s|target|Error|error" "$OUT/train_bench.log" ;;
bn)
    t0=$(date +%s)
    timeout 400 "$PY" examples/train.py --compare-bn --json "$OUT/train_compare_bn.json" \
        >"$OUT/train_compare_bn.log" 2>&1 || rc=1
    echo "bn compare: $(( $(date +%s) - t0 )) s"
    grep -E "agreement|seeds:|verdict|Error|error" "$OUT/train_compare_bn.log"
    t0=$(date +%s)
    timeout 400 "$PY" bench/train_step.py --models resnet50 --batch 64 \
        --precisions fp32,amp_bf16 --impls safeconv_bnvendor,safeconv_bnpt,cudnn \
        --json "$OUT/train_step_bn.json" >"$OUT/train_step_bn.log" 2>&1 || rc=1
    echo "bn train_step: $(( $(date +%s) - t0 )) s"
    grep -E "img/s|Error|error" "$OUT/train_step_bn.log" ;;
*) echo "gpu_checks.sh: unknown stage $st" >&2; rc=2 ;;
esac
done
exit $rc
