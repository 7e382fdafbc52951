/* gemm_launch.cu - a plan of the FMA implicit GEMM to its launches: the weight copy of a
 * channel-chunked plan, the direction's kernel for the element type (gemm_{fwd,bd,bw}*.cu),
 * and the split reduction. */
#include "gemm/common.cuh"

/* out[i] = out[i] + sum_{s < splits-1} ws[s*n + i] (+ bias[channel of i]), in slice order
 * (split 0 wrote out itself).
 * Channel of i: (i / inner) % K (NCHW: inner = P*Q; NHWC: inner = 1). */
__global__ void reduce_splits(const float *__restrict__ ws, float *__restrict__ out, i64 n,
                              int splits, const float *__restrict__ bias, i64 inner, int K)
{
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        float s = out[i]; /* split 0 */
        for (int j = 0; j < splits - 1; j++) s += ws[(i64)j * n + i];
        if (bias) s += bias[(i / inner) % K];
        out[i] = s;
    }
}

/* 16-bit T: out[i] = round(sum_{s < splits} ws[s*n + i] (+ bias)), every split in a slice. */
template <class T>
__global__ void reduce_slices(const float *__restrict__ ws, T *__restrict__ out, i64 n, int splits,
                              const T *__restrict__ bias, i64 inner, int K)
{
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n;
         i += (i64)gridDim.x * blockDim.x) {
        float s = ws[i]; /* split 0 */
        for (int j = 1; j < splits; j++) s += ws[(i64)j * n + i];
        if (bias) s += sc_get(bias + (i / inner) % K);
        sc_put(out + i, s);
    }
}

template <class T>
int sc_gemm_launch_reduce(const float *ws, T *out, i64 n, int splits, const T *bias, i64 inner,
                          int K, cudaStream_t st)
{
    unsigned blocks = (unsigned)((n + 255) / 256);
    if (blocks > 65535u * 4) blocks = 65535u * 4;
    if constexpr (std::is_same<T, float>::value)
        reduce_splits<<<blocks, 256, 0, st>>>(ws, out, n, splits, bias, inner, K);
    else
        reduce_slices<T><<<blocks, 256, 0, st>>>(ws, out, n, splits, bias, inner, K);
    return (int)cudaGetLastError();
}
template int sc_gemm_launch_reduce<float>(const float *, float *, i64, int, const float *, i64, int,
                                          cudaStream_t);
template int sc_gemm_launch_reduce<sc_half>(const float *, sc_half *, i64, int, const sc_half *,
                                            i64, int, cudaStream_t);
template int sc_gemm_launch_reduce<sc_bf16>(const float *, sc_bf16 *, i64, int, const sc_bf16 *,
                                            i64, int, cudaStream_t);

/* w[k][c][rs] -> wt[k][rs][c] (per output channel k over all groups: K rows of Cg*RS), one
 * block per k. A warp reads 32 channels RS floats apart inside one k's Cg*RS block, which the
 * RS passes over it reuse from cache, and writes 32 consecutive floats. */
__global__ void transpose_krsc(const float *__restrict__ w, float *__restrict__ wt, int Cg, int RS)
{
    i64 base = (i64)blockIdx.x * Cg * RS;
    int n = Cg * RS;
    for (int o = threadIdx.x; o < n; o += blockDim.x) {
        int rs = o / Cg, c = o - rs * Cg;
        wt[base + o] = __ldg(w + base + (i64)c * RS + rs);
    }
}

template <class T>
static int launch_gemm(const sc_kp &kp, sc_direction dir, const sc_kplan &pl, const T *a,
                       const T *b, const T *c, T *out, float *ws, cudaStream_t st)
{
    if (pl.cfg < 0 || pl.cfg >= SC_GEMM_NCFG ||
        !sc_gemm_cfg_built(pl.cfg, dir, kp.nhwc != 0, pl.gather, kp.dtype))
        return (int)cudaErrorInvalidValue;
    if (pl.gather == SC_GATHER_CC) {
        if constexpr (std::is_same<T, float>::value) {
            if (!sc_gemm_cc_applies(&kp, dir) || !ws) return (int)cudaErrorInvalidValue;
            /* the weight copy first; the split slices, if any, after it */
            float *wt = ws;
            ws += sc_gemm_cc_wt_bytes(&kp) / sizeof(float);
            transpose_krsc<<<kp.k, 256, 0, st>>>(b, wt, kp.cg, kp.r * kp.s);
            int e = (int)cudaGetLastError();
            if (e) return e;
            return dir == SC_DIR_FORWARD ? sc_gemm_fwd<T>(kp, pl, a, wt, c, out, ws, st)
                                         : sc_gemm_bd<T>(kp, pl, a, wt, out, ws, st);
        }
        return (int)cudaErrorInvalidValue; /* fp32 only (sc_gemm_cfg_built) */
    }
    switch (dir) {
    case SC_DIR_FORWARD: return sc_gemm_fwd<T>(kp, pl, a, b, c, out, ws, st);
    case SC_DIR_BACKWARD_DATA: return sc_gemm_bd<T>(kp, pl, a, b, out, ws, st);
    case SC_DIR_BACKWARD_WEIGHT: return sc_gemm_bw<T>(kp, pl, a, b, out, ws, st);
    default: return (int)cudaErrorInvalidValue;
    }
}

int sc_launch_gemm(const sc_kp &kp, sc_direction dir, const sc_kplan &pl, const void *a,
                   const void *b, const void *c, void *out, void *ws, cudaStream_t st)
{
    switch (kp.dtype) {
    case SC_DTYPE_F32:
        return launch_gemm(kp, dir, pl, (const float *)a, (const float *)b, (const float *)c,
                           (float *)out, (float *)ws, st);
    case SC_DTYPE_F16:
        return launch_gemm(kp, dir, pl, (const sc_half *)a, (const sc_half *)b, (const sc_half *)c,
                           (sc_half *)out, (float *)ws, st);
    case SC_DTYPE_BF16:
        return launch_gemm(kp, dir, pl, (const sc_bf16 *)a, (const sc_bf16 *)b, (const sc_bf16 *)c,
                           (sc_bf16 *)out, (float *)ws, st);
    }
    return (int)cudaErrorInvalidValue;
}
