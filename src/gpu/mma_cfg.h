/* mma_cfg.h - the matrix-unit implicit GEMM's named tile configurations (NVIDIA tensor cores,
 * mma.sync, sm_80+): one table for the planner (fam_gemm_mma.c, plain C) and the launchers
 * (mma/launch.cuh), constexpr in C++ as gemm_cfg.h is.
 *
 * Every configuration: 256 threads as 2 x 4 warps, a reduction step of 64 bytes per tile row
 * (BK = 32 fp16/bf16 or 16 TF32 elements), STAGES shared-memory stages filled by cp.async.
 *   id  BM x BN   warp tile  blocks/SM  stages
 *   0   128x128   64x32      1          4
 *   1   128x64    64x16      2          3
 *   2   64x128    32x32      2          3
 *   3   64x64     32x16      2          3 */
#ifndef SC_GPU_MMA_CFG_H
#define SC_GPU_MMA_CFG_H

#include "gpu/gemm_cfg.h" /* SC_CONSTEXPR */

// clang-format off
#define SC_MMA_CONFIGS(X) \
    X(0, 128, 128, 1, 4)  \
    X(1, 128, 64, 2, 3)   \
    X(2, 64, 128, 2, 3)   \
    X(3, 64, 64, 2, 3)
#define SC_MMA_X_BM(id, bm, bn, minb, st) case id: return bm;
#define SC_MMA_X_BN(id, bm, bn, minb, st) case id: return bn;
#define SC_MMA_X_MINB(id, bm, bn, minb, st) case id: return minb;
#define SC_MMA_X_STAGES(id, bm, bn, minb, st) case id: return st;
// clang-format on
enum {
    SC_MMA_NCFG = 4
};

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

/* Elements per 16-byte chunk (the unit of every global load): 8 fp16/bf16, 4 TF32 (fp32). The
 * channel counts a plan needs to be multiples of. */
static inline SC_CONSTEXPR int sc_mma_vec(int dtype) { return dtype == SC_DTYPE_F32 ? 4 : 8; }

/* Dynamic shared memory of a kernel: STAGES x (A tile + B tile), each tile either K-major
 * (rows of BK elements plus one chunk of padding) or row-major (BK rows of BM or BN elements
 * plus 8 of padding); the padding makes ldmatrix and the TF32 fragment loads conflict-free. */
static inline SC_CONSTEXPR int sc_mma_tile_bytes(int rows, bool kmajor, int esize)
{
    return kmajor ? rows * (64 / esize + 16 / esize) * esize : (64 / esize) * (rows + 8) * esize;
}
static inline SC_CONSTEXPR int sc_mma_smem_bytes(int cfg, bool a_kmajor, bool b_kmajor, int esize)
{
    return sc_mma_stages(cfg) * (sc_mma_tile_bytes(sc_mma_bm(cfg), a_kmajor, esize) +
                                 sc_mma_tile_bytes(sc_mma_bn(cfg), b_kmajor, esize));
}

#endif /* SC_GPU_MMA_CFG_H */
