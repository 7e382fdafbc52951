/* wgmma_ws.cuh - configuration 7 of mma_cfg.h, warp-specialised: one warpgroup loads, two
 * multiply and store, and the block walks tile after tile (persistent), for K-major operands
 * (forward without channel padding, which backward-data runs as) in fp16/bf16 or fp32 as TF32,
 * 128 x 128 tiles, one split. Compiled only into gemm_wgmma.cu (sm_90a), like wgmma.cuh, whose
 * shared-memory layout, descriptors and instructions it uses.
 *
 * Why: the short reductions of 1x1 layers (2-8 stages a tile) are bound by memory, and in
 * wgmma.cuh's form the same warps generate the load addresses, multiply and store, so a tile's
 * stores and address work delay the next tile's loads and products. Here they run in different
 * warps and overlap.
 *
 * 384 threads:
 * - warpgroup 0, the producer: walks the block's tiles (sc_wgmma_tile) stage by stage into a
 *   ring of STAGES slots; each of its 128 threads copies 8 A chunks and 8 B chunks of a stage
 *   (chunk column kc = thread % 8 of rows thread / 8 + 16 j), as wgmma.cuh's threads copy 4 + 4,
 *   with the same iterators (op_fwd.cuh, ARow/ATap/BIter). Before filling a slot it waits on the
 *   slot's `empty` barrier; after issuing the copies it arrives on the slot's `full` barrier with
 *   cp.async.mbarrier.arrive.noinc, which fires when the thread's copies have landed (count 128).
 * - warpgroups 1 and 2, the consumers: rows 64 (wg - 1) .. +63 of the tile against its 128
 *   columns, as wgmma.cuh's two warpgroups. They wait on `full`, fence the async proxy (the copies
 *   are generic-proxy writes that wgmma reads through the async proxy), multiply, and once their
 *   wgmma group is done every consumer thread arrives on `empty` (count 256: each thread's own
 *   reads of the slot, its ldmatrix, are ordered before its own arrival). 16-bit: a group stays in
 *   flight (wait_group 1), so a slot is released one stage late. TF32: A goes through registers
 *   (ldmatrix, rounded to nearest: wgmma.cuh), the next stage's loaded while this stage's group
 *   runs, and the slot is released after the group. Either way a consumer holds at most 2 slots.
 * - the epilogue: the consumers' accumulators through their own fp32 tile (not over the ring,
 *   which the producer is refilling) to the output (sc_mma_tile_out), between two consumer-only
 *   named barriers (barrier 1, 256 threads); the producer never waits for it.
 *
 * Phases: stage q of the block's sequence (tiles in order, nk stages each) uses slot q % STAGES
 * in its (q / STAGES)-th round; `full` completes once a round, so the consumer waits for parity
 * (q / STAGES) & 1; the producer waits on `empty` for the parity before it, which a fresh barrier
 * reports complete (the first round needs no release).
 *
 * Shared memory: 1024 bytes of alignment slack, the ring (STAGES x (A 16 KiB + B 16 KiB)), the
 * epilogue tile (128 x 132 floats), then 2 x STAGES 8-byte barriers. */
#ifndef SC_GPU_MMA_WGMMA_WS_CUH
#define SC_GPU_MMA_WGMMA_WS_CUH

#include "wgmma.cuh"

#define SC_WGMMA_WS_STAGES  4
#define SC_WGMMA_WS_THREADS 384

#if SC_WGMMA_DEVICE
__device__ __forceinline__ void sc_mbar_init(unsigned bar, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void sc_mbar_init_fence()
{
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void sc_mbar_arrive(unsigned bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
/* arrive on bar once this thread's cp.async copies so far have landed (not counted in advance:
 * the barrier's count includes this arrival) */
__device__ __forceinline__ void sc_mbar_arrive_cp_async(unsigned bar)
{
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void sc_mbar_wait(unsigned bar, unsigned parity)
{
    asm volatile("{\n.reg .pred p;\nSC_MBAR_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra SC_MBAR_WAIT;\n}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
}
/* the 256 consumer threads only (barrier 0 is __syncthreads') */
__device__ __forceinline__ void sc_bar_consumers()
{
    asm volatile("bar.sync 1, 256;\n" ::: "memory");
}
__device__ __forceinline__ void sc_cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::); }
#endif

static constexpr int sc_wgmma_ws_smem_bytes()
{
    return 1024 + SC_WGMMA_WS_STAGES * (SC_WGMMA_BM + 128) * SC_WGMMA_KBYTES +
           SC_WGMMA_BM * (128 + 4) * 4 + 2 * SC_WGMMA_WS_STAGES * 8;
}
static_assert(sc_wgmma_ws_smem_bytes() <= 227 * 1024, "over sm_90's shared memory per block");

template <class Op>
__global__ __launch_bounds__(SC_WGMMA_WS_THREADS, 1) void wgmma_ws_kernel(Op op, int3 tiles)
{
#if SC_WGMMA_DEVICE
    typedef typename Op::Elem E;
    static_assert((sizeof(E) == 2 || sizeof(E) == 4) && !Op::A_PAD && !Op::B_PAD && Op::A_KMAJOR &&
                      Op::B_KMAJOR,
                  "wgmma_ws: 16-bit or TF32 operands, both K-major, no channel padding");
    constexpr bool TF32 = sizeof(E) == 4;
    constexpr int BM = SC_WGMMA_BM, BN = 128, STAGES = SC_WGMMA_WS_STAGES;
    constexpr int KB = SC_WGMMA_KBYTES / sizeof(E); /* elements of the reduction per stage */
    constexpr int CPR = SC_WGMMA_KBYTES / 16;       /* 16-byte chunks per row */
    constexpr int A_TILE = BM * SC_WGMMA_KBYTES, B_TILE = BN * SC_WGMMA_KBYTES; /* bytes */
    constexpr int PT = BM * CPR / 128; /* chunks of A (and of B) per producer thread */
    constexpr int C_LD = BN + 4;       /* the epilogue tile's row, floats */
    static_assert(BM == BN && 128 % CPR == 0, "one chunk mapping for A and B");

    extern __shared__ __align__(16) unsigned char sc_wgmma_smem[];
    const unsigned raw = sc_smem_u32(sc_wgmma_smem);
    const unsigned as0 = (raw + 1023u) & ~1023u, bs0 = as0 + STAGES * A_TILE;
    float *Cs = (float *)(sc_wgmma_smem + (as0 - raw) + STAGES * (A_TILE + B_TILE));
    const unsigned full0 = as0 + STAGES * (A_TILE + B_TILE) + BM * C_LD * 4;
    const unsigned empty0 = full0 + STAGES * 8;

    const int ntiles =
        sc_wgmma_tiles_of((int)blockIdx.x, (int)gridDim.x, tiles.x * tiles.y * tiles.z);
    auto tile_at = [&](int i, int &m0, int &n0) {
        int bx, by, bz;
        sc_wgmma_tile((int)blockIdx.x + i * (int)gridDim.x, tiles.x, tiles.y, bx, by, bz);
        m0 = bx * BM, n0 = by * BN;
        return bz;
    };
    typename Op::Block blk;
    int m0, n0;
    if (ntiles == 0 || !op.block(tile_at(0, m0, n0), blk)) return; /* the whole block */
    /* stages of each tile (every tile's: one split) */
    const int nk = blk.kend > blk.kbeg ? (blk.kend - blk.kbeg + KB - 1) / KB : 0;
    const int tid = threadIdx.x;
    if (tid == 0) {
        for (int s = 0; s < STAGES; s++) {
            sc_mbar_init(full0 + 8 * s, 128);
            sc_mbar_init(empty0 + 8 * s, 256);
        }
        sc_mbar_init_fence();
    }
    __syncthreads(); /* the last block-wide barrier: the two roles part here */

    if (tid < 128) { /* the producer */
        const int kc = tid % CPR, row0 = tid / CPR;
        /* chunk j of a stage: row row0 + 16 j, whose swizzle is row0's (16 j is 0 mod 8) */
        const unsigned dst0 = (unsigned)(row0 * 128 + ((kc ^ (row0 & 7)) << 4));
        typename Op::ARow ai[PT];
        typename Op::BIter bi[PT];
        typename Op::ATap tap;
        typename Op::Block pblk = blk;
        int slot = 0, round = 0;
        for (int ti = 0; ti < ntiles && nk > 0; ti++) {
            int pm0 = m0, pn0 = n0;
            if (ti > 0) op.block(tile_at(ti, pm0, pn0), pblk);
#pragma unroll
            for (int j = 0; j < PT; j++) {
                op.a_row_init(pblk, ai[j], pm0 + row0 + 16 * j);
                op.b_init(pblk, bi[j], pn0 + row0 + 16 * j, kc);
            }
            int kk = pblk.kbeg + kc * (16 / (int)sizeof(E));
            op.a_tap_init(kk, tap);
            for (int kt = 0; kt < nk; kt++) {
                sc_mbar_wait(empty0 + 8 * slot, (unsigned)(round & 1) ^ 1u);
                const bool kin = kk < pblk.kend;
                const unsigned a_st = as0 + (unsigned)(slot * A_TILE) + dst0;
                const unsigned b_st = bs0 + (unsigned)(slot * B_TILE) + dst0;
#pragma unroll
                for (int j = 0; j < PT; j++) {
                    bool v;
                    const E *src = op.a_src_tap(ai[j], tap, kin, v);
                    sc_cp_async16(a_st + (unsigned)(j * 16 * 128), src, v);
                }
#pragma unroll
                for (int j = 0; j < PT; j++) {
                    bool v;
                    const E *src = op.b_src_k(bi[j], kk, kin, v);
                    sc_cp_async16(b_st + (unsigned)(j * 16 * 128), src, v);
                }
                sc_mbar_arrive_cp_async(full0 + 8 * slot);
                op.a_tap_step(tap, KB);
                kk += KB;
                if (++slot == STAGES) slot = 0, round++;
            }
        }
        sc_cp_async_wait_all();
        return;
    }

    /* the consumers */
    const int ctid = tid - 128, lane = tid & 31, cwarp = ctid >> 5, wg = cwarp >> 2;
    int slot = 0, round = 0; /* of the next stage consumed */
    auto wait_full = [&]() {
        sc_mbar_wait(full0 + 8 * slot, (unsigned)(round & 1));
        sc_fence_proxy_async(); /* the landed copies, visible to the tensor cores' reads */
    };
    auto advance = [&]() {
        if (++slot == STAGES) slot = 0, round++;
    };
    auto release = [&](int s) { sc_mbar_arrive(empty0 + 8 * s); }; /* done with slot s */
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) acc[i] = 0.f;
    /* the tile's accumulators to Cs, then to the output (sc_mma_tile_out) */
    auto epilogue = [&]() {
        sc_bar_consumers(); /* every consumer is done reading the last tile's Cs */
        sc_wgmma_acc_out<BN, C_LD>(acc, Cs, wg, cwarp, lane);
        sc_bar_consumers();
        sc_mma_tile_out<BM, BN, C_LD>(op, blk, Cs, m0, n0, ctid);
    };
    /* the next tile's output position, and (TF32) its accumulators zeroed; 16-bit: its first
     * k-step overwrites them (sc_wgmma_128z), and with no k-step they are still zero */
    auto next_tile = [&](int ti) {
        op.block(tile_at(ti, m0, n0), blk);
        if constexpr (TF32)
#pragma unroll
            for (int i = 0; i < BN / 2; i++) acc[i] = 0.f;
    };
    if constexpr (!TF32) {
        int pend = -1; /* the slot of the group in flight */
        for (int ti = 0; ti < ntiles; ti++) {
            if (ti > 0) next_tile(ti);
            for (int kt = 0; kt < nk; kt++) {
                wait_full();
                const unsigned at = as0 + (unsigned)(slot * A_TILE + wg * 64 * 128);
                const unsigned long long da = sc_wgmma_desc(at);
                const unsigned long long db = sc_wgmma_desc(bs0 + (unsigned)(slot * B_TILE));
                sc_wgmma_fence();
#pragma unroll
                for (int ks = 0; ks < 4; ks++) {
                    /* the 16-bit mutant (tests only) drops the first k-step of the last stage */
                    if (SC_MMA_MUTANT && kt == nk - 1 && ks == 0) continue;
                    sc_wgmma_128z(E(), acc, da + ks * 2, db + ks * 2, kt > 0 || ks > 0);
                }
                sc_wgmma_commit();
                sc_wgmma_wait<1>();
                if (pend >= 0) release(pend);
                pend = slot;
                advance();
            }
            sc_wgmma_wait<0>();
            if (pend >= 0) release(pend);
            pend = -1;
            epilogue();
        }
    } else {
        const unsigned a_row = sc_wgmma_a_row(wg, cwarp, lane);
        /* slot st's A, rounded (wgmma.cuh) */
        auto load_a = [&](int st, unsigned(&a)[4][4]) {
            sc_wgmma_load_a(a, as0 + (unsigned)(st * A_TILE) + a_row, lane);
        };
        unsigned cur[4][4], nxt[4][4] = {};
        int cslot = 0; /* the slot of cur */
        if (nk > 0) {
            wait_full();
            load_a(slot, cur);
            cslot = slot;
            advance();
        }
        for (int ti = 0; ti < ntiles; ti++) {
            if (ti > 0) next_tile(ti);
            for (int kt = 0; kt < nk; kt++) {
                const unsigned long long db = sc_wgmma_desc(bs0 + (unsigned)(cslot * B_TILE));
                sc_wgmma_fence();
#pragma unroll
                for (int ks = 0; ks < 4; ks++)
                    sc_wgmma_128_rs(acc, cur[ks], db + (unsigned long long)(ks * 2));
                sc_wgmma_commit();
                const int nslot = slot;
                const bool more = kt + 1 < nk || ti + 1 < ntiles;
                if (more) {
                    wait_full();
                    load_a(slot, nxt);
                    advance();
                }
                sc_wgmma_wait<0>();
                sc_wgmma_keep(cur);
                release(cslot);
                cslot = nslot;
#pragma unroll
                for (int ks = 0; ks < 4; ks++)
#pragma unroll
                    for (int i = 0; i < 4; i++) cur[ks][i] = nxt[ks][i];
            }
            epilogue();
        }
    }
#else
    (void)op;
    (void)tiles;
#endif
}

#endif /* SC_GPU_MMA_WGMMA_WS_CUH */
