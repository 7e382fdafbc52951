/* winograd_bw_wg.cu - Winograd F(3x3,2x2) backward-weight (winograd_bw.cu's computation) with
 * each GEMM step on Hopper's wgmma in 3xTF32: tile 4 (winograd.h). mk/gpu.mk compiles this file
 * for sm_90a, as gemm_wgmma.cu, and defines SC_WGMMA_SM90A=1 there; elsewhere the launcher
 * returns an error and the planner never picks the tile (sc_gpu_dev.wgmma).
 *
 * Why: the FMA tile (tile 0) issues about 1,630 instructions a warp a step, 1,024 of them FMAs,
 * at two warps a scheduler, and is bound by that issue rate; mma.sync in 3xTF32 (tile 2) cut the
 * instructions by a third and gained nothing (Hopper runs mma.sync well below its tensor rate).
 * wgmma takes the GEMM off the issue slots: a warp's step is its loads, transforms and stores.
 * Measured on an H100, it issues about 0.6x tile 0's instructions and runs 0.94-1.07x its time
 * (faster on the 512- and 256-channel layers, slower on the 64-channel ones): its step is bound
 * by the stores and the wgmma reads through shared memory and their latency at two warps a
 * scheduler, not by the issue slots. A 512-thread form (four warpgroups, a U pair and a half x
 * patch a thread) ran 3-5% slower still. So it is an experiment switch (winograd.h;
 * bench/NOTES.md, "Winograd backward-weight on wgmma in 3xTF32" and "tile 4's rounding by
 * integer operations").
 *
 * Block: 256 threads = two warpgroups, 32 (WINO_BT) input x 64 (WINO_BK) output channels, one
 * slice of dy's 2x2 tiles, WINO_BC = 8 tiles a step: tile 0's block, grid, slices and exchange.
 * Per transformed point p a step adds D_p[k][c] += sum over its 8 tiles t of U_p[k][t] V_p[c][t]
 * (U: dy's tiles transformed, winograd.cuh wino_bw_u; V: x's patches, wino_bw_v): one
 * wgmma m64n32k8 (M = the 64 k, N = the 32 c, K = the 8 tiles) for each term of 3xTF32. Each
 * staged value v is stored split, big = tf32(v) and small = v - big (exact in fp32; wg_put), and the three products run small*big, big*small, big*big, in that order, into fp32
 * accumulators; the small*small term (below 2^-22 of the product) is left out, as tile 2's
 * (winograd.cuh, wino_gemm_step_tf32x3). Warpgroup wg computes points 8wg .. 8wg+7: 8 x 16
 * accumulators a thread, in wgmma's m64nNk8 layout (warp w % 4 of the warpgroup: rows (k)
 * 16(w % 4) + g and + 8, columns (c) 8i + 2t and + 1 in registers 4i + {0, 1} and 4i + {2, 3};
 * g = lane / 4, t = lane % 4).
 *
 * Stage (WG_STAGE bytes, two of them): per point WG_PT bytes: Ub, Us (64 x 8 each) then Vb, Vs
 * (32 x 8 each), each a K-major operand in wgmma's layout without swizzle: core matrices of 8
 * rows x 4 words (16 bytes a row, 128 bytes each), the 8-row groups 128 bytes apart (the
 * descriptor's stride offset), the two groups of 4 tiles (K) a matrix's rows (the leading
 * offset) plus 64 bytes apart, so that word (r, kk) is at
 *   (r / 8) * 32 + (kk / 4) * (4 rows + 16) + (r % 8) * 4 + kk % 4     (words; rows 64 or 32)
 * and its bank is 4 (r % 8) + kk % 4 + 16 (kk / 4) mod 32: a warp's 32 stores of distinct
 * (r % 8, kk) pairs hit 32 banks. The store roles give each warp such pairs: NCHW, lanes along 8
 * tiles x 4 channels (t % 8, t / 8, as tile 0); NHWC, 4 tiles x 8 channels (tile 0's warp on one
 * tile, lanes along 32 channels, would hit 8 banks 4 times), so a warp reads 32-byte runs.
 *
 * Step st (stage and register set st % 2): its 24 wgmma a warpgroup are issued; step st + 2's
 * loads go into this step's register set (stored a step ago), so that each step's loads have a
 * whole step to arrive; step st + 1 is transformed, split and stored into the other stage (whose
 * wgmma were waited for before the last barrier) while the tensor cores run; then the group is
 * waited for, the stores are fenced for the async proxy (fence.proxy.async: wgmma reads shared
 * memory through it), and the block passes a barrier. Deterministic: the same fixed slices and
 * order as tile 0, each accumulator's terms in a fixed order. The exchange and the output
 * transform are tile 0's (winograd.cuh), one round of 64 columns over the stages.
 *
 * SC_WINO_WG_MUTANT (tests only): big*big alone, 1xTF32, which the fp32 checks must fail. */
#include "knobs.h"
#include "launch.h"
#include "winograd.cuh"

#ifndef SC_WGMMA_SM90A
#define SC_WGMMA_SM90A 0
#endif
#ifndef SC_WINO_WG_MUTANT
#define SC_WINO_WG_MUTANT 0
#endif

#if !SC_GPU_HIP
#include "mma/wgmma.cuh"

enum {
    WG_UROWS = WINO_BK,                                       /* M: output channels */
    WG_VROWS = WINO_BT,                                       /* N: input channels */
    WG_ULBO = WG_UROWS / 8 * 128 + 64,                        /* U's leading offset (bytes) */
    WG_VLBO = WG_VROWS / 8 * 128 + 64,                        /* V's */
    WG_UBYTES = WG_ULBO + WG_UROWS / 8 * 128,                 /* one U matrix: 2112 */
    WG_VBYTES = WG_VLBO + WG_VROWS / 8 * 128,                 /* one V matrix: 1088 */
    WG_PT = 2 * WG_UBYTES + 2 * WG_VBYTES,                    /* a point: Ub, Us, Vb, Vs */
    WG_STAGE = 16 * WG_PT,                                    /* 102,400 */
    WG_XCHG = 16 * WINO_BT * (WINO_BK + 1) * 4,               /* Ms[16][32][65] */
    WG_SMEM = 2 * WG_STAGE > WG_XCHG ? 2 * WG_STAGE : WG_XCHG /* 204,800 */
};
static_assert(WINO_BC == 8 && WINO_BT == 32 && WINO_BK == 64 && WINO_T == 256,
              "one m64n32k8 a point and term, two warpgroups");
static_assert(WG_UBYTES % 16 == 0 && WG_VBYTES % 16 == 0 && WG_PT % 16 == 0,
              "descriptor addresses are 16-byte units");

/* Word (r, kk) of a matrix with leading offset LBO bytes (the layout above). */
template <int LBO>
__host__ __device__ constexpr int wg_word(int r, int kk)
{
    return (r >> 3) * 32 + (kk >> 2) * (LBO / 4) + (r & 7) * 4 + (kk & 3);
}

/* Thread t's store role: tile tl of the step and channel cl (the bank note above). */
__host__ __device__ constexpr int wg_tl(int t, bool nhwc)
{
    return nhwc ? 4 * ((t >> 5) & 1) + ((t & 31) >> 3) : t & 7;
}
__host__ __device__ constexpr int wg_cl(int t, bool nhwc)
{
    return nhwc ? 8 * (t >> 6) + (t & 7) : t >> 3;
}
/* Compile-time checks of the layout and the roles: every (row, tile) of a matrix has its own
 * word inside the matrix, the roles give each (tile, channel) pair to one thread, and each warp's
 * stores of one row offset (dy's k and k + 32) hit 32 banks. */
template <int LBO, int ROWS>
constexpr bool wg_layout_ok()
{
    bool seen[LBO / 4 + ROWS * 4] = {};
    for (int r = 0; r < ROWS; r++)
        for (int kk = 0; kk < WINO_BC; kk++) {
            const int w = wg_word<LBO>(r, kk);
            if (w < 0 || w >= LBO / 4 + ROWS * 4 || seen[w]) return false;
            seen[w] = true;
        }
    for (int nhwc = 0; nhwc < 2; nhwc++) {
        bool role[WINO_BC * WINO_BT] = {}; /* each (tile, channel) pair one thread's */
        for (int t = 0; t < WINO_T; t++) {
            const int tl = wg_tl(t, nhwc), cl = wg_cl(t, nhwc);
            if (tl < 0 || tl >= WINO_BC || cl < 0 || cl >= WINO_BT || role[tl * WINO_BT + cl])
                return false;
            role[tl * WINO_BT + cl] = true;
        }
    }
    for (int nhwc = 0; nhwc < 2; nhwc++)
        for (int warp = 0; warp < WINO_T / 32; warp++)
            for (int j = 0; j * 32 < ROWS; j++) {
                bool bank[32] = {};
                for (int lane = 0; lane < 32; lane++) {
                    const int t = 32 * warp + lane;
                    const int b = wg_word<LBO>(wg_cl(t, nhwc) + 32 * j, wg_tl(t, nhwc)) & 31;
                    if (bank[b]) return false;
                    bank[b] = true;
                }
            }
    return true;
}
static_assert(wg_layout_ok<WG_ULBO, WG_UROWS>() && wg_layout_ok<WG_VLBO, WG_VROWS>(),
              "U and V: one word each; store roles: every pair once, 32 banks a warp");

#if SC_WGMMA_DEVICE
/* The descriptor of a K-major operand without swizzle at shared address saddr: start >> 4 (bits
 * 0-13), leading offset (between the core matrices of tiles 0-3 and 4-7) >> 4 (bits 16-29),
 * stride offset (between 8-row groups, 128 bytes) >> 4 (bits 32-45), layout 0 (bits 62-63). */
template <int LBO>
__device__ __forceinline__ unsigned long long wg_desc(unsigned saddr)
{
    return (unsigned long long)((saddr & 0x3ffff) >> 4) | ((unsigned long long)(LBO >> 4) << 16) |
           ((unsigned long long)(128 >> 4) << 32);
}
/* d (64 x 32 fp32, this thread's 16) += A (64 x 8, descriptor a) * B (8 x 32, descriptor b,
 * stored as 32 K-major rows), the words read as TF32. */
__device__ __forceinline__ void wg_mma(float (&d)[16], unsigned long long a, unsigned long long b)
{
    asm volatile("wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
                 "%16, %17, 1, 1, 1;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                   "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                   "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(a), "l"(b));
}
/* v's big and small halves into words w (big) and w + off (small): big = v rounded to TF32, to
 * nearest with ties away from zero (cvt.rna's rounding: adding half of the 13 dropped bits to the
 * sign-magnitude word rounds the magnitude; a NaN whose payload is in those bits alone becomes an
 * infinity, and small, infinity minus infinity, is a NaN again, so the sums stay NaN), small = v
 * - big, exact in fp32 and stored whole: the tensor cores read its TF32 part, dropping its 13 low
 * bits (a relative error of at most 2^-10 of small, itself at most 2^-11 of v). Three
 * instructions a value (an integer add, a mask, a subtraction); two cvt.rna.tf32.f32 and their
 * masks took about nine on sm_90, since cvt.rna is a test for infinity and NaN, a predicated
 * add and a mask there (bench/NOTES.md, "tile 4's rounding by integer operations"). */
__device__ __forceinline__ void wg_put(unsigned *w, int off, float v)
{
    const unsigned big = (__float_as_uint(v) + 0x1000u) & 0xffffe000u;
    w[0] = big;
    w[off] = __float_as_uint(v - __uint_as_float(big));
}
#endif

__global__ __launch_bounds__(WINO_T, 1) void wino_bw_wg(wino_bw_args a, const float *__restrict__ x,
                                                        const float *__restrict__ dy,
                                                        float *__restrict__ out)
{
#if SC_WGMMA_DEVICE
    extern __shared__ float4 smem4[];
    unsigned char *sm = (unsigned char *)smem4;
    const unsigned sbase = sc_smem_u32(sm);
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31, wg = warp >> 2;
    const int k0 = blockIdx.x * WINO_BK, c0 = blockIdx.y * WINO_BT;
    const int tbeg = blockIdx.z * a.tps;
    const int tend = min(tbeg + a.tps, a.ntiles);

    /* Roles (the bank note above): tile tl of the step, channel cl (x: c0 + cl; dy: k0 + cl and
     * k0 + cl + 32). */
    const int tl = wg_tl(t, a.nhwc), cl = wg_cl(t, a.nhwc);
    /* Two register sets of a step's loads: set s holds the steps st with st % 2 == s, loaded a
     * whole step before they are stored (the loop below). */
    float g[2][2][4], d[2][16];
    auto load = [&](int step, auto set) {
        constexpr int s = decltype(set)::value;
        const int T = tbeg + step * WINO_BC + tl;
        wino_bw_load<2>(a, x, dy, T, T < tend, k0 + cl, c0 + cl, g[s], d[s]);
    };
    /* step st (in set st % 2) into stage st % 2 */
    auto store = [&](auto set) {
        constexpr int s = decltype(set)::value;
        unsigned *S = (unsigned *)(sm + s * WG_STAGE);
#pragma unroll
        for (int j = 0; j < 2; j++) {
            float u[16];
            wino_bw_u(g[s][j], u);
#pragma unroll
            for (int p = 0; p < 16; p++)
                wg_put(S + p * (WG_PT / 4) + wg_word<WG_ULBO>(cl + 32 * j, tl), WG_UBYTES / 4,
                       u[p]);
        }
        float v[16];
        wino_bw_v(d[s], v);
#pragma unroll
        for (int p = 0; p < 16; p++)
            wg_put(S + p * (WG_PT / 4) + 2 * WG_UBYTES / 4 + wg_word<WG_VLBO>(cl, tl),
                   WG_VBYTES / 4, v[p]);
    };
    float acc[8][16];
#pragma unroll
    for (int q = 0; q < 8; q++)
#pragma unroll
        for (int i = 0; i < 16; i++) acc[q][i] = 0.f;
    /* this warpgroup's 8 points of stage buf: 3 wgmma each, one group. The descriptors of its
     * first point in stage 0 are made once; a matrix at `off` bytes further is the descriptor
     * plus off / 16 (the start address field, bits 0-13, holds every shared address >> 4 of
     * the block's 200 KiB without a carry out of it). */
    const unsigned pt0 = sbase + (unsigned)(8 * wg * WG_PT);
    const unsigned long long ud0 = wg_desc<WG_ULBO>(pt0),
                             vd0 = wg_desc<WG_VLBO>(pt0 + 2 * WG_UBYTES);
    auto gemm = [&](int buf) {
        sc_wgmma_fence();
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const unsigned long long o = (unsigned long long)((buf * WG_STAGE + q * WG_PT) >> 4);
            const unsigned long long ub = ud0 + o, us = ub + (WG_UBYTES >> 4), vb = vd0 + o,
                                     vs = vb + (WG_VBYTES >> 4);
#if !SC_WINO_WG_MUTANT
            wg_mma(acc[q], us, vb);
            wg_mma(acc[q], ub, vs);
#else
            (void)us, (void)vs;
#endif
            wg_mma(acc[q], ub, vb);
        }
        sc_wgmma_commit();
    };

    const int nsteps = tend > tbeg ? (tend - tbeg + WINO_BC - 1) / WINO_BC : 0;
    /* Step st (stage and register set s = st % 2): its wgmma are issued; step st + 2's loads
     * go into set s (stored a step ago); step st + 1, loaded a whole step ago, is stored into
     * stage 1 - s (read by step st - 1's wgmma, waited for before the last barrier); the group
     * is waited for, the stores fenced for the async proxy, one barrier. */
    const std::integral_constant<int, 0> s0;
    const std::integral_constant<int, 1> s1;
    auto body = [&](int st, auto set, auto other) {
        gemm(decltype(set)::value);
        if (st + 2 < nsteps) load(st + 2, set);
        if (st + 1 < nsteps) store(other);
        sc_wgmma_wait<0>();
        sc_fence_proxy_async();
        __syncthreads();
    };
    if (nsteps > 0) { /* the same for the whole block */
        load(0, s0);
        if (nsteps > 1) load(1, s1);
        store(s0);
        sc_fence_proxy_async();
        __syncthreads();
        for (int st = 0; st < nsteps; st += 2) {
            body(st, s0, s1);
            if (st + 1 < nsteps) body(st + 1, s1, s0);
        }
    }

    /* Exchange through Ms[16][WINO_BT][WINO_BK + 1] (point, c - c0, k - k0), over the stages
     * (every wgmma was waited for before the last barrier), then tile 0's output transform. */
    float *Ms = (float *)sm;
    const int g8 = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int q = 0; q < 8; q++)
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int k = 16 * (warp & 3) + g8 + 8 * (e >> 1), c = 8 * i + 2 * t4 + (e & 1);
                Ms[((8 * wg + q) * WINO_BT + c) * (WINO_BK + 1) + k] = acc[q][4 * i + e];
            }
    __syncthreads();
    float *o = a.direct ? out : out + (long long)blockIdx.z * a.k * a.c * 9;
    wino_bw_out<WINO_BK>(a, Ms, 0, k0, c0, o, t);
#else
    (void)a, (void)x, (void)dy, (void)out;
#endif
}
#endif /* !SC_GPU_HIP */

int sc_launch_winograd_bw_wg(const sc_kp &kp, int splits, const void *x, const void *dy, void *out,
                             cudaStream_t st)
{
#if !SC_GPU_HIP && SC_WGMMA_SM90A
    const wino_bw_args w = wino_bw_args_make(kp, splits);
    dim3 grid((unsigned)((kp.k + WINO_BK - 1) / WINO_BK),
              (unsigned)((kp.c + WINO_BT - 1) / WINO_BT), (unsigned)splits);
    if (int err = sc_smem_opt_in<wino_bw_wg>(WG_SMEM, WG_SMEM)) return err;
    wino_bw_wg<<<grid, WINO_T, WG_SMEM, st>>>(w, (const float *)x, (const float *)dy, (float *)out);
    return (int)cudaGetLastError();
#else
    (void)kp, (void)splits, (void)x, (void)dy, (void)out, (void)st;
    return (int)cudaErrorInvalidValue; /* not built for sm_90a: never planned */
#endif
}
