#!/usr/bin/env bash
# gpu_build_check.sh - CI (no GPU needed): compile the GPU kernels for every CUDA arch and for
# the HIP archs gfx1010 and gfx1030, and FAIL if any kernel spills registers or uses local
# (CUDA) / scratch (AMD) memory. Called by .ci/run; runs in a few minutes on 2 cores.
#
#   .ci/gpu_build_check.sh [outdir]      (default build-ci-gpu)
#
# The backends and architectures are named explicitly (GPU=cuda NVCC_ARCHS=all, GPU=hip
# HIP_ARCHS=...): what `make` alone builds depends on the GPU present (mk/gpu.mk), this check not.
# CUDA: nvcc -Xptxas -v for each sm_XX of NVCC_ARCHS_ALL (the flags come from mk/gpu.mk); a kernel
#       fails on "N bytes stack frame" or "N bytes spill stores/loads" with N > 0.
# HIP:  hipcc -Rpass-analysis=kernel-resource-usage; fails on ScratchSize > 0 or a spill > 0.
# A missing nvcc skips the CUDA half with a notice; hipcc is installed from Debian if missing.
set -u
cd "$(dirname "$0")/.."
OUTDIR=${1:-build-ci-gpu}
mkdir -p "$OUTDIR"
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
fail=0
mkvar() { make -s --no-print-directory "$@" --eval='sc-print-%: ; @echo $($*)' ; }

# ---- CUDA --------------------------------------------------------------------------------------
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    FLAGS=$(mkvar GPU=cuda NVCC_ARCHS=all BUILD="$OUTDIR" sc-print-NVCC_FLAGS)
    echo "== CUDA: $NVCC $FLAGS"
    pids=()
    for f in src/gpu/*.cu; do
        b=$(basename "$f" .cu)
        ( "$NVCC" $FLAGS -Xptxas -v -c "$f" -o "$OUTDIR/$b.cuda.o" >"$OUTDIR/$b.ptxas.log" 2>&1;
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
if ! command -v hipcc >/dev/null 2>&1; then
    echo "== installing hipcc (Debian)"
    SUDO=; [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && SUDO=sudo
    $SUDO apt-get -y install hipcc >/dev/null 2>&1 || { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get -y install hipcc >/dev/null 2>&1; }
fi
if command -v hipcc >/dev/null 2>&1; then
    for arch in gfx1010 gfx1030; do
        FLAGS=$(mkvar GPU=hip HIP_ARCHS=$arch BUILD="$OUTDIR" sc-print-HIP_FLAGS)
        echo "== HIP $arch: hipcc $FLAGS"
        for f in src/gpu/*.cu; do
            b=$(basename "$f" .cu)
            ( hipcc $FLAGS -Rpass-analysis=kernel-resource-usage -c "$f" -o "$OUTDIR/$b.$arch.o" \
                >"$OUTDIR/$b.$arch.log" 2>&1; echo $? >"$OUTDIR/$b.$arch.rc" ) &
            while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
        done
        wait
        for f in src/gpu/*.cu; do
            b=$(basename "$f" .cu)
            if [ "$(cat "$OUTDIR/$b.$arch.rc")" != 0 ]; then
                echo "FAIL: hipcc $arch $f"; grep -E "error" "$OUTDIR/$b.$arch.log" | head -20; fail=1; continue
            fi
            awk -v file="$f" -v arch="$arch" '
                { sub(/ \[-Rpass-analysis=kernel-resource-usage\]/, "") }
                /remark: Function Name:/ { fn = $NF; n++ }
                /remark: +ScratchSize/ { if ($NF + 0 > 0) { print "FAIL: " arch " " file ": " fn ": scratch " $NF " bytes/lane"; bad = 1 } }
                /remark: +[SV]GPRs Spill:/ { if ($NF + 0 > 0) { print "FAIL: " arch " " file ": " fn ": " $0; bad = 1 } }
                END { printf "   %s %s: %d kernels checked\n", arch, file, n; exit bad }' \
                "$OUTDIR/$b.$arch.log" || fail=1
        done
    done
else
    echo "FAIL: hipcc is not available and could not be installed"; fail=1
fi

if [ $fail = 0 ]; then echo "gpu_build_check: OK (no spills, no local/scratch memory)"; else echo "gpu_build_check: FAILED"; fi
exit $fail
