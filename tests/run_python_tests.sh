#!/bin/sh
# run_python_tests.sh BUILD [pytest args...] - the PyTorch layer's tests against BUILD/libsafeconv.so
# with Debian's Python (/usr/bin/python3, which has torch). `make test-python` calls it.
# Fails when the library is missing, when the C++ layer does not build, when pytest collects no
# tests (its exit code 5), or on any failure. PYTHON overrides the interpreter (e.g. a venv
# with a CUDA PyTorch on a GPU machine).
# Extra arguments go to pytest (e.g. -k cuda -x).
set -u
build=${1:-build}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
lib=$build/libsafeconv.so
if [ ! -e "$lib" ]; then
    echo "run_python_tests.sh: $lib not found (build it with: make BUILD=$(basename "$build") lib)" >&2
    exit 2
fi
# Debian's /usr/bin/python3 (CI) unless PYTHON says otherwise; on a machine where it has no
# torch but the `python3` on PATH does (the GPU machine's image), that one is used.
python=${PYTHON:-/usr/bin/python3}
if [ -z "${PYTHON:-}" ] && ! "$python" -c "import torch" 2>/dev/null; then
    if command -v python3 >/dev/null && python3 -c "import torch, pytest" 2>/dev/null; then
        python=$(command -v python3)
        echo "run_python_tests.sh: /usr/bin/python3 has no torch; using $python" >&2
    fi
fi
# The C++ layer (python/safeconv/csrc/layer_ops.cpp) for this interpreter's PyTorch, rebuilt
# when stale; the tests run with it on and require it (test_cpp_layer.py). SAFECONV_CPP_LAYER=0
# tests the Python layer alone and builds nothing.
if [ "${SAFECONV_CPP_LAYER:-1}" != 0 ]; then
    "$python" "$root/python/build_layer_ops.py" --if-stale >/dev/null || {
        echo "run_python_tests.sh: the C++ layer did not build (see above): install PyTorch's" \
            "C++ headers (Debian: libtorch-dev), or run with SAFECONV_CPP_LAYER=0 to test" \
            "the Python layer alone" >&2
        exit 1
    }
    export SAFECONV_REQUIRE_CPP_LAYER=1
fi
SAFECONV_LIBRARY=$lib PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -q -p no:cacheprovider "$root/python/tests" "$@"
rc=$?
if [ $rc -eq 5 ]; then
    echo "run_python_tests.sh: pytest collected no tests: failing" >&2
    exit 1
fi
exit $rc
