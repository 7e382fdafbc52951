#!/usr/bin/env bash
# quickstart.sh - the main job on a fresh machine: install what is missing (as root), build,
# show the devices, verify 200 random configurations against the reference, and benchmark the
# ResNet-50 layers (batch 4) on the best backend present: a GPU when there is one, else the CPU.
# The build prints what it builds (`make config`: the GPU backend and architectures chosen for
# this machine, and why) and one line per file as it goes. make's variables come from the
# environment, e.g. `GPU=none ./quickstart.sh` or `GPU=cuda NVCC_ARCHS=all ./quickstart.sh`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh build
echo "== build: $(make -s --no-print-directory config 2>/dev/null | head -1)"
make -s --no-print-directory config >/dev/null # the reasons, on stderr
# Compiler lines shortened to the file they compile or link; everything else (warnings, errors)
# as make prints it.
make -j"$(nproc)" 2>&1 | awk '
    / -c [^ ]+ -o / { for (i = 1; i < NF; i++) if ($i == "-c") { print "   compile " $(i + 1); break }
                      fflush(); next }
    /^(cc|gcc|clang|g\+\+|[^ ]*nvcc|[^ ]*hipcc) .* -o [^ ]+/ {
        for (i = 1; i < NF; i++) if ($i == "-o") { print "   link    " $(i + 1); break }
        fflush(); next }
    /^(ln|rm|ar|sed) / { next }
    { print; fflush() }'
bin=${BUILD:-build}/safeconv
echo "== devices"
"$bin" info
echo "== verify: random configurations against the double-precision reference"
"$bin" verify --count 200
echo "== bench: ResNet-50 layers at batch 4"
"$bin" bench --suite bench/suites/public.csv --filter r50_ --batch 4
