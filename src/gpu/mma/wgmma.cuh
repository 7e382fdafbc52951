/* wgmma.cuh - the matrix-unit implicit GEMM on Hopper's warpgroup instructions (sm_90a:
 * wgmma.mma_async), configurations 5, 6 and 8 of mma_cfg.h (configuration 7, which walks several
 * tiles a block, is wgmma_ws.cuh's warp-specialised kernel on the same layout and instructions;
 * TF32 backward-weight is wgmma_tf32_bw.cuh's): operations whose two operands are K-major
 * (forward without channel padding, which backward-data runs as: bd_fwd.cuh), fp16/bf16 or fp32
 * as TF32, or both MN-major (fp16/bf16 backward-weight without channel padding).
 * Compiled only into gemm_wgmma.cu, which the build compiles for sm_90a (mk/gpu.mk); on every
 * other target the kernel is empty and the planner never picks it (sc_gpu_dev.wgmma).
 *
 * Block tile 128 x BN (BN = 128: configuration 5; 64: configuration 6 and 256: configuration 8,
 * K-major operands only; 8 keeps 128 accumulators a thread, 4 stages of 48 KiB),
 * 256 threads = two warpgroups; warpgroup wg computes rows 64*wg .. +63 against all BN columns
 * with wgmma m64nBNk16 (fp16/bf16) or m64nBNk8 (TF32): BN / 2 fp32 accumulators a thread. A
 * stage holds 128 bytes of the reduction (64 16-bit or 32 fp32 elements) for each of the 128 A
 * rows and BN B rows, stored with the 128-byte swizzle wgmma reads: the 16-byte chunk c of row r
 * sits at chunk c ^ (r % 8) of the row (rows of 128 bytes, tiles 1024-byte aligned), which also
 * keeps the cp.async stores of 8 consecutive rows in distinct banks. Loads are cp.async 16-byte
 * chunks, STAGES deep; a thread's chunks of a stage all sit at one reduction index, whose filter
 * tap it walks stage by stage (op_fwd.cuh, ATap) rather than dividing it out per chunk as
 * kernel.cuh's iterators do. A k-step (16 16-bit or 8 TF32 elements) is 32 bytes of the row
 * either way: 4 a stage.
 *
 * TF32: the tensor cores read fp32 words and ignore their 13 low mantissa bits (truncation);
 * safeconv's TF32 is rounding to nearest, ties away (cvt.rna, what the checker's reference
 * assumes, as kernel.cuh's fragments are). Rounding the stages in place in shared memory cost a
 * fifth to a third of the kernel (it doubled the shared-memory traffic; bench/NOTES.md, "TF32 on
 * Hopper's wgmma"), so neither operand is rounded there: B, the filter, is rounded once per call
 * into the workspace (mma/dir.cuh, mma_filter_copy), and A is read from shared memory into
 * registers with ldmatrix, rounded there and given to wgmma's register-A form, whose fragment of
 * m64nNk8 is mma.sync m16n8k8's per warp: warp w of the warpgroup holds rows 16w + g and
 * 16w + g + 8 (g = lane / 4) at k = t and t + 4 (t = lane % 4), registers {(g, t), (g + 8, t),
 * (g, t + 4), (g + 8, t + 4)}: ldmatrix.x4's four 8x8 16-bit matrices, each 8 rows of a 16-byte
 * chunk, give exactly that (lane l receives 32-bit word l % 4 of row l / 4 of each).
 *
 * The ring (fp16/bf16): stage kt is consumed at iteration kt by 4 wgmma; each warpgroup keeps
 * one group of them in flight (wgmma.wait_group 1), so the slot that iteration kt fills (stage
 * kt + STAGES - 2) is the one of stage kt - 2, whose wgmma every warpgroup has waited for
 * before the barrier of iteration kt. cp.async writes are generic-proxy stores that the tensor
 * cores read through the async proxy: each thread fences (fence.proxy.async) after its copies
 * land and before the barrier. TF32: the same ring, but a wgmma reads its A registers until its
 * group is waited for, and writing them before is undefined (ptxas does not always see it: a
 * first version that loaded stage kt + 1 into the registers of the group in flight computed
 * wrong results). So each iteration issues stage kt's group on registers cur, passes the
 * barrier of stage kt + 1, loads and rounds its A into nxt, waits for the group (wait_group 0)
 * and moves nxt to cur: the tensor cores drain once a stage, while the other warpgroup's group
 * may run.
 *
 * Backward-weight (fp16/bf16): both operands are MN-major, dy's chunks 8 consecutive output
 * channels (M) and x's 8 consecutive (r, s, c) columns (N) at one pixel (the reduction index),
 * as kernel.cuh's row-major tiles. wgmma reads them transposed (its last two immediates) in the
 * canonical MN-major layout with the 128-byte swizzle: 64 consecutive M (N) elements of one
 * reduction index form a 128-byte row, 8 consecutive reduction rows a 1024-byte atom whose
 * chunk c of row r sits at chunk c ^ r; a 128 x 64 tile is 2 groups of 64 along M (N) at 8192
 * bytes (the descriptor's leading offset) of 8 atoms along the reduction at 1024 bytes (its
 * stride offset). A thread copies chunk rc of reduction rows kk, kk + 16, kk + 32, kk + 48 of
 * each stage: x's walk the reduction (op_bw.cuh, b_next), dy's are addressed directly. TF32 has
 * no transposed form, so TF32 backward-weight stays on kernel.cuh.
 *
 * Epilogue as kernel.cuh's: the accumulators through an fp32 tile in shared memory, then to the
 * output in 16-byte runs (sc_mma_tile_out). The accumulator layout of m64nNk16 and m64nNk8: warp w
 * of the warpgroup holds rows 16w + g and 16w + g + 8 (g = lane / 4), and for each 8 columns i the
 * two columns 8i + 2t, 8i + 2t + 1 (t = lane % 4): registers 4i + {0, 1} (row g) and 4i + {2, 3}
 * (row g+8). */
#ifndef SC_GPU_MMA_WGMMA_CUH
#define SC_GPU_MMA_WGMMA_CUH

#include "kernel.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SC_WGMMA_DEVICE 1
#else
#define SC_WGMMA_DEVICE 0
#endif

#define SC_WGMMA_BM     128
#define SC_WGMMA_KBYTES 128 /* bytes of the reduction per stage and row: one swizzled row */
/* Stages in the ring: 4 for fp16/bf16; 6 for TF32, whose stage holds half the products
 * (6 x 32 KiB + 1 KiB of shared memory); 4 for both with 64 columns (4 x 24 KiB + 1 KiB: two
 * blocks an SM) and with 256 (4 x 48 KiB + 1 KiB). */
SC_HD constexpr int sc_wgmma_stages(int esize, int bn) { return bn == 128 && esize == 4 ? 6 : 4; }

#if SC_WGMMA_DEVICE
/* The shared-memory matrix descriptor of a K-major operand with the 128-byte swizzle: start
 * address >> 4 (bits 0-13), leading-dimension offset (unused for this layout: 1), stride
 * between groups of 8 rows = 1024 bytes >> 4 (bits 32-45), layout 1 = 128-byte swizzle (bits
 * 62-63). A k-step of 16 elements inside the 128-byte row adds 32 bytes to the start address:
 * the swizzle applies to the address bits, so the same XOR pattern holds. A k-step of 8 TF32
 * elements is the same 32 bytes. */
__device__ __forceinline__ unsigned long long sc_wgmma_desc(unsigned saddr)
{
    return (unsigned long long)((saddr & 0x3ffff) >> 4) | (1ull << 16) |
           ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}
/* The descriptor of an MN-major operand (wgmma.cuh's backward-weight layout, above): 64
 * consecutive M (N) elements of one reduction index are a 128-byte row, 8 rows of consecutive
 * reduction indices a 1024-byte swizzled atom; leading-dimension offset = the stride between
 * groups of 64 along M (N), 8192 bytes; stride offset = between groups of 8 reduction rows,
 * 1024 bytes. A k-step of 16 is two atoms: 2048 bytes on the start address. */
__device__ __forceinline__ unsigned long long sc_wgmma_desc_mn(unsigned saddr)
{
    return (unsigned long long)((saddr & 0x3ffff) >> 4) | ((unsigned long long)(8192 >> 4) << 16) |
           ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}
__device__ __forceinline__ void sc_wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::); }
__device__ __forceinline__ void sc_wgmma_commit()
{
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::);
}
template <int N>
__device__ __forceinline__ void sc_wgmma_wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void sc_fence_proxy_async()
{
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// clang-format off
#define SC_WGMMA_D64 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                   \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "          \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "          \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define SC_WGMMA_R8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]),               \
                       "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define SC_WGMMA_R64 SC_WGMMA_R8(0), SC_WGMMA_R8(8), SC_WGMMA_R8(16), SC_WGMMA_R8(24),            \
                     SC_WGMMA_R8(32), SC_WGMMA_R8(40), SC_WGMMA_R8(48), SC_WGMMA_R8(56)
#define SC_WGMMA_D32 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                   \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define SC_WGMMA_R32 SC_WGMMA_R8(0), SC_WGMMA_R8(8), SC_WGMMA_R8(16), SC_WGMMA_R8(24)
#define SC_WGMMA_D128 \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
#define SC_WGMMA_R128 SC_WGMMA_R64, SC_WGMMA_R8(64), SC_WGMMA_R8(72), SC_WGMMA_R8(80), SC_WGMMA_R8(88), \
                      SC_WGMMA_R8(96), SC_WGMMA_R8(104), SC_WGMMA_R8(112), SC_WGMMA_R8(120)
// clang-format on

/* d (64 x N fp32, this thread's N / 2) += A (64 x K, descriptor a) * B (K x N, descriptor b,
 * stored as N K-major rows); K = 16 for fp16/bf16, 8 for fp32 words as TF32. One overload per
 * element type: SHAPE the instruction's shape and types, IMM its immediates (accumulate into d,
 * A and B not negated; for 16-bit neither transposed, while TF32 has no transpose operands: both
 * K-major is its only layout); D and R the N / 2 accumulators' operand list and constraints, AB
 * the operand numbers of a and b after them. sc_wgmma_128 (N = 128), sc_wgmma_64 (N = 64,
 * configuration 6); sc_wgmma_128_mn: A (64 x 16) and B (16 x 128) MN-major
 * (sc_wgmma_desc_mn). */
#define SC_WGMMA_SS(NAME, T, SHAPE, IMM, D, R, AB)                                                 \
    __device__ __forceinline__ void NAME(T, float *d, unsigned long long a, unsigned long long b)  \
    {                                                                                              \
        asm volatile("wgmma.mma_async.sync.aligned." SHAPE " " D ", " AB ", " IMM ";\n"            \
                     : R                                                                           \
                     : "l"(a), "l"(b));                                                            \
    }
#define SC_WGMMA_128(NAME, T, SHAPE, IMM)                                                          \
    SC_WGMMA_SS(NAME, T, SHAPE, IMM, SC_WGMMA_D64, SC_WGMMA_R64, "%64, %65")
#define SC_WGMMA_64(NAME, T, SHAPE, IMM)                                                           \
    SC_WGMMA_SS(NAME, T, SHAPE, IMM, SC_WGMMA_D32, SC_WGMMA_R32, "%32, %33")
#define SC_WGMMA_256(NAME, T, SHAPE, IMM)                                                          \
    SC_WGMMA_SS(NAME, T, SHAPE, IMM, SC_WGMMA_D128, SC_WGMMA_R128, "%128, %129")
SC_WGMMA_128(sc_wgmma_128, sc_half, "m64n128k16.f32.f16.f16", "1, 1, 1, 0, 0")
SC_WGMMA_128(sc_wgmma_128, sc_bf16, "m64n128k16.f32.bf16.bf16", "1, 1, 1, 0, 0")
SC_WGMMA_128(sc_wgmma_128, float, "m64n128k8.f32.tf32.tf32", "1, 1, 1")
/* both operands MN-major (transposed: the last two immediates), 16-bit only */
SC_WGMMA_128(sc_wgmma_128_mn, sc_half, "m64n128k16.f32.f16.f16", "1, 1, 1, 1, 1")
SC_WGMMA_128(sc_wgmma_128_mn, sc_bf16, "m64n128k16.f32.bf16.bf16", "1, 1, 1, 1, 1")
SC_WGMMA_64(sc_wgmma_64, sc_half, "m64n64k16.f32.f16.f16", "1, 1, 1, 0, 0")
SC_WGMMA_64(sc_wgmma_64, sc_bf16, "m64n64k16.f32.bf16.bf16", "1, 1, 1, 0, 0")
SC_WGMMA_256(sc_wgmma_256, sc_half, "m64n256k16.f32.f16.f16", "1, 1, 1, 0, 0")
SC_WGMMA_256(sc_wgmma_256, sc_bf16, "m64n256k16.f32.bf16.bf16", "1, 1, 1, 0, 0")
#undef SC_WGMMA_128
#undef SC_WGMMA_64
#undef SC_WGMMA_256
#undef SC_WGMMA_SS
/* sc_wgmma_128 of 16-bit K-major operands with d scaled by acc (0 or 1) first: d = A * B where acc
 * is 0. Configuration 7 (wgmma_ws.cuh) starts each tile's accumulators so; zeroing them with other
 * instructions between its tiles makes ptxas serialise every wgmma of the kernel (C7515). */
#define SC_WGMMA_128Z(T, SHAPE)                                                                    \
    __device__ __forceinline__ void sc_wgmma_128z(T, float *d, unsigned long long a,               \
                                                  unsigned long long b, int acc)                   \
    {                                                                                              \
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                  \
                     "wgmma.mma_async.sync.aligned." SHAPE " " SC_WGMMA_D64                        \
                     ", %64, %65, p, 1, 1, 0, 0;\n}\n"                                             \
                     : SC_WGMMA_R64                                                                \
                     : "l"(a), "l"(b), "r"(acc));                                                  \
    }
SC_WGMMA_128Z(sc_half, "m64n128k16.f32.f16.f16")
SC_WGMMA_128Z(sc_bf16, "m64n128k16.f32.bf16.bf16")
#undef SC_WGMMA_128Z

/* d (64 x 128 fp32) += A (64 x 8 TF32, this thread's fragment a[4] in registers, layout above)
 * * B (8 x 128, descriptor b, 128 K-major rows). */
__device__ __forceinline__ void sc_wgmma_128_rs(float *d, const unsigned *a, unsigned long long b)
{
    asm volatile("wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 " SC_WGMMA_D64
                 ", {%64, %65, %66, %67}, %68, 1, 1, 1;\n"
                 : SC_WGMMA_R64
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}
/* The same with 64 columns (configuration 6): d (64 x 64 fp32, this thread's 32). */
__device__ __forceinline__ void sc_wgmma_64_rs(float *d, const unsigned *a, unsigned long long b)
{
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 " SC_WGMMA_D32
                 ", {%32, %33, %34, %35}, %36, 1, 1, 1;\n"
                 : SC_WGMMA_R32
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

/* The same with 256 columns (configuration 8): d (64 x 256 fp32, this thread's 128). */
__device__ __forceinline__ void sc_wgmma_256_rs(float *d, const unsigned *a, unsigned long long b)
{
    asm volatile("wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 " SC_WGMMA_D128
                 ", {%128, %129, %130, %131}, %132, 1, 1, 1;\n"
                 : SC_WGMMA_R128
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

/* The A registers of a wgmma group: a wgmma reads them after it issues, until its group is
 * waited for, while the compiler sees their last use at the issue and could give the registers
 * to the next stage's loads (undefined behaviour in PTX). An empty asm that "writes" them after
 * the wait keeps them allocated until then (as CUTLASS's warpgroup_fence_operand). */
__device__ __forceinline__ void sc_wgmma_keep(unsigned (&a)[4][4])
{
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) asm volatile("" : "+r"(a[i][j])::"memory");
}

/* After the wait for the group that read cur: cur takes the next stage's fragments, nxt (the
 * empty asm keeps cur allocated until that wait, sc_wgmma_keep). */
__device__ __forceinline__ void sc_wgmma_next_a(unsigned (&cur)[4][4], const unsigned (&nxt)[4][4])
{
    sc_wgmma_keep(cur);
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
        for (int i = 0; i < 4; i++) cur[ks][i] = nxt[ks][i];
}

/* An fp32 word rounded to TF32 (to nearest, ties away from zero: sc_tf32; the low 13 bits then
 * zero); in the mutant (tests only) left as it is: the tensor cores' truncation. */
__device__ __forceinline__ unsigned sc_wgmma_tf32(unsigned v)
{
#if !SC_MMA_MUTANT
    return sc_tf32(__uint_as_float(v));
#else
    return v;
#endif
}

/* This lane's ldmatrix row of its warp's 16 A rows of warpgroup wg (matrix lane / 8: 8 rows
 * further for the odd ones, the k-step's second chunk for the upper two), as a byte offset in a
 * stage's A tile (rows of 128 bytes). */
__device__ __forceinline__ unsigned sc_wgmma_a_row(int wg, int warp, int lane)
{
    return (unsigned)((wg * 64 + (warp & 3) * 16 + (lane & 8) + (lane & 7)) * 128);
}
/* The TF32 A fragments of a stage's 4 k-steps, rounded (the register-A layout above), from the
 * stage's A tile at `at` + sc_wgmma_a_row: each chunk swizzled by its row (row % 8 = lane % 8). */
__device__ __forceinline__ void sc_wgmma_load_a(unsigned (&a)[4][4], unsigned at, int lane)
{
    const int hi = lane >> 4, sw = lane & 7;
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
        sc_ldmatrix_x4(a[ks], at + (unsigned)(((2 * ks + hi) ^ sw) << 4));
#pragma unroll
    for (int ks = 0; ks < 4; ks++)
#pragma unroll
        for (int i = 0; i < 4; i++) a[ks][i] = sc_wgmma_tf32(a[ks][i]);
}
/* This thread's accumulators (warpgroup wg, its warp `warp`: the m64nN layout above) into the
 * fp32 tile Cs of rows of C_LD floats. */
template <int BN, int C_LD>
__device__ __forceinline__ void sc_wgmma_acc_out(const float *acc, float *Cs, int wg, int warp,
                                                 int lane)
{
    const int g = lane >> 2, t = lane & 3;
    const int r = wg * 64 + (warp & 3) * 16 + g;
#pragma unroll
    for (int i = 0; i < BN / 8; i++) {
        int c = 8 * i + 2 * t;
        *(float2 *)&Cs[r * C_LD + c] = make_float2(acc[4 * i], acc[4 * i + 1]);
        *(float2 *)&Cs[(r + 8) * C_LD + c] = make_float2(acc[4 * i + 2], acc[4 * i + 3]);
    }
}
/* The end of a one-tile block: every group and copy waited for, then the accumulators through
 * the fp32 tile Cs (128 x (BN + 4), over the consumed stages) to the output. wg, warp and lane
 * are the caller's own (tid's): recomputed here, they changed the 16-bit kernels' code. */
template <int BN, class Op>
__device__ __forceinline__ void sc_wgmma_epilogue(const Op &op, const typename Op::Block &blk,
                                                  const float *acc, unsigned char *smem, int m0,
                                                  int n0, int tid, int wg, int warp, int lane)
{
    constexpr int C_LD = BN + 4;
    sc_wgmma_wait<0>();
    sc_cp_async_wait<0>();
    __syncthreads(); /* every warpgroup is done with the stages */
    float *Cs = (float *)smem;
    sc_wgmma_acc_out<BN, C_LD>(acc, Cs, wg, warp, lane);
    __syncthreads();
    sc_mma_tile_out<SC_WGMMA_BM, BN, C_LD>(op, blk, Cs, m0, n0, tid);
}
#endif /* SC_WGMMA_DEVICE */

/* Dynamic shared memory for elements of esize bytes and bn columns: the stages (128 bytes a
 * row whatever the type), plus 1024 bytes to align them (the swizzle's period). */
static constexpr int sc_wgmma_smem_bytes(int esize, int bn)
{
    return sc_wgmma_stages(esize, bn) * (SC_WGMMA_BM + bn) * SC_WGMMA_KBYTES + 1024;
}

/* MN-major tile (128 x 64 16-bit elements, 16 KiB): the byte offset of 16-byte chunk rc
 * (elements 8rc .. 8rc+7 of M or N) of reduction row r: group rc / 8 of 64 elements at 8192
 * bytes, atom r / 8 at 1024, row r % 8 at 128, chunk rc % 8 swizzled by the row. */
SC_HD constexpr unsigned sc_wgmma_mn_off(int rc, int r)
{
    return (unsigned)((rc >> 3) * 8192 + (r >> 3) * 1024 + (r & 7) * 128 +
                      (((rc & 7) ^ (r & 7)) << 4));
}

template <class Op, int BN>
__global__ __launch_bounds__(256, BN == 64 ? 2 : 1) void wgmma_kernel(Op op)
{
#if SC_WGMMA_DEVICE
    typedef typename Op::Elem E;
    constexpr bool MN = !Op::A_KMAJOR; /* both operands MN-major: backward-weight */
    static_assert((sizeof(E) == 2 || sizeof(E) == 4) && !Op::A_PAD && !Op::B_PAD &&
                      (MN ? !Op::B_KMAJOR && sizeof(E) == 2 && BN == 128 : Op::B_KMAJOR) &&
                      (BN == 128 || BN == 64 || BN == 256),
                  "wgmma: 16-bit or TF32 operands both K-major, or 16-bit both MN-major at 128 "
                  "columns; no channel padding");
    constexpr bool TF32 = sizeof(E) == 4;
    constexpr int BM = SC_WGMMA_BM, STAGES = sc_wgmma_stages(sizeof(E), BN);
    constexpr int KB = SC_WGMMA_KBYTES / sizeof(E); /* elements of the reduction per stage */
    constexpr int CPR = SC_WGMMA_KBYTES / 16;       /* 16-byte chunks per row */
    constexpr int A_TILE = BM * SC_WGMMA_KBYTES, B_TILE = BN * SC_WGMMA_KBYTES; /* bytes */
    constexpr int A_PT = BM * CPR / 256, B_PT = BN * CPR / 256;

    extern __shared__ __align__(16) unsigned char sc_wgmma_smem[];
    const unsigned raw = sc_smem_u32(sc_wgmma_smem);
    const unsigned as0 = (raw + 1023u) & ~1023u, bs0 = as0 + STAGES * A_TILE;

    typename Op::Block blk;
    if (!op.block(blockIdx.z, blk)) return;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    if (m0 >= blk.M || n0 >= blk.N) return;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    /* K-major: every chunk this thread copies is chunk column kc of its row (256 is a multiple
     * of CPR): the A rows share one tap, walked a stage at a time (op_fwd.cuh, ATap). MN-major:
     * a thread's chunks are chunk rc of reduction rows kk, kk + 16, ... of the stage; B walks
     * the reduction (op_bw.cuh, b_next), A is addressed from it (a_src). */
    static_assert(256 % CPR == 0, "one chunk column per thread");
    const int kc = tid % CPR;
    typename MmaAIters<Op, !MN>::Row ai[A_PT]; /* kernel.cuh */
    typename Op::BIter bi[B_PT];
    unsigned a_dst[A_PT], b_dst[B_PT]; /* byte offsets inside a stage's tile, swizzled */
    typename MmaAIters<Op, !MN>::Tap tap;
    int kk; /* K-major: this thread's k in the next stage loaded; MN: the stage's first k */
    if constexpr (!MN) {
#pragma unroll
        for (int j = 0; j < A_PT; j++) {
            int row = (tid + j * 256) / CPR;
            op.a_row_init(blk, ai[j], m0 + row);
            a_dst[j] = (unsigned)(row * 128 + ((kc ^ (row & 7)) << 4));
        }
#pragma unroll
        for (int j = 0; j < B_PT; j++) {
            int row = (tid + j * 256) / CPR;
            op.b_init(blk, bi[j], n0 + row, kc);
            b_dst[j] = (unsigned)(row * 128 + ((kc ^ (row & 7)) << 4));
        }
        kk = blk.kbeg + kc * (16 / (int)sizeof(E));
        op.a_tap_init(kk, tap);
    } else {
        static_assert(A_PT == B_PT && BM == BN, "one chunk mapping for both MN-major tiles");
#pragma unroll
        for (int j = 0; j < A_PT; j++) {
            int id = tid + j * 256, r = id / (BM / 8), rc = id % (BM / 8); /* row r = k - k0 */
            op.a_init(blk, ai[j], m0 + rc * 8, r);
            op.b_init(blk, bi[j], n0 + rc * 8, r);
            a_dst[j] = b_dst[j] = sc_wgmma_mn_off(rc, r);
        }
        kk = blk.kbeg;
    }
    /* the next stage in k order into slot (stages are loaded in order, once each) */
    auto load_stage = [&](int slot) {
        if constexpr (!MN) {
            const bool kin = kk < blk.kend;
#pragma unroll
            for (int j = 0; j < A_PT; j++) {
                bool v;
                const E *src = op.a_src_tap(ai[j], tap, kin, v);
                sc_cp_async16(as0 + (unsigned)(slot * A_TILE) + a_dst[j], src, v);
            }
#pragma unroll
            for (int j = 0; j < B_PT; j++) {
                bool v;
                const E *src = op.b_src_k(bi[j], kk, kin, v);
                sc_cp_async16(bs0 + (unsigned)(slot * B_TILE) + b_dst[j], src, v);
            }
            op.a_tap_step(tap, KB);
        } else {
#pragma unroll
            for (int j = 0; j < A_PT; j++) {
                bool v;
                const E *src = op.a_src(blk, ai[j], kk, v);
                sc_cp_async16(as0 + (unsigned)(slot * A_TILE) + a_dst[j], src, v);
            }
#pragma unroll
            for (int j = 0; j < B_PT; j++) {
                bool v;
                const E *src = op.b_next(blk, bi[j], v);
                sc_cp_async16(bs0 + (unsigned)(slot * B_TILE) + b_dst[j], src, v);
            }
        }
        kk += KB;
    };

    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; i++) acc[i] = 0.f;

    const int kbeg = blk.kbeg, kend = blk.kend;
    const int nk = kend > kbeg ? (kend - kbeg + KB - 1) / KB : 0;
#pragma unroll
    for (int s = 0; s < STAGES - 2; s++) {
        if (s < nk) load_stage(s);
        sc_cp_async_commit();
    }
    /* stage j has landed (everyone's copies), and the slot of stage j - 2 is refilled */
    auto next_stage = [&](int j) {
        sc_cp_async_wait<STAGES - 3>(); /* stage j has landed (this thread's copies) */
        sc_fence_proxy_async();         /* ... visible to the tensor cores' reads */
        __syncthreads();                /* everyone's; every warpgroup is done with j - 2 */
        int nx = j + STAGES - 2;
        if (nx < nk) load_stage(nx % STAGES);
        sc_cp_async_commit();
    };
    const int wg = warp >> 2;
    if constexpr (!TF32) {
        /* warpgroup wg's 4 wgmma of stage kt (k-steps of 16 elements: 32 bytes along a K-major
         * row, two 1024-byte atoms of MN-major rows), committed as one group */
        auto mma_stage = [&](int kt) {
            const int st = kt % STAGES;
            const unsigned at = as0 + (unsigned)(st * A_TILE + wg * 64 * 128);
            const unsigned bt = bs0 + (unsigned)(st * B_TILE);
            const unsigned long long da = MN ? sc_wgmma_desc_mn(at) : sc_wgmma_desc(at);
            const unsigned long long db = MN ? sc_wgmma_desc_mn(bt) : sc_wgmma_desc(bt);
            constexpr unsigned long long KSTEP = MN ? 2048 >> 4 : 32 >> 4;
            sc_wgmma_fence();
#pragma unroll
            for (int ks = 0; ks < 4; ks++) {
                /* the 16-bit mutant (tests only) drops the first k-step of the last stage */
                if (SC_MMA_MUTANT && kt == nk - 1 && ks == 0) continue;
                if constexpr (MN)
                    sc_wgmma_128_mn(E(), acc, da + ks * KSTEP, db + ks * KSTEP);
                else if constexpr (BN == 128)
                    sc_wgmma_128(E(), acc, da + ks * KSTEP, db + ks * KSTEP);
                else if constexpr (BN == 256)
                    sc_wgmma_256(E(), acc, da + ks * KSTEP, db + ks * KSTEP);
                else
                    sc_wgmma_64(E(), acc, da + ks * KSTEP, db + ks * KSTEP);
            }
            sc_wgmma_commit();
        };
        for (int kt = 0; kt < nk; kt++) {
            next_stage(kt);
            mma_stage(kt);
            sc_wgmma_wait<1>();
        }
    } else {
        const unsigned a_row = sc_wgmma_a_row(wg, warp, lane);
        /* stage kt's A fragments of this warp, its 4 k-steps, rounded */
        auto load_a = [&](int kt, unsigned(&a)[4][4]) {
            sc_wgmma_load_a(a, as0 + (unsigned)((kt % STAGES) * A_TILE) + a_row, lane);
        };
        /* stage kt + 1's A are loaded and rounded into nxt while stage kt's group runs on cur;
         * then the group is waited for and nxt moved to cur (the ring above) */
        unsigned cur[4][4], nxt[4][4] = {}; /* zeros: the last stage moves nxt unloaded */
        if (nk > 0) {
            next_stage(0);
            load_a(0, cur);
        }
        for (int kt = 0; kt < nk; kt++) {
            const unsigned long long db = sc_wgmma_desc(bs0 + (unsigned)((kt % STAGES) * B_TILE));
            sc_wgmma_fence();
#pragma unroll
            for (int ks = 0; ks < 4; ks++) {
                if constexpr (BN == 128)
                    sc_wgmma_128_rs(acc, cur[ks], db + (unsigned long long)(ks * 2));
                else if constexpr (BN == 256)
                    sc_wgmma_256_rs(acc, cur[ks], db + (unsigned long long)(ks * 2));
                else
                    sc_wgmma_64_rs(acc, cur[ks], db + (unsigned long long)(ks * 2));
            }
            sc_wgmma_commit();
            if (kt + 1 < nk) {
                next_stage(kt + 1);
                load_a(kt + 1, nxt);
            }
            sc_wgmma_wait<0>();
            sc_wgmma_next_a(cur, nxt);
        }
    }
    static_assert(BM * (BN + 4) * 4 <= STAGES * (A_TILE + B_TILE), "epilogue tile too big");
    sc_wgmma_epilogue<BN>(op, blk, acc, sc_wgmma_smem + (as0 - raw), m0, n0, tid, wg, warp, lane);
#else
    (void)op;
#endif
}

#endif /* SC_GPU_MMA_WGMMA_CUH */
