#!/usr/bin/env bash
# gpu_build_check.sh - CI (no GPU needed): compile the GPU kernels for every CUDA arch and for
# the AMD targets, and FAIL on what would cost a kernel dearly or not run on the hardware.
# Called by test.sh; runs in a few minutes on 2 cores.
#
#   .ci/gpu_build_check.sh [outdir] [all|cuda|hip]      (default build-ci-gpu all)
#
# The backends and architectures are named explicitly (GPU=cuda NVCC_ARCHS=all, GPU=hip
# HIP_ARCHS=...): what `make` alone builds depends on the GPU present (mk/gpu.mk), this check not.
# CUDA: nvcc -Xptxas -v for each sm_XX of NVCC_ARCHS_ALL (the flags come from mk/gpu.mk); a kernel
#       fails on "N bytes stack frame" or "N bytes spill stores/loads" with N > 0.
# HIP:  hipcc -Rpass-analysis=kernel-resource-usage for gfx1010, gfx1012, gfx1030 and gfx1010 in
#       wave64 mode (-mwavefrontsize64: SC_WARP = 64, as on GCN/CDNA; HIP's own headers refuse
#       gfx10 wave64, .ci/hip_wave64.h steps around that refusal for this compile only). A kernel
#       fails on ScratchSize > 0, a spill > 0, or static LDS over 64 KiB (a workgroup's limit on
#       RDNA); in wave64 mode, where lane masks take SGPR pairs, SGPRs spilled to VGPR lanes
#       (no memory: ScratchSize stays 0) are a note, not a failure (docs/gpu.md). The first
#       target compiles host and device code, the others device code only.
#       Then .ci/amd_resources.sh checks docs/gpu.md's table of registers and occupancy.
# A missing nvcc skips the CUDA half with a notice; hipcc is installed from Debian if missing.
set -u
cd "$(dirname "$0")/.."
OUTDIR=${1:-build-ci-gpu}
WHAT=${2:-all}
mkdir -p "$OUTDIR"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
fail=0
mkvar() { make -s --no-print-directory "$@" --eval='sc-print-%: ; @echo $($*)' ; }

# ---- CUDA --------------------------------------------------------------------------------------
if [ "$WHAT" = hip ]; then
    echo "== CUDA: not asked for"
elif command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    FLAGS=$(mkvar GPU=cuda NVCC_ARCHS=all BUILD="$OUTDIR" sc-print-NVCC_FLAGS)
    echo "== CUDA: $NVCC $FLAGS"
    pids=()
    for f in src/gpu/*.cu; do
        b=$(basename "$f" .cu)
        F=$FLAGS # gemm_wgmma.cu, winograd_bw_wg.cu, winograd_wg.cu: sm_90a in place of sm_90, as mk/gpu.mk
        case $b in gemm_wgmma | winograd_bw_wg | winograd_wg) F="${FLAGS//arch=compute_90,code=sm_90/arch=compute_90a,code=sm_90a} -DSC_WGMMA_SM90A=1" ;; esac
        ( "$NVCC" $F -Xptxas -v -c "$f" -o "$OUTDIR/$b.cuda.o" >"$OUTDIR/$b.ptxas.log" 2>&1;
          echo $? >"$OUTDIR/$b.cuda.rc" ) &
        pids+=($!)
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
    done
    wait
    for f in src/gpu/*.cu; do
        b=$(basename "$f" .cu)
        if [ "$(cat "$OUTDIR/$b.cuda.rc")" != 0 ]; then
            echo "FAIL: nvcc $f"; cat "$OUTDIR/$b.ptxas.log"; fail=1; continue
        fi
        # "Compiling entry function 'X' for 'sm_90'" then "N bytes stack frame, N bytes spill
        # stores, N bytes spill loads" (also printed for device functions: those count too).
        awk -v file="$f" '
            /Compiling entry function/ { fn = $0; sub(/.*function /, "", fn) }
            /Function properties for/ { fn = $NF }
            /bytes stack frame/ {
                if ($1 + 0 > 0 || $5 + 0 > 0 || $9 + 0 > 0) {
                    print "FAIL: " file ": " fn ": " $0; bad = 1
                }
                n++
            }
            /bytes lmem/ { for (i = 1; i <= NF; i++) if ($(i+1) == "bytes" && $(i+2) == "lmem" && $i + 0 > 0) { print "FAIL: " file ": local memory: " $0; bad = 1 } }
            END { printf "   %s: %d functions checked\n", file, n; exit bad }' "$OUTDIR/$b.ptxas.log" || fail=1
    done
else
    echo "== CUDA: nvcc not found, CUDA check skipped"
fi

# ---- HIP ---------------------------------------------------------------------------------------
if [ "$WHAT" = cuda ]; then
    echo "== HIP: not asked for"
elif ! command -v hipcc >/dev/null 2>&1; then
    echo "== installing hipcc (Debian)"
    SUDO=; [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && SUDO=sudo
    $SUDO apt-get -y install hipcc >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get -y install hipcc >/dev/null 2>&1; }
fi
if [ "$WHAT" = cuda ]; then
    :
elif command -v hipcc >/dev/null 2>&1; then
    first=1
    for tgt in gfx1010 gfx1012 gfx1030 gfx1010-wave64; do
        arch=${tgt%-wave64}
        FLAGS=$(mkvar GPU=hip HIP_ARCHS=$arch BUILD="$OUTDIR" sc-print-HIP_FLAGS)
        [ "$tgt" != "$arch" ] && FLAGS="$FLAGS -mwavefrontsize64 -include .ci/hip_wave64.h"
        [ $first = 1 ] || FLAGS="$FLAGS --cuda-device-only"
        first=0
        # the .cu files mk/gpu.mk compiles for GPU=hip (NVIDIA-only files may be left out)
        SRCS=$(mkvar GPU=hip HIP_ARCHS=$arch BUILD="$OUTDIR" sc-print-GPU_SRCS)
        rm -f "$OUTDIR"/*."$tgt".log
        echo "== HIP $tgt: hipcc $FLAGS"
        for f in $SRCS; do
            b=$(basename "$f" .cu)
            ( hipcc $FLAGS -Rpass-analysis=kernel-resource-usage -c "$f" -o "$OUTDIR/$b.$tgt.o" \
                >"$OUTDIR/$b.$tgt.log" 2>&1; echo $? >"$OUTDIR/$b.$tgt.rc" ) &
            while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
        done
        wait
        for f in $SRCS; do
            b=$(basename "$f" .cu)
            if [ "$(cat "$OUTDIR/$b.$tgt.rc")" != 0 ]; then
                echo "FAIL: hipcc $tgt $f"; grep -E "error" "$OUTDIR/$b.$tgt.log" | head -20; fail=1; continue
            fi
            awk -v file="$f" -v arch="$tgt" '
                { sub(/ \[-Rpass-analysis=kernel-resource-usage\]/, "") }
                /remark: Function Name:/ { fn = $NF; n++ }
                /remark: +ScratchSize/ { if ($NF + 0 > 0) { print "FAIL: " arch " " file ": " fn ": scratch " $NF " bytes/lane"; bad = 1 } }
                /remark: +VGPRs Spill:/ { if ($NF + 0 > 0) { print "FAIL: " arch " " file ": " fn ": " $0; bad = 1 } }
                /remark: +SGPRs Spill:/ { if ($NF + 0 > 0) {
                    if (arch ~ /wave64/) print "   note: " arch " " file ": " fn ": " $NF " SGPRs spilled to VGPR lanes (no scratch)"
                    else { print "FAIL: " arch " " file ": " fn ": " $0; bad = 1 } } }
                /remark: +LDS Size/ { if ($NF + 0 > 65536) { print "FAIL: " arch " " file ": " fn ": LDS " $NF " bytes > 64 KiB"; bad = 1 } }
                END { printf "   %s %s: %d kernels checked\n", arch, file, n; exit bad }' \
                "$OUTDIR/$b.$tgt.log" || fail=1
        done
    done
    [ $fail = 0 ] && { .ci/amd_resources.sh "$OUTDIR" || fail=1; }
else
    echo "FAIL: hipcc is not available and could not be installed"; fail=1
fi

if [ $fail = 0 ]; then echo "gpu_build_check: OK (no spills, no local/scratch memory, LDS within 64 KiB, AMD table current)"; else echo "gpu_build_check: FAILED"; fi
exit $fail
