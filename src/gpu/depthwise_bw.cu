/* depthwise_bw.cu - NHWC depthwise backward-weight in fixed row slices (the plan: depthwise.h):
 * 32 consecutive channels per block, one lane each with all R x S taps in registers, a fixed
 * order of rows per warp, warps added in order, slices added in order. Same bits every run. */
#include "depthwise.h"
#include "dtype.cuh"
#include "launch.h"

typedef long long i64;

/* Tests only: the mutant (-DSC_DWB_MUTANT=1) drops the last warp's rows, which verify must
 * catch. */
#ifndef SC_DWB_MUTANT
#define SC_DWB_MUTANT 0
#endif
/* Tests only: -DSC_DWB_WMUTANT=1 loads the register window's new column one column short. */
#ifndef SC_DWB_WMUTANT
#define SC_DWB_WMUTANT 0
#endif
/* The widest filter whose interior loop keeps a register window of input columns (R x S
 * values beside the R x S sums: 7x7 would need 98 registers for the two). */
#define DWB_WINDOW_MAX_S 5

/* Pass 1: block (channel block bx, slice by). x is N,H,W,C; dy is N,P,Q,K; channel k reads
 * input channel k / kg. The slice's rows [r0, r1) of the N*P output rows are split into
 * DWB_WARPS consecutive runs, one per warp; a lane walks its run row by row, q by q, and adds
 * dy[n,p,q,k] * x[n,h,w,c] into acc[r][s] (a tap outside the input adds nothing; the interior
 * q, where no tap can fall outside, run without the checks). Warps 1.. put
 * their sums in shared memory and warp 0 adds them in warp order; the block's sums go to
 * part[slice][tap][K] (coalesced along k), or rounded to dw[k][tap] when there is one slice. */
template <class T, int R, int S>
__global__ __launch_bounds__(DWB_WARPS * 32, 1) void dwb_rows(sc_kp kp, const T *__restrict__ x,
                                                              const T *__restrict__ dy,
                                                              float *__restrict__ part,
                                                              T *__restrict__ dwt, i64 rps)
{
    __shared__ float red[DWB_WARPS - 1][R * S][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int k = blockIdx.x * DWB_CH + lane;
    const bool kin = k < kp.k;
    const int c = kin ? k / kp.kg : 0;
    const i64 rows = (i64)kp.n * kp.p;
    const i64 r0 = blockIdx.y * rps, r1 = r0 + rps < rows ? r0 + rps : rows;
    const i64 per = (r1 - r0 + DWB_WARPS - 1) / DWB_WARPS;
    const i64 w0 = r0 + warp * per, w1 = w0 + per < r1 ? w0 + per : r1;

    float acc[R][S];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int s = 0; s < S; s++) acc[r][s] = 0.f;

    if (kin) {
        const int C = kp.c, W = kp.w, sw = kp.sw, dwc = kp.dw * kp.c;
        /* The q whose S taps all lie inside the input row (wb >= 0, wb + (S-1)*dw < W): no
         * bounds checks there; the edges [0, qlo) and [qhi, Q) check each tap. */
        const int qlo = min(kp.q, (kp.pw + sw - 1) / sw);
        const int lim = W - 1 - (S - 1) * kp.dw + kp.pw;
        const int qhi = max(qlo, lim < 0 ? 0 : min(kp.q, lim / sw + 1));
        for (i64 row = w0; row < w1; row++) {
            const int n = (int)(row / kp.p), p = (int)(row - (i64)n * kp.p);
            const T *dyr = dy + row * kp.q * kp.k + k; /* dy[n][p][0][k] */
            const T *xn = x + (i64)n * kp.h * W * C + c;
            const int hb = p * kp.sh - kp.ph;
            /* each tap row inside the input: its offset from xn in 32 bits (within one image),
             * and a bit of hv; offsets rather than 64-bit pointers keep the per-row state in few
             * scalar registers (AMD's SGPRs: seven pointers spilled there) */
            int roff[R];
            unsigned hv = 0;
#pragma unroll
            for (int r = 0; r < R; r++) {
                const int h = hb + r * kp.dh;
                const bool in = (unsigned)h < (unsigned)kp.h;
                hv |= (unsigned)in << r;
                roff[r] = (in ? h : 0) * W * C;
            }
            /* one output position: offsets within the image row in 32 bits (C*H*W < 2^31) */
            auto at = [&](int q, bool edge) {
                const float g = sc_get(dyr + q * kp.k);
                const int wb = q * sw - kp.pw;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    if (!(hv >> r & 1)) continue;
#pragma unroll
                    for (int s = 0; s < S; s++)
                        if (!edge || (unsigned)(wb + s * kp.dw) < (unsigned)W)
                            acc[r][s] += sc_get(xn + (roff[r] + wb * C + s * dwc)) * g;
                }
            };
            for (int q = 0; q < qlo; q++) at(q, true);
            if (S <= DWB_WINDOW_MAX_S && sw == 1 && kp.dw == 1 && qlo < qhi) {
                /* Stride 1, no dilation: the taps of q + 1 read the columns of q shifted by
                 * one, so each tap row keeps its S columns in registers (xw[r][s] = column
                 * q - pw + s) and loads one new column per q instead of S. Each acc[r][s]
                 * gets the same products in the same order of q as at(q, false) gives it. */
                float xw[R][S];
                const T *xq = xn + (i64)(qlo - kp.pw) * C; /* column wb of q = qlo */
#pragma unroll
                for (int r = 0; r < R; r++) {
                    if (!(hv >> r & 1)) continue;
#pragma unroll
                    for (int s = 0; s + 1 < S; s++) xw[r][s + 1] = sc_get(xq + (roff[r] + s * C));
                }
#pragma unroll 2
                for (int q = qlo; q < qhi; q++, xq += C) {
                    const float g = sc_get(dyr + q * kp.k);
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        if (!(hv >> r & 1)) continue;
#pragma unroll
                        for (int s = 0; s + 1 < S; s++) xw[r][s] = xw[r][s + 1];
                        xw[r][S - 1] = sc_get(xq + (roff[r] + (S - 1 - SC_DWB_WMUTANT) * C));
#pragma unroll
                        for (int s = 0; s < S; s++) acc[r][s] += xw[r][s] * g;
                    }
                }
            } else {
#pragma unroll 2
                for (int q = qlo; q < qhi; q++) at(q, false);
            }
            for (int q = qhi; q < kp.q; q++) at(q, true);
        }
    }

    if (warp > 0) {
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int s = 0; s < S; s++) red[warp - 1][r * S + s][lane] = acc[r][s];
    }
    __syncthreads();
    if (warp > 0 || !kin) return;
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int s = 0; s < S; s++) {
            float v = acc[r][s];
            for (int u = 0; u < DWB_WARPS - 1 - SC_DWB_MUTANT; u++) v += red[u][r * S + s][lane];
            if (gridDim.y == 1)
                sc_put(dwt + ((i64)k * R * S + r * S + s), v);
            else
                part[((i64)blockIdx.y * R * S + r * S + s) * kp.k + k] = v;
        }
}

/* Pass 2: a block per 32 consecutive (tap, k) entries i of part's rows (one lane each); warp j
 * adds the slices j, j + 8, j + 16, ... in that order (independent loads, four in flight), then
 * warp 0 adds the eight warps' sums in warp order and rounds to dw[k][tap]. One long
 * chain of dependent loads per entry, as a thread per entry would make, leaves the GPU waiting
 * on memory latency with a few thousand threads. */
#define DWB_SUM_WARPS 8
template <class T>
__global__ __launch_bounds__(DWB_SUM_WARPS * 32) void dwb_sum(int k_count, int taps, int slices,
                                                              const float *__restrict__ part,
                                                              T *__restrict__ dwt)
{
    __shared__ float red[DWB_SUM_WARPS][32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const i64 per = (i64)taps * k_count;
    const i64 i = (i64)blockIdx.x * 32 + lane;
    float v = 0.f;
    if (i < per) {
        int s = warp;
        for (; s + 3 * DWB_SUM_WARPS < slices; s += 4 * DWB_SUM_WARPS) {
            float a = part[(i64)s * per + i], b = part[(i64)(s + DWB_SUM_WARPS) * per + i];
            float c = part[(i64)(s + 2 * DWB_SUM_WARPS) * per + i];
            float d = part[(i64)(s + 3 * DWB_SUM_WARPS) * per + i];
            v = (((v + a) + b) + c) + d;
        }
        for (; s < slices; s += DWB_SUM_WARPS) v += part[(i64)s * per + i];
    }
    red[warp][lane] = v;
    __syncthreads();
    if (warp != 0 || i >= per) return;
    v = red[0][lane];
    for (int u = 1; u < DWB_SUM_WARPS; u++) v += red[u][lane];
    const int tap = (int)(i / k_count), k = (int)(i - (i64)tap * k_count);
    sc_put(dwt + ((i64)k * taps + tap), v);
}

template <class T, int R>
static void launch_rows(const sc_kp &kp, int slices, const T *x, const T *dy, float *part, T *dwt,
                        cudaStream_t st)
{
    dim3 grid((unsigned)sc_dwb_cblocks(&kp), (unsigned)slices);
    dwb_rows<T, R, R>
        <<<grid, DWB_WARPS * 32, 0, st>>>(kp, x, dy, part, dwt, sc_dwb_rows_per_slice(&kp, slices));
}

template <class T>
static int launch(const sc_kp &kp, int slices, const T *x, const T *dy, T *dwt, float *part,
                  cudaStream_t st)
{
    if (kp.r == 3)
        launch_rows<T, 3>(kp, slices, x, dy, part, dwt, st);
    else if (kp.r == 5)
        launch_rows<T, 5>(kp, slices, x, dy, part, dwt, st);
    else
        launch_rows<T, 7>(kp, slices, x, dy, part, dwt, st);
    if (slices > 1) {
        i64 per = (i64)kp.r * kp.s * kp.k;
        dwb_sum<T><<<(unsigned)((per + 31) / 32), DWB_SUM_WARPS * 32, 0, st>>>(kp.k, kp.r * kp.s,
                                                                               slices, part, dwt);
    }
    return (int)cudaGetLastError();
}

int sc_launch_depthwise_bw(const sc_kp &kp, int slices, const void *x, const void *dy, void *dwt,
                           void *ws, cudaStream_t st)
{
    if (!sc_dwb_applies(&kp) || slices < 1 || slices > DWB_MAX_SLICES || (slices > 1 && !ws))
        return (int)cudaErrorInvalidValue;
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using U = decltype(t);
        return launch<U>(kp, slices, (const U *)x, (const U *)dy, (U *)dwt, (float *)ws, st);
    });
}
