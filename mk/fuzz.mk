# Fuzzing with libFuzzer (clang; Debian: clang, libclang-rt-14-dev). `make fuzz` builds the
# library, the command's parsers and the fault vendor with clang under ASan + UBSan and
# coverage into build-fuzz/, then runs each target of tests/fuzz/ for FUZZ_SECONDS (default 60)
# on a copy of its seed corpus (tests/fuzz/corpus/NAME). It fails on a crash, a sanitizer
# report, a leak or a hang (an input running over FUZZ_TIMEOUT seconds); the log and the
# input that did it are left in build-fuzz/ (fuzz_NAME.log, crash-NAME-*). Replay one with
# `build-fuzz/fuzz_NAME FILE`.
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 20
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_TARGETS := dispatch cache args
FUZZ_SAN     := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
                -fno-omit-frame-pointer

# Built by the sub-make below (BUILD=build-fuzz, CC=clang, SANITIZE with fuzzer-no-link). This
# file is read before the Makefile defines STLIB and guard.mk FAULT_VENDOR: their paths here.
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/tools/args.o $(BUILD)/tools/suite.o \
                 $(BUILD)/tools/check.o $(BUILD)/libsafeconv.a | $(BUILD)/libsafeconv_fault_vendor.so
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< \
	    $(filter %.o %.a,$^) $(LDLIBS)

.PHONY: fuzz fuzz-build
fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) GPU=none CC=$(FUZZ_CC) OPT=-O1 \
	    SANITIZE="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	    $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    corpus=$(FUZZ_BUILD)/corpus-$$t; rm -rf $$corpus; mkdir -p $$corpus; \
	    cp tests/fuzz/corpus/$$t/* $$corpus/; \
	    log=$(FUZZ_BUILD)/fuzz_$$t.log; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS) s on $$(ls $$corpus | wc -l) seeds"; \
	    if ! ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=3072 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- $$corpus > $$log 2>&1; then \
	        tail -n 60 $$log; echo "fuzz_$$t FAILED (log: $$log)"; exit 1; fi; \
	    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" $$log | tr '\n' ' '; echo; \
	done
