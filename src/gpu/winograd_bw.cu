/* winograd_bw.cu - Winograd F(3x3,2x2) for the backward-weight of fp32 3x3 stride-1 layers
 * (where it applies: winograd.h). Deterministic: fixed reduction slices, each summed in a fixed
 * order, then added slice by slice in a fixed order.
 *
 *   dw[k][c][r][s] = sum over n, p, q of dy[n][k][p][q] * x[n][c][p - ph + r][q - pw + s]
 *
 * Cut dy into 2x2 tiles: a tile at (2ty, 2tx) contributes to dw[k][c] (3x3) the correlation of
 * the 4x4 patch d of x at (2ty - ph, 2tx - pw) with the tile g as a 2x2 filter, i.e. F(3,2) in
 * each dimension:   A^T [ (G g G^T) . (B^T d B) ] A,
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1]   G = [1 0; .5 .5; .5 -.5; 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1]
 * so per transformed point p a GEMM over the tiles: M[p][c][k] = sum_t V[p][t][c] U[p][t][k].
 * A block takes 32 (WINO_BT) c x BK k and one slice of the tiles, 8 (WINO_BC) tiles per step;
 * BK is the plan's tile (winograd.h): 64 (WINO_BK, the wide tile, one block an SM) or 32
 * (WINO_BW_NARROW, two blocks an SM). Each thread transforms one x patch (one c; 16 loads) and
 * BK / 32 dy tiles (4 loads each) into the shared-memory stage (winograd.cuh: As = V, Bs = U
 * with row pitch BK + 4), then the 16 GEMMs of winograd.cuh run. x takes the 32-row side
 * because its patches cost 4x a dy tile's loads (an earlier form, dy on the 32 side, loaded two
 * patches a thread). At the end M passes through shared memory, one thread applies A^T . A to
 * the 16 points of a (c, k) pair and stores the 9 weights, in dw's layout, into dw (one slice)
 * or into its slice of the workspace, which wino_bw_sum adds up.
 *
 * Error: the transforms add and halve (entries 0, +-1, +-1/2), the products of their absolute
 * values are at most 2 per dimension (docs/gpu.md, "Winograd's accuracy"). */
#include "knobs.h"
#include "launch.h"
#include "winograd.cuh"

typedef long long i64;

struct wino_bw_args {
    int n, c, h, w, k, p, q, ph, pw;
    int th, tw; /* dy's tiles per column and per row: ceil(p/2), ceil(q/2) */
    sc_fdiv dth, dtw;
    int ntiles; /* n * th * tw */
    int tps;    /* tiles per slice, a multiple of WINO_BC */
    int nhwc;
    int direct; /* one slice: write dw itself */
};

/* A stage of the tile with BK output channels: As (VS_FLOATS) and Bs[16][WINO_BC][BK + 4]. The
 * B side is filled with scalar stores, lanes along 8 tiles and 4 channels in NCHW: a row pitch
 * of BK + 4 puts them in 32 different banks. */
template <int BK>
__host__ __device__ constexpr int wino_bw_buf()
{
    return VS_FLOATS + 16 * WINO_BC * (BK + 4);
}

/* BK: the tile's output channels (WINO_BK, one block an SM; WINO_BW_NARROW, two: winograd.h).
 * MMA: the GEMM steps on the tensor cores in 3xTF32 (wino_gemm_step_tf32x3; the wide tile,
 * NVIDIA sm_80+ only: elsewhere the kernel is empty and never planned). */
template <int NBUF, int KQ, int BK, bool MMA = false>
__global__ __launch_bounds__(WINO_T,
                             BK == WINO_BK ? 1 : 2) void wino_bw_main(wino_bw_args a,
                                                                      const float *__restrict__ x,
                                                                      const float *__restrict__ dy,
                                                                      float *__restrict__ out)
{
    static_assert(BK == WINO_BK || BK == WINO_BW_NARROW, "the wide or the narrow tile");
    static_assert(!MMA || BK == WINO_BK, "3xTF32 on the wide tile only");
    constexpr int NH = BK / 32, BLD = BK + 4, BUF = wino_bw_buf<BK>();
    extern __shared__ float4 smem4[];
    float *sm = (float *)smem4;
    const int t = threadIdx.x, warp = t >> 5, lane = t & 31;
    const int k0 = blockIdx.x * BK, c0 = blockIdx.y * WINO_BT;
    const int tbeg = blockIdx.z * a.tps;
    const int tend = min(tbeg + a.tps, a.ntiles);

    /* Load roles, all on one tile tl of the step's WINO_BC: x, one patch (one c); dy, NH tiles
     * (k and k + 32 in the wide tile). NHWC: a warp on one tile, lanes along the channels
     * (128-byte runs); NCHW: lanes along 8 tiles x 4 channels. */
    const int tl = a.nhwc ? t >> 5 : t & 7, cl = a.nhwc ? t & 31 : t >> 3;
    float g[NH][4], d[16];
    auto load = [&](int step) {
        const int T = tbeg + step * WINO_BC + tl;
        int n, ty, tx;
        wino_tile(T < tend ? T : 0, a.dth, a.th, a.dtw, a.tw, n, ty, tx);
#pragma unroll
        for (int j = 0; j < NH; j++) {
            const int k = k0 + cl + 32 * j;
            const bool ok = T < tend && k < a.k;
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int p = 2 * ty + i, q = 2 * tx + e;
                    g[j][2 * i + e] =
                        ok && p < a.p && q < a.q
                            ? __ldg(dy + (a.nhwc ? (((i64)n * a.p + p) * a.q + q) * a.k + k
                                                 : (((i64)n * a.k + k) * a.p + p) * a.q + q))
                            : 0.f;
                }
        }
        const int c = c0 + cl;
        const bool ok = T < tend && c < a.c;
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
    };
    /* Stage: As[16][WINO_BC][VS_LD] = V (x's patches, A rows = c), Bs[16][WINO_BC][BLD] = U
     * (dy's tiles, B columns = k). */
    auto store = [&](int buf) {
        float *As = sm + buf * BUF, *Bs = As + VS_FLOATS;
#pragma unroll
        for (int j = 0; j < NH; j++) {
            float tg[4][2];
#pragma unroll
            for (int e = 0; e < 2; e++) { /* G g: rows of the 2x2 tile */
                tg[0][e] = g[j][e];
                tg[1][e] = (g[j][e] + g[j][2 + e]) * 0.5f;
                tg[2][e] = (g[j][e] - g[j][2 + e]) * 0.5f;
                tg[3][e] = g[j][2 + e];
            }
#pragma unroll
            for (int r = 0; r < 4; r++) { /* (G g) G^T */
                float *u = Bs + (4 * r * WINO_BC + tl) * BLD + cl + 32 * j;
                u[0] = tg[r][0];
#ifdef SC_WINO_MUTANT /* a broken variant the checks must catch (tests/gpu/run_mp.sh) */
                u[WINO_BC * BLD] = (tg[r][0] + tg[r][1]) * (0.5f + 0x1p-13f);
#else
                u[WINO_BC * BLD] = (tg[r][0] + tg[r][1]) * 0.5f;
#endif
                u[2 * WINO_BC * BLD] = (tg[r][0] - tg[r][1]) * 0.5f;
                u[3 * WINO_BC * BLD] = tg[r][1];
            }
        }
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
            float *v = As + (4 * r * WINO_BC + tl) * VS_LD + cl;
            v[0] = b[4 * r + 0] - b[4 * r + 2];
            v[WINO_BC * VS_LD] = b[4 * r + 1] + b[4 * r + 2];
            v[2 * WINO_BC * VS_LD] = b[4 * r + 2] - b[4 * r + 1];
            v[3 * WINO_BC * VS_LD] = b[4 * r + 3] - b[4 * r + 1];
        }
    };

    /* Output: KQ k per round through Ms[16][WINO_BT][KQ + 1] (point, c, k - rd*KQ), written by
     * xchg(Ms, rd); dw (or this slice of the workspace) in dw's layout: KRSC (NHWC) or KCRS.
     * Lanes along c. */
    auto finish = [&](auto &&xchg) {
        float *Ms = sm;
        constexpr int MLD = KQ + 1;
        float *o = a.direct ? out : out + (i64)blockIdx.z * a.k * a.c * 9;
#pragma unroll
        for (int rd = 0; rd < BK / KQ; rd++) {
            xchg(Ms, rd);
            __syncthreads();
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
            __syncthreads();
        }
    };

    if constexpr (MMA) {
#if !SC_GPU_HIP && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        float acc[2][2][8][4] = {}; /* point, m-tile, n-tile, mma's accumulator element */
        auto gemm = [&](int buf) {
            const float *As = sm + buf * BUF;
            wino_gemm_step_tf32x3<BLD>(acc, As, As + VS_FLOATS, warp, lane);
        };
        if (tend > tbeg)
            wino_pipeline<NBUF>((tend - tbeg + WINO_BC - 1) / WINO_BC, load, store, gemm);
        finish([&](float *Ms, int rd) { wino_xchg_store_mma<KQ>(Ms, acc, rd, warp, lane); });
#elif defined(__CUDA_ARCH__)
        __trap(); /* never planned below sm_80 (fam_winograd.c): fail loudly, not with zeros */
#endif
    } else {
        const int ty = lane >> 3, kx = lane & 7;
        float acc[2][8][4 * NH];
#pragma unroll
        for (int q = 0; q < 2; q++)
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int k = 0; k < 4 * NH; k++) acc[q][j][k] = 0.f;
        auto gemm = [&](int buf) {
            const float *As = sm + buf * BUF;
            wino_gemm_step<BLD, NH>(acc, As, As + VS_FLOATS, warp, ty, kx);
        };
        if (tend > tbeg) /* the same for the whole block: a slice with no tiles keeps acc at 0 */
            wino_pipeline<NBUF>((tend - tbeg + WINO_BC - 1) / WINO_BC, load, store, gemm);
        finish([&](float *Ms, int rd) { wino_xchg_store<KQ, NH>(Ms, acc, rd, warp, ty, kx); });
    }
}

/* dw[e] = sum over slices s, in order, of ws[s][e]. */
__global__ __launch_bounds__(256) void wino_bw_sum(int slices, i64 n, const float *__restrict__ ws,
                                                   float *__restrict__ dw)
{
    i64 e = (i64)blockIdx.x * 256 + threadIdx.x;
    if (e >= n) return;
    float v = ws[e];
    for (int s = 1; s < slices; s++) v += ws[(i64)s * n + e];
    dw[e] = v;
}

int sc_launch_winograd_bw(const sc_kp &kp, int tile, int splits, const void *x, const void *dy,
                          void *dw, void *ws, cudaStream_t st)
{
    if (!sc_wino_applies(&kp, SC_DIR_BACKWARD_WEIGHT) || tile < 0 || tile > 3 || splits < 1 ||
        (splits > 1 && !ws))
        return (int)cudaErrorInvalidValue;
#if SC_GPU_HIP
    if (tile == 2) return (int)cudaErrorInvalidValue; /* 3xTF32: NVIDIA's tensor cores only */
#endif
    wino_bw_args w;
    w.n = kp.n, w.c = kp.c, w.h = kp.h, w.w = kp.w, w.k = kp.k, w.p = kp.p, w.q = kp.q;
    w.ph = kp.ph, w.pw = kp.pw;
    w.th = (kp.p + 1) / 2, w.tw = (kp.q + 1) / 2;
    w.dth = sc_fdiv_make((uint32_t)w.th), w.dtw = sc_fdiv_make((uint32_t)w.tw);
    w.ntiles = w.n * w.th * w.tw; /* < 2^31 (sc_wino_applies) */
    w.tps = sc_wino_bw_tps_of(w.ntiles, splits, WINO_BC);
    w.nhwc = kp.nhwc;
    w.direct = splits == 1;
    const int bk = sc_wino_bw_bk(tile);
    dim3 grid((unsigned)((kp.k + bk - 1) / bk), (unsigned)((kp.c + WINO_BT - 1) / WINO_BT),
              (unsigned)splits);
    float *out = splits == 1 ? (float *)dw : (float *)ws;
    const auto launch = [&](auto bkc, auto mmac) {
        constexpr int BK = decltype(bkc)::value;
        constexpr bool MMA = decltype(mmac)::value;
        return wino_variant<wino_bw_buf<BK>()>([&](auto nb, auto kq) {
            constexpr int NB = decltype(nb)::value, KQ = decltype(kq)::value,
                          smem = wino_smem<NB, KQ, wino_bw_buf<BK>()>();
            if (int err = sc_smem_opt_in<wino_bw_main<NB, KQ, BK, MMA>>(smem, smem)) return err;
            wino_bw_main<NB, KQ, BK, MMA>
                <<<grid, WINO_T, smem, st>>>(w, (const float *)x, (const float *)dy, out);
            return (int)cudaGetLastError();
        });
    };
    int e;
    if (tile == 3) /* F(3x3,4x4): winograd_bw4.cu, the same slices and sum */
        e = sc_launch_winograd_bw4(kp, splits, x, dy, out, st);
    else if (tile == 1)
        e = launch(std::integral_constant<int, WINO_BW_NARROW>(), std::false_type());
#if !SC_GPU_HIP
    else if (tile == 2)
        e = launch(std::integral_constant<int, WINO_BK>(), std::true_type());
#endif
    else
        e = launch(std::integral_constant<int, WINO_BK>(), std::false_type());
    if (e || splits == 1) return e;
    i64 n = (i64)kp.k * kp.c * 9;
    wino_bw_sum<<<(unsigned)((n + 255) / 256), 256, 0, st>>>(splits, n, (const float *)ws,
                                                             (float *)dw);
    return (int)cudaGetLastError();
}
