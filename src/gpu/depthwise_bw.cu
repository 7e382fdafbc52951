/* depthwise_bw.cu - depthwise backward-weight in fixed row slices (the plan: depthwise.h).
 * NHWC square 3/5/7 filters (dwb_rows): 32 consecutive channels per block, one lane each with
 * all R x S taps in registers, a fixed order of rows per warp, warps added in order, slices
 * added in order. NCHW rows of 3, 5 or 7 taps (dwb_plane): one channel per block, one filter row
 * a thread. Long filter rows, either layout (dwb_long): one channel per block, 8 taps a
 * thread. Same bits every run. */
#include "depthwise.h"
#include "dtype.cuh"
#include "launch.h"
#include "slice_sum.cuh"

typedef long long i64;

/* Tests only: the mutant (-DSC_DWB_MUTANT=1) drops the last warp's rows, which verify must
 * catch. */
#ifndef SC_DWB_MUTANT
#define SC_DWB_MUTANT 0
#endif
/* Tests only: -DSC_DWB_WMUTANT=1 loads the register windows' last new column one column short. */
#ifndef SC_DWB_WMUTANT
#define SC_DWB_WMUTANT 0
#endif
/* Tests only: -DSC_DWBL_MUTANT=1 loads the long-row kernel's new window column one short. */
#ifndef SC_DWBL_MUTANT
#define SC_DWBL_MUTANT 0
#endif
/* Tests only: -DSC_DWBP_MUTANT=1 loads the NCHW kernel's new window columns one short. */
#ifndef SC_DWBP_MUTANT
#define SC_DWBP_MUTANT 0
#endif
/* The widest filter whose interior loop keeps a register window of input columns (R x S
 * values beside the R x S sums: 7x7 would need 98 registers for the two). */
#define DWB_WINDOW_MAX_S 5

/* A compile-time int as a value (a generic lambda's template argument). */
template <int N>
struct sc_int_c {
    static constexpr int value = N;
};

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
            if constexpr (S == 5) {
                /* 5x5: the window below at column stride SW = 1 or 2 (no dilation): the taps of
                 * q + 1 read the columns of q shifted by SW, so each tap row keeps xw[r][s] =
                 * column q*SW - pw + s, carries S - SW of them over and loads SW new ones per q
                 * instead of S. The same products in the same order of q as at(q, false)
                 * gives each acc[r][s]. The 3x3 and 7x7 kernels keep the form after this
                 * branch: compiled from this generic form the 3x3 one ran its strided layers
                 * (at(q, false)) at up to 2.8x the time, and the window at stride 2 measured
                 * slower for 3x3 than the loads it saves (bench/NOTES.md). */
                auto window = [&](auto swc) {
                    constexpr int SW = decltype(swc)::value;
                    float xw[R][S];
                    const T *xq = xn + (i64)(qlo * SW - kp.pw) * C; /* column wb of q = qlo */
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        if (!(hv >> r & 1)) continue;
#pragma unroll
                        for (int s = SW; s < S; s++)
                            xw[r][s] = sc_get(xq + (roff[r] + (s - SW) * C));
                    }
#pragma unroll 2
                    for (int q = qlo; q < qhi; q++, xq += SW * C) {
                        const float g = sc_get(dyr + q * kp.k);
#pragma unroll
                        for (int r = 0; r < R; r++) {
                            if (!(hv >> r & 1)) continue;
#pragma unroll
                            for (int s = 0; s + SW < S; s++) xw[r][s] = xw[r][s + SW];
#pragma unroll
                            for (int s = S - SW; s < S; s++)
                                xw[r][s] = sc_get(
                                    xq + (roff[r] + (s - (s == S - 1 ? SC_DWB_WMUTANT : 0)) * C));
#pragma unroll
                            for (int s = 0; s < S; s++) acc[r][s] += xw[r][s] * g;
                        }
                    }
                };
                if (sw == 1 && kp.dw == 1 && qlo < qhi) {
                    window(sc_int_c<1>());
                } else if (sw == 2 && kp.dw == 1 && qlo < qhi) {
                    window(sc_int_c<2>());
                } else {
#pragma unroll 2
                    for (int q = qlo; q < qhi; q++) at(q, false);
                }
            } else if (S <= DWB_WINDOW_MAX_S && sw == 1 && kp.dw == 1 && qlo < qhi) {
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

/* NCHW backward-weight of 3-, 5- and 7-wide filter rows (depthwise.h, sc_dwbp_applies): block
 * (k, slice), the slice's output rows stage by stage; thread (group, r) adds, for filter row r,
 * dy[n][k][p][q] * x[n][c][p*sh - ph + r*dh][q*sw - pw + s] over its group's share of the stage's
 * positions, a window of S x values in registers moving by SW per q. Products with x outside
 * the image are products with the zero padding, as in the GEMM. */
/* (DWBP_T, 4): a 64-register bound; without one ptxas kept an instance at 32 registers and
 * spilled 8 bytes (sm_90, fp32, 5 taps) */
template <class T, int S, int SW>
__global__ __launch_bounds__(DWBP_T,
                             4) void dwb_plane(sc_kp kp, sc_dwbp_geo g, const T *__restrict__ x,
                                               const T *__restrict__ dy, float *__restrict__ part,
                                               T *__restrict__ dwt, int rps)
{
    extern __shared__ float4 smem4[];
    float *sm = (float *)smem4;
    float *dys = sm, *xs = sm + g.rb * g.qw;
    const int t = threadIdx.x, r = t % kp.r, grp = t / kp.r;
    const int lane = t & 31, warp = t >> 5;
    const bool act = grp < g.ng;
    const int k = blockIdx.x, c = k / kp.kg;
    const int rows = kp.n * kp.p, r0 = blockIdx.y * rps, r1 = min(rows, r0 + rps);

    float acc[S];
#pragma unroll
    for (int s = 0; s < S; s++) acc[s] = 0.f;

    int nr, h0, xr; /* this stage's rows: dy rows p0 .. p0+nr-1, x rows h0 .. h0+xr-1 */
    const T *dyk, *xc;
    const auto rows_at = [&](int n, int p0, int rows_n) {
        nr = rows_n, h0 = p0 * kp.sh - kp.ph, xr = (nr - 1) * kp.sh + (kp.r - 1) * kp.dh + 1;
        dyk = dy + (((i64)n * kp.k + k) * kp.p + p0) * kp.q;
        xc = x + ((i64)n * kp.c + c) * kp.h * kp.w;
    };
    const auto stage = [&](int q0, int qw) {
        const int w0 = q0 * SW - kp.pw, xw = (qw - 1) * SW + S;
        /* a warp per staged row, its lanes along the row's columns (consecutive addresses) */
        for (int u = warp; u < nr; u += DWBP_T / 32)
            for (int j = lane; j < qw; j += 32)
                dys[u * g.qw + j] = sc_ldg(dyk + ((i64)u * kp.q + q0 + j));
        for (int i = warp; i < xr; i += DWBP_T / 32) {
            const int h = h0 + i;
            const bool hin = (unsigned)h < (unsigned)kp.h;
            const T *src = xc + (i64)(hin ? h : 0) * kp.w;
            for (int j = lane; j < xw; j += 32) {
                const int w = w0 + j;
                xs[i * g.xp + j] = hin && (unsigned)w < (unsigned)kp.w ? sc_ldg(src + w) : 0.f;
            }
        }
    };
    const auto run = [&](int u, int qa, int qe) {
        const float *dr = dys + u * g.qw;
        const float *xrow = xs + (u * kp.sh + r * kp.dh) * g.xp;
        /* win[s] = x column q*SW + s; before q = qa its last S - SW columns are those q = qa
         * keeps */
        float win[S];
#pragma unroll
        for (int s = 0; s < S - SW; s++) win[s + SW] = xrow[qa * SW + s];
        for (int q = qa; q < qe; q++) {
#pragma unroll
            for (int s = 0; s < S - SW; s++) win[s] = win[s + SW];
#pragma unroll
            for (int s = S - SW; s < S; s++) win[s] = xrow[q * SW + s - SC_DWBP_MUTANT];
            const float gv = dr[q];
#pragma unroll
            for (int s = 0; s < S; s++) acc[s] = fmaf(gv, win[s], acc[s]);
        }
    };
    sc_slice_walk(kp.p, kp.q, r0, r1, g.rb, g.qw, grp, g.ng, rows_at, stage, run);

    /* the groups' sums added in group order: red[(r*S + s)*ng + grp] */
    __syncthreads();
    float *red = sm;
    if (act) {
#pragma unroll
        for (int s = 0; s < S; s++) red[(r * S + s) * g.ng + grp] = acc[s];
    }
    __syncthreads();
    for (int e = t; e < kp.r * S; e += DWBP_T) {
        float v = 0.f;
        for (int u = 0; u < g.ng; u++) v += red[e * g.ng + u];
        sc_slice_put(dwt, part, k, kp.k, kp.r * S, e, v);
    }
}

template <class T, int S>
static void launch_plane(const sc_kp &kp, int slices, const T *x, const T *dy, float *part, T *dwt,
                         cudaStream_t st)
{
    const sc_dwbp_geo g = sc_dwbp_geometry(&kp);
    const int rps = (int)sc_dwb_rows_per_slice(&kp, slices);
    dim3 grid((unsigned)kp.k, (unsigned)slices);
    if (kp.sw == 1)
        dwb_plane<T, S, 1><<<grid, DWBP_T, g.smem, st>>>(kp, g, x, dy, part, dwt, rps);
    else
        dwb_plane<T, S, 2><<<grid, DWBP_T, g.smem, st>>>(kp, g, x, dy, part, dwt, rps);
}

/* Backward-weight of long filter rows (depthwise.h, sc_dwbl_applies). Block (k, slice): the
 * slice's output rows in stages of RB rows, and each row's columns in equal chunks of QW <=
 * DWBL_QC: the stage's dy values dys[RB][DWBL_QC] and x values xs[RB][R][XW] (x column w = q0 -
 * pw + j at j, zero outside the image, XW = DWBL_QC + 8*NG so every tap group's window fits) go to shared
 * memory, then thread (g, part) adds, for its 8 taps s = 8g .. 8g+7 and its run of the chunk's
 * columns, dy[q] * x[q - pw + s] into acc[r][s - 8g]: a window of 8 x values in registers moves
 * one column per q, so each q costs two shared loads for 8 multiply-adds per filter row. The
 * order is fixed (rows, chunks, q within the run); then the parts are added in part order
 * through shared memory, and the block's sums go to part[slice][r*S + s][K] or to dw. Taps
 * past S (the last group's) are computed and dropped. Products with x outside the image are
 * products with the zero padding, as in the GEMM. */
/* (DWBL_T, 2): a 128-register bound; without one ptxas kept these at 64 registers and spilled
 * 12-28 bytes in some instances on sm_75-sm_90 */
template <class T, int R>
__global__ __launch_bounds__(DWBL_T, 2) void dwb_long(sc_kp kp, const T *__restrict__ x,
                                                      const T *__restrict__ dy,
                                                      float *__restrict__ part, T *__restrict__ dwt,
                                                      i64 rps)
{
    extern __shared__ float4 smem4[];
    float *sm = (float *)smem4;
    constexpr int RB = 8 / R;
    const int k = blockIdx.x, c = k / kp.kg, S = kp.s, NG = (S + 7) / 8, XW = DWBL_QC + 8 * NG;
    float *dys = sm, *xs = sm + RB * DWBL_QC;
    const int t = threadIdx.x, parts = DWBL_T / NG, g = t % NG, pt = t / NG;
    /* an odd run length: the warp's 4 runs (8 tap groups each) then read x from at most 2
     * addresses per bank, where 16 columns a run put 4 there */
    /* columns in equal chunks of at most DWBL_QC (513 columns: two of 257, not 512 and 1) */
    const int nch = (kp.q + DWBL_QC - 1) / DWBL_QC, QW = (kp.q + nch - 1) / nch;
    const int per = (QW + parts - 1) / parts | 1, ql0 = pt * per;
    /* output rows (n, p) in 32 bits (sc_dwbl_applies): 64-bit divisions are calls, whose
     * saved registers ptxas counts as spills */
    const int rows = kp.n * kp.p, r0 = (int)(blockIdx.y * rps);
    const int r1 = r0 + rps < rows ? r0 + (int)rps : rows;
    /* dy[n][k][p][q] and x[n][c][h][w]: steps per row and per column in either layout */
    const i64 dq = kp.nhwc ? kp.k : 1, xw = kp.nhwc ? kp.c : 1;

    float acc[R][8];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int i = 0; i < 8; i++) acc[r][i] = 0.f;

    for (int rb = r0; rb < r1; rb += RB) {
        for (int q0 = 0; q0 < kp.q; q0 += QW) {
            __syncthreads();                      /* the last chunk's reads are done */
            int n = rb / kp.p, p = rb - n * kp.p; /* of row rb + u, stepped with u */
            for (int u = 0; u < RB; u++, p++) {
                if (p == kp.p) p = 0, n++;
                const bool in = rb + u < r1;
                const T *dyr = dy + (kp.nhwc ? (((i64)n * kp.p + p) * kp.q) * kp.k + k
                                             : (((i64)n * kp.k + k) * kp.p + p) * kp.q);
#pragma unroll 1
                for (int j = t; j < QW; j += DWBL_T)
                    dys[u * DWBL_QC + j] =
                        in && q0 + j < kp.q ? sc_get(dyr + (i64)(q0 + j) * dq) : 0.f;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const int h = p - kp.ph + r;
                    const bool hin = in && (unsigned)h < (unsigned)kp.h;
                    const T *xr = x + (kp.nhwc ? (((i64)n * kp.h + h) * kp.w) * kp.c + c
                                               : (((i64)n * kp.c + c) * kp.h + h) * kp.w);
#pragma unroll 1
                    for (int j = t; j < QW + 8 * NG; j += DWBL_T) {
                        const int w = q0 - kp.pw + j;
                        xs[(u * R + r) * XW + j] =
                            hin && (unsigned)w < (unsigned)kp.w ? sc_get(xr + (i64)w * xw) : 0.f;
                    }
                }
            }
            __syncthreads();
            const int qa = ql0, qe = min(ql0 + per, min(QW, kp.q - q0));
            if (pt >= parts || qa >= qe) continue; /* (its window would start past xs) */
            for (int u = 0; u < RB && rb + u < r1; u++) {
                const float *dr = dys + u * DWBL_QC;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const float *xr = xs + (u * R + r) * XW + 8 * g;
                    float win[8];
#pragma unroll
                    for (int i = 0; i + 1 < 8; i++) win[i + 1] = xr[qa + i];
#pragma unroll 3 /* 2 and 4 drew 4-24 byte spills from ptxas on sm_80-sm_90 (16-bit) */
                    for (int q = qa; q < qe; q++) {
#pragma unroll
                        for (int i = 0; i + 1 < 8; i++) win[i] = win[i + 1];
                        win[7] = xr[q + 7 - SC_DWBL_MUTANT];
                        const float gv = dr[q];
#pragma unroll
                        for (int i = 0; i < 8; i++) acc[r][i] = fmaf(gv, win[i], acc[r][i]);
                    }
                }
            }
        }
    }

    /* the parts' sums, added in part order: red[r][part][8g + i] */
    __syncthreads();
    float *red = sm;
    if (pt < parts) {
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int i = 0; i < 8; i++) red[(r * parts + pt) * (8 * NG) + 8 * g + i] = acc[r][i];
    }
    __syncthreads();
    for (int e = t; e < R * S; e += DWBL_T) {
        const int r = e / S, s = e - r * S;
        float v = 0.f;
        for (int u = 0; u < parts; u++) v += red[(r * parts + u) * (8 * NG) + s];
        sc_slice_put(dwt, part, k, kp.k, R * S, e, v);
    }
}

/* Shared memory of dwb_long for r filter rows of s taps: the stage, or the parts' sums if
 * larger. Both grow with s, so s = DWBL_MAX_S gives the bound for r rows. */
static constexpr int dwbl_smem(int r, int s)
{
    const int ng = (s + 7) / 8, rb = 8 / r;
    const int stage = rb * DWBL_QC + rb * r * (DWBL_QC + 8 * ng);
    const int red = r * (DWBL_T / ng) * 8 * ng;
    return (stage > red ? stage : red) * (int)sizeof(float);
}

template <class T, int R>
static int launch_long(const sc_kp &kp, int slices, const T *x, const T *dy, float *part, T *dwt,
                       cudaStream_t st)
{
    const int smem = dwbl_smem(R, kp.s);
    if (int e = sc_smem_opt_in<dwb_long<T, R>>(smem, dwbl_smem(R, DWBL_MAX_S))) return e;
    dim3 grid((unsigned)kp.k, (unsigned)slices);
    dwb_long<T, R>
        <<<grid, DWBL_T, smem, st>>>(kp, x, dy, part, dwt, sc_dwb_rows_per_slice(&kp, slices));
    return 0;
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
    if (sc_dwbl_applies(&kp)) {
        int e = kp.r == 1   ? launch_long<T, 1>(kp, slices, x, dy, part, dwt, st)
                : kp.r == 2 ? launch_long<T, 2>(kp, slices, x, dy, part, dwt, st)
                            : launch_long<T, 3>(kp, slices, x, dy, part, dwt, st);
        if (e) return e;
    } else if (sc_dwbp_applies(&kp)) {
        if (kp.s == 3)
            launch_plane<T, 3>(kp, slices, x, dy, part, dwt, st);
        else if (kp.s == 5)
            launch_plane<T, 5>(kp, slices, x, dy, part, dwt, st);
        else
            launch_plane<T, 7>(kp, slices, x, dy, part, dwt, st);
    } else if (kp.r == 3)
        launch_rows<T, 3>(kp, slices, x, dy, part, dwt, st);
    else if (kp.r == 5)
        launch_rows<T, 5>(kp, slices, x, dy, part, dwt, st);
    else
        launch_rows<T, 7>(kp, slices, x, dy, part, dwt, st);
    if (slices > 1) sc_slice_sum<T>(kp.k, kp.r * kp.s, slices, part, dwt, st);
    return (int)cudaGetLastError();
}

int sc_launch_depthwise_bw(const sc_kp &kp, int slices, const void *x, const void *dy, void *dwt,
                           void *ws, cudaStream_t st)
{
    if (!(sc_dwb_applies(&kp) || sc_dwbl_applies(&kp) || sc_dwbp_applies(&kp)) || slices < 1 ||
        slices > DWB_MAX_SLICES || (slices > 1 && !ws))
        return (int)cudaErrorInvalidValue;
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using U = decltype(t);
        return launch<U>(kp, slices, (const U *)x, (const U *)dy, (U *)dwt, (float *)ws, st);
    });
}
