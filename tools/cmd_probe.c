/* cmd_probe.c - `safeconv probe`: run shapes through the vendor library in child processes
 * under a watchdog (sc_probe_suite), record outcomes and times in the selection cache, print a
 * progress line per shape (a bar on a terminal) and a table. Also the hidden child mode
 * `safeconv probe --child FD REQUEST` that sc_probe_suite starts. */
#include "args.h"
#include "check.h"
#include "cli.h"
#include "commands.h"
#include "describe.h"
#include "json.h"
#include "suite.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The outcomes a probe can report, in the order of the totals line; --help lists the same. */
static const sc_probe_outcome reported[] = {SC_PROBE_OK,       SC_PROBE_HANG,  SC_PROBE_CRASH,
                                            SC_PROBE_ERROR,    SC_PROBE_WRONG, SC_PROBE_SLOW,
                                            SC_PROBE_NO_VENDOR};
enum {
    NREPORTED = sizeof reported / sizeof reported[0]
};

static const char usage_head[] =
    "usage: safeconv probe (--suite NAME|FILE | --seen | --shape N,C,H,W,K,R,S[,STRIDE,PAD,DIL,\n"
    "                      GROUPS]) [--direction D|all] [--device N|cpu] [--dtype f32|f16|bf16]\n"
    "                      [--layout nchw|nhwc] [--watchdog S] [--slow S] [--tolerance T]\n"
    "                      [--repeat N] [--force] [--cache PATH] [--nondeterministic] [--quiet]\n"
    "                      [--json]\n"
    "Runs each shape through the vendor library (cuDNN, MIOpen) in a child process under a\n"
    "watchdog, compares it with safeconv, and records the outcome in the selection cache.\n"
    "  --suite NAME|FILE   the shapes of a suite CSV, or of a suite shipped with safeconv\n"
    "                      (public, resnet18_b64)\n"
    "  --seen              the shapes strategy auto met and remembered (not probed yet)\n"
    "  --shape ...         one shape: 7 or 11 integers, comma-separated, nothing else\n"
    "  --direction D       forward, backward_data, backward_weight or all (default all)\n"
    "  --device N|cpu      GPU N or the CPU (default: GPU 0 when present)\n"
    "  --dtype T           f32, f16 or bf16 (default f32)\n"
    "  --layout L          nchw or nhwc (default nchw)\n"
    "  --watchdog S        seconds a child may take before it is killed as hung (default 120)\n"
    "  --slow S            a first vendor call over S seconds is 'slow' (default 30)\n"
    "  --tolerance T       largest relative difference from safeconv (default: by dtype)\n"
    "  --repeat N          timed calls per side (1-100, default 5)\n"
    "  --force             probe again where the cache already has an answer\n"
    "  --cache PATH        the selection cache file (default: $SAFECONV_CACHE_DIR, XDG cache)\n"
    "  --nondeterministic  allow the vendor's nondeterministic algorithms\n"
    "  --quiet             no progress on stderr\n"
    "  --json              one JSON document on stdout (docs/cli.md)\n"
    "  -h, --help          this text\n";

enum {
    O_SUITE = SC_OPT_FIRST,
    O_SEEN,
    O_SHAPE,
    O_DIRECTION,
    O_DEVICE,
    O_DTYPE,
    O_LAYOUT,
    O_WATCHDOG,
    O_SLOW,
    O_TOLERANCE,
    O_REPEAT,
    O_FORCE,
    O_CACHE,
    O_NONDET,
    O_QUIET
};

static const struct option opts[] = {{"suite", required_argument, NULL, O_SUITE},
                                     {"seen", no_argument, NULL, O_SEEN},
                                     {"shape", required_argument, NULL, O_SHAPE},
                                     {"direction", required_argument, NULL, O_DIRECTION},
                                     {"device", required_argument, NULL, O_DEVICE},
                                     {"dtype", required_argument, NULL, O_DTYPE},
                                     {"layout", required_argument, NULL, O_LAYOUT},
                                     {"watchdog", required_argument, NULL, O_WATCHDOG},
                                     {"slow", required_argument, NULL, O_SLOW},
                                     {"tolerance", required_argument, NULL, O_TOLERANCE},
                                     {"repeat", required_argument, NULL, O_REPEAT},
                                     {"force", no_argument, NULL, O_FORCE},
                                     {"cache", required_argument, NULL, O_CACHE},
                                     {"nondeterministic", no_argument, NULL, O_NONDET},
                                     {"quiet", no_argument, NULL, O_QUIET},
                                     {"json", no_argument, NULL, SC_OPT_JSON},
                                     {"help", no_argument, NULL, SC_OPT_HELP},
                                     {0}};

/* SIGINT, SIGTERM, SIGHUP: the children's process groups go first (they die with this process
 * anyway, PR_SET_PDEATHSIG; this takes what they started too), then this process, by the same
 * signal. A signal ignored when we started (nohup, a background job) stays ignored. */
static void on_signal(int sig)
{
    sc_probe_kill_children();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void forward_signals(void)
{
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        if (!sigaction(sigs[i], NULL, &old) && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

typedef struct probe_args {
    const char *suite, *shape;
    bool seen, json;
    int dir, layout;
    sc_dtype dtype;
} probe_args;

static int parse(int argc, char **argv, const char *usage, sc_probe_options *o, probe_args *a,
                 bool *stop)
{
    *stop = true;
    for (int c; (c = sc_cli_next(argc, argv, opts, usage)) != SC_CLI_DONE;) {
        const char *v = optarg;
        bool ok = true;
        switch (c) {
        case SC_CLI_HELP: return SC_EXIT_OK;
        case SC_CLI_ERROR: return SC_EXIT_USAGE;
        case SC_OPT_JSON: a->json = true; break;
        case O_SEEN: a->seen = true; break;
        case O_FORCE: o->force = 1; break;
        case O_QUIET: o->progress = 0; break;
        case O_NONDET: o->deterministic = 0; break;
        case O_SUITE: a->suite = v; break;
        case O_SHAPE: a->shape = v; break;
        case O_CACHE: o->cache_path = v; break;
        case O_DIRECTION:
            ok = sc_arg_direction(v, &a->dir);
            if (ok && a->dir == SC_DIR_BACKWARD_BIAS)
                ok = false, sc_cli_usage_error("--direction: backward_bias is not probed");
            break;
        case O_LAYOUT:
            ok = sc_arg_layout(v, &a->layout);
            if (ok && a->layout < 0)
                ok = false, sc_cli_usage_error("--layout: nchw or nhwc, not both");
            break;
        case O_DTYPE: ok = sc_arg_dtype("--dtype", v, &a->dtype, NULL); break;
        case O_DEVICE: ok = sc_arg_device(v, &o->device); break;
        case O_REPEAT: ok = sc_arg_int("--repeat", v, 1, 100, &o->repeats); break;
        case O_WATCHDOG: ok = sc_arg_double("--watchdog", v, 1e-3, 1e9, &o->watchdog_s); break;
        case O_SLOW: ok = sc_arg_double("--slow", v, 1e-3, 1e9, &o->slow_s); break;
        case O_TOLERANCE: ok = sc_arg_double("--tolerance", v, 0, 1e9, &o->tolerance); break;
        default: break;
        }
        if (!ok) return SC_EXIT_USAGE;
    }
    if (!sc_cli_no_more_args(argc, argv, 0)) return SC_EXIT_USAGE;
    if (!!a->suite + !!a->shape + a->seen != 1)
        return sc_cli_usage_error("give exactly one of --suite, --shape, --seen");
    *stop = false;
    return SC_EXIT_OK;
}

static void json_vendor(sc_json *j, const sc_vendor_info *vi)
{
    sc_json_object(j, "vendor");
    sc_json_string(j, "name", vi->name[0] ? vi->name : NULL);
    sc_json_string(j, "version", vi->version[0] ? vi->version : NULL);
    sc_json_string(j, "library", vi->library[0] ? vi->library : NULL);
    sc_json_bool(j, "available", vi->available);
    sc_json_string(j, "message", vi->message[0] ? vi->message : NULL);
    sc_json_end(j);
}

int cmd_probe(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--child")) return sc_probe_child_main(argc, argv);
    char usage[sizeof usage_head + 256];
    int len = snprintf(usage, sizeof usage, "%sOutcomes:", usage_head);
    for (int i = 0; i < NREPORTED; i++)
        len += snprintf(usage + len, sizeof usage - (size_t)len, " %s%s",
                        sc_probe_outcome_name(reported[i]), i + 1 < NREPORTED ? "," : ".");
    snprintf(usage + len, sizeof usage - (size_t)len,
             " Exit 0 when every probe ran (whatever its outcome), 1 when\n"
             "probing could not run (or a --seen row could not be probed), 2 on a usage error.\n"
             "SIGINT, SIGTERM and SIGHUP kill the probe's children first.\n");

    sc_probe_options o;
    sc_probe_options_init(&o);
    o.device = sc_default_device();
    o.progress = 1;
    probe_args a = {.dir = -1, .layout = SC_NCHW, .dtype = SC_DTYPE_F32};
    bool stop;
    int rc = parse(argc, argv, usage, &o, &a, &stop);
    if (stop) return rc;

    unsigned mask = a.dir < 0 ? 0x7u : 1u << a.dir;
    sc_suite_row *rows = NULL;
    int n = 0;
    sc_conv2d_desc *descs = NULL;
    sc_direction *dirs = NULL;
    if (a.suite) {
        char path[PATH_MAX];
        if (!sc_suite_find(a.suite, path, sizeof path))
            return sc_cli_fail("--suite %s", sc_suite_error());
        if ((n = sc_suite_load(path, &rows)) < 0) return sc_cli_fail("%s", sc_suite_error());
    } else if (a.shape) {
        sc_conv2d_desc d;
        if (!sc_arg_shape("--shape", a.shape, &d)) return SC_EXIT_USAGE;
        d.dtype = a.dtype, d.layout = (sc_layout)a.layout;
        if (sc_conv2d_validate(&d)) return sc_cli_usage_error("--shape: %s", sc_last_error());
        rows = calloc(1, sizeof *rows);
        if (!rows) return sc_cli_fail("out of memory");
        rows[0].desc = d;
        snprintf(rows[0].name, sizeof rows[0].name, "shape");
        n = 1;
    } else {
        size_t cnt = 0;
        if (sc_probe_pending(&o, &descs, &dirs, &cnt)) return sc_cli_fail("%s", sc_last_error());
        rows = calloc(cnt ? cnt : 1, sizeof *rows);
        if (!rows) {
            free(descs), free(dirs);
            return sc_cli_fail("out of memory");
        }
        for (size_t i = 0; i < cnt; i++) {
            rows[i].desc = descs[i];
            snprintf(rows[i].name, sizeof rows[i].name, "seen-%zu", i + 1);
        }
        n = (int)cnt;
        if (!n && !a.json) {
            printf("no remembered shapes to probe\n");
            free(rows), free(descs), free(dirs);
            return SC_EXIT_OK;
        }
    }
    /* --seen probes each row in its own remembered direction; otherwise every row x mask. */
    int ndirs = a.seen ? 1 : __builtin_popcount(mask);
    sc_conv2d_desc *in = calloc(n ? (size_t)n : 1, sizeof *in);
    sc_probe_result *res = calloc(n ? (size_t)n * (size_t)ndirs : 1, sizeof *res);
    int *skipped = calloc(n ? (size_t)n : 1, sizeof *skipped); /* --seen rows not probed */
    if (!in || !res || !skipped) {
        free(in), free(res), free(skipped), free(rows), free(descs), free(dirs);
        return sc_cli_fail("out of memory");
    }
    for (int i = 0; i < n; i++) {
        in[i] = rows[i].desc;
        if (!a.seen) in[i].dtype = a.dtype, in[i].layout = (sc_layout)a.layout;
    }
    forward_signals();
    sc_vendor_info vi;
    sc_vendor_get_info(o.device, &vi);
    if (o.progress && n)
        fprintf(stderr,
                "probing %d shape(s) x %d direction(s) on %s through %s %s (watchdog %.1f s, slow "
                "%.1f s)\n",
                n, ndirs, o.device < 0 ? "the CPU" : "the GPU", vi.name[0] ? vi.name : "no vendor",
                vi.version, o.watchdog_s, o.slow_s);
    sc_status st = SC_STATUS_OK;
    int nskipped = 0;
    /* A remembered row that cannot be probed (a file from another build, or planted) is
     * reported and passed over: the others are probed. */
    for (int i = 0; a.seen && i < n; i++)
        if (sc_probe_shape(&o, &in[i], dirs[i], &res[i])) {
            sc_cli_note("%s: not probed: %s", rows[i].name, sc_last_error());
            skipped[i] = 1, nskipped++;
        }
    if (!a.seen && n) st = sc_probe_suite(&o, in, (size_t)n, mask, res);
    if (st) {
        rc = sc_cli_fail("%s", sc_last_error());
        free(in), free(res), free(skipped), free(rows), free(descs), free(dirs);
        return rc;
    }
    int counts[9] = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < ndirs && !skipped[i]; k++) {
            unsigned oc = (unsigned)res[i * ndirs + k].outcome;
            counts[oc <= SC_PROBE_NO_VENDOR ? (int)oc : 8]++;
        }
    if (a.json) {
        sc_json j;
        sc_json_start(&j, stdout);
        sc_json_int(&j, "device", o.device);
        json_vendor(&j, &vi);
        sc_json_number(&j, "watchdog_s", o.watchdog_s);
        sc_json_number(&j, "slow_s", o.slow_s);
        sc_json_array(&j, "results");
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ndirs && !skipped[i]; k++) {
                const sc_probe_result *r = &res[i * ndirs + k];
                sc_json_object(&j, NULL);
                sc_json_string(&j, "name", rows[i].name);
                sc_json_string(&j, "direction", sc_direction_name(r->dir));
                sc_json_desc(&j, "desc", &in[i]);
                sc_json_string(&j, "outcome", sc_probe_outcome_name(r->outcome));
                if (r->vendor_ms > 0)
                    sc_json_number(&j, "vendor_ms", r->vendor_ms);
                else
                    sc_json_null(&j, "vendor_ms");
                if (r->safeconv_ms > 0)
                    sc_json_number(&j, "safeconv_ms", r->safeconv_ms);
                else
                    sc_json_null(&j, "safeconv_ms");
                sc_json_string(&j, "auto", r->use_vendor ? "vendor" : "safeconv");
                sc_json_bool(&j, "cached", r->from_cache);
                sc_json_string(&j, "detail", r->detail);
                sc_json_end(&j);
            }
        sc_json_end(&j);
        sc_json_int(&j, "total", (n - nskipped) * ndirs);
        sc_json_outcomes(&j, "outcomes", counts);
        sc_json_int(&j, "not_probed", nskipped);
        sc_json_finish(&j);
    } else {
        printf("%-24s %-15s %-9s %11s %12s %-8s %s\n", "name", "direction", "outcome", "vendor ms",
               "safeconv ms", "auto", "detail");
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ndirs && !skipped[i]; k++) {
                const sc_probe_result *r = &res[i * ndirs + k];
                char vms[32] = "-", sms[32] = "-";
                if (r->vendor_ms > 0) snprintf(vms, sizeof vms, "%.3f", r->vendor_ms);
                if (r->safeconv_ms > 0) snprintf(sms, sizeof sms, "%.3f", r->safeconv_ms);
                printf("%-24s %-15s %-9s %11s %12s %-8s %s%s\n", rows[i].name,
                       sc_direction_name(r->dir), sc_probe_outcome_name(r->outcome), vms, sms,
                       r->use_vendor ? vi.name : "safeconv", r->from_cache ? "[cached] " : "",
                       r->detail);
            }
        printf("total %d:", (n - nskipped) * ndirs);
        for (int i = 0; i < NREPORTED; i++)
            printf(" %s %d%s", sc_probe_outcome_name(reported[i]), counts[reported[i]],
                   i + 1 < NREPORTED ? "," : "");
        if (counts[8]) printf(", unknown %d", counts[8]);
        printf("%s\n", nskipped ? " (some not probed)" : "");
    }
    free(in), free(res), free(skipped), free(rows), free(descs), free(dirs);
    return nskipped ? SC_EXIT_FAIL : SC_EXIT_OK;
}
