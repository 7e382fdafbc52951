/* depthwise.cu - depthwise direct kernels (groups == C, C/groups == 1, K = multiplier*C):
 * forward, backward-data and backward-weight, with a register-blocked variant for rows of 3, 5
 * or 7 taps, a backward-data for rows of 8 or more taps (and its NHWC form for multipliers of
 * 4 and 8k) and one for column stride 2. Each output element is written by one thread, or by one
 * block reducing in a fixed order: the same bits on every run. Where they apply:
 * fam_depthwise.c. */
#include "dtype.cuh"
#include "launch.h"

typedef long long i64;

/* Tests only: the mutant (-DSC_DWB_MUTANT=1; depthwise_bw.cu has its own) drops the first tap
 * of the strided backward-data, which verify must catch. */
#ifndef SC_DWB_MUTANT
#define SC_DWB_MUTANT 0
#endif
/* Tests only: -DSC_DWL_MUTANT=1 drops the last tap of every row in the long-filter
 * backward-data (dw_bwd_data_long), 2 in its NHWC kernel of 4 or 8 outputs a channel
 * (dw_bwd_data_long_v), 3 in both, which verify --shape-class dwlong must catch. */
#ifndef SC_DWL_MUTANT
#define SC_DWL_MUTANT 0
#endif

/* ---- depthwise (groups == C, Cg == 1, K = mult*C) ------------------------------------------ */
/* Forward: grid.y = n; each thread one output of image n; 32-bit index within the image
 * (backend.cu checks K*P*Q and C*H*W < 2^31). k = c*mult + j reads channel c. */
struct dw_div {
    sc_fdiv q, p, k, mult, sh, sw;
};

template <class T>
__global__ __launch_bounds__(256, 1) void dw_fwd(sc_kp kp, dw_div dv, const T *__restrict__ x,
                                                 const T *__restrict__ w,
                                                 const T *__restrict__ bias, T *__restrict__ y)
{
    int per = kp.k * kp.p * kp.q;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= per) return;
    int n = blockIdx.y;
    int k, p, q, t;
    if (kp.nhwc) {
        t = sc_div(i, dv.k), k = i - t * kp.k;
        p = sc_div(t, dv.q), q = t - p * kp.q;
    } else {
        t = sc_div(i, dv.q), q = i - t * kp.q;
        k = sc_div(t, dv.p), p = t - k * kp.p;
    }
    int c = sc_div(k, dv.mult);
    const T *xn = x + (i64)n * kp.c * kp.h * kp.w;
    const T *wk = w + (i64)k * kp.r * kp.s;
    int h0 = p * kp.sh - kp.ph, w0 = q * kp.sw - kp.pw;
    float acc = 0.f;
    for (int r = 0; r < kp.r; r++) {
        int h = h0 + r * kp.dh;
        if ((unsigned)h >= (unsigned)kp.h) continue;
        for (int s = 0; s < kp.s; s++) {
            int ww = w0 + s * kp.dw;
            if ((unsigned)ww >= (unsigned)kp.w) continue;
            float xv = kp.nhwc ? sc_get(xn + (((i64)h * kp.w + ww) * kp.c + c))
                               : sc_get(xn + (((i64)c * kp.h + h) * kp.w + ww));
            acc += xv * sc_get(wk + (r * kp.s + s));
        }
    }
    if (bias) acc += sc_get(bias + (k));
    sc_put(y + ((i64)n * per + i), acc);
}

/* A dx element i of one image (NCHW or NHWC order): its channel and position (dvx's fields
 * q = W, p = H, k = C). */
struct dw_at {
    int c, h, w;
};
__device__ __forceinline__ dw_at dw_dx_at(const sc_kp &kp, const dw_div &dvx, int i)
{
    dw_at a;
    int t;
    if (kp.nhwc) {
        t = sc_div(i, dvx.k), a.c = i - t * kp.c;
        a.h = sc_div(t, dvx.q), a.w = t - a.h * kp.w;
    } else {
        t = sc_div(i, dvx.q), a.w = i - t * kp.w;
        a.c = sc_div(t, dvx.p), a.h = t - a.c * kp.h;
    }
    return a;
}

/* One term of a depthwise dx: dy[k][p][q] of one image (dyn, either layout) times tap (r, s)
 * of filter k. */
template <class T>
__device__ __forceinline__ float dw_bd_term(const sc_kp &kp, const T *__restrict__ dyn,
                                            const T *__restrict__ w, int k, int p, int q, int r,
                                            int s)
{
    float g = kp.nhwc ? sc_get(dyn + (((i64)p * kp.q + q) * kp.k + k))
                      : sc_get(dyn + (((i64)k * kp.p + p) * kp.q + q));
    return g * sc_get(w + (((i64)k * kp.r + r) * kp.s + s));
}

/* Backward-data: each thread one dx element of image n (grid.y), summing its own taps in a
 * fixed order (r, s, j). */
template <class T>
__global__ __launch_bounds__(256, 1) void dw_bwd_data(sc_kp kp, dw_div dvx,
                                                      const T *__restrict__ dy,
                                                      const T *__restrict__ w, T *__restrict__ dx)
{
    /* dvx reuses the fields: q = W, p = H, k = C */
    int per = kp.c * kp.h * kp.w;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= per) return;
    int n = blockIdx.y;
    const dw_at at = dw_dx_at(kp, dvx, i);
    const int c = at.c, h = at.h, ww = at.w;
    int mult = kp.kg;
    const T *dyn = dy + (i64)n * kp.k * kp.p * kp.q;
    float acc = 0.f;
    for (int r = 0; r < kp.r; r++) {
        int hh = h + kp.ph - r * kp.dh;
        if (hh < 0) break;
        int p = sc_div(hh, dvx.sh);
        if (p * kp.sh != hh || p >= kp.p) continue;
        for (int s = 0; s < kp.s; s++) {
            int wq = ww + kp.pw - s * kp.dw;
            if (wq < 0) break;
            int q = sc_div(wq, dvx.sw);
            if (q * kp.sw != wq || q >= kp.q) continue;
            for (int j = 0; j < mult; j++) acc += dw_bd_term(kp, dyn, w, c * mult + j, p, q, r, s);
        }
    }
    sc_put(dx + ((i64)n * per + i), acc);
}

/* Backward-data without dilation (the strided layers: stride 1 has the register-blocked kernel
 * below): as dw_bwd_data, but visiting only the taps that reach an output. */
template <class T>
__global__
    __launch_bounds__(256, 1) void dw_bwd_data_nodil(sc_kp kp, dw_div dvx, const T *__restrict__ dy,
                                                     const T *__restrict__ w, T *__restrict__ dx)
{
    int per = kp.c * kp.h * kp.w;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= per) return;
    int n = blockIdx.y;
    const dw_at at = dw_dx_at(kp, dvx, i);
    const int c = at.c, h = at.h, ww = at.w;
    int mult = kp.kg;
    const T *dyn = dy + (i64)n * kp.k * kp.p * kp.q;
    float acc = 0.f;
    /* Only the taps that reach an output: r = (h + ph) mod sh, then every sh-th, with
     * p = (h + ph - r) / sh going down by one; likewise s and q. The same terms in the same
     * order as dw_bwd_data's loop, without the (R*S)(1 - 1/(sh*sw)) taps it skips. */
    const int hh = h + kp.ph, wq = ww + kp.pw; /* >= 0 */
    const int pt = sc_div(hh, dvx.sh), qt = sc_div(wq, dvx.sw);
    const int rb = hh - pt * kp.sh, sb = wq - qt * kp.sw;
#pragma unroll 1
    for (int r = rb, p = pt; r < kp.r && p >= 0; r += kp.sh, p--) {
        if (p >= kp.p) continue;
#pragma unroll 1
        for (int s = sb, q = qt; s < kp.s && q >= 0; s += kp.sw, q--) {
            if (q >= kp.q || (SC_DWB_MUTANT && r == rb && s == sb)) continue;
#pragma unroll 1
            for (int j = 0; j < mult; j++) acc += dw_bd_term(kp, dyn, w, c * mult + j, p, q, r, s);
        }
    }
    sc_put(dx + ((i64)n * per + i), acc);
}

/* Backward-weight: one block per (k, tap); threads stride over (n, p, q) in a fixed order,
 * then a fixed tree. Coalesced in NCHW only: the NHWC backward-weight of square 3/5/7 filters
 * has its own kernel (depthwise_bw.cu). */
template <class T>
__global__ __launch_bounds__(256, 1) void dw_bwd_weight(sc_kp kp, const T *__restrict__ x,
                                                        const T *__restrict__ dy,
                                                        T *__restrict__ dwt)
{
    __shared__ float red[256];
    int tap = blockIdx.x, k = blockIdx.y;
    int r = tap / kp.s, s = tap - r * kp.s;
    int c = k / kp.kg;
    int pq = kp.p * kp.q;
    float acc = 0.f;
    for (int n = 0; n < kp.n; n++) {
        const T *xn = x + (i64)n * kp.c * kp.h * kp.w;
        const T *dyn = dy + (i64)n * kp.k * pq;
        for (int j = threadIdx.x; j < pq; j += 256) {
            int p = j / kp.q, q = j - p * kp.q;
            int h = p * kp.sh - kp.ph + r * kp.dh, ww = q * kp.sw - kp.pw + s * kp.dw;
            if ((unsigned)h >= (unsigned)kp.h || (unsigned)ww >= (unsigned)kp.w) continue;
            float xv = kp.nhwc ? sc_get(xn + (((i64)h * kp.w + ww) * kp.c + c))
                               : sc_get(xn + (((i64)c * kp.h + h) * kp.w + ww));
            float g = kp.nhwc ? sc_get(dyn + ((i64)j * kp.k + k)) : sc_get(dyn + ((i64)k * pq + j));
            acc += xv * g;
        }
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) sc_put(dwt + ((i64)k * kp.r * kp.s + tap), red[0]);
}

/* Depthwise, register-blocked: each thread QV consecutive outputs along the row, so one row of
 * (QV-1)*SW+S inputs serves QV*S multiply-adds (instead of QV*S loads). Column stride SW (1, or
 * 2 for the forward), column dilation 1, S in {3,5,7}. Forward: any row stride/dilation, any
 * multiplier. Backward-data with stride and dilation 1 and multiplier 1 is the same
 * correlation of dy with the flipped filter and padding R-1-pad (flip = 1). One image per
 * grid.y; index within the image in 32 bits. */
#define DW_QV 4
struct dwf_p {
    int cin, hin, win, cout, hout, wout, R, sh, dh, ph, pw, flip, nhwc, qb;
    sc_fdiv dqb, dhout, dcout, dmult;
};

template <class T, int S, int SW>
__device__ __forceinline__ void dw_fast_body(const dwf_p &a, const T *__restrict__ in,
                                             const T *__restrict__ wt, const T *__restrict__ bias,
                                             T *__restrict__ out)
{
    int per = a.cout * a.hout * a.qb;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= per) return;
    int n = blockIdx.y, k, p, jb, t;
    if (a.nhwc) {
        t = sc_div(i, a.dcout), k = i - t * a.cout;
        p = sc_div(t, a.dqb), jb = t - p * a.qb;
    } else {
        t = sc_div(i, a.dqb), jb = i - t * a.qb;
        k = sc_div(t, a.dhout), p = t - k * a.hout;
    }
    int ic = sc_div(k, a.dmult);
    int q0 = jb * DW_QV;
    const T *inn = in + (i64)n * a.cin * a.hin * a.win;
    const T *wk = wt + (i64)k * a.R * S;
    float acc[DW_QV];
    float b0 = bias ? sc_get(bias + (k)) : 0.f;
#pragma unroll
    for (int j = 0; j < DW_QV; j++) acc[j] = b0;
    for (int r = 0; r < a.R; r++) {
        int h = p * a.sh - a.ph + r * a.dh;
        if ((unsigned)h >= (unsigned)a.hin) continue;
        float xr[(DW_QV - 1) * SW + S];
#pragma unroll
        for (int u = 0; u < (DW_QV - 1) * SW + S; u++) {
            int w = q0 * SW - a.pw + u;
            xr[u] = (unsigned)w < (unsigned)a.win
                        ? (a.nhwc ? sc_get(inn + (((i64)h * a.win + w) * a.cin + ic))
                                  : sc_get(inn + (((i64)ic * a.hin + h) * a.win + w)))
                        : 0.f;
        }
        const T *wr = a.flip ? wk + (a.R - 1 - r) * S : wk + r * S;
#pragma unroll
        for (int s = 0; s < S; s++) {
            float wv = a.flip ? sc_get(wr + (S - 1 - s)) : sc_get(wr + (s));
#pragma unroll
            for (int j = 0; j < DW_QV; j++) acc[j] += xr[j * SW + s] * wv;
        }
    }
    T *o = out + (i64)n * a.cout * a.hout * a.wout;
#pragma unroll
    for (int j = 0; j < DW_QV; j++) {
        int q = q0 + j;
        if (q < a.wout) {
            if (a.nhwc)
                sc_put(o + (((i64)p * a.wout + q) * a.cout + k), acc[j]);
            else
                sc_put(o + (((i64)k * a.hout + p) * a.wout + q), acc[j]);
        }
    }
}

/* fp32, and fp16/bf16 with one block per SM promised to the register allocator: without it
 * ptxas spills 12 bytes of the 16-bit S = 3 kernel on sm_90 (40 registers used). */
template <class T, int S, int SW>
__global__ __launch_bounds__(256) void dw_fast(dwf_p a, const T *__restrict__ in,
                                               const T *__restrict__ wt, const T *__restrict__ bias,
                                               T *__restrict__ out)
{
    dw_fast_body<T, S, SW>(a, in, wt, bias, out);
}
template <class T, int S, int SW>
__global__ __launch_bounds__(256, 1) void dw_fast16(dwf_p a, const T *__restrict__ in,
                                                    const T *__restrict__ wt,
                                                    const T *__restrict__ bias, T *__restrict__ out)
{
    dw_fast_body<T, S, SW>(a, in, wt, bias, out);
}

/* The register-blocked kernel for filter width s (3, 5 or 7) and column stride SW. */
template <class T, int SW>
static void dw_fast_go(int s, dim3 grid, const dwf_p &a, const T *in, const T *w, const T *bias,
                       T *out, cudaStream_t st)
{
    if constexpr (sizeof(T) == 2) {
        if (s == 3)
            dw_fast16<T, 3, SW><<<grid, 256, 0, st>>>(a, in, w, bias, out);
        else if (s == 5)
            dw_fast16<T, 5, SW><<<grid, 256, 0, st>>>(a, in, w, bias, out);
        else
            dw_fast16<T, 7, SW><<<grid, 256, 0, st>>>(a, in, w, bias, out);
    } else {
        if (s == 3)
            dw_fast<T, 3, SW><<<grid, 256, 0, st>>>(a, in, w, bias, out);
        else if (s == 5)
            dw_fast<T, 5, SW><<<grid, 256, 0, st>>>(a, in, w, bias, out);
        else
            dw_fast<T, 7, SW><<<grid, 256, 0, st>>>(a, in, w, bias, out);
    }
}

/* ---- backward-data of long filter rows (stride 1, no dilation, S >= DWL_MIN_S) ------------ */
/* An EEG-style temporal layer (1 -> 16 channels, a 1x64 filter) or any depthwise layer with
 * long rows: the generic kernel makes two loads per multiply-add there (dy and the filter). Here
 * each thread computes DWL_QV consecutive columns w0 .. w0+QV-1 of one row h of input channel c
 * of image n (grid.y): dx[w0+u] = sum over the channel's outputs k = c*mult + j, the rows r
 * with p = h + ph - r inside dy, and the taps s of dy[k][p][w0 + u + pw - s] * wt[k][r][s], in
 * that order (j, r, s): the same bits every run. For one (j, r) the QV columns of tap s are
 * those of tap s - 1 moved one to the left, so a ring of QV registers keeps them and each tap
 * loads one dy value (outside dy: 0) and one filter value (the same for the whole warp) for QV
 * multiply-adds. The ring's slot of window position u at step t of a group of QV taps is
 * (u - t) mod QV, the slot a value loaded at step t takes is (QV - t) mod QV: with the loop over
 * t unrolled every index is a constant. Index within an image in 32 bits (backend.cu checks). */
#define DWL_QV    8
#define DWL_MIN_S 8
struct dwl_p {
    int c, h, w, k, p, q, r, s, ph, pw, mult, nhwc, wb;
    sc_fdiv dwb, dh;
};

/* The thread's input channel c, row h and first column w0 (grid.x over C x H x column blocks,
 * blocks fastest); false past the end. */
__device__ __forceinline__ bool dwl_at(const dwl_p &a, int &c, int &h, int &w0)
{
    const int i = blockIdx.x * 256 + threadIdx.x;
    if (i >= a.c * a.h * a.wb) return false;
    const int t = sc_div(i, a.dwb);
    c = sc_div(t, a.dh), h = t - c * a.h;
    w0 = (i - t * a.wb) * DWL_QV;
    return true;
}

template <class T>
__global__ __launch_bounds__(256) void dw_bwd_data_long(dwl_p a, const T *__restrict__ dy,
                                                        const T *__restrict__ wt,
                                                        T *__restrict__ dx)
{
    int c, h, w0;
    if (!dwl_at(a, c, h, w0)) return;
    const int n = blockIdx.y;
    /* dy[n][k][p][q]: step per k, per row, per column, in either layout */
    const i64 sk = a.nhwc ? 1 : (i64)a.p * a.q, sp = a.nhwc ? (i64)a.q * a.k : a.q,
              sq = a.nhwc ? a.k : 1;
    const T *dyn = dy + (i64)n * a.k * a.p * a.q;
    const int ntaps = a.s - (SC_DWL_MUTANT & 1);
    float acc[DWL_QV];
#pragma unroll
    for (int u = 0; u < DWL_QV; u++) acc[u] = 0.f;
    for (int j = 0; j < a.mult; j++) {
        const int k = c * a.mult + j;
        for (int r = 0; r < a.r; r++) {
            const int p = h + a.ph - r;
            if ((unsigned)p >= (unsigned)a.p) continue;
            const T *row = dyn + k * sk + p * sp;
            const T *wr = wt + ((i64)k * a.r + r) * a.s;
            const int q0 = w0 + a.pw; /* the column of tap 0 for u = 0 */
            auto col = [&](int q) {
                return (unsigned)q < (unsigned)a.q ? sc_get(row + q * sq) : 0.f;
            };
            float ring[DWL_QV];
            ring[0] = 0.f;
#pragma unroll
            for (int u = 1; u < DWL_QV; u++) ring[u] = col(q0 + u); /* slots (u - 0) mod QV */
            for (int s0 = 0; s0 < ntaps; s0 += DWL_QV) {
#pragma unroll
                for (int tt = 0; tt < DWL_QV; tt++) {
                    const int sidx = s0 + tt;
                    if (sidx < ntaps) { /* the last group may be short */
                        ring[(DWL_QV - tt) % DWL_QV] = col(q0 - sidx); /* position u = 0 */
                        const float wv = sc_get(wr + sidx);
#pragma unroll
                        for (int u = 0; u < DWL_QV; u++)
                            acc[u] += ring[(u - tt + DWL_QV) % DWL_QV] * wv;
                    }
                }
            }
        }
    }
    T *dxn = dx + (i64)n * a.c * a.h * a.w;
#pragma unroll
    for (int u = 0; u < DWL_QV; u++) {
        const int w = w0 + u;
        if (w < a.w) {
            if (a.nhwc)
                sc_put(dxn + (((i64)h * a.w + w) * a.c + c), acc[u]);
            else
                sc_put(dxn + (((i64)c * a.h + h) * a.w + w), acc[u]);
        }
    }
}

/* ---- backward-data of strided rows (column stride 2, no dilation, S in {3, 5, 7}) ---------- */
/* The strided layers of MobileNet/EfficientNet-style models (3x3 or 5x5, stride 2): the
 * one-thread-per-element kernel (dw_bwd_data_nodil) reloads dy and the filter for each of an
 * element's few taps. Here each thread computes DWS_QV consecutive columns of one row h of input
 * channel c of image n (grid.y). In the padded column index t = w + pw, dx[t] gets
 * dy[(t - s) / 2] * wt[s] for the taps s with t - s even; the thread's columns are t0 .. t0+QV-1
 * with t0 a multiple of QV (even), so output u and tap s meet dy column t0/2 + (u - s)/2 exactly
 * when u - s is even (a constant with the loops unrolled), and QV/2 + (S-1)/2 dy values of one row
 * (outside dy: 0) with S filter values serve all QV*S/2 multiply-adds of that row. Rows as
 * dw_bwd_data_nodil's: r = (h + ph) mod sh, then every sh-th, p going down by one. Each dx
 * element sums in the fixed order (r, j, s): the same bits every run. Index within an image in
 * 32 bits (fam_depthwise.c's limits; dws_launch checks the blocked count). */
#define DWS_QV 8
/* Tests only: -DSC_DWS_MUTANT=1 drops tap 1 of the last column of each thread's block, which
 * verify --shape-class dws2 must catch. */
#ifndef SC_DWS_MUTANT
#define SC_DWS_MUTANT 0
#endif
struct dws_p {
    int c, h, w, k, p, q, r, sh, ph, pw, mult, nhwc;
    int tb, b0; /* column blocks of the image row, and the first one's index (pw / QV) */
    sc_fdiv dc, dtb, dh, dsh;
};

template <class T, int S>
__global__ __launch_bounds__(256) void dw_bwd_data_s2(dws_p a, const T *__restrict__ dy,
                                                      const T *__restrict__ wt, T *__restrict__ dx)
{
    constexpr int HALF = (S - 1) / 2, NW = DWS_QV / 2 + HALF;
    const int i = blockIdx.x * 256 + threadIdx.x;
    if (i >= a.c * a.h * a.tb) return;
    const int n = blockIdx.y;
    int c, h, b, t;
    if (a.nhwc) { /* channels fastest: a warp's loads and stores are 32 consecutive channels */
        t = sc_div(i, a.dc), c = i - t * a.c;
        h = sc_div(t, a.dtb), b = t - h * a.tb;
    } else {
        t = sc_div(i, a.dtb), b = i - t * a.tb;
        c = sc_div(t, a.dh), h = t - c * a.h;
    }
    const int t0 = (b + a.b0) * DWS_QV;
    const int qb = t0 / 2 - HALF; /* dy column of window slot 0 */
    /* dy[n][k][p][q]: step per k, per row, per column, in either layout */
    const i64 sk = a.nhwc ? 1 : (i64)a.p * a.q, sp = a.nhwc ? (i64)a.q * a.k : a.q,
              sq = a.nhwc ? a.k : 1;
    const T *dyn = dy + (i64)n * a.k * a.p * a.q;
    float acc[DWS_QV];
#pragma unroll
    for (int u = 0; u < DWS_QV; u++) acc[u] = 0.f;
    const int hh = h + a.ph; /* >= 0 */
    const int pt = sc_div(hh, a.dsh), rb = hh - pt * a.sh;
#pragma unroll 1
    for (int r = rb, p = pt; r < a.r && p >= 0; r += a.sh, p--) {
        if (p >= a.p) continue;
#pragma unroll 1
        for (int j = 0; j < a.mult; j++) {
            const int k = c * a.mult + j;
            const T *row = dyn + k * sk + p * sp;
            const T *wr = wt + ((i64)k * a.r + r) * S;
            float win[NW], wv[S];
#pragma unroll
            for (int m = 0; m < NW; m++)
                win[m] = (unsigned)(qb + m) < (unsigned)a.q ? sc_get(row + (qb + m) * sq) : 0.f;
#pragma unroll
            for (int s = 0; s < S; s++) wv[s] = sc_get(wr + s);
#pragma unroll
            for (int u = 0; u < DWS_QV; u++) {
#pragma unroll
                for (int s = (u & 1); s < S; s += 2) { /* u - s even */
                    if (SC_DWS_MUTANT && u == DWS_QV - 1 && s == 1) continue;
                    acc[u] += win[(u - s) / 2 + HALF] * wv[s];
                }
            }
        }
    }
    T *dxn = dx + (i64)n * a.c * a.h * a.w;
#pragma unroll
    for (int u = 0; u < DWS_QV; u++) {
        const int w = t0 + u - a.pw;
        if ((unsigned)w < (unsigned)a.w) {
            if (a.nhwc)
                sc_put(dxn + (((i64)h * a.w + w) * a.c + c), acc[u]);
            else
                sc_put(dxn + (((i64)c * a.h + h) * a.w + w), acc[u]);
        }
    }
}

/* Launch the strided-row backward-data if it applies; false = another kernel. */
template <class T>
static bool dws_launch(const sc_kp &kp, const T *dy, const T *w, T *dx, cudaStream_t st)
{
    if (kp.sw != 2 || kp.dw != 1 || kp.dh != 1 || (kp.s != 3 && kp.s != 5 && kp.s != 7))
        return false;
    dws_p a;
    a.c = kp.c, a.h = kp.h, a.w = kp.w, a.k = kp.k, a.p = kp.p, a.q = kp.q, a.r = kp.r;
    a.sh = kp.sh, a.ph = kp.ph, a.pw = kp.pw, a.mult = kp.kg, a.nhwc = kp.nhwc;
    a.b0 = kp.pw / DWS_QV;
    a.tb = (kp.w - 1 + kp.pw) / DWS_QV - a.b0 + 1;
    a.dc = sc_fdiv_make(kp.c), a.dtb = sc_fdiv_make(a.tb), a.dh = sc_fdiv_make(kp.h);
    a.dsh = sc_fdiv_make(kp.sh);
    long long per = (long long)kp.c * kp.h * a.tb;
    if (per >= (1ll << 31) - 256) return false;
    dim3 grid((unsigned)((per + 255) / 256), kp.n);
    if (kp.s == 3)
        dw_bwd_data_s2<T, 3><<<grid, 256, 0, st>>>(a, dy, w, dx);
    else if (kp.s == 5)
        dw_bwd_data_s2<T, 5><<<grid, 256, 0, st>>>(a, dy, w, dx);
    else
        dw_bwd_data_s2<T, 7><<<grid, 256, 0, st>>>(a, dy, w, dx);
    return true;
}

/* The same layers in NHWC with a channel multiplier of 4 or 8k (an EEG-style temporal layer:
 * one input channel, 16 outputs): there dy's values of one column and the outputs k = c*mult+j
 * are adjacent, 4*mult bytes of one column apart from the next. dw_bwd_data_long takes one j at a
 * time, so every tap's load is a separate 32-byte sector (a lane's column block lies 8 columns,
 * 8*K elements, from its neighbour's) of which it uses one value, the rest evicted before the
 * next j comes to it. Here a thread takes V outputs j at once: each tap loads V adjacent dy values
 * (one or two 16-byte loads: a whole sector for V = 8 floats), V filter values (the same for the
 * whole warp), for 8*V multiply-adds, with a ring of 8 columns of V values. Order per dx element:
 * groups of V outputs, rows, taps, the V outputs of the group: fixed, so the same bits every run
 * (not those of the NCHW kernel, whose order is j, r, s). */
template <int V>
__device__ __forceinline__ void dwl_getv(const float *p, float *o)
{
#pragma unroll
    for (int i = 0; i < V; i += 4) {
        const float4 t = *(const float4 *)(p + i);
        o[i] = t.x, o[i + 1] = t.y, o[i + 2] = t.z, o[i + 3] = t.w;
    }
}
template <int V, class H>
__device__ __forceinline__ void dwl_getv(const H *p, float *o) /* sc_half, sc_bf16 */
{
#pragma unroll
    for (int i = 0; i < V; i += 4) {
        const uint2 t = *(const uint2 *)(p + i);
        const unsigned b[4] = {t.x & 0xffffu, t.x >> 16, t.y & 0xffffu, t.y >> 16};
#pragma unroll
        for (int e = 0; e < 4; e++) {
            H h;
            h.bits = (unsigned short)b[e];
            o[i + e] = sc_widen(h);
        }
    }
}

template <class T, int V>
__global__ __launch_bounds__(256) void dw_bwd_data_long_v(dwl_p a, const T *__restrict__ dy,
                                                          const T *__restrict__ wt,
                                                          T *__restrict__ dx)
{
    int c, h, w0;
    if (!dwl_at(a, c, h, w0)) return;
    const int n = blockIdx.y;
    const T *dyn = dy + (i64)n * a.k * a.p * a.q; /* NHWC: [p][q][k] */
    const int ntaps = a.s - ((SC_DWL_MUTANT >> 1) & 1);
    float acc[DWL_QV];
#pragma unroll
    for (int u = 0; u < DWL_QV; u++) acc[u] = 0.f;
    for (int j0 = 0; j0 < a.mult; j0 += V) {
        const int k0 = c * a.mult + j0;
        for (int r = 0; r < a.r; r++) {
            const int p = h + a.ph - r;
            if ((unsigned)p >= (unsigned)a.p) continue;
            const T *row = dyn + ((i64)p * a.q) * a.k + k0;
            const T *wr = wt + ((i64)k0 * a.r + r) * a.s; /* output k0 + e at + e*R*S */
            const int rs = a.r * a.s;
            const int q0 = w0 + a.pw; /* the column of tap 0 for u = 0 */
            auto col = [&](int q, float *o) {
                if ((unsigned)q < (unsigned)a.q) {
                    dwl_getv<V>(row + (i64)q * a.k, o);
                } else {
#pragma unroll
                    for (int e = 0; e < V; e++) o[e] = 0.f;
                }
            };
            float ring[DWL_QV][V];
#pragma unroll
            for (int e = 0; e < V; e++) ring[0][e] = 0.f;
#pragma unroll
            for (int u = 1; u < DWL_QV; u++) col(q0 + u, ring[u]); /* slots (u - 0) mod QV */
            for (int s0 = 0; s0 < ntaps; s0 += DWL_QV) {
#pragma unroll
                for (int tt = 0; tt < DWL_QV; tt++) {
                    const int sidx = s0 + tt;
                    if (sidx < ntaps) { /* the last group may be short */
                        col(q0 - sidx, ring[(DWL_QV - tt) % DWL_QV]); /* position u = 0 */
                        float wv[V];
#pragma unroll
                        for (int e = 0; e < V; e++) wv[e] = sc_get(wr + e * rs + sidx);
#pragma unroll
                        for (int u = 0; u < DWL_QV; u++)
#pragma unroll
                            for (int e = 0; e < V; e++)
                                acc[u] += ring[(u - tt + DWL_QV) % DWL_QV][e] * wv[e];
                    }
                }
            }
        }
    }
    T *dxn = dx + (i64)n * a.c * a.h * a.w;
#pragma unroll
    for (int u = 0; u < DWL_QV; u++) {
        const int w = w0 + u;
        if (w < a.w) sc_put(dxn + (((i64)h * a.w + w) * a.c + c), acc[u]);
    }
}

/* Launch the long-row backward-data if it applies; false = another kernel. */
template <class T>
static bool dwl_launch(const sc_kp &kp, const T *dy, const T *w, T *dx, cudaStream_t st)
{
    if (kp.s < DWL_MIN_S || kp.sh != 1 || kp.sw != 1 || kp.dh != 1 || kp.dw != 1) return false;
    dwl_p a;
    a.c = kp.c, a.h = kp.h, a.w = kp.w, a.k = kp.k, a.p = kp.p, a.q = kp.q, a.r = kp.r;
    a.s = kp.s, a.ph = kp.ph, a.pw = kp.pw, a.mult = kp.kg, a.nhwc = kp.nhwc;
    a.wb = (kp.w + DWL_QV - 1) / DWL_QV;
    a.dwb = sc_fdiv_make(a.wb), a.dh = sc_fdiv_make(kp.h);
    long long per = (long long)kp.c * kp.h * a.wb;
    if (per >= (1ll << 31) - 256) return false;
    dim3 grid((unsigned)((per + 255) / 256), kp.n);
    /* NHWC with V adjacent outputs a channel, their loads aligned (V elements of 4*sizeof(T)
     * bytes: every offset is a multiple of 4 elements when the multiplier is) */
    const bool vec = kp.nhwc && kp.kg % 4 == 0 && (uintptr_t)dy % (4 * sizeof(T)) == 0;
    if (vec && kp.kg % 8 == 0)
        dw_bwd_data_long_v<T, 8><<<grid, 256, 0, st>>>(a, dy, w, dx);
    else if (vec)
        dw_bwd_data_long_v<T, 4><<<grid, 256, 0, st>>>(a, dy, w, dx);
    else
        dw_bwd_data_long<T><<<grid, 256, 0, st>>>(a, dy, w, dx);
    return true;
}

/* Launch the register-blocked kernel if it applies; false = use the generic one. */
template <class T>
static bool dw_fast_launch(const sc_kp &kp, sc_direction dir, const T *in, const T *w,
                           const T *bias, T *out, cudaStream_t st)
{
    if (kp.s != 3 && kp.s != 5 && kp.s != 7) return false;
    if ((kp.sw != 1 && (kp.sw != 2 || dir != SC_DIR_FORWARD)) || kp.dw != 1) return false;
    dwf_p a;
    if (dir == SC_DIR_FORWARD) {
        a.cin = kp.c, a.hin = kp.h, a.win = kp.w, a.cout = kp.k, a.hout = kp.p, a.wout = kp.q;
        a.sh = kp.sh, a.dh = kp.dh, a.ph = kp.ph, a.pw = kp.pw, a.flip = 0;
        a.dmult = sc_fdiv_make(kp.kg);
    } else {
        if (kp.sh != 1 || kp.dh != 1 || kp.kg != 1) return false;
        a.cin = kp.k, a.hin = kp.p, a.win = kp.q, a.cout = kp.c, a.hout = kp.h, a.wout = kp.w;
        a.sh = 1, a.dh = 1, a.ph = kp.r - 1 - kp.ph, a.pw = kp.s - 1 - kp.pw, a.flip = 1;
        a.dmult = sc_fdiv_make(1);
    }
    a.R = kp.r, a.nhwc = kp.nhwc;
    a.qb = (a.wout + DW_QV - 1) / DW_QV;
    a.dqb = sc_fdiv_make(a.qb), a.dhout = sc_fdiv_make(a.hout), a.dcout = sc_fdiv_make(a.cout);
    long long per = (long long)a.cout * a.hout * a.qb;
    if (per >= (1ll << 31) - 256) return false;
    dim3 grid((unsigned)((per + 255) / 256), kp.n);
    if (kp.sw == 2)
        dw_fast_go<T, 2>(kp.s, grid, a, in, w, bias, out, st);
    else
        dw_fast_go<T, 1>(kp.s, grid, a, in, w, bias, out, st);
    return true;
}

template <class T>
static int launch(const sc_kp &kp, sc_direction dir, const T *a, const T *b, const T *c, T *out,
                  cudaStream_t st)
{
    if (dir == SC_DIR_FORWARD) {
        if (dw_fast_launch(kp, SC_DIR_FORWARD, a, b, c, out, st)) return (int)cudaGetLastError();
        dw_div dv = {sc_fdiv_make(kp.q),  sc_fdiv_make(kp.p),  sc_fdiv_make(kp.k),
                     sc_fdiv_make(kp.kg), sc_fdiv_make(kp.sh), sc_fdiv_make(kp.sw)};
        int per = kp.k * kp.p * kp.q;
        dim3 grid((per + 255) / 256, kp.n);
        dw_fwd<T><<<grid, 256, 0, st>>>(kp, dv, a, b, c, out);
    } else if (dir == SC_DIR_BACKWARD_DATA) {
        if (dwl_launch<T>(kp, a, b, out, st) || dws_launch<T>(kp, a, b, out, st) ||
            dw_fast_launch<T>(kp, SC_DIR_BACKWARD_DATA, a, b, nullptr, out, st))
            return (int)cudaGetLastError();
        dw_div dv = {sc_fdiv_make(kp.w), sc_fdiv_make(kp.h),  sc_fdiv_make(kp.c),
                     sc_fdiv_make(1),    sc_fdiv_make(kp.sh), sc_fdiv_make(kp.sw)};
        int per = kp.c * kp.h * kp.w;
        dim3 grid((per + 255) / 256, kp.n);
        if (kp.dh == 1 && kp.dw == 1)
            dw_bwd_data_nodil<T><<<grid, 256, 0, st>>>(kp, dv, a, b, out);
        else
            dw_bwd_data<T><<<grid, 256, 0, st>>>(kp, dv, a, b, out);
    } else if (dir == SC_DIR_BACKWARD_WEIGHT) {
        dim3 grid(kp.r * kp.s, kp.k);
        dw_bwd_weight<T><<<grid, 256, 0, st>>>(kp, a, b, out);
    }
    return (int)cudaGetLastError();
}

int sc_launch_depthwise(const sc_kp &kp, sc_direction dir, const void *a, const void *b,
                        const void *c, void *out, cudaStream_t st)
{
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using T = decltype(t);
        return launch<T>(kp, dir, (const T *)a, (const T *)b, (const T *)c, (T *)out, st);
    });
}
