/* small_c_bw1.cu - backward-weight of 1x1 layers with few channels (groups 1, padding 0, any
 * stride): the block, its thread tiles and where it applies are in small_c.h
 * (sc_small_c_bw1_applies). Either layout, any element type; sums in fp32 in a fixed order. */
#include "dtype.cuh"
#include "launch.h"
#include "slice_sum.cuh"
#include "small_c.h"

typedef long long i64;

/* Tests only: -DSC_SCB1_MUTANT=1 reads a thread's last two input channels swapped. */
#ifndef SC_SCB1_MUTANT
#define SC_SCB1_MUTANT 0
#endif

struct scb1_args {
    int K, C, P, Q, H, W, sh, sw;
    sc_fdiv dq, dp;         /* division by Q and P */
    int tiles, groups, ctc; /* thread tiles a group, groups a block, tiles along c */
    int rps;                /* output rows (n, p) per slice */
    int rows;               /* N * P */
};

/* Block: one slice of the N*P output rows (blockIdx.y); thread (tile, grp): dw[k0..k0+3][c0..c0+3]
 * over positions pos = first + grp, first + grp + groups, ... of the slice, pos = (n*P + p)*Q + q
 * in order. */
template <class T, bool NHWC>
__global__ __launch_bounds__(SCB1_T) void scb1_bw(scb1_args a, const T *__restrict__ x,
                                                  const T *__restrict__ dy,
                                                  float *__restrict__ part, T *__restrict__ dwt)
{
    __shared__ float red[SCB1_T * SCB1_KT * SCB1_CT];
    const int t = threadIdx.x;
    const int tile = NHWC ? t % a.tiles : t / a.groups, grp = NHWC ? t / a.tiles : t % a.groups;
    const bool act = t < a.tiles * a.groups;
    const int k0 = (tile / a.ctc) * SCB1_KT, c0 = (tile % a.ctc) * SCB1_CT;
    const i64 PQ = (i64)a.P * a.Q, HW = (i64)a.H * a.W;
    /* strides of k in dy and of c in x */
    const i64 ks = NHWC ? 1 : PQ, cs = NHWC ? 1 : HW;

    float acc[SCB1_KT][SCB1_CT];
#pragma unroll
    for (int i = 0; i < SCB1_KT; i++)
#pragma unroll
        for (int j = 0; j < SCB1_CT; j++) acc[i][j] = 0.f;

    const int r0 = blockIdx.y * a.rps, r1 = min(a.rows, r0 + a.rps);
    if (act && r0 < r1) {
        const int end = r1 * a.Q; /* < 2^31 (sc_small_c_bw1_applies) */
        bool kin[SCB1_KT], cin[SCB1_CT];
#pragma unroll
        for (int i = 0; i < SCB1_KT; i++) kin[i] = k0 + i < a.K;
#pragma unroll
        for (int j = 0; j < SCB1_CT; j++) cin[j] = c0 + j < a.C;
#pragma unroll 2
        for (int pos = r0 * a.Q + grp; pos < end; pos += a.groups) {
            const int row = sc_div(pos, a.dq), q = pos - row * a.Q;
            const int n = sc_div(row, a.dp), p = row - n * a.P;
            const i64 pix = (i64)p * a.sh * a.W + (i64)q * a.sw; /* x's pixel in its image */
            const T *dyp =
                dy + (NHWC ? (i64)pos * a.K + k0 : ((i64)n * a.K + k0) * PQ + (pos - (i64)n * PQ));
            const T *xp =
                x + (NHWC ? ((i64)n * HW + pix) * a.C + c0 : ((i64)n * a.C + c0) * HW + pix);
            float g[SCB1_KT], v[SCB1_CT];
#pragma unroll
            for (int i = 0; i < SCB1_KT; i++) g[i] = kin[i] ? sc_ldg(dyp + i * ks) : 0.f;
#pragma unroll
            for (int j = 0; j < SCB1_CT; j++) {
                const int jj = SC_SCB1_MUTANT && j >= 2 ? 5 - j : j;
                v[j] = cin[jj] ? sc_ldg(xp + jj * cs) : 0.f;
            }
#pragma unroll
            for (int i = 0; i < SCB1_KT; i++)
#pragma unroll
                for (int j = 0; j < SCB1_CT; j++) acc[i][j] = fmaf(g[i], v[j], acc[i][j]);
        }
    }

    /* the groups' sums added in group order: red[(tile*16 + e) * groups + grp] */
    if (act) {
#pragma unroll
        for (int i = 0; i < SCB1_KT; i++)
#pragma unroll
            for (int j = 0; j < SCB1_CT; j++)
                red[(tile * (SCB1_KT * SCB1_CT) + i * SCB1_CT + j) * a.groups + grp] = acc[i][j];
    }
    __syncthreads();
    for (int e = t; e < a.tiles * SCB1_KT * SCB1_CT; e += SCB1_T) {
        const int tl = e / (SCB1_KT * SCB1_CT), i = (e / SCB1_CT) % SCB1_KT, j = e % SCB1_CT;
        const int k = (tl / a.ctc) * SCB1_KT + i, c = (tl % a.ctc) * SCB1_CT + j;
        if (k >= a.K || c >= a.C) continue;
        float s = 0.f;
        for (int u = 0; u < a.groups; u++) s += red[e * a.groups + u];
        sc_slice_put(dwt, part, k, a.K, a.C, c, s); /* dw[k][c]: KCRS and KRSC alike at 1x1 */
    }
}

int sc_launch_small_c_bw1(const sc_kp &kp, int slices, const void *x, const void *dy, void *dw,
                          void *ws, cudaStream_t st)
{
    if (!sc_small_c_bw1_applies(&kp) || slices < 1 || slices > SCB1_MAX_SLICES ||
        (slices > 1 && !ws))
        return (int)cudaErrorInvalidValue;
    scb1_args a;
    a.K = kp.k, a.C = kp.c, a.P = kp.p, a.Q = kp.q, a.H = kp.h, a.W = kp.w;
    a.sh = kp.sh, a.sw = kp.sw;
    a.dq = sc_fdiv_make((uint32_t)kp.q), a.dp = sc_fdiv_make((uint32_t)kp.p);
    a.tiles = sc_scb1_tiles(&kp), a.groups = sc_scb1_groups(&kp);
    a.ctc = (kp.c + SCB1_CT - 1) / SCB1_CT;
    a.rows = kp.n * kp.p;
    a.rps = (int)sc_rows_per_slice(a.rows, slices);
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using T = decltype(t);
        const T *xt = (const T *)x, *dyt = (const T *)dy;
        T *dwt = (T *)dw;
        float *part = (float *)ws;
        dim3 grid(1, (unsigned)slices);
        if (kp.nhwc)
            scb1_bw<T, true><<<grid, SCB1_T, 0, st>>>(a, xt, dyt, part, dwt);
        else
            scb1_bw<T, false><<<grid, SCB1_T, 0, st>>>(a, xt, dyt, part, dwt);
        if (slices > 1) sc_slice_sum<T>(kp.k, kp.c, slices, part, dwt, st);
        return (int)cudaGetLastError();
    });
}
