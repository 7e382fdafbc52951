# GPU backend selection: GPU=auto|cuda|hip|none. The kernels in src/gpu/*.cu are one source for
# both compilers (src/gpu/compat.h).
#
#   auto: what this machine can run (scripts/detect_gpu.sh): cuda when nvcc is found AND an
#         NVIDIA GPU answers through its driver, hip when hipcc is found AND an AMD GPU is
#         present, otherwise none. A compiler alone selects nothing: a build machine without a
#         GPU builds the CPU backend unless GPU=cuda or GPU=hip says otherwise.
#   CUDA: nvcc compiles src/gpu/*.cu for NVCC_ARCHS (machine code for each sm_XX, plus PTX for
#         each compute_XX) and the CUDA runtime is linked STATICALLY (-lcudart_static), so
#         libsafeconv.so needs no libcudart at run time and loads on a machine without a GPU
#         or driver (it then reports 0 devices).
#   HIP:  hipcc --offload-arch for each of HIP_ARCHS; links libamdhip64.
#   none: src/gpu/gpu_none.c (no devices).
#
# Architectures: by default those of the GPUs present (one arch compiles in a fraction of the
# time of six); with no GPU present, or with NVCC_ARCHS=all / HIP_ARCHS=all, the documented lists
# NVCC_ARCHS_ALL / HIP_ARCHS_ALL. `make config` prints what a build would use, and why.
#
# Examples: make BUILD=build-gpu GPU=cuda NVCC_ARCHS=sm_90 -j16
#           make GPU=cuda NVCC_ARCHS=all              # every documented NVIDIA arch
#           make BUILD=build-hip GPU=hip HIP_ARCHS="gfx1010 gfx1030"
GPU ?= auto
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || ( test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc ))
HIPCC ?= $(shell command -v hipcc 2>/dev/null)
NVCC_ARCHS_ALL := sm_75 sm_80 sm_86 sm_89 sm_90 compute_90
# gfx1100 (RDNA3) is not in the list: Debian 12's ROCm 5.2 ships no gfx1100 device libraries, so
# hipcc there cannot build it; with ROCm >= 5.3 add it: HIP_ARCHS="... gfx1100".
HIP_ARCHS_ALL := gfx1010 gfx1012 gfx1030
GPU_OPT ?= -O3

# --- detection (GPU=auto, and the default architectures) ----------------------------------------
# Skipped for goals that build nothing and for GPU=none. SC_GPU_DETECTED: "KIND [ARCH...]".
SC_NO_DETECT_GOALS := clean format format-check
ifeq ($(filter auto cuda hip,$(GPU)),)
  SC_GPU_DETECTED := none
else ifeq ($(MAKECMDGOALS),)
  SC_GPU_DETECTED := $(shell scripts/detect_gpu.sh $(GPU) "$(NVCC)" "$(HIPCC)")
else ifneq ($(filter-out $(SC_NO_DETECT_GOALS),$(MAKECMDGOALS)),)
  SC_GPU_DETECTED := $(shell scripts/detect_gpu.sh $(GPU) "$(NVCC)" "$(HIPCC)")
else
  SC_GPU_DETECTED := none
endif
ifeq ($(GPU),auto)
  GPU_KIND := $(word 1,$(SC_GPU_DETECTED))
else
  GPU_KIND := $(GPU)
endif
SC_GPU_FOUND_FOR = $(if $(filter $(1),$(GPU_KIND)),$(if $(filter $(1),$(word 1,$(SC_GPU_DETECTED))),$(wordlist 2,99,$(SC_GPU_DETECTED))))
NVCC_ARCHS ?= $(or $(call SC_GPU_FOUND_FOR,cuda),$(NVCC_ARCHS_ALL))
HIP_ARCHS ?= $(or $(call SC_GPU_FOUND_FOR,hip),$(HIP_ARCHS_ALL))
ifeq ($(strip $(NVCC_ARCHS)),all)
  override NVCC_ARCHS := $(NVCC_ARCHS_ALL)
endif
ifeq ($(strip $(HIP_ARCHS)),all)
  override HIP_ARCHS := $(HIP_ARCHS_ALL)
endif
# --------------------------------------------------------------------------------------------------

GPU_SRCS := $(sort $(wildcard src/gpu/*.cu))
GPU_HDRS := $(wildcard src/gpu/*.h src/gpu/*.cuh src/gpu/gemm/*.cuh src/gpu/mma/*.cuh src/common/*.h) \
            include/safeconv.h

# The matrix-unit GEMM's index math emulated on the host (tests/gpu/mma_emulate.cu; make test-c):
# nvcc compiles it as host code, whatever GPU backend this build has; no nvcc, no test.
ifneq ($(strip $(NVCC)),)
  MMA_EMULATE := $(BUILD)/mma-emulate
  $(MMA_EMULATE): tests/gpu/mma_emulate.cu $(BUILD)/libsafeconv.a $(wildcard src/gpu/mma/*.cuh) \
	    src/gpu/winograd.cuh src/gpu/winograd.h
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
  # Hopper's wgmma exists only in the arch-specific target sm_90a: gemm_wgmma.cu,
  # winograd_bw_wg.cu and winograd_wg.cu are compiled for it in place of sm_90 (their machine code
  # then runs on sm_90 devices alone, and only there does the planner use it), and told so by
  # SC_WGMMA_SM90A.
  NVCC_GENCODE_WGMMA := $(subst arch=compute_90$(sc_comma)code=sm_90,arch=compute_90a$(sc_comma)code=sm_90a,$(NVCC_GENCODE))
  $(BUILD)/src/gpu/gemm_wgmma.o $(BUILD)/src/gpu/winograd_bw_wg.o $(BUILD)/src/gpu/winograd_wg.o: $(BUILD)/src/gpu/%.o: src/gpu/%.cu $(GPU_HDRS)
	@mkdir -p $(dir $@)
	$(NVCC) $(subst $(NVCC_GENCODE),$(NVCC_GENCODE_WGMMA),$(NVCC_FLAGS)) \
	    -DSC_WGMMA_SM90A=$(if $(filter sm_90,$(NVCC_ARCHS)),1,0) $(NVCC_EXTRA) -c $< -o $@
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

# --- a change of GPU compiler or flags rebuilds the GPU objects ---------------------------------
# The architectures now depend on the machine (and NVCC_ARCHS=all on the command line): without
# this, `make NVCC_ARCHS=all` after a build for the present GPU kept its one-arch objects.
# $(BUILD)/gpu.flags holds the compile line; it is rewritten (newer) only when that changes.
SC_GPU_FLAGS_NOW = $(GPU_KIND) $(if $(filter cuda,$(GPU_KIND)),$(NVCC) $(NVCC_FLAGS) $(NVCC_EXTRA)) \
                   $(if $(filter hip,$(GPU_KIND)),$(HIPCC) $(HIP_FLAGS) $(HIP_EXTRA))
ifneq ($(strip $(GPU_OBJS)),)
$(GPU_OBJS): $(BUILD)/gpu.flags
$(BUILD)/gpu.flags: sc-gpu-flags-force
	@mkdir -p $(dir $@)
	@echo '$(strip $(SC_GPU_FLAGS_NOW))' | cmp -s - $@ || echo '$(strip $(SC_GPU_FLAGS_NOW))' > $@
.PHONY: sc-gpu-flags-force
sc-gpu-flags-force:
endif
