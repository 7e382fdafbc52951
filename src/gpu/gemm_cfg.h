/* gemm_cfg.h - the FMA implicit GEMM's named tile configurations and the rules of which kernels
 * are built: one table that the planner (gemm_plan.c, plain C) and the launchers
 * (gemm/launch.cuh, CUDA/HIP) both derive from. The functions are constexpr in C++, so the
 * launchers test the same rules at compile time that the planner tests at run time. */
#ifndef SC_GPU_GEMM_CFG_H
#define SC_GPU_GEMM_CFG_H

#include "safeconv.h"

#include <stdbool.h>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define SC_CONSTEXPR constexpr __host__ __device__
#elif defined(__cplusplus)
#define SC_CONSTEXPR constexpr
#else
#define SC_CONSTEXPR
#endif

/* Block tile BM x BN, thread micro-tile TM x TN, 256 threads; blocks per SM the kernel is
 * compiled for (registers <= 65536 / (256 x blocks)). The numbers are stable: they are what
 * SAFECONV_GPU_GEMM_CFG takes and what tuning reports ("gemm tile 6 split 2").
 *   0  128x128  8x8  1 block/SM (more registers, fewer warps: few tiles)
 *   1  128x64   8x4  2        2  64x128  4x8  2        3  64x64  4x4  2
 *   4  128x32   8x2  2        5  32x128  2x8  2
 *   6  128x128  8x8  2 on CUDA (row descriptors in shared memory keep it at 128 registers);
 *                    1 on HIP, where it is cfg 0 again
 *   7  256x64   8x8  as 6: the 8x8 micro-tile for GEMMs with 64 columns (a 64-channel layer's
 *   8  64x256   8x8  as 6   forward and backward-data), which 128x128 pads by half
 *   9  32x144   2x9  2: backward-weight of 3x3 layers with 16 input channels a group (Cg*R*S =
 *                    144 columns, which 32x128 pads to 256); fp32 only */
#define SC_GEMM_CONFIGS(X)                                                                         \
    X(0, 128, 128, 8, 8)                                                                           \
    X(1, 128, 64, 8, 4)                                                                            \
    X(2, 64, 128, 4, 8)                                                                            \
    X(3, 64, 64, 4, 4)                                                                             \
    X(4, 128, 32, 8, 2)                                                                            \
    X(5, 32, 128, 2, 8)                                                                            \
    X(6, 128, 128, 8, 8)                                                                           \
    X(7, 256, 64, 8, 8)                                                                            \
    X(8, 64, 256, 8, 8)                                                                            \
    X(9, 32, 144, 2, 9)
enum {
    SC_GEMM_NCFG = 10
};
enum {
    SC_GEMM_128x128_1 = 0,
    SC_GEMM_128x128_2 = 6,
    SC_GEMM_256x64 = 7,
    SC_GEMM_64x256 = 8,
    SC_GEMM_32x144 = 9
};

/* Operand-gather variants (sc_kplan.gather):
 *   PLAIN  the gathers that follow each tensor's own layout (every direction and layout);
 *   CC     channel-chunked: NCHW forward/backward-data, the reduction in (r,s,c) order on a
 *          (k,r,s,c) copy of the weight in the workspace (gemm/gather_cc.cuh);
 *   N32    NCHW backward-weight with 32-bit offsets inside an image (gemm/gather_bw.cuh);
 *   H32    NHWC backward-weight with 32-bit offsets inside an image (gemm/gather_bw.cuh). */
enum {
    SC_GATHER_PLAIN = 0,
    SC_GATHER_CC = 1,
    SC_GATHER_N32 = 2,
    SC_GATHER_H32 = 3
};

/* The table's columns as functions (constexpr in C++). */
// clang-format off
#define SC_GEMM_X_BM(id, bm, bn, tm, tn) case id: return bm;
#define SC_GEMM_X_BN(id, bm, bn, tm, tn) case id: return bn;
#define SC_GEMM_X_TM(id, bm, bn, tm, tn) case id: return tm;
#define SC_GEMM_X_TN(id, bm, bn, tm, tn) case id: return tn;
// clang-format on
static inline SC_CONSTEXPR int sc_gemm_bm(int cfg)
{
    switch (cfg) {
        SC_GEMM_CONFIGS(SC_GEMM_X_BM)
    }
    return 0;
}
static inline SC_CONSTEXPR int sc_gemm_bn(int cfg)
{
    switch (cfg) {
        SC_GEMM_CONFIGS(SC_GEMM_X_BN)
    }
    return 0;
}
static inline SC_CONSTEXPR int sc_gemm_tm(int cfg)
{
    switch (cfg) {
        SC_GEMM_CONFIGS(SC_GEMM_X_TM)
    }
    return 0;
}
static inline SC_CONSTEXPR int sc_gemm_tn(int cfg)
{
    switch (cfg) {
        SC_GEMM_CONFIGS(SC_GEMM_X_TN)
    }
    return 0;
}

/* The 8x8 micro-tiles compiled for two blocks per SM on CUDA (6, 7, 8: row descriptors in shared
 * memory; one block on HIP), as opposed to cfg 0, the 8x8 tile of one block everywhere. */
static inline SC_CONSTEXPR bool sc_gemm_8x8_shared_rows(int cfg)
{
    return cfg != 0 && sc_gemm_tm(cfg) == 8 && sc_gemm_tn(cfg) == 8;
}

/* Blocks per SM the kernel is compiled for (hip: built by hipcc). */
static inline SC_CONSTEXPR int sc_gemm_minb(int cfg, bool hip)
{
    return cfg == 0 ? 1 : sc_gemm_8x8_shared_rows(cfg) ? (hip ? 1 : 2) : 2;
}

/* Kernels not built because they would need more than 128 registers and spill (the CI build
 * check fails on a spill): 256x64 for NCHW backward-weight (256 rows of dy recomputed per
 * fetch), 64x256 for forward, and 64x256 with the N32 gathers (the plain ones compute the same
 * bits there). fp16/bf16 tensors (loaded as 16-bit, computed in fp32: AMD's RDNA path, and on
 * NVIDIA the verification of that path) get the four tiles 0-3 with the plain gathers only, to
 * keep the build small; the matrix-unit family is their fast path where there is one. 32x144 is
 * built for fp32 backward-weight only (its one use). */
static inline SC_CONSTEXPR bool sc_gemm_cfg_built(int cfg, int dir, bool nhwc, int gather,
                                                  int dtype)
{
    return !(cfg == 7 && dir == SC_DIR_BACKWARD_WEIGHT && !nhwc) &&
           !(cfg == 9 && (dir != SC_DIR_BACKWARD_WEIGHT || dtype != SC_DTYPE_F32)) &&
           !(cfg == 8 && dir == SC_DIR_FORWARD) && !(cfg == 8 && gather == SC_GATHER_N32) &&
           (dtype == SC_DTYPE_F32 || (cfg <= 3 && gather == SC_GATHER_PLAIN));
}

/* The serial backward-weight epilogue (gemm_kernel's SER, OpBwT) is compiled in except where it
 * would spill: NCHW 64x256, and NCHW 128x128 at two blocks per SM with the plain gathers; and
 * only for fp32 dw (16-bit dw would be rounded between the splits). */
static inline SC_CONSTEXPR bool sc_gemm_serial_built(int cfg, bool nhwc, int gather, bool hip,
                                                     int dtype)
{
    return dtype == SC_DTYPE_F32 &&
           (nhwc ||
            (cfg != 8 && !(cfg == 6 && sc_gemm_minb(cfg, hip) == 2 && gather == SC_GATHER_PLAIN)));
}

#endif /* SC_GPU_GEMM_CFG_H */
