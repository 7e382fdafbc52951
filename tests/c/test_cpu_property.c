/* test_cpu_property.c - property tests of every CPU algorithm against the double-precision
 * reference: random configurations from the property space (docs/architecture.md), fresh data,
 * NaN-poisoned outputs, bit-identical repeated backward-weight (tools/check.c). At least 300
 * configurations per direction per algorithm (100 under --quick); the seed is printed at the
 * start of the run and per failure, so `safeconv verify --replay SEED` reproduces one.
 * The oneDNN route runs in both of its layout variants (SAFECONV_ONEDNN_VARIANT) when the
 * build has it. */
#include "../../tools/check.h"
#include "cpu_onednn_util.h"
#include "testlib.h"

#include <stdlib.h>

static void property(sc_algo algo, size_t ws_limit, int count)
{
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = algo;
    o.workspace_limit = ws_limit;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_gen_options gen;
    sc_gen_options_init(&gen);
    int n = sc_test_count(sc_test_quick() ? 100 : count), failures = 0;
    uint64_t base = sc_test_seed() ^ (uint64_t)algo * 0x9e37;
    for (int i = 0; i < n && failures < 5; i++) {
        uint64_t seed = sc_mix_seed(base, (uint64_t)i);
        sc_rng rng = {seed};
        sc_conv2d_desc d;
        sc_random_desc(&rng, &gen, &d);
        for (int dir = 0; dir < 4; dir++) {
            sc_check_result res;
            CHECK_STATUS(
                sc_check_direction(ctx, SC_DEVICE_CPU, &d, (sc_direction)dir, seed + 1 + dir, &res),
                SC_STATUS_OK);
            if (!res.pass) {
                char text[160];
                sc_desc_format(&d, text, sizeof text);
                sc_test_fail(__FILE__, __LINE__, "dir %d %s seed 0x%016llx: %s", dir, text,
                             (unsigned long long)seed, res.message);
                failures++;
            }
        }
    }
    sc_context_destroy(ctx);
}

SC_TEST(cpu_property_default_selection) { property(SC_ALGO_NONE, 0, 400); }
SC_TEST(cpu_property_im2col_gemm) { property(SC_ALGO_CPU_IM2COL_GEMM, 0, 300); }
SC_TEST(cpu_property_direct) { property(SC_ALGO_CPU_DIRECT, 0, 300); }
/* 64 KiB: most problems need several column blocks, exercising the block edges. */
SC_TEST(cpu_property_im2col_small_blocks) { property(SC_ALGO_CPU_IM2COL_GEMM, 64 << 10, 300); }

/* The oneDNN route as selection orders its layout variants, then each variant alone (150 each:
 * every new problem creates oneDNN primitives, milliseconds apiece). */
SC_TEST(cpu_property_onednn)
{
    if (sc_test_onednn_built()) property(SC_ALGO_CPU_ONEDNN, 0, 300);
}
SC_TEST(cpu_property_onednn_user_layout)
{
    if (!sc_test_onednn_built()) return;
    setenv("SAFECONV_ONEDNN_VARIANT", "user", 1);
    property(SC_ALGO_CPU_ONEDNN, 0, 150);
    unsetenv("SAFECONV_ONEDNN_VARIANT");
}
SC_TEST(cpu_property_onednn_blocked_layout)
{
    if (!sc_test_onednn_built()) return;
    setenv("SAFECONV_ONEDNN_VARIANT", "blocked", 1);
    property(SC_ALGO_CPU_ONEDNN, 0, 150);
    unsetenv("SAFECONV_ONEDNN_VARIANT");
}

/* The checker itself must be able to fail: a result with a wrong bias is caught. */
SC_TEST(cpu_checker_catches_wrong_results)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 2, d.c = 3, d.h = 5, d.w = 5, d.k = 4, d.r = 3, d.s = 3;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(NULL, &ctx), SC_STATUS_OK);
    float x[150], w[108], y[72], y2[72], bias[4] = {0, 0, 0, 0}, bias2[4] = {0, 0, 1e-3f, 0};
    for (int i = 0; i < 150; i++) x[i] = (float)((i * 37) % 11) - 5.0f;
    for (int i = 0; i < 108; i++) w[i] = (float)((i * 13) % 7) - 3.0f;
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, bias, y, NULL, 0), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, bias2, y2, NULL, 0), SC_STATUS_OK);
    int differ = 0;
    for (int i = 0; i < 72; i++) differ += y[i] != y2[i];
    CHECK(differ == 2 * 9); /* channel 2 of both images, 3x3 outputs each */
    sc_context_destroy(ctx);
}

/* Cancellation is not an error: this configuration's only nonzero dx element sums 5 products
 * that nearly cancel, so the direct kernel's fp32 rounding is 2.6e-5 of the result (over the
 * 1e-5 tolerance) but ~1e-7 of the terms' magnitudes (a CI failure of 2026-12-02, replayed:
 * `safeconv verify --replay 0x8297028c3f53807d`). The checker must pass it through the
 * magnitude bound (tools/check.c, magnitude_error). */
SC_TEST(cpu_checker_cancellation)
{
    uint64_t seed = 0x8297028c3f53807dull;
    sc_gen_options gen;
    sc_gen_options_init(&gen);
    sc_rng rng = {seed};
    sc_conv2d_desc d;
    sc_random_desc(&rng, &gen, &d);
    char text[160];
    sc_desc_format(&d, text, sizeof text);
    CHECK_MSG(d.c == 1 && d.k == 5 && d.r == 1 && d.s == 1, "generator changed: %s", text);
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_DIRECT;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_check_result res;
    CHECK_STATUS(sc_check_direction(ctx, SC_DEVICE_CPU, &d, SC_DIR_BACKWARD_DATA, seed + 2, &res),
                 SC_STATUS_OK);
    CHECK_MSG(res.rel_err > res.tol, "no cancellation any more: rel_err %g", res.rel_err);
    CHECK_MSG(res.pass, "%s", res.message);
    /* rounding sits well under the bar (tol / sqrt(5) = 4.5e-6); one wrong or missing product
     * would be about 1/5 of the magnitudes */
    CHECK_MSG(res.mag_err >= 0 && res.mag_err < 1e-6, "mag_err %g", res.mag_err);
    sc_context_destroy(ctx);
}

/* `safeconv verify --channel-multiple 8` (the GPU's channel-chunked plans): dense and grouped
 * layers get channels per group in multiples of 8, depthwise ones stay depthwise, and every
 * descriptor is still valid. */
SC_TEST(gen_channel_multiple)
{
    sc_gen_options gen;
    sc_gen_options_init(&gen);
    gen.channel_multiple = 8;
    gen.large_share = 0.3;
    int dense = 0;
    for (uint64_t i = 0; i < 300; i++) {
        sc_rng rng = {sc_mix_seed(0x5eed, i)};
        sc_conv2d_desc d;
        sc_random_desc(&rng, &gen, &d);
        CHECK(sc_conv2d_validate(&d) == SC_STATUS_OK);
        int64_t cg = d.c / d.groups, kg = d.k / d.groups;
        if (cg == 1) {
            CHECK(d.groups == d.c && (kg == 1 || kg == 2)); /* depthwise */
            continue;
        }
        CHECK_MSG(cg % 8 == 0 && kg % 8 == 0, "c %lld k %lld groups %lld", (long long)d.c,
                  (long long)d.k, (long long)d.groups);
        dense++;
    }
    CHECK(dense > 150);
}
