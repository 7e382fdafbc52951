/* gemm_plan.c - the FMA implicit GEMM family's planner (gemm_plan.h): plain C, no GPU runtime,
 * so the model is tested on every machine (tests/c/test_plan_model.c). */
#include "gpu/gemm_plan.h"
#include "gpu/gemm_cfg.h"
#include "gpu/knobs.h"

#include <pthread.h>
#include <string.h>

typedef long long i64;

/* NCHW forward / backward-data outputs are contiguous along M: the epilogue puts lanes along M
 * (coalesced stores) unless SAFECONV_GPU_GEMM_LM says otherwise. */
#define SC_GEMM_LM_DEFAULT 1
/* Serial backward-weight chains longer than this cost more than they fill (NOTES run 26). */
#define SC_GEMM_SERIAL_MAX 16

static i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

bool sc_gemm_cc_applies(const sc_kp *kp, sc_direction dir)
{
    /* NCHW forward with Cg a multiple of BK, backward-data with Kg a multiple of BK; the
     * gathers' 32-bit offsets inside one image and group (Cg*H*W forward; Kg*P*Q and the
     * group's weights backward-data) in range. */
    const i64 lim = (i64)1 << 31;
    if (kp->nhwc || kp->dtype != SC_DTYPE_F32) return false;
    if (dir == SC_DIR_FORWARD) return kp->cg % SC_GEMM_BK == 0 && (i64)kp->cg * kp->h * kp->w < lim;
    if (dir == SC_DIR_BACKWARD_DATA)
        return kp->kg % SC_GEMM_BK == 0 && (i64)kp->kg * kp->p * kp->q < lim &&
               (i64)kp->kg * kp->cg * kp->r * kp->s < lim;
    return false;
}

size_t sc_gemm_cc_wt_bytes(const sc_kp *kp)
{
    size_t b = (size_t)kp->k * kp->cg * kp->r * kp->s * sizeof(float);
    return (b + 255) / 256 * 256;
}

/* Backward-weight's gathers with 32-bit in-image offsets (N32 for NCHW, H32 for NHWC): where
 * each image of dy and x is under 2^31 elements and the configuration is built with them
 * (sc_gemm_cfg_built). The plain gathers compute the same bits; SAFECONV_GPU_GEMM_BW32=0 keeps
 * them. */
static int bw_gather(const sc_kp *kp, int cfg)
{
    const i64 lim = (i64)1 << 31;
    int g32 = kp->nhwc ? SC_GATHER_H32 : SC_GATHER_N32;
    bool fits = sc_gpu_knobs_get()->gemm_bw32 != 0 && (i64)kp->k * kp->p * kp->q < lim &&
                (i64)kp->c * kp->h * kp->w < lim;
    return fits && sc_gemm_cfg_built(cfg, SC_DIR_BACKWARD_WEIGHT, kp->nhwc != 0, g32, kp->dtype)
               ? g32
               : SC_GATHER_PLAIN;
}

/* Counters of the serial splits: one per output tile. */
static size_t bw_sem_bytes(const sc_kp *kp, int cfg)
{
    i64 tiles = ceil_div(kp->kg, sc_gemm_bm(cfg)) *
                ceil_div((i64)kp->cg * kp->r * kp->s, sc_gemm_bn(cfg)) * kp->g;
    return (size_t)(tiles * 4 + 255) / 256 * 256;
}

static i64 out_elems_of(const sc_kp *kp, sc_direction dir)
{
    return dir == SC_DIR_FORWARD         ? (i64)kp->n * kp->k * kp->p * kp->q
           : dir == SC_DIR_BACKWARD_DATA ? (i64)kp->n * kp->c * kp->h * kp->w
                                         : (i64)kp->k * kp->cg * kp->r * kp->s;
}

/* Split slices in the workspace hold fp32 partial sums: for fp32 outputs split 0 writes the
 * output itself; for fp16/bf16 every split writes a slice and the reduction rounds once. */
static i64 slices_of(const sc_kp *kp, i64 splits)
{
    return kp->dtype == SC_DTYPE_F32 ? splits - 1 : splits;
}

size_t sc_gemm_ws_bytes(const sc_kp *kp, sc_direction dir, const sc_kplan *pl)
{
    size_t b = pl->gather == SC_GATHER_CC ? sc_gemm_cc_wt_bytes(kp) : 0;
    if (pl->splits <= 1) return b;
    if (dir == SC_DIR_BACKWARD_WEIGHT && pl->serial)
        return pl->cfg >= 0 && pl->cfg < SC_GEMM_NCFG ? bw_sem_bytes(kp, pl->cfg) : 0;
    return b + (size_t)slices_of(kp, pl->splits) * (size_t)out_elems_of(kp, dir) * sizeof(float);
}

/* GEMM sizes of a direction (backward-data: the largest stride class). */
static void gemm_dims(const sc_kp *kp, sc_direction dir, i64 *M, i64 *N, i64 *Kr)
{
    if (dir == SC_DIR_FORWARD) {
        *M = (i64)kp->n * kp->p * kp->q, *N = kp->kg, *Kr = (i64)kp->cg * kp->r * kp->s;
    } else if (dir == SC_DIR_BACKWARD_DATA) {
        *M = (i64)kp->n * ((kp->h + kp->sh - 1) / kp->sh) * ((kp->w + kp->sw - 1) / kp->sw);
        *N = kp->cg;
        *Kr =
            (i64)kp->kg * ((kp->r + kp->sh - 1) / kp->sh + 1) * ((kp->s + kp->sw - 1) / kp->sw + 1);
    } else {
        *M = kp->kg, *N = (i64)kp->cg * kp->r * kp->s, *Kr = (i64)kp->n * kp->p * kp->q;
    }
}

/* Heuristic, no timing: a time model per tile shape, reduction split and gather kind (cc), the
 * smallest wins.
 *   GEMM:   padded FLOPs / (SMs x rate(tile) x wave efficiency); the rate per SM grows with
 *           the FMAs per shared-memory load of the tile (128x128 = 1, 64x64 = 0.5);
 *           128x128 (cfg 0) runs one block per SM (registers); the 8x8 micro-tiles compiled
 *           for two blocks/SM (cfg 6, 7, 8 on CUDA) get 1.2x the rate and a per-SM load model
 *           (below); the others (cfg 1-5, 9) two blocks/SM at the plain rate.
 *   reduce: split > 1 reads (split-1) partial outputs and reads + writes the output once,
 *           plus a launch.
 *   cc:     channel-chunked plans at 0.85x the GEMM time (fitted on forward, NOTES run 13)
 *           plus the weight copy (read and write at 1.5 TB/s, plus a launch).
 *   serial: backward-weight splits adding into dw in order: 2s-1 output passes and a chain of
 *           s-1 hand-overs, hidden in proportion to the waves (H200, NOTES runs 26-27).
 * The constants are rough fits to H100 measurements (bench/NOTES.md, GPU section); only their
 * ratios matter. */
typedef struct scored {
    sc_kplan pl;
    double t;
} scored;

/* Every (tile, split, gather, serial) the model scores for this problem, within the workspace
 * limit and the environment overrides: up to `max` of them into out[] (in enumeration order),
 * with their modelled times. Returns how many. fs: the forced split count (-1 none). */
static int enumerate(const sc_kp *kp, sc_direction dir, int sm_count, bool hip, size_t ws_limit,
                     scored *out, int max, int fs)
{
    const sc_gpu_knobs *kn = sc_gpu_knobs_get();
    /* A forced split count (SAFECONV_GPU_GEMM_SPLITS) is scored only where it fits (slices
     * within the limit, or serial); where it fits nowhere, unsplit plans are scored instead
     * (the call at the end). So a smaller limit only removes candidates. */
    i64 M, N, Kr;
    gemm_dims(kp, dir, &M, &N, &Kr);
    i64 zmul = dir == SC_DIR_BACKWARD_DATA ? (i64)kp->g * kp->sh * kp->sw : kp->g;
    i64 out_elems = out_elems_of(kp, dir);
    double out_bytes = 4.0 * (double)out_elems;
    static const int cand[] = {1,  2,  3,  4,   6,   8,   12,  16,  24,  32,
                               48, 64, 96, 128, 192, 256, 384, 512, 768, 1024};
    bool nchw_out = dir != SC_DIR_BACKWARD_WEIGHT && !kp->nhwc;
    int lm = nchw_out ? SC_GEMM_LM_DEFAULT : 0;
    if (kn->gemm_lm >= 0 && nchw_out) lm = kn->gemm_lm ? 1 : 0;
    /* Channel-chunked plans where they apply and their weight copy fits (SAFECONV_GPU_GEMM_CC:
     * 0 never, 1 only those), then the plain ones. */
    bool cc_ok =
        sc_gemm_cc_applies(kp, dir) && kn->gemm_cc != 0 && sc_gemm_cc_wt_bytes(kp) <= ws_limit;
    int n = 0;
    for (int cc = cc_ok ? 1 : 0; cc >= 0; cc--) {
        if (!cc && cc_ok && kn->gemm_cc == 1) continue;
        size_t fixed = cc ? sc_gemm_cc_wt_bytes(kp) : 0;
        /* split 0 writes the output itself: s splits need s-1 output-sized slices; serial
         * backward-weight splits need only their counters (per tile shape, below) */
        i64 smax_slices =
            (kp->dtype == SC_DTYPE_F32 ? 1 : 0) +
            (i64)((ws_limit - fixed) / (size_t)(out_elems * 4 > 0 ? out_elems * 4 : 1));
        i64 smax_any = Kr / (8 * SC_GEMM_BK);
        if (smax_any > 65535 / zmul) smax_any = 65535 / zmul;
        if (smax_any > 1024) smax_any = 1024;
        if (smax_any < 1) smax_any = 1;
        /* cc: 0.85 of the plain plan's time (forward, NOTES run 13), plus the weight copy */
        double cc_mul = cc ? 0.85 : 1.0;
        double cc_add = cc ? 2.0 * (double)fixed / 1.5e12 + 3e-6 : 0.0;
        for (int c = 0; c < SC_GEMM_NCFG; c++) {
            if (kn->gemm_cfg >= 0 && kn->gemm_cfg < SC_GEMM_NCFG && c != kn->gemm_cfg) continue;
            /* 6 only where it differs from 0: two blocks/SM */
            bool two = sc_gemm_8x8_shared_rows(c) && sc_gemm_minb(c, hip) == 2;
            if (c == 6 && !two && c != kn->gemm_cfg) continue;
            /* 32x144 only where its one tile does what 128-column tiles need two for (129-144
             * columns: Cg = 16 at 3x3) and one row of tiles holds M (at most 32 rows: a
             * 40-row layer ran 1-2% slower on it than on 64x256), the class it was measured
             * on (bench/NOTES.md, "A 32x144 tile"); the model alone would take it for most
             * narrow GEMMs */
            if (c == SC_GEMM_32x144 && !(N > 128 && N <= 144 && M <= 32) && c != kn->gemm_cfg)
                continue;
            int gather = cc                              ? SC_GATHER_CC
                         : dir == SC_DIR_BACKWARD_WEIGHT ? bw_gather(kp, c)
                                                         : SC_GATHER_PLAIN;
            if (!sc_gemm_cfg_built(c, dir, kp->nhwc != 0, gather, kp->dtype)) continue;
            int bm = sc_gemm_bm(c), bn = sc_gemm_bn(c);
            i64 mt = ceil_div(M, bm), nt = ceil_div(N, bn);
            i64 tiles = mt * nt * zmul;
            double flops = 2.0 * (double)(mt * bm) * (double)(nt * bn) * (double)Kr * (double)zmul;
            /* FMAs per shared load of the thread's micro-tile, 8x8 = 1 */
            int tm = sc_gemm_tm(c), tn = sc_gemm_tn(c);
            double eff = (tm * tn) / (double)(tm + tn) / 4.0;
            double rate = 0.19e12 * (0.55 + 0.45 * eff) * (two ? 1.2 : 1.0);
            i64 slots = (i64)sm_count * sc_gemm_minb(c, hip);
            /* backward-weight: slices (within the limit) and serial plans (their counters
             * within it, at most SC_GEMM_SERIAL_MAX splits) are both scored */
            bool ser_ok = dir == SC_DIR_BACKWARD_WEIGHT && kn->gemm_serial != 0 &&
                          sc_gemm_serial_built(c, kp->nhwc != 0, gather, hip, kp->dtype) &&
                          bw_sem_bytes(kp, c) <= ws_limit;
            for (int serial = ser_ok ? 1 : 0; serial >= 0; serial--) {
                i64 smax = serial ? (SC_GEMM_SERIAL_MAX < smax_any ? SC_GEMM_SERIAL_MAX : smax_any)
                                  : (smax_slices < smax_any ? smax_slices : smax_any);
                if (smax < 1) smax = 1;
                for (size_t ci = 0; ci < sizeof cand / sizeof cand[0]; ci++) {
                    i64 sp = fs >= 1 ? fs : cand[ci];
                    if (sp > smax) break;
                    if (serial && sp == 1) { /* the unsplit plan is scored as serial 0 */
                        if (fs >= 1) break;
                        continue;
                    }
                    i64 blocks = tiles * sp;
                    i64 waves = (blocks + slots - 1) / slots;
                    double wave_eff = (double)blocks / ((double)waves * slots);
                    if (two) {
                        /* The busiest SM runs mx blocks: pairs, then a lone block in 0.7 of a
                         * pair's time (fitted on the H100 sweep, bench/NOTES.md, run 6). */
                        i64 mx = (blocks + sm_count - 1) / sm_count;
                        double units = (double)(mx / 2) + (mx % 2 ? 0.7 : 0.0);
                        wave_eff = (double)blocks / (2.0 * sm_count) / units;
                    }
                    double t = flops / ((double)sm_count * rate * wave_eff) * cc_mul + cc_add;
                    /* slices: a reduce kernel reads them all; serial: each split reads and writes
                     * the output in its epilogue, one split after another per tile: a chain of
                     * sp-1 hand-overs of 3 us + 1.5 us per micro-tile row (NOTES runs 26-27: ~30
                     * us for 3 splits in one wave), hidden behind other blocks' work in
                     * proportion to the waves */
                    double waves_f = (double)blocks / (double)slots;
                    if (sp > 1 && serial)
                        t += (double)(2 * sp - 1) * out_bytes / 4.0e12 +
                             (double)(sp - 1) * (3e-6 + 1.5e-6 * tm) /
                                 (waves_f > 1.0 ? waves_f : 1.0);
                    else if (sp > 1)
                        t += (double)(sp + 1) * out_bytes / 2.0e12 + 3e-6;
                    if (n < max) {
                        sc_kplan *p = &out[n].pl;
                        memset(p, 0, sizeof *p);
                        p->algo = SC_ALGO_GPU_IMPLICIT_GEMM;
                        p->cfg = c, p->splits = (int)sp, p->lm = lm, p->gather = gather;
                        p->serial = serial && sp > 1;
                        p->ws_bytes = sc_gemm_ws_bytes(kp, dir, p);
                        out[n].t = t;
                        n++;
                    }
                    if (fs >= 1) break;
                }
            }
        }
    }
    if (n == 0 && fs > 1) return enumerate(kp, dir, sm_count, hip, ws_limit, out, max, 1);
    return n;
}

#define MAX_SCORED (3 * SC_GEMM_NCFG * 20)

/* The model's best plan, ignoring tuned plans. With nothing to score (a forced configuration
 * that is not built for this direction) the 64x64 tile unsplit, which is built for all. */
static void model_best(const sc_kp *kp, sc_direction dir, int sm_count, bool hip, size_t ws_limit,
                       sc_kplan *best)
{
    scored all[MAX_SCORED];
    int n = enumerate(kp, dir, sm_count, hip, ws_limit, all, MAX_SCORED,
                      sc_gpu_knobs_get()->gemm_splits);
    memset(best, 0, sizeof *best);
    best->algo = SC_ALGO_GPU_IMPLICIT_GEMM;
    best->cfg = 3, best->splits = 1;
    best->lm = dir != SC_DIR_BACKWARD_WEIGHT && !kp->nhwc ? SC_GEMM_LM_DEFAULT : 0;
    best->gather = dir == SC_DIR_BACKWARD_WEIGHT ? bw_gather(kp, 3) : SC_GATHER_PLAIN;
    double best_t = 1e30;
    for (int i = 0; i < n; i++)
        if (all[i].t < best_t * (1 - 1e-9)) best_t = all[i].t, *best = all[i].pl;
    best->ws_bytes = sc_gemm_ws_bytes(kp, dir, best);
}

/* Plans measured faster by sc_conv2d_tune, per problem, direction and SM count: in memory for
 * the life of the process. A tuned plan is used only when its workspace fits the limit. */
typedef struct tuned_plan {
    sc_kp kp;
    sc_direction dir;
    int sm_count;
    sc_kplan pl;
} tuned_plan;
static pthread_mutex_t tuned_mu = PTHREAD_MUTEX_INITIALIZER;
static tuned_plan tuned[512];
static int ntuned;
static unsigned tuned_gen;

static bool tuned_lookup(const sc_kp *kp, sc_direction dir, int sm_count, sc_kplan *pl)
{
    bool found = false;
    pthread_mutex_lock(&tuned_mu);
    for (int i = 0; i < ntuned && !found; i++)
        if (tuned[i].dir == dir && tuned[i].sm_count == sm_count &&
            !memcmp(&tuned[i].kp, kp, sizeof *kp))
            *pl = tuned[i].pl, found = true;
    pthread_mutex_unlock(&tuned_mu);
    return found;
}

void sc_gemm_remember(const sc_kp *kp, sc_direction dir, int sm_count, const sc_kplan *pl)
{
    pthread_mutex_lock(&tuned_mu);
    int i = 0;
    while (i < ntuned && !(tuned[i].dir == dir && tuned[i].sm_count == sm_count &&
                           !memcmp(&tuned[i].kp, kp, sizeof *kp)))
        i++;
    if (i == ntuned && ntuned < (int)(sizeof tuned / sizeof tuned[0])) ntuned++;
    if (i < ntuned) {
        tuned[i].kp = *kp, tuned[i].dir = dir, tuned[i].sm_count = sm_count, tuned[i].pl = *pl;
        tuned_gen++;
    }
    pthread_mutex_unlock(&tuned_mu);
}

unsigned sc_gemm_tuned_generation(void)
{
    pthread_mutex_lock(&tuned_mu);
    unsigned g = tuned_gen;
    pthread_mutex_unlock(&tuned_mu);
    return g;
}

void sc_gemm_choose(const sc_kp *kp, sc_direction dir, int sm_count, bool hip, size_t ws_limit,
                    sc_kplan *out)
{
    if (tuned_lookup(kp, dir, sm_count, out) && sc_gemm_ws_bytes(kp, dir, out) <= ws_limit) {
        out->ws_bytes = sc_gemm_ws_bytes(kp, dir, out);
        return;
    }
    model_best(kp, dir, sm_count, hip, ws_limit, out);
}

int sc_gemm_candidates(const sc_kp *kp, sc_direction dir, int sm_count, bool hip, size_t ws_limit,
                       sc_kplan *out, int max)
{
    scored all[MAX_SCORED];
    int n = enumerate(kp, dir, sm_count, hip, ws_limit, all, MAX_SCORED,
                      sc_gpu_knobs_get()->gemm_splits);
    /* Selection sort by modelled time: n is at most a few dozen. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (all[j].t < all[i].t) {
                scored t = all[i];
                all[i] = all[j], all[j] = t;
            }
    int k = n < max ? n : max;
    for (int i = 0; i < k; i++) out[i] = all[i].pl;
    return k;
}
