/* fam_gemm_mma.c - the implicit GEMM on the matrix units (NVIDIA tensor cores, sm_80+;
 * kernels: gemm_mma_*.cu, mma/): fp16 and bf16 tensors, and fp32 tensors as TF32 when the
 * context's math mode allows it, with fp32 accumulation. NHWC, 16-byte aligned tensors, K/groups
 * a multiple of the 16-byte chunk (8 fp16/bf16, 4 fp32), and C/groups too for backward-data:
 * operand tiles are filled by asynchronous 16-byte copies, except where forward and
 * backward-weight pad C/groups to the chunk (stems). Elsewhere the FMA families compute these
 * dtypes. */
#include "gpu/family.h"
#include "gpu/knobs.h"
#include "gpu/mma_cfg.h"

#include <limits.h>
#include <string.h>

typedef long long i64;

static bool mma_applies(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    if (dev->hip || dev->cc < 80) return false;
    if (kp->dtype == SC_DTYPE_F32 && rq->math != SC_MATH_TF32) return false;
    if (!kp->nhwc || rq->align < 16) return false;
    int v = sc_mma_vec(kp->dtype);
    /* K/groups: a multiple of the chunk (dy's rows, the outputs' 16-byte stores); C/groups too
     * for backward-data; forward and backward-weight pad it (mma/op_fwd.cuh, op_bw.cuh) */
    if (kp->kg % v || (kp->cg % v && rq->dir == SC_DIR_BACKWARD_DATA)) return false;
    const i64 lim = INT_MAX - 4096;
    i64 rs = (i64)kp->r * kp->s;
    i64 npq = (i64)kp->n * kp->p * kp->q, nhw = (i64)kp->n * kp->h * kp->w;
    if (npq > lim || nhw > lim || (i64)kp->cg * rs > lim || (i64)kp->kg * rs > lim ||
        (i64)kp->k * kp->cg * rs > lim)
        return false;
    /* grid.y counts tiles of 64 columns at most; grid.z groups (x stride classes) */
    switch (rq->dir) {
    case SC_DIR_FORWARD: return kp->g <= 65535 && kp->kg / 64 < 65535;
    case SC_DIR_BACKWARD_DATA: /* one launch covers at most 16 stride classes */
        return kp->sh * kp->sw <= 16 && (i64)kp->g * kp->sh * kp->sw <= 65535 &&
               kp->cg / 64 < 65535;
    case SC_DIR_BACKWARD_WEIGHT: return kp->g <= 65535 && (i64)kp->cg * rs / 64 < 65535;
    default: return false;
    }
}

static bool mma_preferred(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev)
{
    return sc_gpu_knobs_get()->gemm_mma != 0 && mma_applies(kp, rq, dev);
}

static i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

/* GEMM sizes (backward-data: the largest stride class) and the output's elements. */
static void dims(const sc_kp *kp, sc_direction dir, i64 *M, i64 *N, i64 *Kr, i64 *out)
{
    int v = sc_mma_vec(kp->dtype);
    i64 cp = (kp->cg + v - 1) / v * v; /* channels padded to the chunk */
    if (dir == SC_DIR_FORWARD) {       /* ROW: (s, c) padded once per filter row (mma/op_fwd.cuh) */
        i64 rsp = sc_mma_row_fused(kp) ? ((i64)kp->s * kp->cg + v - 1) / v * v * kp->r
                                       : cp * kp->r * kp->s;
        *M = (i64)kp->n * kp->p * kp->q, *N = kp->kg, *Kr = rsp;
        *out = (i64)kp->n * kp->k * kp->p * kp->q;
    } else if (dir == SC_DIR_BACKWARD_DATA) {
        *M = (i64)kp->n * ((kp->h + kp->sh - 1) / kp->sh) * ((kp->w + kp->sw - 1) / kp->sw);
        *N = kp->cg;
        *Kr = (i64)kp->kg * ((kp->r + kp->sh - 1) / kp->sh) * ((kp->s + kp->sw - 1) / kp->sw);
        *out = (i64)kp->n * kp->c * kp->h * kp->w;
    } else {
        *M = kp->kg, *N = cp * kp->r * kp->s, *Kr = (i64)kp->n * kp->p * kp->q;
        *out = (i64)kp->k * kp->cg * kp->r * kp->s;
    }
}

/* Split partial sums are fp32 slices: for fp32 (TF32) outputs split 0 writes the output itself,
 * for fp16/bf16 every split writes a slice and the reduction rounds once. */
static size_t ws_of(const sc_kp *kp, int splits, i64 out)
{
    if (splits <= 1) return 0;
    return (size_t)(kp->dtype == SC_DTYPE_F32 ? splits - 1 : splits) * (size_t)out * 4;
}

/* Configuration 7 (the persistent wgmma tile, mma_cfg.h) instead of the model's choice where
 * each tile's few stages cannot fill the pipeline, so that a one-tile block waits for its loads
 * with nothing else in flight, which the flop model below does not see (bench/NOTES.md, "A
 * persistent wgmma tile"):
 *   - more than 64 columns (N): with 64, configuration 6's tile runs two blocks an SM;
 *   - at least two waves of tiles to overlap;
 *   - a reduction of SC_MMA_PERSIST_MIN_STAGES(esize) stages or more (below it the 16-bit
 *     mma.sync tiles at two blocks an SM win), and at most SAFECONV_GPU_GEMM_PERSIST stages
 *     (default SC_MMA_PERSIST_MAX_STAGES: longer, its ring of 4 stages falls behind
 *     configuration 5's 6), except strided backward-data (TF32), whose stride classes are
 *     launched one after another with a quarter of the tiles each.
 * Never when a configuration is forced. */
static bool persist_wins(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev, i64 M,
                         i64 N, i64 Kr, bool pad)
{
    const sc_gpu_knobs *kn = sc_gpu_knobs_get();
    const int c = SC_MMA_WGMMA_PERSIST_CFG, esize = sc_mma_esize(kp->dtype);
    int lim = kn->gemm_persist >= 0 ? kn->gemm_persist : SC_MMA_PERSIST_MAX_STAGES;
    if (kn->gemm_cfg >= 0 || lim <= 0 || !dev->wgmma || kn->gemm_wgmma == 0) return false;
    if (!sc_mma_cfg_built(c, rq->dir, pad, esize) || !sc_mma_wgmma_applies(kp, rq->dir))
        return false;
    if (sc_mma_wgmma_filter_bytes(kp, rq->dir) > rq->ws_limit) return false;
    i64 stages = ceil_div(Kr, sc_mma_kb(c, esize)),
        zmul = rq->dir == SC_DIR_BACKWARD_DATA ? 1 : kp->g;
    i64 tiles = ceil_div(M, sc_mma_bm(c)) * ceil_div(N, sc_mma_bn(c)) * zmul;
    bool strided_bd = rq->dir == SC_DIR_BACKWARD_DATA && kp->sh * kp->sw > 1;
    return N > 64 && tiles >= 2 * (i64)dev->sm_count &&
           stages >= SC_MMA_PERSIST_MIN_STAGES(esize) && (stages <= lim || strided_bd);
}

/* TF32 backward-weight on wgmma (configuration 5, mma/wgmma_tf32_bw.cuh) against mma.sync's
 * 128x128 tile: 3-7% less time on ResNet-50's layers whose tile it fills (the per-call suite,
 * bench/NOTES.md, "TF32 backward-weight on wgmma"), not the 1.6 of the other wgmma operations:
 * by a count of bytes both kernels wait for what the tile loads, not for the tensor cores
 * (an estimate, not profiled). With 64 rows or columns (half its tile empty) the 64-row
 * mma.sync tiles stay ahead. */
#define SC_MMA_WGMMA_TF32_BW_EFF 1.05

/* Configuration 8 (wgmma, 128x256) against mma.sync's 128x128 tile: 5's 1.6 times the 4/3 of
 * the products a byte loaded buys (a 128x256 tile loads 384 rows a stage for 32768 products, a
 * 128x128 tile 256 for 16384), on the reading that 5's tiles wait for their loads (above);
 * measured on ResNet-50's layers it takes, 8-29% less time than on 5 (bench/NOTES.md, "128x256
 * wgmma tiles"). */
#define SC_MMA_WGMMA_N256_EFF 2.1

/* Time model (no timing): padded flops over the SMs at a rate per configuration (larger tiles
 * reuse each loaded element more: 128x128 = 1, 128x64 and 64x128 = 0.8, 64x64 = 0.6; 128x128 at
 * two blocks per SM hides more latency: 1.15; wgmma 128x128 1.6 (TF32 backward-weight 1.05),
 * 128x64 1.3, 128x256 2.1, bench/NOTES.md),
 * the wave efficiency of the grid, plus the split reduction's traffic and launch. Only ratios
 * matter. */
static void mma_plan(const sc_kp *kp, const sc_gpu_request *rq, const sc_gpu_dev *dev,
                     sc_kplan *out)
{
    static const int cand[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64};
    const sc_gpu_knobs *kn = sc_gpu_knobs_get();
    i64 M, N, Kr, outn;
    dims(kp, rq->dir, &M, &N, &Kr, &outn);
    /* forward and backward-weight pad C/groups to the chunk (mma/op_fwd.cuh, op_bw.cuh) */
    bool pad = rq->dir != SC_DIR_BACKWARD_DATA && kp->cg % sc_mma_vec(kp->dtype) != 0;
    int esize = sc_mma_esize(kp->dtype);
    bool tf32_bw = esize == 4 && rq->dir == SC_DIR_BACKWARD_WEIGHT;
    i64 zmul = rq->dir == SC_DIR_BACKWARD_DATA ? (i64)kp->g * kp->sh * kp->sw : kp->g;
    double best_t = 1e30;
    memset(out, 0, sizeof *out);
    out->algo = SC_ALGO_GPU_IMPLICIT_GEMM_MMA;
    out->cfg = 3, out->splits = 1;
    out->tf32 = kp->dtype == SC_DTYPE_F32;
    for (int c = 0; c < SC_MMA_NCFG; c++) {
        if (kn->gemm_cfg >= 0 && kn->gemm_cfg < SC_MMA_NCFG && c != kn->gemm_cfg) continue;
        if (!sc_mma_cfg_built(c, rq->dir, pad, esize)) continue;
        size_t wcopy = 0; /* configurations 5 to 8's filter copy (mma_cfg.h) */
        if (sc_mma_is_wgmma(c)) {
            if (!dev->wgmma || kn->gemm_wgmma == 0 || !sc_mma_wgmma_applies(kp, rq->dir)) continue;
            if (c == SC_MMA_WGMMA_PERSIST_CFG && kn->gemm_cfg != c)
                continue; /* the model has no term for it: the rule below, or forced */
            if (c == SC_MMA_WGMMA_N256_CFG && kn->gemm_wgmma_n256 == 0 && kn->gemm_cfg != c)
                continue; /* switched off (A/B measurements), unless forced */
            if (tf32_bw && kn->gemm_wgmma_tf32bw == 0 && kn->gemm_cfg != c)
                continue; /* switched off (A/B measurements), unless forced */
            if (Kr < (i64)SC_MMA_WGMMA_MIN_STAGES * sc_mma_kb(c, esize) && kn->gemm_cfg != c)
                continue; /* unless forced */
            wcopy = sc_mma_wgmma_filter_bytes(kp, rq->dir);
        }
        int bm = sc_mma_bm(c), bn = sc_mma_bn(c);
        int bk = sc_mma_kb(c, esize);
        i64 tiles = ceil_div(M, bm) * ceil_div(N, bn) * zmul;
        double eff = c == 0   ? 1.0
                     : c == 4 ? 1.15
                     : c == 3 ? 0.6
                     : c == 5 ? (tf32_bw ? SC_MMA_WGMMA_TF32_BW_EFF : 1.6)
                     : c == 6 ? 1.3
                     : c == 8 ? SC_MMA_WGMMA_N256_EFF
                              : 0.8;
        double rate = 3.0e12 * eff * (kp->dtype == SC_DTYPE_F32 ? 0.5 : 1.0); /* per SM */
        i64 slots = (i64)dev->sm_count * sc_mma_minb(c);
        i64 smax = Kr / (4 * bk);
        if (smax > 65535 / zmul) smax = 65535 / zmul;
        if (smax < 1) smax = 1;
        for (size_t ci = 0; ci < sizeof cand / sizeof cand[0]; ci++) {
            int sp = kn->gemm_splits >= 1 ? kn->gemm_splits : cand[ci];
            if (c == SC_MMA_WGMMA_PERSIST_CFG) sp = 1; /* one split only (mma_cfg.h) */
            if (sp > smax || wcopy + ws_of(kp, sp, outn) > rq->ws_limit) {
                if (kn->gemm_splits >= 1 && wcopy <= rq->ws_limit)
                    sp = 1; /* a forced split that does not fit: none */
                else
                    break;
            }
            /* wgmma's strided backward-data is one launch per stride class (bd_fwd.cuh): each
             * launch fills the SMs with its own share of the blocks */
            i64 launches =
                sc_mma_is_wgmma(c) && rq->dir == SC_DIR_BACKWARD_DATA ? (i64)kp->sh * kp->sw : 1;
            i64 blocks = tiles * sp / launches;
            i64 waves = (blocks + slots - 1) / slots;
            double wave_eff = (double)blocks / ((double)waves * slots);
            double flops = 2.0 * (double)ceil_div(M, bm) * bm * (double)ceil_div(N, bn) * bn *
                           (double)ceil_div(Kr, bk) * bk * (double)zmul;
            double t = flops / ((double)dev->sm_count * rate * wave_eff) + 4e-6;
            if (sc_mma_is_wgmma(c) && rq->dir == SC_DIR_BACKWARD_DATA) /* a launch per class */
                t += 4e-6 * (double)(kp->sh * kp->sw - 1);
            if (sp > 1) t += (double)(sp + 1) * (double)outn * 4.0 / 2.0e12 + 3e-6;
            if (t < best_t * (1 - 1e-9)) {
                best_t = t;
                out->cfg = c, out->splits = sp;
            }
            if (kn->gemm_splits >= 1 || c == SC_MMA_WGMMA_PERSIST_CFG) break;
        }
    }
    if (persist_wins(kp, rq, dev, M, N, Kr, pad))
        out->cfg = SC_MMA_WGMMA_PERSIST_CFG, out->splits = 1;
    out->ws_bytes = ws_of(kp, out->splits, outn);
    if (sc_mma_is_wgmma(out->cfg)) out->ws_bytes += sc_mma_wgmma_filter_bytes(kp, rq->dir);
}

const sc_gpu_family sc_fam_gemm_mma = {SC_ALGO_GPU_IMPLICIT_GEMM_MMA, mma_applies, mma_preferred,
                                       mma_plan};
