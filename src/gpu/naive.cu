/* naive.cu - the naive direct kernels: one thread per output element, 64-bit index math,
 * fixed-order fp32 sums (fp16/bf16 tensors widened on load, rounded on store). Always correct, never fast: the fallback that applies to every
 * problem (fam_naive.c), and the simplest statement of each direction.
 *
 * Layouts: NCHW x N,C,H,W  w K,Cg,R,S  y N,K,P,Q;  NHWC x N,H,W,C  w K,R,S,Cg  y N,P,Q,K.
 * Every output element is written by exactly one thread: the same bits on every run. */
#include "dtype.cuh"
#include "launch.h"

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
template <class T>
__global__ void naive_fwd(sc_kp kp, const T *__restrict__ x, const T *__restrict__ w,
                          const T *__restrict__ bias, T *__restrict__ y, i64 total)
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
                    acc += sc_get(x + x_index(kp, n, g * kp.cg + c, h, ww)) *
                           sc_get(w + w_index(kp, k, c, r, s));
                }
            }
        sc_put(y + i, bias ? acc + sc_get(bias + k) : acc);
    }
}

/* dx[n,ci,h,w] = sum over (k in group, r, s) with h = p*sh-ph+r*dh (exact) of dy * w */
template <class T>
__global__ void naive_bwd_data(sc_kp kp, const T *__restrict__ dy, const T *__restrict__ w,
                               T *__restrict__ dx, i64 total)
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
                    acc +=
                        sc_get(dy + y_index(kp, n, k, p, q)) * sc_get(w + w_index(kp, k, c, r, s));
                }
            }
        }
        sc_put(dx + i, acc);
    }
}

/* dw[k,c,r,s] = sum_{n,p,q} dy[n,k,p,q] * x[n, g*Cg+c, p*sh-ph+r*dh, q*sw-pw+s*dw] */
template <class T>
__global__ void naive_bwd_weight(sc_kp kp, const T *__restrict__ x, const T *__restrict__ dy,
                                 T *__restrict__ dw, i64 total)
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
                    acc += sc_get(dy + y_index(kp, n, k, p, q)) *
                           sc_get(x + x_index(kp, n, ci, h, ww));
                }
            }
        sc_put(dw + i, acc);
    }
}

static unsigned grid_for(long long total, int threads)
{
    long long b = (total + threads - 1) / threads;
    return (unsigned)(b > 65535 * 8 ? 65535 * 8 : (b < 1 ? 1 : b));
}

template <class T>
static int launch(const sc_kp &kp, sc_direction dir, const T *a, const T *b, const T *c, T *out,
                  cudaStream_t st)
{
    const int NT = 128;
    i64 xe = (i64)kp.n * kp.c * kp.h * kp.w, ye = (i64)kp.n * kp.k * kp.p * kp.q;
    i64 we = (i64)kp.k * kp.cg * kp.r * kp.s;
    switch (dir) {
    case SC_DIR_FORWARD: naive_fwd<T><<<grid_for(ye, NT), NT, 0, st>>>(kp, a, b, c, out, ye); break;
    case SC_DIR_BACKWARD_DATA:
        naive_bwd_data<T><<<grid_for(xe, NT), NT, 0, st>>>(kp, a, b, out, xe);
        break;
    case SC_DIR_BACKWARD_WEIGHT:
        naive_bwd_weight<T><<<grid_for(we, NT), NT, 0, st>>>(kp, a, b, out, we);
        break;
    default: return (int)cudaErrorInvalidValue; /* the bias gradient is bias.cu */
    }
    return (int)cudaGetLastError();
}

int sc_launch_naive(const sc_kp &kp, sc_direction dir, const void *a, const void *b, const void *c,
                    void *out, cudaStream_t st)
{
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using T = decltype(t);
        return launch<T>(kp, dir, (const T *)a, (const T *)b, (const T *)c, (T *)out, st);
    });
}
