/* small_c_bw.cu - backward-weight of 3x3 layers with few input channels a group: the block, its
 * stages and its thread tiles are described in small_c.h (sc_small_c_bw_applies, sc_scw_geo).
 * Either layout, any element type; sums in fp32 in a fixed order. */
#include "dtype.cuh"
#include "launch.h"
#include "slice_sum.cuh"
#include "small_c.h"

typedef long long i64;

/* Tests only: -DSC_SCW_MUTANT=1 loads the window's new columns one column short. */
#ifndef SC_SCW_MUTANT
#define SC_SCW_MUTANT 0
#endif

/* Stage one chunk: dy rows p0 .. p0+nr-1, columns q0 .. q0+qw-1 of the block's kpad output
 * channels (zero past the group's) into dys[k][u*QW + j]; x rows h0 .. h0+xr-1, columns w0 ..
 * w0+xw-1 of the group's Cg input channels (zero outside the image) into xs[c][i*XW + j]. A
 * warp takes one staged row at a time, its lanes the row's values in memory order (NCHW: the
 * columns; NHWC: (column, channel) with the channel fastest), so each warp's loads are
 * consecutive addresses. */
template <bool NHWC, class T>
__device__ __forceinline__ void scw_stage(const sc_kp &kp, const sc_scw_geo &g, const T *dyn,
                                          const T *xn, i64 kbase, i64 cbase, int kn, int p0, int nr,
                                          int q0, int qw, int h0, int xr, int w0, int xw,
                                          float *dys, float *xs)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, kpad = g.ktc * SCW_KT;
    if constexpr (!NHWC) {
        for (int row = warp; row < kpad * nr; row += SCW_T / 32) {
            const int k = row / nr, u = row - k * nr;
            const T *src = dyn + ((kbase + (k < kn ? k : 0)) * kp.p + p0 + u) * kp.q + q0;
            float *dst = dys + k * g.dpl + u * g.qw;
            for (int j = lane; j < qw; j += 32) dst[j] = k < kn ? sc_ldg(src + j) : 0.f;
        }
        for (int row = warp; row < kp.cg * xr; row += SCW_T / 32) {
            const int c = row / xr, i = row - c * xr, h = h0 + i;
            const bool hin = (unsigned)h < (unsigned)kp.h;
            const T *src = xn + ((cbase + c) * kp.h + (hin ? h : 0)) * kp.w;
            float *dst = xs + c * g.xpl + i * g.xw;
            for (int j = lane; j < xw; j += 32) {
                const int w = w0 + j;
                dst[j] = hin && (unsigned)w < (unsigned)kp.w ? sc_ldg(src + w) : 0.f;
            }
        }
    } else {
        for (int u = warp; u < nr; u += SCW_T / 32) {
            const T *src = dyn + ((i64)(p0 + u) * kp.q + q0) * kp.k + kbase;
            float *dst = dys + u * g.qw;
            for (int e = lane; e < qw * kpad; e += 32) {
                const int j = e / kpad, k = e - j * kpad;
                dst[k * g.dpl + j] = k < kn ? sc_ldg(src + ((i64)j * kp.k + k)) : 0.f;
            }
        }
        for (int i = warp; i < xr; i += SCW_T / 32) {
            const int h = h0 + i;
            const bool hin = (unsigned)h < (unsigned)kp.h;
            const T *src = xn + (i64)(hin ? h : 0) * kp.w * kp.c + cbase;
            float *dst = xs + i * g.xw;
            for (int e = lane; e < xw * kp.cg; e += 32) {
                const int j = e / kp.cg, c = e - j * kp.cg, w = w0 + j;
                dst[c * g.xpl + j] =
                    hin && (unsigned)w < (unsigned)kp.w ? sc_ldg(src + ((i64)w * kp.c + c)) : 0.f;
            }
        }
    }
}

/* Block (group and k block, slice): dw of SCW_KB output channels of one group over the slice's
 * output rows [r0, r1), stage by stage; SW: the column stride (1 or 2). (SCW_T, 3): at most 80
 * registers, three blocks per SM; at (SCW_T, 2) ptxas took 120-126 for the same code, and at 4
 * it spills on sm_75-sm_90. */
template <class T, int SW, bool NHWC>
__global__ __launch_bounds__(SCW_T, 3) void scw_bw(sc_kp kp, sc_scw_geo g, const T *__restrict__ x,
                                                   const T *__restrict__ dy,
                                                   float *__restrict__ part, T *__restrict__ dwt,
                                                   int rps)
{
    extern __shared__ float4 smem4[];
    float *sm = (float *)smem4;
    float *dys = sm, *xs = sm + g.ktc * SCW_KT * g.dpl;
    const int t = threadIdx.x, tile = t % g.tiles, rg = t / g.tiles;
    const bool act = rg < g.nrg;
    const int kt = tile / kp.cg, c = tile - kt * kp.cg;
    const int grp = blockIdx.x / g.nkb, kb0 = (blockIdx.x - grp * g.nkb) * SCW_KB;
    const int kn = min(SCW_KB, kp.kg - kb0); /* this block's output channels */
    const i64 kbase = (i64)grp * kp.kg + kb0, cbase = (i64)grp * kp.cg;
    const int rows = kp.n * kp.p, r0 = blockIdx.y * rps, r1 = min(rows, r0 + rps);

    float acc[SCW_KT][3][3];
#pragma unroll
    for (int i = 0; i < SCW_KT; i++)
#pragma unroll
        for (int r = 0; r < 3; r++)
#pragma unroll
            for (int s = 0; s < 3; s++) acc[i][r][s] = 0.f;

    int nr, h0, xr; /* this stage's rows: dy rows p0 .. p0+nr-1, x rows h0 .. h0+xr-1 */
    int p0;
    const T *dyn, *xn;
    const auto rows_at = [&](int n, int p0_, int nr_) {
        p0 = p0_, nr = nr_, h0 = p0 * kp.sh - kp.ph, xr = (nr - 1) * kp.sh + 3;
        dyn = dy + (i64)n * kp.k * kp.p * kp.q, xn = x + (i64)n * kp.c * kp.h * kp.w;
    };
    const auto stage = [&](int q0, int qw) {
        const int w0 = q0 * SW - kp.pw, xw = (qw - 1) * SW + 3;
        scw_stage<NHWC>(kp, g, dyn, xn, kbase, cbase, kn, p0, nr, q0, qw, h0, xr, w0, xw, dys, xs);
    };
    const auto run = [&](int u, int qa, int qe) {
        const float *dr = dys + kt * SCW_KT * g.dpl + u * g.qw;
        const float *xr0 = xs + c * g.xpl + u * kp.sh * g.xw;
        /* win[r][s] = x column q*SW + s of tap row r; before q = qa its last 3 - SW columns are
         * those q = qa keeps */
        float win[3][3];
#pragma unroll
        for (int r = 0; r < 3; r++)
#pragma unroll
            for (int s = 0; s < 3 - SW; s++) win[r][s + SW] = xr0[r * g.xw + qa * SW + s];
        for (int q = qa; q < qe; q++) {
#pragma unroll
            for (int r = 0; r < 3; r++) {
#pragma unroll
                for (int s = 0; s < 3 - SW; s++) win[r][s] = win[r][s + SW];
#pragma unroll
                for (int s = 3 - SW; s < 3; s++)
                    win[r][s] = xr0[r * g.xw + q * SW + s - SC_SCW_MUTANT];
            }
#pragma unroll
            for (int i = 0; i < SCW_KT; i++) {
                const float gv = dr[i * g.dpl + q];
#pragma unroll
                for (int r = 0; r < 3; r++)
#pragma unroll
                    for (int s = 0; s < 3; s++) acc[i][r][s] = fmaf(gv, win[r][s], acc[i][r][s]);
            }
        }
    };
    sc_slice_walk(kp.p, kp.q, r0, r1, g.rb, g.qw, rg, g.nrg, rows_at, stage, run);

    /* the groups' sums added in group order: red[(tile*SCW_KT + i)*9 + tap][rg] */
    __syncthreads();
    float *red = sm;
    if (act) {
#pragma unroll
        for (int i = 0; i < SCW_KT; i++)
#pragma unroll
            for (int r = 0; r < 3; r++)
#pragma unroll
                for (int s = 0; s < 3; s++)
                    red[((tile * SCW_KT + i) * 9 + r * 3 + s) * g.nrg + rg] = acc[i][r][s];
    }
    __syncthreads();
    const int taps = kp.cg * 9;
    for (int e = t; e < g.tiles * SCW_KT * 9; e += SCW_T) {
        const int tl = e / (SCW_KT * 9), ki = (e - tl * SCW_KT * 9) / 9, tap = e % 9;
        const int kl = (tl / kp.cg) * SCW_KT + ki, cc = tl % kp.cg;
        if (kl >= kn) continue;
        float v = 0.f;
        for (int u = 0; u < g.nrg; u++) v += red[e * g.nrg + u];
        /* the tap's place in the weight: [k][c][r][s] NCHW, [k][r][s][c] NHWC */
        const int j = NHWC ? tap * kp.cg + cc : cc * 9 + tap;
        const i64 k = kbase + kl;
        sc_slice_put(dwt, part, k, kp.k, taps, j, v);
    }
}

template <class T, int SW, bool NHWC>
static void launch_sw(const sc_kp &kp, const sc_scw_geo &g, int slices, const T *x, const T *dy,
                      float *part, T *dwt, cudaStream_t st)
{
    const int rps = (int)sc_rows_per_slice((i64)kp.n * kp.p, slices);
    dim3 grid((unsigned)(kp.g * g.nkb), (unsigned)slices);
    scw_bw<T, SW, NHWC><<<grid, SCW_T, g.smem, st>>>(kp, g, x, dy, part, dwt, rps);
}

int sc_launch_small_c_bw(const sc_kp &kp, int slices, const void *x, const void *dy, void *dw,
                         void *ws, cudaStream_t st)
{
    if (sc_small_c_bw1_applies(&kp)) return sc_launch_small_c_bw1(kp, slices, x, dy, dw, ws, st);
    if (!sc_small_c_bw_applies(&kp) || slices < 1 || slices > SCW_MAX_SLICES || (slices > 1 && !ws))
        return (int)cudaErrorInvalidValue;
    const sc_scw_geo g = sc_scw_geometry(&kp);
    if (g.smem > SCW_SMEM_FLOATS * (int)sizeof(float)) return (int)cudaErrorInvalidValue;
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using T = decltype(t);
        const T *xt = (const T *)x, *dyt = (const T *)dy;
        T *dwt = (T *)dw;
        float *part = (float *)ws;
        if (kp.nhwc)
            (kp.sw == 1 ? launch_sw<T, 1, true> : launch_sw<T, 2, true>)(kp, g, slices, xt, dyt,
                                                                         part, dwt, st);
        else
            (kp.sw == 1 ? launch_sw<T, 1, false> : launch_sw<T, 2, false>)(kp, g, slices, xt, dyt,
                                                                           part, dwt, st);
        if (slices > 1) sc_slice_sum<T>(kp.k, kp.cg * 9, slices, part, dwt, st);
        return (int)cudaGetLastError();
    });
}
