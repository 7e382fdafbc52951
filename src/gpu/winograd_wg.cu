/* winograd_wg.cu - Winograd F(2x2,3x3) forward and backward-data (winograd.cu's computation)
 * with each GEMM step on Hopper's wgmma in 3xTF32: tile 4 of those directions (the plan's cfg;
 * fam_winograd.c), the default on sm_90 devices where the input and output have fewer than
 * 2^31 elements each (sc_wino_wg_fits: its 32-bit offsets). mk/gpu.mk compiles this file for
 * sm_90a, as winograd_bw_wg.cu; elsewhere the launcher returns an error and the planner never
 * picks the tile (sc_gpu_dev.wgmma).
 *
 * Why: the FMA kernel (wino_main) runs its GEMM steps as outer products on the FMA units,
 * 1,024 FMAs a warp a step beside the loads and transforms; wgmma takes them off the issue
 * slots, as it did for backward-weight (winograd_bw_wg.cu, bench/NOTES.md).
 *
 * Block: 256 threads = two warpgroups, wino_main's block and grid: WINO_BT = 32 output tiles x
 * WINO_BK = 64 output channels, over every input channel, WINO_BC = 8 a step. Per transformed
 * point p a step adds M_p[o][T] += sum over its 8 input channels i of U_p[o][i] V_p[i][T]
 * (U = G g G^T, the workspace; V = B^T d B of the input's patches): one wgmma m64n32k8 (M = the
 * 64 o, N = the 32 tiles, K = the 8 channels) for each term of 3xTF32 (winograd_wg.cuh: the
 * split, the order of the terms, the accumulator layout). Warpgroup wg computes points
 * 8wg .. 8wg+7.
 *
 * A (U, registers): the filter transform wrote U in the fragments' order (winograd.cuh,
 * wino_wg_u_index), so a thread's fragment of a point is 16 bytes. Each thread copies its own
 * 8 fragments of step st + 2 into its own words of a shared-memory U stage by cp.async during
 * step st (two stages: no register holds them in flight, and no barrier is needed, since the
 * thread that copies is the one that reads), then reads and splits them into 64 registers
 * after step st's group is waited for; they stay allocated until the group that reads them is
 * waited for (wg_keep).
 *
 * B (V, shared memory, two stages; winograd_wg.cuh's layout: rows the tiles, entries the input
 * channels). Store roles: NCHW, a warp's lanes along 8 tiles x 4 channels (tile
 * (t % 8) + 8 (t / 32 % 4), channel t / 8 % 4 + 4 (t / 128)), 8 lanes reading 8 tiles' pixels
 * 2 apart; NHWC, 4 tiles x 8 channels (tile t / 8, channel t % 8), 8 lanes reading a pixel's
 * 32 bytes. Both give each warp 32 distinct (tile % 8, channel) pairs: 32 banks.
 *
 * Step st (stage st % 2): its 24 wgmma a warpgroup are issued; step st + 1's patch (loaded a
 * step ago) is transformed, split and stored into the other stage (whose wgmma were waited for
 * before the last barrier) while the tensor cores run; step st + 2's patch loads are issued; the
 * group is waited for; step st + 1's A fragments are read from their U stage (copied a step
 * ago) and split, and step st + 2's copies issued into the stage just read; the stores are fenced
 * for the async proxy (fence.proxy.async: wgmma reads shared memory through it), and the block
 * passes a barrier. Deterministic: each accumulator sums its input channels in a fixed order,
 * each step's terms in a fixed order. The exchange (winograd_wg.cuh, wg_xchg) and the output
 * transform (winograd.cuh, wino_fwd_out, with the bias) are wino_main's, one round of 64
 * channels over the stages.
 *
 * Error: as wino_main's, with each product in 3xTF32 (winograd_bw_wg.cu's bound); the checker
 * applies the fp32 bound (docs/gpu.md).
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
    WGF_USTAGE = 16 * WINO_BC * WINO_BK * 4, /* a step's U: 32,768 bytes */
    WGF_STAGES = 2 * WG_STAGE + 2 * WGF_USTAGE,
    WGF_SMEM = WGF_STAGES > WG_XCHG ? WGF_STAGES : WG_XCHG /* 135,168 */
};
static_assert(WGF_USTAGE == WINO_T * 8 * 16, "a U stage: 8 fragments of 16 bytes a thread");

/* Thread t's store role: tile ft of the block and input channel fc of the step (the note above). */
__host__ __device__ constexpr int wgf_tile(int t, bool nhwc)
{
    return nhwc ? t >> 3 : (t & 7) + 8 * ((t >> 5) & 3);
}
__host__ __device__ constexpr int wgf_chan(int t, bool nhwc)
{
    return nhwc ? t & 7 : ((t >> 3) & 3) + 4 * (t >> 7);
}
static_assert(WINO_BC * WG_VROWS == WINO_T && wg_layout_ok<WG_VLBO, WG_VROWS>(wgf_tile, wgf_chan),
              "V: one word each; store roles: every pair once, 32 banks a warp");

template <bool NHWC>
__global__ __launch_bounds__(WINO_T, 1) void wino_wg(wino_args a0, const float *__restrict__ x,
                                                     const float *__restrict__ U,
                                                     const float *__restrict__ bias,
                                                     float *__restrict__ y)
{
#if SC_WGMMA_DEVICE
    wino_args a = a0;
    a.nhwc = NHWC; /* a compile-time layout: one address form a kernel */
    extern __shared__ float4 smem4[];
    unsigned char *sm = (unsigned char *)smem4;
    const unsigned sbase = sc_smem_u32(sm);
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31, wg = warp >> 2;
    const int tile0 = blockIdx.x * WINO_BT, o0 = blockIdx.y * WINO_BK;

    /* The patch of tile ft at input channel fc + 8 step: bit 4r + s of mask says whether its
     * element (r, s) lies inside the input; offsets in 32-bit unsigned arithmetic (wrapping
     * where the patch starts above or left of the image; only elements inside are read, whose
     * offsets are below 2^31). */
    const int ft = wgf_tile(t, NHWC), fc = wgf_chan(t, NHWC);
    unsigned mask = 0, base = 0;
    const unsigned px = NHWC ? (unsigned)a.ci : 1u;                   /* pixel -> next pixel */
    const unsigned cs = px * a.dlw, rs = (unsigned)a.wi * px * a.dlh; /* patch column, row */
    const unsigned cstep = NHWC ? 1u : (unsigned)a.hi * (unsigned)a.wi;
    {
        const int T = tile0 + ft;
        if (T < a.ntiles) {
            int n, ah, aw, ty, tx;
            wino_fwd_tile(a, T, n, ah, aw, ty, tx);
            const int h0 = 2 * ty * a.dlh + ah - a.ph, w0 = 2 * tx * a.dlw + aw - a.pw;
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int s = 0; s < 4; s++)
                    if ((unsigned)(h0 + r * a.dlh) < (unsigned)a.hi &&
                        (unsigned)(w0 + s * a.dlw) < (unsigned)a.wi)
                        mask |= 1u << (4 * r + s);
            base = NHWC ? (((unsigned)n * a.hi + h0) * a.wi + w0) * a.ci + fc
                        : (((unsigned)n * a.ci + fc) * a.hi + h0) * a.wi + w0;
        }
    }
    float d[16];
    auto load_x = [&](int step) {
        const int i0 = step * WINO_BC;
        const bool cok = i0 + fc < a.ci;
        const unsigned off = base + (unsigned)i0 * cstep;
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int s = 0; s < 4; s++)
                d[4 * r + s] = cok && (mask >> (4 * r + s) & 1)
                                   ? __ldg(x + (off + (unsigned)r * rs + (unsigned)s * cs))
                                   : 0.f;
    };
    /* the patch in d, transformed, into stage s */
    auto store = [&](auto stage) {
        constexpr int s = decltype(stage)::value;
        unsigned *S = (unsigned *)(sm + s * WG_STAGE) + wg_word<WG_VLBO>(ft, fc);
        float v[16];
        wino_fwd_v(d, v);
#pragma unroll
        for (int p = 0; p < 16; p++) wg_put(S + p * (WG_PT / 4), WG_VBYTES / 4, v[p]);
    };

    /* U: this thread's fragment of point 8wg + q at step st is the float4 at ug + q * upt +
     * st * ust (wino_wg_u_index); its U stage words: thread t's 8 x 16 bytes, q-major, so that
     * a warp's 16-byte reads are consecutive. */
    const long long nib = a.cipad / WINO_BC, nob = a.copad / WINO_BK;
    const float *ug = U + ((8 * wg * nib) * nob + blockIdx.y) * (WINO_BC * WINO_BK) + 4 * (t & 127);
    const long long upt = nib * nob * (WINO_BC * WINO_BK), ust = nob * (WINO_BC * WINO_BK);
    /* byte offset in shared memory of this thread's fragment of point 8wg + q in U stage us */
    auto uoff = [&](int us, int q) { return 2 * WG_STAGE + ((us * 8 + q) * WINO_T + t) * 16; };
    auto copy_u = [&](int step, int ustage) {
#pragma unroll
        for (int q = 0; q < 8; q++)
            sc_cp_async16(sbase + (unsigned)uoff(ustage, q), ug + q * upt + step * ust, true);
        sc_cp_async_commit();
    };
    unsigned ab[8][4], as[8][4];
    auto frags = [&](int ustage) {
        sc_cp_async_wait<0>(); /* this thread's copies of the step: the only ones in flight */
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const float4 u = *(const float4 *)(sm + uoff(ustage, q));
            wg_split(u.x, ab[q][0], as[q][0]);
            wg_split(u.y, ab[q][1], as[q][1]);
            wg_split(u.z, ab[q][2], as[q][2]);
            wg_split(u.w, ab[q][3], as[q][3]);
        }
    };
    float acc[8][16];
    /* every input channel's steps on this warpgroup's 8 points (winograd_wg.cuh, wg_pipeline;
     * the order in the header) */
    const unsigned long long vd0 = wg_desc<WG_VLBO>(sbase + (unsigned)(8 * wg * WG_PT));
    wg_pipeline<SC_WINO_WG_MUTANT != 0>(
        (a.ci + WINO_BC - 1) / WINO_BC, acc, ab, as, vd0,
        [&](int st, auto ustage) { copy_u(st, decltype(ustage)::value); }, load_x,
        [&](auto ustage) { frags(decltype(ustage)::value); }, store);

    /* Exchange through Ms[16][WINO_BT][WINO_BK + 1] (point, tile - tile0, o - o0), over the
     * stages (every wgmma and copy was waited for before the last barrier), then wino_main's
     * output transform. */
    float *Ms = (float *)sm;
    wg_xchg(Ms, acc, wg, warp, lane);
    __syncthreads();
    wino_fwd_out<WINO_BK>(a, Ms, 0, tile0, o0, bias, y, t);
#else
    (void)a0, (void)x, (void)U, (void)bias, (void)y;
#endif
}
#endif /* !SC_GPU_HIP */

#if !SC_GPU_HIP
int sc_launch_winograd_wg(const wino_args &w, const float *x, const float *U, const float *bias,
                          float *y, cudaStream_t st)
{
#if SC_WGMMA_SM90A
    dim3 grid((unsigned)((w.ntiles + WINO_BT - 1) / WINO_BT), (unsigned)(w.copad / WINO_BK));
    auto kern = w.nhwc ? wino_wg<true> : wino_wg<false>;
    if (int err = w.nhwc ? sc_smem_opt_in<wino_wg<true>>(WGF_SMEM, WGF_SMEM)
                         : sc_smem_opt_in<wino_wg<false>>(WGF_SMEM, WGF_SMEM))
        return err;
    kern<<<grid, WINO_T, WGF_SMEM, st>>>(w, x, U, bias, y);
    return (int)cudaGetLastError();
#else
    (void)w, (void)x, (void)U, (void)bias, (void)y, (void)st;
    return (int)cudaErrorInvalidValue; /* not built for sm_90a: never planned */
#endif
}
#endif
