/* row_slices.h - how the sliced backward-weight kernels (depthwise_bw.cu's three, small_c_bw.cu)
 * cut the N*P output rows into slices, whose fp32 partial sums go to the workspace and are added
 * in slice order (slice_sum.cuh): one rule for all of them, around each kernel's own wish and
 * cap. Plain C (the planners and the launchers). */
#ifndef SC_GPU_ROW_SLICES_H
#define SC_GPU_ROW_SLICES_H

#include <stddef.h>

/* The slices: `force` > 0 (a knob) asks for that many, capped by the rows; else the kernel's
 * `want`, capped by its `cap` (rows enough for each slice). Then at most `max`, and at most
 * what the workspace limit holds at `slice_bytes` a slice; 1 (no workspace) where that leaves
 * fewer than 2. */
static inline int sc_row_slices(long long rows, long long want, long long cap, int force,
                                long long max, size_t slice_bytes, size_t ws_limit)
{
    long long s = force > 0 ? (force < rows ? force : rows) : (want < cap ? want : cap);
    if (s > max) s = max;
    if (s > 1 && (size_t)s > ws_limit / slice_bytes) s = (long long)(ws_limit / slice_bytes);
    return s < 2 ? 1 : (int)s;
}

/* Rows per slice (the last one may be shorter). */
static inline long long sc_rows_per_slice(long long rows, int slices)
{
    return (rows + slices - 1) / slices;
}

#endif /* SC_GPU_ROW_SLICES_H */
