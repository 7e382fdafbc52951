/* cmd_bench.c - `safeconv bench`: time every shape of a suite, per direction, on the best
 * device present (or --device), with random data. Median of repeated runs after one warm-up,
 * each run ended by sc_context_synchronize. A benchmark for people: never used by the tests.
 * `--versus ALGO` times a second algorithm on the same data (e.g. the CPU fast path against
 * cpu_reference) and prints the speedup. */
#include "args.h"
#include "check.h"
#include "cli.h"
#include "commands.h"
#include "common/half.h"
#include "describe.h"
#include "json.h"
#include "suite.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: safeconv bench --suite NAME|FILE [--device N|cpu] [--batch N] [--direction D|all]\n"
    "                      [--layout nchw|nhwc] [--algo NAME] [--versus NAME] [--filter TEXT]\n"
    "                      [--dtype f32|f16|bf16|tf32] [--repeat N] [--min-time SECONDS] [--tune]\n"
    "                      [--json]\n"
    "Times each shape of a suite and prints the median ms and GFLOP/s per direction.\n"
    "  --suite NAME|FILE   a suite CSV (name,n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,\n"
    "                      dil_w,groups), or the name of one shipped with safeconv: public,\n"
    "                      resnet18_b64, resnet50_b64, mobilenet_v3_large_b64,\n"
    "                      efficientnet_b0_b32 (bench/suites; installed in share/safeconv/suites)\n"
    "  --device N|cpu      GPU N or the CPU (default: GPU 0 when present)\n"
    "  --batch N           N of every shape (default: the suite's)\n"
    "  --direction D       forward, backward_data, backward_weight or all (default all)\n"
    "  --layout L          nchw or nhwc (default nchw)\n"
    "  --dtype T           the tensors' type: f32 (default), f16, bf16, or tf32 (f32 tensors,\n"
    "                      math mode SC_MATH_TF32)\n"
    "  --algo NAME         force one algorithm (default: the library chooses)\n"
    "  --versus NAME       also time this algorithm on the same data; prints the speedup\n"
    "  --filter TEXT       only rows whose name contains TEXT\n"
    "  --repeat N          timed runs at least (1-1000, default 5)\n"
    "  --min-time SECONDS  and for at least this long (0-60, default 0.2)\n"
    "  --tune              (GPU) first time the kernel's variants for each shape and direction\n"
    "                      (sc_conv2d_tune) and keep the fastest for the timed runs\n"
    "  --json              one JSON document on stdout (docs/cli.md); progress on stderr\n"
    "  -h, --help          this text\n";

enum {
    O_SUITE = SC_OPT_FIRST,
    O_DEVICE,
    O_BATCH,
    O_DIRECTION,
    O_LAYOUT,
    O_ALGO,
    O_VERSUS,
    O_FILTER,
    O_REPEAT,
    O_MIN_TIME,
    O_TUNE,
    O_DTYPE
};

static const struct option opts[] = {{"suite", required_argument, NULL, O_SUITE},
                                     {"device", required_argument, NULL, O_DEVICE},
                                     {"batch", required_argument, NULL, O_BATCH},
                                     {"direction", required_argument, NULL, O_DIRECTION},
                                     {"layout", required_argument, NULL, O_LAYOUT},
                                     {"algo", required_argument, NULL, O_ALGO},
                                     {"versus", required_argument, NULL, O_VERSUS},
                                     {"filter", required_argument, NULL, O_FILTER},
                                     {"repeat", required_argument, NULL, O_REPEAT},
                                     {"min-time", required_argument, NULL, O_MIN_TIME},
                                     {"tune", no_argument, NULL, O_TUNE},
                                     {"dtype", required_argument, NULL, O_DTYPE},
                                     {"json", no_argument, NULL, SC_OPT_JSON},
                                     {"help", no_argument, NULL, SC_OPT_HELP},
                                     {0}};

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

/* n elements of `dtype` on the device, uniform in [-1, 1) (16-bit types rounded to nearest). */
static void *alloc_random(int device, int64_t n, sc_dtype dtype, sc_rng *rng, bool *ok)
{
    const size_t elem = dtype == SC_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    void *h = malloc((size_t)n * elem), *d = NULL;
    if (!h || sc_memory_alloc(device, (size_t)n * elem, &d)) goto fail;
    for (int64_t i = 0; i < n; i++) {
        float v = sc_rng_unit(rng);
        if (dtype == SC_DTYPE_F32)
            ((float *)h)[i] = v;
        else
            ((uint16_t *)h)[i] = dtype == SC_DTYPE_F16 ? sc_f32_to_f16(v) : sc_f32_to_bf16(v);
    }
    if (sc_memory_copy(device, d, h, (size_t)n * elem, 1)) goto fail;
    free(h);
    return d;
fail:
    free(h);
    sc_memory_free(device, d);
    *ok = false;
    return NULL;
}

/* A row or direction that could not be timed: a line, or a results entry with "error". */
static void row_failed(sc_json *j, const char *name, int dir, const sc_conv2d_desc *d,
                       const char *what, const char *why)
{
    const char *dname = dir >= 0 ? sc_direction_name((sc_direction)dir) : NULL;
    if (!j) {
        if (dname)
            printf("%-24s %-15s %s: %s\n", name, dname, what, why);
        else
            printf("%-24s %s: %s\n", name, what, why);
        return;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", what, why);
    sc_json_object(j, NULL);
    sc_json_string(j, "shape", name);
    sc_json_string(j, "direction", dname);
    sc_json_desc(j, "desc", d);
    sc_json_null(j, "algo");
    sc_json_null(j, "ms");
    sc_json_null(j, "gflops");
    sc_json_null(j, "versus_algo");
    sc_json_null(j, "versus_ms");
    sc_json_null(j, "speedup");
    sc_json_null(j, "tuned");
    sc_json_string(j, "error", msg);
    sc_json_end(j);
}

int cmd_bench(int argc, char **argv)
{
    const char *suite_arg = NULL, *filter = NULL;
    int device = sc_default_device(), dir = -1, layout = SC_NCHW, batch = 0, repeat = 5;
    double min_time = 0.2;
    sc_algo algo = SC_ALGO_NONE, versus = SC_ALGO_NONE;
    bool have_versus = false, tune = false, json = false, tf32 = false;
    sc_dtype dtype = SC_DTYPE_F32;
    for (int c; (c = sc_cli_next(argc, argv, opts, usage)) != SC_CLI_DONE;) {
        const char *v = optarg;
        bool ok = true;
        switch (c) {
        case SC_CLI_HELP: return SC_EXIT_OK;
        case SC_CLI_ERROR: return SC_EXIT_USAGE;
        case SC_OPT_JSON: json = true; break;
        case O_TUNE: tune = true; break;
        case O_SUITE: suite_arg = v; break;
        case O_FILTER: filter = v; break;
        case O_BATCH: ok = sc_arg_int("--batch", v, 1, 1 << 20, &batch); break;
        case O_REPEAT: ok = sc_arg_int("--repeat", v, 1, 1000, &repeat); break;
        case O_MIN_TIME: ok = sc_arg_double("--min-time", v, 0, 60, &min_time); break;
        case O_DIRECTION: ok = sc_arg_direction(v, &dir); break;
        case O_LAYOUT:
            ok = sc_arg_layout(v, &layout);
            if (ok && layout < 0)
                ok = false, sc_cli_usage_error("--layout: nchw or nhwc, not both");
            break;
        case O_ALGO: ok = sc_arg_algo(v, &algo); break;
        case O_VERSUS: ok = have_versus = sc_arg_algo_for("--versus", v, &versus); break;
        case O_DEVICE: ok = sc_arg_device(v, &device); break;
        case O_DTYPE: ok = sc_arg_dtype("--dtype", v, &dtype, &tf32); break;
        default: break;
        }
        if (!ok) return SC_EXIT_USAGE;
    }
    if (!sc_cli_no_more_args(argc, argv, 0)) return SC_EXIT_USAGE;
    if (tune && device < 0)
        return sc_cli_usage_error("--tune times GPU kernel variants; it needs a GPU device");
    if (!suite_arg) return sc_cli_usage_error("--suite is required");
    if (dir == SC_DIR_BACKWARD_BIAS)
        return sc_cli_usage_error("--direction: backward_bias is not timed (forward, "
                                  "backward_data, backward_weight or all)");
    char suite[PATH_MAX];
    if (!sc_suite_find(suite_arg, suite, sizeof suite))
        return sc_cli_fail("--suite %s", sc_suite_error());
    sc_suite_row *rows;
    int nrows = sc_suite_load(suite, &rows);
    if (nrows < 0) return sc_cli_fail("%s", sc_suite_error());

    sc_context *ctx[2] = {NULL, NULL};
    for (int c = 0; c < 1 + have_versus; c++) {
        sc_context_options opt;
        sc_context_options_init(&opt);
        opt.device = device;
        opt.strategy = device >= 0 ? SC_STRATEGY_GPU : SC_STRATEGY_AUTO;
        opt.algo = c ? versus : algo;
        opt.math = tf32 ? SC_MATH_TF32 : SC_MATH_EXACT;
        if (sc_context_create(&opt, &ctx[c])) {
            int rc = sc_cli_fail("%s", sc_last_error());
            free(rows);
            sc_context_destroy(ctx[0]);
            return rc;
        }
    }
    sc_device_info info;
    sc_device_get_info(device, &info);
    const char *dtype_name = tf32 ? "tf32" : sc_dtype_name(dtype);
    sc_json j;
    if (json) {
        sc_json_start(&j, stdout);
        sc_json_string(&j, "suite", suite);
        sc_json_device(&j, "device", &info);
        sc_json_string(&j, "layout", layout == SC_NHWC ? "nhwc" : "nchw");
        sc_json_string(&j, "dtype", dtype_name);
        if (batch)
            sc_json_int(&j, "batch", batch);
        else
            sc_json_null(&j, "batch");
        sc_json_string(&j, "algo", algo ? sc_algo_name(algo) : NULL);
        sc_json_string(&j, "versus", have_versus ? sc_algo_name(versus) : NULL);
        sc_json_array(&j, "results");
    } else {
        printf("safeconv bench: %s on %s (%s), layout %s, dtype %s%s%s\n", suite, info.name,
               info.arch, layout == SC_NHWC ? "nhwc" : "nchw", dtype_name,
               have_versus ? ", versus " : "", have_versus ? sc_algo_name(versus) : "");
        printf("%-24s %-15s %-18s %10s %9s", "shape", "direction", "algorithm", "ms", "GFLOP/s");
        if (have_versus) printf(" %12s %8s", "versus ms", "speedup");
        printf("\n");
    }

    int failures = 0, shown = 0;
    bool tty = isatty(2);
    sc_rng rng = {12345};
    for (int r = 0; r < nrows; r++) {
        if (filter && !strstr(rows[r].name, filter)) continue;
        sc_conv2d_desc d = rows[r].desc;
        d.layout = (sc_layout)layout;
        d.dtype = dtype;
        if (batch) d.n = batch;
        int64_t xe, we, ye;
        if (sc_conv2d_tensor_elems(&d, &xe, &we, &ye)) {
            row_failed(json ? &j : NULL, rows[r].name, -1, &d, "invalid", sc_last_error());
            failures++;
            continue;
        }
        bool ok = true;
        operands o = {0};
        o.x = alloc_random(device, xe, dtype, &rng, &ok);
        o.w = alloc_random(device, we, dtype, &rng, &ok);
        o.y = alloc_random(device, ye, dtype, &rng, &ok);
        o.bias = alloc_random(device, d.k, dtype, &rng, &ok);
        o.dx = alloc_random(device, xe, dtype, &rng, &ok);
        o.dw = alloc_random(device, we, dtype, &rng, &ok);
        o.dbias = alloc_random(device, d.k, dtype, &rng, &ok);
        for (int k = 0; ok && k < 3; k++) {
            if (dir >= 0 && dir != k) continue;
            const char *dname = sc_direction_name((sc_direction)k);
            if (tty) fprintf(stderr, "\r[%d/%d] %s %s ...", r + 1, nrows, rows[r].name, dname);
            sc_tune_result tr;
            bool tuned = false;
            if (tune) {
                if (sc_conv2d_tune(ctx[0], &d, (sc_direction)k, 0, &tr)) {
                    if (tty) fprintf(stderr, "\r\033[K");
                    row_failed(json ? &j : NULL, rows[r].name, k, &d, "tune failed",
                               sc_last_error());
                    failures++;
                    continue;
                }
                tuned = tr.candidates > 0;
                if (tuned && !json)
                    printf("%-24s %-15s tuned: %d variants (%d rejected), heuristic %.3f ms, "
                           "now %s %.3f ms%s\n",
                           rows[r].name, dname, tr.candidates, tr.rejected, tr.default_ms, tr.plan,
                           tr.best_ms, tr.adopted ? "" : " (kept)");
            }
            double t[2] = {0, 0};
            sc_algo used[2] = {SC_ALGO_NONE, SC_ALGO_NONE};
            for (int c = 0; c < 1 + have_versus; c++) {
                t[c] = time_call(ctx[c], &d, k, &o, repeat, min_time);
                sc_stats st;
                if (!sc_context_get_stats(ctx[c], &st)) used[c] = st.last_algo;
                if (t[c] < 0) break;
            }
            if (tty) fprintf(stderr, "\r\033[K");
            if (t[0] < 0 || t[1] < 0) {
                row_failed(json ? &j : NULL, rows[r].name, k, &d, "failed", sc_last_error());
                failures++;
                continue;
            }
            double gf = sc_conv2d_flops(&d, (sc_direction)k) / t[0] * 1e-9;
            if (json) {
                sc_json_object(&j, NULL);
                sc_json_string(&j, "shape", rows[r].name);
                sc_json_string(&j, "direction", dname);
                sc_json_desc(&j, "desc", &d);
                sc_json_string(&j, "algo", sc_algo_name(used[0]));
                sc_json_number(&j, "ms", t[0] * 1e3);
                sc_json_number(&j, "gflops", gf);
                if (have_versus) {
                    sc_json_string(&j, "versus_algo", sc_algo_name(used[1]));
                    sc_json_number(&j, "versus_ms", t[1] * 1e3);
                    sc_json_number(&j, "speedup", t[1] / t[0]);
                } else {
                    sc_json_null(&j, "versus_algo");
                    sc_json_null(&j, "versus_ms");
                    sc_json_null(&j, "speedup");
                }
                if (tuned) {
                    sc_json_object(&j, "tuned");
                    sc_json_int(&j, "candidates", tr.candidates);
                    sc_json_int(&j, "rejected", tr.rejected);
                    sc_json_number(&j, "heuristic_ms", tr.default_ms);
                    sc_json_string(&j, "plan", tr.plan);
                    sc_json_number(&j, "best_ms", tr.best_ms);
                    sc_json_bool(&j, "adopted", tr.adopted);
                    sc_json_end(&j);
                } else {
                    sc_json_null(&j, "tuned");
                }
                sc_json_null(&j, "error");
                sc_json_end(&j);
            } else {
                printf("%-24s %-15s %-18s %10.3f %9.1f", rows[r].name, dname, sc_algo_name(used[0]),
                       t[0] * 1e3, gf);
                if (have_versus) printf(" %12.3f %7.1fx", t[1] * 1e3, t[1] / t[0]);
                printf("\n");
                fflush(stdout);
            }
            shown++;
        }
        if (!ok) {
            row_failed(json ? &j : NULL, rows[r].name, -1, &d, "could not allocate",
                       sc_last_error());
            failures++;
        }
        void *all[] = {o.x, o.w, o.y, o.bias, o.dx, o.dw, o.dbias};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sc_memory_free(device, all[i]);
    }
    if (shown == 0 && failures == 0) sc_cli_note("no rows matched");
    if (json) {
        sc_json_end(&j); /* results */
        sc_json_int(&j, "timed", shown);
        sc_json_int(&j, "failed", failures);
        sc_json_finish(&j);
    }
    sc_context_destroy(ctx[0]);
    sc_context_destroy(ctx[1]);
    free(rows);
    return failures || shown == 0 ? SC_EXIT_FAIL : SC_EXIT_OK;
}
