/* problem.c - descriptor validation (overflow-safe) into the sc_problem every backend takes. */
#include "common/problem.h"

#include <string.h>

/* Largest element count we accept for one tensor: its byte size must fit in a signed 64-bit
 * integer and in size_t, with room for index arithmetic (offset + one row). */
#define SC_MAX_ELEMS (INT64_MAX / 16)

static size_t dtype_size(sc_dtype t)
{
    switch (t) {
    case SC_DTYPE_F32: return 4;
    case SC_DTYPE_F16:
    case SC_DTYPE_BF16: return 2;
    }
    return 0;
}

/* Product of `n` sizes; BAD_PARAM naming `what` when it overflows or passes the limit. */
static sc_status checked_product(const char *what, const int64_t *v, int n, int64_t *out)
{
    int64_t acc = 1;
    for (int i = 0; i < n; i++)
        if (!sc__mul_ok(acc, v[i], &acc) || acc > SC_MAX_ELEMS)
            return sc__fail(SC_STATUS_BAD_PARAM, "%s: element count overflows the addressable size",
                            what);
    *out = acc;
    return SC_STATUS_OK;
}

sc_status sc__problem_init(const sc_conv2d_desc *d, sc_problem *pb)
{
    if (!d) return sc__fail(SC_STATUS_BAD_PARAM, "desc: NULL");
    const struct {
        const char *name;
        int64_t v;
    } positive[] = {
        {"desc.n", d->n}, {"desc.c", d->c}, {"desc.h", d->h}, {"desc.w", d->w},
        {"desc.k", d->k}, {"desc.r", d->r}, {"desc.s", d->s},
    };
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++)
        if (positive[i].v < 1)
            return sc__fail(SC_STATUS_BAD_PARAM, "%s: must be >= 1, got %lld", positive[i].name,
                            (long long)positive[i].v);
    if (d->pad_h < 0)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.pad_h: must be >= 0, got %lld",
                        (long long)d->pad_h);
    if (d->pad_w < 0)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.pad_w: must be >= 0, got %lld",
                        (long long)d->pad_w);
    if (d->stride_h < 1)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.stride_h: must be >= 1, got %lld",
                        (long long)d->stride_h);
    if (d->stride_w < 1)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.stride_w: must be >= 1, got %lld",
                        (long long)d->stride_w);
    if (d->dil_h < 1)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.dil_h: must be >= 1, got %lld",
                        (long long)d->dil_h);
    if (d->dil_w < 1)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.dil_w: must be >= 1, got %lld",
                        (long long)d->dil_w);
    if (d->groups < 1)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.groups: must be >= 1, got %lld",
                        (long long)d->groups);
    if (d->c % d->groups)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.groups: %lld does not divide C=%lld",
                        (long long)d->groups, (long long)d->c);
    if (d->k % d->groups)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.groups: %lld does not divide K=%lld",
                        (long long)d->groups, (long long)d->k);
    size_t es = dtype_size(d->dtype);
    if (!es) return sc__fail(SC_STATUS_BAD_PARAM, "desc.dtype: unknown value %d", (int)d->dtype);
    if (d->layout != SC_NCHW && d->layout != SC_NHWC)
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.layout: unknown value %d", (int)d->layout);

    /* Sizes bounded individually so the sums below cannot overflow. */
    const int64_t lim = (int64_t)1 << 40;
    if (d->h > lim || d->w > lim || d->pad_h > lim || d->pad_w > lim || d->r > lim || d->s > lim ||
        d->dil_h > lim || d->dil_w > lim || d->stride_h > lim || d->stride_w > lim)
        return sc__fail(SC_STATUS_BAD_PARAM,
                        "desc: a spatial size, padding, stride or dilation exceeds 2^40");
    int64_t span_h, span_w; /* extent of the dilated filter */
    if (!sc__mul_ok(d->dil_h, d->r - 1, &span_h) || !sc__mul_ok(d->dil_w, d->s - 1, &span_w))
        return sc__fail(SC_STATUS_BAD_PARAM, "desc.dil_h/dil_w: dilated filter size overflows");
    span_h += 1, span_w += 1;
    int64_t in_h = d->h + 2 * d->pad_h, in_w = d->w + 2 * d->pad_w;
    if (span_h > in_h)
        return sc__fail(SC_STATUS_BAD_PARAM,
                        "desc.r: dilated filter height %lld exceeds padded input height %lld "
                        "(empty output)",
                        (long long)span_h, (long long)in_h);
    if (span_w > in_w)
        return sc__fail(SC_STATUS_BAD_PARAM,
                        "desc.s: dilated filter width %lld exceeds padded input width %lld "
                        "(empty output)",
                        (long long)span_w, (long long)in_w);

    sc_problem r;
    memset(&r, 0, sizeof r);
    r.d = *d;
    r.p = (in_h - span_h) / d->stride_h + 1;
    r.q = (in_w - span_w) / d->stride_w + 1;
    r.cg = d->c / d->groups;
    r.kg = d->k / d->groups;
    r.elem_size = es;
    sc_status st;
    const int64_t xs[] = {d->n, d->c, d->h, d->w, (int64_t)es};
    const int64_t ws[] = {d->k, r.cg, d->r, d->s, (int64_t)es};
    const int64_t ys[] = {d->n, d->k, r.p, r.q, (int64_t)es};
    int64_t bytes;
    if ((st = checked_product("x (N*C*H*W)", xs, 5, &bytes))) return st;
    if ((st = checked_product("w (K*C/groups*R*S)", ws, 5, &bytes))) return st;
    if ((st = checked_product("y (N*K*P*Q)", ys, 5, &bytes))) return st;
    r.x_elems = d->n * d->c * d->h * d->w;
    r.w_elems = d->k * r.cg * d->r * d->s;
    r.y_elems = d->n * d->k * r.p * r.q;
    if (pb) *pb = r;
    return SC_STATUS_OK;
}
