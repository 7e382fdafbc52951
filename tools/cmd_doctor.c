/* cmd_doctor.c - `safeconv doctor`: what this machine has and what to do about it. Devices,
 * backends compiled and usable, the vendor library, the selection cache, the AMD environment
 * (HSA_OVERRIDE_GFX_VERSION on RDNA1 flagged, MIOpen variables listed), a one-line verdict. */
#include "args.h"
#include "commands.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int rows, current, by_outcome[9]; /* [8]: codes nobody knows (another build, planted) */
    sc_cache_key now;
} summary;

static int count_row(const sc_cache_entry *e, void *user)
{
    summary *s = user;
    s->rows++;
    const sc_cache_key *a = &e->key, *b = &s->now;
    if (!strcmp(a->device, b->device) && !strcmp(a->arch, b->arch) &&
        a->driver_version == b->driver_version && a->runtime_version == b->runtime_version &&
        !strcmp(a->vendor, b->vendor) && !strcmp(a->vendor_version, b->vendor_version) &&
        a->kernel_set == b->kernel_set) {
        s->current++;
        s->by_outcome[(unsigned)e->outcome <= SC_PROBE_NO_VENDOR ? e->outcome : 8]++;
    }
    return 0;
}

static const char *lib_present(const char *name)
{
    void *h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
    if (!h) return NULL;
    dlclose(h);
    return name;
}

static bool is_rdna1(const char *arch)
{
    return !strncmp(arch, "gfx1010", 7) || !strncmp(arch, "gfx1011", 7) ||
           !strncmp(arch, "gfx1012", 7);
}

/* The real chip, whatever HSA_OVERRIDE_GFX_VERSION makes the runtime report: the amdkfd
 * topology lists gfx_target_version per node (100100 = gfx1010, 100101 = gfx1011,
 * 100102 = gfx1012). true if an RDNA1 chip is present; *found gets the first one. */
static bool kfd_rdna1(int *found)
{
    *found = 0;
    for (int node = 0; node < 64; node++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/class/kfd/kfd/topology/nodes/%d/properties", node);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char line[256];
        while (fgets(line, sizeof line, f)) {
            int v;
            if (sscanf(line, "gfx_target_version %d", &v) == 1 && v >= 100100 && v <= 100102)
                *found = v;
        }
        fclose(f);
        if (*found) return true;
    }
    return false;
}

/* Marketing names of RDNA1 cards, for runtimes that report the overridden arch. */
static bool name_rdna1(const char *name)
{
    static const char *const cards[] = {"RX 5300", "RX 5500",   "RX 5600",   "RX 5700",  "Navi 10",
                                        "Navi 14", "Pro W5500", "Pro W5700", "Pro 5600M"};
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++)
        if (strstr(name, cards[i])) return true;
    return false;
}

int cmd_doctor(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        fprintf(stderr, "usage: safeconv doctor\n");
        return 2;
    }
    (void)argv;
    printf("safeconv %s (kernel set %d)\n\n", sc_version_string(), SC_KERNEL_SET_VERSION);

    /* Devices. */
    unsigned be = sc_backends_compiled();
    int ngpu = sc_device_count();
    bool rdna1 = false, amd = false;
    printf("devices:\n");
    sc_device_info info;
    if (!sc_device_get_info(SC_DEVICE_CPU, &info))
        printf("  cpu   %s, %s, %d threads, %.1f GiB\n", info.name, info.arch, info.multiprocessors,
               info.total_memory / 1073741824.0);
    for (int d = 0; d < ngpu; d++) {
        if (sc_device_get_info(d, &info)) {
            printf("  gpu %d: %s\n", d, sc_last_error());
            continue;
        }
        printf("  gpu %d %s, %s, %d %s, %.1f GiB, driver %d, runtime %d\n", d, info.name, info.arch,
               info.multiprocessors, info.backend == SC_BACKEND_HIP ? "CUs" : "SMs",
               info.total_memory / 1073741824.0, info.driver_version, info.runtime_version);
        if (info.backend == SC_BACKEND_HIP) amd = true;
        if (is_rdna1(info.arch) || name_rdna1(info.name)) rdna1 = true;
    }
    int kfd_gfx = 0;
    if (kfd_rdna1(&kfd_gfx)) {
        rdna1 = true;
        printf("  amdkfd: an RDNA1 chip is present (gfx_target_version %d = gfx%d)\n", kfd_gfx,
               1010 + kfd_gfx % 10);
    }
    if (!ngpu) printf("  no GPU usable\n");

    /* Backends. */
    printf("\nbackends compiled: cpu%s%s; usable: cpu%s\n", be & SC_BACKEND_CUDA ? ", cuda" : "",
           be & SC_BACKEND_HIP ? ", hip" : "",
           ngpu ? (be & SC_BACKEND_HIP ? ", hip" : ", cuda") : "");

    /* Vendor library. */
    int dev = ngpu ? 0 : SC_DEVICE_CPU;
    sc_vendor_info vi;
    sc_vendor_get_info(dev, &vi);
    printf("\nvendor library:\n");
    if (vi.name[0])
        printf("  in use: %s %s (%s)%s%s\n", vi.name, vi.version, vi.library,
               vi.available ? "" : "; not usable here: ", vi.available ? "" : vi.message);
    else
        printf("  in use: none (%s)\n", vi.message);
    const char *cudnn = lib_present("libcudnn.so.9");
    if (!cudnn) cudnn = lib_present("libcudnn.so.8");
    const char *miopen = lib_present("libMIOpen.so.1");
    printf("  on this system: cuDNN %s, MIOpen %s\n", cudnn ? cudnn : "not found",
           miopen ? miopen : "not found");
    const char *plugin = getenv("SAFECONV_VENDOR_LIBRARY");
    if (plugin) printf("  SAFECONV_VENDOR_LIBRARY=%s\n", plugin);

    /* Cache. */
    printf("\nselection cache:\n");
    sc_cache *c = NULL;
    summary s;
    memset(&s, 0, sizeof s);
    sc_cache_key_for_device(dev, &s.now);
    if (!sc_cache_open(NULL, &c)) {
        sc_cache_foreach(c, count_row, &s);
        printf("  %s%s\n", sc_cache_path(c),
               sc_cache_is_persistent(c) ? "" : " (UNUSABLE: in-memory only this run)");
        printf(
            "  %d rows; %d for this device, driver and vendor version: ok %d, hang %d, crash %d, "
            "error %d, wrong %d, slow %d, not probed yet %d\n",
            s.rows, s.current, s.by_outcome[SC_PROBE_OK], s.by_outcome[SC_PROBE_HANG],
            s.by_outcome[SC_PROBE_CRASH], s.by_outcome[SC_PROBE_ERROR],
            s.by_outcome[SC_PROBE_WRONG], s.by_outcome[SC_PROBE_SLOW], s.by_outcome[SC_PROBE_SEEN]);
        sc_cache_close(c);
    } else {
        printf("  cannot open: %s\n", sc_last_error());
    }

    /* AMD environment. */
    printf("\nenvironment:\n");
    static const char *const vars[] = {"HSA_OVERRIDE_GFX_VERSION",
                                       "MIOPEN_FIND_MODE",
                                       "MIOPEN_USER_DB_PATH",
                                       "MIOPEN_CUSTOM_CACHE_DIR",
                                       "MIOPEN_DEBUG_CONV_IMPLICIT_GEMM",
                                       "MIOPEN_DEBUG_CONV_GEMM",
                                       "MIOPEN_DEBUG_CONV_DIRECT_OCL_WRW2",
                                       "PYTORCH_MIOPEN_SUGGEST_NHWC",
                                       "SAFECONV_CACHE_DIR",
                                       "SAFECONV_TOOL",
                                       "SAFECONV_CUDNN_LIBRARY",
                                       "SAFECONV_MIOPEN_LIBRARY",
                                       "XDG_CACHE_HOME"};
    int shown = 0;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v) printf("  %s=%s\n", vars[i], v), shown++;
    }
    if (!shown) printf("  none of the MIOpen/ROCm variables is set\n");
    const char *hsa = getenv("HSA_OVERRIDE_GFX_VERSION");
    bool hsa_bad = hsa && rdna1;
    if (hsa_bad)
        printf(
            "  WARNING: HSA_OVERRIDE_GFX_VERSION=%s on an RDNA1 card (gfx1010/gfx1012): it makes\n"
            "  the card run code built for another chip (RDNA2); the instruction sets differ and\n"
            "  with ROCm 5.3 and later this gives segfaults and memory access faults. Unset it\n"
            "  and use a native gfx1010 build (safeconv's kernels are built natively).\n",
            hsa);
    else if (hsa && !amd)
        printf(
            "  note: HSA_OVERRIDE_GFX_VERSION is set but no AMD GPU is visible to this build; on\n"
            "  an RDNA1 card (gfx1010/gfx1012) it causes crashes with ROCm 5.3+: unset it "
            "there.\n");
    if (amd && !getenv("MIOPEN_FIND_MODE"))
        printf(
            "  hint: MIOPEN_FIND_MODE=2 (FAST) cuts MIOpen's first runs from minutes to seconds\n");

    /* Verdict. */
    printf("\nverdict: ");
    if (hsa_bad)
        printf("unset HSA_OVERRIDE_GFX_VERSION, then strategy gpu (safeconv's native gfx1010 "
               "kernels)\n");
    else if (!ngpu)
        printf("no GPU usable: strategy cpu (the CPU backend)%s\n",
               be & (SC_BACKEND_CUDA | SC_BACKEND_HIP) ? "" : "; this build has no GPU backend");
    else if (!vi.available)
        printf(
            "strategy gpu (no vendor library usable: auto runs safeconv's kernels everywhere)\n");
    else if (!s.current)
        printf("strategy auto; run `safeconv probe --suite FILE` (or --seen) so auto may use %s "
               "where it is safe and faster\n",
               vi.name);
    else
        printf("strategy auto (%d shapes probed: %s where ok and faster, safeconv elsewhere)\n",
               s.current, vi.name);
    return 0;
}
