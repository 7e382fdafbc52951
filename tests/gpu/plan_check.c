/* plan_check.c - the GPU planner's promises, checked on the host with the C compiler alone (no
 * GPU, no CUDA): `make test-c` runs it once per experiment-switch setting worth checking (the
 * switches are read once per process). For random problems, directions, devices and workspace
 * limits:
 *   1. default selection succeeds for fp32 and picks a family that can implement the problem;
 *   2. a GEMM plan is one the launchers have a kernel for (sc_gemm_cfg_built, the serial
 *      epilogue built, the gather valid for the direction and layout), and its workspace is
 *      sc_gemm_ws_bytes of it and within the limit; a Winograd plan is for an fp32 3x3
 *      stride-1 layer with its workspace (the filter transform, or the backward-weight
 *      slices, each of which has tiles) within the limit;
 *      the depthwise family's NHWC backward-weight cuts its rows into slices whose partial
 *      sums need workspace within the limit (check_dw), and so does the small-C family's
 *      backward-weight (check_small_c);
 *      other families need no workspace but the bias gradient's: backward-bias and
 *      backward-weight plans cut its rows into slices whose partial sums need workspace,
 *      within the limit (check_bias);
 *   3. planning is a function of its inputs: the same request gives the same plan, bit for bit
 *      (the size query and the call of one shape agree because they make the same plan);
 *   4. forcing a family gives that family's plan where it can implement the problem and
 *      UNSUPPORTED where it cannot;
 *   5. named layers take the routes measured for them (check_routes).
 * Exit status 1 on a failure; the first failures are printed. */
#include "gpu/bias.h"
#include "gpu/depthwise.h"
#include "gpu/family.h"
#include "gpu/gemm_cfg.h"
#include "gpu/gemm_plan.h"
#include "gpu/mma_cfg.h"
#include "gpu/small_c.h"
#include "gpu/winograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long rng = 88172645463325252ull;
static int rnd(int a, int b)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return a + (int)(rng % (unsigned long long)(b - a + 1));
}

static int bad;

static void fail(const sc_problem *pb, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                 const sc_kplan *pl, const char *why)
{
    if (bad++ >= 10) return;
    const sc_conv2d_desc *d = &pb->d;
    printf("FAIL %s: dir %d n%lld c%lld %lldx%lld k%lld r%lldx%lld s%lld,%lld g%lld %s limit %zu "
           "sm %d hip %d -> %s cfg %d splits %d lm %d gather %d serial %d ws %zu\n",
           why, (int)rq->dir, (long long)d->n, (long long)d->c, (long long)d->h, (long long)d->w,
           (long long)d->k, (long long)d->r, (long long)d->s, (long long)d->stride_h,
           (long long)d->stride_w, (long long)d->groups, d->layout == SC_NHWC ? "nhwc" : "nchw",
           rq->ws_limit, dev->sm_count, (int)dev->hip, sc_algo_name(pl->algo), pl->cfg, pl->splits,
           pl->lm, pl->gather, pl->serial, pl->ws_bytes);
}

/* The workspace a plan needs: its family's, or the bias gradient's partial sums where the
 * direction computes the bias gradient in slices (they reuse the family's workspace). */
static size_t with_bias(const sc_kp *kp, const sc_gpu_request *rq, const sc_kplan *pl, size_t fam)
{
    bool dirs = rq->dir == SC_DIR_BACKWARD_WEIGHT || rq->dir == SC_DIR_BACKWARD_BIAS;
    size_t b = dirs ? sc_bias_ws_bytes(kp, pl->bias_slices) : 0;
    return b > fam ? b : fam;
}

static void check_bias(const sc_problem *pb, const sc_kp *kp, const sc_gpu_request *rq,
                       const sc_gpu_dev *dev, const sc_kplan *pl)
{
    bool dirs = rq->dir == SC_DIR_BACKWARD_WEIGHT || rq->dir == SC_DIR_BACKWARD_BIAS;
    long long rows = (long long)kp->n * kp->p * kp->q;
    if (pl->bias_slices < 1 || pl->bias_slices > BIAS_MAX_SLICES ||
        (!dirs && pl->bias_slices != 1) || pl->bias_slices > rows)
        return fail(pb, rq, dev, pl, "bias slices out of range");
    if (pl->bias_slices > 1 &&
        (pl->ws_bytes < sc_bias_ws_bytes(kp, pl->bias_slices) || pl->ws_bytes > rq->ws_limit))
        return fail(pb, rq, dev, pl, "bias slices without their workspace, or over the limit");
}

static void check_gemm(const sc_problem *pb, const sc_kp *kp, const sc_gpu_request *rq,
                       const sc_gpu_dev *dev, const sc_kplan *pl)
{
    sc_direction dir = rq->dir;
    if (pl->cfg < 0 || pl->cfg >= SC_GEMM_NCFG || pl->splits < 1)
        return fail(pb, rq, dev, pl, "configuration or split out of range");
    if (!sc_gemm_cfg_built(pl->cfg, dir, kp->nhwc != 0, pl->gather, kp->dtype))
        return fail(pb, rq, dev, pl, "a configuration with no kernel");
    if (pl->serial &&
        (dir != SC_DIR_BACKWARD_WEIGHT || pl->splits < 2 ||
         !sc_gemm_serial_built(pl->cfg, kp->nhwc != 0, pl->gather, dev->hip, kp->dtype)))
        return fail(pb, rq, dev, pl, "a serial plan with no serial epilogue");
    if (pl->gather == SC_GATHER_CC &&
        (dir == SC_DIR_BACKWARD_WEIGHT || !sc_gemm_cc_applies(kp, dir)))
        return fail(pb, rq, dev, pl, "channel-chunked gathers where they do not apply");
    if (pl->gather == SC_GATHER_N32 && (dir != SC_DIR_BACKWARD_WEIGHT || kp->nhwc))
        return fail(pb, rq, dev, pl, "N32 gathers outside NCHW backward-weight");
    if (pl->gather == SC_GATHER_H32 && (dir != SC_DIR_BACKWARD_WEIGHT || !kp->nhwc))
        return fail(pb, rq, dev, pl, "H32 gathers outside NHWC backward-weight");
    if ((pl->gather == SC_GATHER_N32 || pl->gather == SC_GATHER_H32) &&
        ((long long)kp->k * kp->p * kp->q >= (1ll << 31) ||
         (long long)kp->c * kp->h * kp->w >= (1ll << 31)))
        return fail(pb, rq, dev, pl, "32-bit in-image gathers on an image of 2^31 elements");
    if (pl->gather < 0 || pl->gather > SC_GATHER_H32)
        return fail(pb, rq, dev, pl, "unknown gather");
    long long crs = (long long)kp->cg * kp->r * kp->s;
    if (pl->cfg == SC_GEMM_32x144 && getenv("SAFECONV_GPU_GEMM_CFG") == NULL &&
        !(crs > 128 && crs <= 144 && kp->kg <= 32))
        return fail(pb, rq, dev, pl, "32x144 outside 129-144 columns and 32 rows, unforced");
    if (pl->ws_bytes != with_bias(kp, rq, pl, sc_gemm_ws_bytes(kp, dir, pl)))
        return fail(pb, rq, dev, pl, "ws_bytes is not the plan's workspace");
    if (pl->ws_bytes > rq->ws_limit) return fail(pb, rq, dev, pl, "workspace over the limit");
}

static void check_mma(const sc_problem *pb, const sc_kp *kp, const sc_gpu_request *rq,
                      const sc_gpu_dev *dev, const sc_kplan *pl)
{
    if (dev->hip || dev->cc < 80 || !kp->nhwc || rq->align < 16)
        return fail(pb, rq, dev, pl, "matrix units where they cannot run");
    if (kp->dtype == SC_DTYPE_F32 && rq->math != SC_MATH_TF32)
        return fail(pb, rq, dev, pl, "TF32 without the math mode that allows it");
    if (pl->tf32 != (kp->dtype == SC_DTYPE_F32)) return fail(pb, rq, dev, pl, "tf32 flag");
    if (pl->cfg < 0 || pl->cfg >= SC_MMA_NCFG || pl->splits < 1)
        return fail(pb, rq, dev, pl, "configuration or split out of range");
    bool pad = rq->dir != SC_DIR_BACKWARD_DATA && kp->cg % sc_mma_vec(kp->dtype) != 0;
    if (!sc_mma_cfg_built(pl->cfg, rq->dir, pad, sc_mma_esize(kp->dtype)))
        return fail(pb, rq, dev, pl, "a configuration the launcher has no kernel for");
    if (sc_mma_is_wgmma(pl->cfg) && (!dev->wgmma || !sc_mma_wgmma_applies(kp, rq->dir)))
        return fail(pb, rq, dev, pl, "wgmma on a device, build or problem without it");
    if (pl->cfg == SC_MMA_WGMMA_PERSIST_CFG && pl->splits != 1)
        return fail(pb, rq, dev, pl, "the persistent configuration with a split");
    size_t wcopy = sc_mma_is_wgmma(pl->cfg) ? sc_mma_wgmma_filter_bytes(kp, rq->dir) : 0;
    if (kp->kg % sc_mma_vec(kp->dtype) ||
        (kp->cg % sc_mma_vec(kp->dtype) && rq->dir == SC_DIR_BACKWARD_DATA))
        return fail(pb, rq, dev, pl, "channels not a multiple of the chunk");
    if (pl->ws_bytes > rq->ws_limit) return fail(pb, rq, dev, pl, "workspace over the limit");
    if (pl->bias_slices <= 1 && (pl->splits > 1) != (pl->ws_bytes > wcopy))
        return fail(pb, rq, dev, pl, "split workspace");
    if (pl->ws_bytes < wcopy) return fail(pb, rq, dev, pl, "wgmma's filter copy without room");
}

/* The depthwise family: slices and workspace only for the backward-weight it cuts into row
 * slices (depthwise.h: NHWC square filters, NCHW rows of 3-7 taps, long rows), each slice with
 * rows, the partial sums within the limit. */
static void check_dw(const sc_problem *pb, const sc_kp *kp, const sc_gpu_request *rq,
                     const sc_gpu_dev *dev, const sc_kplan *pl)
{
    bool sliced = rq->dir == SC_DIR_BACKWARD_WEIGHT &&
                  (sc_dwb_applies(kp) || sc_dwbl_applies(kp) || sc_dwbp_applies(kp));
    long long rows = (long long)kp->n * kp->p;
    if (pl->splits < 1 || pl->splits > DWB_MAX_SLICES || (!sliced && pl->splits != 1) ||
        pl->splits > rows)
        return fail(pb, rq, dev, pl, "depthwise slices out of range");
    if (pl->ws_bytes != with_bias(kp, rq, pl, sliced ? sc_dwb_ws_bytes(kp, pl->splits) : 0) ||
        (pl->splits > 1 && pl->ws_bytes > rq->ws_limit))
        return fail(pb, rq, dev, pl, "depthwise workspace wrong or over the limit");
}

/* The small-C family: slices and workspace only for backward-weight (small_c.h), a 3x3 layer
 * of at most SCW_MAX_CG channels a group, each slice with rows, the partial sums within the
 * limit. */
static void check_small_c(const sc_problem *pb, const sc_kp *kp, const sc_gpu_request *rq,
                          const sc_gpu_dev *dev, const sc_kplan *pl)
{
    bool bw = rq->dir == SC_DIR_BACKWARD_WEIGHT;
    long long rows = (long long)kp->n * kp->p;
    if (bw && kp->r == 1 && kp->s == 1) { /* the 1x1 kernel (small_c_bw1.cu) */
        if (!sc_small_c_bw1_applies(kp))
            return fail(pb, rq, dev, pl,
                        "small-C 1x1 backward-weight for a shape it does not take");
        if (pl->splits < 1 || pl->splits > SCB1_MAX_SLICES || pl->splits > rows)
            return fail(pb, rq, dev, pl, "small-C 1x1 slices out of range");
        if (pl->ws_bytes != with_bias(kp, rq, pl, sc_scb1_ws_bytes(kp, pl->splits)) ||
            (pl->splits > 1 && pl->ws_bytes > rq->ws_limit))
            return fail(pb, rq, dev, pl, "small-C 1x1 workspace wrong or over the limit");
        if (sc_scb1_groups(kp) < 1)
            return fail(pb, rq, dev, pl, "small-C 1x1 without a group of threads");
        return;
    }
    if (bw && (kp->r != 3 || kp->s != 3 || kp->cg > SCW_MAX_CG || kp->sw > 2 || kp->sh > 2 ||
               kp->dh != 1 || kp->dw != 1))
        return fail(pb, rq, dev, pl,
                    "small-C backward-weight planned for a shape it does not compute");
    if (pl->splits < 1 || pl->splits > SCW_MAX_SLICES || (!bw && pl->splits != 1) ||
        pl->splits > rows)
        return fail(pb, rq, dev, pl, "small-C slices out of range");
    if (pl->ws_bytes != with_bias(kp, rq, pl, bw ? sc_scw_ws_bytes(kp, pl->splits) : 0) ||
        (pl->splits > 1 && pl->ws_bytes > rq->ws_limit))
        return fail(pb, rq, dev, pl, "small-C workspace wrong or over the limit");
    sc_scw_geo g = sc_scw_geometry(kp);
    if (bw && (g.smem > SCW_SMEM_FLOATS * 4 || g.nrg < 1 || g.rb < 1))
        return fail(pb, rq, dev, pl, "small-C backward-weight geometry out of range");
}

static void check_wino(const sc_problem *pb, const sc_kp *kp, const sc_gpu_request *rq,
                       const sc_gpu_dev *dev, const sc_kplan *pl)
{
    /* dilation: forward and backward-data only, in phases (winograd.cuh), with padding up to
     * twice it */
    bool dil = kp->dh != 1 || kp->dw != 1;
    if (kp->dtype != SC_DTYPE_F32 || kp->r != 3 || kp->s != 3 || kp->sh != 1 || kp->sw != 1 ||
        kp->g != 1 || kp->dh < 1 || kp->dw < 1 || kp->ph > 2 * kp->dh || kp->pw > 2 * kp->dw ||
        (dil && rq->dir == SC_DIR_BACKWARD_WEIGHT))
        return fail(pb, rq, dev, pl, "Winograd planned for a shape it does not compute");
    size_t ws = rq->dir == SC_DIR_BACKWARD_WEIGHT ? sc_wino_bw_ws_bytes(kp, pl->splits)
                                                  : sc_wino_ws_bytes(kp, rq->dir);
    if (pl->ws_bytes != with_bias(kp, rq, pl, ws) || pl->ws_bytes > rq->ws_limit)
        return fail(pb, rq, dev, pl, "Winograd workspace wrong or over the limit");
    if (pl->splits < 1 || pl->splits > 64 || (rq->dir != SC_DIR_BACKWARD_WEIGHT && pl->splits != 1))
        return fail(pb, rq, dev, pl, "Winograd slices out of range");
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT && pl->splits > 1 &&
        (long long)(pl->splits - 1) * sc_wino_bw_tps_of(sc_wino_bw_units(kp, pl->cfg), pl->splits,
                                                        sc_wino_bw_step(pl->cfg)) >=
            sc_wino_bw_units(kp, pl->cfg))
        return fail(pb, rq, dev, pl, "Winograd backward-weight slice with no tiles");
    if (rq->dir == SC_DIR_BACKWARD_WEIGHT ? pl->cfg < 0 || pl->cfg > 4
                                          : pl->cfg != -1 && pl->cfg != 4)
        return fail(pb, rq, dev, pl, "Winograd tile out of range");
    /* the wgmma kernel (4) on an sm_90 device of an sm_90a build where the input and output
     * tensors (x and dy in every direction) have fewer than 2^31 elements each (its 32-bit
     * offsets; the bound written here), unless SAFECONV_GPU_WINOGRAD_TILE=0 (forward and
     * backward-data) or a tile 0-3 of SAFECONV_GPU_WINOGRAD_BW_TILE (backward-weight) is asked
     * for */
    bool fits = (long long)kp->n * kp->c * kp->h * kp->w < (1ll << 31) &&
                (long long)kp->n * kp->k * kp->p * kp->q < (1ll << 31);
    if (rq->dir != SC_DIR_BACKWARD_WEIGHT) {
        const char *ft = getenv("SAFECONV_GPU_WINOGRAD_TILE");
        bool fma = ft && *ft && atoi(ft) == 0;
        if ((pl->cfg == 4) != (dev->wgmma && fits && !fma))
            return fail(pb, rq, dev, pl,
                        "Winograd forward/backward-data wgmma tile planned wrongly");
        return;
    }
    /* the 3xTF32 tile (2) only when asked, and only where mma.sync TF32 exists (NVIDIA sm_80+);
     * asked elsewhere, the wide tile */
    const char *tile = getenv("SAFECONV_GPU_WINOGRAD_BW_TILE");
    bool asked3 = tile && atoi(tile) == 2, mma = !dev->hip && dev->cc >= 80;
    if ((pl->cfg == 2) != (asked3 && mma))
        return fail(pb, rq, dev, pl, "Winograd backward-weight's 3xTF32 tile planned wrongly");
    int asked = tile && *tile ? atoi(tile) : -1;
    if ((pl->cfg == 4) != (dev->wgmma && fits && (asked < 0 || asked > 3)))
        return fail(pb, rq, dev, pl, "Winograd backward-weight's wgmma tile planned wrongly");
    /* the narrow (1) and F(3x3,4x4) (3) tiles only when asked, on every device */
    if ((pl->cfg == 1 || pl->cfg == 3) && !(tile && atoi(tile) == pl->cfg))
        return fail(pb, rq, dev, pl, "Winograd backward-weight tile planned unasked");
    if (tile && (atoi(tile) == 1 || atoi(tile) == 3) && pl->cfg != atoi(tile))
        return fail(pb, rq, dev, pl, "Winograd backward-weight tile asked for and not planned");
    /* its default slices fit one wave where its slice's blocks do: one block an SM of the wide
     * tile, two of the narrow one (the kernel's launch bounds; written here, not taken from
     * winograd.h, so that a wrong count there fails) */
    long long blocks = sc_wino_bw_blocks(kp, pl->cfg),
              wave = (long long)dev->sm_count * (pl->cfg == 1 ? 2 : 1);
    if (!getenv("SAFECONV_GPU_WINOGRAD_SPLITS") && blocks <= wave && blocks * pl->splits > wave)
        return fail(pb, rq, dev, pl, "Winograd backward-weight slices past one wave");
}

/* Routes the default selection must take on named layers (fp32 NCHW, an H200-like device):
 * each entry was measured (bench/NOTES.md), and a planner change that moves one fails here. */
static void check_routes(void)
{
    static const struct {
        const char *name;
        int n, c, h, w, k, r, s, stride, ph, pw, groups;
        sc_algo fwd, bd, bw;
        int dil;
    } routes[] = {
        /* one input channel, groups 1, a 1x64 filter: small-C forward, the depthwise family's
         * long-row kernels backward */
        {"eegnet_temporal", 64, 1, 22, 512, 16, 1, 64, 1, 0, 32, 1, SC_ALGO_GPU_DIRECT_SMALL_C,
         SC_ALGO_GPU_DIRECT_DEPTHWISE, SC_ALGO_GPU_DIRECT_DEPTHWISE, 1},
        /* a true depthwise layer keeps the depthwise kernel in every direction */
        {"dw_s2_32", 32, 32, 112, 112, 32, 3, 3, 2, 1, 1, 32, SC_ALGO_GPU_DIRECT_DEPTHWISE,
         SC_ALGO_GPU_DIRECT_DEPTHWISE, SC_ALGO_GPU_DIRECT_DEPTHWISE, 1},
        /* 3x3 backward-weight with 16 or fewer channels a group in and out: small-C's (on the
         * H200 0.35-0.46x the GEMM's time on these two, bench/NOTES.md, "The staged kernels on
         * the H200") */
        {"yolo_stem", 4, 3, 640, 640, 16, 3, 3, 2, 1, 1, 1, SC_ALGO_GPU_DIRECT_SMALL_C,
         SC_ALGO_GPU_DIRECT_SMALL_C, SC_ALGO_GPU_DIRECT_SMALL_C, 1},
        {"grouped_g8", 32, 128, 56, 56, 128, 3, 3, 1, 1, 1, 8, SC_ALGO_GPU_IMPLICIT_GEMM,
         SC_ALGO_GPU_IMPLICIT_GEMM, SC_ALGO_GPU_DIRECT_SMALL_C, 1},
        /* 3x3 stride 1, fp32: Winograd in every direction (3.7 G multiply-adds); YOLO's
         * 128-channel 20x20 layer (0.24 G, under 2^29) keeps the GEMM (fam_winograd.c) */
        {"r50_l3_3x3_256", 32, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1, SC_ALGO_GPU_WINOGRAD,
         SC_ALGO_GPU_WINOGRAD, SC_ALGO_GPU_WINOGRAD, 1},
        {"yolo_c2f_3x3_128", 4, 128, 20, 20, 128, 3, 3, 1, 1, 1, 1, SC_ALGO_GPU_IMPLICIT_GEMM,
         SC_ALGO_GPU_IMPLICIT_GEMM, SC_ALGO_GPU_IMPLICIT_GEMM, 1},
        /* dilation 2: Winograd in phases forward and backward-data (on an H100 0.41-0.48x the
         * GEMM's time, bench/NOTES.md "Dilated 3x3 layers on Winograd"), the GEMM
         * backward-weight */
        {"dil2_256", 8, 256, 64, 64, 256, 3, 3, 1, 2, 2, 1, SC_ALGO_GPU_WINOGRAD,
         SC_ALGO_GPU_WINOGRAD, SC_ALGO_GPU_IMPLICIT_GEMM, 2},
        /* narrow 1x1 backward-weight: the small-C 1x1 kernel at 16 output channels, the GEMM
         * at 32 x 32, where the 1x1 kernel ran slower */
        {"mnv3_02_1x1", 64, 16, 112, 112, 16, 1, 1, 1, 0, 0, 1, SC_ALGO_GPU_IMPLICIT_GEMM,
         SC_ALGO_GPU_IMPLICIT_GEMM, SC_ALGO_GPU_DIRECT_SMALL_C, 1},
        {"yolo_c2f_1x1_32", 4, 32, 160, 160, 32, 1, 1, 1, 0, 0, 1, SC_ALGO_GPU_IMPLICIT_GEMM,
         SC_ALGO_GPU_IMPLICIT_GEMM, SC_ALGO_GPU_IMPLICIT_GEMM, 1},
    };
    if (getenv("SAFECONV_GPU_WINOGRAD") || getenv("SAFECONV_GPU_GEMM_MMA") ||
        getenv("SAFECONV_GPU_SMALLC_BW"))
        return; /* the switches that move routes on purpose */
    sc_gpu_dev dev = {132, 90, false, false};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        sc_conv2d_desc d;
        sc_conv2d_desc_init(&d);
        d.n = routes[i].n, d.c = routes[i].c, d.h = routes[i].h, d.w = routes[i].w;
        d.k = routes[i].k, d.r = routes[i].r, d.s = routes[i].s;
        d.stride_h = d.stride_w = routes[i].stride, d.pad_h = routes[i].ph;
        d.pad_w = routes[i].pw, d.groups = routes[i].groups;
        d.dil_h = d.dil_w = routes[i].dil;
        sc_problem pb;
        if (sc__problem_init(&d, &pb)) {
            printf("FAIL route %s: the descriptor is rejected\n", routes[i].name);
            bad++;
            continue;
        }
        const sc_algo want[3] = {routes[i].fwd, routes[i].bd, routes[i].bw};
        for (int dir = 0; dir < 3; dir++) {
            sc_gpu_request rq = {(sc_direction)dir, SC_MATH_EXACT, (size_t)64 << 20, 16};
            sc_kplan pl;
            if (sc_gpu_select_plan(&pb, &rq, SC_ALGO_NONE, &dev, &pl) || pl.algo != want[dir]) {
                printf("FAIL route %s direction %d: %s, expected %s\n", routes[i].name, dir,
                       sc_algo_name(pl.algo), sc_algo_name(want[dir]));
                bad++;
            }
        }
    }
}

/* A layer pinned to (want) or away from (!want) one matrix-unit configuration: square NHWC
 * images, batch n, planned in direction dir with TF32 allowed on an H200-like device (132 SMs,
 * sm_90) with and without wgmma (without it, never a wgmma configuration). */
struct pin {
    const char *name;
    int dtype, n, c, h, k, r, stride, pad, dir;
    bool want;
};
/* Every pin set steps aside where a switch moves its plans on purpose: a forced configuration,
 * wgmma or the matrix units off, and the set's own switches (also, NULL-terminated). */
static bool plans_moved(const char *const *also)
{
    static const char *const always[] = {"SAFECONV_GPU_GEMM_CFG", "SAFECONV_GPU_GEMM_WGMMA",
                                         "SAFECONV_GPU_GEMM_MMA", NULL};
    for (int i = 0; always[i]; i++)
        if (getenv(always[i])) return true;
    for (int i = 0; also[i]; i++)
        if (getenv(also[i])) return true;
    return false;
}

static void check_pins(const char *what, int cfg, const struct pin *cases, size_t count,
                       const char *const *also)
{
    if (plans_moved(also)) return;
    for (size_t i = 0; i < count; i++) {
        const struct pin *t = &cases[i];
        sc_conv2d_desc d;
        sc_conv2d_desc_init(&d);
        d.n = t->n, d.c = t->c, d.h = d.w = t->h, d.k = t->k, d.r = d.s = t->r;
        d.stride_h = d.stride_w = t->stride, d.pad_h = d.pad_w = t->pad;
        d.layout = SC_NHWC, d.dtype = t->dtype;
        sc_problem pb;
        if (sc__problem_init(&d, &pb)) {
            printf("FAIL %s %s: the descriptor is rejected\n", what, t->name);
            bad++;
            continue;
        }
        for (int wg = 0; wg < 2; wg++) {
            sc_gpu_dev dev = {132, 90, false, wg != 0};
            sc_gpu_request rq = {(sc_direction)t->dir, SC_MATH_TF32, (size_t)64 << 20, 16};
            sc_kplan pl;
            bool want = t->want && dev.wgmma;
            if (sc_gpu_select_plan(&pb, &rq, SC_ALGO_NONE, &dev, &pl) ||
                pl.algo != SC_ALGO_GPU_IMPLICIT_GEMM_MMA || (pl.cfg == cfg) != want) {
                printf("FAIL %s %s direction %d wgmma %d: %s cfg %d, expected %s%d\n", what,
                       t->name, t->dir, wg, sc_algo_name(pl.algo), pl.cfg, want ? "" : "not ", cfg);
                bad++;
            }
        }
    }
}

/* Where configuration 7 (the persistent wgmma tile) is planned (fam_gemm_mma.c,
 * persist_wins): ResNet-50 layers at batch 64, TF32 or bf16, forward (0) and backward-data (1). */
static void check_persist(void)
{
    static const struct pin cases[] = {
        /* a 64-channel reduction; backward-data has 64 columns (configuration 6's) */
        {"r50_l1_1x1_64_256 tf32", SC_DTYPE_F32, 64, 64, 56, 256, 1, 1, 0, 0, true},
        {"r50_l1_1x1_64_256 tf32", SC_DTYPE_F32, 64, 64, 56, 256, 1, 1, 0, 1, false},
        {"r50_l1_1x1_256_64 tf32", SC_DTYPE_F32, 64, 256, 56, 64, 1, 1, 0, 0, false},
        {"r50_l1_1x1_256_64 tf32", SC_DTYPE_F32, 64, 256, 56, 64, 1, 1, 0, 1, true},
        /* strided backward-data at any length; forward's 8-stage reduction */
        {"r50_l2_down_256_512 tf32", SC_DTYPE_F32, 64, 256, 56, 512, 1, 2, 0, 0, true},
        {"r50_l2_down_256_512 tf32", SC_DTYPE_F32, 64, 256, 56, 512, 1, 2, 0, 1, true},
        /* long reductions stay on configuration 5 (or 8) */
        {"r50_l3_3x3_256 tf32", SC_DTYPE_F32, 64, 256, 14, 256, 3, 1, 1, 0, false},
        {"r50_l3_3x3_256 tf32", SC_DTYPE_F32, 64, 256, 14, 256, 3, 1, 1, 1, false},
        /* 16-bit: one stage is too short, eight are in */
        {"r50_l1_1x1_64_256 bf16", SC_DTYPE_BF16, 64, 64, 56, 256, 1, 1, 0, 0, false},
        {"r50_l1_1x1_64_256 bf16", SC_DTYPE_BF16, 64, 64, 56, 256, 1, 1, 0, 1, false},
        {"r50_l3_1x1_512_256 bf16", SC_DTYPE_BF16, 64, 512, 28, 256, 1, 1, 0, 0, true},
        {"r50_l3_1x1_512_256 bf16", SC_DTYPE_BF16, 64, 512, 28, 256, 1, 1, 0, 1, true},
    };
    static const char *const also[] = {"SAFECONV_GPU_GEMM_PERSIST", NULL};
    check_pins("persist", SC_MMA_WGMMA_PERSIST_CFG, cases, sizeof cases / sizeof cases[0], also);
}

/* TF32 backward-weight (2) on wgmma (configuration 5, mma/wgmma_tf32_bw.cuh): planned where it
 * fills its 128x128 tile, not on the 64-channel layers (the 64-row mma.sync tiles were measured
 * faster there). ResNet-50 layers at batch 64. */
static void check_tf32_bw(void)
{
    static const struct pin cases[] = {
        {"r50_l1_3x3_64", SC_DTYPE_F32, 64, 64, 56, 64, 3, 1, 1, 2, false},
        {"r50_l1_1x1_64_256", SC_DTYPE_F32, 64, 64, 56, 256, 1, 1, 0, 2, false},
        {"r50_l2_3x3_128", SC_DTYPE_F32, 64, 128, 28, 128, 3, 1, 1, 2, true},
        {"r50_l3_3x3_256", SC_DTYPE_F32, 64, 256, 14, 256, 3, 1, 1, 2, true},
        {"r50_l4_1x1_512_2048", SC_DTYPE_F32, 64, 512, 7, 2048, 1, 1, 0, 2, true},
    };
    static const char *const also[] = {"SAFECONV_GPU_GEMM_WGMMA_TF32BW", "SAFECONV_GPU_GEMM_SPLITS",
                                       NULL};
    check_pins("tf32 bw", SC_MMA_WGMMA_CFG, cases, sizeof cases / sizeof cases[0], also);
}

/* Where configuration 8 (wgmma, 128x256) is planned: ResNet-50 layers at batch 64 with 256 or
 * more output channels (forward, 0) or input channels (backward-data, 1), not where half its
 * columns would be empty, and not for the strided backward-data whose stride classes each
 * launch too few of its tiles to fill the SMs (r50_l4_3x3_512_s2: measured 35% slower there,
 * bench/NOTES.md). */
static void check_n256(void)
{
    static const struct pin cases[] = {
        {"r50_l3_3x3_256 tf32", SC_DTYPE_F32, 64, 256, 14, 256, 3, 1, 1, 0, true},
        {"r50_l3_3x3_256 bf16", SC_DTYPE_BF16, 64, 256, 14, 256, 3, 1, 1, 1, true},
        {"r50_l3_1x1_1024_256 bf16", SC_DTYPE_BF16, 64, 1024, 14, 256, 1, 1, 0, 0, true},
        {"r50_l2_3x3_128 tf32", SC_DTYPE_F32, 64, 128, 28, 128, 3, 1, 1, 0, false},
        {"r50_l4_3x3_512_s2 tf32", SC_DTYPE_F32, 64, 512, 14, 512, 3, 2, 1, 1, false},
    };
    static const char *const also[] = {"SAFECONV_GPU_GEMM_WGMMA_N256", "SAFECONV_GPU_GEMM_SPLITS",
                                       "SAFECONV_GPU_GEMM_PERSIST", NULL};
    check_pins("n256", SC_MMA_WGMMA_N256_CFG, cases, sizeof cases / sizeof cases[0], also);
}

/* Winograd backward-weight's floor (fam_winograd.c): YOLO's 32-channel 80x80 layer (0.24 G
 * multiply-adds, under 2^29) takes it only in NHWC where tile 4 runs (an sm_90 device with
 * wgmma; measured 0.64x the GEMM's time there, 0.71x in NCHW but 1.01-1.35x on NCHW layers alike);
 * a 0.06 G layer (8 x 32 x 28x28, 1.03x in NHWC) never does. */
static void check_wino_floor(void)
{
    if (getenv("SAFECONV_GPU_WINOGRAD") || getenv("SAFECONV_GPU_WINOGRAD_BW_TILE")) return;
    static const struct {
        int n, c, h, k;
        bool nhwc, wgmma, want;
    } cases[] = {
        {4, 32, 80, 32, true, true, true},   {4, 32, 80, 32, false, true, false},
        {4, 32, 80, 32, true, false, false}, {8, 32, 28, 32, true, true, false},
        {4, 64, 80, 64, false, true, true}, /* 0.94 G: over 2^29 in any layout */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sc_conv2d_desc d;
        sc_conv2d_desc_init(&d);
        d.n = cases[i].n, d.c = cases[i].c, d.h = d.w = cases[i].h, d.k = cases[i].k;
        d.r = d.s = 3, d.pad_h = d.pad_w = 1;
        d.layout = cases[i].nhwc ? SC_NHWC : SC_NCHW;
        sc_problem pb;
        sc_kplan pl;
        sc_gpu_dev dev = {132, 90, false, cases[i].wgmma};
        sc_gpu_request rq = {SC_DIR_BACKWARD_WEIGHT, SC_MATH_EXACT, (size_t)64 << 20, 16};
        if (sc__problem_init(&d, &pb) || sc_gpu_select_plan(&pb, &rq, SC_ALGO_NONE, &dev, &pl) ||
            (pl.algo == SC_ALGO_GPU_WINOGRAD) != cases[i].want) {
            printf("FAIL Winograd floor case %zu (n%d c%d %dx%d k%d %s wgmma %d): %s\n", i,
                   cases[i].n, cases[i].c, cases[i].h, cases[i].h, cases[i].k,
                   cases[i].nhwc ? "nhwc" : "nchw", cases[i].wgmma, sc_algo_name(pl.algo));
            bad++;
        }
    }
}

int main(int argc, char **argv)
{
    check_routes();
    check_wino_floor();
    check_persist();
    check_tf32_bw();
    check_n256();
    int count = argc > 1 ? atoi(argv[1]) : 20000, checked = 0;
    static const sc_algo fams[] = {SC_ALGO_GPU_IMPLICIT_GEMM,     SC_ALGO_GPU_DIRECT_DEPTHWISE,
                                   SC_ALGO_GPU_DIRECT_SMALL_C,    SC_ALGO_GPU_NAIVE,
                                   SC_ALGO_GPU_IMPLICIT_GEMM_MMA, SC_ALGO_GPU_WINOGRAD};
    for (int i = 0; i < count; i++) {
        sc_conv2d_desc d;
        sc_conv2d_desc_init(&d);
        int kind = rnd(0, 9);
        d.groups = kind < 6 ? 1 : kind < 8 ? 2 : rnd(2, 64);
        int cg = kind >= 8 ? 1 : rnd(0, 4) == 0 ? rnd(1, 4) : rnd(1, 256);
        int kg = kind >= 8 ? rnd(1, 2) : rnd(1, 512);
        if (kind < 8 && rnd(0, 1)) cg = (cg + 7) / 8 * 8, kg = (kg + 7) / 8 * 8; /* matrix units */
        d.c = (int64_t)cg * d.groups, d.k = (int64_t)kg * d.groups;
        d.n = rnd(1, 64), d.h = rnd(3, 60), d.w = rnd(3, 60);
        d.r = rnd(1, 7), d.s = rnd(1, 7);
        d.stride_h = rnd(1, 3), d.stride_w = rnd(1, 3);
        d.pad_h = d.r / 2, d.pad_w = d.s / 2;
        d.dil_h = rnd(0, 5) ? 1 : 2, d.dil_w = rnd(0, 5) ? 1 : 2;
        if (kind >= 8 && rnd(0, 1)) /* the sliced depthwise backward-weight's filters */
            d.r = d.s = 3 + 2 * rnd(0, 2), d.pad_h = d.pad_w = d.r / 2;
        if (rnd(0, 3) == 0) { /* Winograd's shapes, a third of them dilated */
            d.r = d.s = 3, d.stride_h = d.stride_w = d.dil_h = d.dil_w = 1, d.groups = 1, d.c = cg,
            d.k = kg, d.pad_h = rnd(0, 3), d.pad_w = rnd(0, 3);
            if (rnd(0, 2) == 0)
                d.dil_h = rnd(1, 70), d.dil_w = rnd(1, 4), d.pad_h = rnd(0, 2 * d.dil_h + 1),
                d.pad_w = rnd(0, 2 * d.dil_w + 1), d.h += 2 * d.dil_h, d.w += 2 * d.dil_w;
        }
        if (d.r == 3 && d.groups == 1 && rnd(0, 63) == 0) /* x of 2^31 elements or more */
            d.n = 1, d.c = rnd(240, 256), d.h = d.w = rnd(2990, 3100);
        d.layout = rnd(0, 1) ? SC_NHWC : SC_NCHW;
        d.dtype = rnd(0, 2) == 0 ? SC_DTYPE_F32 : rnd(0, 1) ? SC_DTYPE_F16 : SC_DTYPE_BF16;
        sc_problem pb;
        sc_kp kp;
        if (sc__problem_init(&d, &pb) || !sc_kp_make(&pb, &kp)) continue;
        sc_gpu_dev dev = {rnd(0, 1) ? 132 : 40, rnd(0, 1) ? 90 : 75, rnd(0, 3) == 0, false};
        dev.wgmma = !dev.hip && dev.cc == 90 && rnd(0, 1);
        size_t limit = rnd(0, 3) == 0 ? (size_t)rnd(0, 4096) : (size_t)rnd(0, 64) << 20;
        sc_gpu_request rq = {(sc_direction)rnd(0, 3), rnd(0, 1) ? SC_MATH_TF32 : SC_MATH_EXACT,
                             limit, rnd(0, 3) ? 16 : 2};
        sc_kplan a, b;
        checked++;
        if (sc_gpu_select_plan(&pb, &rq, SC_ALGO_NONE, &dev, &a)) {
            fail(&pb, &rq, &dev, &a, "default selection failed");
            continue;
        }
        const sc_gpu_family *f = sc_gpu_family_of(a.algo);
        if (!f || (rq.dir != SC_DIR_BACKWARD_BIAS && !f->can_implement(&kp, &rq, &dev)))
            fail(&pb, &rq, &dev, &a, "the chosen family cannot implement the problem");
        if (a.algo == SC_ALGO_GPU_IMPLICIT_GEMM && rq.dir != SC_DIR_BACKWARD_BIAS)
            check_gemm(&pb, &kp, &rq, &dev, &a);
        else if (a.algo == SC_ALGO_GPU_IMPLICIT_GEMM_MMA)
            check_mma(&pb, &kp, &rq, &dev, &a);
        else if (a.algo == SC_ALGO_GPU_WINOGRAD && rq.dir != SC_DIR_BACKWARD_BIAS)
            check_wino(&pb, &kp, &rq, &dev, &a);
        else if (a.algo == SC_ALGO_GPU_DIRECT_DEPTHWISE && rq.dir != SC_DIR_BACKWARD_BIAS)
            check_dw(&pb, &kp, &rq, &dev, &a);
        else if (a.algo == SC_ALGO_GPU_DIRECT_SMALL_C && rq.dir != SC_DIR_BACKWARD_BIAS)
            check_small_c(&pb, &kp, &rq, &dev, &a);
        else if (a.ws_bytes != with_bias(&kp, &rq, &a, 0))
            fail(&pb, &rq, &dev, &a, "a direct kernel asking for workspace");
        check_bias(&pb, &kp, &rq, &dev, &a);
        if (sc_gpu_select_plan(&pb, &rq, SC_ALGO_NONE, &dev, &b) || memcmp(&a, &b, sizeof a))
            fail(&pb, &rq, &dev, &b, "a second plan differs from the first");
        for (size_t j = 0; j < sizeof fams / sizeof fams[0]; j++) {
            const sc_gpu_family *ff = sc_gpu_family_of(fams[j]);
            bool can = rq.dir == SC_DIR_BACKWARD_BIAS || ff->can_implement(&kp, &rq, &dev);
            sc_status st = sc_gpu_select_plan(&pb, &rq, fams[j], &dev, &b);
            if (can && (st || b.algo != fams[j]))
                fail(&pb, &rq, &dev, &b, "a forced family that applies was not planned");
            else if (!can && st != SC_STATUS_UNSUPPORTED)
                fail(&pb, &rq, &dev, &b, "a forced family that does not apply was planned");
            else if (can && b.algo == SC_ALGO_GPU_IMPLICIT_GEMM && rq.dir != SC_DIR_BACKWARD_BIAS)
                check_gemm(&pb, &kp, &rq, &dev, &b);
            else if (can && b.algo == SC_ALGO_GPU_WINOGRAD && rq.dir != SC_DIR_BACKWARD_BIAS)
                check_wino(&pb, &kp, &rq, &dev, &b);
            else if (can && b.algo == SC_ALGO_GPU_DIRECT_DEPTHWISE &&
                     rq.dir != SC_DIR_BACKWARD_BIAS)
                check_dw(&pb, &kp, &rq, &dev, &b);
            else if (can && b.algo == SC_ALGO_GPU_DIRECT_SMALL_C && rq.dir != SC_DIR_BACKWARD_BIAS)
                check_small_c(&pb, &kp, &rq, &dev, &b);
            if (can && !st) check_bias(&pb, &kp, &rq, &dev, &b);
        }
    }
    const char *env[] = {"SAFECONV_GPU_GEMM_SPLITS",      "SAFECONV_GPU_GEMM_SERIAL",
                         "SAFECONV_GPU_GEMM_CC",          "SAFECONV_GPU_GEMM_CFG",
                         "SAFECONV_GPU_WINOGRAD",         "SAFECONV_GPU_WINOGRAD_SPLITS",
                         "SAFECONV_GPU_BIAS_SLICES",      "SAFECONV_GPU_DW_SLICES",
                         "SAFECONV_GPU_GEMM_PERSIST",     "SAFECONV_GPU_SMALLC_BW",
                         "SAFECONV_GPU_SMALLC_BW_SLICES", "SAFECONV_GPU_DW_PLANE",
                         "SAFECONV_GPU_WINOGRAD_BW_TILE", "SAFECONV_GPU_WINOGRAD_TILE"};
    printf("plan_check");
    for (size_t j = 0; j < sizeof env / sizeof env[0]; j++)
        if (getenv(env[j])) printf(" %s=%s", env[j] + 13, getenv(env[j]));
    printf(": %d problems, %d failed\n", checked, bad);
    return bad ? 1 : 0;
}
