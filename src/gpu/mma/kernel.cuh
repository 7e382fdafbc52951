/* kernel.cuh - the matrix-unit implicit GEMM's kernel: C[M][N] = sum_k A[m][k] B[k][n] per block
 * tile BM x BN (mma_cfg.h), 8 warps as 2 x 4, a STAGES-deep ring of shared-memory tiles filled
 * by cp.async 16-byte chunks (zero-filled outside the tensors), fragments by ldmatrix (fp16,
 * bf16) or 32-bit loads converted to TF32 (fp32), mma.sync with fp32 accumulators.
 *
 * The operation Op (op_fwd.cuh, op_bd.cuh, op_bw.cuh) says where each chunk comes from and where
 * each result goes; the kernel knows only the tile layouts:
 *   K-major (A_KMAJOR / B_KMAJOR): tile[row][k], rows of KB elements (64 or 128 bytes) plus a 16-byte
 *            pad, chunks along k: the operand is contiguous along the reduction (NHWC x, dy, w);
 *   row-major: tile[k][row], KB rows of BM (or BN) elements plus 8 of pad, chunks along the rows:
 *            the operand is contiguous along M or N (backward-data's w, backward-weight's dy
 *            and x). ldmatrix.trans (or transposed 32-bit loads) turns them into fragments.
 * With those pads the 8 rows an ldmatrix reads, and the 32 lanes of a TF32 fragment load,
 * fall in distinct banks. */
#ifndef SC_GPU_MMA_KERNEL_CUH
#define SC_GPU_MMA_KERNEL_CUH

#include "../dtype.cuh"
#include "../mma_cfg.h"
#include "ptx.cuh"

/* SC_MMA_MUTANT (tests only: tests/gpu/run_mp.sh "mutant_build mutants"): a deliberately wrong
 * kernel the checks must fail. fp16/bf16 drop the first k-step of the last stage; TF32 truncates
 * its operands instead of rounding them (2^-11 relative per operand, the checker's bound is
 * tighter). */
#ifndef SC_MMA_MUTANT
#define SC_MMA_MUTANT 0
#endif

/* The mma instruction of an element type: m16n8k16 fp16 / bf16, m16n8k8 TF32 (fp32 storage). */
__device__ __forceinline__ void sc_mma(sc_half, float *d, const unsigned *a, const unsigned *b)
{
    sc_mma_f16(d, a, b);
}
__device__ __forceinline__ void sc_mma(sc_bf16, float *d, const unsigned *a, const unsigned *b)
{
    sc_mma_bf16(d, a, b);
}
__device__ __forceinline__ void sc_mma(float, float *d, const unsigned *a, const unsigned *b)
{
    sc_mma_tf32(d, a, b);
}

/* The epilogue's write-out, shared by every matrix-unit kernel (256 threads): the fp32 tile
 * Cs [BM][C_LD] in shared memory, complete, to the output rows m0.., columns n0..; each thread
 * takes runs of 8 columns of one row (16 bytes of 16-bit output), or of 4 where the operation
 * has store4 (Op::STORE4: forward's fp32 outputs), so that a warp's store instruction writes
 * one contiguous run of 512 bytes (NHWC rows are contiguous in every direction); fp32 runs of
 * 8, 32 bytes a thread in two 16-byte stores, would leave every other 16 bytes of the run to a
 * second instruction. */
template <int BM, int BN, int C_LD, class Op>
__device__ __forceinline__ void sc_mma_tile_out(const Op &op, const typename Op::Block &blk,
                                                const float *Cs, int m0, int n0, int tid)
{
    if constexpr (Op::STORE4) {
#pragma unroll 4
        for (int id = tid; id < BM * BN / 4; id += 256) {
            int r = id / (BN / 4), c = (id % (BN / 4)) * 4;
            float4 v0 = *(const float4 *)&Cs[r * C_LD + c];
            float v[4] = {v0.x, v0.y, v0.z, v0.w};
            op.store4(blk, m0 + r, n0 + c, v);
        }
    } else {
#pragma unroll 2
        for (int id = tid; id < BM * BN / 8; id += 256) {
            int r = id / (BN / 8), c = (id % (BN / 8)) * 8;
            float4 v0 = *(const float4 *)&Cs[r * C_LD + c];
            float4 v1 = *(const float4 *)&Cs[r * C_LD + c + 4];
            float v[8] = {v0.x, v0.y, v0.z, v0.w, v1.x, v1.y, v1.z, v1.w};
            op.store8(blk, m0 + r, n0 + c, v);
        }
    }
}

/* The A iterator of an operation (here and in wgmma.cuh): its rows (ARow) and one shared filter
 * tap (ATap) where it walks the tap (Op::A_TAP, op_fwd.cuh), its AIter otherwise (the tap then an
 * empty placeholder). */
template <class Op, bool TAP>
struct MmaAIters {
    typedef typename Op::AIter Row;
    struct Tap {
    };
};
template <class Op>
struct MmaAIters<Op, true> {
    typedef typename Op::ARow Row;
    typedef typename Op::ATap Tap;
};

template <int CFG, class Op>
__global__ __launch_bounds__(256, sc_mma_minb(CFG)) void mma_kernel(Op op)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    typedef typename Op::Elem E;
    constexpr int BM = sc_mma_bm(CFG), BN = sc_mma_bn(CFG), STAGES = sc_mma_stages(CFG);
    constexpr int ES = sizeof(E), V = 16 / ES, KB = sc_mma_kb(CFG, ES);
    constexpr bool AK = Op::A_KMAJOR, BKM = Op::B_KMAJOR;
    constexpr int A_LD = AK ? KB + V : BM + 8; /* elements per shared-memory row */
    constexpr int B_LD = BKM ? KB + V : BN + 8;
    constexpr int A_TILE = AK ? BM * A_LD : KB * A_LD;
    constexpr int B_TILE = BKM ? BN * B_LD : KB * B_LD;
    constexpr int A_PT = (AK ? BM * (KB / V) : KB * (BM / V)) / 256; /* chunks per thread */
    constexpr int B_PT = (BKM ? BN * (KB / V) : KB * (BN / V)) / 256;
    static_assert(A_PT >= 1 && B_PT >= 1, "tile too small for 256 threads");
    static_assert(STAGES * (A_TILE + B_TILE) * ES == sc_mma_smem_bytes(CFG, AK, BKM, ES),
                  "shared memory size out of step with mma_cfg.h");
    constexpr int WTM = BM / 2, WTN = BN / 4, MTL = WTM / 16, NTL = WTN / 8;
    static_assert(NTL % 2 == 0, "B fragments load two n-tiles at a time");

    extern __shared__ __align__(16) unsigned char sc_mma_smem[];
    E *As = (E *)sc_mma_smem;
    E *Bs = As + STAGES * A_TILE;

    typename Op::Block blk;
    if (!op.block(blockIdx.z, blk)) return;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    if (m0 >= blk.M || n0 >= blk.N) return;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3;

    /* This thread's chunks: fixed rows (K-major) or fixed columns (row-major) for the whole
     * reduction; the operation keeps what it can precompute of them in its iterators. Stages are
     * loaded in k order, once each, so an operation may also walk the reduction:
     *   A_TAP (K-major A): every A chunk of this thread is chunk column a_kc of its row (256 is
     *     a multiple of the chunks per row), so all sit at one reduction index, whose filter tap
     *     is kept once and stepped a stage at a time (op_fwd.cuh, ATap);
     *   B_WALK: each B iterator keeps its chunk's place in the reduction and b_next steps it
     *     (op_bw.cuh). */
    constexpr bool ATAP = Op::A_TAP;
    static_assert(!ATAP || (AK && 256 % (KB / V) == 0), "A's tap walk: one chunk column a thread");
    typename MmaAIters<Op, ATAP>::Row ai[A_PT];
    typename MmaAIters<Op, ATAP>::Tap tap;
    const int a_kc = tid % (KB / V);
    typename Op::BIter bi[B_PT];
    int a_dst[A_PT], b_dst[B_PT];
#pragma unroll
    for (int j = 0; j < A_PT; j++) {
        int id = tid + j * 256;
        if (AK) {
            int row = id / (KB / V), kc = id % (KB / V);
            if constexpr (ATAP)
                op.a_row_init(blk, ai[j], m0 + row);
            else
                op.a_init(blk, ai[j], m0 + row, kc);
            a_dst[j] = row * A_LD + kc * V;
        } else {
            int kk = id / (BM / V), rc = id % (BM / V);
            if constexpr (!ATAP) op.a_init(blk, ai[j], m0 + rc * V, kk);
            a_dst[j] = kk * A_LD + rc * V;
        }
    }
    if constexpr (ATAP) op.a_tap_init(blk.kbeg + a_kc * V, tap);
#pragma unroll
    for (int j = 0; j < B_PT; j++) {
        int id = tid + j * 256;
        if (BKM) {
            int row = id / (KB / V), kc = id % (KB / V);
            op.b_init(blk, bi[j], n0 + row, kc);
            b_dst[j] = row * B_LD + kc * V;
        } else {
            int kk = id / (BN / V), rc = id % (BN / V);
            op.b_init(blk, bi[j], n0 + rc * V, kk);
            b_dst[j] = kk * B_LD + rc * V;
        }
    }
    const unsigned as0 = sc_smem_u32(As), bs0 = sc_smem_u32(Bs);
    /* A chunk: one cp.async of 16 bytes; or, for an operand with channels padded to the chunk
     * (Op::A_PAD / B_PAD: C/groups not a multiple of it, the tensor's rows not 16-byte aligned),
     * the chunk's elements lo .. hi-1 loaded one by one (src points at element lo) and the rest
     * zeros, stored as one 16 bytes. */
    auto put_chunk = [&](E *dst, const E *src, int lo, int hi) {
        E v[V];
#pragma unroll
        for (int e = 0; e < V; e++) v[e] = e >= lo && e < hi ? src[e - lo] : E();
        *(uint4 *)dst = *(const uint4 *)v;
    };
    auto load_stage = [&](int stage, int k0) {
#pragma unroll
        for (int j = 0; j < A_PT; j++) {
            if constexpr (ATAP) {
                bool v;
                const E *src = op.a_src_tap(ai[j], tap, k0 + a_kc * V < blk.kend, v);
                sc_cp_async16(as0 + (unsigned)((stage * A_TILE + a_dst[j]) * ES), src, v);
            } else if constexpr (Op::A_PAD) {
                int lo, hi;
                const E *src = op.a_src(blk, ai[j], k0, lo, hi);
                put_chunk(As + stage * A_TILE + a_dst[j], src, lo, hi);
            } else {
                bool v;
                const E *src = op.a_src(blk, ai[j], k0, v);
                sc_cp_async16(as0 + (unsigned)((stage * A_TILE + a_dst[j]) * ES), src, v);
            }
        }
        if constexpr (ATAP) op.a_tap_step(tap, KB);
#pragma unroll
        for (int j = 0; j < B_PT; j++) {
            if constexpr (Op::B_PAD) {
                int lo, hi;
                const E *src;
                if constexpr (Op::B_WALK)
                    src = op.b_next(blk, bi[j], lo, hi);
                else
                    src = op.b_src(blk, bi[j], k0, lo, hi);
                put_chunk(Bs + stage * B_TILE + b_dst[j], src, lo, hi);
            } else {
                bool v;
                const E *src;
                if constexpr (Op::B_WALK)
                    src = op.b_next(blk, bi[j], v);
                else
                    src = op.b_src(blk, bi[j], k0, v);
                sc_cp_async16(bs0 + (unsigned)((stage * B_TILE + b_dst[j]) * ES), src, v);
            }
        }
    };

    float acc[MTL][NTL][4];
#pragma unroll
    for (int i = 0; i < MTL; i++)
#pragma unroll
        for (int j = 0; j < NTL; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

    const int kbeg = blk.kbeg, kend = blk.kend;
    const int nk = kend > kbeg ? (kend - kbeg + KB - 1) / KB : 0;
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < nk) load_stage(s, kbeg + s * KB);
        sc_cp_async_commit();
    }
    const int g = lane >> 2, t = lane & 3;
    /* fp16/bf16: one k-step's fragments (16 of the reduction, from element ks of the stage) of
     * stage slot st: A by ldmatrix (K-major; .trans for row-major tiles), B likewise two
     * n-tiles at a time. TF32's are loaded inline in the main loop below. */
    auto frags = [&](unsigned(&af)[MTL][4], unsigned(&bf)[NTL][2], int st, int ks) {
        if constexpr (ES == 2) {
            const unsigned as = as0 + (unsigned)(st * A_TILE * 2),
                           bs = bs0 + (unsigned)(st * B_TILE * 2);
#pragma unroll
            for (int mt = 0; mt < MTL; mt++) {
                int rb = wm * WTM + mt * 16;
                if (AK)
                    sc_ldmatrix_x4(
                        af[mt],
                        as + (unsigned)(((rb + (lane & 15)) * A_LD + ks + (lane >> 4) * 8) * 2));
                else
                    sc_ldmatrix_x4_trans(
                        af[mt], as + (unsigned)(((ks + (lane & 7) + (lane >> 4) * 8) * A_LD + rb +
                                                 ((lane >> 3) & 1) * 8) *
                                                2));
            }
#pragma unroll
            for (int nt = 0; nt < NTL; nt += 2) {
                int cb = wn * WTN + nt * 8;
                unsigned r[4];
                if (BKM)
                    sc_ldmatrix_x4(r, bs + (unsigned)(((cb + (lane & 7) + (lane >> 4) * 8) * B_LD +
                                                       ks + ((lane >> 3) & 1) * 8) *
                                                      2));
                else
                    sc_ldmatrix_x4_trans(
                        r, bs + (unsigned)(((ks + (lane & 7) + ((lane >> 3) & 1) * 8) * B_LD + cb +
                                            (lane >> 4) * 8) *
                                           2));
                bf[nt][0] = r[0], bf[nt][1] = r[1], bf[nt + 1][0] = r[2], bf[nt + 1][1] = r[3];
            }
        }
    };
    auto mmas = [&](const unsigned(&af)[MTL][4], const unsigned(&bf)[NTL][2]) {
#pragma unroll
        for (int mt = 0; mt < MTL; mt++)
#pragma unroll
            for (int nt = 0; nt < NTL; nt++) sc_mma(E(), acc[mt][nt], af[mt], bf[nt]);
    };
    constexpr int KSTEP = ES == 2 ? 16 : 8, NKS = KB / KSTEP; /* k-steps per stage */
    /* The fp16/bf16 mutant drops the first k-step of the last stage (TF32's truncates: below). */
    auto mutant_skip = [&](int kt, int ks) {
        return ES == 2 && SC_MMA_MUTANT && kt == nk - 1 && !ks;
    };
    /* Two sets of fragments where one block runs per SM, for fp16/bf16 forward and
     * backward-data only: there they were measured faster, while TF32 (its fragments are
     * converted on load, more registers live) and backward-weight ran slower with them
     * (bench/NOTES.md, run 14). */
    constexpr bool XSTAGE = sc_mma_minb(CFG) == 1 && ES == 2 && Op::DIR != SC_DIR_BACKWARD_WEIGHT;
    if constexpr (!XSTAGE) {
        /* One set of fragments per k-step. */
        for (int kt = 0; kt < nk; kt++) {
            sc_cp_async_wait<STAGES - 2>(); /* stage kt has landed (this thread's copies) */
            __syncthreads();                /* ... everyone's; and stage kt-1 is free again */
            int nx = kt + STAGES - 1;
            if (nx < nk) load_stage(nx % STAGES, kbeg + nx * KB);
            sc_cp_async_commit();
            const int st = kt % STAGES;
            if constexpr (ES == 2) {
#pragma unroll
                for (int ks = 0; ks < NKS; ks++) {
                    unsigned af[MTL][4], bf[NTL][2];
                    frags(af, bf, st, ks * KSTEP);
                    if (!mutant_skip(kt, ks)) mmas(af, bf);
                }
            } else {
                const float *as = (const float *)(As + st * A_TILE);
                const float *bs = (const float *)(Bs + st * B_TILE);
#pragma unroll
                for (int ks = 0; ks < KB; ks += 8) {
                    unsigned af[MTL][4], bf[NTL][2];
#if SC_MMA_MUTANT
#define sc_tf32(f) (__float_as_uint(f) & 0xffffe000u)
#endif
                    /* K-major tiles: ldmatrix on 32-bit elements (each 8x8 matrix of 16-bit
                     * halves is 8 rows of 4 floats; a lane receives the float at row g, column
                     * t: exactly the TF32 fragment element); row-major tiles: 32-bit loads. */
                    const unsigned as_u = as0 + (unsigned)(st * A_TILE * 4);
                    const unsigned bs_u = bs0 + (unsigned)(st * B_TILE * 4);
#pragma unroll
                    for (int mt = 0; mt < MTL; mt++) {
                        int rb = wm * WTM + mt * 16;
                        if (AK) {
                            unsigned r[4];
                            sc_ldmatrix_x4(r, as_u + (unsigned)(((rb + (lane & 15)) * A_LD + ks +
                                                                 (lane >> 4) * 4) *
                                                                4));
#pragma unroll
                            for (int e = 0; e < 4; e++) af[mt][e] = sc_tf32(__uint_as_float(r[e]));
                        } else {
#define SC_A(r, k) as[(ks + (k)) * A_LD + rb + (r)]
                            af[mt][0] = sc_tf32(SC_A(g, t));
                            af[mt][1] = sc_tf32(SC_A(g + 8, t));
                            af[mt][2] = sc_tf32(SC_A(g, t + 4));
                            af[mt][3] = sc_tf32(SC_A(g + 8, t + 4));
#undef SC_A
                        }
                    }
#pragma unroll
                    for (int nt = 0; nt < NTL; nt += 2) {
                        int cb = wn * WTN + nt * 8;
                        if (BKM) {
                            unsigned r[4];
                            sc_ldmatrix_x4(
                                r, bs_u + (unsigned)(((cb + (lane & 7) + (lane >> 4) * 8) * B_LD +
                                                      ks + ((lane >> 3) & 1) * 4) *
                                                     4));
                            bf[nt][0] = sc_tf32(__uint_as_float(r[0]));
                            bf[nt][1] = sc_tf32(__uint_as_float(r[1]));
                            bf[nt + 1][0] = sc_tf32(__uint_as_float(r[2]));
                            bf[nt + 1][1] = sc_tf32(__uint_as_float(r[3]));
                        } else {
#pragma unroll
                            for (int h = 0; h < 2; h++) {
#define SC_B(k, n) bs[(ks + (k)) * B_LD + cb + h * 8 + (n)]
                                bf[nt + h][0] = sc_tf32(SC_B(t, g));
                                bf[nt + h][1] = sc_tf32(SC_B(t + 4, g));
#undef SC_B
                            }
                        }
                    }
#pragma unroll
                    for (int mt = 0; mt < MTL; mt++)
#pragma unroll
                        for (int nt = 0; nt < NTL; nt++) sc_mma(E(), acc[mt][nt], af[mt], bf[nt]);
#if SC_MMA_MUTANT
#undef sc_tf32
#endif
                }
            }
        }
    } else {
        /* One block per SM (8 warps: latency-bound, bench/NOTES.md run 13), fp16/bf16: two sets of
         * fragments, the next k-step's loaded while this one's mma run, across the stage
         * barrier too (as CUTLASS's multistage main loop does), so the tensor pipe does not
         * drain at every stage. Ring accounting as above: the barrier before the next stage's
         * first fragments also frees this stage's slot, which then takes stage kt + STAGES. */
        static_assert(NKS % 2 == 0, "fragment buffers alternate within a stage");
        unsigned af[2][MTL][4], bf[2][NTL][2];
        if (nk > 0) {
            sc_cp_async_wait<STAGES - 2>(); /* stage 0 has landed */
            __syncthreads();
            if (STAGES - 1 < nk) load_stage(STAGES - 1, kbeg + (STAGES - 1) * KB);
            sc_cp_async_commit();
            frags(af[0], bf[0], 0, 0);
        }
        for (int kt = 0; kt < nk; kt++) {
            const int st = kt % STAGES;
#pragma unroll
            for (int ks = 0; ks < NKS; ks++) {
                if (ks + 1 < NKS) {
                    frags(af[(ks + 1) & 1], bf[(ks + 1) & 1], st, (ks + 1) * KSTEP);
                } else if (kt + 1 < nk) {
                    sc_cp_async_wait<STAGES - 2>(); /* stage kt+1 has landed */
                    __syncthreads(); /* everyone's; every warp has read stage kt's slot */
                    int nx = kt + STAGES;
                    if (nx < nk) load_stage(st, kbeg + nx * KB);
                    sc_cp_async_commit();
                    frags(af[0], bf[0], (kt + 1) % STAGES, 0);
                }
                if (!mutant_skip(kt, ks)) mmas(af[ks & 1], bf[ks & 1]);
            }
        }
    }
    sc_cp_async_wait<0>();

    /* Epilogue through shared memory: the accumulators (mt, nt), rows g and g+8, columns 2t and
     * 2t+1 of each 16x8, go to an fp32 tile [BM][BN + 4] over the (now idle) stages; then
     * sc_mma_tile_out writes it out. */
    constexpr int C_LD = BN + 4;
    static_assert(BM * C_LD * 4 <= STAGES * (A_TILE + B_TILE) * ES, "epilogue tile too big");
    __syncthreads(); /* every warp is done with the stages */
    float *Cs = (float *)sc_mma_smem;
#pragma unroll
    for (int mt = 0; mt < MTL; mt++)
#pragma unroll
        for (int nt = 0; nt < NTL; nt++) {
            int r = wm * WTM + mt * 16 + g, c = wn * WTN + nt * 8 + 2 * t;
            *(float2 *)&Cs[r * C_LD + c] = make_float2(acc[mt][nt][0], acc[mt][nt][1]);
            *(float2 *)&Cs[(r + 8) * C_LD + c] = make_float2(acc[mt][nt][2], acc[mt][nt][3]);
        }
    __syncthreads();
    sc_mma_tile_out<BM, BN, C_LD>(op, blk, Cs, m0, n0, tid);
#endif
}

#endif /* SC_GPU_MMA_KERNEL_CUH */
