/* cmd_probe.c - `safeconv probe`: run shapes through the vendor library in child processes
 * under a watchdog (sc_probe_suite), record outcomes and times in the selection cache, print a
 * progress line per shape (a bar on a terminal) and a table. Also the hidden child mode
 * `safeconv probe --child FD REQUEST` that sc_probe_suite starts. */
#include "args.h"
#include "check.h"
#include "commands.h"
#include "suite.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(
        stderr,
        "usage: safeconv probe (--suite FILE | --seen | --shape "
        "N,C,H,W,K,R,S[,STRIDE,PAD,DIL,GROUPS])\n"
        "                      [--dir forward|backward_data|backward_weight|all] [--device N]\n"
        "                      [--dtype f32|f16|bf16] [--layout nchw|nhwc] [--watchdog S]\n"
        "                      [--slow S] [--tolerance T] [--repeats N] [--force] [--cache PATH]\n"
        "                      [--nondeterministic] [--quiet]\n"
        "  --suite FILE  shapes of a suite CSV "
        "(name,n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups)\n"
        "  --seen        the shapes strategy auto met and remembered (not probed yet)\n"
        "  --watchdog S  seconds a child may take before it is killed as hung (default 120)\n"
        "  --slow S      a first vendor call over S seconds is 'slow' (default 30)\n"
        "  --force       probe again where the cache already has an answer\n"
        "Outcomes: ok, hang, crash, error, wrong, slow. Exit 0 when every probe ran (whatever\n"
        "its outcome), 1 on a failure to probe at all, 2 on a usage error.\n");
}

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

int cmd_probe(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--child")) return sc_probe_child_main(argc, argv);
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.device = sc_default_device();
    o.progress = 1;
    const char *suite = NULL, *shape = NULL;
    bool seen = false;
    int dir = -1, layout = SC_NCHW;
    sc_dtype dtype = SC_DTYPE_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(a, "--seen"))
            seen = true, takes = false;
        else if (!strcmp(a, "--force"))
            o.force = 1, takes = false;
        else if (!strcmp(a, "--quiet"))
            o.progress = 0, takes = false;
        else if (!strcmp(a, "--nondeterministic"))
            o.deterministic = 0, takes = false;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(), 0;
        else if (!v) {
            fprintf(stderr, "safeconv probe: %s: unknown option or missing value\n", a);
            usage();
            return 2;
        } else if (!strcmp(a, "--suite"))
            suite = v;
        else if (!strcmp(a, "--shape"))
            shape = v;
        else if (!strcmp(a, "--cache"))
            o.cache_path = v;
        else if (!strcmp(a, "--dir")) {
            if (!sc_arg_direction(v, &dir)) return usage(), 2;
        } else if (!strcmp(a, "--layout")) {
            if (!sc_arg_layout(v, &layout) || layout < 0) return usage(), 2;
        } else if (!strcmp(a, "--dtype")) {
            if (!strcmp(v, "f32"))
                dtype = SC_DTYPE_F32;
            else if (!strcmp(v, "f16"))
                dtype = SC_DTYPE_F16;
            else if (!strcmp(v, "bf16"))
                dtype = SC_DTYPE_BF16;
            else {
                fprintf(stderr, "safeconv probe: --dtype: f32, f16 or bf16, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--device")) {
            if (!sc_arg_int(a, v, -1, 1 << 20, &o.device)) return 2;
        } else if (!strcmp(a, "--repeats")) {
            if (!sc_arg_int(a, v, 1, 100, &o.repeats)) return 2;
        } else if (!strcmp(a, "--watchdog")) {
            if (!sc_arg_double(a, v, 1e-3, 1e9, &o.watchdog_s)) return 2;
        } else if (!strcmp(a, "--slow")) {
            if (!sc_arg_double(a, v, 1e-3, 1e9, &o.slow_s)) return 2;
        } else if (!strcmp(a, "--tolerance")) {
            if (!sc_arg_double(a, v, 0, 1e9, &o.tolerance)) return 2;
        } else {
            fprintf(stderr, "safeconv probe: unknown option %s\n", a);
            usage();
            return 2;
        }
        if (takes) i++;
    }
    if (!!suite + !!shape + seen != 1) {
        fprintf(stderr, "safeconv probe: give exactly one of --suite, --shape, --seen\n");
        usage();
        return 2;
    }
    unsigned mask = dir < 0 ? 0x7u : 1u << dir;
    sc_suite_row *rows = NULL;
    int n = 0, rc = 1;
    sc_conv2d_desc *descs = NULL, *in = NULL;
    sc_direction *dirs = NULL;
    sc_probe_result *res = NULL;
    int *skipped = NULL; /* --seen rows that could not be probed */
    if (suite) {
        if ((n = sc_suite_load(suite, &rows)) < 0) return 1;
    } else if (shape) {
        if (!(rows = calloc(1, sizeof *rows))) goto done;
        if (!sc_arg_shape("--shape", shape, &rows[0].desc)) {
            rc = 2;
            goto done;
        }
        snprintf(rows[0].name, sizeof rows[0].name, "shape");
        n = 1;
    } else {
        size_t cnt = 0;
        if (sc_probe_pending(&o, &descs, &dirs, &cnt)) {
            fprintf(stderr, "safeconv probe: %s\n", sc_last_error());
            goto done;
        }
        if (!(rows = calloc(cnt ? cnt : 1, sizeof *rows))) goto done;
        for (size_t i = 0; i < cnt; i++) {
            rows[i].desc = descs[i];
            snprintf(rows[i].name, sizeof rows[i].name, "seen-%zu", i + 1);
        }
        n = (int)cnt;
        if (!n) {
            printf("no remembered shapes to probe\n");
            rc = 0;
            goto done;
        }
    }
    /* --seen probes each row in its own remembered direction; otherwise every row x mask. */
    int ndirs = seen ? 1 : __builtin_popcount(mask);
    in = calloc(n ? (size_t)n : 1, sizeof *in);
    res = calloc(n ? (size_t)n * (size_t)ndirs : 1, sizeof *res);
    skipped = calloc(n ? (size_t)n : 1, sizeof *skipped);
    if (!in || !res || !skipped) goto done;
    for (int i = 0; i < n; i++) {
        in[i] = rows[i].desc;
        if (!seen) in[i].dtype = dtype, in[i].layout = (sc_layout)layout;
        if (shape && sc_conv2d_validate(&in[i])) {
            fprintf(stderr, "safeconv probe: --shape: %s\n", sc_last_error());
            rc = 2;
            goto done;
        }
    }
    forward_signals();
    sc_vendor_info vi;
    sc_vendor_get_info(o.device, &vi);
    if (o.progress)
        fprintf(stderr,
                "probing %d shape(s) x %d direction(s) on %s through %s %s (watchdog %.1f s, slow "
                "%.1f s)\n",
                n, ndirs, o.device < 0 ? "the CPU" : "the GPU", vi.name[0] ? vi.name : "no vendor",
                vi.version, o.watchdog_s, o.slow_s);
    sc_status st = SC_STATUS_OK;
    int nskipped = 0;
    /* A remembered row that cannot be probed (a file from another build, or planted) is
     * reported and passed over: the others are probed. */
    for (int i = 0; seen && i < n; i++)
        if (sc_probe_shape(&o, &in[i], dirs[i], &res[i])) {
            fprintf(stderr, "safeconv probe: %s: not probed: %s\n", rows[i].name, sc_last_error());
            skipped[i] = 1, nskipped++;
        }
    if (!seen && n) st = sc_probe_suite(&o, in, (size_t)n, mask, res);
    if (st) {
        fprintf(stderr, "safeconv probe: %s\n", sc_last_error());
        goto done;
    }
    printf("%-24s %-15s %-9s %11s %12s %-8s %s\n", "name", "direction", "outcome", "vendor ms",
           "safeconv ms", "auto", "detail");
    int counts[8] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < ndirs && !skipped[i]; j++) {
            const sc_probe_result *r = &res[i * ndirs + j];
            counts[r->outcome & 7]++;
            char vms[32] = "-", sms[32] = "-";
            if (r->vendor_ms > 0) snprintf(vms, sizeof vms, "%.3f", r->vendor_ms);
            if (r->safeconv_ms > 0) snprintf(sms, sizeof sms, "%.3f", r->safeconv_ms);
            printf("%-24s %-15s %-9s %11s %12s %-8s %s%s\n", rows[i].name,
                   sc_direction_name(r->dir), sc_probe_outcome_name(r->outcome), vms, sms,
                   r->use_vendor ? vi.name : "safeconv", r->from_cache ? "[cached] " : "",
                   r->detail);
        }
    printf("total %d: ok %d, hang %d, crash %d, error %d, wrong %d, slow %d, no-vendor %d%s\n",
           (n - nskipped) * ndirs, counts[SC_PROBE_OK], counts[SC_PROBE_HANG],
           counts[SC_PROBE_CRASH], counts[SC_PROBE_ERROR], counts[SC_PROBE_WRONG],
           counts[SC_PROBE_SLOW], counts[SC_PROBE_NO_VENDOR], nskipped ? " (some not probed)" : "");
    rc = nskipped ? 1 : 0;
done:
    free(in), free(res), free(skipped), free(rows), free(descs), free(dirs);
    return rc;
}
