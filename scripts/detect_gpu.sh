#!/bin/sh
# detect_gpu.sh [--explain] GPU NVCC HIPCC - which GPU backend and architectures this machine can
# run; mk/gpu.mk calls it to resolve GPU=auto and the default NVCC_ARCHS / HIP_ARCHS.
#
# Prints one line: the backend, then the architectures of the GPUs present (none when there are
# none or they cannot be read), e.g. "cuda sm_90", "hip gfx1010", "none".
#   GPU=auto: "cuda" only when NVCC is set AND an NVIDIA GPU answers through its driver;
#             "hip" only when HIPCC is set AND an AMD GPU is present (/dev/kfd and a GPU node in
#             the KFD topology); otherwise "none". A compiler alone never selects a backend, so
#             installing one (./test.sh installs hipcc for its build check) does not change what
#             `make` builds.
#   GPU=cuda or hip: that backend, with the present GPUs' architectures (possibly none).
# --explain prints, on stderr, why.
#
# Test hooks (tests/build/detect_gpu_test.sh): SC_DETECT_ROOT is prepended to /dev, /sys and
# /proc; SC_DETECT_NVIDIA_SMI names the nvidia-smi to run (default: the one on PATH; the make
# cases set it so that a real GPU machine's nvidia-smi does not answer for a fake machine); the
# compilers come from the arguments.
explain=0
if [ "${1:-}" = --explain ]; then
    explain=1
    shift
fi
want=${1:-auto}
nvcc=${2:-}
hipcc=${3:-}
root=${SC_DETECT_ROOT:-}
smi=${SC_DETECT_NVIDIA_SMI:-nvidia-smi}
say() { [ $explain = 1 ] && echo "detect_gpu: $*" >&2; return 0; }

# NVIDIA: nvidia-smi lists the GPUs the driver can use; compute_cap (drivers >= 510) gives the
# architecture, 9.0 -> sm_90. Without nvidia-smi, /proc/driver/nvidia/gpus says a GPU exists (no
# architecture: the documented list is built).
nvidia_archs() {
    if command -v "$smi" >/dev/null 2>&1; then
        caps=$("$smi" --query-gpu=compute_cap --format=csv,noheader 2>/dev/null) || caps=
        archs=$(printf '%s\n' "$caps" | sed -n 's/^ *\([0-9][0-9]*\)\.\([0-9]\) *$/sm_\1\2/p' | sort -u)
        if [ -n "$archs" ]; then
            echo $archs
            return 0
        fi
        if "$smi" -L 2>/dev/null | grep -q '^GPU [0-9]'; then
            echo "?"
            return 0
        fi
        say "nvidia-smi found no usable NVIDIA GPU"
        return 1
    fi
    if ls "$root"/proc/driver/nvidia/gpus/* >/dev/null 2>&1; then
        echo "?"
        return 0
    fi
    say "no NVIDIA driver answering (no nvidia-smi, no /proc/driver/nvidia/gpus)"
    return 1
}

# AMD: the KFD topology has a node per CPU and GPU; a GPU's gfx_target_version is
# major*10000 + minor*100 + stepping (100100 -> gfx1010, 90010 -> gfx90a), as rocm_agent_enumerator
# reads it. HSA_OVERRIDE_GFX_VERSION (10.3.0 on RDNA1 cards run as gfx1030) makes the runtime
# load that architecture's code: it is built too.
amd_archs() {
    if [ ! -e "$root/dev/kfd" ]; then
        say "no /dev/kfd: no AMD GPU driver (amdgpu/KFD)"
        return 1
    fi
    archs=
    for p in "$root"/sys/class/kfd/kfd/topology/nodes/*/properties; do
        [ -r "$p" ] || continue
        v=$(sed -n 's/^gfx_target_version \([0-9][0-9]*\)$/\1/p' "$p")
        [ -n "$v" ] && [ "$v" -gt 0 ] || continue
        archs="$archs $(printf 'gfx%d%x%x' $((v / 10000)) $((v / 100 % 100)) $((v % 100)))"
    done
    if [ -z "$archs" ]; then
        say "/dev/kfd exists but the KFD topology lists no GPU"
        return 1
    fi
    case ${HSA_OVERRIDE_GFX_VERSION:-} in
    *.*.*)
        o=$HSA_OVERRIDE_GFX_VERSION
        archs="$archs $(printf 'gfx%d%x%x' "${o%%.*}" "$(echo "$o" | cut -d. -f2)" "${o##*.}")"
        ;;
    esac
    echo $(printf '%s\n' $archs | sort -u)
}

# Prints "KIND [ARCH...]"; "?" (a GPU whose architecture could not be read) becomes no arch.
emit() { echo "$*" | sed 's/ ?//g'; }

case $want in
auto)
    if [ -z "$nvcc" ]; then
        say "nvcc not found: CUDA not considered"
    elif a=$(nvidia_archs); then
        say "nvcc and an NVIDIA GPU ($a): cuda"
        emit cuda $a
        exit 0
    fi
    if [ -z "$hipcc" ]; then
        say "hipcc not found: HIP not considered"
    elif a=$(amd_archs); then
        say "hipcc and an AMD GPU ($a): hip"
        emit hip $a
        exit 0
    fi
    say "no GPU this machine can run with the compilers found: none (CPU only)"
    echo none
    ;;
cuda) emit cuda $(nvidia_archs) ;;
hip) emit hip $(amd_archs) ;;
*) echo none ;;
esac
