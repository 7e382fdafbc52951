/* check.c - random configurations and checked runs (see check.h). */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sc_rng_next(sc_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t sc_rng_range(sc_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(sc_rng_next(r) % (uint64_t)(hi - lo + 1));
}

float sc_rng_unit(sc_rng *r) { return (float)((sc_rng_next(r) >> 40) * (2.0 / 16777216.0) - 1.0); }

uint64_t sc_mix_seed(uint64_t base, uint64_t i)
{
    sc_rng r = {base ^ (i * 0xd1b54a32d192ed03ULL)};
    return sc_rng_next(&r);
}

void sc_gen_options_init(sc_gen_options *o)
{
    o->layout = -1;
    o->dtype = SC_DTYPE_F32;
    o->max_macs = 2e6;
    o->large_share = 0.0;
    o->channel_multiple = 1;
}

static double macs(const sc_conv2d_desc *d)
{
    int64_t p, q;
    if (sc_conv2d_output_size(d, &p, &q)) return 0;
    return (double)d->n * d->k * p * q * (d->c / d->groups) * d->r * d->s;
}

void sc_random_desc(sc_rng *r, const sc_gen_options *o, sc_conv2d_desc *d)
{
    for (;;) {
        sc_conv2d_desc_init(d);
        bool large = o->large_share > 0 && (sc_rng_next(r) % 1000) < o->large_share * 1000;
        d->n = sc_rng_range(r, 0, 3) == 0 ? 1 : sc_rng_range(r, 1, 3);
        int64_t kind = sc_rng_range(r, 0, 9); /* 0-5 dense, 6-7 grouped, 8-9 depthwise */
        int64_t cg = large ? sc_rng_range(r, 8, 96) : sc_rng_range(r, 1, 9);
        int64_t kg = large ? sc_rng_range(r, 8, 160) : sc_rng_range(r, 1, 9);
        if (kind <= 5)
            d->groups = 1;
        else if (kind <= 7)
            d->groups = sc_rng_range(r, 2, 4);
        else {
            d->groups = large ? sc_rng_range(r, 8, 96) : sc_rng_range(r, 1, 12);
            cg = 1;
            kg = sc_rng_range(r, 0, 3) == 0 ? 2 : 1; /* channel multiplier now and then */
        }
        if (o->channel_multiple > 1 && kind <= 7) { /* after the draws: same sequence */
            int64_t m = o->channel_multiple;
            cg = (cg + m - 1) / m * m;
            kg = (kg + m - 1) / m * m;
        }
        d->c = cg * d->groups;
        d->k = kg * d->groups;
        if (sc_rng_range(r, 0, 6) == 0) { /* pointwise: the GEMM special case */
            d->r = d->s = 1;
        } else {
            d->r = sc_rng_range(r, 1, 5);
            d->s = sc_rng_range(r, 0, 3) == 0 ? sc_rng_range(r, 1, 5) : d->r;
            if (sc_rng_range(r, 0, 15) == 0) d->r = d->s = 7;
        }
        bool plain = sc_rng_range(r, 0, 2) == 0; /* stride 1, dilation 1 a third of the time */
        d->stride_h = plain ? 1 : sc_rng_range(r, 1, 3);
        d->stride_w = plain ? 1 : sc_rng_range(r, 1, 3);
        d->dil_h = plain ? 1 : sc_rng_range(r, 1, 3);
        d->dil_w = plain ? 1 : sc_rng_range(r, 1, 3);
        d->pad_h = sc_rng_range(r, 0, 3);
        d->pad_w = sc_rng_range(r, 0, 3);
        int64_t hi = large ? 40 : 20;
        d->h = sc_rng_range(r, 1, hi);
        d->w = sc_rng_range(r, 0, 2) == 0 ? d->h : sc_rng_range(r, 1, hi);
        d->layout = o->layout >= 0 ? (sc_layout)o->layout : (sc_layout)sc_rng_range(r, 0, 1);
        d->dtype = o->dtype;
        if (sc_conv2d_validate(d) != SC_STATUS_OK) continue; /* filter beyond the padded input */
        double limit = large ? o->max_macs * 10 : o->max_macs;
        if (macs(d) > limit) continue;
        return;
    }
}

void sc_desc_format(const sc_conv2d_desc *d, char *buf, size_t size)
{
    snprintf(buf, size,
             "n%lld c%lld %lldx%lld k%lld %lldx%lld s%lld,%lld p%lld,%lld d%lld,%lld g%lld %s %s",
             (long long)d->n, (long long)d->c, (long long)d->h, (long long)d->w, (long long)d->k,
             (long long)d->r, (long long)d->s, (long long)d->stride_h, (long long)d->stride_w,
             (long long)d->pad_h, (long long)d->pad_w, (long long)d->dil_h, (long long)d->dil_w,
             (long long)d->groups, d->layout == SC_NHWC ? "nhwc" : "nchw",
             d->dtype == SC_DTYPE_F32   ? "f32"
             : d->dtype == SC_DTYPE_F16 ? "f16"
                                        : "bf16");
}

double sc_check_tolerance(sc_dtype t, int64_t length)
{
    if (t != SC_DTYPE_F32) return 1e-2;
    return length <= 2048 ? 1e-5 : 1e-4;
}

/* ---- buffers in the device's memory space ---------------------------------------------- */

typedef struct buf {
    float *host; /* host copy (inputs: the data; outputs: read back) */
    void *dev;   /* device memory, or == host on the CPU */
    int64_t n;
} buf;

static void buf_free(int device, buf *b)
{
    if (b->dev && b->dev != b->host) sc_memory_free(device, b->dev);
    free(b->host);
    memset(b, 0, sizeof *b);
}

/* A buffer of n floats: random data from *rng, or NaN (rng == NULL). */
static sc_status buf_make(int device, buf *b, int64_t n, sc_rng *rng)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    if (!(b->host = malloc((size_t)n * sizeof(float)))) return SC_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) b->host[i] = rng ? sc_rng_unit(rng) : NAN;
    if (device == SC_DEVICE_CPU) {
        b->dev = b->host;
        return SC_STATUS_OK;
    }
    sc_status st = sc_memory_alloc(device, (size_t)n * sizeof(float), &b->dev);
    if (!st) st = sc_memory_copy(device, b->dev, b->host, (size_t)n * sizeof(float), 1);
    return st;
}

static sc_status buf_fetch(int device, buf *b)
{
    if (device == SC_DEVICE_CPU) return SC_STATUS_OK;
    return sc_memory_copy(device, b->host, b->dev, (size_t)b->n * sizeof(float), 0);
}

static sc_status buf_poison(int device, buf *b)
{
    for (int64_t i = 0; i < b->n; i++) b->host[i] = NAN;
    if (device == SC_DEVICE_CPU) return SC_STATUS_OK;
    return sc_memory_copy(device, b->dev, b->host, (size_t)b->n * sizeof(float), 1);
}

/* Accumulate squared error and reference norm; count non-finite outputs. */
static void compare(const float *out, const float *ref, int64_t n, double *err2, double *ref2,
                    int64_t *bad)
{
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(out[i])) {
            (*bad)++;
            continue;
        }
        double e = (double)out[i] - (double)ref[i];
        *err2 += e * e;
        *ref2 += (double)ref[i] * ref[i];
    }
}

/* Cancellation. Where an output is a few terms of opposite signs that nearly cancel, fp32
 * rounding of the terms is large against the output itself, so ||out - ref|| / ||ref|| can
 * exceed the tolerance for a correct kernel (e.g. one dx element summing 5 products). Then the
 * error is measured against the terms' magnitudes m (the reference run on |inputs|):
 * ||out - ref|| / ||m|| <= tol / sqrt(length). Without cancellation ||ref|| is about
 * ||m|| / sqrt(length) for random data, so this is the same bar; a wrong or missing term gives
 * an error of about ||m|| / length, far above it for any length the tests use.
 * Returns ||out - ref|| / ||m|| for err2 = ||out - ref||^2, or -1 if it cannot be computed. */
static double magnitude_error(sc_context *rctx, const sc_conv2d_desc *d, sc_direction dir,
                              const buf *bufs, const int64_t *n, double err2)
{
    float *in[3] = {NULL, NULL, NULL}, *mag[2] = {NULL, NULL};
    double r = -1, mag2 = 0;
    for (int i = 0; i < 3; i++)
        if (n[i]) {
            if (!(in[i] = malloc((size_t)n[i] * sizeof(float)))) goto out;
            for (int64_t j = 0; j < n[i]; j++) in[i][j] = fabsf(bufs[i].host[j]);
        }
    for (int i = 0; i < 2; i++)
        if (n[3 + i] && !(mag[i] = malloc((size_t)n[3 + i] * sizeof(float)))) goto out;
    if (sc_run_direction(rctx, d, dir, in[0], in[1], in[2], mag[0], mag[1])) goto out;
    for (int i = 0; i < 2; i++)
        for (int64_t j = 0; j < n[3 + i]; j++) mag2 += (double)mag[i][j] * mag[i][j];
    if (mag2 > 0) r = sqrt(err2 / mag2);
out:
    for (int i = 0; i < 3; i++) free(in[i]);
    for (int i = 0; i < 2; i++) free(mag[i]);
    return r;
}

sc_status sc_run_direction(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                           const void *a, const void *b, const void *c, void *out, void *out2)
{
    switch (dir) {
    case SC_DIR_FORWARD: return sc_conv2d_forward(ctx, d, a, b, c, out, NULL, 0);
    case SC_DIR_BACKWARD_DATA: return sc_conv2d_backward_data(ctx, d, a, b, out, NULL, 0);
    case SC_DIR_BACKWARD_WEIGHT: return sc_conv2d_backward_weight(ctx, d, a, b, out, out2, NULL, 0);
    case SC_DIR_BACKWARD_BIAS: return sc_conv2d_backward_bias(ctx, d, a, out);
    }
    return SC_STATUS_BAD_PARAM;
}

sc_status sc_check_direction(sc_context *ctx, int device, const sc_conv2d_desc *d, sc_direction dir,
                             uint64_t data_seed, sc_check_result *res)
{
    memset(res, 0, sizeof *res);
    res->bits_repeat = true;
    res->mag_err = -1;
    int64_t xe, we, ye, p, q;
    sc_status st = sc_conv2d_tensor_elems(d, &xe, &we, &ye);
    if (st) return st;
    sc_conv2d_output_size(d, &p, &q);
    int64_t cg = d->c / d->groups, kg = d->k / d->groups;
    /* Operand element counts in sc_call order (a, b, c, out, out2) and the reduction length. */
    int64_t n[5] = {0}, length = 0;
    switch (dir) {
    case SC_DIR_FORWARD:
        n[0] = xe, n[1] = we, n[2] = d->k, n[3] = ye, length = cg * d->r * d->s;
        break;
    case SC_DIR_BACKWARD_DATA: n[0] = ye, n[1] = we, n[3] = xe, length = kg * d->r * d->s; break;
    case SC_DIR_BACKWARD_WEIGHT:
        n[0] = xe, n[1] = ye, n[3] = we, n[4] = d->k, length = d->n * p * q;
        break;
    case SC_DIR_BACKWARD_BIAS: n[0] = ye, n[3] = d->k, length = d->n * p * q; break;
    }
    res->tol = sc_check_tolerance(d->dtype, length);

    sc_rng rng = {data_seed};
    buf bufs[5] = {0}, ref[2] = {0};
    float *first[2] = {NULL, NULL}; /* backward-weight: outputs of the first run */
    sc_context *rctx = NULL;
    for (int i = 0; i < 5 && !st; i++)
        if (n[i]) st = buf_make(device, &bufs[i], n[i], i < 3 ? &rng : NULL);
    for (int i = 0; i < 2 && !st; i++)
        if (n[3 + i]) st = buf_make(SC_DEVICE_CPU, &ref[i], n[3 + i], NULL);
    if (st) {
        snprintf(res->message, sizeof res->message, "allocation failed: %s", sc_last_error());
        goto out;
    }

    /* The reference, on the host. */
    sc_context_options ro;
    sc_context_options_init(&ro);
    ro.algo = SC_ALGO_CPU_REFERENCE;
    if ((st = sc_context_create(&ro, &rctx))) goto out;
    st = sc_run_direction(rctx, d, dir, bufs[0].host, bufs[1].host, bufs[2].host, ref[0].host,
                          ref[1].host);
    if (st) {
        snprintf(res->message, sizeof res->message, "reference failed: %s", sc_last_error());
        goto out;
    }

    int runs = dir == SC_DIR_BACKWARD_WEIGHT ? 2 : 1;
    for (int run = 0; run < runs; run++) {
        for (int i = 3; i < 5; i++)
            if (n[i] && (st = buf_poison(device, &bufs[i]))) goto out;
        sc_status rs = sc_run_direction(ctx, d, dir, bufs[0].dev, bufs[1].dev, bufs[2].dev,
                                        bufs[3].dev, bufs[4].dev);
        if (!rs) rs = sc_context_synchronize(ctx);
        if (rs) {
            snprintf(res->message, sizeof res->message, "%s: %s", sc_status_string(rs),
                     sc_last_error());
            goto out; /* res->pass stays false; st stays OK: the check ran */
        }
        for (int i = 3; i < 5; i++)
            if (n[i] && (st = buf_fetch(device, &bufs[i]))) goto out;
        if (run == 0) {
            double err2 = 0, ref2 = 0;
            for (int i = 3; i < 5; i++)
                if (n[i])
                    compare(bufs[i].host, ref[i - 3].host, n[i], &err2, &ref2, &res->bad_elems);
            res->rel_err = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
            if (res->rel_err > res->tol && !res->bad_elems)
                res->mag_err = magnitude_error(rctx, d, dir, bufs, n, err2);
            for (int i = 0; i < 2 && runs > 1; i++)
                if (n[3 + i]) {
                    first[i] = malloc((size_t)n[3 + i] * sizeof(float));
                    if (first[i])
                        memcpy(first[i], bufs[3 + i].host, (size_t)n[3 + i] * sizeof(float));
                }
        } else {
            for (int i = 0; i < 2; i++)
                if (n[3 + i] && (!first[i] || memcmp(first[i], bufs[3 + i].host,
                                                     (size_t)n[3 + i] * sizeof(float))))
                    res->bits_repeat = false;
        }
    }
    sc_stats stats;
    if (!sc_context_get_stats(ctx, &stats)) res->algo = stats.last_algo;
    double mag_tol = res->tol / sqrt((double)(length > 0 ? length : 1));
    bool close = res->rel_err <= res->tol || (res->mag_err >= 0 && res->mag_err <= mag_tol);
    res->pass = res->bad_elems == 0 && close && res->bits_repeat;
    if (res->bad_elems)
        snprintf(res->message, sizeof res->message, "%lld output elements NaN/Inf (unwritten?)",
                 (long long)res->bad_elems);
    else if (!close)
        snprintf(res->message, sizeof res->message,
                 "relative error %.3g over tolerance %.1g (%.3g of the terms' magnitudes, "
                 "over %.2g)",
                 res->rel_err, res->tol, res->mag_err, mag_tol);
    else if (!res->bits_repeat)
        snprintf(res->message, sizeof res->message,
                 "second run differs bitwise (nondeterministic)");
out:
    free(first[0]);
    free(first[1]);
    for (int i = 0; i < 5; i++) buf_free(device, &bufs[i]);
    for (int i = 0; i < 2; i++) buf_free(SC_DEVICE_CPU, &ref[i]);
    sc_context_destroy(rctx);
    return st;
}
