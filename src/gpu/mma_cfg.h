/* mma_cfg.h - the matrix-unit implicit GEMM's named tile configurations (NVIDIA tensor cores,
 * mma.sync, sm_80+): one table for the planner (fam_gemm_mma.c, plain C) and the launchers
 * (mma/launch.cuh), constexpr in C++ as gemm_cfg.h is.
 *
 * Every configuration: 256 threads as 2 x 4 warps, a reduction step of KBYTES bytes per tile row
 * (64: BK = 32 fp16/bf16 or 16 TF32 elements; 128: twice that, half the barriers per
 * reduction), STAGES shared-memory stages filled by cp.async. blocks/SM is the register
 * budget's target (__launch_bounds__), not a promise: shared memory may allow fewer.
 *   id  BM x BN   warp tile  blocks/SM  stages  KBYTES
 *   0   128x128   64x32      1          4       64
 *   1   128x64    64x16      2          3       64
 *   2   64x128    32x32      2          3       64
 *   3   64x64     32x16      2          3       64
 *   4   128x128   64x32      2          4       64
 *   5   128x128   64x128     1          4       128     (wgmma: two warpgroups of 64 rows;
 *                                                          TF32 6 stages, wgmma.cuh; TF32
 *                                                          backward-weight 5, wgmma_tf32_bw.cuh)
 *   6   128x64    64x64      2          4       128     (wgmma, K-major operands only)
 *   7   128x128   64x128     1          4       128     (wgmma, K-major, one split; a block
 *                                                          an SM walks the tiles)
 *   8   128x256   64x256     1          4       128     (wgmma, K-major operands only)
 * 4 is 0 with twice the warps per SM to hide the latencies of mma.sync and the gathers (the
 * larger tile's registers capped at 128 a thread); where that cap would spill, and for TF32
 * (sc_mma_cfg_built), it is not compiled and 0 runs instead. 5 runs Hopper's asynchronous
 * warpgroup instruction, operands straight from shared memory (128-byte swizzled rows), for
 * fp16/bf16 and TF32 forward (and backward-data computed as forward convolutions, below) and
 * backward-weight without channel padding (TF32's in mma/wgmma_tf32_bw.cuh, whose B is transposed
 * in shared memory); its own kernels (mma/wgmma.cuh), compiled
 * for sm_90a only, so the planner takes it only where the device and the build have it
 * (sc_gpu_dev.wgmma). 6 is 5 with 64 columns (wgmma m64n64): a layer with 64 output channels
 * (forward) or 64 input channels (backward-data) fills it, where it left half of 5's tile
 * empty; at two blocks per SM one block's epilogue overlaps the other's loads. 7 is 5 made
 * persistent for short reductions (1x1 layers of 64-256 channels), where a tile's few stages
 * cannot fill the pipeline: one block an SM computes tile after tile through one ring of 4
 * stages, a producer warpgroup loading the next tile's first stages while two consumer
 * warpgroups multiply and store the last one (its epilogue tile has its own shared memory); one
 * split only, so every tile's reduction is the same length (mma/wgmma_ws.cuh). 8 is 5 with 256
 * columns (wgmma m64n256, 128 accumulators a thread): a tile loads 3/4 of the bytes per
 * product that 5's does, for layers with 256 or more output channels (forward) or input
 * channels (backward-data). */
#ifndef SC_GPU_MMA_CFG_H
#define SC_GPU_MMA_CFG_H

#include "gpu/gemm_cfg.h" /* SC_CONSTEXPR */
#include "gpu/kparams.h"

#include <stddef.h>

// clang-format off
#define SC_MMA_CONFIGS(X)     \
    X(0, 128, 128, 1, 4, 64)  \
    X(1, 128, 64, 2, 3, 64)   \
    X(2, 64, 128, 2, 3, 64)   \
    X(3, 64, 64, 2, 3, 64)    \
    X(4, 128, 128, 2, 4, 64)  \
    X(5, 128, 128, 1, 4, 128) \
    X(6, 128, 64, 2, 4, 128)  \
    X(7, 128, 128, 1, 4, 128) \
    X(8, 128, 256, 1, 4, 128)
#define SC_MMA_X_BM(id, bm, bn, minb, st, kb) case id: return bm;
#define SC_MMA_X_BN(id, bm, bn, minb, st, kb) case id: return bn;
#define SC_MMA_X_MINB(id, bm, bn, minb, st, kb) case id: return minb;
#define SC_MMA_X_STAGES(id, bm, bn, minb, st, kb) case id: return st;
#define SC_MMA_X_KBYTES(id, bm, bn, minb, st, kb) case id: return kb;
// clang-format on
enum {
    SC_MMA_NCFG = 9,
    SC_MMA_WGMMA_CFG = 5,     /* Hopper's wgmma (mma/wgmma.cuh), sm_90a builds on sm_90 devices */
    SC_MMA_WGMMA_N64_CFG = 6, /* the same with 64 columns, K-major operands only */
    SC_MMA_WGMMA_PERSIST_CFG = 7, /* 5 walking tiles (K-major, one split) */
    SC_MMA_WGMMA_N256_CFG = 8     /* 5 with 256 columns, K-major operands only */
};

/* Whether a configuration runs the wgmma kernel (mma/wgmma.cuh) rather than mma.sync's. */
static inline SC_CONSTEXPR bool sc_mma_is_wgmma(int cfg)
{
    return cfg == SC_MMA_WGMMA_CFG || cfg == SC_MMA_WGMMA_N64_CFG ||
           cfg == SC_MMA_WGMMA_PERSIST_CFG || cfg == SC_MMA_WGMMA_N256_CFG;
}

static inline SC_CONSTEXPR int sc_mma_bm(int cfg)
{
    switch (cfg) {
        SC_MMA_CONFIGS(SC_MMA_X_BM)
    }
    return 0;
}
static inline SC_CONSTEXPR int sc_mma_bn(int cfg)
{
    switch (cfg) {
        SC_MMA_CONFIGS(SC_MMA_X_BN)
    }
    return 0;
}
static inline SC_CONSTEXPR int sc_mma_minb(int cfg)
{
    switch (cfg) {
        SC_MMA_CONFIGS(SC_MMA_X_MINB)
    }
    return 0;
}
static inline SC_CONSTEXPR int sc_mma_stages(int cfg)
{
    switch (cfg) {
        SC_MMA_CONFIGS(SC_MMA_X_STAGES)
    }
    return 0;
}
static inline SC_CONSTEXPR int sc_mma_kbytes(int cfg)
{
    switch (cfg) {
        SC_MMA_CONFIGS(SC_MMA_X_KBYTES)
    }
    return 0;
}
/* The reduction step in elements of esize bytes: a stage's tile rows (K-major) or rows
 * (row-major) along the reduction; split chunks are multiples of it. */
static inline SC_CONSTEXPR int sc_mma_kb(int cfg, int esize) { return sc_mma_kbytes(cfg) / esize; }

/* Whether a configuration is compiled for a direction (dir: sc_direction), elements of esize
 * bytes and, for forward and backward-weight, operands with channels padded to the chunk (pad).
 * 4 is for fp16/bf16 forward without padding and backward-data: it fits 128 registers a thread
 * without spilling there, not in backward-weight nor in padded forward, whose iterators keep
 * more state (the CI gate on spills, .ci/gpu_build_check.sh); TF32 (esize 4) ran its ResNet-50
 * training step 15% slower with it (bench/NOTES.md). The planner never picks, and the launcher
 * never compiles, a configuration that is not built. */
static inline SC_CONSTEXPR bool sc_mma_cfg_built(int cfg, int dir, bool pad, int esize)
{
    if (cfg == SC_MMA_WGMMA_CFG) return !pad;
    if (cfg == SC_MMA_WGMMA_N64_CFG || cfg == SC_MMA_WGMMA_PERSIST_CFG ||
        cfg == SC_MMA_WGMMA_N256_CFG)
        return !pad && dir != SC_DIR_BACKWARD_WEIGHT;
    return cfg != 4 || (esize == 2 && dir != SC_DIR_BACKWARD_WEIGHT && !pad);
}

/* Configurations 5 to 8 (wgmma) read both operands K-major, or (5) both MN-major
 * (wgmma.cuh). Forward has them K-major; backward-data with groups 1 is computed as one forward
 * convolution of dy per stride class, with the class's taps of the filter turned and transposed
 * (mma/bd_fwd.cuh; at stride 1 the whole filter turned 180 degrees,
 * w'[c][r][s][k] = w[k][R-1-r][S-1-s][c], padding (R-1)*dil - pad). Backward-weight has both
 * MN-major (dy's channels and x's (r, s, c) are contiguous at a pixel), which TF32 cannot read:
 * its backward-weight (configuration 5) transposes x into a K-major tile in shared memory and
 * reads dy into registers (mma/wgmma_tf32_bw.cuh).
 * mma/dir.cuh writes those filters, and in TF32 forward the filter rounded to TF32 (wgmma.cuh
 * reads B unrounded), to the start of the workspace (sc_mma_wgmma_filter_bytes, 256-aligned; the
 * split slices follow). */
/* The shortest reduction configurations 5 and 6 are planned for, in stages of 128 bytes (64
 * fp16/bf16 or 32 TF32 elements): below it the pipeline never fills and the 2-blocks-per-SM
 * mma.sync tiles win. 8 stages at first (bf16 ResNet-50 1x1 layers with 64-256 input channels
 * lost 4-40% on wgmma); 4 since TF32's 1x1 layers with 128-256 channels were measured 20-30%
 * faster on wgmma, and bf16's from 256 at par or faster (bench/NOTES.md, "wgmma"). */
#define SC_MMA_WGMMA_MIN_STAGES          4
/* The shortest and longest reductions, in stages of 128 bytes, configuration 7 (persistent) is
 * planned for (fam_gemm_mma.c, persist_wins; SAFECONV_GPU_GEMM_PERSIST overrides the longest):
 * TF32 from 2 stages (64 channels), fp16/bf16 from 3 (in practice 256 channels), to 8. */
#define SC_MMA_PERSIST_MIN_STAGES(esize) ((esize) == 4 ? 2 : 3)
#define SC_MMA_PERSIST_MAX_STAGES        8

/* Strided backward-data (one launch per stride class) only for TF32: there ResNet-50's six
 * strided layers ran 35-43% faster than on mma.sync, while fp16/bf16, whose 128x128 mma.sync
 * tile runs at two blocks per SM, moved from -19% to +23% (bench/NOTES.md, "wgmma with 64
 * columns"). */
static inline bool sc_mma_wgmma_applies(const sc_kp *kp, int dir)
{
    return dir == SC_DIR_FORWARD ||
           (dir == SC_DIR_BACKWARD_DATA && kp->g == 1 &&
            ((kp->sh == 1 && kp->sw == 1) || kp->dtype == SC_DTYPE_F32)) ||
           dir == SC_DIR_BACKWARD_WEIGHT;
}
static inline size_t sc_mma_wgmma_filter_bytes(const sc_kp *kp, int dir)
{
    bool f32 = kp->dtype == SC_DTYPE_F32;
    size_t b = dir == SC_DIR_BACKWARD_DATA ? (size_t)kp->k * kp->r * kp->s * kp->c * (f32 ? 4 : 2)
               : dir == SC_DIR_FORWARD && f32 ? (size_t)kp->k * kp->r * kp->s * kp->cg * 4
                                              : 0;
    return (b + 255) / 256 * 256;
}

/* Bytes of an operand element (the esize above) of a plan's dtype: 2 fp16/bf16, 4 TF32 (fp32). */
static inline SC_CONSTEXPR int sc_mma_esize(int dtype) { return dtype == SC_DTYPE_F32 ? 4 : 2; }

/* Elements per 16-byte chunk (the unit of every global load): 8 fp16/bf16, 4 TF32 (fp32). The
 * channel counts a plan needs to be multiples of. */
static inline SC_CONSTEXPR int sc_mma_vec(int dtype) { return 16 / sc_mma_esize(dtype); }

/* Forward with C/groups not a multiple of the chunk (padded, mma/op_fwd.cuh): with groups 1 and
 * an undilated filter width, a filter row's S*C elements are one contiguous run of x's row and
 * of w's, so the reduction pads once per filter row, not once per tap (ROW: a 7x7 stem on 3
 * channels reduces over 7*24 elements instead of 7*7*8). Backward-weight keeps the per-tap
 * padding: fused rows ran slower there in three of four stem cases (bench/NOTES.md). */
static inline bool sc_mma_row_fused(const sc_kp *kp)
{
    return kp->g == 1 && kp->dw == 1 && kp->s > 1 && kp->cg % sc_mma_vec(kp->dtype) != 0;
}

/* Dynamic shared memory of a kernel: STAGES x (A tile + B tile), each tile either K-major
 * (rows of BK elements plus one chunk of padding) or row-major (BK rows of BM or BN elements
 * plus 8 of padding); the padding makes ldmatrix and the TF32 fragment loads conflict-free
 * (a K-major row is 80 or 144 bytes: 8 consecutive rows start in 8 distinct 16-byte bank
 * groups). */
static inline SC_CONSTEXPR int sc_mma_tile_bytes(int rows, bool kmajor, int kbytes, int esize)
{
    return kmajor ? rows * (kbytes / esize + 16 / esize) * esize
                  : (kbytes / esize) * (rows + 8) * esize;
}
static inline SC_CONSTEXPR int sc_mma_smem_bytes(int cfg, bool a_kmajor, bool b_kmajor, int esize)
{
    return sc_mma_stages(cfg) *
           (sc_mma_tile_bytes(sc_mma_bm(cfg), a_kmajor, sc_mma_kbytes(cfg), esize) +
            sc_mma_tile_bytes(sc_mma_bn(cfg), b_kmajor, sc_mma_kbytes(cfg), esize));
}

#endif /* SC_GPU_MMA_CFG_H */
