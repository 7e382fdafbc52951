/* test_probe_machinery.c - failures of the probe machinery are not the vendor's:
 *  - a probe helper that cannot run is reported, but not cached: once the setup is fixed the
 *    shape is probed again (it used to stick as a vendor "error");
 *  - an application that ignores SIGCHLD (its children are reaped by the kernel) still gets a
 *    clear answer for a crashing vendor instead of a false "hang" that would be cached;
 *  - a helper that exits without a word ($SAFECONV_TOOL=/bin/false) and a child out of memory
 *    are errors of the probe, not of the vendor: not cached. (The third case, fp16 that
 *    the CPU could not run, is gone: the CPU backend takes fp16 and bf16 since.) */
#include "safeconv.h"
#include "testlib.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>

const char *sc_tg_build_dir(void);
bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);

static sc_conv2d_desc small(int64_t k)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 4, d.h = 8, d.w = 8, d.k = k, d.r = 3, d.s = 3;
    return d;
}

SC_TEST(test_probe_broken_helper_is_not_cached)
{
    char dir[64], cache[128], helper[PATH_MAX + 16];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    CHECK(sc_tg_use_fault_vendor(NULL));
    snprintf(cache, sizeof cache, "%s/c.sqlite", dir);
    snprintf(helper, sizeof helper, "%s/safeconv", sc_tg_build_dir());
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = cache;
    o.watchdog_s = 5;
    o.helper = "/nonexistent/safeconv";
    sc_conv2d_desc d = small(8);
    sc_probe_result r;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK(r.outcome == SC_PROBE_ERROR);
    CHECK_MSG(strstr(r.detail, "cannot run the probe helper"), "detail '%s'", r.detail);
    o.helper = helper; /* the setup fixed: probed again, not answered from the cache */
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK_MSG(!r.from_cache, "answered from the cache: '%s'", r.detail);
    CHECK_MSG(r.outcome == SC_PROBE_OK, "outcome %s: %s", sc_probe_outcome_name(r.outcome),
              r.detail);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_probe_sigchld_ignored_no_false_hang)
{
    char helper[PATH_MAX + 16];
    snprintf(helper, sizeof helper, "%s/safeconv", sc_tg_build_dir());
    CHECK(sc_tg_use_fault_vendor("k=7:segv"));
    void (*old)(int) = signal(SIGCHLD, SIG_IGN);
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = ":memory:";
    o.watchdog_s = 5;
    o.helper = helper;
    sc_conv2d_desc d = small(7);
    sc_probe_result r;
    sc_status st = sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r);
    signal(SIGCHLD, old);
    sc_tg_no_vendor();
    CHECK_STATUS(st, SC_STATUS_OK);
    CHECK_MSG(r.outcome != SC_PROBE_HANG, "a crash read as a hang: '%s'", r.detail);
    CHECK_MSG(r.outcome == SC_PROBE_CRASH || r.outcome == SC_PROBE_ERROR, "outcome %s: %s",
              sc_probe_outcome_name(r.outcome), r.detail);
    CHECK(r.elapsed_s < 4.0); /* not the watchdog */
}

/* Is there a row for (d, forward) under this machine's key in the cache at `path`? */
static bool cached(const char *path, const sc_conv2d_desc *d)
{
    sc_cache *c;
    sc_cache_entry e, got;
    memset(&e, 0, sizeof e);
    int found = 0;
    if (sc_cache_open(path, &c)) return true;
    if (!sc_cache_key_for_device(SC_DEVICE_CPU, &e.key)) {
        e.key.desc = *d, e.key.dir = SC_DIR_FORWARD, e.key.deterministic = 1;
        sc_cache_get(c, &e.key, &got, &found);
    }
    sc_cache_close(c);
    return found;
}

/* The machinery failing, never the vendor: reported as errors, nothing cached. */
SC_TEST(test_probe_machinery_failures_not_cached)
{
    char dir[64], cache[128];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(cache, sizeof cache, "%s/c.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor(NULL));
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = cache, o.watchdog_s = 30, o.repeats = 1;
    sc_probe_result r;
    /* A helper that runs but says nothing (exit 1). */
    setenv("SAFECONV_TOOL", "/bin/false", 1);
    sc_conv2d_desc d = small(8);
    sc_status st = sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r);
    unsetenv("SAFECONV_TOOL");
    CHECK_STATUS(st, SC_STATUS_OK);
    CHECK_MSG(r.outcome == SC_PROBE_ERROR, "/bin/false: %s: %s", sc_probe_outcome_name(r.outcome),
              r.detail);
    CHECK_MSG(!cached(cache, &d), "/bin/false's silence was cached as the vendor's error");
    /* A child out of memory: 2^40 input elements cannot be allocated. */
    sc_conv2d_desc huge = small(8);
    huge.c = 1, huge.h = huge.w = (int64_t)1 << 20, huge.k = 1, huge.r = huge.s = 1;
    CHECK_STATUS(sc_probe_shape(&o, &huge, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK_MSG(r.outcome == SC_PROBE_ERROR, "out of memory: %s: %s",
              sc_probe_outcome_name(r.outcome), r.detail);
    CHECK_MSG(!cached(cache, &huge), "the child's out-of-memory was cached: '%s'", r.detail);
    /* The vendor's own error still is cached (control). */
    CHECK(sc_tg_use_fault_vendor("k=8:error"));
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK_MSG(r.outcome == SC_PROBE_ERROR && cached(cache, &d), "vendor error: %s: %s",
              sc_probe_outcome_name(r.outcome), r.detail);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}
