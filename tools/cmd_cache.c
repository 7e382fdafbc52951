/* cmd_cache.c - `safeconv cache path|show|clear [--cache PATH]`: where the selection cache
 * is, what it holds (rows of other driver/vendor/kernel versions are marked stale: auto
 * ignores them and `safeconv probe` measures again), and emptying it. */
#include "args.h"
#include "check.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
    fprintf(stderr, "usage: safeconv cache path|show|clear [--cache PATH] [--device N]\n");
}

typedef struct {
    sc_cache_key now;
    int rows, stale, by_outcome[8], unknown; /* unknown: codes of another build, or planted */
    bool print;
} show_ctx;

static bool same_env(const sc_cache_key *a, const sc_cache_key *b)
{
    return !strcmp(a->device, b->device) && !strcmp(a->arch, b->arch) &&
           a->multiprocessors == b->multiprocessors && a->driver_version == b->driver_version &&
           a->runtime_version == b->runtime_version && !strcmp(a->vendor, b->vendor) &&
           !strcmp(a->vendor_version, b->vendor_version) && a->kernel_set == b->kernel_set;
}

static int show_row(const sc_cache_entry *e, void *user)
{
    show_ctx *s = user;
    bool stale = !same_env(&e->key, &s->now);
    s->rows++, s->stale += stale;
    if ((unsigned)e->outcome <= SC_PROBE_NO_VENDOR)
        s->by_outcome[e->outcome]++;
    else
        s->unknown++;
    if (!s->print) return 0;
    char shape[160], when[32] = "-", vms[24] = "-", sms[24] = "-";
    sc_desc_format(&e->key.desc, shape, sizeof shape);
    /* Any number can sit in a row (sc_cache_put takes what it is given): only a time between
     * 1970 and the year 10000 is shown as a date. */
    struct tm tmbuf;
    if (e->updated >= 0 && e->updated < 253402300800.0) {
        time_t t = (time_t)e->updated;
        if (localtime_r(&t, &tmbuf)) strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tmbuf);
    }
    if (e->vendor_ms > 0) snprintf(vms, sizeof vms, "%.3f", e->vendor_ms);
    if (e->safeconv_ms > 0) snprintf(sms, sizeof sms, "%.3f", e->safeconv_ms);
    bool vendor = e->outcome == SC_PROBE_OK && e->vendor_ms > 0 && e->vendor_ms < e->safeconv_ms;
    char ven[100];
    snprintf(ven, sizeof ven, "%s %s", e->key.vendor, e->key.vendor_version);
    printf("%-16.16s %-14.14s %-15s %-44s %-9s %9s %11s %-8s %s%s\n", e->key.device, ven,
           sc_direction_name(e->key.dir), shape, sc_probe_outcome_name(e->outcome), vms, sms,
           vendor ? "vendor" : "safeconv", when, stale ? " STALE" : "");
    if (e->detail[0]) printf("%-16s   %s\n", "", e->detail);
    return 0;
}

int cmd_cache(int argc, char **argv)
{
    const char *path = NULL, *sub = NULL;
    int device = sc_default_device();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cache") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            if (!sc_arg_int("--device", argv[++i], -1, 1 << 20, &device)) return 2;
        } else if (!sub && argv[i][0] != '-')
            sub = argv[i];
        else
            return usage(), 2;
    }
    if (!sub) return usage(), 2;
    if (!strcmp(sub, "path")) {
        char buf[4096];
        if (sc_cache_resolve_path(path, buf, sizeof buf)) {
            fprintf(stderr, "safeconv cache: %s\n", sc_last_error());
            return 1;
        }
        printf("%s\n", buf);
        return 0;
    }
    if (strcmp(sub, "show") && strcmp(sub, "clear")) return usage(), 2;
    sc_cache *c;
    if (sc_cache_open(path, &c)) {
        fprintf(stderr, "safeconv cache: %s\n", sc_last_error());
        return 1;
    }
    int rc = 0;
    if (!strcmp(sub, "clear")) {
        int64_t removed = 0;
        if (sc_cache_clear(c, &removed)) {
            fprintf(stderr, "safeconv cache: %s\n", sc_last_error());
            rc = 1;
        } else {
            printf("removed %lld rows from %s\n", (long long)removed, sc_cache_path(c));
        }
    } else {
        show_ctx s;
        memset(&s, 0, sizeof s);
        sc_cache_key_for_device(device, &s.now);
        s.print = true;
        printf("cache: %s%s\n", sc_cache_path(c),
               sc_cache_is_persistent(c) ? "" : " (unusable: in-memory only)");
        printf("%-16s %-14s %-15s %-44s %-9s %9s %11s %-8s %s\n", "device", "vendor", "direction",
               "shape", "outcome", "vendor ms", "safeconv ms", "auto", "updated");
        if (sc_cache_foreach(c, show_row, &s)) {
            fprintf(stderr, "safeconv cache: %s\n", sc_last_error());
            rc = 1;
        }
        printf(
            "%d rows (%d stale: other device, driver, vendor or kernel version): ok %d, hang %d, "
            "crash %d, error %d, wrong %d, slow %d, seen (not probed) %d, unknown %d\n",
            s.rows, s.stale, s.by_outcome[SC_PROBE_OK], s.by_outcome[SC_PROBE_HANG],
            s.by_outcome[SC_PROBE_CRASH], s.by_outcome[SC_PROBE_ERROR],
            s.by_outcome[SC_PROBE_WRONG], s.by_outcome[SC_PROBE_SLOW], s.by_outcome[SC_PROBE_SEEN],
            s.unknown);
    }
    sc_cache_close(c);
    return rc;
}
