/* winograd_bw_wg.cu - Winograd F(3x3,2x2) backward-weight (winograd_bw.cu's computation) with
 * each GEMM step on Hopper's wgmma in 3xTF32: tile 4 (winograd.h), the default on sm_90 devices
 * where x and dy have fewer than 2^31 elements each (its 32-bit offsets). mk/gpu.mk compiles
 * this file for sm_90a, as gemm_wgmma.cu, and defines SC_WGMMA_SM90A=1 there; elsewhere the
 * launcher returns an error and the planner never picks the tile (sc_gpu_dev.wgmma).
 *
 * Why: the FMA tile (tile 0) issues about 1,630 instructions a warp a step, 1,024 of them FMAs,
 * at two warps a scheduler, and is bound by that issue rate; wgmma takes the GEMM off the issue
 * slots. A first form with both operands staged in shared memory issued 0.6x tile 0's
 * instructions but was bound by shared memory (two 4-byte stores a staged value, U read three
 * times a point) and ran 0.94-1.07x tile 0's time; taking U (dy's side) as wgmma's register A
 * removes its stores and reads, two thirds of that traffic (bench/NOTES.md, "Winograd
 * backward-weight on wgmma in 3xTF32", "tile 4's rounding by integer operations" and "tile 4
 * with U in registers").
 *
 * Block: 256 threads = two warpgroups, 32 (WINO_BT) input x 64 (WINO_BK) output channels, one
 * slice of dy's 2x2 tiles, WINO_BC = 8 tiles a step: tile 0's block, grid, slices and exchange.
 * Per transformed point p a step adds D_p[k][c] += sum over its 8 tiles t of U_p[k][t] V_p[c][t]
 * (U: dy's tiles transformed, winograd.cuh wino_bw_u; V: x's patches, wino_bw_v): one
 * wgmma m64n32k8 (M = the 64 k, N = the 32 c, K = the 8 tiles) for each term of 3xTF32. Each
 * value v is split into big = tf32(v) and small = v - big (exact in fp32; wg_split), and the three
 * products run small*big, big*small, big*big, in that order, into fp32 accumulators; the
 * small*small term (below 2^-22 of the product) is left out, as tile 2's (winograd.cuh,
 * wino_gemm_step_tf32x3). Warpgroup wg computes points 8wg .. 8wg+7: 8 x 16 accumulators a
 * thread, in wgmma's m64nNk8 layout (warp w % 4 of the warpgroup: rows (k) 16(w % 4) + g and
 * + 8, columns (c) 8i + 2t and + 1 in registers 4i + {0, 1} and 4i + {2, 3}; g = lane / 4,
 * t = lane % 4).
 *
 * A (U, registers): a thread's fragment of a point is rows (k) 16(w % 4) + g and + 8 by columns
 * (tiles) t and t + 4, so each thread loads those four dy tiles (16 loads; the two warpgroups
 * load the same tiles) and transforms them into its warpgroup's 8 points, split: 64 registers
 * (wg_a_frags), which must stay allocated until the group that reads them is waited for
 * (wg_keep).
 *
 * B (V, shared memory; WG_STAGE bytes, two stages): per point WG_PT bytes: Vb, Vs (32 x 8 each),
 * each a K-major operand in wgmma's layout without swizzle: core matrices of 8 rows x 4 words
 * (16 bytes a row, 128 bytes each), the 8-row groups 128 bytes apart (the descriptor's stride
 * offset), the two groups of 4 tiles (K) a matrix's rows (the leading offset) plus 64 bytes
 * apart, so that word (r, kk) is at
 *   (r / 8) * 32 + (kk / 4) * (4 rows + 16) + (r % 8) * 4 + kk % 4     (words; 32 rows)
 * and its bank is 4 (r % 8) + kk % 4 + 16 (kk / 4) mod 32: a warp's 32 stores of distinct
 * (r % 8, kk) pairs hit 32 banks. The store roles give each warp such pairs: NCHW, lanes along 8
 * tiles x 4 channels (t % 8, t / 8, as tile 0); NHWC, 4 tiles x 8 channels (tile 0's warp on one
 * tile, lanes along 32 channels, would hit 8 banks 4 times), so a warp reads 32-byte runs.
 *
 * Step st (stage st % 2): its 24 wgmma a warpgroup are issued; step st + 1's x patch (loaded a
 * step ago) is transformed, split and stored into the other stage (whose wgmma were waited for
 * before the last barrier) while the tensor cores run; step st + 2's x loads are issued; the
 * group is waited for; step st + 1's A fragments are made from its dy tiles (loaded a step ago)
 * and step st + 2's dy loads issued; the stores are fenced for the async proxy (fence.proxy.async:
 * wgmma reads shared memory through it), and the block passes a barrier. One register set for
 * each of x and dy: two for x spilled beside the 128 accumulators and 64 A registers.
 * Deterministic: the same fixed slices and order as tile 0, each accumulator's terms in a fixed
 * order. The exchange and the output transform are tile 0's (winograd.cuh), one round of 64
 * columns over the stages.
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
    WG_VROWS = WINO_BT,                                       /* N: input channels */
    WG_VLBO = WG_VROWS / 8 * 128 + 64,                        /* V's leading offset (bytes) */
    WG_VBYTES = WG_VLBO + WG_VROWS / 8 * 128,                 /* one V matrix: 1088 */
    WG_PT = 2 * WG_VBYTES,                                    /* a point: Vb, Vs */
    WG_STAGE = 16 * WG_PT,                                    /* 34,816 */
    WG_XCHG = 16 * WINO_BT * (WINO_BK + 1) * 4,               /* Ms[16][32][65] */
    WG_SMEM = 2 * WG_STAGE > WG_XCHG ? 2 * WG_STAGE : WG_XCHG /* 133,120 */
};
static_assert(WINO_BC == 8 && WINO_BT == 32 && WINO_BK == 64 && WINO_T == 256,
              "one m64n32k8 a point and term, two warpgroups");
static_assert(WG_VBYTES % 16 == 0 && WG_PT % 16 == 0, "descriptor addresses are 16-byte units");

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
 * stores hit 32 banks. */
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
        bool role[WINO_BC * ROWS] = {}; /* each (tile, channel) pair one thread's */
        for (int t = 0; t < WINO_T; t++) {
            const int tl = wg_tl(t, nhwc), cl = wg_cl(t, nhwc);
            if (tl < 0 || tl >= WINO_BC || cl < 0 || cl >= ROWS || role[tl * ROWS + cl])
                return false;
            role[tl * ROWS + cl] = true;
        }
        for (int warp = 0; warp < WINO_T / 32; warp++) {
            bool bank[32] = {};
            for (int lane = 0; lane < 32; lane++) {
                const int t = 32 * warp + lane;
                const int b = wg_word<LBO>(wg_cl(t, nhwc), wg_tl(t, nhwc)) & 31;
                if (bank[b]) return false;
                bank[b] = true;
            }
        }
    }
    return true;
}
static_assert(WINO_BC * WG_VROWS == WINO_T && wg_layout_ok<WG_VLBO, WG_VROWS>(),
              "V: one word each; store roles: every pair once, 32 banks a warp");

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
/* d (64 x 32 fp32, this thread's 16) += A (64 x 8, this thread's fragment a in registers:
 * rows g and g + 8 of its warp's 16, columns t and t + 4, as a[0] (g, t), a[1] (g + 8, t),
 * a[2] (g, t + 4), a[3] (g + 8, t + 4)) * B (8 x 32, descriptor b, stored as 32 K-major rows),
 * the words read as TF32. */
__device__ __forceinline__ void wg_mma(float (&d)[16], const unsigned (&a)[4], unsigned long long b)
{
    asm volatile("wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
                 "{%16, %17, %18, %19}, %20, 1, 1, 1;\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]),
                   "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]),
                   "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}
/* v's big and small halves: big = v rounded to TF32, to nearest with ties away from zero
 * (cvt.rna's rounding: adding half of the 13 dropped bits to the sign-magnitude word rounds the
 * magnitude; a NaN whose payload is in those bits alone becomes an infinity, and small, infinity
 * minus infinity, is a NaN again, so the sums stay NaN); small = v - big, exact in fp32, passed
 * whole: the tensor cores read its TF32 part, dropping its 13 low bits (a relative error of at
 * most 2^-10 of small, itself at most 2^-11 of v). Three instructions a value for both halves;
 * two cvt.rna.tf32.f32 and their masks took about nine on sm_90 (bench/NOTES.md, "tile 4's
 * rounding by integer operations"). */
__device__ __forceinline__ void wg_split(float v, unsigned &big, unsigned &small)
{
    big = (__float_as_uint(v) + 0x1000u) & 0xffffe000u;
    small = __float_as_uint(v - __uint_as_float(big));
}
/* v's halves into words w (big) and w + off (small). */
__device__ __forceinline__ void wg_put(unsigned *w, int off, float v) { wg_split(v, w[0], w[off]); }
/* The A registers of the group in flight: kept allocated until its wait (sc_wgmma_keep). */
__device__ __forceinline__ void wg_keep(unsigned (&a)[8][4])
{
#pragma unroll
    for (int q = 0; q < 8; q++)
#pragma unroll
        for (int i = 0; i < 4; i++) asm volatile("" : "+r"(a[q][i])::"memory");
}
/* Rows R and R + 1 of U = G g G^T (points 4R .. 4R + 7) for each of a thread's four dy tiles
 * g[f] (its A fragment's (row, column) pairs f, wg_mma), split into big (ab) and small (as). */
template <int R>
__device__ __forceinline__ void wg_a_frags(const float (&g)[4][4], unsigned (&ab)[8][4],
                                           unsigned (&as)[8][4])
{
#pragma unroll
    for (int f = 0; f < 4; f++) {
        float u[16];
        wino_bw_u(g[f], u);
#pragma unroll
        for (int q = 0; q < 8; q++) wg_split(u[4 * R + q], ab[q][f], as[q][f]);
    }
}
#endif

template <bool NHWC>
__global__
__launch_bounds__(WINO_T, 1) void wino_bw_wg(wino_bw_args a0, const float *__restrict__ x,
                                             const float *__restrict__ dy, float *__restrict__ out)
{
#if SC_WGMMA_DEVICE
    wino_bw_args a = a0;
    a.nhwc = NHWC; /* a compile-time layout: one address form a kernel */
    extern __shared__ float4 smem4[];
    unsigned char *sm = (unsigned char *)smem4;
    const unsigned sbase = sc_smem_u32(sm);
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31, wg = warp >> 2;
    const int k0 = blockIdx.x * WINO_BK, c0 = blockIdx.y * WINO_BT;
    const int tbeg = blockIdx.z * a.tps;
    const int tend = min(tbeg + a.tps, a.ntiles);

    /* Roles: x's patch of tile tl at channel c0 + cl (the store note above); dy's four tiles of
     * this thread's A fragments (wg_mma): channels k0 + ka and k0 + ka + 8, tiles ta and ta + 4
     * of the step (f = 0: (ka, ta), 1: (ka + 8, ta), 2: (ka, ta + 4), 3: (ka + 8, ta + 4)). */
    const int tl = wg_tl(t, a.nhwc), cl = wg_cl(t, a.nhwc);
    const int ka = 16 * (warp & 3) + (lane >> 2), ta = lane & 3;
    /* One register set each: x's patch (loaded a step before it is stored) and dy's four tiles
     * (a step before their fragments are made). */
    float d[16], gy[4][4];
    auto load_x = [&](int step) {
        const int T = tbeg + step * WINO_BC + tl;
        const bool in = T < tend;
        int n, ty, tx;
        wino_tile(in ? T : 0, a.dth, a.th, a.dtw, a.tw, n, ty, tx);
        wino_bw_load_d<int>(a, x, n, ty, tx, in && c0 + cl < a.c, c0 + cl, d);
    };
    auto load_dy = [&](int step) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const int T = tbeg + step * WINO_BC + ta + 4 * h;
            const bool in = T < tend;
            int n, ty, tx;
            wino_tile(in ? T : 0, a.dth, a.th, a.dtw, a.tw, n, ty, tx);
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int k = k0 + ka + 8 * e;
                wino_bw_load_g<int>(a, dy, n, ty, tx, in && k < a.k, k, gy[2 * h + e]);
            }
        }
    };
    /* the x patch in d, transformed, into stage s */
    auto store = [&](auto stage) {
        constexpr int s = decltype(stage)::value;
        unsigned *S = (unsigned *)(sm + s * WG_STAGE) + wg_word<WG_VLBO>(cl, tl);
        float v[16];
        wino_bw_v(d, v);
#pragma unroll
        for (int p = 0; p < 16; p++) wg_put(S + p * (WG_PT / 4), WG_VBYTES / 4, v[p]);
    };
    unsigned ab[8][4], as[8][4];
    auto frags = [&]() {
        if (wg == 0)
            wg_a_frags<0>(gy, ab, as);
        else
            wg_a_frags<2>(gy, ab, as);
    };
    float acc[8][16];
#pragma unroll
    for (int q = 0; q < 8; q++)
#pragma unroll
        for (int i = 0; i < 16; i++) acc[q][i] = 0.f;
    /* this warpgroup's 8 points of stage buf: 3 wgmma each, one group. The descriptor of its
     * first point's Vb in stage 0 is made once; a matrix at `off` bytes further is the
     * descriptor plus off / 16 (the start address field, bits 0-13, holds every shared address
     * >> 4 of the block's shared memory without a carry out of it). */
    const unsigned long long vd0 = wg_desc<WG_VLBO>(sbase + (unsigned)(8 * wg * WG_PT));
    auto gemm = [&](int buf) {
        sc_wgmma_fence();
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const unsigned long long vb =
                vd0 + (unsigned long long)((buf * WG_STAGE + q * WG_PT) >> 4);
            const unsigned long long vs = vb + (WG_VBYTES >> 4);
#if !SC_WINO_WG_MUTANT
            wg_mma(acc[q], as[q], vb);
            wg_mma(acc[q], ab[q], vs);
#else
            (void)vs;
#endif
            wg_mma(acc[q], ab[q], vb);
        }
        sc_wgmma_commit();
    };

    const int nsteps = tend > tbeg ? (tend - tbeg + WINO_BC - 1) / WINO_BC : 0;
    /* Step st (stage s = st % 2; the order in the header) */
    const std::integral_constant<int, 0> s0;
    const std::integral_constant<int, 1> s1;
    auto body = [&](int st, auto stage, auto other) {
        gemm(decltype(stage)::value);
        if (st + 1 < nsteps) store(other);
        if (st + 2 < nsteps) load_x(st + 2);
        sc_wgmma_wait<0>();
        wg_keep(ab);
        wg_keep(as);
        if (st + 1 < nsteps) frags();
        if (st + 2 < nsteps) load_dy(st + 2);
        sc_fence_proxy_async();
        __syncthreads();
    };
    if (nsteps > 0) { /* the same for the whole block */
        load_dy(0);
        load_x(0);
        frags();
        if (nsteps > 1) load_dy(1);
        store(s0);
        if (nsteps > 1) load_x(1);
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
            for (int e = 0; e < 4; e++) /* a warp's 16 rows: mma.sync's m16n8 layout */
                Ms[((8 * wg + q) * WINO_BT + wino_mma_c_col(i, e, t4)) * (WINO_BK + 1) +
                   wino_mma_c_row(warp & 3, e, g8)] = acc[q][4 * i + e];
    __syncthreads();
    float *o = a.direct ? out : out + (long long)blockIdx.z * a.k * a.c * 9;
    wino_bw_out<WINO_BK>(a, Ms, 0, k0, c0, o, t);
#else
    (void)a0, (void)x, (void)dy, (void)out;
#endif
}
#endif /* !SC_GPU_HIP */

int sc_launch_winograd_bw_wg(const sc_kp &kp, int splits, const void *x, const void *dy, void *out,
                             cudaStream_t st)
{
#if !SC_GPU_HIP && SC_WGMMA_SM90A
    if (!sc_wino_bw_wg_fits(&kp)) return (int)cudaErrorInvalidValue; /* never planned */
    const wino_bw_args w = wino_bw_args_make(kp, splits);
    dim3 grid((unsigned)((kp.k + WINO_BK - 1) / WINO_BK),
              (unsigned)((kp.c + WINO_BT - 1) / WINO_BT), (unsigned)splits);
    auto kern = kp.nhwc ? wino_bw_wg<true> : wino_bw_wg<false>;
    if (int err = kp.nhwc ? sc_smem_opt_in<wino_bw_wg<true>>(WG_SMEM, WG_SMEM)
                          : sc_smem_opt_in<wino_bw_wg<false>>(WG_SMEM, WG_SMEM))
        return err;
    kern<<<grid, WINO_T, WG_SMEM, st>>>(w, (const float *)x, (const float *)dy, (float *)out);
    return (int)cudaGetLastError();
#else
    (void)kp, (void)splits, (void)x, (void)dy, (void)out, (void)st;
    return (int)cudaErrorInvalidValue; /* not built for sm_90a: never planned */
#endif
}
