/* test_probe.c - the probe against the fault-injection vendor (CPU only, as in CI): a 30-shape
 * suite with mixed faults finishes, every outcome is recorded right, no child outlives its
 * watchdog, the parent survives, auto then matches the reference everywhere, and a second
 * probe is answered from the cache without starting a child. */
#include "testlib.h"

#include "safeconv.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *sc_tg_build_dir(void);
bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);
double sc_tg_check_vs_reference(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                sc_status *status);
bool sc_tg_process_gone(int pid);

#define WATCHDOG_S 2.0
#define SLOW_S     0.45

/* First matching rule wins (the fault vendor's order). */
static const char *const RULES =
    "k=5:segv; k=6:abort; k=7:wrong; k=9:nan; k=10&dir=bwd_weight:error; k=11:slow=900; "
    "hw>42:hang";

/* Shape i of the suite and the fault it is built to meet (i % 10):
 * 0,1,9 ok; 2 segv; 3 abort; 4 wrong; 5 NaN; 6 error on backward-weight only; 7 slow; 8 hang. */
static void suite_shape(int i, sc_conv2d_desc *d)
{
    static const int k_of[10] = {4, 8, 5, 6, 7, 9, 10, 11, 4, 12};
    sc_conv2d_desc_init(d);
    d->n = 1 + i % 2;
    d->c = 2 + i % 3;
    d->h = 6 + i % 5;
    d->w = 7 + i % 4;
    d->k = k_of[i % 10];
    d->r = d->s = i % 7 == 6 ? 1 : 3;
    d->pad_h = d->pad_w = d->r / 2;
    d->stride_h = d->stride_w = i % 4 == 3 ? 2 : 1;
    if (i % 10 == 8) d->h = 44, d->w = 44 + i / 10; /* over 42: the original users' hang */
    if (i == 19) d->c = d->k = d->groups = 12;      /* a depthwise one among the ok shapes */
}

static sc_probe_outcome expected(int i, sc_direction dir, int *sig)
{
    *sig = 0;
    switch (i % 10) {
    case 2: *sig = SIGSEGV; return SC_PROBE_CRASH;
    case 3: *sig = SIGABRT; return SC_PROBE_CRASH;
    case 4:
    case 5: return SC_PROBE_WRONG;
    case 6: return dir == SC_DIR_BACKWARD_WEIGHT ? SC_PROBE_ERROR : SC_PROBE_OK;
    case 7: return SC_PROBE_SLOW;
    case 8: return SC_PROBE_HANG;
    default: return SC_PROBE_OK;
    }
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

SC_TEST(test_probe_fault_suite_then_auto_then_cached)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/cache.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor(RULES));
    enum {
        N = 30
    };
    sc_conv2d_desc descs[N];
    for (int i = 0; i < N; i++) {
        suite_shape(i, &descs[i]);
        CHECK_STATUS(sc_conv2d_validate(&descs[i]), SC_STATUS_OK);
    }
    /* --quick (sanitizers): forward only; otherwise all three directions. */
    unsigned mask = sc_test_quick() ? 1u : 7u;
    int ndirs = sc_test_quick() ? 1 : 3;
    static sc_probe_result res[N * 3];
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.watchdog_s = WATCHDOG_S;
    o.slow_s = SLOW_S;
    o.repeats = 1;
    o.cache_path = path;
    double t0 = now_s();
    CHECK_STATUS(sc_probe_suite(&o, descs, N, mask, res), SC_STATUS_OK);
    double took = now_s() - t0;
    printf("    probed %d shape-directions in %.1f s\n", N * ndirs, took);

    int counts[8] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < ndirs; j++) {
            const sc_probe_result *r = &res[i * ndirs + j];
            sc_direction dd = (sc_direction)j;
            int sig;
            sc_probe_outcome want = expected(i, dd, &sig);
            counts[r->outcome & 7]++;
            CHECK_MSG(r->dir == dd, "shape %d: direction %d, want %d", i, (int)r->dir, j);
            CHECK_MSG(r->outcome == want, "shape %d dir %d: outcome %s, want %s (%s)", i, j,
                      sc_probe_outcome_name(r->outcome), sc_probe_outcome_name(want), r->detail);
            CHECK_MSG(!r->from_cache && r->child_pid > 0, "shape %d dir %d: no child", i, j);
            /* No child outlives its watchdog: gone now, and killed in time. */
            CHECK_MSG(sc_tg_process_gone(r->child_pid), "shape %d dir %d: child %d still alive", i,
                      j, r->child_pid);
            CHECK_MSG(r->elapsed_s < WATCHDOG_S + 1.0, "shape %d dir %d: child took %.2f s", i, j,
                      r->elapsed_s);
            if (want == SC_PROBE_CRASH)
                CHECK_MSG(r->signal == sig, "shape %d: signal %d, want %d", i, r->signal, sig);
            if (want == SC_PROBE_ERROR)
                CHECK_MSG(strstr(r->detail, "FAULT_STATUS_EXECUTION_FAILED"),
                          "shape %d: error detail '%s' lacks the vendor's status string", i,
                          r->detail);
            if (want == SC_PROBE_HANG)
                CHECK_MSG(r->elapsed_s >= WATCHDOG_S - 0.05, "shape %d: hang after %.2f s", i,
                          r->elapsed_s);
            if (want == SC_PROBE_SLOW) CHECK(r->first_call_ms >= 900 * 0.9);
            if (want == SC_PROBE_OK) {
                CHECK(r->vendor_ms > 0 && r->safeconv_ms > 0);
                CHECK(r->rel_error < 1e-5);
                CHECK(r->use_vendor == (r->vendor_ms < r->safeconv_ms));
            } else {
                CHECK(!r->use_vendor);
            }
        }
    printf("    ok %d hang %d crash %d error %d wrong %d slow %d\n", counts[1], counts[2],
           counts[3], counts[4], counts[5], counts[6]);

    /* Auto reads the cache: reference results for every shape, the vendor only where the
     * probe said ok and faster, and the hanging shapes never reach it. */
    sc_context_options co;
    sc_context_options_init(&co);
    co.cache_path = path;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&co, &ctx), SC_STATUS_OK);
    uint64_t vendor_expected = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < ndirs; j++) {
            sc_status st;
            double err = sc_tg_check_vs_reference(ctx, &descs[i], (sc_direction)j, &st);
            CHECK_STATUS(st, SC_STATUS_OK);
            CHECK_MSG(err < 1e-4, "auto, shape %d dir %d: relative error %g", i, j, err);
            vendor_expected += res[i * ndirs + j].use_vendor;
        }
    sc_stats stats;
    CHECK_STATUS(sc_context_get_stats(ctx, &stats), SC_STATUS_OK);
    printf("    auto: %llu of %d calls through the vendor\n",
           (unsigned long long)stats.vendor_calls, N * ndirs);
    CHECK_MSG(stats.vendor_calls == vendor_expected, "vendor calls %llu, want %llu",
              (unsigned long long)stats.vendor_calls, (unsigned long long)vendor_expected);
    sc_context_destroy(ctx);

    /* Second probe: all from the cache, no child. */
    static sc_probe_result again[N * 3];
    t0 = now_s();
    CHECK_STATUS(sc_probe_suite(&o, descs, N, mask, again), SC_STATUS_OK);
    for (int i = 0; i < N * ndirs; i++) {
        CHECK_MSG(again[i].from_cache && again[i].child_pid == 0, "row %d: not from the cache", i);
        CHECK(again[i].outcome == res[i].outcome);
        CHECK(again[i].use_vendor == res[i].use_vendor);
    }
    CHECK(now_s() - t0 < 1.0);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_probe_auto_never_probes_and_remembers)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/cache.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor("hw>42:hang"));
    sc_context_options co;
    sc_context_options_init(&co);
    co.cache_path = path;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&co, &ctx), SC_STATUS_OK);
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 3, d.h = d.w = 44, d.k = 4, d.r = d.s = 3, d.pad_h = d.pad_w = 1;
    /* Unknown shape that would hang in the vendor: safeconv runs it, at once. */
    double t0 = now_s();
    sc_status st;
    double err = sc_tg_check_vs_reference(ctx, &d, SC_DIR_FORWARD, &st);
    CHECK_STATUS(st, SC_STATUS_OK);
    CHECK(err < 1e-5);
    CHECK(now_s() - t0 < 5.0);
    sc_stats s;
    sc_context_get_stats(ctx, &s);
    CHECK(s.vendor_calls == 0 && s.cpu_calls == 1);
    sc_context_destroy(ctx);
    /* ... and remembered for the next probe. */
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = path;
    sc_conv2d_desc *pend = NULL;
    sc_direction *dirs = NULL;
    size_t n = 0;
    CHECK_STATUS(sc_probe_pending(&o, &pend, &dirs, &n), SC_STATUS_OK);
    CHECK_MSG(n == 1, "%zu pending shapes, want 1", n);
    CHECK(dirs[0] == SC_DIR_FORWARD && pend[0].h == 44 && pend[0].k == 4);
    /* Probing it records the hang; auto keeps away from the vendor. */
    o.watchdog_s = 1.0;
    o.repeats = 1;
    sc_probe_result r;
    CHECK_STATUS(sc_probe_shape(&o, &pend[0], dirs[0], &r), SC_STATUS_OK);
    CHECK(r.outcome == SC_PROBE_HANG);
    CHECK(sc_tg_process_gone(r.child_pid));
    free(pend), free(dirs);
    CHECK_STATUS(sc_probe_pending(&o, &pend, &dirs, &n), SC_STATUS_OK);
    CHECK(n == 0);
    free(pend), free(dirs);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_probe_version_stamp_means_reprobe)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/cache.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor("k=1000:hang"));
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 2, d.h = d.w = 5, d.k = 3, d.r = d.s = 3;
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = path, o.repeats = 1, o.watchdog_s = 5;
    sc_probe_result r;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK(r.outcome == SC_PROBE_OK && r.child_pid > 0);
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK(r.from_cache && r.child_pid == 0);
    /* A new vendor library version: the old row no longer answers. */
    setenv("SAFECONV_FAULT_VERSION", "2.0", 1);
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK_MSG(!r.from_cache && r.child_pid > 0, "a new vendor version must re-probe");
    /* force re-probes too. */
    o.force = 1;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK(!r.from_cache && r.child_pid > 0);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_probe_forks_without_helper_and_bad_input)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/cache.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor("k=5:abort"));
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 2, d.h = d.w = 5, d.k = 5, d.r = d.s = 3;
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = path, o.repeats = 1, o.watchdog_s = 5;
    o.helper = ""; /* fork without exec: a CPU-only probe needs no executable */
    sc_probe_result r;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_BACKWARD_DATA, &r), SC_STATUS_OK);
    CHECK_MSG(r.outcome == SC_PROBE_CRASH && r.signal == SIGABRT, "%s %d",
              sc_probe_outcome_name(r.outcome), r.signal);
    /* A helper that does not exist: an error outcome, not a failure of the caller. */
    o.helper = "/nonexistent/safeconv";
    o.force = 1;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK(r.outcome == SC_PROBE_ERROR);
    CHECK(strstr(r.detail, "helper") != NULL);
    /* Bad input names the field. */
    o.helper = NULL;
    o.watchdog_s = 0;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("watchdog_s");
    o.watchdog_s = 5;
    d.groups = 3;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("descs[0]");
    CHECK_STATUS(sc_probe_suite(&o, &d, 1, 0, &r), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("dir_mask");
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_probe_without_vendor_library)
{
    setenv("SAFECONV_VENDOR_LIBRARY", "/nonexistent/libnothing.so", 1);
    sc_vendor_info vi;
    CHECK_STATUS(sc_vendor_get_info(SC_DEVICE_CPU, &vi), SC_STATUS_OK);
    CHECK(!vi.available);
    CHECK_MSG(strstr(vi.message, "not found"), "message '%s'", vi.message);
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 2, d.h = d.w = 5, d.k = 3, d.r = d.s = 3;
    sc_probe_options o;
    sc_probe_options_init(&o);
    sc_probe_result r;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK(r.outcome == SC_PROBE_NO_VENDOR && r.child_pid == 0);
    sc_tg_no_vendor();
}
