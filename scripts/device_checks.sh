#!/usr/bin/env bash
# device_checks.sh STAGES - the lead's checks on the GPU machine (logs under $OUT), after
# `tests/gpu/run_device.sh build` has made build-gpu there:
#   doctor  safeconv doctor on the GPU machine (docs/guard.md shows it)
#   probe   probe the public suite through the real cuDNN in child processes; then a second
#           probe that must be answered from the cache; the cache as a table
#   python  the PyTorch layer's GPU checks (python/gpu_checks.sh: tests, compare, bench)
# Carry .devdeps (sqlite3.h and libsqlite3.so: the device image has no libsqlite3-dev).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
SC=build-gpu/safeconv
export LD_LIBRARY_PATH="$PWD/.devdeps/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export SAFECONV_CACHE_DIR=$OUT/cache PYTHONUNBUFFERED=1
if [ -z "${SAFECONV_CUDNN_LIBRARY:-}" ] && ! ldconfig -p | grep -q libcudnn.so.9; then
    lib=$(find / -name 'libcudnn.so.9' -not -path '/proc/*' 2>/dev/null | head -1)
    [ -n "$lib" ] && export SAFECONV_CUDNN_LIBRARY=$lib && echo "cuDNN: $lib"
fi
for st in ${1:-"doctor probe python"}; do
case $st in
doctor) $SC doctor | tee "$OUT/doctor.txt" ;;
probe)
    t0=$(date +%s)
    timeout ${PROBE_T:-420} $SC probe --suite bench/suites/public.csv --device 0 --watchdog 60 \
        2>"$OUT/probe_progress.txt" | tee "$OUT/probe_cudnn.txt"
    echo "probe: $(( $(date +%s) - t0 )) s"
    $SC probe --suite bench/suites/public.csv --device 0 2>&1 | tail -3 | tee "$OUT/probe_again.txt"
    $SC cache show --device 0 >"$OUT/cache_show.txt" 2>&1 ;;
python) python/gpu_checks.sh "${PY_STAGES:-tests compare bench}" build-gpu ;;
esac
done
