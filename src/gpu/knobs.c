/* knobs.c - the experiment switches (knobs.h), read once. */
#include "gpu/knobs.h"

#include <pthread.h>
#include <stdlib.h>

static sc_gpu_knobs knobs;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* An integer switch; -1 when unset or empty. */
static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : -1;
}

static void read_knobs(void)
{
    knobs.gemm_cfg = env_int("SAFECONV_GPU_GEMM_CFG");
    knobs.gemm_splits = env_int("SAFECONV_GPU_GEMM_SPLITS");
    knobs.gemm_lm = env_int("SAFECONV_GPU_GEMM_LM");
    knobs.gemm_cc = env_int("SAFECONV_GPU_GEMM_CC");
    knobs.gemm_serial = env_int("SAFECONV_GPU_GEMM_SERIAL");
    knobs.gemm_bw32 = env_int("SAFECONV_GPU_GEMM_BW32");
    knobs.gemm_mma = env_int("SAFECONV_GPU_GEMM_MMA");
    knobs.gemm_wgmma = env_int("SAFECONV_GPU_GEMM_WGMMA");
    knobs.gemm_persist = env_int("SAFECONV_GPU_GEMM_PERSIST");
    knobs.gemm_persist_blocks = env_int("SAFECONV_GPU_GEMM_PERSIST_BLOCKS");
    knobs.gemm_wgmma_tf32bw = env_int("SAFECONV_GPU_GEMM_WGMMA_TF32BW");
    knobs.gemm_wgmma_n256 = env_int("SAFECONV_GPU_GEMM_WGMMA_N256");
    knobs.smallc_pix = env_int("SAFECONV_GPU_SMALLC_PIX");
    knobs.smallc_phase = env_int("SAFECONV_GPU_SMALLC_PHASE");
    knobs.smallc_bw = env_int("SAFECONV_GPU_SMALLC_BW");
    knobs.smallc_bw_slices = env_int("SAFECONV_GPU_SMALLC_BW_SLICES");
    knobs.winograd = env_int("SAFECONV_GPU_WINOGRAD");
    knobs.winograd_1stage = env_int("SAFECONV_GPU_WINOGRAD_1STAGE");
    knobs.winograd_splits = env_int("SAFECONV_GPU_WINOGRAD_SPLITS");
    knobs.winograd_bw_tile = env_int("SAFECONV_GPU_WINOGRAD_BW_TILE");
    knobs.winograd_tile = env_int("SAFECONV_GPU_WINOGRAD_TILE");
    knobs.bias_slices = env_int("SAFECONV_GPU_BIAS_SLICES");
    knobs.dw_slices = env_int("SAFECONV_GPU_DW_SLICES");
    knobs.dw_plane = env_int("SAFECONV_GPU_DW_PLANE");
    knobs.debug = getenv("SAFECONV_GPU_DEBUG") != NULL;
}

const sc_gpu_knobs *sc_gpu_knobs_get(void)
{
    pthread_once(&once, read_knobs);
    return &knobs;
}
