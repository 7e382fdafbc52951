#!/usr/bin/env bash
# profile.sh - Nsight Compute on the GEMM kernels of one suite shape (GPU machine):
#   tests/gpu/profile.sh SHAPE_FILTER [launch-count]   -> $OUT/ncu_SHAPE.txt
# The first gemm_kernel launches of compare.py are forward, backward-data, backward-weight.
set -u
OUT=${OUT:-/tmp/out}
f=$1; n=${2:-3}
if [ -d .devdeps ]; then export LD_LIBRARY_PATH="$PWD/.devdeps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
timeout 240 ncu --clock-control none -k regex:'gemm_kernel|dw_|smallc' -c "$n" \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section SchedulerStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
    --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' \
    python3 bench/compare.py --lib build-gpu/libsafeconv.so --filter "$f" --methods safeconv \
    --repeat 1 >"$OUT/ncu_$f.txt" 2>&1
echo "ncu $f rc=$?"
grep -E "gemm_kernel|dw_|smallc|Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|No Eligible|Stall|Executed Ipc A|L1/TEX Hit|Block Limit Reg|Theoretical Occ|issue_stalled" "$OUT/ncu_$f.txt" | cut -c1-150 | head -${NCU_LINES:-60}
