/* bias.h - the bias gradient's reduction slices (bias.cu) as planning sees them (select.c):
 * one definition for both. Plain C.
 *
 * db[k] = sum over the N*P*Q rows of dy[., k]. One block per channel (or 32 channels in NHWC)
 * leaves most of the GPU idle when K is small and the rows many (a 7x7 stem: 64 channels, 400k
 * rows), so the rows are cut into `slices` fixed ranges: pass 1 writes one partial sum per
 * (slice, channel) into the workspace as double, part[slice][K]; pass 2 adds each channel's
 * partials in slice order. The slices are a function of the problem and the SM count, so the
 * result is the same bits on every run on one device. With one slice pass 1 writes db itself
 * and needs no workspace. */
#ifndef SC_GPU_BIAS_H
#define SC_GPU_BIAS_H

#include "gpu/kparams.h"

#include <stddef.h>

#define BIAS_T          256  /* threads per block */
#define BIAS_NHWC_CH    32   /* NHWC: channels per block (one warp's lanes) */
#define BIAS_MIN_ROWS   4096 /* rows per slice at least: a slice's block has work to hide latency */
#define BIAS_MAX_SLICES 1024

/* Blocks per slice: one per channel (NCHW), one per 32 channels (NHWC). */
static inline long long sc_bias_cblocks(const sc_kp *kp)
{
    return kp->nhwc ? ((long long)kp->k + BIAS_NHWC_CH - 1) / BIAS_NHWC_CH : (long long)kp->k;
}

/* Slices for about four blocks per SM, each of at least BIAS_MIN_ROWS rows; `force` > 0 (the
 * knob SAFECONV_GPU_BIAS_SLICES) asks for that many, capped by the rows and BIAS_MAX_SLICES. */
static inline int sc_bias_slices(const sc_kp *kp, int sm_count, int force)
{
    long long rows = (long long)kp->n * kp->p * kp->q, s;
    if (force > 0) {
        s = force < rows ? force : rows;
    } else {
        long long want = (4ll * sm_count + sc_bias_cblocks(kp) - 1) / sc_bias_cblocks(kp);
        long long cap = rows / BIAS_MIN_ROWS;
        s = want < cap ? want : cap;
    }
    if (s > BIAS_MAX_SLICES) s = BIAS_MAX_SLICES;
    return s < 1 ? 1 : (int)s;
}

/* Rows per slice (the last one may be shorter). */
static inline long long sc_bias_rows_per_slice(const sc_kp *kp, int slices)
{
    long long rows = (long long)kp->n * kp->p * kp->q;
    return (rows + slices - 1) / slices;
}

/* Workspace of the partial sums: none for one slice. */
static inline size_t sc_bias_ws_bytes(const sc_kp *kp, int slices)
{
    return slices > 1 ? (size_t)slices * (size_t)kp->k * sizeof(double) : 0;
}

#endif /* SC_GPU_BIAS_H */
