/* test_check_bound.c - the reduced-precision checks of tools/check.c pass correct results and
 * fail wrong ones: the CPU backend's fp16/bf16 path against the reference on rounded inputs
 * (every direction), and sc_check_bound against three deliberately wrong results built from
 * the reference: one term dropped, the inputs truncated to bf16 instead of rounded, and the
 * output scaled by 1 + 2^-7 (a kernel that is right to bf16 precision but not to fp32's). */
#include "../../tools/check.h"
#include "common/half.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

SC_TEST(check_reduced_precision_cpu_passes)
{
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(NULL, &ctx), SC_STATUS_OK);
    sc_gen_options g;
    sc_gen_options_init(&g);
    int count = sc_test_quick() ? 20 : 100;
    for (int t = 0; t < 2; t++) {
        g.dtype = t ? SC_DTYPE_BF16 : SC_DTYPE_F16;
        for (int i = 0; i < count; i++) {
            sc_rng r = {sc_mix_seed(sc_test_seed(), (uint64_t)i)};
            sc_conv2d_desc d;
            sc_random_desc(&r, &g, &d);
            for (int k = 0; k < 4; k++) {
                sc_check_result res;
                CHECK_STATUS(sc_check_direction(ctx, SC_DEVICE_CPU, &d, (sc_direction)k,
                                                sc_rng_next(&r), &res),
                             SC_STATUS_OK);
                CHECK_MSG(res.pass, "%s dir %d config %d: %s", t ? "bf16" : "f16", k, i,
                          res.message);
            }
        }
    }
    sc_context_destroy(ctx);
}

/* y = x (*) w of a fixed problem through the reference, the inputs as given. */
static void reference(const sc_conv2d_desc *d, const float *x, const float *w, float *y)
{
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_REFERENCE;
    sc_context *rc;
    if (sc_context_create(&o, &rc)) return;
    sc_conv2d_forward(rc, d, x, w, NULL, y, NULL, 0);
    sc_context_destroy(rc);
}

static double norm_diff(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

static double norm(const float *a, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

SC_TEST(check_bound_fails_wrong_results)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 2, d.c = 16, d.h = d.w = 9, d.k = 8, d.r = d.s = 3, d.pad_h = d.pad_w = 1;
    int64_t xe, we, ye;
    CHECK_STATUS(sc_conv2d_tensor_elems(&d, &xe, &we, &ye), SC_STATUS_OK);
    int64_t length = d.c * d.r * d.s;
    float *x = malloc(xe * 4), *w = malloc(we * 4), *xa = malloc(xe * 4), *wa = malloc(we * 4);
    float *ref = malloc(ye * 4), *mag = malloc(ye * 4), *bad = malloc(ye * 4);
    float *xt = malloc(xe * 4), *wt = malloc(we * 4);
    CHECK(x && w && xa && wa && ref && mag && bad && xt && wt);
    sc_rng r = {sc_test_seed()};
    for (int64_t i = 0; i < xe; i++) {
        float v = sc_rng_unit(&r);
        x[i] = sc_bf16_to_f32(sc_f32_to_bf16(v));
        xt[i] = sc_bf16_to_f32((uint16_t)(sc__f32_bits(v) >> 16)); /* truncated */
        xa[i] = fabsf(x[i]);
    }
    for (int64_t i = 0; i < we; i++) {
        float v = sc_rng_unit(&r);
        w[i] = sc_bf16_to_f32(sc_f32_to_bf16(v));
        wt[i] = sc_bf16_to_f32((uint16_t)(sc__f32_bits(v) >> 16));
        wa[i] = fabsf(w[i]);
    }
    reference(&d, x, w, ref);
    reference(&d, xa, wa, mag);
    double rn = norm(ref, ye), mn = norm(mag, ye);
    /* fp32 results (TF32-style bound, u_out = 2^-24) and bf16 outputs. */
    double b32 = sc_check_bound(SC_DTYPE_F32, length, rn, mn);
    double b16 = sc_check_bound(SC_DTYPE_BF16, length, rn, mn);
    /* The correct result rounded to bf16 passes the bf16 bound. */
    for (int64_t i = 0; i < ye; i++) bad[i] = sc_bf16_to_f32(sc_f32_to_bf16(ref[i]));
    CHECK(norm_diff(bad, ref, ye) <= b16);
    /* One term dropped: the weight element of largest magnitude zeroed (the first one, as
     * before, was near zero for about 3 seeds in 1000, within the bound by chance). */
    int64_t big = 0;
    for (int64_t i = 1; i < we; i++)
        if (wa[i] > wa[big]) big = i;
    float wb = w[big];
    w[big] = 0;
    reference(&d, x, w, bad);
    w[big] = wb;
    CHECK_MSG(norm_diff(bad, ref, ye) > b32, "dropped term: %g within %g", norm_diff(bad, ref, ye),
              b32);
    /* Inputs truncated instead of rounded. */
    reference(&d, xt, wt, bad);
    CHECK_MSG(norm_diff(bad, ref, ye) > b32, "truncated inputs: %g within %g",
              norm_diff(bad, ref, ye), b32);
    /* Scaled by 1 + 2^-7: within bf16's reach of one rounding per result? No: twice u_bf16. */
    for (int64_t i = 0; i < ye; i++) bad[i] = ref[i] * (1.0f + 1.0f / 128.0f);
    CHECK_MSG(norm_diff(bad, ref, ye) > b16, "scaled: %g within %g", norm_diff(bad, ref, ye), b16);
    free(x), free(w), free(xa), free(wa), free(ref), free(mag), free(bad), free(xt), free(wt);
}
