/* cmd_version.c - `safeconv version` and `safeconv info`. */
#include "commands.h"
#include "safeconv.h"

#include <stdio.h>
#include <string.h>

int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: safeconv version\n");
        return 2;
    }
    unsigned b = sc_backends_compiled();
    printf("safeconv %s (backends:%s%s%s)\n", sc_version_string(), b & SC_BACKEND_CPU ? " cpu" : "",
           b & SC_BACKEND_CUDA ? " cuda" : "", b & SC_BACKEND_HIP ? " hip" : "");
    return 0;
}

static void print_device(const sc_device_info *i)
{
    const char *kind = i->backend == SC_BACKEND_CUDA  ? "cuda"
                       : i->backend == SC_BACKEND_HIP ? "hip"
                                                      : "cpu";
    if (i->index < 0)
        printf("  cpu    %s, %s, %d cores, %.1f GiB\n", i->name, i->arch, i->multiprocessors,
               (double)i->total_memory / (1 << 30));
    else
        printf(
            "  gpu %d  %s (%s %s), %d multiprocessors, warp %d, %.1f GiB, driver %d, runtime %d\n",
            i->index, i->name, kind, i->arch, i->multiprocessors, i->warp_size,
            (double)i->total_memory / (1 << 30), i->driver_version, i->runtime_version);
}

int cmd_info(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: safeconv info\n");
        return 2;
    }
    cmd_version(1, argv);
    sc_device_info info;
    int n = sc_device_count();
    printf("devices:\n");
    for (int d = 0; d < n; d++) {
        if (sc_device_get_info(d, &info) == SC_STATUS_OK)
            print_device(&info);
        else
            printf("  gpu %d  unavailable: %s\n", d, sc_last_error());
    }
    if (sc_device_get_info(SC_DEVICE_CPU, &info) == SC_STATUS_OK) print_device(&info);
    printf("best backend: %s\n", n > 0 ? "gpu 0" : "cpu (no GPU found)");
    return 0;
}
