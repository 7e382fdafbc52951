/* test_api_bad_input.c - every bad-input class of the public API: the exact status, a message
 * naming the field, and nothing the caller owns touched. */
#include "safeconv.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>

/* A small valid problem: 1x4x6x6 input, 8 filters of 3x3, padding 1. */
static sc_conv2d_desc good(void)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 4, d.h = 6, d.w = 6, d.k = 8, d.r = 3, d.s = 3, d.pad_h = d.pad_w = 1;
    return d;
}

static sc_context *cpu_ctx(void)
{
    sc_context *ctx = NULL;
    if (sc_context_create(NULL, &ctx) != SC_STATUS_OK) return NULL;
    return ctx;
}

/* Validation alone and through a forward call: BAD_PARAM naming `field`. */
#define EXPECT_BAD_DESC(mutate, field)                                                             \
    do {                                                                                           \
        sc_conv2d_desc d = good();                                                                 \
        mutate;                                                                                    \
        CHECK_STATUS(sc_conv2d_validate(&d), SC_STATUS_BAD_PARAM);                                 \
        CHECK_ERROR_MENTIONS(field);                                                               \
        float buf[4096];                                                                           \
        for (int i_ = 0; i_ < 4096; i_++) buf[i_] = 7.0f;                                          \
        sc_context *ctx = cpu_ctx();                                                               \
        CHECK(ctx);                                                                                \
        sc_status st_ = sc_conv2d_forward(ctx, &d, buf, buf, NULL, buf + 2048, NULL, 0);           \
        sc_context_destroy(ctx);                                                                   \
        CHECK_STATUS(st_, SC_STATUS_BAD_PARAM);                                                    \
        CHECK_ERROR_MENTIONS(field);                                                               \
        for (int i_ = 2048; i_ < 4096; i_++) CHECK(buf[i_] == 7.0f); /* output untouched */        \
    } while (0)

SC_TEST(bad_nonpositive_sizes)
{
    EXPECT_BAD_DESC(d.n = 0, "desc.n");
    EXPECT_BAD_DESC(d.c = -1, "desc.c");
    EXPECT_BAD_DESC(d.h = 0, "desc.h");
    EXPECT_BAD_DESC(d.w = -7, "desc.w");
    EXPECT_BAD_DESC(d.k = 0, "desc.k");
    EXPECT_BAD_DESC(d.r = 0, "desc.r");
    EXPECT_BAD_DESC(d.s = -2, "desc.s");
}

SC_TEST(bad_negative_padding)
{
    EXPECT_BAD_DESC(d.pad_h = -1, "desc.pad_h");
    EXPECT_BAD_DESC(d.pad_w = -3, "desc.pad_w");
}

SC_TEST(bad_stride_and_dilation)
{
    EXPECT_BAD_DESC(d.stride_h = 0, "desc.stride_h");
    EXPECT_BAD_DESC(d.stride_w = -1, "desc.stride_w");
    EXPECT_BAD_DESC(d.dil_h = 0, "desc.dil_h");
    EXPECT_BAD_DESC(d.dil_w = -4, "desc.dil_w");
}

SC_TEST(bad_groups)
{
    EXPECT_BAD_DESC(d.groups = 0, "desc.groups");
    EXPECT_BAD_DESC(d.groups = 3, "desc.groups");            /* divides neither C=4 nor K=8 */
    EXPECT_BAD_DESC((d.c = 6, d.groups = 3), "desc.groups"); /* divides C=6, not K=8 */
    CHECK_ERROR_MENTIONS("K=8");
}

SC_TEST(bad_empty_output)
{
    EXPECT_BAD_DESC((d.pad_h = 0, d.r = 7), "desc.r");     /* 7 > 6 rows */
    EXPECT_BAD_DESC((d.pad_w = 0, d.dil_w = 3), "desc.s"); /* dilated 3x3 spans 7 > 6 */
    CHECK_ERROR_MENTIONS("empty output");
    /* A kernel larger than the input is fine when padding makes room. */
    sc_conv2d_desc d = good();
    d.r = 8, d.pad_h = 1;
    CHECK_STATUS(sc_conv2d_validate(&d), SC_STATUS_OK);
}

SC_TEST(bad_overflowing_sizes)
{
    EXPECT_BAD_DESC((d.n = (int64_t)1 << 31, d.c = (int64_t)1 << 31, d.h = 1 << 20), "x (N*C*H*W)");
    CHECK_ERROR_MENTIONS("overflow");
    EXPECT_BAD_DESC((d.k = (int64_t)1 << 40, d.c = (int64_t)1 << 30), "w (K*C/groups*R*S)");
    EXPECT_BAD_DESC((d.h = (int64_t)1 << 50), "exceeds 2^40");
    EXPECT_BAD_DESC((d.pad_w = INT64_MAX), "exceeds 2^40");
    EXPECT_BAD_DESC((d.s = 3, d.dil_w = INT64_MAX / 2), "exceeds 2^40");
}

SC_TEST(bad_enum_values)
{
    EXPECT_BAD_DESC(d.dtype = (sc_dtype)9, "desc.dtype");
    EXPECT_BAD_DESC(d.layout = (sc_layout)-1, "desc.layout");
}

SC_TEST(bad_null_pointers)
{
    sc_conv2d_desc d = good();
    sc_context *ctx = cpu_ctx();
    CHECK(ctx);
    static float x[144], w[288], y[288], dw[288];
    CHECK_STATUS(sc_conv2d_forward(NULL, &d, x, w, NULL, y, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("ctx");
    CHECK_STATUS(sc_conv2d_forward(ctx, NULL, x, w, NULL, y, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("desc");
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, NULL, w, NULL, y, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("x: NULL");
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, NULL, NULL, y, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("w: NULL");
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, NULL, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("y: NULL");
    CHECK_STATUS(sc_conv2d_backward_data(ctx, &d, NULL, w, x, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dy: NULL");
    CHECK_STATUS(sc_conv2d_backward_data(ctx, &d, y, w, NULL, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dx: NULL");
    CHECK_STATUS(sc_conv2d_backward_weight(ctx, &d, x, y, NULL, NULL, NULL, 0),
                 SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dw: NULL");
    CHECK_STATUS(sc_conv2d_backward_bias(ctx, &d, y, NULL), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dbias: NULL");
    /* Optional operands really are optional. */
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_backward_weight(ctx, &d, x, y, dw, NULL, NULL, 0), SC_STATUS_OK);
    sc_context_destroy(ctx);
}

SC_TEST(bad_misaligned_pointer)
{
    sc_conv2d_desc d = good();
    sc_context *ctx = cpu_ctx();
    CHECK(ctx);
    static float x[200], w[300], y[300];
    const char *bytes = (const char *)x;
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, bytes + 2, w, NULL, y, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("x: pointer");
    CHECK_ERROR_MENTIONS("aligned");
    sc_context_destroy(ctx);
}

SC_TEST(bad_workspace_too_small)
{
    sc_conv2d_desc d = good();
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_IM2COL_GEMM;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    size_t need = 0;
    CHECK_STATUS(sc_conv2d_workspace_size(ctx, &d, SC_DIR_FORWARD, &need), SC_STATUS_OK);
    CHECK(need > 0);
    static float x[144], w[288], y[288], ws[4096];
    CHECK(need <= sizeof ws);
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, ws, need - 1), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("workspace_size");
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, ws, need), SC_STATUS_OK);
    sc_context_destroy(ctx);
}

SC_TEST(bad_context_options)
{
    sc_context_options o;
    sc_context *ctx = (sc_context *)&o; /* must be reset to NULL on failure */
    sc_context_options_init(&o);
    o.device = -2;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.device");
    CHECK(ctx == NULL);
    sc_context_options_init(&o);
    o.device = 4096;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_NOT_AVAILABLE);
    CHECK_ERROR_MENTIONS("options.device");
    sc_context_options_init(&o);
    o.strategy = (sc_strategy)42;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.strategy");
    sc_context_options_init(&o);
    o.verbosity = 5;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.verbosity");
    sc_context_options_init(&o);
    o.num_threads = -1;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.num_threads");
    sc_context_options_init(&o);
    o.algo = (sc_algo)999;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.algo");
    CHECK_STATUS(sc_context_create(NULL, NULL), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("out");
    /* A GPU algorithm forced on a CPU context is a caller error at call time. */
    sc_context_options_init(&o);
    o.algo = SC_ALGO_GPU_IMPLICIT_GEMM;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d = good();
    static float x[144], w[288], y[288];
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("options.algo");
    sc_context_destroy(ctx);
}

SC_TEST(unsupported_is_not_bad_param)
{
    /* A vendor algorithm forced on a CPU context with the cpu strategy is a valid request the
     * CPU backend cannot do: UNSUPPORTED, never a wrong result, and the output untouched. */
    sc_conv2d_desc d = good();
    CHECK_STATUS(sc_conv2d_validate(&d), SC_STATUS_OK);
    sc_context_options o;
    sc_context_options_init(&o);
    o.strategy = SC_STRATEGY_CPU;
    o.algo = SC_ALGO_VENDOR_CUDNN;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    static float x[144], w[288], y[288];
    for (int i = 0; i < 288; i++) y[i] = -7.0f;
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0), SC_STATUS_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("options.algo");
    for (int i = 0; i < 288; i++) CHECK(y[i] == -7.0f);
    sc_context_destroy(ctx);
}

SC_TEST(api_names_and_version)
{
    sc_strategy s;
    const char *names[] = {"auto",          "gpu",       "gpu_unfold", "vendor",
                           "implicit_gemm", "selective", "cpu",        "cpu_fallback"};
    const sc_strategy want[] = {SC_STRATEGY_AUTO,   SC_STRATEGY_GPU,    SC_STRATEGY_GPU,
                                SC_STRATEGY_VENDOR, SC_STRATEGY_VENDOR, SC_STRATEGY_SELECTIVE,
                                SC_STRATEGY_CPU,    SC_STRATEGY_CPU};
    for (int i = 0; i < 8; i++) {
        CHECK_STATUS(sc_strategy_from_name(names[i], &s), SC_STATUS_OK);
        CHECK(s == want[i]);
    }
    CHECK_STATUS(sc_strategy_from_name("fast", &s), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("strategy");
    CHECK_STATUS(sc_strategy_from_name(NULL, &s), SC_STATUS_BAD_PARAM);
    /* Distinct, non-empty status strings. */
    for (int a = 0; a <= SC_STATUS_CACHE_ERROR; a++)
        for (int b = a + 1; b <= SC_STATUS_CACHE_ERROR; b++)
            CHECK(strcmp(sc_status_string((sc_status)a), sc_status_string((sc_status)b)) != 0);
    CHECK(sc_version() == SC_VERSION_MAJOR * 10000 + SC_VERSION_MINOR * 100 + SC_VERSION_PATCH);
    CHECK(strchr(sc_version_string(), '.') != NULL);
    CHECK(sc_backends_compiled() & SC_BACKEND_CPU);
    sc_device_info info;
    CHECK_STATUS(sc_device_get_info(SC_DEVICE_CPU, &info), SC_STATUS_OK);
    CHECK(info.multiprocessors >= 1);
    CHECK_STATUS(sc_device_get_info(-3, &info), SC_STATUS_BAD_PARAM);
    CHECK_STATUS(sc_device_get_info(sc_device_count(), &info), SC_STATUS_NOT_AVAILABLE);
}

SC_TEST(api_sizes_stats_and_select)
{
    sc_conv2d_desc d = good();
    d.stride_h = 2, d.dil_w = 2;
    int64_t p, q, xe, we, ye;
    CHECK_STATUS(sc_conv2d_output_size(&d, &p, &q), SC_STATUS_OK);
    CHECK(p == 3 && q == 4); /* (6+2-3)/2+1 = 3; (6+2-5)/1+1 = 4 */
    CHECK_STATUS(sc_conv2d_tensor_elems(&d, &xe, &we, &ye), SC_STATUS_OK);
    CHECK(xe == 144 && we == 8 * 4 * 9 && ye == 8 * 12);
    CHECK(sc_conv2d_flops(&d, SC_DIR_FORWARD) == 2.0 * 96 * 36);
    sc_context *ctx = cpu_ctx();
    CHECK(ctx);
    sc_algo a;
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a == SC_ALGO_CPU_IM2COL_GEMM);
    d.groups = 4, d.k = 4; /* depthwise: direct loops */
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a == SC_ALGO_CPU_DIRECT);
    CHECK_STATUS(sc_conv2d_select(ctx, &d, (sc_direction)9, &a), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dir");
    static float x[144], w[288], y[288];
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, NULL, 0), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_backward_bias(ctx, &d, y, x), SC_STATUS_OK);
    sc_stats st;
    CHECK_STATUS(sc_context_get_stats(ctx, &st), SC_STATUS_OK);
    CHECK(st.calls[SC_DIR_FORWARD] == 1 && st.calls[SC_DIR_BACKWARD_BIAS] == 1);
    CHECK(st.cpu_calls == 2 && st.gpu_calls == 0 && st.last_algo == SC_ALGO_CPU_DIRECT);
    sc_context_destroy(ctx);
    sc_context_destroy(NULL); /* allowed */
}

SC_TEST(api_memory_helpers)
{
    void *p = NULL;
    CHECK_STATUS(sc_memory_alloc(SC_DEVICE_CPU, 100, &p), SC_STATUS_OK);
    CHECK(p && (uintptr_t)p % 64 == 0);
    float src[4] = {1, 2, 3, 4};
    CHECK_STATUS(sc_memory_copy(SC_DEVICE_CPU, p, src, sizeof src, 1), SC_STATUS_OK);
    CHECK(((float *)p)[3] == 4.0f);
    CHECK_STATUS(sc_memory_copy(SC_DEVICE_CPU, NULL, src, 4, 1), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dst");
    sc_memory_free(SC_DEVICE_CPU, p);
    CHECK_STATUS(sc_memory_alloc(-7, 4, &p), SC_STATUS_BAD_PARAM);
    CHECK_STATUS(sc_memory_alloc(sc_device_count(), 4, &p), SC_STATUS_NOT_AVAILABLE);
}

SC_TEST(bad_tune_arguments)
{
    sc_conv2d_desc d = good();
    sc_tune_result r;
    sc_context *ctx = cpu_ctx();
    CHECK(ctx);
    CHECK_STATUS(sc_conv2d_tune(NULL, &d, SC_DIR_FORWARD, 0, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("ctx");
    CHECK_STATUS(sc_conv2d_tune(ctx, &d, SC_DIR_FORWARD, 0, NULL), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("res");
    CHECK_STATUS(sc_conv2d_tune(ctx, &d, (sc_direction)7, 0, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dir");
    CHECK_STATUS(sc_conv2d_tune(ctx, &d, SC_DIR_FORWARD, -1, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("repeats");
    d.groups = 3;
    CHECK_STATUS(sc_conv2d_tune(ctx, &d, SC_DIR_FORWARD, 0, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("desc.groups");
    d = good();
    /* Valid, but tuning times GPU kernels: a CPU context cannot. */
    CHECK_STATUS(sc_conv2d_tune(ctx, &d, SC_DIR_FORWARD, 0, &r), SC_STATUS_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("CPU");
    sc_context_destroy(ctx);
}
