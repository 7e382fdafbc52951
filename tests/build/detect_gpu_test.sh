#!/bin/sh
# detect_gpu_test.sh - scripts/detect_gpu.sh (how GPU=auto and the default architectures are
# chosen) against made-up machines: fake nvidia-smi programs on PATH and fake /dev, /sys and /proc
# trees under SC_DETECT_ROOT. Also checks, through make, that GPU=auto follows the detection and
# that NVCC_ARCHS / HIP_ARCHS default to what was found, and that changing them rebuilds the GPU
# objects. Needs no GPU and no compiler (a fake nvcc); a few seconds.
set -u
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
# A fake compiler path: detect_gpu.sh only tests that it is non-empty.
nvcc=/opt/fake/nvcc
hipcc=/opt/fake/hipcc

# machine NAME: an empty root and a bin folder whose PATH has no nvidia-smi.
machine() {
    m=$tmp/$1
    mkdir -p "$m/root" "$m/bin"
    for t in sh sed sort ls grep cut cat printf echo; do
        p=$(command -v $t 2>/dev/null) && case $p in /*) ln -sf "$p" "$m/bin/$t" ;; esac
    done
}
# nvidia_smi NAME OUTPUT_OF_COMPUTE_CAP [LIST]: a fake nvidia-smi.
nvidia_smi() {
    cat >"$tmp/$1/bin/nvidia-smi" <<EOF
#!/bin/sh
case "\$*" in
*compute_cap*) [ -n "$2" ] || exit 6; printf '%s\n' $2 ;;
-L) printf '%s\n' "${3:-}" ;;
esac
EOF
    chmod +x "$tmp/$1/bin/nvidia-smi"
}
# amd NAME VERSION...: /dev/kfd and one KFD node per gfx_target_version (0: a CPU node).
amd() {
    n=$1
    shift
    mkdir -p "$tmp/$n/root/dev"
    : >"$tmp/$n/root/dev/kfd"
    i=0
    for v in "$@"; do
        d=$tmp/$n/root/sys/class/kfd/kfd/topology/nodes/$i
        mkdir -p "$d"
        printf 'cpu_cores_count 0\ngfx_target_version %s\nsimd_count 40\n' "$v" >"$d/properties"
        i=$((i + 1))
    done
}
# expect NAME WANT ARGS...: detect_gpu.sh ARGS on machine NAME prints WANT.
expect() {
    n=$1 want=$2
    shift 2
    got=$(PATH="$tmp/$n/bin" SC_DETECT_ROOT="$tmp/$n/root" HSA_OVERRIDE_GFX_VERSION="${HSA:-}" \
        sh scripts/detect_gpu.sh "$@" 2>/dev/null)
    if [ "$got" = "$want" ]; then
        echo "ok   $n: $* -> $got"
    else
        echo "FAIL $n: $* -> '$got', want '$want'"
        fails=$((fails + 1))
    fi
}

machine bare
expect bare none auto "" ""
expect bare none auto "$nvcc" "$hipcc" # compilers alone: CPU only (the hipcc of ./test.sh)
expect bare cuda cuda "$nvcc" ""       # explicit: the backend, no arch found
expect bare hip hip "" "$hipcc"

machine h200
nvidia_smi h200 "9.0" "GPU 0: NVIDIA H200 (UUID: GPU-x)"
expect h200 "cuda sm_90" auto "$nvcc" "$hipcc"
expect h200 none auto "" "$hipcc" # an NVIDIA GPU but no nvcc
expect h200 "cuda sm_90" cuda "$nvcc" ""

machine mixed_nv
nvidia_smi mixed_nv "8.6 9.0 8.6" "GPU 0: A"
expect mixed_nv "cuda sm_86 sm_90" auto "$nvcc" ""

machine old_driver # nvidia-smi without compute_cap: a GPU, arch unknown -> the documented list
nvidia_smi old_driver "" "GPU 0: Tesla T4 (UUID: GPU-y)"
expect old_driver cuda auto "$nvcc" ""

machine no_gpu_smi # nvidia-smi present, driver without a GPU ("No devices were found")
nvidia_smi no_gpu_smi "" "No devices were found"
expect no_gpu_smi none auto "$nvcc" ""

machine proc_only # no nvidia-smi, but the kernel driver lists a GPU
mkdir -p "$tmp/proc_only/root/proc/driver/nvidia/gpus/0000:01:00.0"
expect proc_only cuda auto "$nvcc" ""

machine rx5600
amd rx5600 0 100100
expect rx5600 "hip gfx1010" auto "$nvcc" "$hipcc"
expect rx5600 none auto "$nvcc" ""
HSA=10.3.0 expect rx5600 "hip gfx1010 gfx1030" auto "" "$hipcc"

machine mi
amd mi 0 90010 110000
expect mi "hip gfx1100 gfx90a" auto "" "$hipcc"

machine kfd_no_gpu
amd kfd_no_gpu 0
expect kfd_no_gpu none auto "" "$hipcc"

# Through make: GPU=auto follows the detection; the default archs are the ones found.
mk() {
    n=$1
    shift
    PATH="$tmp/$n/bin:$PATH" SC_DETECT_ROOT="$tmp/$n/root" SC_DETECT_NVIDIA_SMI="$tmp/$n/bin/nvidia-smi" make -s --no-print-directory \
        NVCC="$nvcc" HIPCC="$hipcc" "$@" --eval='sc-print: ; @echo $(GPU_KIND) $(NVCC_ARCHS) $(HIP_ARCHS)' \
        sc-print 2>&1
}
mexpect() {
    want=$1
    shift
    got=$(mk "$@")
    if [ "$got" = "$want" ]; then echo "ok   make $*: $got"; else
        echo "FAIL make $*: '$got', want '$want'"
        fails=$((fails + 1))
    fi
}
all_nv="sm_75 sm_80 sm_86 sm_89 sm_90 compute_90"
all_hip="gfx1010 gfx1012 gfx1030"
mexpect "none $all_nv $all_hip" bare
mexpect "cuda $all_nv $all_hip" bare GPU=cuda
mexpect "cuda sm_90 $all_hip" h200
mexpect "cuda $all_nv $all_hip" h200 NVCC_ARCHS=all
mexpect "cuda sm_80 $all_hip" h200 NVCC_ARCHS=sm_80
mexpect "hip $all_nv gfx1010" rx5600
mexpect "none $all_nv $all_hip" h200 GPU=none

# A change of architectures rebuilds the GPU objects (mk/gpu.mk's gpu.flags), the same flags do
# not: a fake nvcc that writes its -o file and logs the call.
printf '%s\n' '#!/bin/sh' \
    'while [ $# -gt 0 ]; do case $1 in -o) shift; out=$1 ;; esac; shift; done' \
    'echo "$out" >>"$FAKE_LOG"; : >"$out"' >"$tmp/nvcc"
chmod +x "$tmp/nvcc"
obj=$(ls src/gpu/*.cu | head -1)
obj=$tmp/b/${obj%.cu}.o
compiles() {
    FAKE_LOG=$tmp/log make -s --no-print-directory BUILD="$tmp/b" GPU=cuda NVCC="$tmp/nvcc" \
        NVCC_ARCHS="$1" "$obj" >/dev/null 2>&1
    wc -l <"$tmp/log" | tr -d ' '
}
: >"$tmp/log"
got="$(compiles sm_80) $(compiles sm_80) $(compiles sm_90) $(compiles sm_90) $(compiles all)"
if [ "$got" = "1 1 2 2 3" ]; then
    echo "ok   GPU objects rebuilt when NVCC_ARCHS changes, not otherwise"
else
    echo "FAIL GPU objects compiled after sm_80, sm_80, sm_90, sm_90, all: '$got', want '1 1 2 2 3'"
    fails=$((fails + 1))
fi

if [ $fails -ne 0 ]; then
    echo "detect_gpu_test: $fails FAILED"
    exit 1
fi
echo "detect_gpu_test: ok"
