/* wgmma_tf32_bw.cuh - TF32 backward-weight on Hopper's wgmma (configuration 5 of mma_cfg.h, fp32
 * operands as TF32, no channel padding): dw[k][(r,s,c)] = sum over the pixels of dy[pix][k] *
 * x[pix + tap][c], the operation of op_bw.cuh (M = K/groups, N = R*S*C/groups, the reduction
 * over the split's slice of N*P*Q).
 *
 * Why its own kernel: in NHWC both operands are contiguous along M and N at a pixel (MN-major),
 * and wgmma has no transposed form for TF32 (wgmma.cuh): B must sit in shared memory K-major.
 * So each stage is copied as it comes (cp.async, 16-byte chunks of 4 consecutive channels at
 * one pixel, as wgmma.cuh's 16-bit backward-weight), then
 *   A (dy, 128 rows of M) is read from its staged tile into registers (wgmma's register-A form,
 *     as wgmma.cuh's TF32 forward), rounded there;
 *   B (x, 128 columns of N) is transposed by the block into a K-major tile in the canonical
 *     128-byte swizzle (wgmma.cuh), rounded on the way: each thread moves one 4 x 4 block (four
 *     16-byte loads along N, four 16-byte stores along the reduction).
 * Both roundings are sc_tf32's (to nearest, ties away; in the mutant, tests only, none: the
 * tensor cores' truncation, which the checker's bound catches).
 *
 * Shared memory (bytes; the base 1024-aligned for the swizzle):
 *   Bt[2]      two K-major B tiles, 128 rows (N) of 32 reduction elements = 128 bytes, chunk c of
 *              row n at chunk c ^ (n % 8): 16 KiB each; stage kt's is Bt[kt % 2];
 *   ring[S]    S = SC_WTB_STAGES slots, each
 *              A: 32 reduction rows of 128 M elements plus 8 of padding (SC_WTB_A_LD floats):
 *                 a fragment load's 32 lanes (rows t and t + 4, columns g and g + 8) fall in
 *                 32 distinct banks (row stride 136 = 8 mod 32);
 *              B: 32 reduction rows of 128 N elements (512 bytes), chunk rc of row k at
 *                 rc ^ ((k / 4) % 8): the transpose's 16-byte loads (8 lanes: rows 4j + i,
 *                 j = 0..7, one chunk column) fall in 8 distinct bank groups, and a warp's
 *                 copies of one row are a permutation of it.
 *   The epilogue's fp32 tile (128 x 132) reuses the space once every stage is consumed.
 *
 * The pipeline (stage j in slot j % S, loaded in order, once each: x's iterators walk the
 * reduction, op_bw.cuh b_next). At the top of iteration kt: Bt[kt % 2] holds stage kt (every
 * thread's stores fenced for the async proxy and passed a barrier), cur holds stage kt's A
 * fragments, stage kt + 1 has landed (every thread waited for its own copies before that barrier)
 * and stages up to kt + S are in flight. Then:
 *   issue stage kt's 4 wgmma (one group) on cur and Bt[kt % 2];
 *   transpose stage kt + 1 into Bt[(kt + 1) % 2] (its last reader, group kt - 1, was waited for
 *   by both warpgroups before the last barrier), load its A into nxt; fence.proxy.async;
 *   wait for this thread's copies of stage kt + 2; wait for group kt (cur free, Bt[kt % 2] free);
 *   barrier; refill slot (kt + 1) % S (stage kt + 1 fully read) with stage kt + 1 + S; cur = nxt.
 * One barrier a stage; the tensor cores drain once a stage (wgmma.cuh's TF32 ring does too: a
 * wgmma reads its A registers until its group is waited for). */
#ifndef SC_GPU_MMA_WGMMA_TF32_BW_CUH
#define SC_GPU_MMA_WGMMA_TF32_BW_CUH

#include "wgmma.cuh"

#define SC_WTB_STAGES 5
#define SC_WTB_A_LD   136 /* floats a staged A row: 128 + 8 of padding */
#define SC_WTB_KB     32  /* reduction elements a stage (128 bytes of a K-major row) */

static constexpr int SC_WTB_A_BYTES = SC_WTB_KB * SC_WTB_A_LD * 4; /* 17408 */
static constexpr int SC_WTB_B_BYTES = SC_WTB_KB * 128 * 4;         /* 16384 */
static constexpr int SC_WTB_BT_BYTES = 128 * 128;                  /* 16384 */

/* The layouts above as byte offsets (host and device: tests/gpu/mma_emulate.cu checks them):
 * the copy of chunk rc of reduction row r into a slot's A and B; the word of A[k][m] in a slot;
 * the transpose's source (row 4 * kq, chunk column nq; row 4 * kq + i is i * 512 further) and
 * its destination (chunk kq of row n of a Bt tile, the canonical 128-byte swizzle). */
SC_HD constexpr unsigned sc_wtb_a_dst(int r, int rc)
{
    return (unsigned)(r * SC_WTB_A_LD * 4 + rc * 16);
}
SC_HD constexpr unsigned sc_wtb_b_dst(int r, int rc)
{
    return (unsigned)(SC_WTB_A_BYTES + r * 512 + ((rc ^ ((r >> 2) & 7)) << 4));
}
SC_HD constexpr int sc_wtb_a_word(int k, int m) { return k * SC_WTB_A_LD + m; }
SC_HD constexpr unsigned sc_wtb_tr_src(int kq, int nq)
{
    return (unsigned)(SC_WTB_A_BYTES + 4 * kq * 512 + ((nq ^ kq) << 4));
}
SC_HD constexpr unsigned sc_wtb_bt_dst(int n, int kq)
{
    return (unsigned)(n * 128 + ((kq ^ (n & 7)) << 4));
}

/* Which threads do what: the transpose's 4 x 4 block of a thread (warp, lane), reduction rows
 * 4 * kq .. and columns 4 * nq ..; the first of the two A rows of its register-A fragment. */
SC_HD constexpr int sc_wtb_kq(int lane) { return lane & 7; }
SC_HD constexpr int sc_wtb_nq(int warp, int lane) { return (lane >> 3) + 4 * warp; }
SC_HD constexpr int sc_wtb_a_m(int warp, int lane)
{
    return (warp >> 2) * 64 + (warp & 3) * 16 + (lane >> 2);
}

/* Dynamic shared memory: Bt[2], the ring, 1024 bytes to align them. */
static constexpr int sc_wgmma_tf32_bw_smem_bytes()
{
    return 2 * SC_WTB_BT_BYTES + SC_WTB_STAGES * (SC_WTB_A_BYTES + SC_WTB_B_BYTES) + 1024;
}

template <class Op>
__global__ __launch_bounds__(256, 1) void wgmma_tf32_bw_kernel(Op op)
{
#if SC_WGMMA_DEVICE
    static_assert(sizeof(typename Op::Elem) == 4 && !Op::A_KMAJOR && !Op::B_KMAJOR && !Op::A_PAD &&
                      !Op::B_PAD,
                  "wgmma_tf32_bw: fp32 operands, both MN-major, no channel padding");
    constexpr int BM = SC_WGMMA_BM, BN = 128, KB = SC_WTB_KB, S = SC_WTB_STAGES;
    constexpr int PT = BM * KB / 4 / 256; /* 16-byte chunks a thread copies a stage, per operand */
    constexpr unsigned SLOT = SC_WTB_A_BYTES + SC_WTB_B_BYTES;
    static_assert(BM * (BN + 4) * 4 <= 2 * SC_WTB_BT_BYTES + S * (int)SLOT, "epilogue tile");

    extern __shared__ __align__(16) unsigned char sc_wtb_smem[];
    const unsigned raw = sc_smem_u32(sc_wtb_smem);
    const unsigned bt0 = (raw + 1023u) & ~1023u, ring = bt0 + 2 * SC_WTB_BT_BYTES;
    unsigned char *const sm = sc_wtb_smem + (bt0 - raw); /* generic pointer to bt0 */
    constexpr unsigned RING = 2 * SC_WTB_BT_BYTES;       /* ring's offset from bt0 */

    typename Op::Block blk;
    if (!op.block(blockIdx.z, blk)) return;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    if (m0 >= blk.M || n0 >= blk.N) return;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    /* copies: chunk rc (elements 4rc .. 4rc + 3 of M or N) of reduction row r of the stage,
     * r = id / 32, rc = id % 32 for id = tid + 256j: a warp copies whole rows */
    typename Op::AIter ai[PT];
    typename Op::BIter bi[PT];
    unsigned a_dst[PT], b_dst[PT]; /* byte offsets inside a slot */
#pragma unroll
    for (int j = 0; j < PT; j++) {
        const int id = tid + j * 256, r = id >> 5, rc = id & 31;
        op.a_init(blk, ai[j], m0 + rc * 4, r);
        op.b_init(blk, bi[j], n0 + rc * 4, r);
        a_dst[j] = sc_wtb_a_dst(r, rc);
        b_dst[j] = sc_wtb_b_dst(r, rc);
    }
    int kk = blk.kbeg; /* the first reduction index of the next stage loaded */
    auto load_stage = [&](int slot) {
        const unsigned base = ring + (unsigned)slot * SLOT;
#pragma unroll
        for (int j = 0; j < PT; j++) {
            bool v;
            const float *src = op.a_src(blk, ai[j], kk, v);
            sc_cp_async16(base + a_dst[j], src, v);
        }
#pragma unroll
        for (int j = 0; j < PT; j++) {
            bool v;
            const float *src = op.b_next(blk, bi[j], v);
            sc_cp_async16(base + b_dst[j], src, v);
        }
        kk += KB;
    };

    /* the transpose: this thread's 4 x 4 block, reduction rows 4 * kq .. + 3 (kq = lane % 8) and
     * columns 4 * nq .. + 3 (nq = lane / 8 + 4 * warp: 32 of them) */
    const int kq = sc_wtb_kq(lane), nq = sc_wtb_nq(warp, lane);
    const unsigned tr_src = sc_wtb_tr_src(kq, nq);
    auto transpose_b = [&](int slot, int buf) {
        const unsigned char *src = sm + RING + (unsigned)slot * SLOT + tr_src;
        float4 v[4];
#pragma unroll
        for (int i = 0; i < 4; i++) v[i] = *(const float4 *)(src + i * 512);
        unsigned char *dst = sm + buf * SC_WTB_BT_BYTES;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int n = 4 * nq + i;
            const float *c0 = &v[0].x, *c1 = &v[1].x, *c2 = &v[2].x, *c3 = &v[3].x;
            uint4 o = make_uint4(
                sc_wgmma_tf32(__float_as_uint(c0[i])), sc_wgmma_tf32(__float_as_uint(c1[i])),
                sc_wgmma_tf32(__float_as_uint(c2[i])), sc_wgmma_tf32(__float_as_uint(c3[i])));
            *(uint4 *)(dst + sc_wtb_bt_dst(n, kq)) = o;
        }
    };
    /* stage's A fragments of this warp (register-A layout, wgmma.cuh): rows ma and ma + 8 at
     * k = 8ks + t and 8ks + t + 4, rounded */
    const int t = lane & 3, ma = sc_wtb_a_m(warp, lane);
    auto load_a = [&](int slot, unsigned(&a)[4][4]) {
        const float *As = (const float *)(sm + RING + (unsigned)slot * SLOT);
#pragma unroll
        for (int ks = 0; ks < 4; ks++) {
            const float *r0 = As + sc_wtb_a_word(8 * ks + t, ma),
                        *r1 = As + sc_wtb_a_word(8 * ks + t + 4, ma);
            a[ks][0] = sc_wgmma_tf32(__float_as_uint(r0[0]));
            a[ks][1] = sc_wgmma_tf32(__float_as_uint(r0[8]));
            a[ks][2] = sc_wgmma_tf32(__float_as_uint(r1[0]));
            a[ks][3] = sc_wgmma_tf32(__float_as_uint(r1[8]));
        }
    };

    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) acc[i] = 0.f;
    const int kbeg = blk.kbeg, kend = blk.kend;
    const int nk = kend > kbeg ? (kend - kbeg + KB - 1) / KB : 0;

    unsigned cur[4][4], nxt[4][4] = {}; /* zeros: the last stage moves nxt unloaded */
#pragma unroll
    for (int s = 0; s < S; s++) {
        if (s < nk) load_stage(s);
        sc_cp_async_commit();
    }
    if (nk > 0) {
        sc_cp_async_wait<S - 2>(); /* stages 0 and 1 (this thread's copies) */
        __syncthreads();
        transpose_b(0, 0);
        load_a(0, cur);
        sc_fence_proxy_async();
        __syncthreads(); /* Bt[0] complete; slot 0 read */
        if (S < nk) load_stage(0);
        sc_cp_async_commit();
    }
    for (int kt = 0; kt < nk; kt++) {
        const unsigned long long db = sc_wgmma_desc(bt0 + (unsigned)((kt & 1) * SC_WTB_BT_BYTES));
        sc_wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < 4; ks++)
            sc_wgmma_128_rs(acc, cur[ks], db + (unsigned long long)(ks * 2));
        sc_wgmma_commit();
        if (kt + 1 < nk) {
            transpose_b((kt + 1) % S, (kt + 1) & 1);
            load_a((kt + 1) % S, nxt);
            sc_fence_proxy_async();
        }
        sc_cp_async_wait<S - 2>(); /* stage kt + 2 (this thread's copies) */
        sc_wgmma_wait<0>();
        sc_wgmma_next_a(cur, nxt);
        __syncthreads();
        if (kt + 1 + S < nk) load_stage((kt + 1) % S);
        sc_cp_async_commit();
    }
    sc_wgmma_epilogue<BN>(op, blk, acc, sm, m0, n0, tid, warp >> 2, warp, lane);
#else
    (void)op;
#endif
}

#endif /* SC_GPU_MMA_WGMMA_TF32_BW_CUH */
