/* direct.cu - direct (non-GEMM) kernels: the naive always-correct kernels (one thread per
 * output element, 64-bit index math, fixed-order float sums), the deterministic bias gradient,
 * depthwise forward / backward-data / backward-weight, and the small-C stem forward.
 *
 * Layouts: NCHW x N,C,H,W  w K,Cg,R,S  y N,K,P,Q;  NHWC x N,H,W,C  w K,R,S,Cg  y N,P,Q,K.
 * No kernel here uses atomics: every output element is written by exactly one thread, or by
 * one block reducing in a fixed order, so results are bit-identical run to run. */
#include "kern.h"

#include <stdlib.h>

typedef long long i64;

/* ---- index helpers (64-bit) ------------------------------------------------------------ */
__device__ __forceinline__ i64 x_index(const sc_kp &kp, i64 n, i64 ci, i64 h, i64 w)
{
    return kp.nhwc ? ((n * kp.h + h) * kp.w + w) * kp.c + ci
                   : ((n * kp.c + ci) * kp.h + h) * kp.w + w;
}
__device__ __forceinline__ i64 y_index(const sc_kp &kp, i64 n, i64 k, i64 p, i64 q)
{
    return kp.nhwc ? ((n * kp.p + p) * kp.q + q) * kp.k + k
                   : ((n * kp.k + k) * kp.p + p) * kp.q + q;
}
__device__ __forceinline__ i64 w_index(const sc_kp &kp, i64 k, i64 c, i64 r, i64 s)
{
    return kp.nhwc ? ((k * kp.r + r) * kp.s + s) * kp.cg + c
                   : ((k * kp.cg + c) * kp.r + r) * kp.s + s;
}

/* ---- naive ------------------------------------------------------------------------------ */
/* y[n,k,p,q] = bias[k] + sum_{c,r,s} x[n, g*Cg+c, p*sh-ph+r*dh, q*sw-pw+s*dw] * w[k,c,r,s] */
__global__ void naive_fwd(sc_kp kp, const float *__restrict__ x, const float *__restrict__ w,
                          const float *__restrict__ bias, float *__restrict__ y, i64 total)
{
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        i64 t = i, n, k, p, q;
        if (kp.nhwc) {
            k = t % kp.k, t /= kp.k, q = t % kp.q, t /= kp.q, p = t % kp.p, n = t / kp.p;
        } else {
            q = t % kp.q, t /= kp.q, p = t % kp.p, t /= kp.p, k = t % kp.k, n = t / kp.k;
        }
        i64 g = k / kp.kg;
        float acc = 0.f;
        for (int c = 0; c < kp.cg; c++)
            for (int r = 0; r < kp.r; r++) {
                i64 h = p * kp.sh - kp.ph + (i64)r * kp.dh;
                if (h < 0 || h >= kp.h) continue;
                for (int s = 0; s < kp.s; s++) {
                    i64 ww = q * kp.sw - kp.pw + (i64)s * kp.dw;
                    if (ww < 0 || ww >= kp.w) continue;
                    acc += x[x_index(kp, n, g * kp.cg + c, h, ww)] * w[w_index(kp, k, c, r, s)];
                }
            }
        y[i] = bias ? acc + bias[k] : acc;
    }
}

/* dx[n,ci,h,w] = sum over (k in group, r, s) with h = p*sh-ph+r*dh (exact) of dy * w */
__global__ void naive_bwd_data(sc_kp kp, const float *__restrict__ dy, const float *__restrict__ w,
                               float *__restrict__ dx, i64 total)
{
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        i64 t = i, n, ci, h, ww;
        if (kp.nhwc) {
            ci = t % kp.c, t /= kp.c, ww = t % kp.w, t /= kp.w, h = t % kp.h, n = t / kp.h;
        } else {
            ww = t % kp.w, t /= kp.w, h = t % kp.h, t /= kp.h, ci = t % kp.c, n = t / kp.c;
        }
        i64 g = ci / kp.cg, c = ci - g * kp.cg;
        float acc = 0.f;
        for (int kk = 0; kk < kp.kg; kk++) {
            i64 k = g * kp.kg + kk;
            for (int r = 0; r < kp.r; r++) {
                i64 hh = h + kp.ph - (i64)r * kp.dh;
                if (hh < 0 || hh % kp.sh) continue;
                i64 p = hh / kp.sh;
                if (p >= kp.p) continue;
                for (int s = 0; s < kp.s; s++) {
                    i64 wq = ww + kp.pw - (i64)s * kp.dw;
                    if (wq < 0 || wq % kp.sw) continue;
                    i64 q = wq / kp.sw;
                    if (q >= kp.q) continue;
                    acc += dy[y_index(kp, n, k, p, q)] * w[w_index(kp, k, c, r, s)];
                }
            }
        }
        dx[i] = acc;
    }
}

/* dw[k,c,r,s] = sum_{n,p,q} dy[n,k,p,q] * x[n, g*Cg+c, p*sh-ph+r*dh, q*sw-pw+s*dw] */
__global__ void naive_bwd_weight(sc_kp kp, const float *__restrict__ x,
                                 const float *__restrict__ dy, float *__restrict__ dw, i64 total)
{
    for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < total;
         i += (i64)gridDim.x * blockDim.x) {
        i64 t = i, k, c, r, s;
        if (kp.nhwc) {
            c = t % kp.cg, t /= kp.cg, s = t % kp.s, t /= kp.s, r = t % kp.r, k = t / kp.r;
        } else {
            s = t % kp.s, t /= kp.s, r = t % kp.r, t /= kp.r, c = t % kp.cg, k = t / kp.cg;
        }
        i64 ci = (k / kp.kg) * kp.cg + c;
        float acc = 0.f;
        for (i64 n = 0; n < kp.n; n++)
            for (i64 p = 0; p < kp.p; p++) {
                i64 h = p * kp.sh - kp.ph + r * kp.dh;
                if (h < 0 || h >= kp.h) continue;
                for (i64 q = 0; q < kp.q; q++) {
                    i64 ww = q * kp.sw - kp.pw + s * kp.dw;
                    if (ww < 0 || ww >= kp.w) continue;
                    acc += dy[y_index(kp, n, k, p, q)] * x[x_index(kp, n, ci, h, ww)];
                }
            }
        dw[i] = acc;
    }
}

static unsigned grid_for(long long total, int threads)
{
    long long b = (total + threads - 1) / threads;
    return (unsigned)(b > 65535 * 8 ? 65535 * 8 : (b < 1 ? 1 : b));
}

int sc_launch_naive(const sc_kp &kp, int dir, const float *a, const float *b, const float *c,
                    float *out, cudaStream_t st)
{
    const int T = 128;
    i64 xe = (i64)kp.n * kp.c * kp.h * kp.w, ye = (i64)kp.n * kp.k * kp.p * kp.q;
    i64 we = (i64)kp.k * kp.cg * kp.r * kp.s;
    switch (dir) {
    case 0: naive_fwd<<<grid_for(ye, T), T, 0, st>>>(kp, a, b, c, out, ye); break;
    case 1: naive_bwd_data<<<grid_for(xe, T), T, 0, st>>>(kp, a, b, out, xe); break;
    case 2: naive_bwd_weight<<<grid_for(we, T), T, 0, st>>>(kp, a, b, out, we); break;
    default: return (int)cudaSuccess;
    }
    return (int)cudaGetLastError();
}

/* ---- bias gradient: db[k] = sum_{n,p,q} dy[n,k,p,q], fixed order -------------------------- */
#define BIAS_T 256
/* NCHW: one block per k; thread t sums pq = t, t+256, ... of every n in order; then a fixed
 * tree over the block. Sums in double: a bias gradient is one number from up to N*P*Q terms
 * of both signs, where float partial sums lose the small result to cancellation; the kernel
 * is memory-bound, so double adds cost nothing measurable. */
__global__ __launch_bounds__(BIAS_T) void bias_nchw(sc_kp kp, const float *__restrict__ dy,
                                                    float *__restrict__ db)
{
    __shared__ double red[BIAS_T];
    int k = blockIdx.x;
    i64 pq = (i64)kp.p * kp.q;
    double acc = 0.0;
    for (i64 n = 0; n < kp.n; n++) {
        const float *row = dy + (n * kp.k + k) * pq;
        for (i64 j = threadIdx.x; j < pq; j += BIAS_T) acc += row[j];
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int o = BIAS_T / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[k] = (float)red[0];
}

/* NHWC: block (32 channels) x (8 row-walkers); walker ty sums rows ty, ty+8, ... */
__global__ __launch_bounds__(BIAS_T) void bias_nhwc(sc_kp kp, const float *__restrict__ dy,
                                                    float *__restrict__ db)
{
    __shared__ double red[8][33];
    int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
    int k = blockIdx.x * 32 + tx;
    i64 rows = (i64)kp.n * kp.p * kp.q;
    double acc = 0.0;
    if (k < kp.k)
        for (i64 j = ty; j < rows; j += 8) acc += dy[j * kp.k + k];
    red[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && k < kp.k) {
        double s = red[0][tx];
        for (int i = 1; i < 8; i++) s += red[i][tx];
        db[k] = (float)s;
    }
}

int sc_launch_bias_grad(const sc_kp &kp, const float *dy, float *db, cudaStream_t st)
{
    if (kp.nhwc)
        bias_nhwc<<<(kp.k + 31) / 32, BIAS_T, 0, st>>>(kp, dy, db);
    else
        bias_nchw<<<kp.k, BIAS_T, 0, st>>>(kp, dy, db);
    return (int)cudaGetLastError();
}

/* ---- depthwise (groups == C, Cg == 1, K = mult*C) ------------------------------------------ */
/* Forward: grid.y = n; each thread one output of image n; 32-bit index within the image
 * (backend.cu checks K*P*Q and C*H*W < 2^31). k = c*mult + j reads channel c. */
struct dw_div {
    sc_fdiv q, p, k, mult, sh, sw;
};

__global__ __launch_bounds__(256, 1) void dw_fwd(sc_kp kp, dw_div dv, const float *__restrict__ x,
                                                 const float *__restrict__ w,
                                                 const float *__restrict__ bias,
                                                 float *__restrict__ y)
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
    const float *xn = x + (i64)n * kp.c * kp.h * kp.w;
    const float *wk = w + (i64)k * kp.r * kp.s;
    int h0 = p * kp.sh - kp.ph, w0 = q * kp.sw - kp.pw;
    float acc = 0.f;
    for (int r = 0; r < kp.r; r++) {
        int h = h0 + r * kp.dh;
        if ((unsigned)h >= (unsigned)kp.h) continue;
        for (int s = 0; s < kp.s; s++) {
            int ww = w0 + s * kp.dw;
            if ((unsigned)ww >= (unsigned)kp.w) continue;
            float xv =
                kp.nhwc ? xn[((i64)h * kp.w + ww) * kp.c + c] : xn[((i64)c * kp.h + h) * kp.w + ww];
            acc += xv * wk[r * kp.s + s];
        }
    }
    if (bias) acc += bias[k];
    y[(i64)n * per + i] = acc;
}

/* Backward-data: each thread one dx element of image n (grid.y), summing its own taps in a
 * fixed order (j, r, s). */
__global__ __launch_bounds__(256, 1) void dw_bwd_data(sc_kp kp, dw_div dvx,
                                                      const float *__restrict__ dy,
                                                      const float *__restrict__ w,
                                                      float *__restrict__ dx)
{
    /* dvx reuses the fields: q = W, p = H, k = C */
    int per = kp.c * kp.h * kp.w;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= per) return;
    int n = blockIdx.y;
    int c, h, ww, t;
    if (kp.nhwc) {
        t = sc_div(i, dvx.k), c = i - t * kp.c;
        h = sc_div(t, dvx.q), ww = t - h * kp.w;
    } else {
        t = sc_div(i, dvx.q), ww = i - t * kp.w;
        c = sc_div(t, dvx.p), h = t - c * kp.h;
    }
    int mult = kp.kg;
    const float *dyn = dy + (i64)n * kp.k * kp.p * kp.q;
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
            for (int j = 0; j < mult; j++) {
                int k = c * mult + j;
                float g = kp.nhwc ? dyn[((i64)p * kp.q + q) * kp.k + k]
                                  : dyn[((i64)k * kp.p + p) * kp.q + q];
                acc += g * w[((i64)k * kp.r + r) * kp.s + s];
            }
        }
    }
    dx[(i64)n * per + i] = acc;
}

/* Backward-weight: one block per (k, tap); threads stride over (n, p, q) in a fixed order,
 * then a fixed tree. */
__global__ __launch_bounds__(256, 1) void dw_bwd_weight(sc_kp kp, const float *__restrict__ x,
                                                        const float *__restrict__ dy,
                                                        float *__restrict__ dwt)
{
    __shared__ float red[256];
    int tap = blockIdx.x, k = blockIdx.y;
    int r = tap / kp.s, s = tap - r * kp.s;
    int c = k / kp.kg;
    int pq = kp.p * kp.q;
    float acc = 0.f;
    for (int n = 0; n < kp.n; n++) {
        const float *xn = x + (i64)n * kp.c * kp.h * kp.w;
        const float *dyn = dy + (i64)n * kp.k * pq;
        for (int j = threadIdx.x; j < pq; j += 256) {
            int p = j / kp.q, q = j - p * kp.q;
            int h = p * kp.sh - kp.ph + r * kp.dh, ww = q * kp.sw - kp.pw + s * kp.dw;
            if ((unsigned)h >= (unsigned)kp.h || (unsigned)ww >= (unsigned)kp.w) continue;
            float xv =
                kp.nhwc ? xn[((i64)h * kp.w + ww) * kp.c + c] : xn[((i64)c * kp.h + h) * kp.w + ww];
            float g = kp.nhwc ? dyn[(i64)j * kp.k + k] : dyn[(i64)k * pq + j];
            acc += xv * g;
        }
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) dwt[(i64)k * kp.r * kp.s + tap] = red[0];
}

/* Depthwise, register-blocked: each thread QV consecutive outputs along the row, so one row of
 * QV+S-1 inputs serves QV*S multiply-adds (instead of QV*S loads). Column stride and dilation
 * 1, S in {3,5,7}. Forward: any row stride/dilation, any multiplier. Backward-data with stride
 * and dilation 1 and multiplier 1 is the same correlation of dy with the flipped filter and
 * padding R-1-pad (flip = 1). One image per grid.y; index within the image in 32 bits. */
#define DW_QV 4
struct dwf_p {
    int cin, hin, win, cout, hout, wout, R, sh, dh, ph, pw, flip, nhwc, qb;
    sc_fdiv dqb, dhout, dcout, dmult;
};

template <int S>
__global__ __launch_bounds__(256) void dw_fast(dwf_p a, const float *__restrict__ in,
                                               const float *__restrict__ wt,
                                               const float *__restrict__ bias,
                                               float *__restrict__ out)
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
    const float *inn = in + (i64)n * a.cin * a.hin * a.win;
    const float *wk = wt + (i64)k * a.R * S;
    float acc[DW_QV];
    float b0 = bias ? bias[k] : 0.f;
#pragma unroll
    for (int j = 0; j < DW_QV; j++) acc[j] = b0;
    for (int r = 0; r < a.R; r++) {
        int h = p * a.sh - a.ph + r * a.dh;
        if ((unsigned)h >= (unsigned)a.hin) continue;
        float xr[DW_QV + S - 1];
#pragma unroll
        for (int u = 0; u < DW_QV + S - 1; u++) {
            int w = q0 - a.pw + u;
            xr[u] = (unsigned)w < (unsigned)a.win
                        ? (a.nhwc ? inn[((i64)h * a.win + w) * a.cin + ic]
                                  : inn[((i64)ic * a.hin + h) * a.win + w])
                        : 0.f;
        }
        const float *wr = a.flip ? wk + (a.R - 1 - r) * S : wk + r * S;
#pragma unroll
        for (int s = 0; s < S; s++) {
            float wv = a.flip ? wr[S - 1 - s] : wr[s];
#pragma unroll
            for (int j = 0; j < DW_QV; j++) acc[j] += xr[j + s] * wv;
        }
    }
    float *o = out + (i64)n * a.cout * a.hout * a.wout;
#pragma unroll
    for (int j = 0; j < DW_QV; j++) {
        int q = q0 + j;
        if (q < a.wout) {
            if (a.nhwc)
                o[((i64)p * a.wout + q) * a.cout + k] = acc[j];
            else
                o[((i64)k * a.hout + p) * a.wout + q] = acc[j];
        }
    }
}

/* Launch the register-blocked kernel if it applies; false = use the generic one. */
static bool dw_fast_launch(const sc_kp &kp, int dir, const float *in, const float *w,
                           const float *bias, float *out, cudaStream_t st)
{
    if (kp.s != 3 && kp.s != 5 && kp.s != 7) return false;
    if (kp.sw != 1 || kp.dw != 1) return false;
    dwf_p a;
    if (dir == 0) {
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
    if (kp.s == 3)
        dw_fast<3><<<grid, 256, 0, st>>>(a, in, w, bias, out);
    else if (kp.s == 5)
        dw_fast<5><<<grid, 256, 0, st>>>(a, in, w, bias, out);
    else
        dw_fast<7><<<grid, 256, 0, st>>>(a, in, w, bias, out);
    return true;
}

int sc_launch_depthwise(const sc_kp &kp, int dir, const float *a, const float *b, const float *c,
                        float *out, cudaStream_t st)
{
    if (dir == 0) {
        if (dw_fast_launch(kp, 0, a, b, c, out, st)) return (int)cudaGetLastError();
        dw_div dv = {sc_fdiv_make(kp.q),  sc_fdiv_make(kp.p),  sc_fdiv_make(kp.k),
                     sc_fdiv_make(kp.kg), sc_fdiv_make(kp.sh), sc_fdiv_make(kp.sw)};
        int per = kp.k * kp.p * kp.q;
        dim3 grid((per + 255) / 256, kp.n);
        dw_fwd<<<grid, 256, 0, st>>>(kp, dv, a, b, c, out);
    } else if (dir == 1) {
        if (dw_fast_launch(kp, 1, a, b, nullptr, out, st)) return (int)cudaGetLastError();
        dw_div dv = {sc_fdiv_make(kp.w), sc_fdiv_make(kp.h),  sc_fdiv_make(kp.c),
                     sc_fdiv_make(1),    sc_fdiv_make(kp.sh), sc_fdiv_make(kp.sw)};
        int per = kp.c * kp.h * kp.w;
        dim3 grid((per + 255) / 256, kp.n);
        dw_bwd_data<<<grid, 256, 0, st>>>(kp, dv, a, b, out);
    } else if (dir == 2) {
        dim3 grid(kp.r * kp.s, kp.k);
        dw_bwd_weight<<<grid, 256, 0, st>>>(kp, a, b, out);
    }
    return (int)cudaGetLastError();
}

/* ---- small-C stem forward (groups 1, C <= 4) ------------------------------------------------ */
/* Each thread computes one output pixel for all K, 16 channels at a time; the whole filter
 * sits transposed in shared memory as wt[(c*R + r)*S + s][Kpad] so the 16 weights of one tap
 * are four 16-byte broadcast loads. */
#define SMALLC_T           128
#define SMALLC_KC          16
#define SMALLC_SMEM_FLOATS 12288

bool sc_small_c_applies(const sc_kp &kp)
{
    int kpad = (kp.k + SMALLC_KC - 1) / SMALLC_KC * SMALLC_KC;
    return kp.g == 1 && kp.c <= 4 && (long long)kp.c * kp.r * kp.s * kpad <= SMALLC_SMEM_FLOATS &&
           (long long)kp.n * kp.p * kp.q < (1ll << 31) - SMALLC_T;
}

struct smallc_div {
    sc_fdiv q, p;
};

__global__ __launch_bounds__(SMALLC_T) void smallc_fwd(sc_kp kp, smallc_div dv, int kpad,
                                                       const float *__restrict__ x,
                                                       const float *__restrict__ w,
                                                       const float *__restrict__ bias,
                                                       float *__restrict__ y)
{
    extern __shared__ float4 smem4[];
    float *wt = (float *)smem4;
    int crs = kp.c * kp.r * kp.s;
    for (int i = threadIdx.x; i < crs * kpad; i += SMALLC_T) {
        int t = i / kpad, k = i - t * kpad; /* t = (c*R + r)*S + s */
        int c = t / (kp.r * kp.s), rs = t - c * kp.r * kp.s;
        int r = rs / kp.s, s = rs - r * kp.s;
        float v = 0.f;
        if (k < kp.k)
            v = kp.nhwc ? w[((i64)(k * kp.r + r) * kp.s + s) * kp.c + c]
                        : w[((i64)(k * kp.c + c) * kp.r + r) * kp.s + s];
        wt[i] = v;
    }
    __syncthreads();
    int m = blockIdx.x * SMALLC_T + threadIdx.x;
    int total = kp.n * kp.p * kp.q; /* < 2^31 (checked) */
    if (m >= total) return;
    int t = sc_div(m, dv.q), q = m - t * kp.q;
    int n = sc_div(t, dv.p), p = t - n * kp.p;
    int h0 = p * kp.sh - kp.ph, w0 = q * kp.sw - kp.pw;
    for (int kc = 0; kc < kp.k; kc += SMALLC_KC) {
        float acc[SMALLC_KC];
#pragma unroll
        for (int u = 0; u < SMALLC_KC; u++) acc[u] = 0.f;
        int tap = 0;
        for (int c = 0; c < kp.c; c++)
            for (int r = 0; r < kp.r; r++) {
                int h = h0 + r * kp.dh;
                bool hok = (unsigned)h < (unsigned)kp.h;
                for (int s = 0; s < kp.s; s++, tap++) {
                    int ww = w0 + s * kp.dw;
                    float xv = 0.f;
                    if (hok && (unsigned)ww < (unsigned)kp.w)
                        xv = kp.nhwc ? x[(((i64)n * kp.h + h) * kp.w + ww) * kp.c + c]
                                     : x[(((i64)n * kp.c + c) * kp.h + h) * kp.w + ww];
                    const float4 *wp = (const float4 *)(wt + tap * kpad + kc);
#pragma unroll
                    for (int u = 0; u < SMALLC_KC / 4; u++) {
                        float4 wv = wp[u];
                        acc[4 * u + 0] += xv * wv.x;
                        acc[4 * u + 1] += xv * wv.y;
                        acc[4 * u + 2] += xv * wv.z;
                        acc[4 * u + 3] += xv * wv.w;
                    }
                }
            }
#pragma unroll
        for (int u = 0; u < SMALLC_KC; u++) {
            int k = kc + u;
            if (k < kp.k) {
                float v = acc[u] + (bias ? bias[k] : 0.f);
                if (kp.nhwc)
                    y[(i64)m * kp.k + k] = v;
                else
                    y[(((i64)n * kp.k + k) * kp.p + p) * kp.q + q] = v;
            }
        }
    }
}

int sc_launch_small_c(const sc_kp &kp, const float *x, const float *w, const float *bias, float *y,
                      cudaStream_t st)
{
    int kpad = (kp.k + SMALLC_KC - 1) / SMALLC_KC * SMALLC_KC;
    smallc_div dv = {sc_fdiv_make(kp.q), sc_fdiv_make(kp.p)};
    long long total = (long long)kp.n * kp.p * kp.q;
    size_t smem = (size_t)kp.c * kp.r * kp.s * kpad * sizeof(float);
    smallc_fwd<<<(unsigned)((total + SMALLC_T - 1) / SMALLC_T), SMALLC_T, smem, st>>>(
        kp, dv, kpad, x, w, bias, y);
    return (int)cudaGetLastError();
}

/* ---- small-C backward-data (groups 1, C <= 4) ----------------------------------------------- */
/* dx of a stem: the GEMM would have only C <= 4 columns. Each thread computes SBD_PIX input
 * pixels of one column class (w = b + sw*j for consecutive j, so the valid taps are the same
 * for all of them and their dy columns are adjacent) for all C channels; threads are ordered by
 * class so a warp shares its taps. The filter sits in shared memory as
 * wt[((r*S + s)*K + k)*C + c]. Fixed summation order (r, s, k). */
#define SMALLC_BD_T 128
#define SBD_PIX     4 /* pixels per thread for large images; 1 for small (more threads) */
bool sc_small_c_bwd_applies(const sc_kp &kp)
{
    long long wcb = (kp.w + kp.sw - 1) / kp.sw;
    return kp.g == 1 && kp.c <= 4 && (long long)kp.k * kp.r * kp.s * kp.c <= SMALLC_SMEM_FLOATS &&
           (long long)kp.n * kp.h * kp.sw * wcb < (1ll << 31) - SMALLC_BD_T;
}

struct smallc_bd_div {
    sc_fdiv wcb, sw, h, dsh;
};

template <int PIX>
__global__ __launch_bounds__(SMALLC_BD_T) void smallc_bwd_data(sc_kp kp, smallc_bd_div dv, int wcb,
                                                               const float *__restrict__ dy,
                                                               const float *__restrict__ w,
                                                               float *__restrict__ dx)
{
    extern __shared__ float4 smem4[];
    float *wt = (float *)smem4;
    int C = kp.c, K = kp.k, RS = kp.r * kp.s;
    for (int i = threadIdx.x; i < RS * K * C; i += SMALLC_BD_T) {
        int c = i % C, t = i / C, k = t % K, rs = t / K;
        int r = rs / kp.s, s = rs - r * kp.s;
        wt[i] = kp.nhwc ? w[((i64)(k * kp.r + r) * kp.s + s) * C + c]
                        : w[((i64)(k * C + c) * kp.r + r) * kp.s + s];
    }
    __syncthreads();
    int idx = blockIdx.x * SMALLC_BD_T + threadIdx.x;
    int total = kp.n * kp.h * kp.sw * wcb;
    if (idx >= total) return;
    int t = sc_div(idx, dv.wcb), jb = idx - t * wcb;
    int t2 = sc_div(t, dv.sw), b = t - t2 * kp.sw;
    int n = sc_div(t2, dv.h), h = t2 - n * kp.h;
    if (b >= kp.w) return;
    int wc = (kp.w - b + kp.sw - 1) / kp.sw; /* positions in this column class */
    int j0 = jb * PIX;
    if (j0 >= wc) return;
    int w0 = b + kp.sw * j0;
    float acc[PIX][4];
#pragma unroll
    for (int u = 0; u < PIX; u++)
#pragma unroll
        for (int c = 0; c < 4; c++) acc[u][c] = 0.f;
    i64 pq = (i64)kp.p * kp.q;
    i64 gs = kp.nhwc ? 1 : pq;     /* step from channel k to k+1 in dy */
    i64 qs = kp.nhwc ? (i64)K : 1; /* step from column q to q+1 in dy */
    for (int r = 0; r < kp.r; r++) {
        int hh = h + kp.ph - r * kp.dh;
        if (hh < 0) break;
        int p = sc_div(hh, dv.dsh);
        if (p * kp.sh != hh || p >= kp.p) continue;
        i64 rowbase = kp.nhwc ? ((i64)n * kp.p + p) * kp.q * K : (i64)n * K * pq + (i64)p * kp.q;
        for (int s = 0; s < kp.s; s++) {
            int num = w0 + kp.pw - s * kp.dw; /* = sw * q of pixel 0 */
            int md = ((num % kp.sw) + kp.sw) % kp.sw;
            if (md) continue;
            int q0 = (num - md) / kp.sw; /* exact, may be negative */
            if (q0 + PIX - 1 < 0) break; /* q0 only shrinks as s grows */
            if (q0 >= kp.q) continue;
            bool ok[PIX];
            i64 off[PIX];
#pragma unroll
            for (int u = 0; u < PIX; u++) {
                int q = q0 + u;
                ok[u] = q >= 0 && q < kp.q && j0 + u < wc;
                off[u] = rowbase + (ok[u] ? (i64)q * qs : 0);
            }
            const float *wr = wt + (r * kp.s + s) * K * C;
            for (int k = 0; k < K; k++) {
                float g[PIX];
#pragma unroll
                for (int u = 0; u < PIX; u++) g[u] = ok[u] ? __ldg(dy + off[u] + k * gs) : 0.f;
#pragma unroll
                for (int c = 0; c < 4; c++)
                    if (c < C) {
                        float wv = wr[k * C + c];
#pragma unroll
                        for (int u = 0; u < PIX; u++) acc[u][c] += g[u] * wv;
                    }
            }
        }
    }
#pragma unroll
    for (int u = 0; u < PIX; u++) {
        int ww = w0 + kp.sw * u;
#pragma unroll
        for (int c = 0; c < 4; c++)
            if (c < C && j0 + u < wc) {
                if (kp.nhwc)
                    dx[(((i64)n * kp.h + h) * kp.w + ww) * C + c] = acc[u][c];
                else
                    dx[(((i64)n * C + c) * kp.h + h) * kp.w + ww] = acc[u][c];
            }
    }
}

int sc_launch_small_c_bwd_data(const sc_kp &kp, const float *dy, const float *w, float *dx,
                               cudaStream_t st)
{
    /* 4 pixels a thread once there are enough threads to fill the GPU several times over */
    static int force = -2; /* SAFECONV_GPU_SMALLC_PIX=1|4: tests force either variant */
    if (force == -2) {
        const char *v = getenv("SAFECONV_GPU_SMALLC_PIX");
        force = v && *v ? atoi(v) : -1;
    }
    bool big = force > 0 ? force > 1 : (long long)kp.n * kp.h * kp.w >= (1ll << 19);
    int pix = big ? SBD_PIX : 1;
    int wcb = ((kp.w + kp.sw - 1) / kp.sw + pix - 1) / pix;
    smallc_bd_div dv = {sc_fdiv_make(wcb), sc_fdiv_make(kp.sw), sc_fdiv_make(kp.h),
                        sc_fdiv_make(kp.sh)};
    long long total = (long long)kp.n * kp.h * kp.sw * wcb;
    size_t smem = (size_t)kp.k * kp.r * kp.s * kp.c * sizeof(float);
    unsigned blocks = (unsigned)((total + SMALLC_BD_T - 1) / SMALLC_BD_T);
    if (big)
        smallc_bwd_data<SBD_PIX><<<blocks, SMALLC_BD_T, smem, st>>>(kp, dv, wcb, dy, w, dx);
    else
        smallc_bwd_data<1><<<blocks, SMALLC_BD_T, smem, st>>>(kp, dv, wcb, dy, w, dx);
    return (int)cudaGetLastError();
}
