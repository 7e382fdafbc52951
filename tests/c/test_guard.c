/* test_guard.c - strategies vendor, selective and auto on CPU contexts served by the
 * fault-injection vendor (host memory), and the vendor library missing. */
#include "testlib.h"

#include "safeconv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);
double sc_tg_check_vs_reference(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                sc_status *status);

static void small(sc_conv2d_desc *d, int64_t hw)
{
    sc_conv2d_desc_init(d);
    d->n = 2, d->c = 4, d->h = d->w = hw, d->k = 6, d->r = d->s = 3, d->pad_h = d->pad_w = 1;
    d->groups = 2;
}

SC_TEST(test_guard_vendor_strategy_uses_vendor)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor("k=1000:hang"));
    sc_context_options o;
    sc_context_options_init(&o);
    o.strategy = SC_STRATEGY_VENDOR;
    o.cache_path = path;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d;
    small(&d, 9);
    for (int dd = 0; dd < 3; dd++) {
        sc_status st;
        double err = sc_tg_check_vs_reference(ctx, &d, (sc_direction)dd, &st);
        CHECK_STATUS(st, SC_STATUS_OK);
        CHECK_MSG(err < 1e-5, "dir %d: error %g", dd, err);
    }
    sc_algo a;
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a == SC_ALGO_VENDOR_PLUGIN); /* the fault vendor is a plugin */
    sc_stats s;
    sc_context_get_stats(ctx, &s);
    CHECK(s.vendor_calls == 3 && s.cpu_calls == 0);
    sc_context_destroy(ctx);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_guard_vendor_error_is_a_status)
{
    CHECK(sc_tg_use_fault_vendor("k=6:error"));
    sc_context_options o;
    sc_context_options_init(&o);
    o.strategy = SC_STRATEGY_VENDOR;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d;
    small(&d, 5);
    sc_status st;
    sc_tg_check_vs_reference(ctx, &d, SC_DIR_FORWARD, &st);
    CHECK(st == SC_STATUS_VENDOR_FAILED);
    CHECK_ERROR_MENTIONS("FAULT_STATUS_EXECUTION_FAILED");
    /* A shape the vendor cannot plan: the status and its reason, the same the second time
     * (remembered, not planned again). */
    d.dtype = SC_DTYPE_F16;
    sc_algo a;
    for (int i = 0; i < 2; i++) {
        CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a), SC_STATUS_VENDOR_FAILED);
        CHECK_ERROR_MENTIONS("fp32 only");
    }
    sc_context_destroy(ctx);
    sc_tg_no_vendor();
}

SC_TEST(test_guard_vendor_run_failure_falls_back)
{
    /* The vendor plans every shape but fails the runs of 6-channel ones (as MIOpen fails a
     * bf16 bias it planned without seeing the bias). Chosen, not forced (selective): safeconv
     * computes the call again, right, and takes the shape from then on; other shapes stay
     * with the vendor. */
    CHECK(sc_tg_use_fault_vendor("k=6:error"));
    sc_context_options o;
    sc_context_options_init(&o);
    o.strategy = SC_STRATEGY_SELECTIVE;
    o.size_threshold = 1000;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d;
    small(&d, 7); /* k = 6 */
    sc_algo a;
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a == SC_ALGO_VENDOR_PLUGIN); /* planned on the vendor before its run fails */
    for (int round = 0; round < 2; round++)
        for (int dd = 0; dd < 3; dd++) {
            sc_status st;
            double err = sc_tg_check_vs_reference(ctx, &d, (sc_direction)dd, &st);
            CHECK_STATUS(st, SC_STATUS_OK);
            CHECK_MSG(err < 1e-5, "round %d dir %d: error %g", round, dd, err);
        }
    CHECK_STATUS(sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK_MSG(a != SC_ALGO_VENDOR_PLUGIN, "still the vendor: %s", sc_algo_name(a));
    sc_stats s;
    sc_context_get_stats(ctx, &s);
    CHECK_MSG(s.vendor_calls == 0 && s.cpu_calls == 6, "vendor %llu cpu %llu",
              (unsigned long long)s.vendor_calls, (unsigned long long)s.cpu_calls);
    d.k = 4; /* a shape the vendor runs */
    sc_status st;
    CHECK(sc_tg_check_vs_reference(ctx, &d, SC_DIR_FORWARD, &st) < 1e-5);
    CHECK_STATUS(st, SC_STATUS_OK);
    sc_context_get_stats(ctx, &s);
    CHECK(s.vendor_calls == 1);
    sc_context_destroy(ctx);
    sc_tg_no_vendor();
}

SC_TEST(test_guard_selective_threshold)
{
    CHECK(sc_tg_use_fault_vendor("hw>42:hang"));
    sc_context_options o;
    sc_context_options_init(&o);
    o.strategy = SC_STRATEGY_SELECTIVE;
    o.size_threshold = 10;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d;
    small(&d, 10);
    sc_status st;
    CHECK(sc_tg_check_vs_reference(ctx, &d, SC_DIR_FORWARD, &st) < 1e-5);
    CHECK_STATUS(st, SC_STATUS_OK);
    small(&d, 11);
    CHECK(sc_tg_check_vs_reference(ctx, &d, SC_DIR_BACKWARD_DATA, &st) < 1e-5);
    CHECK_STATUS(st, SC_STATUS_OK);
    /* 44x44 is above any threshold here: safeconv, so the hang is never met. */
    small(&d, 44);
    CHECK(sc_tg_check_vs_reference(ctx, &d, SC_DIR_FORWARD, &st) < 1e-5);
    CHECK_STATUS(st, SC_STATUS_OK);
    sc_stats s;
    sc_context_get_stats(ctx, &s);
    CHECK_MSG(s.vendor_calls == 1 && s.cpu_calls == 2, "vendor %llu cpu %llu",
              (unsigned long long)s.vendor_calls, (unsigned long long)s.cpu_calls);
    sc_context_destroy(ctx);
    sc_tg_no_vendor();
}

SC_TEST(test_guard_missing_vendor_library)
{
    setenv("SAFECONV_VENDOR_LIBRARY", "/nonexistent/libcudnn_fake.so", 1);
    sc_context_options o;
    sc_context_options_init(&o);
    o.strategy = SC_STRATEGY_VENDOR;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d;
    small(&d, 6);
    sc_status st;
    sc_tg_check_vs_reference(ctx, &d, SC_DIR_FORWARD, &st);
    CHECK(st == SC_STATUS_NOT_AVAILABLE);
    CHECK_ERROR_MENTIONS("not found");
    sc_context_destroy(ctx);
    /* auto and selective simply run safeconv. */
    for (int strat = 0; strat < 2; strat++) {
        o.strategy = strat ? SC_STRATEGY_SELECTIVE : SC_STRATEGY_AUTO;
        CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
        CHECK(sc_tg_check_vs_reference(ctx, &d, SC_DIR_BACKWARD_WEIGHT, &st) < 1e-5);
        CHECK_STATUS(st, SC_STATUS_OK);
        sc_context_destroy(ctx);
    }
    /* "none" disables the route outright. */
    setenv("SAFECONV_VENDOR_LIBRARY", "none", 1);
    sc_vendor_info vi;
    CHECK_STATUS(sc_vendor_get_info(SC_DEVICE_CPU, &vi), SC_STATUS_OK);
    CHECK(!vi.available && strstr(vi.message, "disabled"));
    sc_tg_no_vendor();
}

/* Auto follows the cache: vendor where ok and faster, safeconv where ok but slower, where it
 * hung, and where never probed; a row written while a context lives is seen by it. */
SC_TEST(test_guard_auto_follows_cache)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor("k=7:hang"));
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    CHECK(sc_cache_is_persistent(c));
    sc_cache_entry e;
    memset(&e, 0, sizeof e);
    CHECK_STATUS(sc_cache_key_for_device(SC_DEVICE_CPU, &e.key), SC_STATUS_OK);
    CHECK(!strcmp(e.key.vendor, "fault"));
    e.key.deterministic = 1, e.key.dir = SC_DIR_FORWARD;
    sc_conv2d_desc fast, slow, hung, fresh;
    small(&fast, 7), small(&slow, 8), small(&hung, 9), small(&fresh, 12);
    hung.k = 6; /* not 7: were auto to send it to the vendor it would still work, and be seen */
    e.key.desc = fast, e.outcome = SC_PROBE_OK, e.vendor_ms = 1, e.safeconv_ms = 2;
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    e.key.desc = slow, e.vendor_ms = 3;
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    e.key.desc = hung, e.outcome = SC_PROBE_HANG, e.vendor_ms = 0;
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);

    sc_context_options o;
    sc_context_options_init(&o);
    o.cache_path = path;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_algo a;
    CHECK_STATUS(sc_conv2d_select(ctx, &fast, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a == SC_ALGO_VENDOR_PLUGIN);
    CHECK_STATUS(sc_conv2d_select(ctx, &fast, SC_DIR_BACKWARD_DATA, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_VENDOR_PLUGIN); /* another direction: not probed */
    CHECK_STATUS(sc_conv2d_select(ctx, &slow, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_VENDOR_PLUGIN);
    CHECK_STATUS(sc_conv2d_select(ctx, &hung, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_VENDOR_PLUGIN);
    CHECK_STATUS(sc_conv2d_select(ctx, &fresh, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_VENDOR_PLUGIN);
    sc_status st;
    CHECK(sc_tg_check_vs_reference(ctx, &fast, SC_DIR_FORWARD, &st) < 1e-5);
    CHECK_STATUS(st, SC_STATUS_OK);
    /* A result arriving later (a probe in this process) is picked up by the live context. */
    e.key.desc = fresh, e.outcome = SC_PROBE_OK, e.vendor_ms = 1, e.safeconv_ms = 5;
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_select(ctx, &fresh, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a == SC_ALGO_VENDOR_PLUGIN);
    /* Rows of another vendor version are not used. */
    e.key.desc = slow;
    snprintf(e.key.vendor_version, sizeof e.key.vendor_version, "0.9");
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_select(ctx, &slow, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_VENDOR_PLUGIN);
    /* A non-deterministic context does not read deterministic rows. */
    sc_context *nd;
    o.deterministic = 0;
    CHECK_STATUS(sc_context_create(&o, &nd), SC_STATUS_OK);
    CHECK_STATUS(sc_conv2d_select(nd, &fast, SC_DIR_FORWARD, &a), SC_STATUS_OK);
    CHECK(a != SC_ALGO_VENDOR_PLUGIN);
    sc_context_destroy(nd);
    sc_context_destroy(ctx);
    sc_cache_close(c);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}
