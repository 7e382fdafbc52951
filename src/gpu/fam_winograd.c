/* fam_winograd.c - Winograd F(2x2,3x3) (winograd.cu): fp32 forward and backward-data of 3x3
 * stride-1 layers (winograd.h), with the transformed filter in the workspace. Exact math only:
 * where TF32 is allowed the matrix units come first in the list anyway. */
#include "gpu/family.h"
#include "gpu/knobs.h"
#include "gpu/winograd.h"

static bool wino_can(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)dev;
    return sc_wino_applies(kp, rq->dir) && sc_wino_ws_bytes(kp, rq->dir) <= rq->ws_limit;
}

/* Preferred with at least 16 input and 16 output channels (below, the padding to WINO_BC and
 * WINO_BK is most of the work: the 3->64 layers ran up to 1.8x the GEMM's time) and a grid
 * of at least a third of the multiprocessors (YOLO's 128-channel 20x20 layer, 26 blocks on
 * 132 SMs, ran 1.4-1.6x the GEMM's time, which splits where the grid is short). Elsewhere on
 * the H200's 3x3 stride-1 suite it ran 0.47-0.97x the GEMM's time (bench/NOTES.md).
 * SAFECONV_GPU_WINOGRAD=1 takes it wherever it applies, 0 never. */
static bool wino_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    int knob = sc_gpu_knobs_get()->winograd;
    if (knob >= 0) return knob > 0 && wino_can(kp, rq, dev);
    if (!wino_can(kp, rq, dev)) return false;
    bool fwd = rq->dir == SC_DIR_FORWARD;
    long long ho = fwd ? kp->p : kp->h, wo = fwd ? kp->q : kp->w;
    long long tiles = (long long)kp->n * ((ho + 1) / 2) * ((wo + 1) / 2);
    int co = sc_wino_co(kp, rq->dir);
    long long blocks = (tiles + WINO_BT - 1) / WINO_BT * ((co + WINO_BK - 1) / WINO_BK);
    return sc_wino_ci(kp, rq->dir) >= 16 && co >= 16 && 3 * blocks >= dev->sm_count;
}

static void wino_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                      sc_kplan *out)
{
    (void)dev;
    sc_fam_plan_plain(SC_ALGO_GPU_WINOGRAD, out);
    out->ws_bytes = sc_wino_ws_bytes(kp, rq->dir);
}

const sc_gpu_family sc_fam_winograd = {SC_ALGO_GPU_WINOGRAD, wino_can, wino_preferred, wino_plan};
