/* test_guard_util.c - helpers shared by the guard, cache and probe tests (test_guard*.c,
 * test_cache*.c, test_probe*.c declare what they use). No SC_TESTs here. */
#include "../../tools/check.h"
#include "testlib.h"

#include "safeconv.h"

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The folder of the test runner: the build folder, where the fault vendor plugin and the
 * `safeconv` executable (probe children) are built too. */
const char *sc_tg_build_dir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0]) {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        if (n <= 0) return ".";
        dir[n] = 0;
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
    }
    return dir;
}

/* Select the fault vendor plugin for this process (and the probe children it starts). */
bool sc_tg_use_fault_vendor(const char *rules)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/libsafeconv_fault_vendor.so", sc_tg_build_dir());
    if (access(path, R_OK)) {
        fprintf(stderr, "    missing %s (make builds it with test-c)\n", path);
        return false;
    }
    setenv("SAFECONV_VENDOR_LIBRARY", path, 1);
    if (rules)
        setenv("SAFECONV_FAULT_RULES", rules, 1);
    else
        unsetenv("SAFECONV_FAULT_RULES");
    unsetenv("SAFECONV_FAULT_VERSION");
    return true;
}

void sc_tg_no_vendor(void)
{
    unsetenv("SAFECONV_VENDOR_LIBRARY");
    unsetenv("SAFECONV_FAULT_RULES");
    unsetenv("SAFECONV_FAULT_VERSION");
}

/* A fresh empty folder under /tmp (path into buf). */
bool sc_tg_tempdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/safeconv-test-XXXXXX");
    return mkdtemp(buf) != NULL;
}

void sc_tg_rmtree(const char *dir)
{
    char cmd[PATH_MAX + 32];
    if (strncmp(dir, "/tmp/safeconv-test-", 19)) return; /* only what sc_tg_tempdir made */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) { /* best effort */
    }
}

/* Per thread: test_cache_threads.c fills inputs from several threads at once. */
static _Thread_local uint64_t rng_state = 88172645463325252ull;
void sc_tg_fill(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
        x[i] = (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* Run one direction on a CPU context with fresh random inputs; out gets the result (NaN-filled
 * first). Operand roles as the public calls. Returns the status. */
sc_status sc_tg_run(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir, const float *a,
                    const float *b, float *out, int64_t out_n)
{
    for (int64_t i = 0; i < out_n; i++) out[i] = NAN;
    return sc_run_direction(ctx, d, dir, a, b, NULL, out, NULL);
}

/* Element counts of a, b, out for dir. */
void sc_tg_sizes(const sc_conv2d_desc *d, sc_direction dir, int64_t n[3])
{
    int64_t x, w, y;
    sc_conv2d_tensor_elems(d, &x, &w, &y);
    if (dir == SC_DIR_FORWARD)
        n[0] = x, n[1] = w, n[2] = y;
    else if (dir == SC_DIR_BACKWARD_DATA)
        n[0] = y, n[1] = w, n[2] = x;
    else
        n[0] = x, n[1] = y, n[2] = w;
}

/* ||got - ref|| / ||ref||; NaN if got has a NaN/Inf. */
double sc_tg_rel_err(const float *got, const float *ref, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return NAN;
        double d = (double)got[i] - ref[i];
        num += d * d, den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Compare ctx's result with the CPU reference for one direction: the relative error, or NaN.
 * *status gets ctx's status. */
double sc_tg_check_vs_reference(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                sc_status *status)
{
    int64_t n[3];
    sc_tg_sizes(d, dir, n);
    float *a = malloc((size_t)n[0] * 4), *b = malloc((size_t)n[1] * 4);
    float *out = malloc((size_t)n[2] * 4), *ref = malloc((size_t)n[2] * 4);
    double err = NAN;
    *status = SC_STATUS_OUT_OF_MEMORY;
    if (a && b && out && ref) {
        sc_tg_fill(a, n[0]);
        sc_tg_fill(b, n[1]);
        sc_context_options o;
        sc_context_options_init(&o);
        o.strategy = SC_STRATEGY_CPU;
        o.algo = SC_ALGO_CPU_REFERENCE;
        sc_context *rc = NULL;
        if (!sc_context_create(&o, &rc) && !sc_tg_run(rc, d, dir, a, b, ref, n[2])) {
            *status = sc_tg_run(ctx, d, dir, a, b, out, n[2]);
            if (!*status) err = sc_tg_rel_err(out, ref, n[2]);
        }
        sc_context_destroy(rc);
    }
    free(a), free(b), free(out), free(ref);
    return err;
}

/* Is any process left in process group / with pid `pid`? */
bool sc_tg_process_gone(int pid) { return kill(pid, 0) != 0 && kill(-pid, 0) != 0; }
