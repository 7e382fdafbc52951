/* winograd.cuh - what the Winograd kernels share (winograd.cu: F(2x2,3x3) forward and
 * backward-data; winograd_bw.cu: F(3x3,2x2) backward-weight): the shared-memory layout of a
 * stage, the 16 outer-product GEMMs of one reduction step, and the exchange of the accumulators
 * through shared memory before the output transform.
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
