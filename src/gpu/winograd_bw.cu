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
        wino_bw_load<NH>(a, x, dy, T, T < tend, k0 + cl, c0 + cl, g, d);
    };
    /* Stage: As[16][WINO_BC][VS_LD] = V (x's patches, A rows = c), Bs[16][WINO_BC][BLD] = U
     * (dy's tiles, B columns = k). */
    auto store = [&](int buf) {
        float *As = sm + buf * BUF, *Bs = As + VS_FLOATS;
#pragma unroll
        for (int j = 0; j < NH; j++) {
            float u[16];
            wino_bw_u(g[j], u);
#pragma unroll
            for (int p = 0; p < 16; p++) Bs[(p * WINO_BC + tl) * BLD + cl + 32 * j] = u[p];
        }
        float v[16];
        wino_bw_v(d, v);
#pragma unroll
        for (int p = 0; p < 16; p++) As[(p * WINO_BC + tl) * VS_LD + cl] = v[p];
    };

    /* Output: KQ k per round through Ms[16][WINO_BT][KQ + 1] (point, c, k - rd*KQ), written by
     * xchg(Ms, rd); dw (or this slice of the workspace) in dw's layout: KRSC (NHWC) or KCRS.
     * Lanes along c. */
    auto finish = [&](auto &&xchg) {
        float *Ms = sm;
        float *o = a.direct ? out : out + (i64)blockIdx.z * a.k * a.c * 9;
#pragma unroll
        for (int rd = 0; rd < BK / KQ; rd++) {
            xchg(Ms, rd);
            __syncthreads();
            wino_bw_out<KQ>(a, Ms, rd, k0, c0, o, t);
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

/* Tiles 0-2 (this file's kernel) into out: dw (one slice) or the slices in the workspace. */
static int launch_fma(const sc_kp &kp, int tile, int splits, const void *x, const void *dy,
                      float *out, cudaStream_t st)
{
    const wino_bw_args w = wino_bw_args_make(kp, splits);
    const int bk = sc_wino_bw_bk(tile);
    dim3 grid((unsigned)((kp.k + bk - 1) / bk), (unsigned)((kp.c + WINO_BT - 1) / WINO_BT),
              (unsigned)splits);
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
    if (tile == 1) return launch(std::integral_constant<int, WINO_BW_NARROW>(), std::false_type());
#if !SC_GPU_HIP
    if (tile == 2) return launch(std::integral_constant<int, WINO_BK>(), std::true_type());
#endif
    return launch(std::integral_constant<int, WINO_BK>(), std::false_type());
}

int sc_launch_winograd_bw(const sc_kp &kp, int tile, int splits, const void *x, const void *dy,
                          void *dw, void *ws, cudaStream_t st)
{
    if (!sc_wino_applies(&kp, SC_DIR_BACKWARD_WEIGHT) || tile < 0 || tile > 4 || splits < 1 ||
        (splits > 1 && !ws))
        return (int)cudaErrorInvalidValue;
#if SC_GPU_HIP
    if (tile == 2) return (int)cudaErrorInvalidValue; /* 3xTF32: NVIDIA's tensor cores only */
#endif
    float *out = splits == 1 ? (float *)dw : (float *)ws;
    /* tiles 3 (F(3x3,4x4): winograd_bw4.cu) and 4 (wgmma in 3xTF32: winograd_bw_wg.cu) make
     * their own arguments; the same slices and sum */
    const int e = tile == 3   ? sc_launch_winograd_bw4(kp, splits, x, dy, out, st)
                  : tile == 4 ? sc_launch_winograd_bw_wg(kp, splits, x, dy, out, st)
                              : launch_fma(kp, tile, splits, x, dy, out, st);
    if (e || splits == 1) return e;
    i64 n = (i64)kp.k * kp.c * 9;
    wino_bw_sum<<<(unsigned)((n + 255) / 256), 256, 0, st>>>(splits, n, (const float *)ws,
                                                             (float *)dw);
    return (int)cudaGetLastError();
}
