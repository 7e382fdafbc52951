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
 * wgmma m64n32k8 (M = the 64 k, N = the 32 c, K = the 8 tiles) for each term of 3xTF32
 * (winograd_wg.cuh: the split, the order of the terms, the accumulator layout). Warpgroup wg
 * computes points 8wg .. 8wg+7.
 *
 * A (U, registers): a thread's fragment of a point is rows (k) 16(w % 4) + g and + 8 by columns
 * (tiles) t and t + 4, so each thread loads those four dy tiles (16 loads; the two warpgroups
 * load the same tiles) and transforms them into its warpgroup's 8 points, split: 64 registers
 * (wg_a_frags), which must stay allocated until the group that reads them is waited for
 * (wg_keep).
 *
 * B (V, shared memory, two stages; winograd_wg.cuh's layout: rows c, entries the tiles). The
 * store roles give each warp distinct (c % 8, tile) pairs: NCHW, lanes along 8
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
#include "winograd_wg.cuh"

#ifndef SC_WGMMA_SM90A
#define SC_WGMMA_SM90A 0
#endif
#ifndef SC_WINO_WG_MUTANT
#define SC_WINO_WG_MUTANT 0
#endif

#if !SC_GPU_HIP
enum {
    WG_SMEM = 2 * WG_STAGE > WG_XCHG ? 2 * WG_STAGE : WG_XCHG /* 133,120 */
};

/* Thread t's store role: tile tl of the step and channel cl (the bank note above). */
__host__ __device__ constexpr int wg_tl(int t, bool nhwc)
{
    return nhwc ? 4 * ((t >> 5) & 1) + ((t & 31) >> 3) : t & 7;
}
__host__ __device__ constexpr int wg_cl(int t, bool nhwc)
{
    return nhwc ? 8 * (t >> 6) + (t & 7) : t >> 3;
}
static_assert(WINO_BC * WG_VROWS == WINO_T && wg_layout_ok<WG_VLBO, WG_VROWS>(wg_cl, wg_tl),
              "V: one word each; store roles: every pair once, 32 banks a warp");

#if SC_WGMMA_DEVICE
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
    /* the steps of this slice on this warpgroup's 8 points (winograd_wg.cuh, wg_pipeline; the
     * order in the header) */
    const unsigned long long vd0 = wg_desc<WG_VLBO>(sbase + (unsigned)(8 * wg * WG_PT));
    const int nsteps = tend > tbeg ? (tend - tbeg + WINO_BC - 1) / WINO_BC : 0;
    wg_pipeline<SC_WINO_WG_MUTANT != 0>(
        nsteps, acc, ab, as, vd0, [&](int st, auto) { load_dy(st); }, load_x,
        [&](auto) { frags(); }, store);

    /* Exchange through Ms[16][WINO_BT][WINO_BK + 1] (point, c - c0, k - k0), over the stages
     * (every wgmma was waited for before the last barrier), then tile 0's output transform. */
    float *Ms = (float *)sm;
    wg_xchg(Ms, acc, wg, warp, lane);
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
    if (!sc_wino_wg_fits(&kp)) return (int)cudaErrorInvalidValue; /* never planned */
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
