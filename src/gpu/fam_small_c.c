/* fam_small_c.c - the small-C direct kernels: forward and backward-data of stems with C <= 4
 * input channels, where the GEMM would have a reduction (forward) or columns (backward-data) of
 * a handful (small_c.cu, small_c_phase.cu); backward-weight of 3x3 layers with at most 16 input
 * channels a group, where the GEMM's M = Kg by N = Cg*9 tiles would be mostly padding
 * (small_c_bw.cu), and of 1x1 layers with at most 64 channels in and out (small_c_bw1.cu). */
#include "gpu/family.h"
#include "gpu/knobs.h"
#include "gpu/small_c.h"

static bool sc_applies(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    (void)dev;
    return (rq->dir == SC_DIR_FORWARD && sc_small_c_fwd_applies(kp)) ||
           (rq->dir == SC_DIR_BACKWARD_DATA && sc_small_c_bwd_applies(kp)) ||
           (rq->dir == SC_DIR_BACKWARD_WEIGHT &&
            (sc_small_c_bw_applies(kp) || sc_small_c_bw1_applies(kp)));
}

/* Forward only below 64 output channels: from 64 on the implicit GEMM is faster (H200:
 * ResNet's 7x7 stem 1.16 -> 0.68 ms, 3->64 3x3 0.031 -> 0.014 ms; the YOLO stem, 3->16, stays
 * faster on small-C, 0.052 vs 0.088 ms; bench/NOTES.md, run 16). Backward-weight where one
 * block holds all of a group's output channels (Kg <= SCW_KB), where the GEMM pads its tiles
 * most (bench/NOTES.md, "Backward-weight of few channels a group"): for exact fp32, and on AMD
 * for every dtype; on NVIDIA, 16-bit and TF32 keep the matrix units until measured. The 1x1
 * kernel where it was measured faster than the GEMM (H100: 16 -> 16 and 32 -> 16 at 112x112,
 * 1.2-2.8x), K <= 16 and C <= 32, and the reduction long (N*P*Q >= 2^14; shorter ones are a
 * launch either way, and the GEMM needs no slice sum), the same dtypes; not at K = C = 32,
 * where it ran 1.4-1.7x slower (bench/NOTES.md, "A small-C backward-weight for narrow 1x1
 * layers"). SAFECONV_GPU_SMALLC_BW=0 never, 1 wherever it applies. */
static bool sc_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    if (rq->dir == SC_DIR_FORWARD) return kp->c <= 4 && kp->k < 64 && sc_small_c_fwd_applies(kp);
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT) {
        int knob = sc_gpu_knobs_get()->smallc_bw;
        bool exact = kp->dtype == SC_DTYPE_F32 && rq->math == SC_MATH_EXACT;
        if (knob != 0 && sc_small_c_bw1_applies(kp))
            return knob > 0 ||
                   (kp->k <= 16 && kp->c <= 32 && (long long)kp->n * kp->p * kp->q >= (1ll << 14) &&
                    (exact || dev->hip));
        if (knob == 0 || !sc_small_c_bw_applies(kp)) return false;
        return knob > 0 || (kp->kg <= SCW_KB && (exact || dev->hip));
    }
    return rq->dir == SC_DIR_BACKWARD_DATA && kp->c <= 4 && sc_small_c_bwd_applies(kp);
}

/* Backward-weight: its row slices in `splits`, their partial sums in the workspace. */
static void sc_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev, sc_kplan *out)
{
    sc_fam_plan_plain(SC_ALGO_GPU_DIRECT_SMALL_C, out);
    if (rq->dir != SC_DIR_BACKWARD_WEIGHT) return;
    if (sc_small_c_bw1_applies(kp)) {
        out->splits =
            sc_scb1_slices(kp, dev->sm_count, sc_gpu_knobs_get()->smallc_bw_slices, rq->ws_limit);
        out->ws_bytes = sc_scb1_ws_bytes(kp, out->splits);
        return;
    }
    out->splits =
        sc_scw_slices(kp, dev->sm_count, sc_gpu_knobs_get()->smallc_bw_slices, rq->ws_limit);
    out->ws_bytes = sc_scw_ws_bytes(kp, out->splits);
}

const sc_gpu_family sc_fam_small_c = {SC_ALGO_GPU_DIRECT_SMALL_C, sc_applies, sc_preferred,
                                      sc_plan};
