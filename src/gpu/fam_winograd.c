/* fam_winograd.c - Winograd for fp32 3x3 stride-1 layers (winograd.h): F(2x2,3x3) forward and
 * backward-data (winograd.cu, or winograd_wg.cu on wgmma; the transformed filter in the
 * workspace), F(3x3,2x2)
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

/* Backward-weight tile (winograd.h): SAFECONV_GPU_WINOGRAD_BW_TILE=0-3 takes that tile (the
 * 3xTF32 one, 2, only where NVIDIA's mma.sync TF32 exists, sm_80+, else the wide one); unset or
 * any other value, the wgmma one (4) on an sm_90 device of a build with the sm_90a kernels where
 * x and dy fit its 32-bit offsets (sc_wino_wg_fits), else the wide one (0). */
static int bw_tile(const sc_kp *kp, const sc_gpu_dev *dev)
{
    int knob = sc_gpu_knobs_get()->winograd_bw_tile;
    if (knob == 2) return !dev->hip && dev->cc >= 80 ? 2 : 0;
    if (knob == 0 || knob == 1 || knob == 3) return knob;
    return dev->wgmma && sc_wino_wg_fits(kp) ? 4 : 0;
}

/* Forward and backward-data tile (the plan's cfg): 4, the wgmma kernel (winograd_wg.cu), on an
 * sm_90 device of a build with the sm_90a kernels where the input and output fit its 32-bit
 * offsets, unless SAFECONV_GPU_WINOGRAD_TILE=0 asks for the FMA kernel (wino_main, -1), which
 * runs everywhere else. On an H100 the wgmma kernel ran 0.67-0.83x the FMA kernel's time on
 * the ResNet-50, UNet and seed layers and 0.82-1.02x on YOLO's 16-64 channel ones
 * (bench/NOTES.md, "Winograd forward and backward-data on wgmma in 3xTF32"). */
static int fwd_tile(const sc_kp *kp, const sc_gpu_dev *dev)
{
    if (sc_gpu_knobs_get()->winograd_tile == 0) return -1;
    return dev->wgmma && sc_wino_wg_fits(kp) ? 4 : -1;
}

/* Backward-weight slices (SAFECONV_GPU_WINOGRAD_SPLITS asks for a count). */
static int bw_splits(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    int want = sc_gpu_knobs_get()->winograd_splits;
    return sc_wino_bw_splits(kp, bw_tile(kp, dev), want > 0 ? want : 0, dev->sm_count,
                             rq->ws_limit);
}

/* Blocks of a plan's launch. */
static long long wino_blocks(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT)
        return sc_wino_bw_blocks(kp, bw_tile(kp, dev)) * bw_splits(kp, rq, dev);
    int co = sc_wino_co(kp, rq->dir);
    return (sc_wino_tiles(kp, rq->dir) + WINO_BT - 1) / WINO_BT * ((co + WINO_BK - 1) / WINO_BK);
}

/* Preferred with at least 16 input and 16 output channels (below, the padding to WINO_BC and
 * WINO_BK is most of the work: the 3->64 layers ran up to 1.8x the GEMM's time) and a grid
 * of at least a third of the multiprocessors (YOLO's 128-channel 20x20 layer, 26 blocks on
 * 132 SMs, ran 1.4-1.6x the GEMM's time, which splits where the grid is short). Elsewhere on
 * the H200's 3x3 stride-1 suite it ran 0.47-0.97x the GEMM's time (bench/NOTES.md).
 * Backward-weight (x on the 32-row side) with the same channel floor and at least
 * WINO_BW_MIN_MACS multiply-adds of the direct form (N*P*Q*K*C*9): on the H200 it ran 0.41-0.92x
 * the GEMM's time on every 3x3 stride-1 suite layer above that, NCHW and NHWC (the 32-bit NHWC
 * gathers included), and 0.7-1.3x on YOLO's 0.24 G c2f layers, whose short reductions leave the
 * two close (bench/NOTES.md, "Winograd backward-weight as the default"). With tile 4 (wgmma,
 * sm_90) in NHWC from WINO_BW_WG_NHWC_MIN_MACS: on an H100 0.53-1.06x the GEMM's time on 14
 * layers of 0.15-0.38 G (geometric mean about 0.8x), while in NCHW the same layers ran 0.71-1.35x
 * (bench/NOTES.md, "tile 4 with U in registers", calls 7 and 10). Small-C comes first in the list
 * for 16 channels a group. Dilated layers (forward and backward-data, in phases) keep the same
 * rule: on an H100 0.30-0.81x the GEMM's time on eight layers of dilation 2-18 (bench/NOTES.md,
 * "Dilated 3x3 layers on Winograd"). SAFECONV_GPU_WINOGRAD=1 takes it wherever it applies, 0
 * never. */
#define WINO_BW_MIN_MACS         (1ll << 29)
#define WINO_BW_WG_NHWC_MIN_MACS (1ll << 27)
static bool wino_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    int knob = sc_gpu_knobs_get()->winograd;
    if (knob >= 0) return knob > 0 && wino_can(kp, rq, dev);
    if (!wino_can(kp, rq, dev) || sc_wino_ci(kp, rq->dir) < 16 || sc_wino_co(kp, rq->dir) < 16)
        return false;
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT) {
        long long floor =
            kp->nhwc && bw_tile(kp, dev) == 4 ? WINO_BW_WG_NHWC_MIN_MACS : WINO_BW_MIN_MACS;
        return (double)kp->n * kp->p * kp->q * kp->k * kp->c * 9 >= (double)floor;
    }
    return 3 * wino_blocks(kp, rq, dev) >= dev->sm_count;
}

static void wino_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                      sc_kplan *out)
{
    sc_fam_plan_plain(SC_ALGO_GPU_WINOGRAD, out);
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT) {
        out->cfg = bw_tile(kp, dev);
        out->splits = bw_splits(kp, rq, dev);
        out->ws_bytes = sc_wino_bw_ws_bytes(kp, out->splits);
    } else {
        out->cfg = fwd_tile(kp, dev);
        out->ws_bytes = sc_wino_ws_bytes(kp, rq->dir);
    }
}

const sc_gpu_family sc_fam_winograd = {SC_ALGO_GPU_WINOGRAD, wino_can, wino_preferred, wino_plan};
