# safeconv build. `make` builds the shared and static library, the `safeconv` command and
# safeconv.pc into $(BUILD). GPU support comes from mk/gpu.mk (nvcc or hipcc when present).
#
#   make                 library + command          make test       all CPU tests
#   make test-asan       tests under ASan+UBSan     make test-gpu   GPU tests (GPU machine)
#   make test-tsan       threaded tests under TSan  make fuzz       libFuzzer targets (mk/fuzz.mk)
#   make install PREFIX=/usr/local                  make uninstall  make clean
#   make config          what `make` would build here (GPU backend, architectures) and why
#   make wheel           a wheel of python/ with this build's library (BUILD/dist)
#
# BUILD selects the output folder, so several builds (asan, gpu) can sit side by side.

BUILD   ?= build
# Install folders (GNU names, upper case). Multiarch: LIBDIR=$(PREFIX)/lib/x86_64-linux-gnu.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
CC      ?= cc
SANITIZE ?=

VERSION_MAJOR := 0
VERSION       := 0.1.0
SONAME        := libsafeconv.so.$(VERSION_MAJOR)

OPT      ?= -O2
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
CFLAGS   += -std=c11 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter -fPIC \
            -fvisibility=hidden -pthread $(SANITIZE)
LDFLAGS  += -pthread $(SANITIZE)

# Debian's OpenBLAS: the header lives in /usr/include/<triplet>/openblas-pthread on Debian 12.
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null || pkg-config --cflags blas-openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
CPPFLAGS += $(BLAS_CFLAGS)

LDLIBS_CORE := $(BLAS_LIBS) -lm -ldl -lpthread

# Fragments add sources and rules: GPU_OBJS/GPU_LDLIBS (gpu.mk), GUARD_* (guard.mk), ...
GPU_OBJS   :=
GPU_LDLIBS :=
EXTRA_LIB_SRCS :=
EXTRA_LDLIBS :=
EXCLUDE_SRCS :=
include $(sort $(wildcard mk/*.mk))

# src/gpu/*.c is the GPU backend's planning half (plain C, in every build); its runtime half is
# the .cu files (mk/gpu.mk) or gpu_none.c.
LIB_SRCS := $(filter-out $(EXCLUDE_SRCS),$(sort $(wildcard src/common/*.c src/core/*.c src/cpu/*.c) \
              $(filter-out src/gpu/gpu_none.c,$(wildcard src/gpu/*.c))) $(EXTRA_LIB_SRCS))
LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS)) $(GPU_OBJS)
LDLIBS   := $(LDLIBS_CORE) $(EXTRA_LDLIBS) $(GPU_LDLIBS)

TOOL_SRCS := $(sort $(wildcard tools/*.c))
TEST_SRCS := $(sort $(wildcard tests/c/*.c))

SHLIB := $(BUILD)/libsafeconv.so.$(VERSION)
STLIB := $(BUILD)/libsafeconv.a
TOOL  := $(BUILD)/safeconv
TESTS := $(BUILD)/safeconv-tests

.PHONY: all lib test test-c test-python test-asan test-tsan test-gpu install uninstall wheel \
        config clean format format-check layer-ops
all: lib $(TOOL) $(BUILD)/safeconv.pc
lib: $(SHLIB) $(BUILD)/libsafeconv.so $(STLIB)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(SHLIB): $(LIB_OBJS)
	$(LINK_CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS)
$(BUILD)/libsafeconv.so: $(SHLIB)
	ln -sf libsafeconv.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@
$(STLIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

# The command and the tests link the static library: they run from the build tree unchanged.
$(TOOL): $(patsubst %.c,$(BUILD)/%.o,$(TOOL_SRCS)) $(STLIB)
	$(LINK_CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(TESTS): $(patsubst %.c,$(BUILD)/%.o,$(TEST_SRCS)) $(BUILD)/tools/check.o $(BUILD)/tools/suite.o \
          $(BUILD)/tools/args.o $(BUILD)/tools/cli.o $(STLIB)
	$(LINK_CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# safeconv.pc and the CMake package describe an installed copy: the install folders substituted,
# and the private libraries by name only (-l...), never the build host's folders (-L from
# OpenBLAS's pkg-config, CUDA's lib64): see safeconv.pc.in.
SC_LINK_NAMES := $(filter -l%,$(LDLIBS))
PC_PRIVATE_LIBS := $(SC_LINK_NAMES)
# The CMake static target: library names; CUDA's runtime is CUDA::cudart_static there.
CMAKE_PRIVATE_LIBS := $(patsubst -l%,%,$(filter-out -lcudart_static,$(SC_LINK_NAMES)))
SC_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
    -e 's|@SONAME@|$(SONAME)|g' \
    -e 's|@PRIVATE_LIBS@|$(PC_PRIVATE_LIBS)|g' -e 's|@CMAKE_PRIVATE_LIBS@|$(CMAKE_PRIVATE_LIBS)|g' \
    -e 's|@GPU_KIND@|$(GPU_KIND)|g'
$(BUILD)/safeconv.pc: safeconv.pc.in Makefile
	@mkdir -p $(BUILD)
	$(SC_SUBST) $< > $@

LINK_CC ?= $(CC)

# Tests. SC_TEST_ARGS passes options to the C runner (e.g. --count 300 --seed 1).
test: test-c test-python
# The GPU planner's promises, on the host with the C compiler alone (tests/gpu/plan_check.c);
# the experiment switches are read once per process, so it runs once per setting worth checking.
PLAN_CHECK := $(BUILD)/plan-check
$(PLAN_CHECK): tests/gpu/plan_check.c $(STLIB)
	$(LINK_CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STLIB) $(LDLIBS)

test-c: $(TESTS) $(TOOL) $(PLAN_CHECK) $(MMA_EMULATE)
	$(TESTS) $(SC_TEST_ARGS)
	$(CC) $(CFLAGS) -Iinclude -fsyntax-only bench/host_cost.c
	$(TOOL) verify --count 2000 --device cpu
	$(TOOL) verify --count 300 --device cpu --dtype f16
	$(TOOL) verify --count 300 --device cpu --dtype bf16
	$(TOOL) verify --count 200 --device cpu --shape-class stem --large 50
	$(TOOL) verify --count 200 --device cpu --shape-class fewc --large 30
	$(TOOL) verify --count 200 --device cpu --shape-class dws2 --large 30
	$(PYTHON) tests/cli/check.py $(BUILD)
	$(PLAN_CHECK) && SAFECONV_GPU_GEMM_SPLITS=4 $(PLAN_CHECK) && \
	    SAFECONV_GPU_GEMM_SPLITS=24 $(PLAN_CHECK) && SAFECONV_GPU_GEMM_SERIAL=0 $(PLAN_CHECK) && \
	    SAFECONV_GPU_GEMM_CC=1 $(PLAN_CHECK) && SAFECONV_GPU_GEMM_CFG=8 $(PLAN_CHECK) && \
	    SAFECONV_GPU_GEMM_CFG=9 $(PLAN_CHECK) && \
	    SAFECONV_GPU_WINOGRAD=1 $(PLAN_CHECK) && \
	    SAFECONV_GPU_WINOGRAD=1 SAFECONV_GPU_WINOGRAD_SPLITS=7 $(PLAN_CHECK) && \
	    SAFECONV_GPU_WINOGRAD=1 SAFECONV_GPU_WINOGRAD_BW_TILE=1 $(PLAN_CHECK) && \
	    SAFECONV_GPU_WINOGRAD=1 SAFECONV_GPU_WINOGRAD_BW_TILE=2 $(PLAN_CHECK) && \
	    SAFECONV_GPU_WINOGRAD=1 SAFECONV_GPU_WINOGRAD_BW_TILE=3 SAFECONV_GPU_WINOGRAD_SPLITS=5 \
	    $(PLAN_CHECK) && \
	    SAFECONV_GPU_WINOGRAD=1 SAFECONV_GPU_WINOGRAD_BW_TILE=0 SAFECONV_GPU_WINOGRAD_TILE=0 \
	    $(PLAN_CHECK) && \
	    SAFECONV_GPU_BIAS_SLICES=5 $(PLAN_CHECK) && SAFECONV_GPU_DW_SLICES=2000 $(PLAN_CHECK) && \
	    SAFECONV_GPU_GEMM_CFG=7 SAFECONV_GPU_GEMM_SPLITS=4 $(PLAN_CHECK) && \
	    SAFECONV_GPU_GEMM_PERSIST=64 $(PLAN_CHECK) && SAFECONV_GPU_SMALLC_BW=1 $(PLAN_CHECK) && \
	    SAFECONV_GPU_SMALLC_BW_SLICES=2000 $(PLAN_CHECK) && SAFECONV_GPU_DW_PLANE=0 $(PLAN_CHECK) && \
	    SAFECONV_GPU_GEMM_WGMMA_TF32BW=0 $(PLAN_CHECK) && SAFECONV_GPU_GEMM_WGMMA_N256=0 $(PLAN_CHECK)
	$(if $(MMA_EMULATE),$(MMA_EMULATE) 150)
test-python: lib
	@if [ -d python/tests ]; then tests/run_python_tests.sh $(BUILD); fi

test-asan:
	$(MAKE) BUILD=build-asan GPU=none OPT=-O1 \
	    SANITIZE="-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    build-asan/safeconv-tests build-asan/safeconv
	ASAN_OPTIONS=detect_leaks=1 build-asan/safeconv-tests --quick
	ASAN_OPTIONS=detect_leaks=1 build-asan/safeconv verify --count 100

# ThreadSanitizer over the C tests that run threads in one process. (The others fork, which
# TSan follows badly in a multi-threaded process, or have no second thread.)
TSAN_TESTS ?= threads_independent_contexts test_cache_threads
test-tsan:
	$(MAKE) BUILD=build-tsan GPU=none OPT=-O1 SANITIZE="-fsanitize=thread" build-tsan/safeconv-tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build-tsan/safeconv-tests --quick \
	    $(TSAN_TESTS)

# make install [PREFIX=...] [LIBDIR=...] [DESTDIR=...]: the library (shared with its soname links,
# and static), the header, the command, the benchmark suites (DATADIR/safeconv/suites, where an
# installed `safeconv bench --suite NAME` finds them), safeconv.pc and the CMake package
# (LIBDIR/cmake/safeconv: find_package(safeconv)). As root with no DESTDIR it then runs ldconfig,
# so programs find the new library at once (LDCONFIG= skips that). `make uninstall` with the same
# variables removes exactly these files.
LDCONFIG ?= ldconfig
SUITES := $(sort $(wildcard bench/suites/*.csv))
CMAKE_DIR := $(LIBDIR)/cmake/safeconv
INSTALLED := $(INCLUDEDIR)/safeconv.h $(LIBDIR)/libsafeconv.so.$(VERSION) $(LIBDIR)/$(SONAME) \
    $(LIBDIR)/libsafeconv.so $(LIBDIR)/libsafeconv.a $(BINDIR)/safeconv \
    $(LIBDIR)/pkgconfig/safeconv.pc $(CMAKE_DIR)/safeconvConfig.cmake \
    $(CMAKE_DIR)/safeconvConfigVersion.cmake $(addprefix $(DATADIR)/safeconv/suites/,$(notdir $(SUITES)))

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(CMAKE_DIR) $(DESTDIR)$(DATADIR)/safeconv/suites
	install -m 644 include/safeconv.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libsafeconv.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsafeconv.so
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/
	install -m 644 $(SUITES) $(DESTDIR)$(DATADIR)/safeconv/suites/
	$(SC_SUBST) safeconv.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/safeconv.pc
	$(SC_SUBST) cmake/safeconvConfig.cmake.in > $(DESTDIR)$(CMAKE_DIR)/safeconvConfig.cmake
	$(SC_SUBST) cmake/safeconvConfigVersion.cmake.in \
	    > $(DESTDIR)$(CMAKE_DIR)/safeconvConfigVersion.cmake
	$(if $(and $(LDCONFIG),$(if $(DESTDIR),,1)),@if [ "$$(id -u)" = 0 ] && \
	    command -v $(LDCONFIG) >/dev/null 2>&1; then echo $(LDCONFIG); $(LDCONFIG); fi)

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@rmdir $(DESTDIR)$(DATADIR)/safeconv/suites $(DESTDIR)$(DATADIR)/safeconv \
	    $(DESTDIR)$(CMAKE_DIR) $(DESTDIR)$(LIBDIR)/cmake 2>/dev/null || true

# make layer-ops: the PyTorch layer's C++ operators (python/safeconv/csrc/layer_ops.cpp) for the
# PyTorch of $(PYTHON), beside the package (docs/pytorch.md, "The C++ layer"). Not part of `make`:
# it needs PyTorch's C++ headers, and the package runs without it.
layer-ops:
	$(PYTHON) python/build_layer_ops.py

# make wheel: a wheel of the Python package that carries this build's library, in $(BUILD)/dist,
# tagged for this platform (python/setup.py); built from a copy of python/, offline, with the
# setuptools and wheel of $(PYTHON). Install it with pip; it needs no make install.
PYTHON ?= python3
wheel: $(SHLIB)
	rm -rf $(BUILD)/wheel-src $(BUILD)/dist && mkdir -p $(BUILD)/wheel-src $(BUILD)/dist
	cp -R python/pyproject.toml python/setup.py python/safeconv $(BUILD)/wheel-src/
	rm -rf $(BUILD)/wheel-src/safeconv/__pycache__ $(BUILD)/wheel-src/safeconv/libsafeconv.so* \
	    $(BUILD)/wheel-src/safeconv/_layer_ops-torch*
	cp -L $(SHLIB) $(BUILD)/wheel-src/safeconv/libsafeconv.so
	cd $(BUILD)/wheel-src && $(PYTHON) -m pip wheel -q --no-build-isolation --no-deps \
	    --no-index -w $(abspath $(BUILD)/dist) .
	@ls $(BUILD)/dist/*.whl

# What `make` builds on this machine, and why (the GPU detection of mk/gpu.mk). The first two
# lines are stable (./test.sh compares them before and after its run); the reasons go to stderr.
config:
	@echo "GPU=$(GPU) -> $(GPU_KIND)$(if $(filter cuda,$(GPU_KIND)), NVCC_ARCHS=$(NVCC_ARCHS))$(if $(filter hip,$(GPU_KIND)), HIP_ARCHS=$(HIP_ARCHS))"
	@echo "BUILD=$(BUILD) PREFIX=$(PREFIX) LIBDIR=$(LIBDIR) ONEDNN=$(ONEDNN)"
	@$(if $(filter auto,$(GPU)),scripts/detect_gpu.sh --explain auto "$(NVCC)" "$(HIPCC)" >/dev/null)
	@echo "other GPUs: GPU=cuda NVCC_ARCHS=\"sm_XX ...\" (or all: $(NVCC_ARCHS_ALL)); GPU=hip HIP_ARCHS=\"gfxNNNN ...\" (or all: $(HIP_ARCHS_ALL)); GPU=none: CPU only" >&2

# Formatting is clang-format's (.clang-format), not taste: format-check fails on any C, C++ or
# CUDA file of the tree that clang-format would change; format rewrites them.
FORMAT_FILES := $(sort $(wildcard include/*.h src/*/*.[ch] src/*/*.cu src/*/*.cuh src/*/*/*.cu \
                  src/*/*/*.cuh src/*/*/*.[ch] tools/*.[ch] tests/*/*.[ch] tests/*/*.cu \
                  bench/*.c python/safeconv/csrc/*.cpp))
CLANG_FORMAT ?= clang-format
format-check:
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES) && echo "format-check: $(words $(FORMAT_FILES)) files OK"
format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
