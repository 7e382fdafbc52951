/* small_c.cu - direct forward and backward-data kernels for stems with C <= 4 input channels
 * (the GEMM would have a reduction or a column count of a handful). Sizes and where they
 * apply: small_c.h. Each output element is written by one thread, summing in a fixed order.
 * The fp32 NCHW backward-data of large images goes to small_c_phase.cu (its launcher below). */
#include "dtype.cuh"
#include "knobs.h"
#include "launch.h"
#include "small_c.h"

typedef long long i64;

/* ---- small-C stem forward (groups 1, C <= 4) ------------------------------------------------ */
/* Each thread computes one output pixel for all K, 16 channels at a time; the whole filter
 * sits transposed in shared memory as wt[(c*R + r)*S + s][Kpad] so the 16 weights of one tap
 * are four 16-byte broadcast loads. */
struct smallc_div {
    sc_fdiv q, p;
};

template <class T>
__device__ __forceinline__ void smallc_fwd_body(const sc_kp &kp, const smallc_div &dv, int kpad,
                                                const T *__restrict__ x, const T *__restrict__ w,
                                                const T *__restrict__ bias, T *__restrict__ y)
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
            v = kp.nhwc ? sc_get(w + (((i64)(k * kp.r + r) * kp.s + s) * kp.c + c))
                        : sc_get(w + (((i64)(k * kp.c + c) * kp.r + r) * kp.s + s));
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
                        xv = kp.nhwc ? sc_get(x + ((((i64)n * kp.h + h) * kp.w + ww) * kp.c + c))
                                     : sc_get(x + ((((i64)n * kp.c + c) * kp.h + h) * kp.w + ww));
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
                float v = acc[u] + (bias ? sc_get(bias + (k)) : 0.f);
                if (kp.nhwc)
                    sc_put(y + ((i64)m * kp.k + k), v);
                else
                    sc_put(y + ((((i64)n * kp.k + k) * kp.p + p) * kp.q + q), v);
            }
        }
    }
}

/* fp32 as always; 16-bit with one block per SM promised to ptxas (it spills them otherwise). */
template <class T>
__global__
__launch_bounds__(SMALLC_T) void smallc_fwd(sc_kp kp, smallc_div dv, int kpad,
                                            const T *__restrict__ x, const T *__restrict__ w,
                                            const T *__restrict__ bias, T *__restrict__ y)
{
    smallc_fwd_body<T>(kp, dv, kpad, x, w, bias, y);
}
template <class T>
__global__ __launch_bounds__(SMALLC_T,
                             1) void smallc_fwd_1(sc_kp kp, smallc_div dv, int kpad,
                                                  const T *__restrict__ x, const T *__restrict__ w,
                                                  const T *__restrict__ bias, T *__restrict__ y)
{
    smallc_fwd_body<T>(kp, dv, kpad, x, w, bias, y);
}

template <class T>
static int small_c_fwd(const sc_kp &kp, const T *x, const T *w, const T *bias, T *y,
                       cudaStream_t st)
{
    int kpad = (kp.k + SMALLC_KC - 1) / SMALLC_KC * SMALLC_KC;
    smallc_div dv = {sc_fdiv_make(kp.q), sc_fdiv_make(kp.p)};
    long long total = (long long)kp.n * kp.p * kp.q;
    size_t smem = (size_t)kp.c * kp.r * kp.s * kpad * sizeof(float);
    unsigned blocks = (unsigned)((total + SMALLC_T - 1) / SMALLC_T);
    if constexpr (sizeof(T) == 4)
        smallc_fwd<T><<<blocks, SMALLC_T, smem, st>>>(kp, dv, kpad, x, w, bias, y);
    else
        smallc_fwd_1<T><<<blocks, SMALLC_T, smem, st>>>(kp, dv, kpad, x, w, bias, y);
    return (int)cudaGetLastError();
}

/* ---- small-C backward-data (groups 1, C <= 4) ----------------------------------------------- */
/* dx of a stem: the GEMM would have only C <= 4 columns. Each thread computes SBD_PIX input
 * pixels of one column class (w = b + sw*j for consecutive j, so the valid taps are the same
 * for all of them and their dy columns are adjacent) for all C channels; threads are ordered by
 * class so a warp shares its taps. The filter sits in shared memory as
 * wt[((r*S + s)*K + k)*C + c]. Fixed summation order (r, s, k). */
struct smallc_bd_div {
    sc_fdiv wcb, sw, h, dsh;
};

/* VK > 1 (NHWC, K a multiple of VK, dy 16-byte aligned): the VK channels of one dy pixel in one
 * 16-byte load (a warp's threads read pixels K elements apart: one load per element left each
 * 32-byte sector mostly unused, 16-bit NHWC stems ran 4.6x slower than fp32 NCHW). */
template <class T>
__device__ __forceinline__ void sc_ld16(const T *p, float *v)
{
    if constexpr (sizeof(T) == 4) {
        float4 f = __ldg((const float4 *)p);
        v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
    } else {
        uint4 u = __ldg((const uint4 *)p);
        const unsigned w4[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
        for (int j = 0; j < 4; j++) {
            T lo, hi;
            lo.bits = (unsigned short)(w4[j] & 0xffffu), hi.bits = (unsigned short)(w4[j] >> 16);
            v[2 * j] = sc_widen(lo), v[2 * j + 1] = sc_widen(hi);
        }
    }
}

template <class T, int PIX, int VK>
__device__ __forceinline__ void smallc_bwd_data_body(const sc_kp &kp, const smallc_bd_div &dv,
                                                     int wcb, const T *__restrict__ dy,
                                                     const T *__restrict__ w, T *__restrict__ dx)
{
    extern __shared__ float4 smem4[];
    float *wt = (float *)smem4;
    int C = kp.c, K = kp.k, RS = kp.r * kp.s;
    for (int i = threadIdx.x; i < RS * K * C; i += SMALLC_BD_T) {
        int c = i % C, t = i / C, k = t % K, rs = t / K;
        int r = rs / kp.s, s = rs - r * kp.s;
        wt[i] = kp.nhwc ? sc_get(w + (((i64)(k * kp.r + r) * kp.s + s) * C + c))
                        : sc_get(w + (((i64)(k * C + c) * kp.r + r) * kp.s + s));
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
            if constexpr (VK == 1) {
                for (int k = 0; k < K; k++) {
                    float g[PIX];
#pragma unroll
                    for (int u = 0; u < PIX; u++) g[u] = ok[u] ? sc_ldg(dy + off[u] + k * gs) : 0.f;
#pragma unroll
                    for (int c = 0; c < 4; c++)
                        if (c < C) {
                            float wv = wr[k * C + c];
#pragma unroll
                            for (int u = 0; u < PIX; u++) acc[u][c] += g[u] * wv;
                        }
                }
            } else {
                for (int k = 0; k < K; k += VK) {
                    float g[PIX][VK];
#pragma unroll
                    for (int u = 0; u < PIX; u++) {
                        if (ok[u]) {
                            sc_ld16(dy + off[u] + k, g[u]);
                        } else {
#pragma unroll
                            for (int e = 0; e < VK; e++) g[u][e] = 0.f;
                        }
                    }
#pragma unroll
                    for (int e = 0; e < VK; e++)
#pragma unroll
                        for (int c = 0; c < 4; c++)
                            if (c < C) {
                                float wv = wr[(k + e) * C + c];
#pragma unroll
                                for (int u = 0; u < PIX; u++) acc[u][c] += g[u][e] * wv;
                            }
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
                    sc_put(dx + ((((i64)n * kp.h + h) * kp.w + ww) * C + c), acc[u][c]);
                else
                    sc_put(dx + ((((i64)n * C + c) * kp.h + h) * kp.w + ww), acc[u][c]);
            }
    }
}

/* fp32 with one element per load, as it always was; the 16-bit and vector-load variants promise
 * ptxas one block per SM (without it ptxas spills some of them on sm_90 at ~80 registers). */
template <class T, int PIX, int VK>
__global__ __launch_bounds__(SMALLC_BD_T) void smallc_bwd_data(sc_kp kp, smallc_bd_div dv, int wcb,
                                                               const T *__restrict__ dy,
                                                               const T *__restrict__ w,
                                                               T *__restrict__ dx)
{
    smallc_bwd_data_body<T, PIX, VK>(kp, dv, wcb, dy, w, dx);
}
template <class T, int PIX, int VK>
__global__ __launch_bounds__(SMALLC_BD_T,
                             1) void smallc_bwd_data_1(sc_kp kp, smallc_bd_div dv, int wcb,
                                                       const T *__restrict__ dy,
                                                       const T *__restrict__ w, T *__restrict__ dx)
{
    smallc_bwd_data_body<T, PIX, VK>(kp, dv, wcb, dy, w, dx);
}

template <class T, int PIX, int VK>
static void launch_bd(unsigned blocks, size_t smem, cudaStream_t st, const sc_kp &kp,
                      const smallc_bd_div &dv, int wcb, const T *dy, const T *w, T *dx)
{
    if constexpr (sizeof(T) == 4 && VK == 1)
        smallc_bwd_data<T, PIX, VK><<<blocks, SMALLC_BD_T, smem, st>>>(kp, dv, wcb, dy, w, dx);
    else
        smallc_bwd_data_1<T, PIX, VK><<<blocks, SMALLC_BD_T, smem, st>>>(kp, dv, wcb, dy, w, dx);
}

template <class T>
static int small_c_bwd_data(const sc_kp &kp, const T *dy, const T *w, T *dx, cudaStream_t st)
{
    /* 4 pixels a thread once there are enough threads to fill the GPU several times over */
    int force =
        sc_gpu_knobs_get()->smallc_pix; /* SAFECONV_GPU_SMALLC_PIX=1|4: tests force either */
    bool big = force > 0 ? force > 1 : (long long)kp.n * kp.h * kp.w >= (1ll << 19);
    int pix = big ? SBD_PIX : 1;
    int wcb = ((kp.w + kp.sw - 1) / kp.sw + pix - 1) / pix;
    smallc_bd_div dv = {sc_fdiv_make(wcb), sc_fdiv_make(kp.sw), sc_fdiv_make(kp.h),
                        sc_fdiv_make(kp.sh)};
    long long total = (long long)kp.n * kp.h * kp.sw * wcb;
    size_t smem = (size_t)kp.k * kp.r * kp.s * kp.c * sizeof(float);
    unsigned blocks = (unsigned)((total + SMALLC_BD_T - 1) / SMALLC_BD_T);
    constexpr int VK = 16 / sizeof(T);
    bool vec = kp.nhwc && kp.k % VK == 0 && (uintptr_t)dy % 16 == 0;
    if (vec && big)
        launch_bd<T, SBD_PIX, VK>(blocks, smem, st, kp, dv, wcb, dy, w, dx);
    else if (vec)
        launch_bd<T, 1, VK>(blocks, smem, st, kp, dv, wcb, dy, w, dx);
    else if (big)
        launch_bd<T, SBD_PIX, 1>(blocks, smem, st, kp, dv, wcb, dy, w, dx);
    else
        launch_bd<T, 1, 1>(blocks, smem, st, kp, dv, wcb, dy, w, dx);
    return (int)cudaGetLastError();
}

int sc_launch_small_c(const sc_kp &kp, sc_direction dir, const void *a, const void *b,
                      const void *c, void *out, cudaStream_t st)
{
    /* backward-data in stride phases (small_c_phase.cu) on large images (small_c.h);
     * SAFECONV_GPU_SMALLC_PHASE=1 takes it wherever it applies, 0 never */
    if (dir == SC_DIR_BACKWARD_DATA && sc_small_c_phase_applies(&kp)) {
        int knob = sc_gpu_knobs_get()->smallc_phase;
        if (knob > 0 || (knob < 0 && sc_small_c_phase_preferred(&kp)))
            return sc_launch_small_c_phase(kp, a, b, out, st);
    }
    return sc_with_dtype(kp.dtype, [&](auto t) {
        using T = decltype(t);
        if (dir == SC_DIR_FORWARD)
            return small_c_fwd<T>(kp, (const T *)a, (const T *)b, (const T *)c, (T *)out, st);
        if (dir == SC_DIR_BACKWARD_DATA)
            return small_c_bwd_data<T>(kp, (const T *)a, (const T *)b, (T *)out, st);
        return (int)cudaErrorInvalidValue; /* no backward-weight: fam_small_c.c never plans it */
    });
}
