/* cmd_verify.c - `safeconv verify`: random configurations from the property space, each run
 * on the chosen device and compared with the double-precision CPU reference (check.c).
 * Every failure prints its seed; `--replay SEED` reruns exactly that configuration. */
#include "args.h"
#include "check.h"
#include "cli.h"
#include "commands.h"
#include "describe.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: safeconv verify [--count N] [--seed S] [--direction D|all] [--device N|cpu]\n"
    "                       [--layout nchw|nhwc|both] [--algo NAME] [--strategy S]\n"
    "                       [--workspace-limit BYTES] [--large PERCENT] [--replay SEED]\n"
    "                       [--channel-multiple M] [--dtype f32|f16|bf16|tf32] [--tune]\n"
    "                       [--shape-class 3x3s1|dw|dwlong|stem|fewc|dws2|pw|3x3d]\n"
    "                       [--skip-unsupported] [--verbose] [--json]\n"
    "Checks N random configurations in every chosen direction against the double-precision\n"
    "reference, on the best device present. Ends with 'N passed, N failed'; exit 1 if any\n"
    "failed.\n"
    "  --count N              configurations (default 100)\n"
    "  --seed S               seed of the run (default: the clock; printed)\n"
    "  --direction D          forward, backward_data, backward_weight, backward_bias or all\n"
    "                         (default all)\n"
    "  --device N|cpu         GPU N or the CPU (default: GPU 0 when present)\n"
    "  --layout L             nchw, nhwc or both (default both: drawn per configuration)\n"
    "  --algo NAME            force one algorithm (e.g. cpu_reference, gpu_implicit_gemm)\n"
    "  --strategy S           auto, gpu, vendor, selective or cpu (default gpu)\n"
    "  --workspace-limit B    bytes of scratch per call (default: the library's)\n"
    "  --large PERCENT        share of configurations with wide channels (default 10 on a GPU)\n"
    "  --replay SEED          rerun the one configuration of a failure's seed\n"
    "  --channel-multiple M   channels per group rounded up to a multiple of M (1-64; replay\n"
    "                         with the same M)\n"
    "  --dtype T              the tensors' type: f32 (default), f16, bf16, or tf32 (f32 tensors,\n"
    "                         math mode SC_MATH_TF32); fp16/bf16/TF32 results are checked\n"
    "                         against the reference on the rounded inputs with a derived bound\n"
    "  --tune                 (GPU) tune each configuration first, so the checked run uses the\n"
    "                         measured variant rather than the heuristic's\n"
    "  --shape-class CLASS    only one class of layers (replay with the same option): 3x3s1\n"
    "                         dense 3x3 of stride 1, dilation 1 and padding 0-2 (the Winograd\n"
    "                         kernels' shapes); dw depthwise with square 3x3, 5x5 or 7x7\n"
    "                         filters (the sliced depthwise backward-weight's); dwlong\n"
    "                         depthwise with rows of 8-80 taps at stride 1 (the long-filter\n"
    "                         backward-data's); stem dense with 1-4 input channels, 7x7\n"
    "                         filters a third of the time, strides 1-3 (the small-C kernels');\n"
    "                         fewc 3x3 with 1-16 input channels a group, strides 1-2 (the\n"
    "                         small-C backward-weight's); dws2 depthwise with column stride\n"
    "                         2, no dilation, 3x3/5x5/7x7 (the strided backward-data's); pw\n"
    "                         1x1 with 1-64 channels in and out, strides 1-2, no padding\n"
    "                         (the small-C 1x1 backward-weight's); 3x3d dense 3x3 of stride\n"
    "                         1, dilation 2-5 (1 now and then), padding up to twice it (the\n"
    "                         dilated Winograd forward's and backward-data's)\n"
    "  --skip-unsupported     with --algo: skip (and count) the configurations that algorithm\n"
    "                         does not apply to, instead of failing them\n"
    "  --verbose              print every check, not only failures\n"
    "  --json                 one JSON document on stdout (docs/cli.md); progress on stderr\n"
    "  -h, --help             this text\n";

enum {
    O_COUNT = SC_OPT_FIRST,
    O_SEED,
    O_DIRECTION,
    O_DEVICE,
    O_LAYOUT,
    O_ALGO,
    O_STRATEGY,
    O_WORKSPACE,
    O_LARGE,
    O_REPLAY,
    O_CMUL,
    O_DTYPE,
    O_TUNE,
    O_SKIP_UNSUPPORTED,
    O_VERBOSE,
    O_SHAPE
};

static const struct option opts[] = {{"count", required_argument, NULL, O_COUNT},
                                     {"seed", required_argument, NULL, O_SEED},
                                     {"direction", required_argument, NULL, O_DIRECTION},
                                     {"device", required_argument, NULL, O_DEVICE},
                                     {"layout", required_argument, NULL, O_LAYOUT},
                                     {"algo", required_argument, NULL, O_ALGO},
                                     {"strategy", required_argument, NULL, O_STRATEGY},
                                     {"workspace-limit", required_argument, NULL, O_WORKSPACE},
                                     {"large", required_argument, NULL, O_LARGE},
                                     {"replay", required_argument, NULL, O_REPLAY},
                                     {"channel-multiple", required_argument, NULL, O_CMUL},
                                     {"dtype", required_argument, NULL, O_DTYPE},
                                     {"tune", no_argument, NULL, O_TUNE},
                                     {"skip-unsupported", no_argument, NULL, O_SKIP_UNSUPPORTED},
                                     {"shape-class", required_argument, NULL, O_SHAPE},
                                     {"verbose", no_argument, NULL, O_VERBOSE},
                                     {"json", no_argument, NULL, SC_OPT_JSON},
                                     {"help", no_argument, NULL, SC_OPT_HELP},
                                     {0}};

/* --shape-class's names, indexed by sc_shape_class (SC_SHAPES_ANY, the default, has none):
 * parsing, the error that lists them and the replay hint all read this table. */
static const char *const shape_names[] = {NULL,   "3x3s1", "dw", "dwlong", "stem",
                                          "fewc", "dws2",  "pw", "3x3d"};
#define NSHAPES ((int)(sizeof shape_names / sizeof shape_names[0]))

typedef struct run_opts {
    uint64_t count, seed, replay, ws_limit;
    bool have_seed, have_replay, verbose, tune, json, tf32, skip_unsupported;
    sc_shape_class shapes;
    sc_dtype dtype;
    int dir, layout, device, large_pct, cmul;
    sc_algo algo;
    sc_strategy strategy;
} run_opts;

/* SC_EXIT_OK to run; else the exit code (help shown or usage error). */
static int parse(int argc, char **argv, run_opts *r, bool *stop)
{
    *stop = true;
    for (int c; (c = sc_cli_next(argc, argv, opts, usage)) != SC_CLI_DONE;) {
        const char *v = optarg;
        bool ok = true;
        switch (c) {
        case SC_CLI_HELP: return SC_EXIT_OK;
        case SC_CLI_ERROR: return SC_EXIT_USAGE;
        case SC_OPT_JSON: r->json = true; break;
        case O_TUNE: r->tune = true; break;
        case O_VERBOSE: r->verbose = true; break;
        case O_SKIP_UNSUPPORTED: r->skip_unsupported = true; break;
        case O_SHAPE: {
            int i = 1;
            while (i < NSHAPES && strcmp(v, shape_names[i]) != 0) i++;
            if (i == NSHAPES) {
                char list[64] = "";
                for (int j = 1; j < NSHAPES; j++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                             j > 1 ? ", " : "", shape_names[j]);
                return sc_cli_usage_error("--shape-class: '%s' is not a shape class (%s)", v, list);
            }
            r->shapes = (sc_shape_class)i;
            break;
        }
        case O_COUNT:
            ok = sc_arg_u64("--count", v, &r->count);
            if (ok && r->count == 0) ok = false, sc_cli_usage_error("--count: must be at least 1");
            break;
        case O_SEED: ok = r->have_seed = sc_arg_u64("--seed", v, &r->seed); break;
        case O_REPLAY: ok = r->have_replay = sc_arg_u64("--replay", v, &r->replay); break;
        case O_WORKSPACE: ok = sc_arg_u64("--workspace-limit", v, &r->ws_limit); break;
        case O_DIRECTION: ok = sc_arg_direction(v, &r->dir); break;
        case O_LAYOUT: ok = sc_arg_layout(v, &r->layout); break;
        case O_ALGO: ok = sc_arg_algo(v, &r->algo); break;
        case O_LARGE: ok = sc_arg_int("--large", v, 0, 100, &r->large_pct); break;
        case O_CMUL: ok = sc_arg_int("--channel-multiple", v, 1, 64, &r->cmul); break;
        case O_DTYPE: ok = sc_arg_dtype("--dtype", v, &r->dtype, &r->tf32); break;
        case O_DEVICE: ok = sc_arg_device(v, &r->device); break;
        case O_STRATEGY:
            ok = sc_strategy_from_name(v, &r->strategy) == SC_STATUS_OK;
            if (!ok) sc_cli_usage_error("--strategy: %s", sc_last_error());
            break;
        default: break;
        }
        if (!ok) return SC_EXIT_USAGE;
    }
    if (!sc_cli_no_more_args(argc, argv, 0)) return SC_EXIT_USAGE;
    if (r->tune && r->device < 0)
        return sc_cli_usage_error("--tune times GPU kernel variants; it needs a GPU device");
    *stop = false;
    return SC_EXIT_OK;
}

static void json_check(sc_json *j, int k, const sc_conv2d_desc *d, uint64_t seed,
                       const sc_check_result *res, const char *message)
{
    sc_json_object(j, NULL);
    sc_json_string(j, "direction", sc_direction_name((sc_direction)k));
    sc_json_desc(j, "desc", d);
    sc_json_seed(j, "seed", seed);
    sc_json_bool(j, "pass", res ? res->pass : false);
    if (res) {
        sc_json_number(j, "rel_err", res->rel_err);
        sc_json_number(j, "tolerance", res->tol);
        sc_json_string(j, "algo", sc_algo_name(res->algo));
    } else {
        sc_json_null(j, "rel_err");
        sc_json_null(j, "tolerance");
        sc_json_null(j, "algo");
    }
    sc_json_string(j, "message", message && *message ? message : NULL);
    sc_json_end(j);
}

/* --large's percent, or its default: 10 on a GPU, 0 on the CPU. */
static int large_pct(const run_opts *r)
{
    return r->large_pct >= 0 ? r->large_pct : r->device >= 0 ? 10 : 0;
}

/* The options a failure's replay needs besides --replay SEED: those that shape the drawn
 * configuration (share of wide channels, channel multiple, shape class, layout, dtype) and
 * those that choose what is checked (device, dtype, algorithm, strategy). The share of wide
 * channels is written out even when it was the default, since the default differs between the
 * CPU and a GPU. */
static void replay_hint(const run_opts *r, char *buf, size_t n)
{
    size_t len = 0;
#define HINT(...)                                                                                  \
    do {                                                                                           \
        int w_ = snprintf(len < n ? buf + len : NULL, len < n ? n - len : 0, __VA_ARGS__);         \
        if (w_ > 0) len += (size_t)w_;                                                             \
    } while (0)
    buf[0] = '\0';
    if (r->device < 0)
        HINT(" --device cpu");
    else if (r->device > 0)
        HINT(" --device %d", r->device);
    if (r->shapes) HINT(" --shape-class %s", shape_names[r->shapes]);
    HINT(" --large %d", large_pct(r));
    if (r->cmul != 1) HINT(" --channel-multiple %d", r->cmul);
    if (r->layout >= 0) HINT(" --layout %s", r->layout == SC_NHWC ? "nhwc" : "nchw");
    if (r->tf32)
        HINT(" --dtype tf32");
    else if (r->dtype != SC_DTYPE_F32)
        HINT(" --dtype %s", sc_dtype_name(r->dtype));
    if (r->algo != SC_ALGO_NONE) HINT(" --algo %s", sc_algo_name(r->algo));
    if (r->strategy != SC_STRATEGY_GPU) HINT(" --strategy %s", sc_strategy_name(r->strategy));
#undef HINT
    if (len >= n) buf[n - 1] = '\0';
}

int cmd_verify(int argc, char **argv)
{
    run_opts r = {.dtype = SC_DTYPE_F32,
                  .count = 100,
                  .dir = -1,
                  .layout = -1,
                  .device = sc_default_device(),
                  .large_pct = -1,
                  .cmul = 1,
                  .algo = SC_ALGO_NONE,
                  .strategy = SC_STRATEGY_GPU};
    bool stop;
    int rc = parse(argc, argv, &r, &stop);
    if (stop) return rc;
    if (!r.have_seed) r.seed = (uint64_t)time(NULL);

    sc_context_options opt;
    sc_context_options_init(&opt);
    opt.device = r.device;
    opt.algo = r.algo;
    opt.strategy = r.strategy;
    opt.workspace_limit = (size_t)r.ws_limit;
    opt.math = r.tf32 ? SC_MATH_TF32 : SC_MATH_EXACT;
    sc_context *ctx;
    if (sc_context_create(&opt, &ctx) != SC_STATUS_OK) return sc_cli_fail("%s", sc_last_error());
    sc_gen_options gen;
    sc_gen_options_init(&gen);
    gen.layout = r.layout;
    gen.channel_multiple = r.cmul;
    gen.shapes = r.shapes;
    gen.dtype = r.dtype;
    sc_check_options copt;
    sc_check_options_init(&copt);
    copt.tf32 = r.tf32;
    gen.large_share = large_pct(&r) / 100.0;

    if (r.have_replay) r.count = 1;
    const char *dirs = r.dir < 0 ? "all" : sc_direction_name((sc_direction)r.dir);
    const char *dtype = r.tf32 ? "tf32" : sc_dtype_name(r.dtype);
    sc_json j;
    if (r.json) {
        sc_json_start(&j, stdout);
        sc_json_uint(&j, "count", r.count);
        sc_json_seed(&j, "seed", r.seed);
        if (r.have_replay)
            sc_json_seed(&j, "replay", r.replay);
        else
            sc_json_null(&j, "replay");
        sc_json_int(&j, "device", r.device);
        sc_json_string(&j, "directions", dirs);
        sc_json_string(&j, "dtype", dtype);
        sc_json_array(&j, "checks");
    } else {
        printf("safeconv verify: %llu configurations, seed %llu, device %s, directions %s, dtype "
               "%s\n",
               (unsigned long long)r.count, (unsigned long long)r.seed,
               r.device < 0 ? "cpu" : "gpu", dirs, dtype);
    }
    uint64_t passed = 0, failed = 0, skipped = 0, per_dir_pass[4] = {0}, per_dir_fail[4] = {0};
    const char *fatal = NULL;
    char fatal_buf[400];
    for (uint64_t i = 0; i < r.count && !fatal; i++) {
        uint64_t cfg_seed = r.have_replay ? r.replay : sc_mix_seed(r.seed, i);
        sc_rng rng = {cfg_seed};
        sc_conv2d_desc d;
        sc_random_desc(&rng, &gen, &d);
        char text[160];
        sc_desc_format(&d, text, sizeof text);
        for (int k = 0; k < 4 && !fatal; k++) {
            if (r.dir >= 0 && k != r.dir) continue;
            sc_check_result res;
            sc_tune_result tr;
            sc_algo chosen;
            if (r.skip_unsupported &&
                sc_conv2d_select(ctx, &d, (sc_direction)k, &chosen) == SC_STATUS_UNSUPPORTED) {
                skipped++;
                continue;
            }
            if (r.tune && k != SC_DIR_BACKWARD_BIAS &&
                sc_conv2d_tune(ctx, &d, (sc_direction)k, 1, &tr)) {
                char msg[400];
                snprintf(msg, sizeof msg, "tune: %s", sc_last_error());
                if (r.json)
                    json_check(&j, k, &d, cfg_seed, NULL, msg);
                else
                    printf("FAIL %-15s %s  %s  seed 0x%016llx\n",
                           sc_direction_name((sc_direction)k), text, msg,
                           (unsigned long long)cfg_seed);
                failed++, per_dir_fail[k]++;
                continue;
            }
            if (sc_check_direction_ex(ctx, r.device, &d, (sc_direction)k, cfg_seed + 1 + k, &copt,
                                      &res)) {
                snprintf(fatal_buf, sizeof fatal_buf, "%s", sc_last_error());
                fatal = fatal_buf;
                break;
            }
            if (res.pass)
                passed++, per_dir_pass[k]++;
            else
                failed++, per_dir_fail[k]++;
            if (!res.pass || r.verbose) {
                if (r.json)
                    json_check(&j, k, &d, cfg_seed, &res, res.pass ? NULL : res.message);
                else
                    printf("%s %-15s %s  err %.2e  algo %s  seed 0x%016llx%s%s\n",
                           res.pass ? "ok  " : "FAIL", sc_direction_name((sc_direction)k), text,
                           res.rel_err, sc_algo_name(res.algo), (unsigned long long)cfg_seed,
                           res.pass ? "" : "  ", res.pass ? "" : res.message);
            }
        }
        if (!r.verbose && r.count >= 200 && (i + 1) % (r.count / 10) == 0)
            fprintf(stderr, "  %llu/%llu configurations, %llu failed\n",
                    (unsigned long long)(i + 1), (unsigned long long)r.count,
                    (unsigned long long)failed);
    }
    if (fatal) sc_cli_note("could not run a check: %s", fatal);
    if (r.json) {
        sc_json_end(&j); /* checks */
        sc_json_object(&j, "per_direction");
        for (int k = 0; k < 4; k++) {
            if (r.dir >= 0 && k != r.dir) continue;
            sc_json_object(&j, sc_direction_name((sc_direction)k));
            sc_json_uint(&j, "passed", per_dir_pass[k]);
            sc_json_uint(&j, "failed", per_dir_fail[k]);
            sc_json_end(&j);
        }
        sc_json_end(&j);
        sc_json_uint(&j, "passed", passed);
        sc_json_uint(&j, "failed", failed);
        sc_json_uint(&j, "skipped", skipped);
        sc_json_string(&j, "error", fatal ? fatal : NULL);
        sc_json_finish(&j);
    } else {
        if (failed) {
            char hint[400];
            replay_hint(&r, hint, sizeof hint);
            printf("replay one with: safeconv verify --replay SEED%s (add --direction to "
                   "narrow)\n",
                   hint);
        }
        for (int k = 0; k < 4; k++)
            if (per_dir_fail[k])
                printf("%s: %llu failed\n", sc_direction_name((sc_direction)k),
                       (unsigned long long)per_dir_fail[k]);
        if (skipped)
            printf("%llu passed, %llu failed, %llu skipped (the forced algorithm does not "
                   "apply)\n",
                   (unsigned long long)passed, (unsigned long long)failed,
                   (unsigned long long)skipped);
        else
            printf("%llu passed, %llu failed\n", (unsigned long long)passed,
                   (unsigned long long)failed);
    }
    sc_context_destroy(ctx);
    return failed || fatal ? SC_EXIT_FAIL : SC_EXIT_OK;
}
