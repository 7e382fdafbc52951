#!/usr/bin/env bash
# check.sh BUILD - `make install` into a temporary prefix, then build tests/install/consumer.c
# against it with pkg-config, once against the shared library (run through the soname) and
# once statically, and run both.
set -euo pipefail
build=${1:-build}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make -s BUILD="$build" install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
test -L "$prefix/lib/libsafeconv.so.0"
cc -std=c11 $(pkg-config --cflags safeconv) tests/install/consumer.c -o "$prefix/consumer" \
    $(pkg-config --libs safeconv) -lm
LD_LIBRARY_PATH="$prefix/lib" "$prefix/consumer"
readelf -d "$prefix/lib/libsafeconv.so.0" | grep -q 'SONAME.*libsafeconv.so.0'
static_libs=$(pkg-config --static --libs safeconv | sed "s|-lsafeconv|$prefix/lib/libsafeconv.a|")
cc -std=c11 $(pkg-config --cflags safeconv) tests/install/consumer.c -o "$prefix/consumer-static" \
    $static_libs -lm
"$prefix/consumer-static"
echo "install check: ok"
