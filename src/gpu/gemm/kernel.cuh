/* kernel.cuh - the tiled kernel of the FMA implicit GEMM and its operand-tile loaders. */
#ifndef SC_GPU_GEMM_KERNEL_CUH
#define SC_GPU_GEMM_KERNEL_CUH

#include "common.cuh"

/* ---- the tiled kernel ------------------------------------------------------------------------ */
/* Fragment row of micro-tile element i for thread coordinate ty: TM = 8 is split into two
 * groups of 4 half a tile apart (fewer bank conflicts, 16-byte shared loads). */
template <int TM, int BMx>
__device__ __forceinline__ int frag_row(int ty, int i)
{
    return TM == 8 ? (i / 4) * (BMx / 2) + ty * 4 + (i % 4) : ty * TM + i;
}

/* Tests only: -DSC_GEMM_LOADER_MUTANT=1 breaks the ragged loaders (32x144's B side): E rounded
 * up without dividing BK (the steps' last reduction indices never loaded), and the KFAST
 * loader's last, partial round of rows dropped. */
#ifndef SC_GEMM_LOADER_MUTANT
#define SC_GEMM_LOADER_MUTANT 0
#endif

/* Loader for one operand tile (ROWS x BK) with NT threads.
 * KFAST: thread t takes reduction index t % BK and rows t/BK + j*(NT/BK): one reduction decode
 * per step, row decodes hoisted out of the loop (good when the reduction is the contiguous
 * dimension). Otherwise: row t % ROWS, E consecutive reduction indices from (t/ROWS)*E:
 * one row decode in all, one decode plus E-1 cheap increments per step.
 * PTM > 0 (the A tile with lanes along M, TM = PTM): tile row r is stored at the position
 * where frag_row puts element r / (ROWS/PTM) of thread r % (ROWS/PTM), so each thread's TM
 * rows, BM/TM apart in the tile, sit together in shared memory and load as 16-byte vectors. */
template <int ROWS, bool KFAST, class G, int PTM = 0>
struct Loader {
    /* Elements per thread: ROWS * BK / NT where that is whole (every tile but 32x144). KFAST
     * rounds up (the rows past ROWS load nothing); the other way takes a divisor of BK, so a
     * thread's E reduction indices stay inside one step (144 x 8: E = 8, 144 threads). */
    static constexpr int E0 = (ROWS * BK + NT - 1) / NT;
    static constexpr int E = KFAST || SC_GEMM_LOADER_MUTANT ? E0
                             : E0 <= 1                      ? 1
                             : E0 <= 2                      ? 2
                             : E0 <= 4                      ? 4
                                                            : BK;
    static_assert(KFAST ? NT % BK == 0 : (BK % E == 0 || SC_GEMM_LOADER_MUTANT) && ROWS <= NT,
                  "loader shape");
    /* KFAST: whether the last round of rows (t / BK + j * (NT / BK)) can pass ROWS */
    static constexpr bool RAGGED = KFAST && ROWS % (NT / BK) != 0;
    /* Row descriptors are not held in registers through the mainloop (the 128x128 tiles' register
     * budget): cheap ones are recomputed per fetch; costly ones are computed once into shared
     * memory (srows, ROWS entries; a __syncthreads before the first fetch) and read per fetch. */
    static constexpr bool SROWS = !G::cheap_row;
    static constexpr int SROW_N = SROWS ? ROWS : 1; /* shared descriptors the kernel provides */
    const typename G::Row *srow;                    /* this thread's first descriptor (SROWS) */
    int row0;                                       /* this thread's first row (cheap rows) */
    int kl;   /* this thread's first reduction index within the tile */
    bool act; /* this thread loads anything (ROWS*BK may be < NT) */
    float v[E];

    __device__ void init(const G &g, int row0, typename G::Row *srows)
    {
        int t = threadIdx.x;
        if (SROWS)
            for (int r = t; r < ROWS; r += NT) srows[r] = g.row(row0 + r);
        if (KFAST) {
            kl = t % BK;
            act = true;
            this->row0 = row0 + t / BK;
            srow = srows + t / BK;
        } else {
            act = t < ROWS * (BK / E);
            kl = (t / ROWS) * E;
            this->row0 = row0 + t % ROWS;
            srow = srows + t % ROWS;
        }
    }
    /* descriptor of this thread's j-th row (KFAST) or its one row */
    __device__ typename G::Row rowd(const G &g, int j) const
    {
        if (SROWS) return srow[j * (NT / BK)];
        return g.row(row0 + j * (NT / BK));
    }
    __device__ void fetch(const G &g, int k0)
    {
        if (KFAST) {
            typename G::Kst ks = g.kdec(k0 + kl);
#pragma unroll
            for (int j = 0; j < E; j++)
                v[j] = !RAGGED || (threadIdx.x / BK + j * (NT / BK) < ROWS &&
                                   !(SC_GEMM_LOADER_MUTANT && j == E - 1))
                           ? g.load(rowd(g, j), ks)
                           : 0.f;
        } else if (act) {
            typename G::Kst ks = g.kdec(k0 + kl);
            typename G::Row o = rowd(g, 0);
#pragma unroll
            for (int j = 0; j < E; j++) {
                if (j) ks = g.knext(ks);
                v[j] = g.load(o, ks);
            }
        }
    }
    static __device__ __forceinline__ int pos(int r)
    {
        constexpr int T = ROWS / (PTM ? PTM : 1); /* threads along the tile's rows */
        return PTM ? frag_row<PTM, ROWS>(r % T, r / T) : r;
    }
    /* smem tile is [BK][ROWS + 4] */
    __device__ void store(float *s) const
    {
        int t = threadIdx.x;
        if (KFAST) {
#pragma unroll
            for (int j = 0; j < E; j++) {
                int r = t / BK + j * (NT / BK);
                if (r < ROWS) s[kl * (ROWS + 4) + pos(r)] = v[j];
            }
        } else if (act) {
            int p = pos(t % ROWS);
#pragma unroll
            for (int j = 0; j < E; j++) s[(kl + j) * (ROWS + 4) + p] = v[j];
        }
    }
};

/* LM ("lanes along M"): consecutive threads take consecutive tile rows and a thread's rows are
 * BM/TM apart, so a warp's epilogue stores hit consecutive m: coalesced for NCHW outputs (y of
 * forward, dx of backward-data, contiguous along m). The A loader stores rows permuted
 * (Loader's PTM), so the A fragments still load as vectors from frag_row positions.
 * Otherwise consecutive threads take consecutive columns (coalesced for NHWC outputs and dw). */
template <int TM, int BMx, bool LM>
__device__ __forceinline__ int frag_row_m(int ty, int i)
{
    return LM ? i * (BMx / TM) + ty : frag_row<TM, BMx>(ty, i);
}

/* MINB: blocks per SM the kernel is compiled for (registers <= 65536 / (256 x MINB));
 * sc_gemm_minb of the configuration (gemm_cfg.h). SER: the serial backward-weight epilogue is
 * compiled in (sc_gemm_serial_built; launch_cfg.cuh decides both). */
template <int BM, int BN, int TM, int TN, bool AK, bool BKF, bool LM, int MINB, bool SER, class Op>
__global__ __launch_bounds__(NT, MINB) void gemm_kernel(Op op)
{
    static_assert((BM / TM) * (BN / TN) == NT, "tile/thread mismatch");
    __shared__ __align__(16) float As[2][BK * (BM + 4)];
    __shared__ __align__(16) float Bs[2][BK * (BN + 4)];
    typedef Loader<BM, AK, typename Op::A, LM ? TM : 0> LA;
    typedef Loader<BN, BKF, typename Op::B> LB;
    __shared__ __align__(16) typename Op::A::Row arows[LA::SROW_N];
    __shared__ __align__(16) typename Op::B::Row brows[LB::SROW_N];

    typename Op::Block blk;
    if (!op.block(blockIdx.z, blk)) return;
    int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    if (m0 >= blk.a.m_count || n0 >= blk.b.n_count) return;

    LA la;
    LB lb;
    la.init(blk.a, m0, arows);
    lb.init(blk.b, n0, brows);
    if (LA::SROWS || LB::SROWS) __syncthreads(); /* descriptors visible before the first fetch */

    const int tx = LM ? threadIdx.x / (BM / TM) : threadIdx.x % (BN / TN);
    const int ty = LM ? threadIdx.x % (BM / TM) : threadIdx.x / (BN / TN);
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.f;

    int kbeg = blk.kbeg, kend = blk.kend;
    if (kbeg < kend) {
        la.fetch(blk.a, kbeg);
        lb.fetch(blk.b, kbeg);
        la.store(As[0]);
        lb.store(Bs[0]);
        __syncthreads();
        int cur = 0;
        for (int k0 = kbeg; k0 < kend; k0 += BK) {
            bool more = k0 + BK < kend;
            if (more) {
                la.fetch(blk.a, k0 + BK);
                lb.fetch(blk.b, k0 + BK);
            }
            const float *as = As[cur], *bs = Bs[cur];
#pragma unroll
            for (int kk = 0; kk < BK; kk++) {
                float af[TM], bf[TN];
#pragma unroll
                for (int i = 0; i < TM; i++) af[i] = as[kk * (BM + 4) + frag_row<TM, BM>(ty, i)];
#pragma unroll
                for (int j = 0; j < TN; j++) bf[j] = bs[kk * (BN + 4) + frag_row<TN, BN>(tx, j)];
#pragma unroll
                for (int i = 0; i < TM; i++)
#pragma unroll
                    for (int j = 0; j < TN; j++) acc[i][j] += af[i] * bf[j];
            }
            if (more) {
                la.store(As[cur ^ 1]);
                lb.store(Bs[cur ^ 1]);
            }
            __syncthreads();
            cur ^= 1;
        }
    }

    /* Serial backward-weight splits (OpBwT), where built (SER). */
    if constexpr (SER) blk.serial_wait();
#pragma unroll
    for (int i = 0; i < TM; i++) {
        int m = m0 + frag_row_m<TM, BM, LM>(ty, i);
        if (m >= blk.a.m_count) continue;
        typename Op::Block::Out o = blk.out_row(m);
#pragma unroll
        for (int j = 0; j < TN; j++) {
            int n = n0 + frag_row<TN, BN>(tx, j);
            /* serial: the row's TN earlier sums are read first, all in flight together, then
             * added (a read after each store would wait out one L2 round trip per element) */
            if constexpr (SER) {
                if (n < blk.b.n_count) acc[i][j] += blk.serial_prev(o, n);
            } else if (n < blk.b.n_count) {
                blk.store(o, n, acc[i][j]);
            }
        }
        if constexpr (SER) {
#pragma unroll
            for (int j = 0; j < TN; j++) {
                int n = n0 + frag_row<TN, BN>(tx, j);
                if (n < blk.b.n_count) blk.store(o, n, acc[i][j]);
            }
        }
    }
    if constexpr (SER) blk.serial_signal();
}

#endif /* SC_GPU_GEMM_KERNEL_CUH */
