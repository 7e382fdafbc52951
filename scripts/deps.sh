#!/usr/bin/env bash
# deps.sh [build|test] - make sure the Debian packages safeconv needs are installed.
# As root: installs what is missing with apt-get. Otherwise: prints the apt line and fails.
#   build: compiler, OpenBLAS, SQLite, oneDNN (what `make` needs; without libdnnl-dev the
#          CPU backend builds without its oneDNN route)
#   test:  + PyTorch (Debian's 1.13, CPU), pytest, numpy, hipcc for the HIP build check (it
#          does not make `make` build HIP: mk/gpu.mk wants an AMD GPU too), clang-format for the
#          format check, clang and its runtimes (libFuzzer) for make fuzz, cmake for the CMake
#          consumer of the install check, venv and pip for the new-user check
#          (tests/newuser/check.sh: pip install of python/ in a venv), g++ and TBB for the
#          HIP-CPU run (make test-hip-cpu), PyTorch's C++ headers (libtorch-dev) for the C++
#          layer the Python tests build (make layer-ops)
set -euo pipefail
what=${1:-build}
pkgs=(gcc make pkg-config libopenblas-dev libsqlite3-dev libdnnl-dev)
if [ "$what" = test ]; then
    pkgs+=(python3-torch python3-pytest python3-numpy hipcc clang-format clang libclang-rt-14-dev
           cmake python3-venv python3-pip g++ libtbb-dev libtorch-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "safeconv needs these Debian packages; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
