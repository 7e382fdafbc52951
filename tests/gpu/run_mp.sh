#!/usr/bin/env bash
# run_mp.sh - the GPU-machine stages of the mixed-precision work, logs under $OUT:
#   build     this tree (build-gpu) and, if .ref/old holds an older tree, that one too
#             (.ref/old/build-gpu), sm_90 only, in parallel
#   verify    safeconv verify per direction for f16, bf16 and tf32: default selection (NHWC,
#             channels in multiples of 8), the matrix-unit GEMM forced, the FMA GEMM forced;
#             and f32 default + forced GEMM (the fp32 kernels after the restructure). COUNT
#             configurations each, seeds from SEED, printed.
#   mutants   the verify of a deliberately broken matrix-unit kernel must fail (built with
#             -DSC_MMA_MUTANT: one reduction step dropped)
#   wgmma     sm_90 only: each wgmma configuration forced (5: forward, backward-data,
#             backward-weight; 6, 7 and 8: forward, backward-data; 7's grid capped at 3 blocks, so
#             that each block walks several tiles), every dtype, COUNT each; with build-mut
#             present (mutant_build) the same checks of the mutant must fail
#   families  every GPU family forced, fp32 and bf16 (configurations it does not apply to skipped)
#   memcheck  compute-sanitizer on the matrix-unit GEMM and the 16-bit FMA kernels
#   bench_f32 compare.py, public suite: this build and the old one (safeconv fp32 NCHW) and
#             cuDNN fp32, in one process run each, same session
#   bench_mp  compare.py --dtype bf16/f16/tf32 (NHWC) against cuDNN in the same dtype/layout
#   winograd  gpu_winograd forced, fp32, every direction (COUNT per direction)
#   wino_mutant   its verify with build-mut built with -DSC_WINO_MUTANT must fail
#   wino_memcheck compute-sanitizer on gpu_winograd forced
#   bench_wino    compare.py on WSUITE with SAFECONV_GPU_WINOGRAD=1 and 0, fp32 NCHW and NHWC
#   phase_dwl     small_c_phase.cu forced on stems (fp32 NCHW) and the long-row depthwise
#                 backward-weight on --shape-class dwlong (both layouts, fp32 and bf16, 5 slices)
#   phase_dwl_mutant  their verify with build-mut built with -DSC_SCP_MUTANT -DSC_DWBL_MUTANT=1
#                 must fail
#   phase_dwl_memcheck compute-sanitizer on both, forced
#   scw           small_c_bw.cu forced on --shape-class fewc (backward-weight, both layouts,
#                 f32, bf16 and f16, 5 slices asked for f32; COUNT each), and depthwise_bw.cu's
#                 dwb_plane on --shape-class dw NCHW (f32 with 5 slices, bf16; COUNT each)
#   scw_mutant    their verify with build-mut built with -DSC_SCW_MUTANT=1 -DSC_DWBP_MUTANT=1
#                 must fail
#   scw_memcheck  compute-sanitizer on both, forced
#   dws           depthwise.cu's dw_bwd_data_s2 forced on --shape-class dws2 (backward-data, both
#                 layouts; f32 COUNT, bf16 and f16 COUNT/2) and dw_bwd_data_long_v on
#                 --shape-class dwlong NHWC (a quarter of its draws: f32 2*COUNT, bf16 and f16
#                 COUNT each)
#   dws_mutant    their verify with build-mut built with -DSC_DWS_MUTANT=1 -DSC_DWL_MUTANT=2 must
#                 fail
#   dws_memcheck  compute-sanitizer on both, forced
#   dwb_s2        depthwise_bw.cu's dwb_rows forced on --shape-class dws2 and dw (NHWC
#                 backward-weight: its register windows at column strides 1 and 2), each class
#                 f32 COUNT with 5 row slices asked, bf16 and f16 COUNT/2 with the default slices
#   dwb_s2_mutant its verify with build-mut built with -DSC_DWB_WMUTANT=1 must fail
#   dwb_s2_memcheck  compute-sanitizer on it, forced
#   wino_narrow   Winograd backward-weight's tile WTILE (default 1, the narrow one; 2, the wide
#                 one in 3xTF32; 3, F(3x3,4x4); 4, the wide one on wgmma in 3xTF32) forced
#                 (SAFECONV_GPU_WINOGRAD_BW_TILE), COUNT on --shape-class 3x3s1 (half in 5
#                 slices), its mutant (build-mut with -DSC_WINO_MUTANT, for WTILE=2
#                 -DSC_WINO_MMA_MUTANT=1: 1xTF32, for WTILE=3 winograd_bw4.cu with
#                 -DSC_WINO4_MUTANT=1, for WTILE=4 winograd_bw_wg.cu with -DSC_WINO_WG_MUTANT=1:
#                 1xTF32), memcheck
#   bench_wino_narrow  compare.py on the layers whose backward-weight runs Winograd: the tiles
#                 TILES (default "0 1") against each other, both layouts, two alternating runs
#   wino_splits   Winograd backward-weight's default slices against the old rule's 17 on the
#                 layers with 8 blocks a slice (r50_l2_3x3_128 at batch 32 and 64, unet_b1_128),
#                 both layouts, two alternating runs, cuDNN fp32 in each
# usage: tests/gpu/run_mp.sh "build verify memcheck"   (env: COUNT, SEED, DTYPES, BENCH_DTYPES, SC, MUT)
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
STAGES=${1:-"build verify"}
COUNT=${COUNT:-300}
SEED=${SEED:-7001}
DTYPES=${DTYPES:-"f16 bf16 tf32"}
BENCH_DTYPES=${BENCH_DTYPES:-"bf16 f16 tf32"}
BENCH_ARGS=${BENCH_ARGS:-"--repeat 10"}
WSUITE=${WSUITE:-bench/suites/public.csv}
SC=${SC:-build-gpu/safeconv}   # the binaries checked: env SC and MUT name others (a
MUT=${MUT:-build-mut/safeconv}  # branch built elsewhere and carried)
if [ -d .devdeps ]; then
    export CPPFLAGS="-I$PWD/.devdeps/include" LDFLAGS="-L$PWD/.devdeps/lib"
    export LD_LIBRARY_PATH="$PWD/.devdeps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PYTHONUNBUFFERED=1
summ() { echo "--- $1: $(grep -E 'passed, .* failed' "$2" | tail -1) $(grep -c '^FAIL' "$2") FAIL lines"; }
# sums NAME FILE: FILE holds several verify runs; their "passed, failed" counts added up
sums() {
    echo "--- $1: $(grep -E 'passed, .* failed' "$2" | awk '{p += $1; f += $3} END {print p " passed, " f " failed"}') $(grep -c '^FAIL' "$2") FAIL lines"
}
# par_dtypes FILE LABEL N32 N16 SEED32 SEED16 ENV32 VERIFY-ARGS...: $SC with the verify arguments
# in four processes for each dtype: f32 (N32 configurations each, seeds SEED32 to SEED32+3,
# environment assignment ENV32, "" for none), bf16 and f16 (N16 each, seeds SEED16 to SEED16+3);
# waits, gathers each dtype's logs in $OUT/FILE_<dtype>.txt and prints their sums as "LABEL
# <dtype>"
par_dtypes() {
    local file=$1 label=$2 n32=$3 n16=$4 s32=$5 s16=$6 env32=$7 i dt
    shift 7
    for i in 0 1 2 3; do
        env $env32 timeout 300 $SC "$@" --dtype f32 --count $n32 --seed $((s32 + i)) >"$OUT/${file}_f32_$i.log" 2>&1 &
        for dt in bf16 f16; do
            timeout 300 $SC "$@" --dtype $dt --count $n16 --seed $((s16 + i)) >"$OUT/${file}_${dt}_$i.log" 2>&1 &
        done
    done
    wait
    for dt in f32 bf16 f16; do
        cat "$OUT"/${file}_${dt}_?.log >"$OUT/${file}_$dt.txt"
        sums "$label $dt" "$OUT/${file}_$dt.txt"
    done
    rm -f "$OUT"/${file}_*_?.log
}
J=$(nproc)

for st in $STAGES; do
case $st in
build)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
    t0=$(date +%s)
    jb=$J
    if [ -d .ref/old ]; then
        jb=$((J / 2))
        (cd .ref/old && make BUILD=build-gpu GPU=cuda NVCC_ARCHS=sm_90 -j$((J / 2)) >"$OUT/build_old.log" 2>&1; echo "old build rc=$?") &
    fi
    make BUILD=build-gpu GPU=cuda NVCC_ARCHS=sm_90 -j$jb >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
    wait
    echo "build: $(( $(date +%s) - t0 )) s"; $SC info | head -5 ;;
mutant_build)
    # build-gpu's objects, the matrix-unit files rebuilt with the mutation
    rm -rf build-mut && cp -a build-gpu build-mut
    rm -f build-mut/src/gpu/gemm_mma_*.o build-mut/src/gpu/gemm_wgmma.o
    make BUILD=build-mut GPU=cuda NVCC_ARCHS=sm_90 NVCC_EXTRA=-DSC_MMA_MUTANT -j$J build-mut/safeconv >"$OUT/build_mut.log" 2>&1 || { tail -20 "$OUT/build_mut.log"; exit 1; } ;;
verify)
    t0=$(date +%s)
    s=$SEED
    for dt in $DTYPES; do
        for d in forward backward_data backward_weight; do
            s=$((s + 1))
            timeout 240 $SC verify --device 0 --dtype $dt --layout nhwc --channel-multiple 8 --large 30 --count $COUNT --seed $s --direction $d >"$OUT/v_${dt}_def_$d.log" 2>&1 &
            timeout 240 $SC verify --device 0 --dtype $dt --count $COUNT --seed $((s + 100)) --direction $d >"$OUT/v_${dt}_any_$d.log" 2>&1 &
            timeout 240 $SC verify --device 0 --dtype $dt --layout nhwc --channel-multiple 8 --large 30 --count $COUNT --seed $((s + 200)) --direction $d --algo gpu_implicit_gemm_mma --skip-unsupported >"$OUT/v_${dt}_mma_$d.log" 2>&1 &
            [ $dt != tf32 ] && timeout 240 $SC verify --device 0 --dtype $dt --count $COUNT --seed $((s + 300)) --direction $d --algo gpu_implicit_gemm >"$OUT/v_${dt}_fma_$d.log" 2>&1 &
            while [ "$(jobs -rp | wc -l)" -ge "$J" ]; do sleep 0.5; done
        done
    done
    for d in forward backward_data backward_weight backward_bias; do
        s=$((s + 1))
        timeout 240 $SC verify --device 0 --count $COUNT --seed $s --direction $d >"$OUT/v_f32_def_$d.log" 2>&1 &
        timeout 240 $SC verify --device 0 --count $COUNT --seed $((s + 100)) --direction $d --algo gpu_implicit_gemm >"$OUT/v_f32_gemm_$d.log" 2>&1 &
        timeout 240 $SC verify --device 0 --dtype bf16 --count $COUNT --seed $((s + 200)) --direction $d --algo gpu_naive >"$OUT/v_bf16_naive_$d.log" 2>&1 &
    done
    wait
    echo "verify: $(( $(date +%s) - t0 )) s (seeds from $SEED)"
    for f in "$OUT"/v_*.log; do summ "$(basename "$f" .log)" "$f"; grep -m3 '^FAIL' "$f"; done
    cat "$OUT"/v_*.log >"$OUT/verify_all.txt"; rm -f "$OUT"/v_*.log ;;
families)
    # every family forced (fp32 and bf16), the configurations it does not apply to skipped
    t0=$(date +%s)
    s=$((SEED + 700))
    for a in gpu_implicit_gemm gpu_naive gpu_direct_depthwise gpu_direct_small_c; do
        for dt in f32 bf16; do
            s=$((s + 1))
            timeout 300 $SC verify --device 0 --dtype $dt --count $COUNT --seed $s --algo $a --skip-unsupported >"$OUT/f_${a}_$dt.log" 2>&1 &
        done
    done
    s=$((s + 1))
    timeout 300 $SC verify --device 0 --dtype bf16 --layout nhwc --channel-multiple 8 --large 30 --count $COUNT --seed $s --algo gpu_implicit_gemm_mma --skip-unsupported >"$OUT/f_mma_bf16.log" 2>&1 &
    wait
    echo "families: $(( $(date +%s) - t0 )) s (seeds from $((SEED + 701)))"
    for f in "$OUT"/f_*.log; do summ "$(basename "$f" .log)" "$f"; grep -m3 '^FAIL' "$f"; done
    cat "$OUT"/f_*.log >"$OUT/families_all.txt"; rm -f "$OUT"/f_*.log ;;
mutants)
    for dt in bf16 tf32; do
        timeout 120 $MUT verify --device 0 --dtype $dt --layout nhwc --channel-multiple 8 --large 30 --count 100 --seed 99 --algo gpu_implicit_gemm_mma --skip-unsupported >"$OUT/mut_$dt.log" 2>&1
        echo "--- mutant $dt (must fail): $(grep -E 'passed, .* failed' "$OUT/mut_$dt.log" | tail -1)"
    done ;;
wgmma)
    t0=$(date +%s)
    s=$((SEED + 400))
    for sc in $SC $MUT; do
        [ -x "$sc" ] || continue
        tag=$([ "$sc" = "$SC" ] && echo ok || echo mut)
        for dt in $DTYPES; do
            for cd in 5:forward 5:backward_data 5:backward_weight 6:forward 6:backward_data \
                7:forward 7:backward_data 8:forward 8:backward_data; do
                c=${cd%%:*} d=${cd#*:}
                s=$((s + 1))
                SAFECONV_GPU_GEMM_CFG=$c SAFECONV_GPU_GEMM_PERSIST_BLOCKS=3 timeout 240 "$sc" verify --device 0 --dtype $dt --layout nhwc --channel-multiple 8 --large 30 --count $COUNT --seed $s --direction $d --algo gpu_implicit_gemm_mma --skip-unsupported >"$OUT/g_${tag}_${dt}_c${c}_$d.log" 2>&1 &
                while [ "$(jobs -rp | wc -l)" -ge "$J" ]; do sleep 0.5; done
            done
        done
    done
    wait
    echo "wgmma: $(( $(date +%s) - t0 )) s (seeds from $((SEED + 401)); g_mut_* must fail)"
    for f in "$OUT"/g_*.log; do summ "$(basename "$f" .log)" "$f"; done
    cat "$OUT"/g_*.log >"$OUT/wgmma_all.txt"; rm -f "$OUT"/g_*.log ;;
memcheck)
    t0=$(date +%s)
    for dt in bf16 tf32; do
        timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --dtype $dt --layout nhwc --channel-multiple 8 --large 30 --count 20 --seed $((SEED + 500)) --algo gpu_implicit_gemm_mma --skip-unsupported >"$OUT/mc_mma_$dt.log" 2>&1 &
    done
    timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --dtype f16 --count 20 --seed $((SEED + 501)) >"$OUT/mc_f16.log" 2>&1 &
    timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --count 20 --seed $((SEED + 502)) >"$OUT/mc_f32.log" 2>&1 &
    wait
    echo "memcheck: $(( $(date +%s) - t0 )) s"
    for f in "$OUT"/mc_*.log; do echo "--- $(basename "$f" .log): $(grep -E 'ERROR SUMMARY|passed, ' "$f" | tr '\n' ' ')"; done ;;
winograd)
    # gpu_winograd forced (fp32, 3x3 stride 1: --shape-class 3x3s1), every direction, both
    # layouts: COUNT configurations per direction in 8 processes of COUNT/8, seeds printed
    # (SAFECONV_GPU_WINOGRAD_1STAGE / _SPLITS / _TILE / _BW_TILE from the environment pick the
    # variant; on sm_90 forward and backward-data run winograd_wg.cu by default, and wino_mutant
    # with build-mut holding winograd_wg.cu built with -DSC_WINO_WG_MUTANT=1 must fail those two)
    t0=$(date +%s)
    s=$((SEED + 800))
    for d in forward backward_data backward_weight; do
        for i in 0 1 2 3 4 5 6 7; do
            s=$((s + 1))
            timeout 300 $SC verify --device 0 --algo gpu_winograd --shape-class 3x3s1 --large 50 --count $((COUNT / 8)) --seed $s --direction $d >"$OUT/w_${d}_$i.log" 2>&1 &
        done
    done
    wait
    echo "winograd: $(( $(date +%s) - t0 )) s (seeds $((SEED + 801))-$s)"
    for d in forward backward_data backward_weight; do
        cat "$OUT"/w_${d}_*.log >"$OUT/wino_$d.txt"
        sums "winograd $d" "$OUT/wino_$d.txt"
        grep -m3 '^FAIL' "$OUT/wino_$d.txt"
    done
    rm -f "$OUT"/w_*.log ;;
wino_mutant)
    # build-mut built with -DSC_WINO_MUTANT (one filter-transform coefficient off by 2^-13)
    for d in forward backward_data backward_weight; do
        timeout 120 $MUT verify --device 0 --algo gpu_winograd --shape-class 3x3s1 --large 50 --count 200 --seed 98 --direction $d >"$OUT/wmut_$d.log" 2>&1
        echo "--- winograd mutant $d (must fail): $(grep -E 'passed, .* failed' "$OUT/wmut_$d.log" | tail -1)"
    done ;;
wino_memcheck)
    t0=$(date +%s)
    for d in forward backward_data backward_weight; do
        timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --algo gpu_winograd --shape-class 3x3s1 --large 50 --count 30 --seed $((SEED + 900)) --direction $d >"$OUT/mcw_$d.log" 2>&1 &
    done
    wait
    echo "winograd memcheck: $(( $(date +%s) - t0 )) s"
    for f in "$OUT"/mcw_*.log; do echo "--- $(basename "$f" .log): $(grep -E 'ERROR SUMMARY|passed, ' "$f" | tr '\n' ' ')"; done ;;
phase_dwl)
    # small_c_phase.cu forced on stems (--shape-class stem, fp32 NCHW; SAFECONV_GPU_SMALLC_PHASE=1)
    # and depthwise_bw.cu's dwb_long on long rows (--shape-class dwlong, backward-weight, both
    # layouts, fp32 and bf16, 5 slices asked): COUNT configurations each, in 4 processes
    t0=$(date +%s)
    s=$((SEED + 950))
    for i in 0 1 2 3; do
        s=$((s + 1))
        SAFECONV_GPU_SMALLC_PHASE=1 timeout 300 $SC verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class stem --layout nchw --large 50 --direction backward_data --count $((COUNT / 4)) --seed $s >"$OUT/ph_$i.log" 2>&1 &
        for dt in f32 bf16; do
            SAFECONV_GPU_DW_SLICES=5 timeout 300 $SC verify --device 0 --algo gpu_direct_depthwise --shape-class dwlong --layout both --large 50 --direction backward_weight --dtype $dt --count $((COUNT / 4)) --seed $((s + 20)) >"$OUT/dl_${dt}_$i.log" 2>&1 &
        done
    done
    # and a fixed seed whose draws launch the phase kernel with 51 KiB of shared memory before
    # 57 KiB: with the opt-in made for the first launch's size it failed ('invalid argument')
    SAFECONV_GPU_SMALLC_PHASE=1 timeout 300 $SC verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class stem --layout nchw --large 50 --direction backward_data --count 2000 --seed 88011 >"$OUT/ph_order.log" 2>&1 &
    # and NHWC (8 lanes a column along k)
    SAFECONV_GPU_SMALLC_PHASE=1 timeout 300 $SC verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class stem --layout nhwc --large 50 --direction backward_data --count $COUNT --seed $((SEED + 960)) >"$OUT/ph_nhwc.log" 2>&1 &
    wait
    echo "phase_dwl: $(( $(date +%s) - t0 )) s (seeds $((SEED + 951))-$s and +20, 88011, $((SEED + 960)))"
    cat "$OUT"/ph_*.log >"$OUT/phase.txt" # ph_order.log and ph_nhwc.log among them
    sums "small-C phases" "$OUT/phase.txt"
    for dt in f32 bf16; do
        cat "$OUT"/dl_${dt}_*.log >"$OUT/dwlong_$dt.txt"
        sums "long-row backward-weight $dt" "$OUT/dwlong_$dt.txt"
    done
    rm -f "$OUT"/ph_*.log "$OUT"/dl_*.log ;;
phase_dwl_mutant)
    # build-mut built with NVCC_EXTRA="-DSC_SCP_MUTANT -DSC_DWBL_MUTANT=1" (the phase kernel's last
    # row tap dropped; dwb_long's new window column one short): both checks must fail
    SAFECONV_GPU_SMALLC_PHASE=1 timeout 120 $MUT verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class stem --layout nchw --large 50 --direction backward_data --count 200 --seed 99 >"$OUT/phmut.log" 2>&1
    echo "--- small-C phases mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/phmut.log" | tail -1)"
    SAFECONV_GPU_DW_SLICES=5 timeout 120 $MUT verify --device 0 --algo gpu_direct_depthwise --shape-class dwlong --layout both --large 50 --direction backward_weight --count 100 --seed 99 >"$OUT/dlmut.log" 2>&1
    echo "--- long-row backward-weight mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/dlmut.log" | tail -1)" ;;
phase_dwl_memcheck)
    SAFECONV_GPU_SMALLC_PHASE=1 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class stem --layout nchw --direction backward_data --count 30 --seed $((SEED + 990)) >"$OUT/mcph.log" 2>&1 &
    SAFECONV_GPU_DW_SLICES=5 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --algo gpu_direct_depthwise --shape-class dwlong --layout both --direction backward_weight --count 20 --seed $((SEED + 991)) >"$OUT/mcdl.log" 2>&1 &
    wait
    for f in "$OUT"/mcph.log "$OUT"/mcdl.log; do echo "--- $(basename "$f" .log): $(grep -E 'ERROR SUMMARY|passed, ' "$f" | tr '\n' ' ')"; done ;;
scw)
    # small_c_bw.cu forced on --shape-class fewc (3x3, 1-16 input channels a group, strides 1-2),
    # backward-weight, both layouts: COUNT configurations per dtype in 4 processes each; f32 with
    # 5 row slices asked, the 16-bit types with the default slices
    t0=$(date +%s)
    s=$((SEED + 960))
    for i in 0 1 2 3; do
        s=$((s + 1))
        for dt in f32 bf16 f16; do
            sl=$([ $dt = f32 ] && echo 5 || echo "")
            SAFECONV_GPU_SMALLC_BW_SLICES=$sl timeout 300 $SC verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class fewc --layout both --large 50 --direction backward_weight --dtype $dt --count $((COUNT / 4)) --seed $s >"$OUT/scw_${dt}_$i.log" 2>&1 &
        done
        for dt in f32 bf16; do
            sl=$([ $dt = f32 ] && echo 5 || echo "")
            SAFECONV_GPU_DW_SLICES=$sl timeout 300 $SC verify --device 0 --algo gpu_direct_depthwise --shape-class dw --layout nchw --large 50 --direction backward_weight --dtype $dt --count $((COUNT / 4)) --seed $((s + 20)) >"$OUT/dwp_${dt}_$i.log" 2>&1 &
        done
    done
    wait
    echo "scw: $(( $(date +%s) - t0 )) s (seeds $((SEED + 961))-$s)"
    for dt in f32 bf16 f16; do
        cat "$OUT"/scw_${dt}_*.log >"$OUT/scw_$dt.txt"
        sums "small-C backward-weight $dt" "$OUT/scw_$dt.txt"
    done
    for dt in f32 bf16; do
        cat "$OUT"/dwp_${dt}_*.log >"$OUT/dwp_$dt.txt"
        sums "NCHW depthwise backward-weight $dt" "$OUT/dwp_$dt.txt"
    done
    rm -f "$OUT"/scw_*_?.log "$OUT"/dwp_*_?.log ;;
scw_mutant)
    # build-mut built with NVCC_EXTRA="-DSC_SCW_MUTANT=1 -DSC_DWBP_MUTANT=1" (each kernel's window
    # gets its new columns one short)
    SAFECONV_GPU_SMALLC_BW_SLICES=5 timeout 120 $MUT verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class fewc --layout both --large 50 --direction backward_weight --count 100 --seed 99 >"$OUT/scwmut.log" 2>&1
    echo "--- small-C backward-weight mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/scwmut.log" | tail -1)"
    SAFECONV_GPU_DW_SLICES=5 timeout 120 $MUT verify --device 0 --algo gpu_direct_depthwise --shape-class dw --layout nchw --large 50 --direction backward_weight --count 200 --seed 99 >"$OUT/dwpmut.log" 2>&1
    echo "--- NCHW depthwise backward-weight mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/dwpmut.log" | tail -1)" ;;
scw_memcheck)
    SAFECONV_GPU_SMALLC_BW_SLICES=5 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --algo gpu_direct_small_c --skip-unsupported --shape-class fewc --layout both --direction backward_weight --count 30 --seed $((SEED + 992)) >"$OUT/mcscw.log" 2>&1
    echo "--- mcscw: $(grep -E 'ERROR SUMMARY|passed, ' "$OUT/mcscw.log" | tr '\n' ' ')"
    SAFECONV_GPU_DW_SLICES=5 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --algo gpu_direct_depthwise --shape-class dw --layout nchw --direction backward_weight --count 30 --seed $((SEED + 993)) >"$OUT/mcdwp.log" 2>&1
    echo "--- mcdwp: $(grep -E 'ERROR SUMMARY|passed, ' "$OUT/mcdwp.log" | tr '\n' ' ')" ;;
dws)
    t0=$(date +%s)
    V="verify --device 0 --algo gpu_direct_depthwise --large 50 --direction backward_data"
    par_dtypes dws dws $((COUNT / 4)) $((COUNT / 8)) $((SEED + 1001)) $((SEED + 1005)) "" \
        $V --shape-class dws2 --layout both
    par_dtypes dwlv dwlv $((COUNT / 2)) $((COUNT / 4)) $((SEED + 1011)) $((SEED + 1015)) "" \
        $V --shape-class dwlong --layout nhwc
    echo "dws: $(( $(date +%s) - t0 )) s (seeds $((SEED + 1001))-$((SEED + 1018)))" ;;
dws_mutant)
    # build-mut built with NVCC_EXTRA="-DSC_DWS_MUTANT=1 -DSC_DWL_MUTANT=2" (a tap dropped in each)
    V="verify --device 0 --algo gpu_direct_depthwise --large 50 --direction backward_data"
    timeout 120 $MUT $V --shape-class dws2 --layout both --count 200 --seed 99 >"$OUT/dwsmut.log" 2>&1
    echo "--- strided depthwise backward-data mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/dwsmut.log" | tail -1)"
    timeout 120 $MUT $V --shape-class dwlong --layout nhwc --count 400 --seed 99 >"$OUT/dwlvmut.log" 2>&1
    echo "--- NHWC long-row backward-data mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/dwlvmut.log" | tail -1)" ;;
dws_memcheck)
    V="verify --device 0 --algo gpu_direct_depthwise --direction backward_data"
    timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC $V --shape-class dws2 --layout both --count 30 --seed $((SEED + 994)) >"$OUT/mcdws.log" 2>&1
    echo "--- mcdws: $(grep -E 'ERROR SUMMARY|passed, ' "$OUT/mcdws.log" | tr '\n' ' ')"
    timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC $V --shape-class dwlong --layout nhwc --count 60 --seed $((SEED + 995)) >"$OUT/mcdwlv.log" 2>&1
    echo "--- mcdwlv: $(grep -E 'ERROR SUMMARY|passed, ' "$OUT/mcdwlv.log" | tr '\n' ' ')" ;;
dwb_s2)
    # --shape-class dws2 (column stride 2) and dw (mostly stride 1): both windows of dwb_rows
    t0=$(date +%s)
    for cls in dws2 dw; do
        par_dtypes dwbs2_$cls "dwb_s2 $cls" $((COUNT / 4)) $((COUNT / 8)) $((SEED + 1021)) \
            $((SEED + 1025)) SAFECONV_GPU_DW_SLICES=5 verify --device 0 --algo gpu_direct_depthwise \
            --shape-class $cls --layout nhwc --large 50 --direction backward_weight
    done
    echo "dwb_s2: $(( $(date +%s) - t0 )) s (seeds $((SEED + 1021))-$((SEED + 1028)) for each class)" ;;
dwb_s2_mutant)
    # build-mut built with NVCC_EXTRA=-DSC_DWB_WMUTANT=1 (the windows' last new column one short)
    for cls in dws2 dw; do
        SAFECONV_GPU_DW_SLICES=5 timeout 120 $MUT verify --device 0 --algo gpu_direct_depthwise --shape-class $cls --layout nhwc --large 50 --direction backward_weight --count 200 --seed 99 >"$OUT/dwbs2mut_$cls.log" 2>&1
        echo "--- $cls register window mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/dwbs2mut_$cls.log" | tail -1)"
    done ;;
dwb_s2_memcheck)
    for cls in dws2 dw; do
        SAFECONV_GPU_DW_SLICES=5 timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --algo gpu_direct_depthwise --shape-class $cls --layout nhwc --direction backward_weight --count 30 --seed $((SEED + 996)) >"$OUT/mcdwbs2_$cls.log" 2>&1
        echo "--- mcdwbs2 $cls: $(grep -E 'ERROR SUMMARY|passed, ' "$OUT/mcdwbs2_$cls.log" | tr '\n' ' ')"
    done ;;
bench_wino)
    # the 3x3 stride-1 suite (WSUITE) with Winograd wherever it applies and never, fp32 NCHW
    # against cuDNN fp32 and NHWC against cuDNN fp32 NHWC, in one call
    for wv in 1 0; do
        SAFECONV_GPU_WINOGRAD=$wv timeout 300 python3 bench/compare.py --lib build-gpu/libsafeconv.so --suite "$WSUITE" --methods safeconv,cudnn_fp32 --benchmark $BENCH_ARGS --csv "$OUT/bw_nchw_$wv.csv" >"$OUT/bw_nchw_$wv.txt" 2>&1
        echo "nchw winograd=$wv rc=$?"; grep -A4 "geometric mean" "$OUT/bw_nchw_$wv.txt"
        SAFECONV_GPU_WINOGRAD=$wv timeout 300 python3 bench/compare.py --lib build-gpu/libsafeconv.so --suite "$WSUITE" --dtype f32 --layout nhwc --methods safeconv,cudnn_same --benchmark $BENCH_ARGS --csv "$OUT/bw_nhwc_$wv.csv" >"$OUT/bw_nhwc_$wv.txt" 2>&1
        echo "nhwc winograd=$wv rc=$?"; grep -A4 "geometric mean" "$OUT/bw_nhwc_$wv.txt"
    done ;;
wino_narrow)
    # Winograd backward-weight's tile WTILE (winograd.h; 1: the narrow tile, 32 x 32 channels,
    # two blocks an SM; 2: the wide tile's GEMM in 3xTF32; 3: F(3x3,4x4); 4: the wide tile's
    # GEMM on wgmma in 3xTF32) forced on
    # --shape-class 3x3s1, both layouts: COUNT configurations in 8 processes, the last 4 asking
    # for 5 reduction slices; then the same on build-mut (must fail) and compute-sanitizer
    # memcheck (30)
    WTILE=${WTILE:-1}
    t0=$(date +%s)
    s=$((SEED + 700))
    for i in 0 1 2 3 4 5 6 7; do
        s=$((s + 1))
        sp=""; [ $i -ge 4 ] && sp=5
        SAFECONV_GPU_WINOGRAD_BW_TILE=$WTILE SAFECONV_GPU_WINOGRAD_SPLITS=$sp timeout 300 $SC verify --device 0 --algo gpu_winograd --shape-class 3x3s1 --large 50 --count $((COUNT / 8)) --seed $s --direction backward_weight >"$OUT/wn_$i.log" 2>&1 &
    done
    wait
    echo "winograd tile $WTILE: $(( $(date +%s) - t0 )) s (seeds $((SEED + 701))-$s)"
    cat "$OUT"/wn_*.log >"$OUT/wino_narrow.txt"
    rm -f "$OUT"/wn_*.log
    sums "winograd tile $WTILE backward_weight" "$OUT/wino_narrow.txt"
    grep -m3 '^FAIL' "$OUT/wino_narrow.txt"
    if [ -x "$MUT" ]; then
        SAFECONV_GPU_WINOGRAD_BW_TILE=$WTILE timeout 120 $MUT verify --device 0 --algo gpu_winograd --shape-class 3x3s1 --large 50 --count 200 --seed 97 --direction backward_weight >"$OUT/wnmut.log" 2>&1
        echo "--- winograd tile $WTILE mutant (must fail): $(grep -E 'passed, .* failed' "$OUT/wnmut.log" | tail -1)"
    fi
    SAFECONV_GPU_WINOGRAD_BW_TILE=$WTILE timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 $SC verify --device 0 --algo gpu_winograd --shape-class 3x3s1 --large 50 --count 30 --seed $((SEED + 790)) --direction backward_weight >"$OUT/mcwn.log" 2>&1
    echo "--- winograd tile $WTILE memcheck rc=$?: $(grep -E 'ERROR SUMMARY|passed, ' "$OUT/mcwn.log" | tr '\n' ' ')" ;;
bench_wino_narrow)
    # layers whose backward-weight runs Winograd by default (the 3x3 stride-1 rows of ResNet-50
    # at batch 32 and 64, UNet's 96x96, the 64->128 seed layer), the wide tile against the
    # narrow one, alternating, REPS runs (default 2), fp32 NCHW against cuDNN fp32 and NHWC
    # against cuDNN fp32 NHWC
    grep -hE '^(seed_64to128_56|r50_l[1-4]_3x3_[0-9]+|r50_l[1-4]_3x3_[0-9]+_x[0-9]+|unet_b2_96),' \
        bench/suites/public.csv bench/suites/resnet50_b64.csv | sort -u >"$OUT/wnarrow.csv"
    for rep in $(seq "${REPS:-2}"); do
        for tile in ${TILES:-0 1}; do
            for lay in nchw nhwc; do
                m=$([ $lay = nchw ] && echo safeconv,cudnn_fp32 || echo safeconv,cudnn_same)
                SAFECONV_GPU_WINOGRAD_BW_TILE=$tile timeout 300 python3 bench/compare.py --lib build-gpu/libsafeconv.so --suite "$OUT/wnarrow.csv" --dtype f32 --layout $lay --methods $m --benchmark $BENCH_ARGS --csv "$OUT/wnb_${lay}_${tile}_$rep.csv" >"$OUT/wnb_${lay}_${tile}_$rep.txt" 2>&1
                echo "--- $lay tile=$tile run $rep rc=$?"
            done
        done
    done ;;
wino_splits)
    # Winograd backward-weight's default slices (as many as one wave holds: 16 for 8 blocks a
    # slice on 132 SMs) against the old rule's 17 (SAFECONV_GPU_WINOGRAD_SPLITS=17), on the
    # layers the rule moved, both layouts, in alternating runs against cuDNN fp32
    grep -hE '^(r50_l2_3x3_128|unet_b1_128|r50_l2_3x3_128_x3),' bench/suites/public.csv \
        bench/suites/resnet50_b64.csv >"$OUT/wsplit.csv"
    for rep in 1 2; do
        for sp in 17 ""; do
            for lay in nchw nhwc; do
                m=$([ $lay = nchw ] && echo safeconv,cudnn_fp32 || echo safeconv,cudnn_same)
                SAFECONV_GPU_WINOGRAD_SPLITS=$sp timeout 300 python3 bench/compare.py --lib build-gpu/libsafeconv.so --suite "$OUT/wsplit.csv" --dtype f32 --layout $lay --methods $m --benchmark $BENCH_ARGS --csv "$OUT/ws_${lay}_${sp:-new}_$rep.csv" >"$OUT/ws_${lay}_${sp:-new}_$rep.txt" 2>&1
                echo "--- $lay splits=${sp:-default} run $rep rc=$?"
                grep -E "r50_l2|unet_b1" "$OUT/ws_${lay}_${sp:-new}_$rep.txt" | head -6
            done
        done
    done ;;
bench_f32)
    timeout 300 python3 bench/compare.py --lib build-gpu/libsafeconv.so --methods safeconv,cudnn_fp32 --benchmark $BENCH_ARGS --csv "$OUT/bench_f32_new.csv" >"$OUT/bench_f32_new.txt" 2>&1
    echo "new rc=$?"; grep -A4 "geometric mean" "$OUT/bench_f32_new.txt"
    if [ -f .ref/old/build-gpu/libsafeconv.so ]; then
        timeout 300 python3 bench/compare.py --lib .ref/old/build-gpu/libsafeconv.so --methods safeconv,cudnn_fp32 --benchmark $BENCH_ARGS --csv "$OUT/bench_f32_old.csv" >"$OUT/bench_f32_old.txt" 2>&1
        echo "old rc=$?"; grep -A4 "geometric mean" "$OUT/bench_f32_old.txt"
    fi ;;
bench_mp)
    for dt in $BENCH_DTYPES; do
        timeout 300 python3 bench/compare.py --lib build-gpu/libsafeconv.so --dtype $dt --methods safeconv,cudnn_same --benchmark $BENCH_ARGS --csv "$OUT/bench_$dt.csv" >"$OUT/bench_$dt.txt" 2>&1
        echo "$dt rc=$?"; grep -A3 "geometric mean" "$OUT/bench_$dt.txt"
    done ;;
esac
done
