/* winograd.h - the Winograd F(2x2,3x3) kernels' sizes (winograd.cu) and where they apply
 * (fam_winograd.c): one definition for both. Plain C.
 *
 * The computed convolution: `in` (N, CI, HI, WI) -> `out` (N, CO, HO, WO), 3x3, stride 1,
 * dilation 1, groups 1, padding (ph, pw). Forward is x -> y with CI = C, CO = K; backward-data
 * is dy -> dx with CI = K, CO = C, the filter turned by 180 degrees and transposed, and padding
 * 2 - pad (so it exists for pad <= 2); both also with dilation (padding up to twice it;
 * backward-data's 2 dilation - pad). Forward and backward-data run the FMA kernel
 * (winograd.cu, the plan's cfg -1) or, on sm_90, the wgmma one (winograd_wg.cu, cfg 4: see
 * sc_wino_wg_fits). Backward-weight (winograd_bw.cu) reduces over dy's
 * 2x2 tiles: N * ceil(P/2) * ceil(Q/2) of them, in `splits` slices of whole steps. */
#ifndef SC_GPU_WINOGRAD_H
#define SC_GPU_WINOGRAD_H

#include "gpu/kparams.h"

#include <stdbool.h>
#include <stddef.h>

#define WINO_T  256 /* threads per block */
#define WINO_BT 32  /* output tiles (2x2 pixels each) per block */
#define WINO_BK 64  /* output channels per block */
#define WINO_BC 8   /* input channels per reduction step */

/* The computed convolution's input and output channel counts of a direction. */
static inline int sc_wino_ci(const sc_kp *kp, sc_direction dir)
{
    return dir == SC_DIR_FORWARD ? kp->c : kp->k;
}
static inline int sc_wino_co(const sc_kp *kp, sc_direction dir)
{
    return dir == SC_DIR_FORWARD ? kp->k : kp->c;
}

/* The transformed filter U[16][CIpad][COpad] (CI rounded up to WINO_BC, CO to WINO_BK, zeros
 * in the padding) is the workspace: 64 * CIpad * COpad bytes (16 MiB at 512 -> 512). */
static inline size_t sc_wino_ws_bytes(const sc_kp *kp, sc_direction dir)
{
    size_t ci = ((size_t)sc_wino_ci(kp, dir) + WINO_BC - 1) / WINO_BC * WINO_BC;
    size_t co = ((size_t)sc_wino_co(kp, dir) + WINO_BK - 1) / WINO_BK * WINO_BK;
    return 16 * ci * co * sizeof(float);
}

/* 2x2 tiles along one output dimension of o pixels at dilation d, in each of its d phases (the
 * largest phase's ceil(o / d) pixels): ceil(ceil(o / d) / 2). */
static inline long long sc_wino_phase_tiles(long long o, long long d)
{
    return ((o + d - 1) / d + 1) / 2;
}

/* The output tiles of a direction: N * ceil(HO/2) * ceil(WO/2) (backward-weight: dy's); with
 * dilation (forward and backward-data), N * dh * dw phases of ceil(ceil(HO/dh)/2) *
 * ceil(ceil(WO/dw)/2) (winograd.cuh, wino_args). */
static inline long long sc_wino_tiles(const sc_kp *kp, sc_direction dir)
{
    long long ho = dir == SC_DIR_BACKWARD_DATA ? kp->h : kp->p;
    long long wo = dir == SC_DIR_BACKWARD_DATA ? kp->w : kp->q;
    long long dh = dir == SC_DIR_BACKWARD_WEIGHT ? 1 : kp->dh;
    long long dw = dir == SC_DIR_BACKWARD_WEIGHT ? 1 : kp->dw;
    return (long long)kp->n * dh * dw * sc_wino_phase_tiles(ho, dh) * sc_wino_phase_tiles(wo, dw);
}

/* Backward-weight: the workspace of `splits` slices of dw (none for one: it writes dw). */
static inline size_t sc_wino_bw_ws_bytes(const sc_kp *kp, int splits)
{
    return splits > 1 ? (size_t)splits * (size_t)kp->k * (size_t)kp->c * 9 * sizeof(float) : 0;
}

/* Backward-weight tiles (the plan's cfg): 0, WINO_BT input x WINO_BK output channels a block,
 * 128 accumulators and about 250 registers a thread, one block an SM; 1, the narrow tile,
 * WINO_BT x WINO_BW_NARROW, 64 accumulators and at most 128 registers, two blocks an SM (twice
 * the warps to hide the shared-memory and barrier latencies that left a scheduler without an
 * eligible warp a third of the time, for about 1.25x the load and transform instructions per
 * multiply-add). On an H100 it ran 5-22% slower than the wide tile on every layer timed, so
 * only SAFECONV_GPU_WINOGRAD_BW_TILE=1 takes it (bench/NOTES.md, "Winograd backward-weight in
 * narrow tiles"). */
#define WINO_BW_NARROW 32
/* 2: the wide tile with its GEMM steps on the tensor cores in 3xTF32 (winograd.cuh,
 * wino_gemm_step_tf32x3; NVIDIA sm_80+): SAFECONV_GPU_WINOGRAD_BW_TILE=2 only. Verified on an
 * H100, where it ran 1-4% faster than the FMA steps (latency-bound like them at two warps a
 * scheduler; bench/NOTES.md, "Winograd backward-weight's GEMM in 3xTF32"). */
/* 3: F(3x3,4x4) (winograd_bw4.cu): dy in 4x4 tiles, 36 points, WINO_BT x WINO4_BK channels a
 * block of 288 threads, WINO4_TS tiles a step: 2.25 multiply-adds a dy pixel and channel pair
 * against 4, but on an H100 10-45% slower than the wide tile on every layer timed (its short
 * steps expose the x loads and transforms: bench/NOTES.md, "F(3x3, 4x4) backward-weight in
 * 32 x 16 channel blocks"; a 32 x 32 form staged through shared memory by cp.async ran no
 * faster: "F(3x3, 4x4) backward-weight with staged copies"), so SAFECONV_GPU_WINOGRAD_BW_TILE=3
 * only. */
/* 4: the wide tile with its GEMM steps on Hopper's wgmma in 3xTF32 (winograd_bw_wg.cu; sm_90a
 * builds on sm_90 devices, sc_gpu_dev.wgmma, where x and dy have fewer than 2^31 elements each,
 * sc_wino_wg_fits): the same block, grid and slices as tile 0, the GEMM off the issue slots,
 * dy's transformed tiles as wgmma's register operand and x's through shared memory. On an H100
 * 0.72-0.88x tile 0's time on every NCHW layer timed and 0.76-0.99x NHWC (bench/NOTES.md,
 * "tile 4 with U in registers"), so the default there; SAFECONV_GPU_WINOGRAD_BW_TILE=0 asks for
 * tile 0. */
#define WINO4_TS       4
#define WINO4_BK       16
static inline int sc_wino_bw_bk(int tile)
{
    return tile == 1 ? WINO_BW_NARROW : tile == 3 ? WINO4_BK : WINO_BK;
}
/* A tile's reduction units: dy's 2x2 tiles (tiles 0-2) or 4x4 tiles (3), and their step. */
static inline long long sc_wino_bw_units(const sc_kp *kp, int tile)
{
    int e = tile == 3 ? 4 : 2;
    return (long long)kp->n * ((kp->p + e - 1) / e) * ((kp->q + e - 1) / e);
}
static inline int sc_wino_bw_step(int tile) { return tile == 3 ? WINO4_TS : WINO_BC; }
/* Units (tiles) per slice: whole steps, so that every slice but the last has the same count. */
static inline int sc_wino_bw_tps_of(long long units, int splits, int step)
{
    long long per = (units + splits - 1) / splits;
    return (int)((per + step - 1) / step * step);
}
static inline int sc_wino_bw_per_sm(int tile) { return tile == 1 ? 2 : 1; }

/* The backward-weight kernel's blocks per slice: (K / its tile's k) x (C / WINO_BT), rounded
 * up. */
static inline long long sc_wino_bw_blocks(const sc_kp *kp, int tile)
{
    int bk = sc_wino_bw_bk(tile);
    return (long long)((kp->k + bk - 1) / bk) * ((kp->c + WINO_BT - 1) / WINO_BT);
}

/* Backward-weight slices: `want`, or (0) as many as one wave of blocks holds (sc_wino_bw_per_sm
 * blocks an SM: blocks past the wave wait for a block of the first to finish: 8 x 17 blocks on
 * 132 SMs, one an SM, end a whole short slice later than 8 x 16, bench/NOTES.md); at least 8
 * steps a slice, at most 64 slices, within the workspace limit, none without tiles. */
static inline int sc_wino_bw_splits(const sc_kp *kp, int tile, int want, int sm_count,
                                    size_t ws_limit)
{
    long long blocks = sc_wino_bw_blocks(kp, tile),
              wave = (long long)sm_count * sc_wino_bw_per_sm(tile);
    long long s = want > 0 ? want : blocks <= wave ? wave / blocks : 1;
    long long units = sc_wino_bw_units(kp, tile);
    int step = sc_wino_bw_step(tile);
    long long cap = units / (8 * step);
    if (s > cap) s = cap;
    if (s > 64) s = 64;
    if (s < 1) s = 1;
    while (s > 1 && sc_wino_bw_ws_bytes(kp, (int)s) > ws_limit) s--;
    if (s > 1) { /* no slice without tiles: as many as whole-step slices need */
        long long tps = sc_wino_bw_tps_of(units, (int)s, step);
        s = (units + tps - 1) / tps;
    }
    return (int)s;
}

/* The wgmma kernels (tile 4: winograd_bw_wg.cu backward-weight, winograd_wg.cu forward and
 * backward-data) index x and dy (y, dx) with 32-bit offsets (fewer registers: their loads sit
 * beside 128 accumulators and 64 A registers): only where each has fewer than 2^31 elements. */
static inline bool sc_wino_wg_fits(const sc_kp *kp)
{
    return (long long)kp->n * kp->c * kp->h * kp->w < (1ll << 31) &&
           (long long)kp->n * kp->k * kp->p * kp->q < (1ll << 31);
}

/* fp32 tensors, 3x3, stride 1, groups 1; forward and backward-data with dilation dh, dw of at
 * most WINO_MAX_DIL and padding <= 2 dh, 2 dw (backward-data's padding 2 dh - ph then exists),
 * backward-weight with dilation 1 and padding <= 2; tiles and filter-transform threads under
 * 2^31, grids within the launch limits. */
#define WINO_MAX_DIL 64
static inline bool sc_wino_applies(const sc_kp *kp, sc_direction dir)
{
    if (kp->dtype != SC_DTYPE_F32 || kp->g != 1 || kp->r != 3 || kp->s != 3 || kp->sh != 1 ||
        kp->sw != 1 || kp->dh < 1 || kp->dw < 1 || kp->dh > WINO_MAX_DIL || kp->dw > WINO_MAX_DIL ||
        kp->ph > 2 * kp->dh || kp->pw > 2 * kp->dw)
        return false;
    if (dir == SC_DIR_BACKWARD_WEIGHT)
        return kp->dh == 1 && kp->dw == 1 && kp->p > 0 && kp->q > 0 &&
               sc_wino_tiles(kp, dir) < (1ll << 31) - 64 * 64 &&
               (long long)kp->k * kp->c * 9 < (1ll << 31) &&
               (kp->c + WINO_BT - 1) / WINO_BT <= 65535;
    if (dir != SC_DIR_FORWARD && dir != SC_DIR_BACKWARD_DATA) return false;
    long long ho = dir == SC_DIR_FORWARD ? kp->p : kp->h,
              wo = dir == SC_DIR_FORWARD ? kp->q : kp->w;
    long long tiles = sc_wino_tiles(kp, dir);
    long long ci = ((long long)sc_wino_ci(kp, dir) + WINO_BC - 1) / WINO_BC * WINO_BC;
    long long co = ((long long)sc_wino_co(kp, dir) + WINO_BK - 1) / WINO_BK * WINO_BK;
    return ho > 0 && wo > 0 && tiles < (1ll << 31) - WINO_BT && ci * co < (1ll << 31) &&
           co / WINO_BK <= 65535;
}

#endif /* SC_GPU_WINOGRAD_H */
