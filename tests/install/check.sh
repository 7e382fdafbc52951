#!/usr/bin/env bash
# check.sh BUILD - `make install` of BUILD into a temporary prefix (with a multiarch LIBDIR), then,
# as a user would:
#   - pkg-config: build tests/install/consumer.c against the shared library (run through the
#     soname) and statically (pkg-config --static), run both; Libs.private names no folder of
#     this machine (-L...);
#   - CMake: tests/install/CMakeLists.txt, find_package(safeconv 0.1) (and a version it must
#     refuse), the shared and the static imported targets, run both;
#   - the installed `safeconv bench` finds the installed suites by name;
#   - `make uninstall` removes every file install put there.
# A CUDA build's static consumers also need CUDA's lib64 (-L$CUDA_HOME/lib64, CUDAToolkit): set
# CUDA_HOME when it is not /usr/local/cuda.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
libdir=$prefix/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
vars=(BUILD="$build" PREFIX="$prefix" LIBDIR="$libdir" LDCONFIG=)
command -v cmake >/dev/null || { echo "check.sh: cmake not found (scripts/deps.sh test installs it)" >&2; exit 1; }
make -s "${vars[@]}" install >/dev/null
gpu=$(sed -n 's/^set(safeconv_GPU "\(.*\)")$/\1/p' "$libdir/cmake/safeconv/safeconvConfig.cmake")
cuda_l=()
[ "$gpu" = cuda ] && cuda_l=(-L"${CUDA_HOME:-/usr/local/cuda}/lib64")

# --- pkg-config -----------------------------------------------------------------------------
export PKG_CONFIG_PATH="$libdir/pkgconfig"
test -L "$libdir/libsafeconv.so.0"
readelf -d "$libdir/libsafeconv.so.0" | grep -q 'SONAME.*libsafeconv.so.0'
private=$(sed -n 's/^Libs.private: *//p' "$libdir/pkgconfig/safeconv.pc")
case " $private " in *" -L"* | *"/"*)
    echo "check.sh: Libs.private names a folder of the build machine: $private" >&2
    exit 1 ;;
esac
cc -std=c11 $(pkg-config --cflags safeconv) tests/install/consumer.c -o "$tmp/consumer" \
    $(pkg-config --libs safeconv) -lm
LD_LIBRARY_PATH="$libdir" "$tmp/consumer"
static_libs=$(pkg-config --static --libs safeconv | sed "s|-lsafeconv|$libdir/libsafeconv.a|")
cc -std=c11 $(pkg-config --cflags safeconv) tests/install/consumer.c -o "$tmp/consumer-static" \
    $static_libs "${cuda_l[@]}" -lm
"$tmp/consumer-static"
echo "install check: pkg-config consumers ok"

# --- CMake ----------------------------------------------------------------------------------
cmake -S tests/install -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    ${CUDA_HOME:+-DCUDAToolkit_ROOT="$CUDA_HOME"} >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
grep -- '-- safeconv' "$tmp/cmake.log"
"$tmp/cmake/consumer"
"$tmp/cmake/consumer-static"
echo "install check: CMake consumers ok"

# --- the installed command finds the installed suites ---------------------------------------
"$prefix/bin/safeconv" bench --suite public --filter r50_conv1 --batch 1 --device cpu >"$tmp/bench.txt"
grep -q 'r50_conv1' "$tmp/bench.txt"
echo "install check: installed safeconv bench --suite public ok"

# --- uninstall ------------------------------------------------------------------------------
make -s "${vars[@]}" uninstall >/dev/null
left=$(find "$prefix" -type f -o -type l)
if [ -n "$left" ]; then
    echo "check.sh: make uninstall left:" >&2
    echo "$left" >&2
    exit 1
fi
echo "install check: ok"
