/* winograd.cu - Winograd F(2x2,3x3) for fp32 3x3 stride-1 layers, forward and backward-data
 * (where it applies, and the computed convolution in -> out: winograd.h). Deterministic: each
 * output is computed by one thread, summing the input channels in a fixed order. Dilated layers
 * run as one such convolution per dilation phase (winograd.cuh, wino_args).
 *
 * Per 2x2 output tile and output channel o (Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks"):   Y = A^T [ sum_i (G g_oi G^T) . (B^T d_i B) ] A
 * with d_i the 4x4 input patch of channel i, g_oi the 3x3 filter, "." element-wise:
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * So the sum over i is 16 independent GEMMs (one per point p of the 4x4 transformed tile):
 *   M[p][tile][o] = sum_i V[p][i][tile] * U[p][i][o].
 *
 * Two launches:
 *   wino_filter  U[p][i][o] = (G g_oi G^T)[p] into the workspace ([16][CIpad][COpad], zeros in
 *                the padding, so the main loop needs no bounds on i or o);
 *   wino_main    a block takes WINO_BT tiles x WINO_BK output channels. Per step of WINO_BC
 *                input channels each thread loads one 4x4 patch (one tile, one channel),
 *                transforms it in registers and stores V to shared memory as
 *                Vs[p][i][tile] (row pitch VS_LD), while U's slice is copied to Us[p][i][o];
 *                warp w then runs the GEMMs of points 2w and 2w+1, each lane an 8-tile x
 *                8-channel outer product per input channel (acc: 2 x 8 x 8 floats). With two
 *                stages (NBUF = 2) the next step's global loads are in flight in registers
 *                during the GEMMs; with one, they follow them (AMD's compiler spilled the
 *                prefetch registers beside the 128 accumulators). At the end M passes through shared
 *                memory (Ms[p][tile][o], KQ output channels per round) so one thread holds all
 *                16 points of a (tile, channel) and applies A^T . A, the bias, and the store.
 *
 * Error: the input and output transforms add or subtract (each V and Y element a sum of at
 * most 4 terms, with coefficients +-1), the filter transform multiplies by 1/2 (exact); so
 * each product sums 9-16 terms of the direct sum's size, in fp32; docs/gpu.md states the bound
 * the checker applies. */
#include "knobs.h"
#include "launch.h"
#include "winograd.cuh"

typedef long long i64;

/* The kernel's two variants (stages NBUF, channels per exchange round KQ): wino_variant in
 * winograd.cuh. */

/* ---- filter transform: one thread per (i, o) of U, 16 outputs each -------------------------- */
/* FRAG: U in the wgmma kernel's fragment order (winograd.cuh, wino_wg_u_index), else
 * U[16][cipad][copad]. */
template <bool FRAG>
__global__ __launch_bounds__(256) void wino_filter(int ci, int co, int cipad, int copad, int bd,
                                                   int nhwc, int wc, const float *__restrict__ w,
                                                   float *__restrict__ U)
{
    int idx = blockIdx.x * 256 + threadIdx.x;
    if (idx >= cipad * copad) return;
    int i = idx / copad, o = idx - i * copad;
    float g[3][3];
    bool ok = i < ci && o < co;
    /* forward: filter (k = o, c = i) as is; backward-data: (k = i, c = o) turned 180 degrees.
     * wc: the channel count of the weight tensor (C), for its layout. */
    int k = bd ? i : o, c = bd ? o : i;
#pragma unroll
    for (int r = 0; r < 3; r++)
#pragma unroll
        for (int s = 0; s < 3; s++) {
            int rr = bd ? 2 - r : r, ss = bd ? 2 - s : s;
            g[r][s] = ok ? (nhwc ? __ldg(w + (((i64)k * 3 + rr) * 3 + ss) * wc + c)
                                 : __ldg(w + (((i64)k * wc + c) * 3 + rr) * 3 + ss))
                         : 0.f;
        }
    float t[4][3]; /* G g */
#pragma unroll
    for (int s = 0; s < 3; s++) {
        t[0][s] = g[0][s];
#ifdef SC_WINO_MUTANT /* a broken variant the checks must catch (tests/gpu/run_mp.sh) */
        t[1][s] = (g[0][s] + g[1][s] + g[2][s]) * (0.5f + 0x1p-13f);
#else
        t[1][s] = (g[0][s] + g[1][s] + g[2][s]) * 0.5f;
#endif
        t[2][s] = (g[0][s] - g[1][s] + g[2][s]) * 0.5f;
        t[3][s] = g[2][s];
    }
    i64 pitch = (i64)cipad * copad;
    float *u = U + (i64)i * copad + o;
    auto put = [&](int p, float v) {
        if constexpr (FRAG)
            U[wino_wg_u_index(p, i, o, cipad, copad)] = v;
        else
            u[p * pitch] = v;
    };
#pragma unroll
    for (int r = 0; r < 4; r++) { /* (G g) G^T */
        put(r * 4 + 0, t[r][0]);
        put(r * 4 + 1, (t[r][0] + t[r][1] + t[r][2]) * 0.5f);
        put(r * 4 + 2, (t[r][0] - t[r][1] + t[r][2]) * 0.5f);
        put(r * 4 + 3, t[r][2]);
    }
}

/* ---- the main kernel -------------------------------------------------------------------- */
template <int NBUF, int KQ>
__global__ __launch_bounds__(WINO_T, 1) void wino_main(wino_args a, const float *__restrict__ x,
                                                       const float *__restrict__ U,
                                                       const float *__restrict__ bias,
                                                       float *__restrict__ y)
{
    extern __shared__ float4 smem4[];
    float *sm = (float *)smem4;
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31;
    const int tile0 = blockIdx.x * WINO_BT, o0 = blockIdx.y * WINO_BK;

    /* Load role: one tile and one channel of the step. NHWC: 8 neighbouring lanes read 8
     * consecutive channels of a pixel; NCHW: 32 lanes read 32 tiles of one channel. */
    const int lt = a.nhwc ? t >> 3 : t & 31, lc = a.nhwc ? t & 7 : t >> 5;
    unsigned mask = 0; /* bit 4*r + s: patch element (r, s) lies inside the input */
    i64 base = 0;      /* element offset of patch (0, 0) in channel lc */
    /* patch element (r, s) -> (r + 1, s) and (r, s + 1): rs and cs elements (the dilation's
     * rows and columns apart) */
    const i64 px = a.nhwc ? a.ci : 1, cs = px * a.dlw, rs = (i64)a.wi * px * a.dlh;
    const i64 cstep = a.nhwc ? 1 : (i64)a.hi * a.wi; /* channel i -> i + 1 */
    {
        int T = tile0 + lt;
        if (T < a.ntiles) {
            int n, ah, aw, ty, tx;
            wino_fwd_tile(a, T, n, ah, aw, ty, tx);
            int h0 = 2 * ty * a.dlh + ah - a.ph, w0 = 2 * tx * a.dlw + aw - a.pw;
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int s = 0; s < 4; s++)
                    if ((unsigned)(h0 + r * a.dlh) < (unsigned)a.hi &&
                        (unsigned)(w0 + s * a.dlw) < (unsigned)a.wi)
                        mask |= 1u << (4 * r + s);
            base = a.nhwc ? (((i64)n * a.hi + h0) * a.wi + w0) * a.ci + lc
                          : (((i64)n * a.ci + lc) * a.hi + h0) * a.wi + w0;
        }
    }
    float d[16];
    float4 f[F4_PER_THREAD];
    auto load = [&](int step) {
        const int i0 = step * WINO_BC;
        const bool cok = i0 + lc < a.ci;
        const i64 off = base + (i64)i0 * cstep;
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int s = 0; s < 4; s++)
                d[4 * r + s] =
                    cok && (mask >> (4 * r + s) & 1) ? __ldg(x + off + r * rs + s * cs) : 0.f;
#pragma unroll
        for (int j = 0; j < F4_PER_THREAD; j++) {
            int e = t + WINO_T * j, p = e >> 7, il = (e >> 4) & 7, o4 = e & 15;
            f[j] =
                __ldg((const float4 *)(U + ((i64)p * a.cipad + i0 + il) * a.copad + o0 + 4 * o4));
        }
    };
    auto store = [&](int buf) {
        float *Vs = sm + buf * BUF_FLOATS, *Us = Vs + VS_FLOATS;
        float v[16];
        wino_fwd_v(d, v);
#pragma unroll
        for (int p = 0; p < 16; p++) Vs[(p * WINO_BC + lc) * VS_LD + lt] = v[p];
#pragma unroll
        for (int j = 0; j < F4_PER_THREAD; j++) {
            int e = t + WINO_T * j, p = e >> 7, il = (e >> 4) & 7, o4 = e & 15;
            *(float4 *)(Us + (p * WINO_BC + il) * WINO_BK + 4 * o4) = f[j];
        }
    };

    /* GEMM role: warp w has points 2w and 2w+1; lane (ty, kx) tiles 8ty..8ty+7 and output
     * channels 4kx..4kx+3 and 32+4kx..32+4kx+3 (a quarter-warp reads 8 consecutive float4 of
     * Us and one broadcast float4 of Vs). */
    const int ty = lane >> 3, kx = lane & 7;
    float acc[2][8][8];
#pragma unroll
    for (int q = 0; q < 2; q++)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int k = 0; k < 8; k++) acc[q][j][k] = 0.f;
    auto gemm = [&](int buf) {
        const float *Vs = sm + buf * BUF_FLOATS;
        wino_gemm_step(acc, Vs, Vs + VS_FLOATS, warp, ty, kx);
    };

    wino_pipeline<NBUF>((a.ci + WINO_BC - 1) / WINO_BC, load, store, gemm);

    /* Output: KQ channels per round through Ms[16][WINO_BT][KQ + 1] (the shared memory of the
     * stages, free after the last barrier above). */
    float *Ms = sm;
#pragma unroll
    for (int rd = 0; rd < WINO_BK / KQ; rd++) {
        wino_xchg_store<KQ>(Ms, acc, rd, warp, ty, kx);
        __syncthreads();
        wino_fwd_out<KQ>(a, Ms, rd, tile0, o0, bias, y, t);
        __syncthreads();
    }
}

/* ---- launcher ---------------------------------------------------------------------------- */
#if !SC_GPU_HIP
/* The shared memory a block of the current device may opt in to (cached per device). */
int sc_wino_optin_bytes()
{
    static int cache[64]; /* racing writers store the same value */
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return 0;
    if (dev >= 0 && dev < 64 && cache[dev]) return cache[dev];
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    if (dev >= 0 && dev < 64) cache[dev] = v;
    return v;
}
#endif

int sc_launch_winograd(const sc_kp &kp, sc_direction dir, int tile, const void *a, const void *b,
                       const void *c, void *out, void *ws, cudaStream_t st)
{
    if (tile != -1 && tile != 4) return (int)cudaErrorInvalidValue;
    if (!sc_wino_applies(&kp, dir) || !ws) return (int)cudaErrorInvalidValue;
    const bool bd = dir == SC_DIR_BACKWARD_DATA;
    wino_args w;
    w.n = kp.n;
    w.ci = sc_wino_ci(&kp, dir), w.co = sc_wino_co(&kp, dir);
    w.hi = bd ? kp.p : kp.h, w.wi = bd ? kp.q : kp.w;
    w.ho = bd ? kp.h : kp.p, w.wo = bd ? kp.w : kp.q;
    w.dlh = kp.dh, w.dlw = kp.dw;
    w.ph = bd ? 2 * kp.dh - kp.ph : kp.ph, w.pw = bd ? 2 * kp.dw - kp.pw : kp.pw;
    w.cipad = (w.ci + WINO_BC - 1) / WINO_BC * WINO_BC;
    w.copad = (w.co + WINO_BK - 1) / WINO_BK * WINO_BK;
    w.th = (int)sc_wino_phase_tiles(w.ho, w.dlh), w.tw = (int)sc_wino_phase_tiles(w.wo, w.dlw);
    w.dth = sc_fdiv_make((uint32_t)w.th), w.dtw = sc_fdiv_make((uint32_t)w.tw);
    w.ntiles = (int)sc_wino_tiles(&kp, dir); /* n dlh dlw th tw < 2^31 (sc_wino_applies) */
    w.nhwc = kp.nhwc;
    float *U = (float *)ws;
    unsigned fblocks = (unsigned)(((i64)w.cipad * w.copad + 255) / 256);
    const float *bias = bd ? nullptr : (const float *)c;
    if (tile == 4) { /* winograd_wg.cu */
#if SC_GPU_HIP
        return (int)cudaErrorInvalidValue; /* NVIDIA only: never planned */
#else
        if (!sc_wino_wg_fits(&kp)) return (int)cudaErrorInvalidValue; /* never planned */
        wino_filter<true><<<fblocks, 256, 0, st>>>(w.ci, w.co, w.cipad, w.copad, bd, kp.nhwc, kp.c,
                                                   (const float *)b, U);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return (int)e;
        return sc_launch_winograd_wg(w, (const float *)a, U, bias, (float *)out, st);
#endif
    }
    wino_filter<false><<<fblocks, 256, 0, st>>>(w.ci, w.co, w.cipad, w.copad, bd, kp.nhwc, kp.c,
                                                (const float *)b, U);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return (int)e;
    dim3 grid((unsigned)((w.ntiles + WINO_BT - 1) / WINO_BT), (unsigned)(w.copad / WINO_BK));
    return wino_variant([&](auto nb, auto kq) {
        constexpr int NB = decltype(nb)::value, KQ = decltype(kq)::value,
                      smem = wino_smem<NB, KQ>();
        if (int err = sc_smem_opt_in<wino_main<NB, KQ>>(smem, smem)) return err;
        wino_main<NB, KQ><<<grid, WINO_T, smem, st>>>(w, (const float *)a, U, bias, (float *)out);
        return (int)cudaGetLastError();
    });
}
