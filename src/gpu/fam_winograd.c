/* fam_winograd.c - Winograd for fp32 3x3 stride-1 layers (winograd.h): F(2x2,3x3) forward and
 * backward-data (winograd.cu, the transformed filter in the workspace), F(3x3,2x2)
 * backward-weight (winograd_bw.cu, reduction slices in the workspace). Exact fp32; where TF32
 * is allowed the matrix units come first in the list and stay there: on the H200 they ran these
 * layers 1.1-1.6x faster than Winograd in fp32 (bench/NOTES.md, "Winograd", run W3). */
#include "gpu/family.h"
#include "gpu/knobs.h"
#include "gpu/winograd.h"

static bool wino_can(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)dev;
    if (!sc_wino_applies(kp, rq->dir)) return false;
    /* backward-weight: one slice needs no workspace */
    return rq->dir == SC_DIR_BACKWARD_WEIGHT || sc_wino_ws_bytes(kp, rq->dir) <= rq->ws_limit;
}

/* Backward-weight slices (SAFECONV_GPU_WINOGRAD_SPLITS asks for a count). */
static int bw_splits(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    int want = sc_gpu_knobs_get()->winograd_splits;
    return sc_wino_bw_splits(kp, want > 0 ? want : 0, dev->sm_count, rq->ws_limit);
}

/* Blocks of a plan's launch. */
static long long wino_blocks(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT)
        return (long long)((kp->k + WINO_BK - 1) / WINO_BK) * ((kp->c + WINO_BT - 1) / WINO_BT) *
               bw_splits(kp, rq, dev);
    int co = sc_wino_co(kp, rq->dir);
    return (sc_wino_tiles(kp, rq->dir) + WINO_BT - 1) / WINO_BT * ((co + WINO_BK - 1) / WINO_BK);
}

/* Preferred with at least 16 input and 16 output channels (below, the padding to WINO_BC and
 * WINO_BK is most of the work: the 3->64 layers ran up to 1.8x the GEMM's time) and a grid
 * of at least a third of the multiprocessors (YOLO's 128-channel 20x20 layer, 26 blocks on
 * 132 SMs, ran 1.4-1.6x the GEMM's time, which splits where the grid is short). Elsewhere on
 * the H200's 3x3 stride-1 suite it ran 0.47-0.97x the GEMM's time (bench/NOTES.md).
 * Backward-weight only when forced: it ran 0.64-0.90x the GEMM's time on the 64- and
 * 256-channel layers but 1.1-1.3x on the 128- and 512-channel ones, and up to 2.9x on small
 * ones (run W3). SAFECONV_GPU_WINOGRAD=1 takes it wherever it applies, 0 never. */
static bool wino_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    int knob = sc_gpu_knobs_get()->winograd;
    if (knob >= 0) return knob > 0 && wino_can(kp, rq, dev);
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT || !wino_can(kp, rq, dev)) return false;
    return sc_wino_ci(kp, rq->dir) >= 16 && sc_wino_co(kp, rq->dir) >= 16 &&
           3 * wino_blocks(kp, rq, dev) >= dev->sm_count;
}

static void wino_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                      sc_kplan *out)
{
    sc_fam_plan_plain(SC_ALGO_GPU_WINOGRAD, out);
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT) {
        out->splits = bw_splits(kp, rq, dev);
        out->ws_bytes = sc_wino_bw_ws_bytes(kp, out->splits);
    } else {
        out->ws_bytes = sc_wino_ws_bytes(kp, rq->dir);
    }
}

const sc_gpu_family sc_fam_winograd = {SC_ALGO_GPU_WINOGRAD, wino_can, wino_preferred, wino_plan};
