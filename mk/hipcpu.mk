# The HIP build's source run on the CPU against HIP-CPU (AMD's header-only HIP runtime for CPUs),
# verified there: tests/hipcpu/run.sh, docs/gpu.md ("The HIP source on the CPU"). Its own build
# folder; skipped with a message where HIP-CPU (HIPCPU_DIR) or TBB is missing.
#   make test-hip-cpu [HIPCPU_DIR=<a HIP-CPU checkout>]
HIPCPU_DIR ?= third_party/hip-cpu

# This fragment is read before the Makefile defines `all`: keep `all` the default goal.
.DEFAULT_GOAL := all

.PHONY: test-hip-cpu
test-hip-cpu:
	HIPCPU_DIR="$(HIPCPU_DIR)" tests/hipcpu/run.sh build-hipcpu
