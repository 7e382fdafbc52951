#!/usr/bin/env bash
# test.sh - every test that runs without a GPU: install what is missing (as root), build, run
# the C suite and `safeconv verify`, the Python suite (Debian's PyTorch on the CPU), the C
# suite again under AddressSanitizer + UndefinedBehaviorSanitizer, the threaded C tests under
# ThreadSanitizer, the libFuzzer targets for a short while (tests/fuzz), and the GPU build checks
# (CUDA and HIP objects compile, no register spills) when those scripts exist.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh test
jobs=$(nproc)
echo "== format (clang-format)"
make format-check
echo "== build"
make -j"$jobs"
echo "== C tests and verify"
make test-c
echo "== Python tests"
make test-python
echo "== install check (make install + pkg-config consumer)"
tests/install/check.sh build
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
echo "== all tests passed"
