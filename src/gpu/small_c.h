/* small_c.h - the small-C direct kernels' sizes (small_c.cu, small_c_phase.cu, small_c_bw.cu)
 * and where they apply (fam_small_c.c): one definition for both. */
#ifndef SC_GPU_SMALL_C_H
#define SC_GPU_SMALL_C_H

#include "gpu/kparams.h"
#include "gpu/row_slices.h"

#include <stdbool.h>

#define SMALLC_T           128   /* forward: threads per block, one output pixel each */
#define SMALLC_KC          16    /* forward: output channels per pass */
#define SMALLC_SMEM_FLOATS 12288 /* the filter in shared memory, both kernels */
#define SMALLC_BD_T        128   /* backward-data: threads per block */
#define SBD_PIX            4     /* backward-data: pixels per thread for large images */

/* Forward: groups 1, C <= 4, the transposed filter (K padded to SMALLC_KC) in shared memory,
 * N*P*Q outputs under 2^31. */
static inline bool sc_small_c_fwd_applies(const sc_kp *kp)
{
    int kpad = (kp->k + SMALLC_KC - 1) / SMALLC_KC * SMALLC_KC;
    return kp->g == 1 && kp->c <= 4 &&
           (long long)kp->c * kp->r * kp->s * kpad <= SMALLC_SMEM_FLOATS &&
           (long long)kp->n * kp->p * kp->q < (1ll << 31) - SMALLC_T;
}

/* Backward-data: groups 1, C <= 4, the filter in shared memory, the thread count under 2^31. */
static inline bool sc_small_c_bwd_applies(const sc_kp *kp)
{
    long long wcb = (kp->w + kp->sw - 1) / kp->sw;
    return kp->g == 1 && kp->c <= 4 &&
           (long long)kp->k * kp->r * kp->s * kp->c <= SMALLC_SMEM_FLOATS &&
           (long long)kp->n * kp->h * kp->sw * wcb < (1ll << 31) - SMALLC_BD_T;
}

/* Backward-data in stride phases (small_c_phase.cu): threads per block, output rows per thread,
 * and the filter's taps (K*R*S, 16 bytes each in shared memory: at most 56 KiB). NHWC: SCP_KL
 * lanes along k share one column (its K values of a dy position are consecutive). */
#define SCP_T        128
#define SCP_JH       16
#define SCP_MAX_TAPS 3584
#define SCP_KL       8

/* Its row blocks per row class, ceil(ceil(H / sh) / SCP_JH), and columns per column class,
 * ceil(W / sw) rounded up to a warp's columns (NCHW 32 threads of one column each; NHWC 32 /
 * SCP_KL columns of SCP_KL lanes), so a warp shares its row class, row block and column class. */
static inline int sc_small_c_phase_blocks(const sc_kp *kp)
{
    int rows = (kp->h + kp->sh - 1) / kp->sh;
    return (rows + SCP_JH - 1) / SCP_JH;
}
static inline int sc_small_c_phase_wcp(const sc_kp *kp)
{
    int cols = (kp->w + kp->sw - 1) / kp->sw, per = kp->nhwc ? 32 / SCP_KL : 32;
    return (cols + per - 1) / per * per;
}
/* Threads of the launch: N * sh * row blocks * sw * columns (* SCP_KL in NHWC). */
static inline long long sc_small_c_phase_threads(const sc_kp *kp)
{
    return (long long)kp->n * kp->sh * sc_small_c_phase_blocks(kp) * kp->sw *
           sc_small_c_phase_wcp(kp) * (kp->nhwc ? SCP_KL : 1);
}

/* fp32, groups 1, C <= 4, dilation 1, at most 4 row taps a phase (ceil(R / sh) <= 4), the
 * filter within SCP_MAX_TAPS, a thread count in (0, 2^31), a dy row (Q*K) under 2^31 floats;
 * either layout. */
static inline bool sc_small_c_phase_applies(const sc_kp *kp)
{
    if (kp->dtype != SC_DTYPE_F32 || kp->g != 1 || kp->c > 4 || kp->dh != 1 || kp->dw != 1 ||
        (kp->r + kp->sh - 1) / kp->sh > 4 || (long long)kp->k * kp->r * kp->s > SCP_MAX_TAPS)
        return false;
    long long threads = sc_small_c_phase_threads(kp);
    return threads > 0 && threads < (1ll << 31) - SCP_T && (long long)kp->q * kp->k < (1ll << 31);
}

/* Taken by default from N*H*W >= 2^19 in NCHW, 2^15 in NHWC. On the H200 NCHW's thread per
 * column (each one all of K) leaves a one-image 224x224 stem's launch 25 blocks (4-5x cuDNN's
 * time), while NHWC's eight lanes a column fill the GPU from about 2^15: its 224x224 stem ran
 * in 0.63x small_c.cu's time, the 128x128 one (2^14) in 1.1x (bench/NOTES.md, "Small-C
 * backward-data in stride phases, NHWC"). */
static inline bool sc_small_c_phase_preferred(const sc_kp *kp)
{
    return sc_small_c_phase_applies(kp) &&
           (long long)kp->n * kp->h * kp->w >= (kp->nhwc ? 1ll << 15 : 1ll << 19);
}

/* Backward-weight of 3x3 layers with few input channels a group (small_c_bw.cu): the YOLO stem
 * (3 -> 16, stride 2), grouped layers of 16 channels a group, 16-channel dense layers, where the
 * GEMM's tiles (M = Kg rows, N = Cg*9 columns) are mostly padding.
 *
 * dw[k][c][r][s] = sum over n, p, q of dy[n,k,p,q] * x[n, g*Cg + c, p*sh - ph + r, q*sw - pw + s]
 * (k in group g). A block takes one group, SCW_KB of its output channels and one slice of the
 * N*P output rows. It stages rb rows of dy ([SCW_KB][rb][qw]) and the x rows under them
 * ([Cg][xr][xw]) in shared memory, chunk by chunk of at most SCW_QMAX columns, zero outside
 * the image. Its threads form `nrg` groups of `tiles` threads: thread (kt, c) of a group holds
 * the 9 taps of SCW_KT output channels and one input channel (36 sums) and walks an equal run of
 * the stage's (row, column) positions with a 3x3 window of x in registers, which moves by the
 * stride per column: per position SCW_KT + 3*sw shared loads for 36 multiply-adds. The groups'
 * sums are added in group order, the slices' in slice order (slice_sum.cuh): the same bits on
 * every run of one plan. Taps outside the image multiply the zero padding, as in the GEMM. */
#define SCW_T           256   /* threads per block */
#define SCW_KB          16    /* output channels per block */
#define SCW_KT          4     /* output channels per thread */
#define SCW_MAX_CG      16    /* input channels a group */
#define SCW_QMAX        64    /* output columns per chunk */
#define SCW_RBMAX       16    /* output rows per stage */
#define SCW_SMEM_FLOATS 12288 /* the stage and the groups' sums: 48 KiB */
#define SCW_MAX_SLICES  1024

/* A launch's geometry: a function of the problem alone. */
typedef struct sc_scw_geo {
    int ktc;      /* thread tiles along k: ceil(min(Kg, SCW_KB) / SCW_KT) */
    int tiles;    /* threads of a group: ktc * Cg */
    int nrg;      /* groups: SCW_T / tiles */
    int nkb;      /* blocks along k per group: ceil(Kg / SCW_KB) */
    int qw, xw;   /* output columns per chunk; x columns staged, (qw - 1)*sw + 3 */
    int rb;       /* output rows per stage (stages end at image and slice ends) */
    int dpl, xpl; /* floats per staged channel: dy rb*qw, x ((rb - 1)*sh + 3)*xw, both odd */
    int smem;     /* bytes of shared memory */
} sc_scw_geo;

/* 3x3 filters, Cg <= SCW_MAX_CG, strides 1-2, no dilation; N*P rows and the grid in range. */
static inline bool sc_small_c_bw_applies(const sc_kp *kp)
{
    return kp->cg >= 1 && kp->cg <= SCW_MAX_CG && kp->r == 3 && kp->s == 3 && kp->sh >= 1 &&
           kp->sh <= 2 && kp->sw >= 1 && kp->sw <= 2 && kp->dh == 1 && kp->dw == 1 && kp->n > 0 &&
           kp->p > 0 && kp->q > 0 && kp->kg > 0 &&
           (long long)kp->n * kp->p < (1ll << 31) - 2 * SCW_MAX_SLICES &&
           (long long)kp->g * ((kp->kg + SCW_KB - 1) / SCW_KB) < (1ll << 31) - 1;
}

static inline sc_scw_geo sc_scw_geometry(const sc_kp *kp)
{
    sc_scw_geo g;
    int kb = kp->kg < SCW_KB ? kp->kg : SCW_KB;
    g.ktc = (kb + SCW_KT - 1) / SCW_KT;
    g.tiles = g.ktc * kp->cg;
    g.nrg = SCW_T / g.tiles;
    g.nkb = (kp->kg + SCW_KB - 1) / SCW_KB;
    int nch = (kp->q + SCW_QMAX - 1) / SCW_QMAX;
    g.qw = (kp->q + nch - 1) / nch;
    g.xw = (g.qw - 1) * kp->sw + 3;
    int kpad = g.ktc * SCW_KT, rmax = kp->p < SCW_RBMAX ? kp->p : SCW_RBMAX;
    /* the most rows whose stage fits (one row always does: 16*65 + 16*(3*129) floats) */
    for (g.rb = rmax; g.rb > 1; g.rb--) {
        int dpl = (g.rb * g.qw) | 1, xpl = (((g.rb - 1) * kp->sh + 3) * g.xw) | 1;
        if (kpad * dpl + kp->cg * xpl <= SCW_SMEM_FLOATS) break;
    }
    g.dpl = (g.rb * g.qw) | 1;
    g.xpl = (((g.rb - 1) * kp->sh + 3) * g.xw) | 1;
    int stage = kpad * g.dpl + kp->cg * g.xpl, red = g.tiles * SCW_KT * 9 * g.nrg;
    g.smem = (stage > red ? stage : red) * (int)sizeof(float);
    return g;
}

/* The slices' partial sums, K * Cg * 9 floats a slice; none for one slice. */
static inline size_t sc_scw_ws_bytes(const sc_kp *kp, int slices)
{
    return slices > 1 ? (size_t)slices * (size_t)kp->k * kp->cg * 9 * sizeof(float) : 0;
}

/* Slices for one wave of at most three blocks per SM (the kernel's register bound: 256 threads
 * of at most 80 registers), at least 2 output rows each, within SCW_MAX_SLICES and the
 * workspace limit; `force` > 0 (SAFECONV_GPU_SMALLC_BW_SLICES) asks for that many. */
static inline int sc_scw_slices(const sc_kp *kp, int sm_count, int force, size_t ws_limit)
{
    long long rows = (long long)kp->n * kp->p;
    long long blocks = (long long)kp->g * ((kp->kg + SCW_KB - 1) / SCW_KB);
    return sc_row_slices(rows, 3ll * sm_count / blocks, rows / 2, force, SCW_MAX_SLICES,
                         sc_scw_ws_bytes(kp, 2) / 2, ws_limit);
}

/* Backward-weight of 1x1 layers with few channels (small_c_bw1.cu), groups 1, padding 0, any
 * stride: dw[k][c] = sum over the N*P*Q positions of dy[pos][k] * x[pos'][c] (pos' the input
 * pixel under pos). The GEMM's tiles of M = K rows by N = C columns are mostly padding there
 * (a 16 x 16 layer in a 64 x 64 tile: 1/16 of its multiply-adds real) while the reduction is
 * long (mobilenet_v3's 16 -> 16 at 112x112, batch 64: 802816 positions), so the GEMM ran it
 * at 1.7-2.2x cuDNN's time. Here a thread holds a 4 x 4 block of dw (SCB1_KT output by
 * SCB1_CT input channels, 16 sums) and walks its group's share of a slice's positions, 8 loads
 * and 16 multiply-adds a position, straight from memory (no staging: each position's values
 * are read by the few threads of its group that need them, from L1). A block: tiles =
 * ceil(K/4) * ceil(C/4) threads a group, SCB1_T / tiles groups; NHWC lanes along the tiles (a
 * warp reads a position's channels, contiguous), NCHW along the positions (a warp reads a
 * channel's consecutive pixels). The groups' sums are added in group order, the slices' in
 * slice order (slice_sum.cuh): the same bits on every run of one plan. */
#define SCB1_T          256 /* threads per block */
#define SCB1_KT         4   /* output channels per thread */
#define SCB1_CT         4   /* input channels per thread */
#define SCB1_MAX_CH     64  /* input and output channels: at most 256 thread tiles */
#define SCB1_MAX_SLICES 1024

static inline bool sc_small_c_bw1_applies(const sc_kp *kp)
{
    return kp->g == 1 && kp->r == 1 && kp->s == 1 && kp->ph == 0 && kp->pw == 0 && kp->c >= 1 &&
           kp->c <= SCB1_MAX_CH && kp->k >= 1 && kp->k <= SCB1_MAX_CH && kp->n > 0 && kp->p > 0 &&
           kp->q > 0 && (long long)kp->n * kp->p * kp->q < (1ll << 31) - SCB1_T * SCB1_MAX_SLICES;
}

/* Thread tiles of a group (ceil(K/4) x ceil(C/4)) and groups of a block. */
static inline int sc_scb1_tiles(const sc_kp *kp)
{
    return ((kp->k + SCB1_KT - 1) / SCB1_KT) * ((kp->c + SCB1_CT - 1) / SCB1_CT);
}
static inline int sc_scb1_groups(const sc_kp *kp) { return SCB1_T / sc_scb1_tiles(kp); }

/* The slices' partial sums, K * C floats a slice; none for one slice. */
static inline size_t sc_scb1_ws_bytes(const sc_kp *kp, int slices)
{
    return slices > 1 ? (size_t)slices * (size_t)kp->k * kp->c * sizeof(float) : 0;
}

/* Slices of the N*P output rows for four blocks an SM (the kernel's registers allow more; four
 * leave each thread a run of positions long enough to keep its loads in flight), at least one
 * row each, within SCB1_MAX_SLICES and the workspace limit; `force` > 0 asks for that many. */
static inline int sc_scb1_slices(const sc_kp *kp, int sm_count, int force, size_t ws_limit)
{
    long long rows = (long long)kp->n * kp->p;
    return sc_row_slices(rows, 4ll * sm_count, rows, force, SCB1_MAX_SLICES,
                         sc_scb1_ws_bytes(kp, 2) / 2, ws_limit);
}

#endif /* SC_GPU_SMALL_C_H */
