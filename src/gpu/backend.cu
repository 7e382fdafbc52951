/* backend.cu - the runtime half of the GPU backend (gpu.h): device queries, memory, copies, and
 * running a plan: dispatch to the launcher of the plan's kernel family (launch.h). Selection is
 * the planning half (select.c); nothing here chooses. Compiled by nvcc (CUDA) or hipcc (HIP)
 * from this one source; compat.h maps the names. */
#include "depthwise.h"
#include "family.h"
#include "gpu.h"
#include "knobs.h"
#include "launch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sc_status dev_fail(cudaError_t e, const char *what)
{
    sc_status st =
        e == cudaErrorMemoryAllocation ? SC_STATUS_OUT_OF_MEMORY : SC_STATUS_DEVICE_ERROR;
    return sc__fail(st, "gpu: %s: %s", what, cudaGetErrorString(e));
}

extern "C" unsigned sc_gpu_backend(void) { return SC_GPU_HIP ? SC_BACKEND_HIP : SC_BACKEND_CUDA; }

extern "C" int sc_gpu_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver / no device: not an error for the caller */
        return 0;
    }
    return n < 0 ? 0 : n;
}

extern "C" sc_status sc_gpu_device_info(int device, sc_device_info *info)
{
    int n = sc_gpu_device_count();
    if (device < 0 || device >= n)
        return sc__fail(SC_STATUS_NOT_AVAILABLE, "device: GPU %d requested, %d present", device, n);
    if (!info) return SC_STATUS_OK;
    cudaDeviceProp pr;
    cudaError_t e = cudaGetDeviceProperties(&pr, device);
    if (e != cudaSuccess) return dev_fail(e, "cudaGetDeviceProperties");
    memset(info, 0, sizeof *info);
    info->index = device;
    info->backend = SC_GPU_HIP ? SC_BACKEND_HIP : SC_BACKEND_CUDA;
    snprintf(info->name, sizeof info->name, "%s", pr.name);
#if SC_GPU_HIP
    snprintf(info->arch, sizeof info->arch, "%s", pr.gcnArchName);
    char *colon = strchr(info->arch, ':');
    if (colon) *colon = 0; /* "gfx1010:xnack-" -> "gfx1010" */
#else
    snprintf(info->arch, sizeof info->arch, "sm_%d%d", pr.major, pr.minor);
#endif
    info->multiprocessors = pr.multiProcessorCount;
    info->warp_size = pr.warpSize;
    info->total_memory = (uint64_t)pr.totalGlobalMem;
    int v = 0;
    if (cudaDriverGetVersion(&v) == cudaSuccess) info->driver_version = v;
    v = 0;
    if (cudaRuntimeGetVersion(&v) == cudaSuccess) info->runtime_version = v;
    (void)cudaGetLastError();
    return SC_STATUS_OK;
}

extern "C" sc_status sc_gpu_set_device(int device)
{
    /* Every call of a GPU context comes here: when the device is current already (the usual
     * case) one cheap query answers, without counting devices or setting one. */
    int cur = -1;
    if (device >= 0) {
        if (cudaGetDevice(&cur) != cudaSuccess)
            (void)cudaGetLastError();
        else if (cur == device)
            return SC_STATUS_OK;
    }
    int n = sc_gpu_device_count();
    if (device < 0 || device >= n)
        return sc__fail(SC_STATUS_NOT_AVAILABLE, "device: GPU %d requested, %d present", device, n);
    cudaError_t e = cudaSetDevice(device);
    return e == cudaSuccess ? SC_STATUS_OK : dev_fail(e, "cudaSetDevice");
}

extern "C" sc_status sc_gpu_malloc(void **ptr, size_t bytes)
{
    *ptr = NULL;
    if (bytes == 0) return SC_STATUS_OK;
    cudaError_t e = cudaMalloc(ptr, bytes);
    if (e != cudaSuccess) {
        *ptr = NULL;
        (void)cudaGetLastError();
        return sc__fail(SC_STATUS_OUT_OF_MEMORY, "gpu: cudaMalloc of %zu bytes: %s", bytes,
                        cudaGetErrorString(e));
    }
    return SC_STATUS_OK;
}

extern "C" void sc_gpu_free(void *ptr)
{
    if (ptr) (void)cudaFree(ptr);
}

extern "C" sc_status sc_gpu_copy(void *dst, const void *src, size_t bytes, int kind, void *stream)
{
    if (!bytes) return SC_STATUS_OK;
    cudaStream_t st = (cudaStream_t)stream;
    cudaError_t e = cudaMemcpyAsync(
        dst, src, bytes, kind == 0 ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(st);
    return e == cudaSuccess ? SC_STATUS_OK : dev_fail(e, "copy");
}

extern "C" sc_status sc_gpu_sync(void *stream)
{
    cudaError_t e = cudaStreamSynchronize((cudaStream_t)stream);
    return e == cudaSuccess ? SC_STATUS_OK : dev_fail(e, "stream synchronize");
}

/* ---- what planning needs of the device ------------------------------------------------ */
extern "C" sc_status sc_gpu_current_device(sc_gpu_dev *dev)
{
    /* Cached per device: an attribute query per call costs host time on every call. */
    static sc_gpu_dev cache[64];
    int d = 0;
    cudaError_t e = cudaGetDevice(&d);
    if (e != cudaSuccess) return dev_fail(e, "cudaGetDevice");
    if (d >= 0 && d < 64 && cache[d].sm_count) {
        *dev = cache[d];
        return SC_STATUS_OK;
    }
    sc_gpu_dev v = {0, 0, SC_GPU_HIP != 0, false};
    int sm = 0, major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&sm, cudaDevAttrMultiProcessorCount, d) != cudaSuccess || sm <= 0) {
        (void)cudaGetLastError();
        sm = 80;
    }
    v.sm_count = sm;
#if !SC_GPU_HIP
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d) == cudaSuccess)
        v.cc = 10 * major + minor;
    (void)cudaGetLastError();
    v.wgmma = v.cc == 90 && sc_wgmma_built();
#else
    (void)major, (void)minor;
#endif
    if (d >= 0 && d < 64) cache[d] = v; /* racing writers store the same value */
    *dev = v;
    return SC_STATUS_OK;
}

/* ---- running a plan --------------------------------------------------------------------- */
static void debug_plan(const sc_call *call, const sc_kplan *pl)
{
    fprintf(stderr,
            "safeconv gpu: dir %d %s cfg %d splits %d lm %d gather %d serial %d tf32 %d bias "
            "slices %d ws %zu\n",
            (int)call->dir, sc_algo_name(pl->algo), pl->cfg, pl->splits, pl->lm, pl->gather,
            pl->serial, pl->tf32, pl->bias_slices, pl->ws_bytes);
}

extern "C" sc_status sc_gpu_run(const sc_call *call)
{
    const sc_kplan *pl = call->plan;
    sc_kp kp;
    if (!pl || pl->algo != call->algo)
        return sc__fail(SC_STATUS_INTERNAL, "gpu: a call reached the GPU without its plan");
    if (!sc_kp_make(call->pb, &kp))
        return sc__fail(SC_STATUS_UNSUPPORTED, "gpu: problem not supported by the GPU kernels");
    if (pl->ws_bytes && (!call->ws || call->ws_size < pl->ws_bytes))
        return sc__fail(SC_STATUS_INTERNAL, "gpu: plan needs %zu bytes of workspace, %zu given",
                        pl->ws_bytes, call->ws ? call->ws_size : (size_t)0);
    if (sc_gpu_knobs_get()->debug) debug_plan(call, pl);
    cudaStream_t st = (cudaStream_t)call->stream;
    const void *a = call->a, *b = call->b, *c = call->c;
    void *out = call->out, *out2 = call->out2;
    sc_direction dir = call->dir;
    int e = 0;
    if (dir == SC_DIR_BACKWARD_BIAS) {
        e = sc_launch_bias_grad(kp, pl->bias_slices, a, out, call->ws, st);
    } else {
        switch (pl->algo) {
        case SC_ALGO_GPU_NAIVE: e = sc_launch_naive(kp, dir, a, b, c, out, st); break;
        case SC_ALGO_GPU_DIRECT_DEPTHWISE:
            e = dir == SC_DIR_BACKWARD_WEIGHT &&
                        (sc_dwb_applies(&kp) || sc_dwbl_applies(&kp) || sc_dwbp_applies(&kp))
                    ? sc_launch_depthwise_bw(kp, pl->splits, a, b, out, call->ws, st)
                    : sc_launch_depthwise(kp, dir, a, b, c, out, st);
            break;
        case SC_ALGO_GPU_DIRECT_SMALL_C:
            e = dir == SC_DIR_BACKWARD_WEIGHT
                    ? sc_launch_small_c_bw(kp, pl->splits, a, b, out, call->ws, st)
                    : sc_launch_small_c(kp, dir, a, b, c, out, st);
            break;
        case SC_ALGO_GPU_IMPLICIT_GEMM:
            e = sc_launch_gemm(kp, dir, *pl, a, b, c, out, call->ws, st);
            break;
        case SC_ALGO_GPU_IMPLICIT_GEMM_MMA:
            e = sc_launch_gemm_mma(kp, dir, *pl, a, b, c, out, call->ws, st);
            break;
        case SC_ALGO_GPU_WINOGRAD:
            e = dir == SC_DIR_BACKWARD_WEIGHT
                    ? sc_launch_winograd_bw(kp, pl->cfg, pl->splits, a, b, out, call->ws, st)
                    : sc_launch_winograd(kp, dir, pl->cfg, a, b, c, out, call->ws, st);
            break;
        default:
            return sc__fail(SC_STATUS_INTERNAL, "gpu: algorithm %s is not a GPU algorithm",
                            sc_algo_name(pl->algo));
        }
        /* after the family's kernels on the same stream: the bias partials may reuse their
         * workspace */
        if (!e && dir == SC_DIR_BACKWARD_WEIGHT && out2)
            e = sc_launch_bias_grad(kp, pl->bias_slices, b, out2, call->ws, st);
    }
    if (e) return dev_fail((cudaError_t)e, "kernel launch");
    return SC_STATUS_OK;
}
