/* winograd_wg.cuh - what the Winograd kernels on Hopper's wgmma share (winograd_bw_wg.cu:
 * backward-weight, tile 4; winograd_wg.cu: forward and backward-data): the layout of the
 * shared-memory operand, its descriptor, the m64n32k8 TF32 product with the A operand in
 * registers, and the 3xTF32 split. NVIDIA only; the device code exists in sm_90a builds alone
 * (SC_WGMMA_DEVICE).
 *
 * Per transformed point p a step multiplies A (64 rows x 8 reduction entries, in registers) by
 * B (8 x 32 columns, in shared memory) into 64 x 32 fp32 accumulators, once for each term of
 * 3xTF32. Each value v is split into big = tf32(v) and small = v - big (exact in fp32;
 * wg_split), and the three products run small*big, big*small, big*big, in that order; the
 * small*small term (below 2^-22 of the product) is left out, as winograd.cuh's
 * wino_gemm_step_tf32x3. A warpgroup computes 8 points: 8 x 16 accumulators a thread, in
 * wgmma's m64nNk8 layout (warp w % 4 of the warpgroup: rows 16(w % 4) + g and + 8, columns
 * 8i + 2t and + 1 in registers 4i + {0, 1} and 4i + {2, 3}; g = lane / 4, t = lane % 4).
 *
 * B (a stage: WG_STAGE bytes; per point WG_PT bytes: Vb, Vs, 32 rows x 8 entries each) is a
 * K-major operand in wgmma's layout without swizzle: core matrices of 8 rows x 4 words (16
 * bytes a row, 128 bytes each), the 8-row groups 128 bytes apart (the descriptor's stride
 * offset), the two groups of 4 reduction entries (K) a matrix's rows (the leading offset) plus
 * 64 bytes apart, so that word (r, kk) is at
 *   (r / 8) * 32 + (kk / 4) * (4 rows + 16) + (r % 8) * 4 + kk % 4     (words; 32 rows)
 * and its bank is 4 (r % 8) + kk % 4 + 16 (kk / 4) mod 32: a warp's 32 stores of distinct
 * (r % 8, kk) pairs hit 32 banks (each kernel's store roles give its warps such pairs, checked
 * at compile time by wg_layout_ok). */
#ifndef SC_GPU_WINOGRAD_WG_CUH
#define SC_GPU_WINOGRAD_WG_CUH

#include "winograd.cuh"

#if !SC_GPU_HIP
#include "mma/wgmma.cuh"

enum {
    WG_VROWS = WINO_BT,                         /* N: B's rows */
    WG_VLBO = WG_VROWS / 8 * 128 + 64,          /* B's leading offset (bytes) */
    WG_VBYTES = WG_VLBO + WG_VROWS / 8 * 128,   /* one B matrix: 1088 */
    WG_PT = 2 * WG_VBYTES,                      /* a point: Vb, Vs */
    WG_STAGE = 16 * WG_PT,                      /* 34,816 */
    WG_XCHG = 16 * WINO_BT * (WINO_BK + 1) * 4, /* Ms[16][32][65] */
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

/* Compile-time checks of the layout and a kernel's store roles (thread t stores B's row
 * row_of(t, nhwc) at entry kk_of(t, nhwc)): every (row, entry) of a matrix has its own word
 * inside the matrix, the roles give each pair to one thread, and each warp's stores hit 32
 * banks. */
template <int LBO, int ROWS>
constexpr bool wg_layout_ok(int (*row_of)(int, bool), int (*kk_of)(int, bool))
{
    bool seen[LBO / 4 + ROWS * 4] = {};
    for (int r = 0; r < ROWS; r++)
        for (int kk = 0; kk < WINO_BC; kk++) {
            const int w = wg_word<LBO>(r, kk);
            if (w < 0 || w >= LBO / 4 + ROWS * 4 || seen[w]) return false;
            seen[w] = true;
        }
    for (int nhwc = 0; nhwc < 2; nhwc++) {
        bool role[WINO_BC * ROWS] = {}; /* each (row, entry) pair one thread's */
        for (int t = 0; t < WINO_T; t++) {
            const int r = row_of(t, nhwc), kk = kk_of(t, nhwc);
            if (kk < 0 || kk >= WINO_BC || r < 0 || r >= ROWS || role[kk * ROWS + r]) return false;
            role[kk * ROWS + r] = true;
        }
        for (int warp = 0; warp < WINO_T / 32; warp++) {
            bool bank[32] = {};
            for (int lane = 0; lane < 32; lane++) {
                const int t = 32 * warp + lane;
                const int b = wg_word<LBO>(row_of(t, nhwc), kk_of(t, nhwc)) & 31;
                if (bank[b]) return false;
                bank[b] = true;
            }
        }
    }
    return true;
}

#if SC_WGMMA_DEVICE
/* The descriptor of a K-major operand without swizzle at shared address saddr: start >> 4 (bits
 * 0-13), leading offset (between the core matrices of entries 0-3 and 4-7) >> 4 (bits 16-29),
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
/* The 24 products of a warpgroup's 8 points in one step, one wgmma group: acc[q] += A (ab[q]
 * + as[q]) x B (the point's Vb + Vs in stage buf), the three terms in the order above. vd0: the
 * descriptor of the warpgroup's first point's Vb in stage 0; a matrix `off` bytes further is
 * the descriptor plus off / 16 (the start address field, bits 0-13, holds every shared address
 * >> 4 of the block's shared memory without a carry out of it). MUTANT (tests only): big*big
 * alone, 1xTF32, which the fp32 checks must fail. */
template <bool MUTANT>
__device__ __forceinline__ void wg_gemm8(float (&acc)[8][16], const unsigned (&ab)[8][4],
                                         const unsigned (&as)[8][4], unsigned long long vd0,
                                         int buf)
{
    sc_wgmma_fence();
#pragma unroll
    for (int q = 0; q < 8; q++) {
        const unsigned long long vb = vd0 + (unsigned long long)((buf * WG_STAGE + q * WG_PT) >> 4);
        const unsigned long long vs = vb + (WG_VBYTES >> 4);
        (void)vs;
        if constexpr (!MUTANT) {
            wg_mma(acc[q], as[q], vb);
            wg_mma(acc[q], ab[q], vs);
        }
        wg_mma(acc[q], ab[q], vb);
    }
    sc_wgmma_commit();
}
/* The accumulators acc (zeroed here) over nsteps steps, in the step order both kernels run
 * (their headers): step st (stage st % 2) issues its group (wg_gemm8 on the A registers ab, as
 * and the warpgroup's B descriptor vd0), stores step st + 1's B operand into the other stage
 * (store; that stage's group was waited for before the last barrier) while the tensor cores
 * run, issues step st + 2's B loads (load_b), waits for the group, keeps the A registers
 * allocated until then (wg_keep), makes step st + 1's A fragments from what was loaded a step
 * ago (frags) and issues step st + 2's A loads (load_a, given the stage just freed), fences the
 * stores for the async proxy (wgmma reads shared memory through it) and passes a barrier.
 * Stages are passed as std::integral_constant<int, 0 or 1>. The same for the whole block. */
template <bool MUTANT, class LoadA, class LoadB, class Frags, class Store>
__device__ __forceinline__ void
wg_pipeline(int nsteps, float (&acc)[8][16], unsigned (&ab)[8][4], unsigned (&as)[8][4],
            unsigned long long vd0, LoadA &&load_a, LoadB &&load_b, Frags &&frags, Store &&store)
{
#pragma unroll
    for (int q = 0; q < 8; q++)
#pragma unroll
        for (int i = 0; i < 16; i++) acc[q][i] = 0.f;
    const std::integral_constant<int, 0> s0;
    const std::integral_constant<int, 1> s1;
    auto body = [&](int st, auto stage, auto other) {
        wg_gemm8<MUTANT>(acc, ab, as, vd0, decltype(stage)::value);
        if (st + 1 < nsteps) store(other);
        if (st + 2 < nsteps) load_b(st + 2);
        sc_wgmma_wait<0>();
        wg_keep(ab);
        wg_keep(as);
        if (st + 1 < nsteps) frags(other);
        if (st + 2 < nsteps) load_a(st + 2, stage);
        sc_fence_proxy_async();
        __syncthreads();
    };
    if (nsteps <= 0) return;
    load_a(0, s0);
    load_b(0);
    frags(s0);
    if (nsteps > 1) load_a(1, s1);
    store(s0);
    if (nsteps > 1) load_b(1);
    sc_fence_proxy_async();
    __syncthreads();
    for (int st = 0; st < nsteps; st += 2) {
        body(st, s0, s1);
        if (st + 1 < nsteps) body(st + 1, s1, s0);
    }
}
/* The accumulators of both warpgroups into Ms[16][WINO_BT][WINO_BK + 1] (point, column,
 * row): a warp's 16 rows hold mma.sync's m16n8 layout (winograd.cuh's wino_mma_c_row/col). */
__device__ __forceinline__ void wg_xchg(float *Ms, const float (&acc)[8][16], int wg, int warp,
                                        int lane)
{
    const int g8 = lane >> 2, t4 = lane & 3;
#pragma unroll
    for (int q = 0; q < 8; q++)
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                Ms[((8 * wg + q) * WINO_BT + wino_mma_c_col(i, e, t4)) * (WINO_BK + 1) +
                   wino_mma_c_row(warp & 3, e, g8)] = acc[q][4 * i + e];
}
#endif /* SC_WGMMA_DEVICE */
#endif /* !SC_GPU_HIP */

#endif /* SC_GPU_WINOGRAD_WG_CUH */
