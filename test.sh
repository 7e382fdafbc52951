#!/usr/bin/env bash
# test.sh - every test that runs without a GPU: install what is missing (as root), build, run
# the C suite and `safeconv verify`, the Python suite (Debian's PyTorch on the CPU), the C
# suite again under AddressSanitizer + UndefinedBehaviorSanitizer, the threaded C tests under
# ThreadSanitizer, the libFuzzer targets for a short while (tests/fuzz), the GPU build checks
# (CUDA and HIP objects compile, no register spills, AMD limits) when those scripts exist, and
# the HIP source run on the CPU against HIP-CPU (make test-hip-cpu; skipped when HIP-CPU is absent).
# It builds what `make` builds on this machine (GPU=auto: a GPU backend only for a GPU present,
# scripts/detect_gpu.sh) and leaves that choice as it found it: the compilers it installs for the
# build checks (hipcc) select nothing, and the last step checks `make config` did not change.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh build
config_before=$(make -s --no-print-directory config 2>/dev/null) # before hipcc is installed
scripts/deps.sh test
jobs=$(nproc)
echo "== configuration: $(head -1 <<<"$config_before")"
echo "== build configuration checks (GPU detection)"
tests/build/detect_gpu_test.sh >/dev/null
echo "== format (clang-format)"
make format-check
echo "== build"
make -j"$jobs"
echo "== C tests and verify"
make test-c
echo "== Python tests"
make test-python
echo "== new user (make install, pip install, the README's snippet, pkg-config + CMake consumers, wheel)"
tests/newuser/check.sh --host build
echo "== sanitizers (ASan + UBSan)"
make -j"$jobs" test-asan
echo "== ThreadSanitizer (the threaded C tests)"
make -j"$jobs" test-tsan
echo "== fuzzing (libFuzzer: dispatch, cache file reader, argument parsers; 20 s each)"
make -j"$jobs" fuzz FUZZ_SECONDS=20
if [ -x .ci/gpu_build_check.sh ]; then
    echo "== GPU build checks (no GPU needed)"
    .ci/gpu_build_check.sh
fi
echo "== the HIP source run on the CPU (HIP-CPU; skipped when absent)"
make test-hip-cpu
config_after=$(make -s --no-print-directory config 2>/dev/null)
if [ "$config_before" != "$config_after" ]; then
    echo "FAIL: the tests changed what \`make\` builds here:" >&2
    echo "  before: $config_before" >&2
    echo "  after:  $config_after" >&2
    exit 1
fi
echo "== all tests passed"
