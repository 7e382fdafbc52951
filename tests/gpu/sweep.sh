#!/usr/bin/env bash
# sweep.sh - time every GEMM tile configuration (SAFECONV_GPU_GEMM_CFG=0..8, split chosen by
# the heuristic) on a few suite shapes, to calibrate the heuristic. GPU machine; -> $OUT/sweep.txt
set -u
OUT=${OUT:-/tmp/out}
F=${SWEEP_FILTER:-"r50_l2_3x3_128 r50_l1_3x3_64 r50_l3_3x3_256 r50_l4_3x3_512 r50_l2_down seed_64to128 yolo_head"}
if [ -d .devdeps ]; then export LD_LIBRARY_PATH="$PWD/.devdeps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
: >"$OUT/sweep.txt"
for cfg in auto 0 1 2 3 4 5 6 7 8; do
    for f in $F; do
        if [ $cfg = auto ]; then unset SAFECONV_GPU_GEMM_CFG; else export SAFECONV_GPU_GEMM_CFG=$cfg; fi
        SAFECONV_GPU_DEBUG=1 timeout 60 python3 bench/compare.py --lib build-gpu/libsafeconv.so \
            --filter "$f" --methods safeconv --repeat 5 2>&1 |
            awk -v cfg=$cfg '/^[a-z0-9_]+ *$/ {shape=$1} /\[fwd\]|\[bwd_data\]|\[bwd_weight\]/ {print "cfg", cfg, shape, $1, $3}' >>"$OUT/sweep.txt"
    done
done
python3 - "$OUT/sweep.txt" <<'PY'
import sys, collections
t = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    v = line.split()
    if len(v) >= 5: t[(v[2], v[3])][v[1]] = float(v[4].replace("ms", ""))
cfgs = ["auto", "0", "1", "2", "3", "4", "5", "6", "7", "8"]
print(f"{'shape':26s} {'dir':12s} " + " ".join(f"{c:>7s}" for c in cfgs))
for k in sorted(t):
    print(f"{k[0]:26s} {k[1]:12s} " + " ".join(f"{t[k].get(c, float('nan')):7.3f}" for c in cfgs))
PY
