#!/usr/bin/env bash
# perf_ab.sh - A/B performance run on the GPU machine, both variants in one session:
#   a = this tree (build-gpu);  b = the tree in B_DIR (default .ref: make one with
#   `git archive REV | tar -x -C .ref`, carried to the device machine) or, without B_DIR,
#   this tree built with NVCC_EXTRA_B (e.g. -DSC_GEMM_BIG_MINB=1), or with ENV_B set, this
#   tree's own build run with that environment (e.g. ENV_B=SAFECONV_GPU_GEMM_CC=0).
# Then: a quick correctness check of a (safeconv verify, forced GEMM), the layer suite for a
# and b against cuDNN (bench/compare.py), and the ResNet-18 training-step benchmark for each.
#   env: SUITE (bench/suites/resnet18_b64.csv), REPEAT, VERIFY (count, 0 = skip), SEED,
#        VERIFY_ARGS (more `safeconv verify` options, e.g. "--layout nchw --channel-multiple 8"),
#        TRAIN=0|1, MODES (train.py --bench-modes for a; b runs safeconv only), OUT
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
SUITE=${SUITE:-bench/suites/resnet18_b64.csv}
REPEAT=${REPEAT:-10}
B_DIR=${B_DIR:-.ref}
NVCC_EXTRA_B=${NVCC_EXTRA_B:-}
ENV_B=${ENV_B:-}
if [ -d .devdeps ]; then
    export CPPFLAGS="-I$PWD/.devdeps/include" LDFLAGS="-L$PWD/.devdeps/lib"
    export LD_LIBRARY_PATH="$PWD/.devdeps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
t0=$(date +%s)
make BUILD=build-gpu GPU=cuda NVCC_ARCHS=sm_90 -j8 >"$OUT/build_a.log" 2>&1 &
if [ -n "$ENV_B" ]; then
    LIB_B=$PWD/build-gpu/libsafeconv.so
elif [ -n "$NVCC_EXTRA_B" ] || [ ! -d "$B_DIR" ]; then
    LIB_B=$PWD/build-gpu-b/libsafeconv.so
    make BUILD=build-gpu-b GPU=cuda NVCC_ARCHS=sm_90 NVCC_EXTRA="$NVCC_EXTRA_B" -j8 lib >"$OUT/build_b.log" 2>&1 &
else
    LIB_B=$PWD/$B_DIR/build-gpu/libsafeconv.so
    ( cd "$B_DIR" && make BUILD=build-gpu GPU=cuda NVCC_ARCHS=sm_90 -j8 lib ) >"$OUT/build_b.log" 2>&1 &
fi
wait
echo "builds: $(( $(date +%s) - t0 )) s; b = $LIB_B ${NVCC_EXTRA_B} ${ENV_B:+with $ENV_B}"
for f in build-gpu/libsafeconv.so "$LIB_B"; do [ -f "$f" ] || { echo "build failed: $f"; tail -20 "$OUT"/build_*.log; exit 1; }; done
if [ "${VERIFY:-300}" != 0 ]; then
    for d in forward backward_data backward_weight; do
        timeout 200 build-gpu/safeconv verify --device 0 --count "${VERIFY:-300}" --seed "${SEED:-9001}" \
            --direction $d --algo gpu_implicit_gemm ${VERIFY_ARGS:-} >"$OUT/v_$d.log" 2>&1 &
    done
    wait
    for d in forward backward_data backward_weight; do
        echo "verify gemm $d (seed ${SEED:-9001}): $(grep -E 'passed, .* failed' "$OUT/v_$d.log" | tail -1)"
        grep -m3 '^FAIL' "$OUT/v_$d.log"
    done
fi
for v in a b; do
    lib=$PWD/build-gpu/libsafeconv.so; envb=; [ $v = b ] && lib=$LIB_B envb=$ENV_B
    env $envb python3 bench/compare.py --lib "$lib" --suite "$SUITE" --methods safeconv,cudnn_fp32 \
        --repeat "$REPEAT" --csv "$OUT/ab_$v.csv" >"$OUT/ab_$v.txt" 2>&1
    echo "== variant $v ($lib)"
    grep -E "^\S|\[" "$OUT/ab_$v.txt" | grep -vE "^(device|ratio|method|safeconv|cudnn|weighted)" | sed 's/  *\[/ [/'
    sed -n '/^weighted total/,$p' "$OUT/ab_$v.txt"
done
if [ "${TRAIN:-1}" = 1 ]; then
    echo "== training step, a"
    SAFECONV_LIBRARY=$PWD/build-gpu/libsafeconv.so python3 examples/train.py --benchmark \
        --bench-modes "${MODES:-safeconv,cudnn}" 2>&1 | grep -E "images/s|safeconv /"
    echo "== training step, b"
    env $ENV_B SAFECONV_LIBRARY=$LIB_B python3 examples/train.py --benchmark --bench-modes safeconv 2>&1 | grep -E "images/s"
fi
