#!/usr/bin/env bash
# quickstart.sh - the main job on a fresh machine: install what is missing (as root), build,
# show the devices, verify 200 random configurations against the reference, and benchmark the
# ResNet-50 layers (batch 4) on the best backend present: a GPU when there is one, else the CPU.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh build
make -j"$(nproc)" >/dev/null
echo "== devices"
build/safeconv info
echo "== verify: random configurations against the double-precision reference"
build/safeconv verify --count 200
echo "== bench: ResNet-50 layers at batch 4"
build/safeconv bench --suite bench/suites/public.csv --filter r50_ --batch 4
