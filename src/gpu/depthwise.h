/* depthwise.h - the depthwise backward-weight's row slices (depthwise_bw.cu: NHWC square
 * filters, NCHW rows of 3-7 taps, long rows) as planning sees them (fam_depthwise.c): one
 * definition for both. Plain C.
 *
 * dw[k][r][s] = sum over n, p, q of dy[n,p,q,k] * x[n, p*sh-ph+r*dh, q*sw-pw+s*dw, k/kg]
 * (C/groups == 1, K = kg*C). In NHWC the channels are the contiguous dimension, so one warp
 * takes 32 consecutive channels (every load coalesced) and each lane keeps all R*S taps of its
 * channel in registers. The N*P output rows are cut into `slices` fixed ranges; a slice is one
 * block of DWB_WARPS warps per 32 channels, each warp a fixed run of rows, added in warp order;
 * pass 1 writes each slice's sums to the workspace as fp32, part[slice][R*S][K], pass 2 adds
 * them in slice order. The slices are a function of the problem and the SM count (or the knob),
 * so the result is the same bits on every run on one device. With one slice pass 1 writes dw
 * itself and needs no workspace. Square 3x3, 5x5 and 7x7 filters only (the register tile is a
 * compile-time R x S); the rest keep the generic kernel (depthwise.cu), or one of the two below. */
#ifndef SC_GPU_DEPTHWISE_H
#define SC_GPU_DEPTHWISE_H

#include "gpu/knobs.h"
#include "gpu/kparams.h"
#include "gpu/row_slices.h"

#include <stdbool.h>
#include <stddef.h>

#define DWB_WARPS      4    /* warps per block, each a run of rows of the slice */
#define DWB_CH         32   /* channels per block: one lane each */
#define DWB_ROWS_WARP  2    /* output rows per warp at least */
#define DWB_MAX_SLICES 1024 /* grid.y, and the workspace */

/* The sliced kernel computes this problem's backward-weight. */
static inline bool sc_dwb_applies(const sc_kp *kp)
{
    return kp->nhwc && kp->cg == 1 && kp->g == kp->c && kp->r == kp->s &&
           (kp->r == 3 || kp->r == 5 || kp->r == 7);
}

/* Blocks per slice: one per 32 channels. */
static inline long long sc_dwb_cblocks(const sc_kp *kp)
{
    return ((long long)kp->k + DWB_CH - 1) / DWB_CH;
}

/* One slice's partial sums: R*S*K floats. */
static inline size_t sc_dwb_slice_bytes(const sc_kp *kp)
{
    return (size_t)kp->r * kp->s * (size_t)kp->k * sizeof(float);
}

/* Workspace of the partial sums: none for one slice. */
static inline size_t sc_dwb_ws_bytes(const sc_kp *kp, int slices)
{
    return slices > 1 ? (size_t)slices * sc_dwb_slice_bytes(kp) : 0;
}

/* Slices for about eight blocks per SM, at least DWB_ROWS_WARP rows per warp, within the
 * workspace limit; `force` > 0 (the knob SAFECONV_GPU_DW_SLICES) asks for that many, capped
 * by the rows, DWB_MAX_SLICES and the limit. */
static inline int sc_dwb_slices(const sc_kp *kp, int sm_count, int force, size_t ws_limit)
{
    long long rows = (long long)kp->n * kp->p;
    long long want = (8ll * sm_count + sc_dwb_cblocks(kp) - 1) / sc_dwb_cblocks(kp);
    return sc_row_slices(rows, want, rows / (DWB_WARPS * DWB_ROWS_WARP), force, DWB_MAX_SLICES,
                         sc_dwb_slice_bytes(kp), ws_limit);
}

/* Output rows (n, p) per slice (the last one may be shorter). */
static inline long long sc_dwb_rows_per_slice(const sc_kp *kp, int slices)
{
    return sc_rows_per_slice((long long)kp->n * kp->p, slices);
}

/* Backward-weight of long filter rows (depthwise_bw.cu, dwb_long): an EEG-style temporal layer
 * (1 -> 16 channels, a 1x64 filter) or any depthwise layer with rows of DWBL_MIN_S to
 * DWBL_MAX_S taps, 1-3 filter rows, stride 1, no dilation, either layout. A block takes one
 * output channel k and one slice of the N*P output rows; its threads take 8 consecutive taps
 * each and a share of the columns, so one dy value and one x value from shared memory feed 8
 * multiply-adds. The slices' partial sums go to the workspace as the sliced kernel's do
 * (part[slice][R*S][K], sc_dwb_ws_bytes), added in slice order. */
#define DWBL_T     256 /* threads per block */
#define DWBL_QC    512 /* output columns per shared-memory chunk */
#define DWBL_MIN_S 8
#define DWBL_MAX_S 128

static inline bool sc_dwbl_applies(const sc_kp *kp)
{
    return kp->cg == 1 && kp->g == kp->c && kp->sh == 1 && kp->sw == 1 && kp->dh == 1 &&
           kp->dw == 1 && kp->s >= DWBL_MIN_S && kp->s <= DWBL_MAX_S && kp->r >= 1 && kp->r <= 3 &&
           kp->n > 0 && kp->p > 0 && kp->q > 0 && kp->k <= 65535 &&
           (long long)kp->n * kp->p < (1ll << 31) - 8;
}

/* Slices for about four blocks per SM (K blocks per slice), at least 8 rows each, within
 * DWB_MAX_SLICES and the workspace limit; `force` > 0 (SAFECONV_GPU_DW_SLICES) asks. */
static inline int sc_dwbl_slices(const sc_kp *kp, int sm_count, int force, size_t ws_limit)
{
    long long rows = (long long)kp->n * kp->p;
    return sc_row_slices(rows, (4ll * sm_count + kp->k - 1) / kp->k, rows / 8, force,
                         DWB_MAX_SLICES, sc_dwb_slice_bytes(kp), ws_limit);
}

/* NCHW backward-weight of 3-, 5- and 7-wide filter rows (depthwise_bw.cu, dwb_plane), 1-7 filter
 * rows: the NCHW counterpart of the sliced NHWC kernel. In NCHW a channel's rows are contiguous,
 * so a block takes one output channel k and one slice of the N*P output rows, stage by stage:
 * rb output rows of one image (dy, [rb][qw]) and the x rows under them ([xr][xp], x column
 * w = q0*sw - pw + j at j, zero outside the image; the columns in equal chunks of at most
 * DWBP_QMAX) in shared memory. Thread (group, r) takes filter row r and its group's equal share
 * of the stage's (row, column) positions, walking them with a window of S x values in registers
 * that moves by the column stride: one dy and sw x loads from shared memory per position for S
 * multiply-adds. Groups are added in order, slices as the other kernels' (part[slice][R*S][K],
 * slice_sum.cuh). SAFECONV_GPU_DW_PLANE=0 keeps the generic kernel (depthwise.cu). */
#define DWBP_T           256   /* threads per block */
#define DWBP_QMAX        256   /* output columns per chunk */
#define DWBP_RBMAX       32    /* output rows per stage */
#define DWBP_SMEM_FLOATS 12288 /* 48 KiB */
#define DWBP_MIN_ROWS    4     /* output rows per slice at least */

static inline bool sc_dwbp_applies(const sc_kp *kp)
{
    return !kp->nhwc && kp->cg == 1 && kp->g == kp->c && (kp->s == 3 || kp->s == 5 || kp->s == 7) &&
           kp->r >= 1 && kp->r <= 7 && kp->sh >= 1 && kp->sh <= 2 && kp->sw >= 1 && kp->sw <= 2 &&
           kp->dh >= 1 && kp->dh <= 2 && kp->dw == 1 && kp->n > 0 && kp->p > 0 && kp->q > 0 &&
           (long long)kp->n * kp->p < (1ll << 31) - 2 * DWB_MAX_SLICES &&
           sc_gpu_knobs_get()->dw_plane != 0;
}

/* A launch's geometry: a function of the problem alone. */
typedef struct sc_dwbp_geo {
    int qw, xp; /* output columns per chunk; the x row pitch, (qw - 1)*sw + S rounded up to odd */
    int rb;     /* output rows per stage (stages end at image and slice ends) */
    int ng;     /* thread groups: DWBP_T / R */
    int smem;   /* bytes of shared memory */
} sc_dwbp_geo;

static inline int sc_dwbp_xrows(const sc_kp *kp, int rows)
{
    return (rows - 1) * kp->sh + (kp->r - 1) * kp->dh + 1;
}

static inline sc_dwbp_geo sc_dwbp_geometry(const sc_kp *kp)
{
    sc_dwbp_geo g;
    int nch = (kp->q + DWBP_QMAX - 1) / DWBP_QMAX;
    g.qw = (kp->q + nch - 1) / nch;
    g.xp = ((g.qw - 1) * kp->sw + kp->s) | 1;
    g.ng = DWBP_T / kp->r;
    /* the most rows whose stage fits (one row always does: 256 + 13 * 519 floats) */
    for (g.rb = kp->p < DWBP_RBMAX ? kp->p : DWBP_RBMAX; g.rb > 1; g.rb--)
        if (g.rb * g.qw + sc_dwbp_xrows(kp, g.rb) * g.xp <= DWBP_SMEM_FLOATS) break;
    int stage = g.rb * g.qw + sc_dwbp_xrows(kp, g.rb) * g.xp, red = kp->r * g.ng * kp->s;
    g.smem = (stage > red ? stage : red) * (int)sizeof(float);
    return g;
}

/* Slices for eight blocks per SM in all (K blocks per slice; two waves at the kernel's bound of
 * four blocks per SM), at least DWBP_MIN_ROWS rows each, within DWB_MAX_SLICES and the workspace
 * limit; `force` > 0 (SAFECONV_GPU_DW_SLICES) asks. */
static inline int sc_dwbp_slices(const sc_kp *kp, int sm_count, int force, size_t ws_limit)
{
    long long rows = (long long)kp->n * kp->p;
    return sc_row_slices(rows, 8ll * sm_count / kp->k, rows / DWBP_MIN_ROWS, force, DWB_MAX_SLICES,
                         sc_dwb_slice_bytes(kp), ws_limit);
}

#endif /* SC_GPU_DEPTHWISE_H */
