/* backend.cu - the GPU backend as the core sees it (gpu.h): device queries, memory, copies,
 * heuristic selection and dispatch to the kernels of direct.cu and gemm.cu.
 * Compiled by nvcc (CUDA) or hipcc (HIP) from this one source; compat.h maps the names. */
#include "kern.h"

#include "gpu.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Default GPU workspace limit (the core's); backward-weight splits stay within it. */
#define SC_GPU_WS_CAP ((size_t)16 << 20)

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

/* ---- selection -------------------------------------------------------------------------- */
static int sm_count_of_current(void)
{
    static int cache[64];
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 80;
    }
    if (dev >= 0 && dev < 64 && cache[dev]) return cache[dev];
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || v <= 0) {
        (void)cudaGetLastError();
        v = 80;
    }
    if (dev >= 0 && dev < 64) cache[dev] = v;
    return v;
}

/* Fill kp; false if a size does not fit the kernels' 32-bit fields. */
static bool make_kp(const sc_problem *pb, sc_kp *kp)
{
    const sc_conv2d_desc *d = &pb->d;
    const int64_t v[] = {d->n,     d->c,     d->h,     d->w,        d->k,        d->r,
                         d->s,     pb->p,    pb->q,    d->stride_h, d->stride_w, d->pad_h,
                         d->pad_w, d->dil_h, d->dil_w, d->groups,   pb->cg,      pb->kg};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] < 0 || v[i] > INT_MAX / 4) return false;
    kp->n = (int)d->n, kp->c = (int)d->c, kp->h = (int)d->h, kp->w = (int)d->w;
    kp->k = (int)d->k, kp->r = (int)d->r, kp->s = (int)d->s, kp->p = (int)pb->p;
    kp->q = (int)pb->q, kp->sh = (int)d->stride_h, kp->sw = (int)d->stride_w;
    kp->ph = (int)d->pad_h, kp->pw = (int)d->pad_w, kp->dh = (int)d->dil_h;
    kp->dw = (int)d->dil_w, kp->g = (int)d->groups, kp->cg = (int)pb->cg, kp->kg = (int)pb->kg;
    kp->nhwc = d->layout == SC_NHWC;
    /* Offsets inside the kernels like h + pad, r*dil and p*stride stay in 31 bits. */
    if ((int64_t)d->h + d->pad_h + (int64_t)d->dil_h * d->r > INT_MAX / 2) return false;
    if ((int64_t)d->w + d->pad_w + (int64_t)d->dil_w * d->s > INT_MAX / 2) return false;
    if ((int64_t)pb->p * d->stride_h > INT_MAX / 2 || (int64_t)pb->q * d->stride_w > INT_MAX / 2)
        return false;
    return true;
}

static const int64_t LIM = INT_MAX - 4096; /* GEMM sizes stay in 31 bits with tile slack */

static bool gemm_applies(const sc_problem *pb, const sc_kp &kp, sc_direction dir)
{
    int64_t rs = (int64_t)kp.r * kp.s;
    int64_t npq = (int64_t)kp.n * kp.p * kp.q, nhw = (int64_t)kp.n * kp.h * kp.w;
    if (npq > LIM || nhw > LIM || (int64_t)kp.cg * rs > LIM || (int64_t)kp.kg * rs > LIM)
        return false;
    if (dir == SC_DIR_FORWARD) return kp.g <= 65535 && kp.kg / 32 < 65535;
    if (dir == SC_DIR_BACKWARD_DATA) /* one launch covers at most 16 stride classes */
        return kp.sh * kp.sw <= 16 && (int64_t)kp.g * kp.sh * kp.sw <= 65535 && kp.cg / 32 < 65535;
    if (dir == SC_DIR_BACKWARD_WEIGHT)
        return kp.g <= 65535 && (int64_t)kp.cg * rs / 32 < 65535 &&
               (int64_t)kp.k * kp.cg * rs <= LIM;
    (void)pb;
    return false;
}

static bool depthwise_applies(const sc_kp &kp, sc_direction dir)
{
    if (kp.cg != 1 || kp.g != kp.c || kp.n > 65535) return false;
    if ((int64_t)kp.k * kp.p * kp.q > LIM || (int64_t)kp.c * kp.h * kp.w > LIM) return false;
    return dir <= SC_DIR_BACKWARD_WEIGHT && kp.g <= 65535;
}

static bool is_gpu_algo(sc_algo a)
{
    return a == SC_ALGO_GPU_IMPLICIT_GEMM || a == SC_ALGO_GPU_DIRECT_DEPTHWISE ||
           a == SC_ALGO_GPU_DIRECT_SMALL_C || a == SC_ALGO_GPU_NAIVE;
}

static bool algo_applies(const sc_problem *pb, const sc_kp &kp, sc_direction dir, sc_algo a)
{
    if (dir == SC_DIR_BACKWARD_BIAS) return is_gpu_algo(a); /* one reduction kernel serves all */
    switch (a) {
    case SC_ALGO_GPU_NAIVE: return true;
    case SC_ALGO_GPU_IMPLICIT_GEMM: return gemm_applies(pb, kp, dir);
    case SC_ALGO_GPU_DIRECT_DEPTHWISE: return depthwise_applies(kp, dir);
    case SC_ALGO_GPU_DIRECT_SMALL_C:
        return (dir == SC_DIR_FORWARD && sc_small_c_applies(kp)) ||
               (dir == SC_DIR_BACKWARD_DATA && sc_small_c_bwd_applies(kp));
    default: return false;
    }
}

/* The heuristic: no timing, a handful of comparisons. */
static sc_algo choose(const sc_problem *pb, const sc_kp &kp, sc_direction dir)
{
    if (dir == SC_DIR_BACKWARD_BIAS) return SC_ALGO_GPU_NAIVE;
    if (depthwise_applies(kp, dir)) return SC_ALGO_GPU_DIRECT_DEPTHWISE;
    /* Small-C forward only for few output channels: from 64 on the implicit GEMM is faster
     * (H200: ResNet's 7x7 stem 1.16 -> 0.68 ms, 3->64 3x3 0.031 -> 0.014 ms; the YOLO stem,
     * 3->16, stays faster on small-C, 0.052 vs 0.088 ms; bench/NOTES.md, run 16). */
    if (dir == SC_DIR_FORWARD && kp.c <= 4 && kp.k < 64 && sc_small_c_applies(kp))
        return SC_ALGO_GPU_DIRECT_SMALL_C;
    if (dir == SC_DIR_BACKWARD_DATA && kp.c <= 4 && sc_small_c_bwd_applies(kp))
        return SC_ALGO_GPU_DIRECT_SMALL_C;
    if (gemm_applies(pb, kp, dir)) return SC_ALGO_GPU_IMPLICIT_GEMM;
    return SC_ALGO_GPU_NAIVE;
}

/* Workspace of algorithm a. The GEMM plan depends on the limit only through the split counts
 * it allows; sc_gpu_run replans with limit = the workspace it was given, which reproduces the
 * plan that asked for it (a smaller limit only lowers the other candidates' scores). */
static size_t ws_for(const sc_kp &kp, sc_direction dir, sc_algo a, size_t limit,
                     sc_gemm_plan *plan_out)
{
    if (a != SC_ALGO_GPU_IMPLICIT_GEMM) return 0;
    sc_gemm_plan pl = sc_gemm_choose(kp, (int)dir, sm_count_of_current(), limit);
    if (plan_out) *plan_out = pl;
    return sc_gemm_ws_bytes(kp, (int)dir, pl);
}

extern "C" sc_status sc_gpu_select(const sc_problem *pb, sc_direction dir, sc_algo want,
                                   sc_algo *algo, size_t *ws_bytes)
{
    return sc_gpu_select_limit(pb, dir, want, SC_GPU_WS_CAP, algo, ws_bytes);
}

extern "C" sc_status sc_gpu_select_limit(const sc_problem *pb, sc_direction dir, sc_algo want,
                                         size_t ws_limit, sc_algo *algo, size_t *ws_bytes)
{
    if (pb->d.dtype != SC_DTYPE_F32)
        return sc__fail(SC_STATUS_UNSUPPORTED,
                        "desc.dtype: the GPU kernels of this build are fp32 only");
    sc_kp kp;
    if (!make_kp(pb, &kp))
        return sc__fail(SC_STATUS_UNSUPPORTED,
                        "desc: a size is too large for the GPU kernels' 32-bit fields");
    sc_algo a;
    if (want != SC_ALGO_NONE) {
        if (!algo_applies(pb, kp, dir, want))
            return sc__fail(SC_STATUS_UNSUPPORTED,
                            "options.algo: %s does not apply to this problem", sc_algo_name(want));
        a = want;
    } else {
        a = choose(pb, kp, dir);
    }
    *algo = a;
    *ws_bytes = ws_for(kp, dir, a, ws_limit, NULL);
    return SC_STATUS_OK;
}

extern "C" sc_status sc_gpu_run(const sc_call *call)
{
    const sc_problem *pb = call->pb;
    sc_kp kp;
    if (pb->d.dtype != SC_DTYPE_F32 || !make_kp(pb, &kp))
        return sc__fail(SC_STATUS_UNSUPPORTED, "gpu: problem not supported by the GPU kernels");
    cudaStream_t st = (cudaStream_t)call->stream;
    const float *a = (const float *)call->a, *b = (const float *)call->b;
    const float *c = (const float *)call->c;
    float *out = (float *)call->out, *out2 = (float *)call->out2;
    int dir = (int)call->dir;
    int e = 0;
    if (call->dir == SC_DIR_BACKWARD_BIAS) {
        e = sc_launch_bias_grad(kp, a, out, st);
    } else {
        switch (call->algo) {
        case SC_ALGO_GPU_NAIVE: e = sc_launch_naive(kp, dir, a, b, c, out, st); break;
        case SC_ALGO_GPU_DIRECT_DEPTHWISE:
            e = sc_launch_depthwise(kp, dir, a, b, c, out, st);
            break;
        case SC_ALGO_GPU_DIRECT_SMALL_C:
            if (dir == 0)
                e = sc_launch_small_c(kp, a, b, c, out, st);
            else if (dir == 1)
                e = sc_launch_small_c_bwd_data(kp, a, b, out, st);
            else
                return sc__fail(SC_STATUS_UNSUPPORTED, "gpu: small-C has no backward-weight");
            break;
        case SC_ALGO_GPU_IMPLICIT_GEMM: {
            sc_gemm_plan pl;
            size_t need = ws_for(kp, call->dir, call->algo, call->ws ? call->ws_size : 0, &pl);
            if (need > call->ws_size || (need && !call->ws))
                pl.splits = 1, pl.cc = 0, pl.serial = 0; /* cannot happen */
            static int debug = -1;
            if (debug < 0) debug = getenv("SAFECONV_GPU_DEBUG") != NULL;
            if (debug)
                fprintf(stderr,
                        "safeconv gpu: dir %d gemm cfg %d splits %d lm %d cc %d serial %d ws %zu\n",
                        dir, pl.cfg, pl.splits, pl.lm, pl.cc, pl.serial, need);
            e = sc_launch_gemm(kp, dir, pl, a, b, c, out, (float *)call->ws, st);
            break;
        }
        default:
            return sc__fail(SC_STATUS_INTERNAL, "gpu: algorithm %s is not a GPU algorithm",
                            sc_algo_name(call->algo));
        }
        if (!e && call->dir == SC_DIR_BACKWARD_WEIGHT && out2)
            e = sc_launch_bias_grad(kp, b, out2, st);
    }
    if (e) return dev_fail((cudaError_t)e, "kernel launch");
    return SC_STATUS_OK;
}

/* ---- tuning (sc_conv2d_tune) --------------------------------------------------------------- */

extern "C" int sc_gpu_tune_candidates(const sc_problem *pb, sc_direction dir, size_t ws_limit,
                                      sc_gpu_plan *plans, int max)
{
    sc_kp kp;
    if (pb->d.dtype != SC_DTYPE_F32 || !make_kp(pb, &kp) || dir == SC_DIR_BACKWARD_BIAS ||
        choose(pb, kp, dir) != SC_ALGO_GPU_IMPLICIT_GEMM || max <= 0)
        return 0;
    enum {
        MAXC = 32
    };
    sc_gemm_plan pl[MAXC];
    int sm = sm_count_of_current();
    int n = sc_gemm_candidates(kp, (int)dir, sm, ws_limit, pl, max < MAXC ? max : MAXC);
    for (int i = 0; i < n; i++) {
        plans[i].cfg = pl[i].cfg, plans[i].splits = pl[i].splits, plans[i].lm = pl[i].lm;
        plans[i].cc = pl[i].cc, plans[i].serial = pl[i].serial;
        plans[i].ws_bytes = sc_gemm_ws_bytes(kp, (int)dir, pl[i]);
    }
    return n;
}

extern "C" sc_status sc_gpu_run_plan(const sc_call *call, const sc_gpu_plan *plan)
{
    sc_kp kp;
    if (call->algo != SC_ALGO_GPU_IMPLICIT_GEMM || !make_kp(call->pb, &kp))
        return sc__fail(SC_STATUS_INTERNAL, "gpu: a plan applies to the implicit GEMM only");
    sc_gemm_plan pl = {plan->cfg, plan->splits, plan->lm, plan->cc, plan->serial};
    size_t need = sc_gemm_ws_bytes(kp, (int)call->dir, pl);
    if (need > call->ws_size || (need && !call->ws))
        return sc__fail(SC_STATUS_INTERNAL, "gpu: plan needs %zu bytes of workspace, %zu given",
                        need, call->ws_size);
    int e = sc_launch_gemm(kp, (int)call->dir, pl, (const float *)call->a, (const float *)call->b,
                           (const float *)call->c, (float *)call->out, (float *)call->ws,
                           (cudaStream_t)call->stream);
    if (!e && call->dir == SC_DIR_BACKWARD_WEIGHT && call->out2)
        e = sc_launch_bias_grad(kp, (const float *)call->b, (float *)call->out2,
                                (cudaStream_t)call->stream);
    if (e) return dev_fail((cudaError_t)e, "kernel launch");
    return SC_STATUS_OK;
}

extern "C" void sc_gpu_remember_plan(const sc_problem *pb, sc_direction dir,
                                     const sc_gpu_plan *plan)
{
    sc_kp kp;
    if (!make_kp(pb, &kp)) return;
    sc_gemm_plan pl = {plan->cfg, plan->splits, plan->lm, plan->cc, plan->serial};
    sc_gemm_remember(kp, (int)dir, sm_count_of_current(), pl);
}
