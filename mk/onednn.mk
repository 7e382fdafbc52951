# oneDNN route of the CPU backend (src/cpu/onednn): built when oneDNN's C header compiles
# (Debian: libdnnl-dev, installed by scripts/deps.sh) unless the build says ONEDNN=0; it then
# replaces src/cpu/cpu_onednn_none.c. oneDNN is linked (-ldnnl); Debian's build runs on OpenMP,
# whose per-thread count the route sets per call, hence -lgomp.
# (the '#' comes from a variable: make before 4.3 keeps a '\#' inside $(shell) as is)
sc_hash := \#
ONEDNN ?= $(shell printf '%sinclude <oneapi/dnnl/dnnl.h>\n' '$(sc_hash)' | $(CC) $(CPPFLAGS) -E -x c - \
            >/dev/null 2>&1 && echo 1 || echo 0)

ifeq ($(ONEDNN),1)
EXTRA_LIB_SRCS += $(wildcard src/cpu/onednn/*.c)
EXCLUDE_SRCS += src/cpu/cpu_onednn_none.c
EXTRA_LDLIBS += -ldnnl -lgomp
endif
