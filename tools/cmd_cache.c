/* cmd_cache.c - `safeconv cache path|show|clear [--cache PATH] [--device N|cpu] [--json]`:
 * where the selection cache is, what it holds (rows of other driver/vendor/kernel versions are
 * marked stale: auto ignores them and `safeconv probe` measures again), and emptying it. */
#include "args.h"
#include "check.h"
#include "cli.h"
#include "commands.h"
#include "describe.h"
#include "json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: safeconv cache path|show|clear [--cache PATH] [--device N|cpu] [--json]\n"
    "The selection cache of strategy auto and `safeconv probe`.\n"
    "  path              print where the cache file is\n"
    "  show              its rows; rows of another device, driver, vendor or kernel version\n"
    "                    are marked STALE (auto ignores them)\n"
    "  clear             delete every row\n"
    "  --cache PATH      the cache file (default: $SAFECONV_CACHE_DIR, else the XDG cache)\n"
    "  --device N|cpu    show: the device whose versions decide what is stale (default: GPU 0\n"
    "                    when present)\n"
    "  --json            one JSON document on stdout (docs/cli.md)\n"
    "  -h, --help        this text\n";

enum {
    O_CACHE = SC_OPT_FIRST,
    O_DEVICE
};

static const struct option opts[] = {{"cache", required_argument, NULL, O_CACHE},
                                     {"device", required_argument, NULL, O_DEVICE},
                                     {"json", no_argument, NULL, SC_OPT_JSON},
                                     {"help", no_argument, NULL, SC_OPT_HELP},
                                     {0}};

typedef struct {
    sc_cache_key now;
    int rows, stale, by_outcome[9]; /* [8]: codes no outcome name knows (another build, planted) */
    sc_json *json;
} show_ctx;

static bool same_env(const sc_cache_key *a, const sc_cache_key *b)
{
    return !strcmp(a->device, b->device) && !strcmp(a->arch, b->arch) &&
           a->multiprocessors == b->multiprocessors && a->driver_version == b->driver_version &&
           a->runtime_version == b->runtime_version && !strcmp(a->vendor, b->vendor) &&
           !strcmp(a->vendor_version, b->vendor_version) && a->kernel_set == b->kernel_set;
}

static void json_row(sc_json *j, const sc_cache_entry *e, bool stale, bool vendor)
{
    const sc_cache_key *k = &e->key;
    sc_json_object(j, NULL);
    sc_json_string(j, "device", k->device);
    sc_json_string(j, "arch", k->arch);
    sc_json_int(j, "multiprocessors", k->multiprocessors);
    sc_json_int(j, "driver_version", k->driver_version);
    sc_json_int(j, "runtime_version", k->runtime_version);
    sc_json_string(j, "vendor", k->vendor);
    sc_json_string(j, "vendor_version", k->vendor_version);
    sc_json_int(j, "kernel_set", k->kernel_set);
    sc_json_string(j, "direction", sc_direction_name(k->dir));
    sc_json_desc(j, "desc", &k->desc);
    sc_json_bool(j, "deterministic", k->deterministic);
    sc_json_string(j, "outcome", sc_probe_outcome_name(e->outcome));
    sc_json_int(j, "vendor_algo", e->vendor_algo);
    if (e->vendor_ms > 0)
        sc_json_number(j, "vendor_ms", e->vendor_ms);
    else
        sc_json_null(j, "vendor_ms");
    if (e->safeconv_ms > 0)
        sc_json_number(j, "safeconv_ms", e->safeconv_ms);
    else
        sc_json_null(j, "safeconv_ms");
    sc_json_uint(j, "workspace", (unsigned long long)e->workspace);
    sc_json_string(j, "auto", vendor ? "vendor" : "safeconv");
    sc_json_number(j, "updated", e->updated);
    sc_json_bool(j, "stale", stale);
    char detail[sizeof e->detail + 1];
    snprintf(detail, sizeof detail, "%.*s", (int)sizeof e->detail, e->detail);
    sc_json_string(j, "detail", detail);
    sc_json_end(j);
}

static int show_row(const sc_cache_entry *e, void *user)
{
    show_ctx *s = user;
    bool stale = !same_env(&e->key, &s->now);
    s->rows++, s->stale += stale;
    s->by_outcome[(unsigned)e->outcome <= SC_PROBE_NO_VENDOR ? (int)e->outcome : 8]++;
    bool vendor = e->outcome == SC_PROBE_OK && e->vendor_ms > 0 && e->vendor_ms < e->safeconv_ms;
    if (s->json) {
        json_row(s->json, e, stale, vendor);
        return 0;
    }
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
    char ven[100];
    snprintf(ven, sizeof ven, "%s %s", e->key.vendor, e->key.vendor_version);
    printf("%-16.16s %-14.14s %-15s %-44s %-9s %9s %11s %-8s %s%s\n", e->key.device, ven,
           sc_direction_name(e->key.dir), shape, sc_probe_outcome_name(e->outcome), vms, sms,
           vendor ? "vendor" : "safeconv", when, stale ? " STALE" : "");
    if (e->detail[0]) printf("%-16s   %.*s\n", "", (int)sizeof e->detail, e->detail);
    return 0;
}

int cmd_cache(int argc, char **argv)
{
    const char *path = NULL;
    int device = sc_default_device();
    bool json = false;
    for (int c; (c = sc_cli_next(argc, argv, opts, usage)) != SC_CLI_DONE;) {
        switch (c) {
        case SC_CLI_HELP: return SC_EXIT_OK;
        case SC_CLI_ERROR: return SC_EXIT_USAGE;
        case SC_OPT_JSON: json = true; break;
        case O_CACHE: path = optarg; break;
        case O_DEVICE:
            if (!sc_arg_device(optarg, &device)) return SC_EXIT_USAGE;
            break;
        default: break;
        }
    }
    if (optind >= argc) return sc_cli_usage_error("expected path, show or clear");
    const char *sub = argv[optind];
    if (strcmp(sub, "path") && strcmp(sub, "show") && strcmp(sub, "clear"))
        return sc_cli_usage_error("unknown cache command '%s' (path, show or clear)", sub);
    if (!sc_cli_no_more_args(argc, argv, 1)) return SC_EXIT_USAGE;
    sc_json j;
    if (!strcmp(sub, "path")) {
        char buf[4096];
        if (sc_cache_resolve_path(path, buf, sizeof buf)) return sc_cli_fail("%s", sc_last_error());
        if (json) {
            sc_json_start(&j, stdout);
            sc_json_string(&j, "path", buf);
            sc_json_finish(&j);
        } else {
            printf("%s\n", buf);
        }
        return SC_EXIT_OK;
    }
    sc_cache *c;
    if (sc_cache_open(path, &c)) return sc_cli_fail("%s", sc_last_error());
    int rc = SC_EXIT_OK;
    if (!strcmp(sub, "clear")) {
        int64_t removed = 0;
        if (sc_cache_clear(c, &removed)) {
            rc = sc_cli_fail("%s", sc_last_error());
        } else if (json) {
            sc_json_start(&j, stdout);
            sc_json_string(&j, "path", sc_cache_path(c));
            sc_json_int(&j, "removed", (long long)removed);
            sc_json_finish(&j);
        } else {
            printf("removed %lld rows from %s\n", (long long)removed, sc_cache_path(c));
        }
        sc_cache_close(c);
        return rc;
    }
    show_ctx s;
    memset(&s, 0, sizeof s);
    sc_cache_key_for_device(device, &s.now);
    if (json) {
        s.json = &j;
        sc_json_start(&j, stdout);
        sc_json_string(&j, "path", sc_cache_path(c));
        sc_json_bool(&j, "persistent", sc_cache_is_persistent(c));
        sc_json_int(&j, "device", device);
        sc_json_array(&j, "rows");
    } else {
        printf("cache: %s%s\n", sc_cache_path(c),
               sc_cache_is_persistent(c) ? "" : " (unusable: in-memory only)");
        printf("%-16s %-14s %-15s %-44s %-9s %9s %11s %-8s %s\n", "device", "vendor", "direction",
               "shape", "outcome", "vendor ms", "safeconv ms", "auto", "updated");
    }
    const char *err = NULL;
    char err_buf[400];
    if (sc_cache_foreach(c, show_row, &s)) {
        snprintf(err_buf, sizeof err_buf, "%s", sc_last_error());
        err = err_buf;
        rc = SC_EXIT_FAIL;
    }
    if (json) {
        sc_json_end(&j); /* rows */
        sc_json_int(&j, "total", s.rows);
        sc_json_int(&j, "stale", s.stale);
        sc_json_outcomes(&j, "outcomes", s.by_outcome);
        sc_json_string(&j, "error", err);
        sc_json_finish(&j);
    } else {
        printf(
            "%d rows (%d stale: other device, driver, vendor or kernel version): ok %d, hang %d, "
            "crash %d, error %d, wrong %d, slow %d, seen (not probed) %d, unknown %d\n",
            s.rows, s.stale, s.by_outcome[SC_PROBE_OK], s.by_outcome[SC_PROBE_HANG],
            s.by_outcome[SC_PROBE_CRASH], s.by_outcome[SC_PROBE_ERROR],
            s.by_outcome[SC_PROBE_WRONG], s.by_outcome[SC_PROBE_SLOW], s.by_outcome[SC_PROBE_SEEN],
            s.by_outcome[8]);
    }
    if (err) sc_cli_note("%s", err);
    sc_cache_close(c);
    return rc;
}
