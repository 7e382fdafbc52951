# Guarded vendor route and selection cache (src/guard, src/vendorlib): replaces guard_none.c.
# Vendor libraries (cuDNN, MIOpen) are dlopen'ed at run time: nothing to link but SQLite.
# The fault-injection vendor plugin of the tests is built next to the test runner, which
# finds it there (tests/c/test_probe*.c).
EXTRA_LIB_SRCS += $(wildcard src/guard/*.c src/vendorlib/*.c)
EXCLUDE_SRCS += src/core/guard_none.c
EXTRA_LDLIBS += -lsqlite3

# This fragment is read before the Makefile defines `all`: keep `all` the default goal.
.DEFAULT_GOAL := all

FAULT_VENDOR := $(BUILD)/libsafeconv_fault_vendor.so
$(FAULT_VENDOR): tests/fault_vendor/fault_vendor.c src/vendorlib/vendor_abi.h include/safeconv.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -shared $(LDFLAGS) -o $@ $< -lm

.PHONY: fault-vendor
fault-vendor: $(FAULT_VENDOR)
test-c: $(FAULT_VENDOR)
# Whoever builds the test runner (test-asan, a GPU run) gets the plugin next to it too.
$(BUILD)/safeconv-tests: | $(FAULT_VENDOR)
