/* winograd.cuh - what the Winograd kernels share (winograd.cu: F(2x2,3x3) forward and
 * backward-data; winograd_bw.cu and winograd_bw_wg.cu: F(3x3,2x2) backward-weight): the
 * shared-memory layout of a stage, the 16 outer-product GEMMs of one reduction step, the
 * exchange of the accumulators through shared memory before the output transform, and the
 * backward-weight's loads, transforms and output transform.
 *
 * One block: 256 threads, 16 transformed points x an A side of 32 (WINO_BT) x a B side of 64
 * (WINO_BK), reducing WINO_BC = 8 entries per step. A stage holds
 *   As[16][WINO_BC][VS_LD]   the A side (row pitch 36: the loaders' scalar stores do not
 *                            collide in a bank)
 *   Bs[16][WINO_BC][WINO_BK] the B side
 * Warp w computes points 2w and 2w+1; lane (ty = lane / 8, kx = lane % 8) holds A rows
 * 8ty..8ty+7 and B columns 4kx..4kx+3 and 32+4kx..32+4kx+3: acc[point][row][column]. */
#ifndef SC_GPU_WINOGRAD_CUH
#define SC_GPU_WINOGRAD_CUH

#include "knobs.h"
#include "mma/ptx.cuh"
#include "winograd.h"

#include <type_traits>

enum {
    VS_LD = WINO_BT + 4,                   /* Vs row pitch: stores without bank conflicts */
    VS_FLOATS = 16 * WINO_BC * VS_LD,      /* As[16][WINO_BC][VS_LD] */
    US_FLOATS = 16 * WINO_BC * WINO_BK,    /* Bs[16][WINO_BC][WINO_BK] */
    BUF_FLOATS = VS_FLOATS + US_FLOATS,    /* one stage */
    F4_PER_THREAD = US_FLOATS / 4 / WINO_T /* float4s of the B side each thread copies (forward) */
};
static_assert(WINO_T == 256 && WINO_BT == 32 && WINO_BK == 64 && WINO_BC == 8,
              "the thread roles below are written for 256 threads, 32 tiles, 64 x 8 channels");
static_assert(US_FLOATS % (4 * WINO_T) == 0, "Us copies in whole float4s per thread");

/* One reduction step: acc[q][j][k] += sum over i < WINO_BC of As[p][i][8ty + j] * Bs[p][i][col(k)],
 * p = 2 warp + q, in the order of i (deterministic); Bs's row pitch BLD. A quarter-warp reads 8
 * consecutive float4 of Bs and one broadcast float4 of As. NH: the B side's halves of 32 columns
 * (2: WINO_BK columns, lane columns 4kx..4kx+3 and 32+4kx..; 1: 32 columns, the backward-weight's
 * narrow tile, lane columns 4kx..4kx+3 only). */
template <int BLD = WINO_BK, int NH = 2>
__device__ __forceinline__ void wino_gemm_step(float (&acc)[2][8][4 * NH], const float *As,
                                               const float *Bs, int warp, int ty, int kx)
{
    static_assert(NH == 1 || NH == 2, "one or two halves of 32 columns");
#if SC_GPU_HIP /* AMD's compiler, fully unrolled, hoisted loads past 256 VGPRs and spilled */
#pragma unroll 1
#else
#pragma unroll
#endif
    for (int i = 0; i < WINO_BC; i++)
#pragma unroll
        for (int q = 0; q < 2; q++) {
            const int p = 2 * warp + q;
            const float4 v0 = *(const float4 *)(As + (p * WINO_BC + i) * VS_LD + 8 * ty);
            const float4 v1 = *(const float4 *)(As + (p * WINO_BC + i) * VS_LD + 8 * ty + 4);
            const float4 u0 = *(const float4 *)(Bs + (p * WINO_BC + i) * BLD + 4 * kx);
            float4 u1 = u0;
            if constexpr (NH == 2)
                u1 = *(const float4 *)(Bs + (p * WINO_BC + i) * BLD + 32 + 4 * kx);
            const float vv[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
            const float uu[8] = {u0.x, u0.y, u0.z, u0.w, u1.x, u1.y, u1.z, u1.w};
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int k = 0; k < 4 * NH; k++) acc[q][j][k] = fmaf(vv[j], uu[k], acc[q][j][k]);
        }
}

#if !SC_GPU_HIP
/* The same reduction step on the tensor cores in 3xTF32 (NVIDIA sm_80+; backward-weight's
 * SAFECONV_GPU_WINOGRAD_BW_TILE=2, winograd.h): each staged value x is split into big =
 * tf32(x) and small = tf32(x - big) (x - big is exact in fp32), and each 16 x 8 x 8 product
 * block runs as three mma.sync.m16n8k8 in a fixed order, small*big, big*small, big*big, into
 * fp32 accumulators (the small*small term, below 2^-22 of the product, is left out). Warp w,
 * points 2w and 2w+1 as above; per point the A side's 32 rows are two m-tiles and the B
 * side's 64 columns eight n-tiles, the step's WINO_BC = 8 entries one k8: acc[point][mt][nt][e]
 * in mma.sync's accumulator layout (row 16mt + g (+8 for e >= 2), column 8nt + 2t + (e & 1),
 * g = lane / 4, t = lane % 4), fragments read as 32-bit words (the staged tiles are row-major:
 * A(m, k) = As[k][m], B(k, n) = Bs[k][n], as mma/kernel.cuh reads its row-major tiles).
 * SC_WINO_MMA_MUTANT (tests only): big*big alone, 1xTF32, which the fp32 checks must fail. */
#ifndef SC_WINO_MMA_MUTANT
#define SC_WINO_MMA_MUTANT 0
#endif
/* n-tiles a group in wino_gemm_step_tf32x3 (1, 2, 4 or 8) */
#ifndef WINO_MMA_NTG
#define WINO_MMA_NTG 4
#endif
static_assert(WINO_MMA_NTG > 0 && 8 % WINO_MMA_NTG == 0, "WINO_MMA_NTG must divide 8");
/* Where lane (g, t) finds its fragment words in a point's staged tiles, and what its
 * accumulators hold (host and device: tests/gpu/mma_emulate.cu drives them through
 * mma.sync.m16n8k8's documented layouts): A's word e of m-tile mt (As row pitch VS_LD), B's
 * word h of n-tile nt (Bs row pitch bld), and accumulator e of (mt, nt) at (row, column). */
SC_HD constexpr int wino_mma_a_word(int mt, int e, int g, int t)
{
    return (t + 4 * (e >> 1)) * VS_LD + 16 * mt + g + 8 * (e & 1);
}
SC_HD constexpr int wino_mma_b_word(int nt, int h, int g, int t, int bld)
{
    return (t + 4 * h) * bld + 8 * nt + g;
}
SC_HD constexpr int wino_mma_c_row(int mt, int e, int g) { return 16 * mt + g + 8 * (e >> 1); }
SC_HD constexpr int wino_mma_c_col(int nt, int e, int t) { return 8 * nt + 2 * t + (e & 1); }
__device__ __forceinline__ void wino_tf32_split(float x, unsigned &big, unsigned &small)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    big = sc_tf32(x) & 0xffffe000u;
    small = sc_tf32(x - __uint_as_float(big));
#else
    big = small = 0u;
    (void)x;
#endif
}

template <int BLD>
__device__ __forceinline__ void wino_gemm_step_tf32x3(float (&acc)[2][2][8][4], const float *As,
                                                      const float *Bs, int warp, int lane)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int q = 0; q < 2; q++) {
        const int p = 2 * warp + q;
        const float *A = As + p * WINO_BC * VS_LD, *B = Bs + p * WINO_BC * BLD;
        unsigned ab[2][4], as[2][4];
#pragma unroll
        for (int mt = 0; mt < 2; mt++) {
#pragma unroll
            for (int e = 0; e < 4; e++)
                wino_tf32_split(A[wino_mma_a_word(mt, e, g, t)], ab[mt][e], as[mt][e]);
        }
        /* n-tiles in groups of WINO_MMA_NTG: each of the three terms is issued for the group's
         * 2 x NTG accumulators before the next term, so an accumulator's dependent mma.sync
         * are 2 x NTG instructions apart (back to back they left the scheduler waiting on the
         * tensor pipe's latency: with two warps a scheduler nothing else hides it). Each
         * accumulator still sums its terms in the order above. */
#pragma unroll
        for (int n0 = 0; n0 < 8; n0 += WINO_MMA_NTG) {
            unsigned bb[WINO_MMA_NTG][2], bs[WINO_MMA_NTG][2];
#pragma unroll
            for (int j = 0; j < WINO_MMA_NTG; j++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                    wino_tf32_split(B[wino_mma_b_word(n0 + j, h, g, t, BLD)], bb[j][h], bs[j][h]);
            /* one term, a x b, into the group's accumulators */
            auto term = [&](const unsigned(&a)[2][4], const unsigned(&b)[WINO_MMA_NTG][2]) {
#pragma unroll
                for (int j = 0; j < WINO_MMA_NTG; j++)
#pragma unroll
                    for (int mt = 0; mt < 2; mt++) sc_mma_tf32(acc[q][mt][n0 + j], a[mt], b[j]);
            };
#if !SC_WINO_MMA_MUTANT
            term(as, bb);
            term(ab, bs);
#endif
            term(ab, bb);
        }
    }
#else
    (void)acc, (void)As, (void)Bs, (void)warp, (void)lane;
#endif
}

/* wino_xchg_store for the accumulators of wino_gemm_step_tf32x3 (the same Ms layout). The
 * columns of one n-tile (8nt .. 8nt + 7) never straddle a multiple of KQ, so the round test is
 * decided at compile time. */
template <int KQ>
__device__ __forceinline__ void wino_xchg_store_mma(float *Ms, const float (&acc)[2][2][8][4],
                                                    int rd, int warp, int lane)
{
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int q = 0; q < 2; q++)
#pragma unroll
        for (int mt = 0; mt < 2; mt++)
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
                if (8 * nt / KQ == rd)
#pragma unroll
                    for (int e = 0; e < 4; e++)
                        Ms[((2 * warp + q) * WINO_BT + wino_mma_c_row(mt, e, g)) * (KQ + 1) +
                           wino_mma_c_col(nt, e, t) - rd * KQ] = acc[q][mt][nt][e];
}
#endif /* !SC_GPU_HIP */

/* Tile T of N x th x tw tiles (dth, dtw: division by th, tw) -> image n, tile row ty, column tx. */
__device__ __forceinline__ void wino_tile(int T, const sc_fdiv &dth, int th, const sc_fdiv &dtw,
                                          int tw, int &n, int &ty, int &tx)
{
    int nt = sc_div(T, dtw);
    tx = T - nt * tw;
    n = sc_div(nt, dth);
    ty = nt - n * th;
}

/* ---- F(2x2,3x3) forward and backward-data (winograd.cu, winograd_wg.cu) ---- */
/* With dilation (dlh, dlw) the output's pixels fall into dlh x dlw phases (row % dlh, column
 * % dlw), each a convolution of dilation 1 on the input's pixels of one phase: a phase's 2x2
 * tile (ty, tx) is output rows (2ty + i) dlh + ah and columns (2tx + j) dlw + aw, i, j in
 * {0, 1}, and its 4x4 patch input rows (2ty + u) dlh + ah - ph, u = 0..3 (the same for columns).
 * The tiles are numbered over (n, ah, aw, ty, tx), th x tw a phase (those of the first, the
 * largest: the last tiles of shorter phases fall outside the output). */
struct wino_args {
    int n, ci, hi, wi, co, ho, wo; /* the computed convolution (winograd.h) */
    int ph, pw;
    int dlh, dlw;     /* dilation */
    int cipad, copad; /* U's dimensions */
    int th, tw;       /* tiles per column and per row of a phase: ceil(ceil(ho/dlh)/2), ... */
    sc_fdiv dth, dtw;
    int ntiles; /* n * dlh * dlw * th * tw */
    int nhwc;
};
/* Tile T -> image n, phase (ah, aw), tile row ty and column tx of the phase.
 * SC_WINO_DIL_MUTANT (tests only): every tile in column phase 0, which the checks of dilated
 * shapes must fail. */
__device__ __forceinline__ void wino_fwd_tile(const wino_args &a, int T, int &n, int &ah, int &aw,
                                              int &ty, int &tx)
{
    wino_tile(T, a.dth, a.th, a.dtw, a.tw, n, ty, tx);
    ah = aw = 0;
    if (a.dlh * a.dlw > 1) { /* n so far counts (image, phase) pairs */
        const int ph = n % (a.dlh * a.dlw);
        n /= a.dlh * a.dlw;
        ah = ph / a.dlw, aw = ph % a.dlw;
#ifdef SC_WINO_DIL_MUTANT
        aw = 0;
#endif
    }
}

/* U's layout for the wgmma kernel (winograd_wg.cu): for each point p, step of WINO_BC input
 * channels i and block of WINO_BK output channels o, the 64 (o) x 8 (i) A operand of one
 * wgmma in its register-fragment order (winograd_wg.cuh, wg_mma): thread tw of a warpgroup
 * (warp tw / 32, g = tw % 32 / 4, t = tw % 4) holds rows 16 (tw / 32) + g and + 8 by columns t
 * and t + 4 as 4 consecutive words, so that it loads its fragment of a point in 16 bytes. The
 * same 16 * cipad * copad words as U[16][cipad][copad]. */
SC_HD constexpr long long wino_wg_u_index(int p, int i, int o, int cipad, int copad)
{
    const int r = o % WINO_BK, c = i % WINO_BC;
    const int tw = 32 * (r >> 4) + 4 * (r & 7) + (c & 3), e = ((r >> 3) & 1) + 2 * (c >> 2);
    return (((long long)p * (cipad / WINO_BC) + i / WINO_BC) * (copad / WINO_BK) + o / WINO_BK) *
               (WINO_BC * WINO_BK) +
           4 * tw + e;
}
/* Compile-time check: one block's 64 x 8 entries fill its 512 words, each once. */
constexpr bool wino_wg_u_index_ok()
{
    bool seen[WINO_BC * WINO_BK] = {};
    for (int o = 0; o < WINO_BK; o++)
        for (int i = 0; i < WINO_BC; i++) {
            const long long w = wino_wg_u_index(0, i, o, WINO_BC, WINO_BK);
            if (w < 0 || w >= WINO_BC * WINO_BK || seen[w]) return false;
            seen[w] = true;
        }
    return wino_wg_u_index(1, 0, 0, 2 * WINO_BC, 3 * WINO_BK) == 6 * WINO_BC * WINO_BK;
}
static_assert(wino_wg_u_index_ok(), "the wgmma kernel's U layout: a bijection on each block");

#if !SC_GPU_HIP
/* winograd_wg.cu: forward or backward-data on wgmma (sm_90a builds; U in wino_wg_u_index's
 * order, made by winograd.cu's filter transform): an error elsewhere. */
int sc_launch_winograd_wg(const wino_args &w, const float *x, const float *U, const float *bias,
                          float *y, cudaStream_t st);
#endif

/* The input transform V = B^T d B of a 4x4 patch d (row-major). */
__device__ __forceinline__ void wino_fwd_v(const float (&d)[16], float (&v)[16])
{
    float b[16];
#pragma unroll
    for (int s = 0; s < 4; s++) { /* B^T d */
        b[0 + s] = d[0 + s] - d[8 + s];
        b[4 + s] = d[4 + s] + d[8 + s];
        b[8 + s] = d[8 + s] - d[4 + s];
        b[12 + s] = d[4 + s] - d[12 + s];
    }
#pragma unroll
    for (int r = 0; r < 4; r++) { /* (B^T d) B */
        v[4 * r + 0] = b[4 * r + 0] - b[4 * r + 2];
        v[4 * r + 1] = b[4 * r + 1] + b[4 * r + 2];
        v[4 * r + 2] = b[4 * r + 2] - b[4 * r + 1];
        v[4 * r + 3] = b[4 * r + 1] - b[4 * r + 3];
    }
}

/* Round rd of the output: the block's WINO_BT tiles from tile0 by KQ output channels from
 * o0 + rd * KQ, their 16 points in Ms[16][WINO_BT][KQ + 1] (point, tile, channel); thread t
 * of WINO_T applies Y = A^T M A, adds the bias and stores the 2x2 pixels inside y. */
template <int KQ>
__device__ __forceinline__ void wino_fwd_out(const wino_args &a, const float *Ms, int rd, int tile0,
                                             int o0, const float *__restrict__ bias,
                                             float *__restrict__ y, int t)
{
    typedef long long i64;
    constexpr int MLD = KQ + 1;
    for (int e = t; e < WINO_BT * KQ; e += WINO_T) {
        /* NHWC: lanes along the channels (consecutive addresses); NCHW: along the tiles. */
        const int tl = a.nhwc ? e / KQ : e % WINO_BT, ol = a.nhwc ? e % KQ : e / WINO_BT;
        const int T = tile0 + tl, o = o0 + rd * KQ + ol;
        if (T >= a.ntiles || o >= a.co) continue;
        float m[16];
#pragma unroll
        for (int p = 0; p < 16; p++) m[p] = Ms[(p * WINO_BT + tl) * MLD + ol];
        float z[2][4]; /* A^T M */
#pragma unroll
        for (int s = 0; s < 4; s++) {
            z[0][s] = m[0 + s] + m[4 + s] + m[8 + s];
            z[1][s] = m[4 + s] - m[8 + s] - m[12 + s];
        }
        const float bv = bias ? bias[o] : 0.f;
        float out[2][2]; /* (A^T M) A */
#pragma unroll
        for (int r = 0; r < 2; r++) {
            out[r][0] = z[r][0] + z[r][1] + z[r][2] + bv;
            out[r][1] = z[r][1] - z[r][2] - z[r][3] + bv;
        }
        int n, ah, aw, tyy, tx;
        wino_fwd_tile(a, T, n, ah, aw, tyy, tx);
#pragma unroll
        for (int r = 0; r < 2; r++)
#pragma unroll
            for (int s = 0; s < 2; s++) {
                const int h = (2 * tyy + r) * a.dlh + ah, w = (2 * tx + s) * a.dlw + aw;
                if (h < a.ho && w < a.wo) {
                    i64 idx = a.nhwc ? (((i64)n * a.ho + h) * a.wo + w) * a.co + o
                                     : (((i64)n * a.co + o) * a.ho + h) * a.wo + w;
                    y[idx] = out[r][s];
                }
            }
    }
}

/* ---- F(3x3,2x2) backward-weight (winograd_bw.cu, winograd_bw_wg.cu) ---- */
struct wino_bw_args {
    int n, c, h, w, k, p, q, ph, pw;
    int th, tw; /* dy's tiles per column and per row: ceil(p/2), ceil(q/2) */
    sc_fdiv dth, dtw;
    int ntiles; /* n * th * tw */
    int tps;    /* tiles per slice, a multiple of WINO_BC */
    int nhwc;
    int direct; /* one slice: write dw itself */
};
static inline wino_bw_args wino_bw_args_make(const sc_kp &kp, int splits)
{
    wino_bw_args w;
    w.n = kp.n, w.c = kp.c, w.h = kp.h, w.w = kp.w, w.k = kp.k, w.p = kp.p, w.q = kp.q;
    w.ph = kp.ph, w.pw = kp.pw;
    w.th = (kp.p + 1) / 2, w.tw = (kp.q + 1) / 2;
    w.dth = sc_fdiv_make((uint32_t)w.th), w.dtw = sc_fdiv_make((uint32_t)w.tw);
    w.ntiles = w.n * w.th * w.tw; /* < 2^31 (sc_wino_applies) */
    w.tps = sc_wino_bw_tps_of(w.ntiles, splits, WINO_BC);
    w.nhwc = kp.nhwc;
    w.direct = splits == 1;
    return w;
}

/* dy's 2x2 tile (n, ty, tx) at output channel k into g; zeros outside dy and where !ok. I: the
 * offsets' type (int only where dy has fewer than 2^31 elements). */
template <class I = long long>
__device__ __forceinline__ void wino_bw_load_g(const wino_bw_args &a, const float *__restrict__ dy,
                                               int n, int ty, int tx, bool ok, int k, float (&g)[4])
{
    typedef I i64;
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const int p = 2 * ty + i, q = 2 * tx + e;
            g[2 * i + e] = ok && p < a.p && q < a.q
                               ? __ldg(dy + (a.nhwc ? (((i64)n * a.p + p) * a.q + q) * a.k + k
                                                    : (((i64)n * a.k + k) * a.p + p) * a.q + q))
                               : 0.f;
        }
}

/* x's 4x4 patch at (2ty - ph, 2tx - pw) of input channel c into d (row-major); zeros outside x
 * and where !ok. I: the offsets' type (int only where x has fewer than 2^31 elements). */
template <class I = long long>
__device__ __forceinline__ void wino_bw_load_d(const wino_bw_args &a, const float *__restrict__ x,
                                               int n, int ty, int tx, bool ok, int c,
                                               float (&d)[16])
{
    typedef I i64;
    const int h0 = 2 * ty - a.ph, w0 = 2 * tx - a.pw;
    const i64 cs = a.nhwc ? a.c : 1, rs = (i64)a.w * cs;
    const i64 base = a.nhwc ? (((i64)n * a.h + h0) * a.w + w0) * a.c + c
                            : (((i64)n * a.c + c) * a.h + h0) * a.w + w0;
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int s = 0; s < 4; s++)
            d[4 * r + s] =
                ok && (unsigned)(h0 + r) < (unsigned)a.h && (unsigned)(w0 + s) < (unsigned)a.w
                    ? __ldg(x + base + r * rs + s * cs)
                    : 0.f;
}

/* Tile T's loads (in: T is in the block's slice): g[j], dy's 2x2 tile at output channel
 * k + 32 j (j < NH), and d, x's 4x4 patch at (2ty - ph, 2tx - pw) of input channel c; zeros
 * outside the tensors. */
template <int NH>
__device__ __forceinline__ void wino_bw_load(const wino_bw_args &a, const float *__restrict__ x,
                                             const float *__restrict__ dy, int T, bool in, int k,
                                             int c, float (&g)[NH][4], float (&d)[16])
{
    int n, ty, tx;
    wino_tile(in ? T : 0, a.dth, a.th, a.dtw, a.tw, n, ty, tx);
#pragma unroll
    for (int j = 0; j < NH; j++)
        wino_bw_load_g(a, dy, n, ty, tx, in && k + 32 * j < a.k, k + 32 * j, g[j]);
    wino_bw_load_d(a, x, n, ty, tx, in && c < a.c, c, d);
}

/* dy's tile transformed: u[p] = (G g G^T)[p / 4][p % 4], point p of the 16. */
__device__ __forceinline__ void wino_bw_u(const float (&g)[4], float (&u)[16])
{
    float tg[4][2];
#pragma unroll
    for (int e = 0; e < 2; e++) { /* G g: rows of the 2x2 tile */
        tg[0][e] = g[e];
        tg[1][e] = (g[e] + g[2 + e]) * 0.5f;
        tg[2][e] = (g[e] - g[2 + e]) * 0.5f;
        tg[3][e] = g[2 + e];
    }
#pragma unroll
    for (int r = 0; r < 4; r++) { /* (G g) G^T */
        u[4 * r] = tg[r][0];
#ifdef SC_WINO_MUTANT /* a broken variant the checks must catch (tests/gpu/run_mp.sh) */
        u[4 * r + 1] = (tg[r][0] + tg[r][1]) * (0.5f + 0x1p-13f);
#else
        u[4 * r + 1] = (tg[r][0] + tg[r][1]) * 0.5f;
#endif
        u[4 * r + 2] = (tg[r][0] - tg[r][1]) * 0.5f;
        u[4 * r + 3] = tg[r][1];
    }
}

/* x's patch transformed: v[p] = (B^T d B)[p / 4][p % 4]. */
__device__ __forceinline__ void wino_bw_v(const float (&d)[16], float (&v)[16])
{
    float b[16];
#pragma unroll
    for (int s = 0; s < 4; s++) { /* B^T d */
        b[0 + s] = d[0 + s] - d[8 + s];
        b[4 + s] = d[4 + s] + d[8 + s];
        b[8 + s] = d[8 + s] - d[4 + s];
        b[12 + s] = d[12 + s] - d[4 + s];
    }
#pragma unroll
    for (int r = 0; r < 4; r++) { /* (B^T d) B */
        v[4 * r] = b[4 * r + 0] - b[4 * r + 2];
        v[4 * r + 1] = b[4 * r + 1] + b[4 * r + 2];
        v[4 * r + 2] = b[4 * r + 2] - b[4 * r + 1];
        v[4 * r + 3] = b[4 * r + 3] - b[4 * r + 1];
    }
}

/* The output transform of exchange round rd: from Ms[16][WINO_BT][KQ + 1] (point, c - c0,
 * k - k0 - rd*KQ), thread t of WINO_T applies A^T . A to the 16 points of its (c, k) pairs
 * (lanes along c) and stores the 9 weights into o (dw, or this slice of the workspace) in dw's
 * layout: KRSC (NHWC) or KCRS. */
template <int KQ>
__device__ __forceinline__ void wino_bw_out(const wino_bw_args &a, const float *Ms, int rd, int k0,
                                            int c0, float *o, int t)
{
    typedef long long i64;
    constexpr int MLD = KQ + 1;
    for (int e = t; e < WINO_BT * KQ; e += WINO_T) {
        const int oc = e % WINO_BT, ok = e / WINO_BT;
        const int k = k0 + rd * KQ + ok, c = c0 + oc;
        if (k >= a.k || c >= a.c) continue;
        float m[16];
#pragma unroll
        for (int p = 0; p < 16; p++) m[p] = Ms[(p * WINO_BT + oc) * MLD + ok];
        float z[3][4]; /* A^T M */
#pragma unroll
        for (int s = 0; s < 4; s++) {
            z[0][s] = m[0 + s] + m[4 + s] + m[8 + s];
            z[1][s] = m[4 + s] - m[8 + s];
            z[2][s] = m[4 + s] + m[8 + s] + m[12 + s];
        }
#pragma unroll
        for (int r = 0; r < 3; r++) { /* (A^T M) A */
            const float v[3] = {z[r][0] + z[r][1] + z[r][2], z[r][1] - z[r][2],
                                z[r][1] + z[r][2] + z[r][3]};
#pragma unroll
            for (int s = 0; s < 3; s++)
                o[a.nhwc ? (((i64)k * 3 + r) * 3 + s) * a.c + c
                         : (((i64)k * a.c + c) * 3 + r) * 3 + s] = v[s];
        }
    }
}

/* The reduction over nsteps >= 1 steps through NBUF stages: load(s) reads step s into the
 * caller's registers, store(b) transforms them into stage b, gemm(b) runs the GEMM step on
 * stage b. With two stages the next step's loads are in flight during the GEMMs; with one they
 * follow them, so nothing is held in registers across the GEMMs (AMD's compiler spilled that
 * beside the 128 accumulators). Ends with a barrier: the stages are free afterwards. */
template <int NBUF, class Load, class Store, class Gemm>
__device__ __forceinline__ void wino_pipeline(int nsteps, Load &load, Store &store, Gemm &gemm)
{
    load(0);
    store(0);
    __syncthreads();
    for (int st = 0; st < nsteps; st++) {
        const bool more = st + 1 < nsteps;
        if (NBUF == 2 && more) load(st + 1);
        gemm(st % NBUF);
        if (NBUF == 1) {
            __syncthreads();
            if (more) {
                load(st + 1);
                store(0);
            }
        } else if (more) {
            store((st + 1) % NBUF);
        }
        __syncthreads();
    }
}

/* Exchange round rd: the accumulators of B columns [rd*KQ, (rd+1)*KQ) to
 * Ms[16][WINO_BT][KQ + 1] (point, A row, column - rd*KQ), so one thread can then read all 16
 * points of an (A row, column) pair. The caller synchronizes before reading. NH as in
 * wino_gemm_step. */
template <int KQ, int NH = 2>
__device__ __forceinline__ void wino_xchg_store(float *Ms, const float (&acc)[2][8][4 * NH], int rd,
                                                int warp, int ty, int kx)
{
#pragma unroll
    for (int q = 0; q < 2; q++)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int k = 0; k < 4 * NH; k++) {
                const int o = (k < 4 ? 0 : 32) + 4 * kx + (k & 3);
                if (o / KQ == rd)
                    Ms[((2 * warp + q) * WINO_BT + 8 * ty + j) * (KQ + 1) + o - rd * KQ] =
                        acc[q][j][k];
            }
}

/* Dynamic shared memory of a variant: NB stages of BUF floats, or the exchange of KQ columns
 * if larger. */
template <int NB, int KQ, int BUF = BUF_FLOATS>
__host__ __device__ constexpr int wino_smem()
{
    static_assert(NB == 1 || NB == 2, "one or two stages");
    static_assert(KQ == 16 || KQ == 32 || KQ == 64, "KQ divides WINO_BK");
    return NB * BUF * 4 > 16 * WINO_BT * (KQ + 1) * 4 ? NB * BUF * 4 : 16 * WINO_BT * (KQ + 1) * 4;
}

#if !SC_GPU_HIP
/* The shared memory a block of the current device may opt in to (winograd.cu; cached per
 * device): the two-stage variants need wino_smem<2, 32, BUF>(). */
int sc_wino_optin_bytes();
#endif

/* run(NB, KQ) (std::integral_constant<int, ...>) for the variant of this build and device, with
 * stages of BUF floats (BUF_FLOATS forward, wino_bw_buf<BK>() backward-weight):
 *   <2, 32>  double-buffered, 100-104 KiB of shared memory: NVIDIA GPUs that let a block opt in
 *            to that much (sm_80, sm_90; not sm_75, sm_86, sm_89: 64-99 KiB);
 *   <1, 16>  one stage, 50-52 KiB: AMD (64 KiB of LDS per work-group) and the other NVIDIA GPUs;
 *            SAFECONV_GPU_WINOGRAD_1STAGE=1 forces it on NVIDIA (to verify AMD's variant there).
 * The HIP-CPU run can check the first with -DSC_WINO_HIP_TWO_STAGE (HIP-CPU has no LDS limit);
 * a HIP build instantiates only the one it runs. */
template <int BUF = BUF_FLOATS, class Run>
static int wino_variant(const Run &run)
{
#if SC_GPU_HIP
#ifdef SC_WINO_HIP_TWO_STAGE
    return run(std::integral_constant<int, 2>(), std::integral_constant<int, 32>());
#else
    return run(std::integral_constant<int, 1>(), std::integral_constant<int, 16>());
#endif
#else
    if (sc_gpu_knobs_get()->winograd_1stage != 1 &&
        sc_wino_optin_bytes() >= wino_smem<2, 32, BUF>())
        return run(std::integral_constant<int, 2>(), std::integral_constant<int, 32>());
    return run(std::integral_constant<int, 1>(), std::integral_constant<int, 16>());
#endif
}

#endif /* SC_GPU_WINOGRAD_CUH */
