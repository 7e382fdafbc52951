/* gemm_launch.cu - a plan of the FMA implicit GEMM to its launches: the weight copy of a
 * channel-chunked plan, the direction's kernel (gemm_fwd.cu, gemm_bd.cu, gemm_bw.cu), and the
 * split reduction. */
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

int sc_gemm_launch_reduce(const float *ws, float *out, i64 n, int splits, const float *bias,
                          i64 inner, int K, cudaStream_t st)
{
    unsigned blocks = (unsigned)((n + 255) / 256);
    if (blocks > 65535u * 4) blocks = 65535u * 4;
    reduce_splits<<<blocks, 256, 0, st>>>(ws, out, n, splits, bias, inner, K);
    return (int)cudaGetLastError();
}

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

int sc_launch_gemm(const sc_kp &kp, sc_direction dir, const sc_kplan &pl, const float *a,
                   const float *b, const float *c, float *out, void *wsv, cudaStream_t st)
{
    float *ws = (float *)wsv;
    if (pl.cfg < 0 || pl.cfg >= SC_GEMM_NCFG ||
        !sc_gemm_cfg_built(pl.cfg, dir, kp.nhwc != 0, pl.gather))
        return (int)cudaErrorInvalidValue;
    if (pl.gather == SC_GATHER_CC) {
        if (!sc_gemm_cc_applies(&kp, dir) || !ws) return (int)cudaErrorInvalidValue;
        /* the weight copy first; the split slices, if any, after it */
        float *wt = ws;
        ws += sc_gemm_cc_wt_bytes(&kp) / sizeof(float);
        transpose_krsc<<<kp.k, 256, 0, st>>>(b, wt, kp.cg, kp.r * kp.s);
        int e = (int)cudaGetLastError();
        if (e) return e;
        return dir == SC_DIR_FORWARD ? sc_gemm_fwd(kp, pl, a, wt, c, out, ws, st)
                                     : sc_gemm_bd(kp, pl, a, wt, out, ws, st);
    }
    switch (dir) {
    case SC_DIR_FORWARD: return sc_gemm_fwd(kp, pl, a, b, c, out, ws, st);
    case SC_DIR_BACKWARD_DATA: return sc_gemm_bd(kp, pl, a, b, out, ws, st);
    case SC_DIR_BACKWARD_WEIGHT: return sc_gemm_bw(kp, pl, a, b, out, ws, st);
    default: return (int)cudaErrorInvalidValue;
    }
}
