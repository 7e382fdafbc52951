/* layout.h - element offsets of x, w and y for both layouts (see the table in safeconv.h).
 * c in w_off is the channel within the group (0 .. Cg-1). */
#ifndef SC_CPU_LAYOUT_H
#define SC_CPU_LAYOUT_H

#include "common/problem.h"

static inline int64_t x_off(const sc_problem *pb, int64_t n, int64_t c, int64_t h, int64_t w)
{
    const sc_conv2d_desc *d = &pb->d;
    return d->layout == SC_NCHW ? ((n * d->c + c) * d->h + h) * d->w + w
                                : ((n * d->h + h) * d->w + w) * d->c + c;
}

static inline int64_t w_off(const sc_problem *pb, int64_t k, int64_t c, int64_t r, int64_t s)
{
    const sc_conv2d_desc *d = &pb->d;
    return d->layout == SC_NCHW ? ((k * pb->cg + c) * d->r + r) * d->s + s
                                : ((k * d->r + r) * d->s + s) * pb->cg + c;
}

static inline int64_t y_off(const sc_problem *pb, int64_t n, int64_t k, int64_t p, int64_t q)
{
    const sc_conv2d_desc *d = &pb->d;
    return d->layout == SC_NCHW ? ((n * d->k + k) * pb->p + p) * pb->q + q
                                : ((n * pb->p + p) * pb->q + q) * d->k + k;
}

#endif
