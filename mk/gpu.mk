# GPU backend selection. GPU=auto|cuda|hip|none. Until the CUDA/HIP kernels land, every build
# uses src/gpu/gpu_none.c (no devices).
GPU ?= auto
EXTRA_LIB_SRCS += src/gpu/gpu_none.c
