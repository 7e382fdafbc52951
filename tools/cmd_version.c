/* cmd_version.c - `safeconv version` and `safeconv info`. */
#include "cli.h"
#include "commands.h"
#include "describe.h"
#include "json.h"
#include "safeconv.h"

#include <stdio.h>
#include <string.h>

static const char usage_version[] =
    "usage: safeconv version [--json]\n"
    "The library's version and the backends compiled in (cpu, cuda, hip).\n"
    "  --json      one JSON document: version, version_number, kernel_set, backends\n"
    "  -h, --help  this text\n";

static const char usage_info[] =
    "usage: safeconv info [--json]\n"
    "The devices safeconv can use (GPUs, then the CPU) and the one the commands use by default.\n"
    "  --json      one JSON document: version, backends, devices, best_device (-1: the CPU)\n"
    "  -h, --help  this text\n";

static const struct option opts[] = {
    {"json", no_argument, NULL, SC_OPT_JSON}, {"help", no_argument, NULL, SC_OPT_HELP}, {0}};

/* Options of version and info (only --json); SC_EXIT_OK to go on, else the exit code. */
static int parse(int argc, char **argv, const char *usage, bool *json, bool *done)
{
    *done = false;
    for (int c; (c = sc_cli_next(argc, argv, opts, usage)) != SC_CLI_DONE;) {
        if (c == SC_CLI_HELP) return *done = true, SC_EXIT_OK;
        if (c == SC_CLI_ERROR) return *done = true, SC_EXIT_USAGE;
        if (c == SC_OPT_JSON) *json = true;
    }
    if (!sc_cli_no_more_args(argc, argv, 0)) return *done = true, SC_EXIT_USAGE;
    return SC_EXIT_OK;
}

static void print_backends(unsigned b)
{
    printf("safeconv %s (backends:%s%s%s)\n", sc_version_string(), b & SC_BACKEND_CPU ? " cpu" : "",
           b & SC_BACKEND_CUDA ? " cuda" : "", b & SC_BACKEND_HIP ? " hip" : "");
}

int cmd_version(int argc, char **argv)
{
    bool json = false, done;
    int rc = parse(argc, argv, usage_version, &json, &done);
    if (done) return rc;
    unsigned b = sc_backends_compiled();
    if (json) {
        sc_json j;
        sc_json_start(&j, stdout);
        sc_json_string(&j, "version", sc_version_string());
        sc_json_int(&j, "version_number", sc_version());
        sc_json_int(&j, "kernel_set", SC_KERNEL_SET_VERSION);
        sc_json_backends(&j, "backends", b);
        sc_json_finish(&j);
        return SC_EXIT_OK;
    }
    print_backends(b);
    return SC_EXIT_OK;
}

static void print_device(const sc_device_info *i)
{
    if (i->index < 0)
        printf("  cpu    %s, %s, %d cores, %.1f GiB\n", i->name, i->arch, i->multiprocessors,
               (double)i->total_memory / (1 << 30));
    else
        printf(
            "  gpu %d  %s (%s %s), %d multiprocessors, warp %d, %.1f GiB, driver %d, runtime %d\n",
            i->index, i->name, sc_backend_name(i->backend), i->arch, i->multiprocessors,
            i->warp_size, (double)i->total_memory / (1 << 30), i->driver_version,
            i->runtime_version);
}

int cmd_info(int argc, char **argv)
{
    bool json = false, done;
    int rc = parse(argc, argv, usage_info, &json, &done);
    if (done) return rc;
    int n = sc_device_count();
    if (json) {
        sc_json j;
        sc_json_start(&j, stdout);
        sc_json_string(&j, "version", sc_version_string());
        sc_json_backends(&j, "backends", sc_backends_compiled());
        sc_json_devices(&j, "devices");
        sc_json_int(&j, "best_device", n > 0 ? 0 : SC_DEVICE_CPU);
        sc_json_finish(&j);
        return SC_EXIT_OK;
    }
    print_backends(sc_backends_compiled());
    sc_device_info info;
    printf("devices:\n");
    for (int d = 0; d < n; d++) {
        if (sc_device_get_info(d, &info) == SC_STATUS_OK)
            print_device(&info);
        else
            printf("  gpu %d  unavailable: %s\n", d, sc_last_error());
    }
    if (sc_device_get_info(SC_DEVICE_CPU, &info) == SC_STATUS_OK) print_device(&info);
    printf("best backend: %s\n", n > 0 ? "gpu 0" : "cpu (no GPU found)");
    return SC_EXIT_OK;
}
