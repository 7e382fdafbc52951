/* winograd_bw4.cu - Winograd F(3x3,4x4) for the backward-weight of fp32 3x3 stride-1 layers
 * (winograd.h: where it applies; SAFECONV_GPU_WINOGRAD_BW_TILE=3 only: slower than the wide
 * F(3x3,2x2) tile on every layer timed on an H100, bench/NOTES.md "F(3x3, 4x4) backward-weight
 * in 32 x 16 channel blocks"). The
 * same computation as winograd_bw.cu's F(3x3,2x2) with dy cut into 4x4 tiles: a tile at
 * (4ty, 4tx) contributes to dw[k][c] (3x3) the correlation of the 6x6 patch d of x at
 * (4ty - ph, 4tx - pw) with the tile g as a 4x4 filter, F(3,4) in each dimension:
 *   A^T [ (G g G^T) . (B^T d B) ] A
 * with F(4,3)'s matrices (Lavin and Gray) in swapped roles: B as F(4,3)'s B, G = F(4,3)'s A
 * (entries 0, +-1, +-2, 4, +-8: exact), A^T = F(4,3)'s G^T, applied here as 24 A^T (integers)
 * and one scaling by 1/576 at the end. 36 transformed points, each a GEMM over the tiles:
 * M[p][c][k] = sum_t V[p][t][c] U[p][t][k]. 2.25 multiply-adds a dy pixel and channel pair
 * against F(3x3,2x2)'s 4; its worst-case rounding term about 28x F(3x3,2x2)'s, measured
 * 1.1-1.3x (docs/gpu.md, "Winograd's accuracy").
 *
 * Block: W4_T = 288 threads (9 warps), 32 (W4_BC) input x 16 (WINO4_BK) output channels, one
 * slice of the tiles, WINO4_TS tiles a step. Warp w computes points 4w .. 4w+3; lane (cy = lane
 * / 4, kx = lane % 4) holds rows 4cy .. 4cy+3 (c) and columns 4kx .. 4kx+3 (k): acc[point][row]
 * [column], 64 sums (a 32 x 32 block, 128 sums, does not fit the 168 registers 9 warps get).
 * A step: threads 0-127 load and transform one x patch each (one c, one tile: 36 loads),
 * threads 192-255 one dy tile each (one k, one tile: 16 loads), into the stage
 * As[36][WINO4_TS][W4_LDA] (V) and Bs[36][WINO4_TS][W4_LDB] (U). Deterministic: fixed slices,
 * each summed in a fixed order, the slices added in order (winograd_bw.cu's wino_bw_sum). */
#include "knobs.h"
#include "launch.h"
#include "winograd.cuh"

typedef long long i64;

#ifndef SC_WINO4_MUTANT /* tests only: one output-transform coefficient off by 2^-13 */
#define SC_WINO4_MUTANT 0
#endif

enum {
    W4_T = 288,
    W4_BC = 32,
    W4_BK = WINO4_BK,
    W4_TS = WINO4_TS,               /* tiles a step */
    W4_LDA = 40,                    /* As row pitch: 4 tiles x 8 lanes store without conflict */
    W4_LDB = 24,                    /* Bs row pitch: the same for 4 tiles x 8 lanes */
    W4_SIDEA = 36 * W4_TS * W4_LDA, /* As of a stage */
    W4_BUF = W4_SIDEA + 36 * W4_TS * W4_LDB, /* one stage */
    W4_KQ = 8,                               /* output columns a round of the exchange */
    W4_XCHG = 36 * W4_BC * (W4_KQ + 1)       /* Ms[36][W4_BC][W4_KQ + 1] */
};
static_assert(W4_BK == 16 && W4_TS == 4, "the roles and the lane map below");

struct wino4_args {
    int n, c, h, w, k, p, q, ph, pw;
    int th, tw; /* dy's 4x4 tiles per column and row: ceil(p/4), ceil(q/4) */
    sc_fdiv dth, dtw;
    int ntiles; /* n * th * tw */
    int tps;    /* tiles per slice, a multiple of W4_TS */
    int nhwc;
    int direct; /* one slice: write dw itself */
};

/* One 6-point transform in place: v = B^T v (B^T of F(4,3)). */
__device__ __forceinline__ void w4_bt(float (&v)[6])
{
    const float d0 = v[0], d1 = v[1], d2 = v[2], d3 = v[3], d4 = v[4], d5 = v[5];
    v[0] = 4.f * d0 - 5.f * d2 + d4;
    v[1] = -4.f * (d1 + d2) + d3 + d4;
    v[2] = 4.f * (d1 - d2) - d3 + d4;
    v[3] = -2.f * (d1 - d3) - d2 + d4;
    v[4] = 2.f * (d1 - d3) - d2 + d4;
    v[5] = 4.f * d1 - 5.f * d3 + d5;
}
/* u (6) = G g (4), G = F(4,3)'s A: rows (1,0,0,0), (1,1,1,1), (1,-1,1,-1), (1,2,4,8),
 * (1,-2,4,-8), (0,0,0,1). */
__device__ __forceinline__ void w4_g(const float (&g)[4], float (&u)[6])
{
    const float e = g[0] + g[2], o = g[1] + g[3], e4 = g[0] + 4.f * g[2],
                o4 = 2.f * g[1] + 8.f * g[3];
    u[0] = g[0];
    u[1] = e + o;
    u[2] = e - o;
    u[3] = e4 + o4;
    u[4] = e4 - o4;
    u[5] = g[3];
}
/* y (3) = 24 A^T m (6), 24 A^T = rows (6,-4,-4,1,1,0), (0,-4,4,2,-2,0), (0,-4,-4,4,4,24). */
__device__ __forceinline__ void w4_at(const float (&m)[6], float (&y)[3])
{
    const float s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    y[0] = (6.f + (SC_WINO4_MUTANT ? 0x1p-13f : 0.f)) * m[0] - 4.f * s12 + s34;
    y[1] = -4.f * d12 + 2.f * d34;
    y[2] = -4.f * s12 + 4.f * s34 + 24.f * m[5];
}

template <int NBUF>
__global__ __launch_bounds__(W4_T, 1) void wino4_bw_main(wino4_args a, const float *__restrict__ x,
                                                         const float *__restrict__ dy,
                                                         float *__restrict__ out)
{
    extern __shared__ float4 smem4[];
    float *sm = (float *)smem4;
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31;
    const int k0 = blockIdx.x * W4_BK, c0 = blockIdx.y * W4_BC;
    const int tbeg = blockIdx.z * a.tps;
    const int tend = min(tbeg + a.tps, a.ntiles);

    /* Load roles: t < 128 an x patch (channel c0 + cl of tile tl), 192 <= t < 256 a dy tile
     * (channel k0 + cl of tile tl), others none: warps 0-3 and 6-7, so that each of the four
     * schedulers (warp % 4) has one x warp and at most one other loading warp. NHWC: a warp on
     * one tile (x) or two (dy), lanes along the channels; NCHW: lanes along 4 tiles x 8
     * channels. */
    const int role = t < 128 ? 0 : t >= 192 && t < 256 ? 1 : 2, u = role == 1 ? t - 192 : t;
    const int tl = a.nhwc ? (role ? u >> 4 : u >> 5) : u & 3,
              cl = a.nhwc ? (role ? u & 15 : u & 31) : u >> 2;
    float d[36];
    auto load = [&](int step) {
        if (role == 2) return;
        const int T = tbeg + step * W4_TS + tl;
        int n, ty, tx;
        wino_tile(T < tend ? T : 0, a.dth, a.th, a.dtw, a.tw, n, ty, tx);
        if (role == 1) {
            const int k = k0 + cl;
            const bool ok = T < tend && k < a.k;
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int p = 4 * ty + i, q = 4 * tx + e;
                    d[4 * i + e] =
                        ok && p < a.p && q < a.q
                            ? __ldg(dy + (a.nhwc ? (((i64)n * a.p + p) * a.q + q) * a.k + k
                                                 : (((i64)n * a.k + k) * a.p + p) * a.q + q))
                            : 0.f;
                }
            return;
        }
        const int c = c0 + cl;
        const bool ok = T < tend && c < a.c;
        const int h0 = 4 * ty - a.ph, w0 = 4 * tx - a.pw;
        const i64 cs = a.nhwc ? a.c : 1, rs = (i64)a.w * cs;
        const i64 base = a.nhwc ? (((i64)n * a.h + h0) * a.w + w0) * a.c + c
                                : (((i64)n * a.c + c) * a.h + h0) * a.w + w0;
        /* a row pointer a thread steps (the 36 offsets r * rs + s * cs as uniform values
         * would take 72 scalar registers on AMD, which spill) */
        const float *row = x + base;
#pragma unroll
        for (int r = 0; r < 6; r++, row += rs)
#pragma unroll
            for (int s = 0; s < 6; s++)
                d[6 * r + s] =
                    ok && (unsigned)(h0 + r) < (unsigned)a.h && (unsigned)(w0 + s) < (unsigned)a.w
                        ? __ldg(row + s * cs)
                        : 0.f;
    };
    /* Stage: As[36][W4_TS][W4_LDA] = V = B^T d B (x), Bs[36][W4_TS][W4_LDB] = U = G g G^T (dy);
     * point p = 6i + j. */
    auto store = [&](int buf) {
        if (role == 2) return;
        float *S = sm + buf * W4_BUF + (role ? W4_SIDEA + tl * W4_LDB : tl * W4_LDA) + cl;
        if (role == 1) {
            float gr[4][6]; /* G g by rows of the tile, then G^T by columns */
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float gi[4] = {d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]};
                w4_g(gi, gr[i]);
            }
#pragma unroll
            for (int j = 0; j < 6; j++) {
                const float gc[4] = {gr[0][j], gr[1][j], gr[2][j], gr[3][j]};
                float uc[6];
                w4_g(gc, uc);
#pragma unroll
                for (int i = 0; i < 6; i++) S[(6 * i + j) * W4_TS * W4_LDB] = uc[i];
            }
            return;
        }
#pragma unroll
        for (int r = 0; r < 6; r++) { /* d B by rows: each row's 6 values through B^T */
            float v[6] = {d[6 * r],     d[6 * r + 1], d[6 * r + 2],
                          d[6 * r + 3], d[6 * r + 4], d[6 * r + 5]};
            w4_bt(v);
#pragma unroll
            for (int s = 0; s < 6; s++) d[6 * r + s] = v[s];
        }
#pragma unroll
        for (int s = 0; s < 6; s++) { /* B^T (d B) by columns */
            float v[6] = {d[s], d[6 + s], d[12 + s], d[18 + s], d[24 + s], d[30 + s]};
            w4_bt(v);
#pragma unroll
            for (int i = 0; i < 6; i++) S[(6 * i + s) * W4_TS * W4_LDA] = v[i];
        }
    };

    const int cy = lane >> 2, kx = lane & 3;
    float acc[4][4][4];
#pragma unroll
    for (int q = 0; q < 4; q++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int k = 0; k < 4; k++) acc[q][j][k] = 0.f;
    auto gemm = [&](int buf) {
        const float *As = sm + buf * W4_BUF, *Bs = As + W4_SIDEA;
#pragma unroll
        for (int i = 0; i < W4_TS; i++)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const int p = 4 * warp + q;
                const float4 v = *(const float4 *)(As + (p * W4_TS + i) * W4_LDA + 4 * cy),
                             w = *(const float4 *)(Bs + (p * W4_TS + i) * W4_LDB + 4 * kx);
                const float vv[4] = {v.x, v.y, v.z, v.w}, ww[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int k = 0; k < 4; k++) acc[q][j][k] = fmaf(vv[j], ww[k], acc[q][j][k]);
            }
    };
    if (tend > tbeg) /* the same for the whole block: a slice with no tiles keeps acc at 0 */
        wino_pipeline<NBUF>((tend - tbeg + W4_TS - 1) / W4_TS, load, store, gemm);

    /* Output: W4_KQ columns a round through Ms[36][W4_BC][W4_KQ + 1]; one thread applies A^T . A
     * to the 36 points of a (c, k) pair and stores the 9 weights in dw's layout (KRSC in NHWC,
     * KCRS in NCHW), into dw or this slice of the workspace. */
    float *Ms = sm, *o = a.direct ? out : out + (i64)blockIdx.z * a.k * a.c * 9;
    for (int rd = 0; rd < W4_BK / W4_KQ; rd++) {
#pragma unroll
        for (int q = 0; q < 4; q++)
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    const int col = 4 * kx + k;
                    if (col / W4_KQ == rd)
                        Ms[((4 * warp + q) * W4_BC + 4 * cy + j) * (W4_KQ + 1) + col - rd * W4_KQ] =
                            acc[q][j][k];
                }
        __syncthreads();
        for (int e = t; e < W4_BC * W4_KQ; e += W4_T) {
            const int oc = e % W4_BC, ok = e / W4_BC;
            const int k = k0 + rd * W4_KQ + ok, c = c0 + oc;
            if (k >= a.k || c >= a.c) continue;
            float z[3][6]; /* A^T M by columns */
#pragma unroll
            for (int j = 0; j < 6; j++) {
                float m[6];
#pragma unroll
                for (int i = 0; i < 6; i++)
                    m[i] = Ms[((6 * i + j) * W4_BC + oc) * (W4_KQ + 1) + ok];
                float y[3];
                w4_at(m, y);
#pragma unroll
                for (int r = 0; r < 3; r++) z[r][j] = y[r];
            }
#pragma unroll
            for (int r = 0; r < 3; r++) { /* (A^T M) A by rows, then the scaling 1/576 */
                float y[3];
                w4_at(z[r], y);
#pragma unroll
                for (int s = 0; s < 3; s++)
                    o[a.nhwc ? (((i64)k * 3 + r) * 3 + s) * a.c + c
                             : (((i64)k * a.c + c) * 3 + r) * 3 + s] = y[s] * (1.f / 576.f);
            }
        }
        __syncthreads();
    }
}

/* The shared memory of a variant: NB stages, or the exchange where it is larger. */
template <int NB>
static constexpr int wino4_smem()
{
    return (NB * W4_BUF > W4_XCHG ? NB * W4_BUF : W4_XCHG) * (int)sizeof(float);
}

int sc_launch_winograd_bw4(const sc_kp &kp, int splits, const void *x, const void *dy, void *out,
                           cudaStream_t st)
{
    wino4_args w;
    w.n = kp.n, w.c = kp.c, w.h = kp.h, w.w = kp.w, w.k = kp.k, w.p = kp.p, w.q = kp.q;
    w.ph = kp.ph, w.pw = kp.pw;
    w.th = (kp.p + 3) / 4, w.tw = (kp.q + 3) / 4;
    w.dth = sc_fdiv_make((uint32_t)w.th), w.dtw = sc_fdiv_make((uint32_t)w.tw);
    w.ntiles = w.n * w.th * w.tw;
    w.tps = sc_wino_bw_tps_of(w.ntiles, splits, W4_TS);
    w.nhwc = kp.nhwc;
    w.direct = splits == 1;
    dim3 grid((unsigned)((kp.k + W4_BK - 1) / W4_BK), (unsigned)((kp.c + W4_BC - 1) / W4_BC),
              (unsigned)splits);
    const auto run = [&](auto nb) {
        constexpr int NB = decltype(nb)::value;
        constexpr int smem = wino4_smem<NB>();
        if (int err = sc_smem_opt_in<wino4_bw_main<NB>>(smem, smem)) return err;
        wino4_bw_main<NB>
            <<<grid, W4_T, smem, st>>>(w, (const float *)x, (const float *)dy, (float *)out);
        return (int)cudaGetLastError();
    };
#if SC_GPU_HIP
    return run(std::integral_constant<int, 1>());
#else
    if (sc_gpu_knobs_get()->winograd_1stage != 1 && sc_wino_optin_bytes() >= wino4_smem<2>())
        return run(std::integral_constant<int, 2>());
    return run(std::integral_constant<int, 1>());
#endif
}
