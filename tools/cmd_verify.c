/* cmd_verify.c - `safeconv verify`: random configurations from the property space, each run
 * on the chosen device and compared with the double-precision CPU reference (check.c).
 * Every failure prints its seed; `--replay SEED` reruns exactly that configuration. */
#include "args.h"
#include "check.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: safeconv verify [--count N] [--seed S] [--direction D|all] [--device N|cpu]\n"
            "                       [--layout nchw|nhwc|both] [--algo NAME] [--strategy S]\n"
            "                       [--workspace-limit BYTES] [--large FRACTION] [--replay SEED]\n"
            "                       [--channel-multiple M] [--dtype f32|f16|bf16|tf32] [--tune]\n"
            "                       [--skip-unsupported] [--verbose]\n"
            "Checks COUNT random configurations (default 100) in every chosen direction\n"
            "(default all) against the reference, on the best device present (or --device).\n"
            "Ends with a line 'N passed, N failed'; exit status 1 if any failed.\n"
            "--channel-multiple M: channels per group of dense and grouped layers rounded up\n"
            "to a multiple of M (as in real networks; replay with the same M).\n"
            "--dtype: the tensors' type (default f32); tf32 = f32 tensors with the context's\n"
            "math mode SC_MATH_TF32. fp16/bf16/TF32 results are checked against the reference\n"
            "on the rounded inputs with a derived bound (tools/check.c).\n"
            "--skip-unsupported: with --algo, skip (and count) the configurations that\n"
            "algorithm does not apply to, instead of failing them.\n"
            "--tune (GPU): tune each configuration first, so the checked run uses the\n"
            "measured variant rather than the heuristic's.\n");
}

int cmd_verify(int argc, char **argv)
{
    uint64_t count = 100, seed = 0, replay = 0, ws_limit = 0;
    bool have_seed = false, have_replay = false, verbose = false, tune = false;
    bool skip_unsupported = false;
    int dir = -1, layout = -1, device = sc_default_device(), large_pct = -1;
    int cmul = 1;
    sc_dtype dtype = SC_DTYPE_F32;
    bool tf32 = false;
    sc_algo algo = SC_ALGO_NONE;
    sc_strategy strategy = SC_STRATEGY_GPU;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(o, "--verbose")) {
            verbose = true;
            continue;
        } else if (!strcmp(o, "--tune")) {
            tune = true;
            continue;
        } else if (!strcmp(o, "--skip-unsupported")) {
            skip_unsupported = true;
            continue;
        } else if (!strcmp(o, "--count"))
            ok = sc_arg_u64(o, v, &count) && count > 0;
        else if (!strcmp(o, "--seed"))
            ok = have_seed = sc_arg_u64(o, v, &seed);
        else if (!strcmp(o, "--replay"))
            ok = have_replay = sc_arg_u64(o, v, &replay);
        else if (!strcmp(o, "--workspace-limit"))
            ok = sc_arg_u64(o, v, &ws_limit);
        else if (!strcmp(o, "--direction"))
            ok = sc_arg_direction(v, &dir);
        else if (!strcmp(o, "--layout"))
            ok = sc_arg_layout(v, &layout);
        else if (!strcmp(o, "--algo"))
            ok = sc_arg_algo(v, &algo);
        else if (!strcmp(o, "--large"))
            ok = sc_arg_int(o, v, 0, 100, &large_pct);
        else if (!strcmp(o, "--dtype")) {
            ok = v && (!strcmp(v, "f32") || !strcmp(v, "f16") || !strcmp(v, "bf16") ||
                       !strcmp(v, "tf32"));
            if (ok) {
                dtype = !strcmp(v, "f16")    ? SC_DTYPE_F16
                        : !strcmp(v, "bf16") ? SC_DTYPE_BF16
                                             : SC_DTYPE_F32;
                tf32 = !strcmp(v, "tf32");
            } else {
                fprintf(stderr,
                        "safeconv verify: --dtype: expected f32, f16, bf16 or tf32, got "
                        "'%s'\n",
                        v ? v : "(nothing)");
            }
        } else if (!strcmp(o, "--channel-multiple"))
            ok = sc_arg_int(o, v, 1, 64, &cmul);
        else if (!strcmp(o, "--strategy")) {
            ok = v && sc_strategy_from_name(v, &strategy) == SC_STATUS_OK;
            if (!ok) fprintf(stderr, "safeconv: --strategy: %s\n", sc_last_error());
        } else if (!strcmp(o, "--device"))
            ok = sc_arg_device(v, &device);
        else {
            fprintf(stderr, "safeconv verify: unknown option '%s'\n", o);
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
                "safeconv verify: --tune times GPU kernel variants; it needs a GPU device\n");
        return 2;
    }
    if (!have_seed) seed = (uint64_t)time(NULL);

    sc_context_options opt;
    sc_context_options_init(&opt);
    opt.device = device;
    opt.algo = algo;
    opt.strategy = strategy;
    opt.workspace_limit = (size_t)ws_limit;
    opt.math = tf32 ? SC_MATH_TF32 : SC_MATH_EXACT;
    sc_context *ctx;
    if (sc_context_create(&opt, &ctx) != SC_STATUS_OK) {
        fprintf(stderr, "safeconv verify: %s\n", sc_last_error());
        return 1;
    }
    sc_gen_options gen;
    sc_gen_options_init(&gen);
    gen.layout = layout;
    gen.channel_multiple = cmul;
    gen.dtype = dtype;
    sc_check_options copt;
    sc_check_options_init(&copt);
    copt.tf32 = tf32;
    gen.large_share = large_pct >= 0 ? large_pct / 100.0 : device >= 0 ? 0.1 : 0.0;

    if (have_replay) count = 1;
    printf("safeconv verify: %llu configurations, seed %llu, device %s, directions %s, dtype %s\n",
           (unsigned long long)count, (unsigned long long)seed, device < 0 ? "cpu" : "gpu",
           dir < 0 ? "all" : sc_direction_name((sc_direction)dir),
           tf32                     ? "tf32"
           : dtype == SC_DTYPE_F16  ? "f16"
           : dtype == SC_DTYPE_BF16 ? "bf16"
                                    : "f32");
    uint64_t passed = 0, failed = 0, skipped = 0, per_dir_fail[4] = {0};
    for (uint64_t i = 0; i < count; i++) {
        uint64_t cfg_seed = have_replay ? replay : sc_mix_seed(seed, i);
        sc_rng rng = {cfg_seed};
        sc_conv2d_desc d;
        sc_random_desc(&rng, &gen, &d);
        char text[160];
        sc_desc_format(&d, text, sizeof text);
        for (int k = 0; k < 4; k++) {
            if (dir >= 0 && k != dir) continue;
            sc_check_result res;
            sc_tune_result tr;
            sc_algo chosen;
            if (skip_unsupported &&
                sc_conv2d_select(ctx, &d, (sc_direction)k, &chosen) == SC_STATUS_UNSUPPORTED) {
                skipped++;
                continue;
            }
            if (tune && k != SC_DIR_BACKWARD_BIAS &&
                sc_conv2d_tune(ctx, &d, (sc_direction)k, 1, &tr)) {
                printf("FAIL %-15s %s  tune: %s  seed 0x%016llx\n",
                       sc_direction_name((sc_direction)k), text, sc_last_error(),
                       (unsigned long long)cfg_seed);
                failed++, per_dir_fail[k]++;
                continue;
            }
            sc_status st = sc_check_direction_ex(ctx, device, &d, (sc_direction)k, cfg_seed + 1 + k,
                                                 &copt, &res);
            if (st) {
                fprintf(stderr, "safeconv verify: could not run a check: %s\n", sc_last_error());
                sc_context_destroy(ctx);
                return 1;
            }
            if (res.pass)
                passed++;
            else
                failed++, per_dir_fail[k]++;
            if (!res.pass || verbose)
                printf("%s %-15s %s  err %.2e  algo %s  seed 0x%016llx%s%s\n",
                       res.pass ? "ok  " : "FAIL", sc_direction_name((sc_direction)k), text,
                       res.rel_err, sc_algo_name(res.algo), (unsigned long long)cfg_seed,
                       res.pass ? "" : "  ", res.pass ? "" : res.message);
        }
        if (!verbose && count >= 200 && (i + 1) % (count / 10) == 0)
            fprintf(stderr, "  %llu/%llu configurations, %llu failed\n",
                    (unsigned long long)(i + 1), (unsigned long long)count,
                    (unsigned long long)failed);
    }
    if (failed)
        printf("replay one with: safeconv verify --replay SEED%s (add --direction to narrow)\n",
               device < 0 ? " --device cpu" : "");
    for (int k = 0; k < 4; k++)
        if (per_dir_fail[k])
            printf("%s: %llu failed\n", sc_direction_name((sc_direction)k),
                   (unsigned long long)per_dir_fail[k]);
    if (skipped)
        printf("%llu passed, %llu failed, %llu skipped (the forced algorithm does not apply)\n",
               (unsigned long long)passed, (unsigned long long)failed, (unsigned long long)skipped);
    else
        printf("%llu passed, %llu failed\n", (unsigned long long)passed,
               (unsigned long long)failed);
    sc_context_destroy(ctx);
    return failed ? 1 : 0;
}
