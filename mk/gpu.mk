# GPU backend selection: GPU=auto|cuda|hip|none (default auto: nvcc if found, else hipcc, else
# none). The kernels in src/gpu/*.cu are one source for both compilers (src/gpu/compat.h).
#
#   CUDA: nvcc compiles src/gpu/*.cu for NVCC_ARCHS (machine code for each sm_XX, plus PTX for
#         each compute_XX) and the CUDA runtime is linked STATICALLY (-lcudart_static), so
#         libsafeconv.so needs no libcudart at run time and loads on a machine without a GPU
#         or driver (it then reports 0 devices).
#   HIP:  hipcc --offload-arch for each of HIP_ARCHS; links libamdhip64.
#   none: src/gpu/gpu_none.c (no devices).
#
# Examples: make BUILD=build-gpu GPU=cuda NVCC_ARCHS=sm_90 -j16
#           make BUILD=build-hip GPU=hip HIP_ARCHS="gfx1010 gfx1030"
GPU ?= auto
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || ( test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc ))
HIPCC ?= $(shell command -v hipcc 2>/dev/null)
NVCC_ARCHS ?= sm_75 sm_80 sm_86 sm_89 sm_90 compute_90
# gfx1100 (RDNA3) is not in the default: Debian 12's ROCm 5.2 ships no gfx1100 device
# libraries, so hipcc there cannot build it; with ROCm >= 5.3 add it: HIP_ARCHS="... gfx1100".
HIP_ARCHS ?= gfx1010 gfx1012 gfx1030
GPU_OPT ?= -O3

ifeq ($(GPU),auto)
  ifneq ($(strip $(NVCC)),)
    GPU_KIND := cuda
  else ifneq ($(strip $(HIPCC)),)
    GPU_KIND := hip
  else
    GPU_KIND := none
  endif
else
  GPU_KIND := $(GPU)
endif

GPU_SRCS := $(sort $(wildcard src/gpu/*.cu))
GPU_HDRS := $(wildcard src/gpu/*.h src/gpu/gemm/*.cuh src/common/*.h) include/safeconv.h

# The matrix-unit GEMM's index math emulated on the host (tests/gpu/mma_emulate.cu; make test-c):
# nvcc compiles it as host code, whatever GPU backend this build has; no nvcc, no test.
ifneq ($(strip $(NVCC)),)
  MMA_EMULATE := $(BUILD)/mma-emulate
  $(MMA_EMULATE): tests/gpu/mma_emulate.cu $(BUILD)/libsafeconv.a $(wildcard src/gpu/mma/*.cuh)
	$(NVCC) -O2 -std=c++17 -Iinclude -Isrc -Isrc/gpu -D_GNU_SOURCE -o $@ $< $(BUILD)/libsafeconv.a \
	    $(LDLIBS_CORE) $(EXTRA_LDLIBS) -lstdc++
endif

ifeq ($(GPU_KIND),cuda)
  ifeq ($(strip $(NVCC)),)
    $(error GPU=cuda but nvcc was not found (set NVCC or CUDA_HOME))
  endif
  # sm_XX -> machine code; compute_XX -> PTX for later chips.
  sc_comma := ,
  NVCC_GENCODE := $(foreach a,$(NVCC_ARCHS),$(if $(filter sm_%,$(a)),-gencode arch=compute_$(patsubst sm_%,%,$(a))$(sc_comma)code=$(a),-gencode arch=$(a)$(sc_comma)code=$(a)))
  NVCC_FLAGS ?= $(GPU_OPT) -std=c++17 $(NVCC_GENCODE) -Xcompiler -fPIC,-fvisibility=hidden \
                -Iinclude -Isrc -Isrc/gpu -D_GNU_SOURCE
  GPU_OBJS := $(patsubst %.cu,$(BUILD)/%.o,$(GPU_SRCS))
  GPU_LDLIBS := -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib64/stubs -lcudart_static -lrt -ldl -lpthread -lstdc++
  $(BUILD)/src/gpu/%.o: src/gpu/%.cu $(GPU_HDRS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) $(NVCC_EXTRA) -c $< -o $@
else ifeq ($(GPU_KIND),hip)
  ifeq ($(strip $(HIPCC)),)
    $(error GPU=hip but hipcc was not found)
  endif
  HIP_FLAGS ?= $(GPU_OPT) -std=c++17 -x hip $(foreach a,$(HIP_ARCHS),--offload-arch=$(a)) -fPIC \
               -fvisibility=hidden -Iinclude -Isrc -Isrc/gpu -D_GNU_SOURCE
  GPU_OBJS := $(patsubst %.cu,$(BUILD)/%.o,$(GPU_SRCS))
  GPU_LDLIBS := -lamdhip64 -lstdc++
  $(BUILD)/src/gpu/%.o: src/gpu/%.cu $(GPU_HDRS)
	@mkdir -p $(dir $@)
	$(HIPCC) $(HIP_FLAGS) $(HIP_EXTRA) -c $< -o $@
else ifeq ($(GPU_KIND),none)
  EXTRA_LIB_SRCS += src/gpu/gpu_none.c
else
  $(error GPU=$(GPU): expected auto, cuda, hip or none)
endif
