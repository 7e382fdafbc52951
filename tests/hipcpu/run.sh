#!/usr/bin/env bash
# run.sh - the HIP build's source run on the CPU (`make test-hip-cpu`; CI, through test.sh).
# Builds the library and the safeconv command with src/gpu compiled the way GPU=hip compiles
# it, but against HIP-CPU (AMD's header-only HIP runtime that runs kernels on CPU threads)
# through tests/hipcpu/hipcc-cpu, then runs `safeconv verify --device 0` on that CPU "device":
#
#   stream order   HIP-CPU runs one stream's work in order (stream_order.cu; what the rest needs)
#   default        the default selection, every direction
#   cfg 0..8       each GEMM tile configuration forced (SAFECONV_GPU_GEMM_CFG), each seen run
#   cfg 9          the 32x144 tile forced on backward-weight (its one direction), 40 plans seen
#   f16, bf16      16-bit tensors: the default selection, and the GEMM forced
#   naive          --algo gpu_naive
#   winograd       --algo gpu_winograd on its shapes (--shape-class 3x3s1), every direction; and
#                  backward-weight asked for 5 reduction slices (SAFECONV_GPU_WINOGRAD_SPLITS=5;
#                  fewer where the tiles run out): at least 40 plans with 2-5; and its narrow
#                  tile (SAFECONV_GPU_WINOGRAD_BW_TILE=1, 32 x 32 channels a block) in 5 slices;
#                  and its F(3x3,4x4) tile (SAFECONV_GPU_WINOGRAD_BW_TILE=3) in 5 slices; and
#                  forward and backward-data on dilated shapes (--shape-class 3x3d: phases)
#   bias slices    the bias gradient (backward-bias, backward-weight's dbias) in 7 row slices
#                  (SAFECONV_GPU_BIAS_SLICES=7): at least 40 such plans each
#   depthwise slices  the NHWC depthwise backward-weight (--shape-class dw) in 5 row slices
#                  (SAFECONV_GPU_DW_SLICES=5; fewer where the rows run out): at least 40 plans
#                  with 2-5; and in bf16 with the default slices
#   depthwise NCHW slices  the NCHW depthwise backward-weight of rows of 3, 5 or 7 taps
#                  (--shape-class dw --layout nchw) in 5 row slices: at least 40 plans with 2-5
#   depthwise long rows  the depthwise backward-data of rows of 8-80 taps (--shape-class dwlong),
#                  both layouts, then NHWC alone (its kernel of 4 or 8 outputs a channel)
#   depthwise stride 2  the depthwise backward-data of column stride 2 without dilation
#                  (--shape-class dws2), both layouts, fp32 and bf16; and the NHWC
#                  backward-weight's register window at that stride, in 5 row slices
#   depthwise long-row bw  the depthwise backward-weight of rows of 8-80 taps in 5 row slices
#   small-C phases the small-C backward-data in stride phases, forced on --shape-class stem
#   small-C phases NHWC  the same in NHWC
#   small-C bw     the small-C 3x3 backward-weight (--shape-class fewc) in 5 row slices (fewer
#                  where the rows run out): at least 40 plans with 2-5; and in bf16
#   small-C 1x1 bw the small-C 1x1 backward-weight (--shape-class pw) in 5 row slices: every
#                  configuration planned on it, at least 40 with 2-5 slices; and in f16
#   cc             channel-chunked plans (SAFECONV_GPU_GEMM_CC=1, --channel-multiple 8), seen run
#   serial         backward-weight with serial splits (SAFECONV_GPU_GEMM_SPLITS=2,3,4,6, the
#                  serial default, a workspace limit that leaves no room for slices): batches of
#                  40 until at least 100 cases ran serial plans (counted from SAFECONV_GPU_DEBUG)
#   MIOpen adapter the MIOpen adapter (src/vendorlib/miopen.c) against a stand-in libMIOpen
#                  (tests/fake_miopen/fake_miopen.c: MIOpen's documented calls computed on the
#                  host "device" memory, checking what MIOpen documents): fp32 and fp16 forced
#                  (--strategy vendor), every convolution on vendor_miopen; bf16 chosen, not
#                  forced (--strategy selective): MIOpen has no bf16 bias, so each forward's
#                  first run fails there and safeconv computes it (docs/guard.md), the
#                  backward directions on vendor_miopen
#
#   tests/hipcpu/run.sh [BUILD]            (default build-hipcpu)
#   HIPCPU_DIR=<HIP-CPU checkout>           (include/, src/include/, external/; the default is
#                                            mk/hipcpu.mk's, where CI provides it)
#   HIPCPU_EXTRA=<flags>                    (added to every src/gpu compile, e.g. -D...)
# Skips (exit 0, with a message) where HIP-CPU, TBB or g++ is missing; exit 1 on any failure.
# What this catches and what it cannot: docs/gpu.md, "The HIP source on the CPU".
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-hipcpu}
HIPCPU_DIR=${HIPCPU_DIR:-third_party/hip-cpu}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
skip() {
    echo "test-hip-cpu: SKIPPED: $*"
    exit 0
}
[ -f "$HIPCPU_DIR/include/hip/hip_runtime.h" ] ||
    skip "no HIP-CPU at HIPCPU_DIR=$HIPCPU_DIR (a checkout of github.com/ROCm/HIP-CPU; see docs/gpu.md)"
[ -f "$HIPCPU_DIR/src/include/hip/detail/api.hpp" ] && [ -d "$HIPCPU_DIR/external" ] ||
    skip "HIP-CPU at $HIPCPU_DIR is incomplete: its include/ needs src/include/ and external/ beside it"
command -v g++ >/dev/null || skip "no g++"
echo '#include <tbb/tbb.h>' | g++ -x c++ -E - >/dev/null 2>&1 ||
    skip "no TBB headers (Debian: libtbb-dev), which HIP-CPU's parallel algorithms need"
HIPCPU_DIR=$(cd "$HIPCPU_DIR" && pwd)
export HIPCPU_DIR

t_all=$SECONDS
# ---- build --------------------------------------------------------------------------------------
# make does not know the objects depend on the adapter: a changed adapter or HIP-CPU rebuilds them.
stamp="$B/hipcpu.stamp"
want=$(cat tests/hipcpu/hipcc-cpu tests/hipcpu/shim.h <(echo "$HIPCPU_DIR ${HIPCPU_EXTRA:-}") | cksum)
if [ -d "$B" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    find "$B/src/gpu" -name '*.o' -delete 2>/dev/null
fi
mkdir -p "$B"
echo "== HIP-CPU build ($B, HIPCPU_DIR=$HIPCPU_DIR)"
t=$SECONDS
make -s --no-print-directory -j"$JOBS" BUILD="$B" GPU=hip HIPCC="$PWD/tests/hipcpu/hipcc-cpu" \
    HIP_ARCHS= GPU_OPT=-O1 HIP_EXTRA="${HIPCPU_EXTRA:-}" GPU_LDLIBS="-ltbb -lstdc++ -lpthread" "$B/safeconv" || {
    echo "test-hip-cpu: FAILED: the HIP-CPU build"
    exit 1
}
echo "$want" >"$stamp"
tests/hipcpu/hipcc-cpu -O1 -Iinclude -Isrc -c tests/hipcpu/stream_order.cu -o "$B/stream_order.o" &&
    g++ -o "$B/stream_order" "$B/stream_order.o" -ltbb -lpthread || {
    echo "test-hip-cpu: FAILED: building tests/hipcpu/stream_order.cu"
    exit 1
}
echo "   built in $((SECONDS - t)) s"

# ---- checks ------------------------------------------------------------------------------------
fail=0
log="$B/hipcpu-verify.log"
: >"$log"
# step NAME CMD...: run one check; its output goes to the log, its last line to the screen.
# stderr (SAFECONV_GPU_DEBUG's plans) to $B/plans.txt, which the callers count.
step() {
    local name=$1 t=$SECONDS rc
    shift
    echo "== $name: $*" >>"$log"
    "$@" >"$B/out.txt" 2>"$B/plans.txt"
    rc=$?
    cat "$B/out.txt" >>"$log"
    printf '   %-16s %-44s %3d s\n' "$name" "$(tail -n 1 "$B/out.txt")" $((SECONDS - t))
    if [ $rc != 0 ]; then
        grep -E '^FAIL|^replay' "$B/out.txt" | head -20 | sed 's/^/      /'
        fail=1
    fi
    return $rc
}
# plans KEY VALUE: how many printed plans have KEY VALUE (the debug line's "key value" pairs).
plans() {
    awk -v k="$1" -v v="$2" '/^safeconv gpu:/ {
        for (i = 1; i < NF; i++) if ($i == k && $(i + 1) == v) { n++; break } }
        END { print n + 0 }' "$B/plans.txt"
}
need() { # need WHAT COUNT MIN
    if [ "$2" -lt "$3" ]; then
        echo "      FAIL: $1: $2 plans, expected at least $3"
        fail=1
    fi
}
vv() { # vv ENV... -- VERIFY-ARGS...
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env SAFECONV_GPU_DEBUG=1 "${envs[@]}" "$B/safeconv" verify --device 0 "$@"
}

echo "== HIP-CPU verify (safeconv verify --device 0 against the CPU reference; log: $log)"
step "stream order" "$B/stream_order"
step default vv -- --count 150 --seed 4001
for c in 0 1 2 3 4 5 6 7 8; do
    step "cfg $c" vv SAFECONV_GPU_GEMM_CFG=$c -- --count 8 --seed 41$c --large 50 \
        --algo gpu_implicit_gemm
    need "cfg $c" "$(plans cfg $c)" 1
done
# 32x144 (cfg 9) is built for fp32 backward-weight only; both layouts, ragged loaders
step "cfg 9" vv SAFECONV_GPU_GEMM_CFG=9 -- --count 40 --seed 4109 --large 50 \
    --direction backward_weight --algo gpu_implicit_gemm
need "cfg 9" "$(plans cfg 9)" 40
for dt in f16 bf16; do # 16-bit tensors: the default selection, then the GEMM forced
    step "$dt" vv -- --count 30 --seed 4005 --dtype $dt
    step "$dt gemm" vv -- --count 20 --seed 4006 --dtype $dt --large 50 --algo gpu_implicit_gemm
    need "$dt gemm" "$(grep -c ' gpu_implicit_gemm ' "$B/plans.txt")" 1
done
step naive vv -- --count 40 --seed 4004 --algo gpu_naive
need naive "$(grep -c ' gpu_naive ' "$B/plans.txt")" 1
for d in forward backward_data backward_weight; do # Winograd forced on its shapes (3x3 s1, fp32)
    step "winograd $d" vv -- --count 150 --seed 4007 --large 50 --shape-class 3x3s1 --direction $d \
        --algo gpu_winograd
    need "winograd $d" "$(grep -c ' gpu_winograd ' "$B/plans.txt")" 150
done
step "winograd slices" vv SAFECONV_GPU_WINOGRAD_SPLITS=5 -- --count 100 --seed 4008 --large 100 \
    --shape-class 3x3s1 --direction backward_weight --algo gpu_winograd
need "winograd slices" $(($(plans splits 2) + $(plans splits 3) + $(plans splits 4) + $(plans splits 5))) 40
step "winograd narrow" vv SAFECONV_GPU_WINOGRAD_BW_TILE=1 SAFECONV_GPU_WINOGRAD_SPLITS=5 -- --count 100 \
    --seed 4010 --large 100 --shape-class 3x3s1 --direction backward_weight --algo gpu_winograd
need "winograd narrow" "$(plans cfg 1)" 100
step "winograd F(3,4)" vv SAFECONV_GPU_WINOGRAD_BW_TILE=3 SAFECONV_GPU_WINOGRAD_SPLITS=5 -- --count 100 \
    --seed 4011 --large 100 --shape-class 3x3s1 --direction backward_weight --algo gpu_winograd
need "winograd F(3,4)" "$(plans cfg 3)" 100
for d in forward backward_data; do # dilated, in phases (winograd.cuh, wino_args)
    step "winograd dilated $d" vv -- --count 80 --seed 4012 --large 30 --shape-class 3x3d \
        --direction $d --algo gpu_winograd
    need "winograd dilated $d" "$(grep -c ' gpu_winograd ' "$B/plans.txt")" 80
done
for d in backward_bias backward_weight; do # the bias gradient in 7 row slices (bias.h)
    step "bias slices $d" vv SAFECONV_GPU_BIAS_SLICES=7 -- --count 60 --seed 4009 --direction $d
    need "bias slices $d" "$(plans slices 7)" 40
done
# the NHWC depthwise backward-weight in row slices (depthwise.h): 5 asked for (fewer where the
# rows run out), then bf16 with the default slices
step "depthwise slices" vv SAFECONV_GPU_DW_SLICES=5 -- --count 60 --seed 4011 --large 50 \
    --shape-class dw --layout nhwc --direction backward_weight --algo gpu_direct_depthwise
need "depthwise slices" $(($(plans splits 2) + $(plans splits 3) + $(plans splits 4) + $(plans splits 5))) 40
step "depthwise bf16" vv -- --count 30 --seed 4012 --large 50 --shape-class dw --layout nhwc \
    --dtype bf16 --direction backward_weight --algo gpu_direct_depthwise
# the NCHW depthwise backward-weight of rows of 3, 5 or 7 taps (dwb_plane: strides and row
# dilation 1-2, column dilation 1; about 4 in 10 of the class's NCHW layers), 5 row slices asked
step "depthwise NCHW slices" vv SAFECONV_GPU_DW_SLICES=5 -- --count 200 --seed 4018 --large 50 \
    --shape-class dw --layout nchw --direction backward_weight --algo gpu_direct_depthwise
need "depthwise NCHW slices" $(($(plans splits 2) + $(plans splits 3) + $(plans splits 4) + $(plans splits 5))) 40
# the long-row depthwise backward-data (rows of 8-80 taps, stride 1; --shape-class dwlong draws
# only those), both layouts
step "depthwise long rows" vv -- --count 60 --seed 4013 --large 50 --shape-class dwlong \
    --direction backward_data --algo gpu_direct_depthwise --layout both
# and NHWC alone: a quarter of these (multipliers 4, 8, 12, 16) take dw_bwd_data_long_v
step "depthwise long NHWC" vv -- --count 120 --seed 4034 --large 50 --shape-class dwlong \
    --direction backward_data --algo gpu_direct_depthwise --layout nhwc
# the strided depthwise backward-data (dw_bwd_data_s2: column stride 2, no dilation; --shape-class
# dws2 draws only those), both layouts, and in bf16; then the NHWC backward-weight's register
# window at that stride (dwb_rows, 5x5), 5 row slices asked
step "depthwise stride 2" vv -- --count 100 --seed 4019 --large 50 --shape-class dws2 \
    --direction backward_data --algo gpu_direct_depthwise --layout both
step "depthwise s2 bf16" vv -- --count 40 --seed 4020 --large 50 --shape-class dws2 --dtype bf16 \
    --direction backward_data --algo gpu_direct_depthwise --layout both
step "depthwise s2 bw" vv SAFECONV_GPU_DW_SLICES=5 -- --count 100 --seed 4021 --large 50 \
    --shape-class dws2 --direction backward_weight --algo gpu_direct_depthwise --layout nhwc
# the long-row depthwise backward-weight (dwb_long; --shape-class dwlong draws only its layers),
# both layouts, in 5 row slices (fewer where the rows run out): at least 40 plans with 2-5
step "depthwise long-row bw" vv SAFECONV_GPU_DW_SLICES=5 -- --count 100 --seed 4015 --large 50 \
    --shape-class dwlong --direction backward_weight --algo gpu_direct_depthwise --layout both
need "depthwise long-row bw" $(($(plans splits 2) + $(plans splits 3) + $(plans splits 4) + $(plans splits 5))) 40
# the small-C backward-data in stride phases (small_c_phase.cu: fp32, dilation 1) forced on
# stems (--shape-class stem: about 19 in 20 of its layers are ones it applies to), NCHW, then
# NHWC (8 lanes a column along k, added by a shuffle butterfly)
step "small-C phases" vv SAFECONV_GPU_SMALLC_PHASE=1 -- --count 300 --seed 4014 --large 50 \
    --shape-class stem --direction backward_data --layout nchw --algo gpu_direct_small_c \
    --skip-unsupported
step "small-C phases NHWC" vv SAFECONV_GPU_SMALLC_PHASE=1 -- --count 200 --seed 4019 \
    --large 50 --shape-class stem --direction backward_data --layout nhwc \
    --algo gpu_direct_small_c --skip-unsupported
# the small-C backward-weight of 3x3 layers with few channels a group (small_c_bw.cu; --shape-class
# fewc draws its layers), both layouts, 5 row slices asked for; then bf16 with the default slices
step "small-C bw" vv SAFECONV_GPU_SMALLC_BW_SLICES=5 -- --count 300 --seed 4016 --large 30 \
    --shape-class fewc --direction backward_weight --algo gpu_direct_small_c --layout both \
    --skip-unsupported
need "small-C bw" $(($(plans splits 2) + $(plans splits 3) + $(plans splits 4) + $(plans splits 5))) 40
step "small-C bw bf16" vv -- --count 100 --seed 4017 --large 30 --shape-class fewc --dtype bf16 \
    --direction backward_weight --algo gpu_direct_small_c --layout both --skip-unsupported
# the small-C backward-weight of 1x1 layers with few channels (small_c_bw1.cu; --shape-class pw
# draws its layers, all of which it takes), both layouts, 5 row slices asked for; then f16
step "small-C 1x1 bw" vv SAFECONV_GPU_SMALLC_BW_SLICES=5 -- --count 100 --seed 4031 --large 30 \
    --shape-class pw --direction backward_weight --algo gpu_direct_small_c --layout both
need "small-C 1x1 bw" "$(grep -c ' gpu_direct_small_c ' "$B/plans.txt")" 100
need "small-C 1x1 bw" $(($(plans splits 2) + $(plans splits 3) + $(plans splits 4) + $(plans splits 5))) 40
step "small-C 1x1 bw f16" vv -- --count 40 --seed 4032 --large 30 --shape-class pw --dtype f16 \
    --direction backward_weight --algo gpu_direct_small_c --layout both
step "channel-chunked" vv SAFECONV_GPU_GEMM_CC=1 -- --count 40 --seed 4002 --large 50 \
    --channel-multiple 8 --layout nchw --algo gpu_implicit_gemm
need "channel-chunked" "$(plans gather 1)" 10

# Serial backward-weight splits: each case runs twice (the determinism check), so two plans.
serial=0
batch=0
t=$SECONDS
while [ $serial -lt 100 ] && [ $batch -lt 10 ]; do
    sp=$(echo "2 3 4 6" | cut -d' ' -f$((batch % 4 + 1)))
    step "serial splits=$sp" vv SAFECONV_GPU_GEMM_SPLITS=$sp -- --count 40 --seed $((4300 + batch)) \
        --large 100 --direction backward_weight --algo gpu_implicit_gemm --workspace-limit 1024
    serial=$((serial + $(plans serial 1) / 2))
    batch=$((batch + 1))
done
echo "   serial-split backward-weight cases: $serial (in $((SECONDS - t)) s)"
need "serial splits" $serial 100

# The MIOpen adapter against the stand-in libMIOpen (built here with the C compiler; its
# pointers are the HIP-CPU "device" pointers, which are host memory).
fake="$B/libfake_miopen.so"
if cc -std=c11 -O2 -shared -fPIC -fvisibility=hidden tests/fake_miopen/fake_miopen.c -o "$fake" -lm; then
    s=4020
    for run in f32:vendor:300 f16:vendor:300 bf16:selective:200; do
        IFS=: read -r dt strategy want <<<"$run"
        s=$((s + 1))
        step "MIOpen adapter $dt" vv SAFECONV_MIOPEN_LIBRARY="$PWD/$fake" -- --count 100 \
            --seed $s --strategy "$strategy" --dtype $dt --verbose
        need "MIOpen adapter $dt" "$(grep -c ' algo vendor_miopen ' "$B/out.txt")" "$want"
    done
else
    echo "      FAIL: building tests/fake_miopen/fake_miopen.c"
    fail=1
fi

echo "test-hip-cpu: $([ $fail = 0 ] && echo OK || echo FAILED) in $((SECONDS - t_all)) s"
exit $fail
