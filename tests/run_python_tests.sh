#!/bin/sh
# run_python_tests.sh BUILD [pytest args...] - the PyTorch layer's tests against BUILD/libsafeconv.so
# with Debian's Python (/usr/bin/python3, which has torch). `make test-python` calls it.
# Fails when the library is missing, when pytest collects no tests (its exit code 5), or on any
# failure. PYTHON overrides the interpreter (e.g. a venv with a CUDA PyTorch on a GPU machine).
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
python=${PYTHON:-/usr/bin/python3}
SAFECONV_LIBRARY=$lib PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -q -p no:cacheprovider "$root/python/tests" "$@"
rc=$?
if [ $rc -eq 5 ]; then
    echo "run_python_tests.sh: pytest collected no tests: failing" >&2
    exit 1
fi
exit $rc
