/* device.c - backends compiled in, GPU count, device descriptions (CPU included). */
#include "core/internal.h"
#include "gpu/gpu.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

unsigned sc_backends_compiled(void) { return SC_BACKEND_CPU | sc_gpu_backend(); }

int sc_device_count(void) { return sc_gpu_device_count(); }

/* The CPU model name from /proc/cpuinfo, or "cpu". */
static void cpu_name(char *out, size_t size)
{
    snprintf(out, size, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        v[strcspn(v, "\n")] = '\0';
        snprintf(out, size, "%s", v);
        break;
    }
    fclose(f);
}

sc_status sc_device_get_info(int device, sc_device_info *info)
{
    sc__clear_error();
    if (!info) return sc__fail(SC_STATUS_BAD_PARAM, "info: NULL");
    memset(info, 0, sizeof *info);
    if (device >= 0) {
        int n = sc_gpu_device_count();
        if (device >= n)
            return sc__fail(SC_STATUS_NOT_AVAILABLE, "device: GPU %d requested, %d present", device,
                            n);
        return sc_gpu_device_info(device, info);
    }
    if (device != SC_DEVICE_CPU)
        return sc__fail(SC_STATUS_BAD_PARAM,
                        "device: %d is neither a GPU ordinal nor "
                        "SC_DEVICE_CPU (-1)",
                        device);
    info->index = SC_DEVICE_CPU;
    info->backend = SC_BACKEND_CPU;
    cpu_name(info->name, sizeof info->name);
#if defined(__x86_64__)
    snprintf(info->arch, sizeof info->arch, "x86_64");
#elif defined(__aarch64__)
    snprintf(info->arch, sizeof info->arch, "aarch64");
#else
    snprintf(info->arch, sizeof info->arch, "unknown");
#endif
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    info->multiprocessors = cores > 0 ? (int)cores : 1;
    info->warp_size = 1;
    info->total_memory = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    return SC_STATUS_OK;
}
