/* knobs.h - the GPU backend's experiment switches, read from the environment in one place
 * (knobs.c), once per process. None is needed in normal use: they exist to force a variant
 * for tests and measurements (docs/gpu.md lists them). A value of -1 means "unset: the
 * heuristic decides". */
#ifndef SC_GPU_KNOBS_H
#define SC_GPU_KNOBS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_gpu_knobs {
    int gemm_cfg;     /* SAFECONV_GPU_GEMM_CFG: force one named tile configuration (its number) */
    int gemm_splits;  /* SAFECONV_GPU_GEMM_SPLITS: force the reduction split where it fits */
    int gemm_lm;      /* SAFECONV_GPU_GEMM_LM: 0/1 epilogue lanes along M for NCHW outputs */
    int gemm_cc;      /* SAFECONV_GPU_GEMM_CC: 0 no channel-chunked plans, 1 only those */
    int gemm_serial;  /* SAFECONV_GPU_GEMM_SERIAL: 0 no serial backward-weight splits */
    int gemm_bw32;    /* SAFECONV_GPU_GEMM_BW32: 0 backward-weight gathers with 64-bit offsets */
    int gemm_mma;     /* SAFECONV_GPU_GEMM_MMA: 0 never the matrix-unit GEMM by default */
    int gemm_wgmma;   /* SAFECONV_GPU_GEMM_WGMMA: 0 never configurations 5-8 (wgmma) */
    int gemm_persist; /* SAFECONV_GPU_GEMM_PERSIST: the longest reduction, in 128-byte stages,
                       * configuration 7 is planned for; 0 never by default */
    int gemm_persist_blocks; /* SAFECONV_GPU_GEMM_PERSIST_BLOCKS: configuration 7's grid at most
                              * this many blocks (tests: several tiles a block on small problems) */
    int gemm_wgmma_tf32bw;   /* SAFECONV_GPU_GEMM_WGMMA_TF32BW: 0 never TF32 backward-weight on
                              * wgmma (configuration 5) by default: mma.sync's tiles instead */
    int gemm_wgmma_n256;     /* SAFECONV_GPU_GEMM_WGMMA_N256: 0 never configuration 8 (wgmma,
                              * 128x256 tiles) by default */
    int smallc_pix;   /* SAFECONV_GPU_SMALLC_PIX: 1 or 4 pixels a thread, small-C backward-data */
    int smallc_phase; /* SAFECONV_GPU_SMALLC_PHASE: 1 small-C backward-data in stride phases
                       * wherever it applies, 0 never */
    int smallc_bw;    /* SAFECONV_GPU_SMALLC_BW: 0 never the small-C backward-weight by default, 1
                    * wherever it applies */
    int smallc_bw_slices; /* SAFECONV_GPU_SMALLC_BW_SLICES: its row slices */
    int winograd; /* SAFECONV_GPU_WINOGRAD: 0 never Winograd by default, 1 wherever it applies */
    int winograd_1stage; /* SAFECONV_GPU_WINOGRAD_1STAGE: 1 the one-stage (AMD) variant on NVIDIA */
    int winograd_splits; /* SAFECONV_GPU_WINOGRAD_SPLITS: backward-weight reduction slices */
    int winograd_bw_tile; /* SAFECONV_GPU_WINOGRAD_BW_TILE: backward-weight tile, 0 the wide one
                           * (32 x 64 channels), 1 the narrow one (32 x 32), 2 the wide one with
                           * its GEMM steps in 3xTF32 (NVIDIA sm_80+), 3 F(3x3,4x4) (32 x 16),
                           * 4 the wide one on wgmma in 3xTF32 (sm_90a builds on sm_90);
                           * unset or another value, 4 where it applies, else 0 (winograd.h) */
    int winograd_tile;    /* SAFECONV_GPU_WINOGRAD_TILE: 0 the FMA forward and backward-data
                           * kernel (wino_main) everywhere; unset or another value, the wgmma one
                           * where it applies (fam_winograd.c) */
    int bias_slices;      /* SAFECONV_GPU_BIAS_SLICES: the bias gradient's row slices */
    int dw_slices;        /* SAFECONV_GPU_DW_SLICES: NHWC depthwise backward-weight's row slices */
    int dw_plane;         /* SAFECONV_GPU_DW_PLANE: 0 the generic NCHW depthwise backward-weight */
    int debug;            /* SAFECONV_GPU_DEBUG: set = print every plan on stderr */
} sc_gpu_knobs;

/* The switches of this process (read at the first call; thread-safe). */
const sc_gpu_knobs *sc_gpu_knobs_get(void);

#ifdef __cplusplus
}
#endif

#endif /* SC_GPU_KNOBS_H */
