/* kern.h - what the GPU source files share: the problem as 32-bit kernel parameters, fast
 * division by run-time constants, and the launchers that backend.cu dispatches to.
 * Host and device code; included only by src/gpu/ .cu files. */
#ifndef SC_GPU_KERN_H
#define SC_GPU_KERN_H

#include "compat.h"
#include <stdint.h>

/* Division by a run-time constant d >= 1 for 0 <= n < 2^31: q = (umulhi(n, m) + n) >> l
 * (Granlund-Montgomery with the 33rd bit folded into the add). */
struct sc_fdiv {
    uint32_t d, m, l;
};

static inline sc_fdiv sc_fdiv_make(uint32_t d)
{
    sc_fdiv f;
    f.d = d;
    uint32_t l = 0;
    while (l < 32 && (1ull << l) < d) l++;
    f.l = l;
    f.m = (uint32_t)(((1ull << 32) * ((1ull << l) - d)) / d + 1);
    return f;
}

__device__ __forceinline__ int sc_div(int n, const sc_fdiv &f)
{
    return (int)((__umulhi((uint32_t)n, f.m) + (uint32_t)n) >> f.l);
}

/* The problem in the form every kernel takes (by value). Every field fits in 31 bits for the
 * tiled kernels (backend.cu checks); the naive kernels recompute 64-bit products from these. */
struct sc_kp {
    int n, c, h, w, k, r, s, p, q;
    int sh, sw, ph, pw, dh, dw;
    int g, cg, kg;
    int nhwc;
};

struct sc_call; /* core/internal.h */

/* Launchers: each checks the launch and returns 0, or the CUDA/HIP error code. `ws` is device
 * workspace of at least the size the matching *_ws function asked for. */
int sc_launch_naive(const sc_kp &kp, int dir, const float *a, const float *b, const float *c,
                    float *out, cudaStream_t st);
int sc_launch_bias_grad(const sc_kp &kp, const float *dy, float *db, cudaStream_t st);

int sc_launch_depthwise(const sc_kp &kp, int dir, const float *a, const float *b, const float *c,
                        float *out, cudaStream_t st);

int sc_launch_small_c(const sc_kp &kp, const float *x, const float *w, const float *bias, float *y,
                      cudaStream_t st);
bool sc_small_c_applies(const sc_kp &kp);
int sc_launch_small_c_bwd_data(const sc_kp &kp, const float *dy, const float *w, float *dx,
                               cudaStream_t st);
bool sc_small_c_bwd_applies(const sc_kp &kp);

/* Implicit GEMM. cfg: tile configuration index (see gemm.cu); splits: reduction split (1 = no
 * partial sums in the workspace). */
struct sc_gemm_plan {
    int cfg;
    int splits;
    int lm; /* epilogue-coalescing thread layout for NCHW outputs (gemm.cu, frag_row_m) */
    int cc; /* channel-chunked gathers with a (k,r,s,c) weight copy in the workspace (gemm.cu) */
    int serial; /* backward-weight splits add into dw in order (gemm.cu, OpBwT), no slices */
};
sc_gemm_plan sc_gemm_choose(const sc_kp &kp, int dir, int sm_count, size_t ws_limit);
/* Tuning: the model's best `max` plans within ws_limit, best first (the first is what
 * sc_gemm_choose picks when nothing was tuned); and remembering a measured winner. */
int sc_gemm_candidates(const sc_kp &kp, int dir, int sm_count, size_t ws_limit, sc_gemm_plan *out,
                       int max);
void sc_gemm_remember(const sc_kp &kp, int dir, int sm_count, const sc_gemm_plan &pl);
size_t sc_gemm_ws_bytes(const sc_kp &kp, int dir, const sc_gemm_plan &pl);
int sc_launch_gemm(const sc_kp &kp, int dir, const sc_gemm_plan &pl, const float *a, const float *b,
                   const float *c, float *out, float *ws, cudaStream_t st);

#endif /* SC_GPU_KERN_H */
