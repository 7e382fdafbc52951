/* cmd_bench.c - `safeconv bench`: time every shape of a suite, per direction, on the best
 * device present (or --device), with random data. Median of repeated runs after one warm-up,
 * each run ended by sc_context_synchronize. A benchmark for people: never used by the tests.
 * `--versus ALGO` times a second algorithm on the same data (e.g. the CPU fast path against
 * cpu_reference) and prints the speedup. */
#include "args.h"
#include "check.h"
#include "commands.h"
#include "suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: safeconv bench --suite FILE [--device N|cpu] [--batch N] [--direction D|all]\n"
            "                      [--layout nchw|nhwc] [--algo NAME] [--versus NAME]\n"
            "                      [--filter TEXT] [--repeat N] [--min-time SECONDS] [--tune]\n"
            "Times each shape of FILE (bench/suites/public.csv) and prints ms and GFLOP/s per\n"
            "direction. --batch overrides N of every shape; --filter keeps rows whose name\n"
            "contains TEXT. --tune first times the GPU kernel's variants for each shape and\n"
            "direction (sc_conv2d_tune) and keeps the fastest for the timed runs.\n");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct operands {
    void *x, *w, *y, *bias, *dx, *dw, *dbias;
} operands;

/* One call of `dir` on the operands, in the library's roles. */
static sc_status run_once(sc_context *ctx, const sc_conv2d_desc *d, int dir, operands *o)
{
    switch (dir) {
    case SC_DIR_FORWARD:
        return sc_run_direction(ctx, d, SC_DIR_FORWARD, o->x, o->w, o->bias, o->y, NULL);
    case SC_DIR_BACKWARD_DATA:
        return sc_run_direction(ctx, d, SC_DIR_BACKWARD_DATA, o->y, o->w, NULL, o->dx, NULL);
    case SC_DIR_BACKWARD_WEIGHT:
        return sc_run_direction(ctx, d, SC_DIR_BACKWARD_WEIGHT, o->x, o->y, NULL, o->dw, o->dbias);
    default:
        return sc_run_direction(ctx, d, SC_DIR_BACKWARD_BIAS, o->y, NULL, NULL, o->dbias, NULL);
    }
}

/* Median seconds of one call; negative on failure (message printed). */
static double time_call(sc_context *ctx, const sc_conv2d_desc *d, int dir, operands *o, int repeat,
                        double min_time)
{
    enum {
        MAXRUNS = 1000
    };
    static double t[MAXRUNS];
    if (run_once(ctx, d, dir, o) || sc_context_synchronize(ctx)) return -1; /* warm-up */
    int n = 0;
    double start = now();
    while (n < MAXRUNS && (n < repeat || now() - start < min_time)) {
        double t0 = now();
        if (run_once(ctx, d, dir, o) || sc_context_synchronize(ctx)) return -1;
        t[n++] = now() - t0;
        if (min_time > 0 && now() - start > 30 * min_time) break; /* slow algorithms */
    }
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double s = t[j];
            t[j] = t[j - 1], t[j - 1] = s;
        }
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void *alloc_random(int device, int64_t n, sc_rng *rng, bool *ok)
{
    float *h = malloc((size_t)n * sizeof(float));
    void *d = NULL;
    if (!h || sc_memory_alloc(device, (size_t)n * sizeof(float), &d)) goto fail;
    for (int64_t i = 0; i < n; i++) h[i] = sc_rng_unit(rng);
    if (sc_memory_copy(device, d, h, (size_t)n * sizeof(float), 1)) goto fail;
    free(h);
    return d;
fail:
    free(h);
    sc_memory_free(device, d);
    *ok = false;
    return NULL;
}

int cmd_bench(int argc, char **argv)
{
    const char *suite = NULL, *filter = NULL;
    int device = sc_default_device(), dir = -1, layout = SC_NCHW, batch = 0, repeat = 5;
    uint64_t min_ms = 200;
    sc_algo algo = SC_ALGO_NONE, versus = SC_ALGO_NONE;
    bool have_versus = false, tune = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(o, "--tune")) {
            tune = true;
            continue;
        } else if (!strcmp(o, "--suite"))
            ok = (suite = v) != NULL;
        else if (!strcmp(o, "--filter"))
            ok = (filter = v) != NULL;
        else if (!strcmp(o, "--batch"))
            ok = sc_arg_int(o, v, 1, 1 << 20, &batch);
        else if (!strcmp(o, "--repeat"))
            ok = sc_arg_int(o, v, 1, 1000, &repeat);
        else if (!strcmp(o, "--min-time")) {
            double s = 0;
            ok = sc_arg_double(o, v, 0, 60, &s); /* checked before the conversion: nan, 1e300 */
            if (ok) min_ms = (uint64_t)(s * 1000);
        } else if (!strcmp(o, "--direction"))
            ok = sc_arg_direction(v, &dir);
        else if (!strcmp(o, "--layout"))
            ok = sc_arg_layout(v, &layout) && layout >= 0;
        else if (!strcmp(o, "--algo"))
            ok = sc_arg_algo(v, &algo);
        else if (!strcmp(o, "--versus"))
            ok = have_versus = sc_arg_algo(v, &versus);
        else if (!strcmp(o, "--device"))
            ok = sc_arg_device(v, &device);
        else {
            fprintf(stderr, "safeconv bench: unknown option '%s'\n", o);
            ok = false;
        }
        if (!ok) {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (tune && device < 0) {
        fprintf(stderr,
                "safeconv bench: --tune times GPU kernel variants; it needs a GPU device\n");
        return 2;
    }
    if (!suite) {
        fprintf(stderr, "safeconv bench: --suite FILE is required\n");
        usage(stderr);
        return 2;
    }
    sc_suite_row *rows;
    int nrows = sc_suite_load(suite, &rows);
    if (nrows < 0) return 1;

    sc_context *ctx[2] = {NULL, NULL};
    for (int c = 0; c < 1 + have_versus; c++) {
        sc_context_options opt;
        sc_context_options_init(&opt);
        opt.device = device;
        opt.strategy = device >= 0 ? SC_STRATEGY_GPU : SC_STRATEGY_AUTO;
        opt.algo = c ? versus : algo;
        if (sc_context_create(&opt, &ctx[c])) {
            fprintf(stderr, "safeconv bench: %s\n", sc_last_error());
            free(rows);
            sc_context_destroy(ctx[0]);
            return 1;
        }
    }
    sc_device_info info;
    sc_device_get_info(device, &info);
    printf("safeconv bench: %s on %s (%s), layout %s%s%s\n", suite, info.name, info.arch,
           layout == SC_NHWC ? "nhwc" : "nchw", have_versus ? ", versus " : "",
           have_versus ? sc_algo_name(versus) : "");
    printf("%-24s %-15s %-18s %10s %9s", "shape", "direction", "algorithm", "ms", "GFLOP/s");
    if (have_versus) printf(" %12s %8s", "versus ms", "speedup");
    printf("\n");

    int failures = 0, shown = 0;
    bool tty = isatty(2);
    sc_rng rng = {12345};
    for (int r = 0; r < nrows; r++) {
        if (filter && !strstr(rows[r].name, filter)) continue;
        sc_conv2d_desc d = rows[r].desc;
        d.layout = (sc_layout)layout;
        if (batch) d.n = batch;
        int64_t xe, we, ye;
        if (sc_conv2d_tensor_elems(&d, &xe, &we, &ye)) {
            printf("%-24s invalid: %s\n", rows[r].name, sc_last_error());
            failures++;
            continue;
        }
        bool ok = true;
        operands o = {0};
        o.x = alloc_random(device, xe, &rng, &ok);
        o.w = alloc_random(device, we, &rng, &ok);
        o.y = alloc_random(device, ye, &rng, &ok);
        o.bias = alloc_random(device, d.k, &rng, &ok);
        o.dx = alloc_random(device, xe, &rng, &ok);
        o.dw = alloc_random(device, we, &rng, &ok);
        o.dbias = alloc_random(device, d.k, &rng, &ok);
        for (int k = 0; ok && k < 3; k++) {
            if (dir >= 0 && dir != k) continue;
            if (tty)
                fprintf(stderr, "\r[%d/%d] %s %s ...", r + 1, nrows, rows[r].name,
                        sc_direction_name((sc_direction)k));
            if (tune) {
                sc_tune_result tr;
                if (sc_conv2d_tune(ctx[0], &d, (sc_direction)k, 0, &tr)) {
                    printf("%-24s %-15s tune failed: %s\n", rows[r].name,
                           sc_direction_name((sc_direction)k), sc_last_error());
                    failures++;
                    continue;
                }
                if (tr.candidates)
                    printf("%-24s %-15s tuned: %d variants (%d rejected), heuristic %.3f ms, "
                           "now %s %.3f ms%s\n",
                           rows[r].name, sc_direction_name((sc_direction)k), tr.candidates,
                           tr.rejected, tr.default_ms, tr.plan, tr.best_ms,
                           tr.adopted ? "" : " (kept)");
            }
            double t[2] = {0, 0};
            sc_algo used[2] = {SC_ALGO_NONE, SC_ALGO_NONE};
            for (int c = 0; c < 1 + have_versus; c++) {
                t[c] = time_call(ctx[c], &d, k, &o, repeat, min_ms / 1000.0);
                sc_stats st;
                if (!sc_context_get_stats(ctx[c], &st)) used[c] = st.last_algo;
                if (t[c] < 0) break;
            }
            if (tty) fprintf(stderr, "\r\033[K");
            if (t[0] < 0 || t[1] < 0) {
                printf("%-24s %-15s failed: %s\n", rows[r].name, sc_direction_name((sc_direction)k),
                       sc_last_error());
                failures++;
                continue;
            }
            double gf = sc_conv2d_flops(&d, (sc_direction)k) / t[0] * 1e-9;
            printf("%-24s %-15s %-18s %10.3f %9.1f", rows[r].name,
                   sc_direction_name((sc_direction)k), sc_algo_name(used[0]), t[0] * 1e3, gf);
            if (have_versus) printf(" %12.3f %7.1fx", t[1] * 1e3, t[1] / t[0]);
            printf("\n");
            fflush(stdout);
            shown++;
        }
        if (!ok) {
            printf("%-24s could not allocate: %s\n", rows[r].name, sc_last_error());
            failures++;
        }
        void *all[] = {o.x, o.w, o.y, o.bias, o.dx, o.dw, o.dbias};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sc_memory_free(device, all[i]);
    }
    if (shown == 0 && failures == 0) fprintf(stderr, "safeconv bench: no rows matched\n");
    sc_context_destroy(ctx[0]);
    sc_context_destroy(ctx[1]);
    free(rows);
    return failures || shown == 0 ? 1 : 0;
}
