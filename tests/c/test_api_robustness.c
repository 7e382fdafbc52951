/* test_api_robustness.c - validation under hostile values, and thread behaviour.
 *
 * validation_extreme_values: descriptors whose fields are drawn from edge values (0, -1,
 * INT64_MIN/MAX, powers of two near overflow). Validation must never crash or overflow (the
 * sanitizer build turns signed overflow into a failure) and whatever it accepts must have
 * consistent sizes: P, Q >= 1 and element counts whose byte size fits in int64.
 * threads_independent_contexts: two threads, each with its own context, run property checks at
 * once; each thread's last-error message is its own. */
#include "../../tools/check.h"
#include "safeconv.h"
#include "testlib.h"

#include <pthread.h>

static int64_t edge_value(sc_rng *r)
{
    static const int64_t edges[] = {0,
                                    1,
                                    2,
                                    3,
                                    7,
                                    -1,
                                    -2,
                                    INT64_MIN,
                                    INT64_MAX,
                                    INT64_MAX / 2,
                                    (int64_t)1 << 31,
                                    ((int64_t)1 << 31) - 1,
                                    (int64_t)1 << 32,
                                    (int64_t)1 << 40,
                                    ((int64_t)1 << 40) + 1,
                                    (int64_t)1 << 62,
                                    -((int64_t)1 << 40),
                                    65535,
                                    1000003};
    if (sc_rng_range(r, 0, 3) == 0) return sc_rng_range(r, 1, 9);
    return edges[sc_rng_range(r, 0, (int64_t)(sizeof edges / sizeof edges[0]) - 1)];
}

SC_TEST(validation_extreme_values)
{
    sc_rng r = {sc_test_seed()};
    int accepted = 0, n = sc_test_quick() ? 20000 : 200000;
    for (int i = 0; i < n; i++) {
        sc_conv2d_desc d;
        sc_conv2d_desc_init(&d);
        int64_t *f[] = {&d.n,        &d.c,     &d.h,     &d.w,     &d.k,
                        &d.r,        &d.s,     &d.pad_h, &d.pad_w, &d.stride_h,
                        &d.stride_w, &d.dil_h, &d.dil_w, &d.groups};
        /* Start from a valid descriptor and break one to three fields. */
        d.n = 1, d.c = 4, d.h = 9, d.w = 9, d.k = 4, d.r = 3, d.s = 3;
        int changes = (int)sc_rng_range(&r, 1, 3);
        for (int c = 0; c < changes; c++) *f[sc_rng_range(&r, 0, 13)] = edge_value(&r);
        sc_status st = sc_conv2d_validate(&d);
        CHECK(st == SC_STATUS_OK || st == SC_STATUS_BAD_PARAM);
        if (st == SC_STATUS_BAD_PARAM) {
            CHECK_MSG(strncmp(sc_last_error(), "desc", 4) == 0 || strchr(sc_last_error(), '('),
                      "message names no field: '%s'", sc_last_error());
            continue;
        }
        accepted++;
        int64_t p, q, xe, we, ye;
        CHECK_STATUS(sc_conv2d_output_size(&d, &p, &q), SC_STATUS_OK);
        CHECK_STATUS(sc_conv2d_tensor_elems(&d, &xe, &we, &ye), SC_STATUS_OK);
        CHECK(p >= 1 && q >= 1 && xe >= 1 && we >= 1 && ye >= 1);
        CHECK(xe <= INT64_MAX / 4 && we <= INT64_MAX / 4 && ye <= INT64_MAX / 4);
    }
    CHECK(accepted > 0); /* the generator does reach valid descriptors */
}

typedef struct worker {
    int id;
    int failures;
    bool error_was_own;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    sc_context *ctx;
    if (sc_context_create(NULL, &ctx)) {
        w->failures = 1000;
        return NULL;
    }
    sc_gen_options gen;
    sc_gen_options_init(&gen);
    for (int i = 0; i < 60; i++) {
        sc_rng rng = {sc_mix_seed(sc_test_seed() + (uint64_t)w->id, (uint64_t)i)};
        sc_conv2d_desc d;
        sc_random_desc(&rng, &gen, &d);
        for (int dir = 0; dir < 3; dir++) {
            sc_check_result res;
            if (sc_check_direction(ctx, SC_DEVICE_CPU, &d, (sc_direction)dir, rng.state, &res) ||
                !res.pass)
                w->failures++;
        }
        /* A thread's own failure message survives the other thread's calls. */
        sc_conv2d_desc bad = d;
        bad.groups = w->id == 0 ? -5 : -6;
        sc_conv2d_validate(&bad);
        for (int j = 0; j < 3; j++) {
            sc_check_result res;
            sc_check_direction(ctx, SC_DEVICE_CPU, &d, SC_DIR_FORWARD, (uint64_t)j, &res);
        }
        sc_conv2d_validate(&bad);
        w->error_was_own = strstr(sc_last_error(), w->id == 0 ? "-5" : "-6") != NULL;
        if (!w->error_was_own) break;
    }
    sc_context_destroy(ctx);
    return NULL;
}

SC_TEST(threads_independent_contexts)
{
    pthread_t t[2];
    worker w[2] = {{.id = 0}, {.id = 1}};
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_MSG(w[i].failures == 0, "thread %d: %d checks failed", i, w[i].failures);
        CHECK(w[i].error_was_own);
    }
}

/* OpenBLAS's thread count is process-wide: a context asking for 1 thread must not leave the
 * next context (asking for the default) with 1. */
#include <cblas.h>

SC_TEST(cpu_thread_count_does_not_leak_between_contexts)
{
    int initial = openblas_get_num_threads();
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 8, d.h = 9, d.w = 9, d.k = 8, d.r = 3, d.s = 3;
    static float x[648], w[576], y[392];
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_IM2COL_GEMM;
    o.num_threads = initial > 1 ? 1 : 2;
    sc_context *one, *dflt;
    CHECK_STATUS(sc_context_create(&o, &one), SC_STATUS_OK);
    o.num_threads = 0;
    CHECK_STATUS(sc_context_create(&o, &dflt), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_forward(one, &d, x, w, NULL, y, NULL, 0), SC_STATUS_OK);
    CHECK(openblas_get_num_threads() == (initial > 1 ? 1 : 2));
    CHECK_STATUS(sc_conv2d_forward(dflt, &d, x, w, NULL, y, NULL, 0), SC_STATUS_OK);
    CHECK_MSG(openblas_get_num_threads() == initial, "threads %d after a default context, want %d",
              openblas_get_num_threads(), initial);
    sc_context_destroy(one);
    sc_context_destroy(dflt);
}

/* Statistics count the scratch of a call whether it came from the pool or the caller. */
SC_TEST(api_workspace_peak_counts_caller_workspace)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 4, d.h = 6, d.w = 6, d.k = 8, d.r = 3, d.s = 3, d.pad_h = d.pad_w = 1;
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_IM2COL_GEMM;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    size_t need;
    CHECK_STATUS(sc_conv2d_workspace_size(ctx, &d, SC_DIR_FORWARD, &need), SC_STATUS_OK);
    static float x[144], w[288], y[288], ws[4096];
    CHECK(need > 0 && need <= sizeof ws);
    CHECK_STATUS(sc_conv2d_forward(ctx, &d, x, w, NULL, y, ws, sizeof ws), SC_STATUS_OK);
    sc_stats st;
    CHECK_STATUS(sc_context_get_stats(ctx, &st), SC_STATUS_OK);
    CHECK(st.workspace_peak == need);
    sc_context_destroy(ctx);
}
