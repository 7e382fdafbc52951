/* kparams.c - sc_kp from a validated problem (kparams.h). */
#include "gpu/kparams.h"

#include <limits.h>

bool sc_kp_make(const sc_problem *pb, sc_kp *kp)
{
    const sc_conv2d_desc *d = &pb->d;
    const int64_t v[] = {d->n,     d->c,     d->h,     d->w,        d->k,        d->r,
                         d->s,     pb->p,    pb->q,    d->stride_h, d->stride_w, d->pad_h,
                         d->pad_w, d->dil_h, d->dil_w, d->groups,   pb->cg,      pb->kg};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i] < 0 || v[i] > INT_MAX / 4) return false;
    kp->n = (int)d->n, kp->c = (int)d->c, kp->h = (int)d->h, kp->w = (int)d->w;
    kp->k = (int)d->k, kp->r = (int)d->r, kp->s = (int)d->s, kp->p = (int)pb->p;
    kp->q = (int)pb->q, kp->sh = (int)d->stride_h, kp->sw = (int)d->stride_w;
    kp->ph = (int)d->pad_h, kp->pw = (int)d->pad_w, kp->dh = (int)d->dil_h;
    kp->dw = (int)d->dil_w, kp->g = (int)d->groups, kp->cg = (int)pb->cg, kp->kg = (int)pb->kg;
    kp->nhwc = d->layout == SC_NHWC;
    kp->dtype = (int)d->dtype;
    /* Offsets inside the kernels like h + pad, r*dil and p*stride stay in 31 bits. */
    if ((int64_t)d->h + d->pad_h + (int64_t)d->dil_h * d->r > INT_MAX / 2) return false;
    if ((int64_t)d->w + d->pad_w + (int64_t)d->dil_w * d->s > INT_MAX / 2) return false;
    if ((int64_t)pb->p * d->stride_h > INT_MAX / 2 || (int64_t)pb->q * d->stride_w > INT_MAX / 2)
        return false;
    return true;
}
