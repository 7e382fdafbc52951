/* check.c - random configurations and checked runs (see check.h). */
#include "check.h"
#include "common/half.h"

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
    o->shapes = SC_SHAPES_ANY;
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
        if (o->shapes == SC_SHAPES_3X3S1) { /* after the draws: the sequence stays the same */
            d->groups = 1;                  /* C and K as drawn */
            d->r = d->s = 3;
            d->stride_h = d->stride_w = d->dil_h = d->dil_w = 1;
            d->pad_h %= 3, d->pad_w %= 3;
        } else if (o->shapes == SC_SHAPES_DW) { /* C as drawn, one group per channel */
            d->groups = d->c;
            d->k = d->c * (d->k % 3 == 0 ? 2 : 1);
            d->r = d->s = 3 + 2 * (d->r % 3);
        } else if (o->shapes == SC_SHAPES_DWLONG) { /* from the drawn values, no new draws */
            int64_t mult = 1 + (d->k * 7 + d->h) % 16;
            d->groups = d->c;
            d->k = d->c * mult;
            d->r = 1 + d->r % 3;
            d->s = 8 + (d->s * 29 + d->w * 13 + d->pad_w * 5) % 73;
            d->stride_h = d->stride_w = d->dil_h = d->dil_w = 1;
            d->pad_h %= d->r;
            d->pad_w = (d->pad_w * 17 + d->w) % (d->s + 1);
            d->w += d->s; /* rows long enough for the filter whatever the padding */
        } else if (o->shapes == SC_SHAPES_STEM) { /* from the drawn values, no new draws */
            d->groups = 1;
            d->c = 1 + (d->c + d->h) % 4;
            if ((d->h + d->w + d->k) % 3 == 0) d->r = d->s = 7;
            if ((d->pad_h + d->w) % 4 != 0) d->dil_h = d->dil_w = 1;
            d->h += (d->k * 5 + d->w) % 17;
            d->w += (d->k * 3 + d->h) % 17;
        } else if (o->shapes == SC_SHAPES_FEWC) { /* from the drawn values, no new draws */
            int64_t cg0 = d->c / d->groups, kg0 = d->k / d->groups;
            bool wide = (d->h + d->pad_w) % 3 == 0;
            d->groups = 1 + (d->h + d->k * 3) % 4;
            cg0 = 1 + (cg0 * 7 + d->w) % (wide ? 4 : 16);
            kg0 = 1 + (kg0 * 5 + d->h) % (wide ? 8 : 24);
            d->c = cg0 * d->groups;
            d->k = kg0 * d->groups;
            d->r = d->s = 3;
            d->stride_h = 1 + (d->stride_h + d->w) % 2;
            d->stride_w = 1 + (d->stride_w + d->h) % 2;
            d->dil_h = d->dil_w = 1;
            d->pad_h %= 3, d->pad_w %= 3;
            if (wide) d->w += 60 + (d->k * 11) % 81;
            d->h += (d->k * 5 + d->w) % 9;
        } else if (o->shapes == SC_SHAPES_DWS2) { /* from the drawn values, no new draws */
            d->groups = d->c;
            d->k = d->c * (1 + (d->k + d->h) % 3);
            d->s = 3 + 2 * (d->s % 3);
            d->r = (d->w + d->pad_h) % 4 == 0 ? 1 + (d->r + d->h) % 7 : d->s;
            d->stride_w = 2;
            d->stride_h = 1 + (d->stride_h + d->w) % 3;
            d->dil_h = d->dil_w = 1;
            d->pad_h = (d->pad_h * 5 + d->k) % d->r;
            d->pad_w = (d->pad_w * 7 + d->h) % d->s;
            d->w += 8 + (d->k * 3 + d->h) % 13;
        } else if (o->shapes == SC_SHAPES_PW) { /* from the drawn values, no new draws */
            bool big = (d->h + d->k) % 3 == 0;
            d->groups = 1;
            d->c = 1 + (d->c * 7 + d->w) % 64;
            d->k = 1 + (d->k * 5 + d->h) % 64;
            d->r = d->s = 1;
            d->stride_h = 1 + (d->stride_h + d->w) % 2;
            d->stride_w = 1 + (d->stride_w + d->h) % 2;
            d->pad_h = d->pad_w = 0;
            if (big) d->h += 40 + (d->k * 13) % 61, d->w += 40 + (d->c * 11) % 61;
        } else if (o->shapes == SC_SHAPES_3X3D) { /* from the drawn values, no new draws */
            d->groups = 1;                        /* C and K as drawn */
            d->r = d->s = 3;
            d->stride_h = d->stride_w = 1;
            d->dil_h = (d->h + d->k) % 7 == 0 ? 1 : 2 + (d->h * 3 + d->c) % 4;
            d->dil_w = (d->w + d->c) % 7 == 0 ? 1 : 2 + (d->w * 5 + d->k) % 4;
            d->pad_h = (d->pad_h * 7 + d->w) % (2 * d->dil_h + 1);
            d->pad_w = (d->pad_w * 5 + d->h) % (2 * d->dil_w + 1);
            d->h += 2 * d->dil_h, d->w += 2 * d->dil_w;
        }
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

/* Unit roundoff of the output type: the one rounding of each result. */
static double unit_roundoff(sc_dtype t)
{
    return t == SC_DTYPE_F16    ? ldexp(1.0, -11)
           : t == SC_DTYPE_BF16 ? ldexp(1.0, -8)
                                : ldexp(1.0, -24);
}

double sc_check_bound(sc_dtype t, int64_t length, double ref_norm, double mag_norm)
{
    return unit_roundoff(t) * ref_norm + 2.0 * ldexp(1.0, -24) * (double)length * mag_norm;
}

/* ---- buffers in the device's memory space ---------------------------------------------- */

/* A tensor of n elements of `dtype`: `host` holds the values as floats (inputs: the data,
 * already rounded to dtype; outputs: read back and widened), `raw` the elements as the library
 * sees them (== host for fp32), `dev` the device copy (== raw on the CPU). */
typedef struct buf {
    float *host;
    void *raw;
    void *dev;
    int64_t n;
    sc_dtype dtype;
} buf;

static size_t esize(sc_dtype t) { return t == SC_DTYPE_F32 ? 4 : 2; }

static void buf_free(int device, buf *b)
{
    if (b->dev && b->dev != b->raw) sc_memory_free(device, b->dev);
    if (b->raw != b->host) free(b->raw);
    free(b->host);
    memset(b, 0, sizeof *b);
}

/* host[i] -> raw[i] (rounded to dtype), and host[i] = the rounded value. */
static void buf_round(buf *b)
{
    uint16_t *r = (uint16_t *)b->raw;
    for (int64_t i = 0; i < b->n && b->dtype != SC_DTYPE_F32; i++) {
        if (b->dtype == SC_DTYPE_F16) {
            r[i] = sc_f32_to_f16(b->host[i]);
            b->host[i] = sc_f16_to_f32(r[i]);
        } else {
            r[i] = sc_f32_to_bf16(b->host[i]);
            b->host[i] = sc_bf16_to_f32(r[i]);
        }
    }
}

/* raw -> host (widened). */
static void buf_widen(buf *b)
{
    const uint16_t *r = (const uint16_t *)b->raw;
    for (int64_t i = 0; i < b->n && b->dtype != SC_DTYPE_F32; i++)
        b->host[i] = b->dtype == SC_DTYPE_F16 ? sc_f16_to_f32(r[i]) : sc_bf16_to_f32(r[i]);
}

/* A buffer of n elements of dtype: random data from *rng (rounded to dtype), or NaN (rng ==
 * NULL). */
static sc_status buf_make(int device, buf *b, int64_t n, sc_rng *rng, sc_dtype dtype)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    b->dtype = dtype;
    if (!(b->host = malloc((size_t)n * sizeof(float)))) return SC_STATUS_OUT_OF_MEMORY;
    b->raw = b->host;
    if (dtype != SC_DTYPE_F32 && !(b->raw = malloc((size_t)n * 2))) return SC_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) b->host[i] = rng ? sc_rng_unit(rng) : NAN;
    buf_round(b);
    if (device == SC_DEVICE_CPU) {
        b->dev = b->raw;
        return SC_STATUS_OK;
    }
    sc_status st = sc_memory_alloc(device, (size_t)n * esize(dtype), &b->dev);
    if (!st) st = sc_memory_copy(device, b->dev, b->raw, (size_t)n * esize(dtype), 1);
    return st;
}

static sc_status buf_fetch(int device, buf *b)
{
    sc_status st = SC_STATUS_OK;
    if (device != SC_DEVICE_CPU)
        st = sc_memory_copy(device, b->raw, b->dev, (size_t)b->n * esize(b->dtype), 0);
    buf_widen(b);
    return st;
}

static sc_status buf_poison(int device, buf *b)
{
    for (int64_t i = 0; i < b->n; i++) b->host[i] = NAN;
    buf_round(b);
    if (device == SC_DEVICE_CPU) return SC_STATUS_OK;
    return sc_memory_copy(device, b->dev, b->raw, (size_t)b->n * esize(b->dtype), 1);
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

/* ||m||: the norm of the outputs computed by the reference (descriptor d, fp32) on the
 * inputs' absolute values, i.e. of the sum of the terms' magnitudes of each output. -1 if it
 * cannot be computed. Both tolerances below are measured against it where the output itself
 * cancels. */
static double magnitude_norm(sc_context *rctx, const sc_conv2d_desc *d, sc_direction dir,
                             float *const *inputs, const int64_t *n)
{
    float *in[3] = {NULL, NULL, NULL}, *mag[2] = {NULL, NULL};
    double r = -1, mag2 = 0;
    for (int i = 0; i < 3; i++)
        if (n[i]) {
            if (!(in[i] = malloc((size_t)n[i] * sizeof(float)))) goto out;
            for (int64_t j = 0; j < n[i]; j++) in[i][j] = fabsf(inputs[i][j]);
        }
    for (int i = 0; i < 2; i++)
        if (n[3 + i] && !(mag[i] = malloc((size_t)n[3 + i] * sizeof(float)))) goto out;
    if (sc_run_direction(rctx, d, dir, in[0], in[1], in[2], mag[0], mag[1])) goto out;
    for (int i = 0; i < 2; i++)
        for (int64_t j = 0; j < n[3 + i]; j++) mag2 += (double)mag[i][j] * mag[i][j];
    r = sqrt(mag2);
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

void sc_check_options_init(sc_check_options *o) { memset(o, 0, sizeof *o); }

sc_status sc_check_direction(sc_context *ctx, int device, const sc_conv2d_desc *d, sc_direction dir,
                             uint64_t data_seed, sc_check_result *res)
{
    sc_check_options o;
    sc_check_options_init(&o);
    return sc_check_direction_ex(ctx, device, d, dir, data_seed, &o, res);
}

/* Tolerances. fp32 (exact math): ||out - ref|| / ||ref|| <= sc_check_tolerance; where the
 * output cancels its terms (e.g. one dx element summing 5 products of opposite signs), fp32
 * rounding of the terms is large against the output itself, so a correct kernel can exceed
 * that, and the error is then measured against the terms' magnitudes m (the reference on
 * |inputs|): ||out - ref|| / ||m|| <= tol / sqrt(length). Without cancellation ||ref|| is
 * about ||m|| / sqrt(length) for random data, so this is the same bar; a wrong or missing term
 * gives an error of about ||m|| / length, far above it for any length the tests use.
 *
 * fp16, bf16 and TF32: the reference takes the inputs as the kernel's multipliers see them
 * (rounded to the type), so each product is exact in fp32 (11- or 8-bit significands: 22 or
 * 16 bits; TF32: 22) and the error has two sources only: the fp32 sum of `length` terms,
 * at most length * u32 * sum|terms| in any order (Higham, gamma_n), with u32 = 2^-24 doubled
 * because tensor cores may truncate rather than round inside an MMA; and the one rounding of
 * each result to the output type, at most u_out * |ref| (2^-11 fp16, 2^-8 bf16, 2^-24 fp32).
 * In norms: ||out - ref|| <= u_out * ||ref|| + 2 * u32 * length * ||m|| (sc_check_bound). A
 * worst-case bound, so a correct kernel never exceeds it by chance; a dropped or wrong term
 * gives an error of about ||m|| / length, above it while length^2 < 1 / (2 * u32) (~2900: the
 * property space's reductions are shorter), and a wrong rounding of the inputs (truncation)
 * about 2^-9 relative, far above. */
sc_status sc_check_direction_ex(sc_context *ctx, int device, const sc_conv2d_desc *d,
                                sc_direction dir, uint64_t data_seed, const sc_check_options *opt,
                                sc_check_result *res)
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
        n[0] = xe, n[1] = we, n[2] = d->k, n[3] = ye, length = cg * d->r * d->s + 1;
        break;
    case SC_DIR_BACKWARD_DATA: n[0] = ye, n[1] = we, n[3] = xe, length = kg * d->r * d->s; break;
    case SC_DIR_BACKWARD_WEIGHT:
        n[0] = xe, n[1] = ye, n[3] = we, n[4] = d->k, length = d->n * p * q;
        break;
    case SC_DIR_BACKWARD_BIAS: n[0] = ye, n[3] = d->k, length = d->n * p * q; break;
    }
    /* TF32 math changes the reference only where the family that runs multiplies in TF32. */
    sc_algo runs = SC_ALGO_NONE;
    bool tf32 = false;
    if (opt->tf32 && d->dtype == SC_DTYPE_F32 && dir != SC_DIR_BACKWARD_BIAS &&
        sc_conv2d_select(ctx, d, dir, &runs) == SC_STATUS_OK)
        tf32 = runs == SC_ALGO_GPU_IMPLICIT_GEMM_MMA;
    bool reduced = d->dtype != SC_DTYPE_F32 || tf32;
    res->tol = sc_check_tolerance(d->dtype, length);

    sc_rng rng = {data_seed};
    buf bufs[5] = {0}, ref[2] = {0};
    float *first[2] = {NULL, NULL};     /* backward-weight: outputs of the first run */
    float *rin[3] = {NULL, NULL, NULL}; /* the reference's inputs */
    float *tin[3] = {NULL, NULL, NULL}; /* TF32: the inputs rounded as the kernel rounds them */
    double mag_norm = -1;
    sc_context *rctx = NULL;
    sc_conv2d_desc df = *d; /* the reference computes in fp32 on the widened inputs */
    df.dtype = SC_DTYPE_F32;
    for (int i = 0; i < 5 && !st; i++)
        if (n[i]) st = buf_make(device, &bufs[i], n[i], i < 3 ? &rng : NULL, d->dtype);
    for (int i = 0; i < 2 && !st; i++)
        if (n[3 + i]) st = buf_make(SC_DEVICE_CPU, &ref[i], n[3 + i], NULL, SC_DTYPE_F32);
    for (int i = 0; i < 3 && !st; i++) {
        rin[i] = bufs[i].host;
        if (!tf32 || !n[i]) continue;
        if (!(tin[i] = malloc((size_t)n[i] * sizeof(float)))) {
            st = SC_STATUS_OUT_OF_MEMORY;
            break;
        }
        for (int64_t j = 0; j < n[i]; j++)
            tin[i][j] = i == 2 ? bufs[i].host[j] : sc_f32_round_tf32(bufs[i].host[j]);
        rin[i] = tin[i]; /* the bias is added in fp32, not multiplied */
    }
    if (st) {
        snprintf(res->message, sizeof res->message, "allocation failed: %s", sc_last_error());
        goto out;
    }

    /* The reference, on the host. */
    sc_context_options ro;
    sc_context_options_init(&ro);
    ro.algo = SC_ALGO_CPU_REFERENCE;
    if ((st = sc_context_create(&ro, &rctx))) goto out;
    st = sc_run_direction(rctx, &df, dir, rin[0], rin[1], rin[2], ref[0].host, ref[1].host);
    /* The bias gradient is a sum of dy, not a product: no TF32 rounding there. */
    if (!st && tf32 && n[4]) st = sc_conv2d_backward_bias(rctx, &df, bufs[1].host, ref[1].host);
    if (st) {
        snprintf(res->message, sizeof res->message, "reference failed: %s", sc_last_error());
        goto out;
    }

    int runs_n = dir == SC_DIR_BACKWARD_WEIGHT ? 2 : 1;
    double err2 = 0, ref2 = 0;
    for (int run = 0; run < runs_n; run++) {
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
            for (int i = 3; i < 5; i++)
                if (n[i])
                    compare(bufs[i].host, ref[i - 3].host, n[i], &err2, &ref2, &res->bad_elems);
            res->rel_err = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
            if ((reduced || res->rel_err > res->tol) && !res->bad_elems) {
                mag_norm = magnitude_norm(rctx, &df, dir, rin, n);
                if (mag_norm > 0) res->mag_err = sqrt(err2) / mag_norm;
            }
            for (int i = 0; i < 2 && runs_n > 1; i++)
                if (n[3 + i]) {
                    first[i] = malloc((size_t)n[3 + i] * esize(d->dtype));
                    if (first[i])
                        memcpy(first[i], bufs[3 + i].raw, (size_t)n[3 + i] * esize(d->dtype));
                }
        } else {
            for (int i = 0; i < 2; i++)
                if (n[3 + i] && (!first[i] || memcmp(first[i], bufs[3 + i].raw,
                                                     (size_t)n[3 + i] * esize(d->dtype))))
                    res->bits_repeat = false;
        }
    }
    sc_stats stats;
    if (!sc_context_get_stats(ctx, &stats)) res->algo = stats.last_algo;
    bool close;
    if (reduced) {
        double bound = sc_check_bound(tf32 ? SC_DTYPE_F32 : d->dtype, length, sqrt(ref2),
                                      mag_norm > 0 ? mag_norm : 0);
        res->tol = ref2 > 0 ? bound / sqrt(ref2) : bound;
        close = mag_norm >= 0 && sqrt(err2) <= bound;
    } else {
        double mag_tol = res->tol / sqrt((double)(length > 0 ? length : 1));
        close = res->rel_err <= res->tol || (res->mag_err >= 0 && res->mag_err <= mag_tol);
    }
    res->pass = res->bad_elems == 0 && close && res->bits_repeat;
    if (res->bad_elems)
        snprintf(res->message, sizeof res->message, "%lld output elements NaN/Inf (unwritten?)",
                 (long long)res->bad_elems);
    else if (!close && reduced)
        snprintf(res->message, sizeof res->message,
                 "relative error %.3g over the derived bound %.3g (%s, length %lld)", res->rel_err,
                 res->tol,
                 tf32                       ? "tf32"
                 : d->dtype == SC_DTYPE_F16 ? "f16"
                                            : "bf16",
                 (long long)length);
    else if (!close)
        snprintf(res->message, sizeof res->message,
                 "relative error %.3g over tolerance %.1g (%.3g of the terms' magnitudes, "
                 "over %.2g)",
                 res->rel_err, res->tol, res->mag_err,
                 res->tol / sqrt((double)(length > 0 ? length : 1)));
    else if (!res->bits_repeat)
        snprintf(res->message, sizeof res->message,
                 "second run differs bitwise (nondeterministic)");
out:
    free(first[0]);
    free(first[1]);
    for (int i = 0; i < 3; i++) free(tin[i]);
    for (int i = 0; i < 5; i++) buf_free(device, &bufs[i]);
    for (int i = 0; i < 2; i++) buf_free(SC_DEVICE_CPU, &ref[i]);
    sc_context_destroy(rctx);
    return st;
}
