/* cmd_doctor.c - `safeconv doctor`: what this machine has and what to do about it. Devices,
 * backends compiled and usable, the vendor library, the selection cache, the AMD environment
 * (HSA_OVERRIDE_GFX_VERSION on RDNA1 flagged, MIOpen variables listed), where MIOpen is present
 * what safeconv's PyTorch layer does with batch norm, a one-line verdict. */
#include "args.h"
#include "cli.h"
#include "commands.h"
#include "describe.h"
#include "json.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int rows, current, by_outcome[9]; /* [8]: codes no outcome name knows */
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
        s->by_outcome[(unsigned)e->outcome <= SC_PROBE_NO_VENDOR ? (int)e->outcome : 8]++;
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

static const char usage[] =
    "usage: safeconv doctor [--json]\n"
    "What this machine has for safeconv and what to do about it: devices, backends compiled and\n"
    "usable, the vendor library, the selection cache, the AMD environment, and a verdict.\n"
    "  --json      one JSON document on stdout (docs/cli.md)\n"
    "  -h, --help  this text\n";

static const struct option opts[] = {
    {"json", no_argument, NULL, SC_OPT_JSON}, {"help", no_argument, NULL, SC_OPT_HELP}, {0}};

static const char *const env_vars[] = {"HSA_OVERRIDE_GFX_VERSION",
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
                                       "SAFECONV_VENDOR_LIBRARY",
                                       "SAFECONV_VERBOSITY",
                                       "XDG_CACHE_HOME"};
enum {
    NENV = sizeof env_vars / sizeof env_vars[0]
};

/* What doctor found, printed as text or JSON. */
typedef struct findings {
    unsigned compiled;
    int ngpu, kfd_gfx, dev;
    bool rdna1, amd, hsa_bad;
    sc_vendor_info vi;
    const char *cudnn, *miopen;
    bool cache_ok, cache_persistent;
    char cache_path[4096], cache_error[400];
    summary s;
    const char *hsa;
    char warning[600], hint[200], torch_hint[400], verdict[400];
} findings;

static void gather(findings *f)
{
    memset(f, 0, sizeof *f);
    f->compiled = sc_backends_compiled();
    f->ngpu = sc_device_count();
    sc_device_info info;
    for (int d = 0; d < f->ngpu; d++) {
        if (sc_device_get_info(d, &info)) continue;
        if (info.backend == SC_BACKEND_HIP) f->amd = true;
        if (is_rdna1(info.arch) || name_rdna1(info.name)) f->rdna1 = true;
    }
    if (kfd_rdna1(&f->kfd_gfx)) f->rdna1 = true;
    f->dev = f->ngpu ? 0 : SC_DEVICE_CPU;
    sc_vendor_get_info(f->dev, &f->vi);
    f->cudnn = lib_present("libcudnn.so.9");
    if (!f->cudnn) f->cudnn = lib_present("libcudnn.so.8");
    f->miopen = lib_present("libMIOpen.so.1");
    sc_cache *c = NULL;
    sc_cache_key_for_device(f->dev, &f->s.now);
    if (!sc_cache_open(NULL, &c)) {
        f->cache_ok = true;
        sc_cache_foreach(c, count_row, &f->s);
        snprintf(f->cache_path, sizeof f->cache_path, "%s", sc_cache_path(c));
        f->cache_persistent = sc_cache_is_persistent(c);
        sc_cache_close(c);
    } else {
        snprintf(f->cache_error, sizeof f->cache_error, "%s", sc_last_error());
    }
    f->hsa = getenv("HSA_OVERRIDE_GFX_VERSION");
    f->hsa_bad = f->hsa && f->rdna1;
    if (f->hsa_bad)
        snprintf(f->warning, sizeof f->warning,
                 "HSA_OVERRIDE_GFX_VERSION=%s on an RDNA1 card (gfx1010/gfx1012): it makes the "
                 "card run code built for another chip (RDNA2); the instruction sets differ and "
                 "with ROCm 5.3 and later this gives segfaults and memory access faults. Unset it "
                 "and use a native gfx1010 build (safeconv's kernels are built natively).",
                 f->hsa);
    else if (f->hsa && !f->amd)
        snprintf(f->warning, sizeof f->warning,
                 "HSA_OVERRIDE_GFX_VERSION is set but no AMD GPU is visible to this build; on an "
                 "RDNA1 card (gfx1010/gfx1012) it causes crashes with ROCm 5.3+: unset it there.");
    if (f->amd && !getenv("MIOPEN_FIND_MODE"))
        snprintf(f->hint, sizeof f->hint,
                 "MIOPEN_FIND_MODE=2 (FAST) cuts MIOpen's first runs from minutes to seconds");
    /* PyTorch on ROCm sends batch norm to MIOpen too; the Python layer keeps it off while
     * enable() is active (docs/pytorch.md, "Batch norm and the other vendor operators"). Said
     * where MIOpen is in the picture: an AMD GPU, libMIOpen found, or one named. */
    if (f->amd || f->miopen || getenv("SAFECONV_MIOPEN_LIBRARY"))
        snprintf(f->torch_hint, sizeof f->torch_hint,
                 "PyTorch on ROCm: while safeconv.enable() is active (strategy other than "
                 "vendor), batch norm, RNNs and PyTorch's own convolutions run on PyTorch's "
                 "kernels, not MIOpen (torch.backends.cudnn.enabled=False; MIOpen's batch-norm "
                 "backward hangs or gives wrong gradients on some RDNA cards); the option "
                 "bypass_other_ops=False keeps MIOpen for them");
    if (f->hsa_bad)
        snprintf(f->verdict, sizeof f->verdict,
                 "unset HSA_OVERRIDE_GFX_VERSION, then strategy gpu (safeconv's native gfx1010 "
                 "kernels)");
    else if (!f->ngpu)
        snprintf(f->verdict, sizeof f->verdict, "no GPU usable: strategy cpu (the CPU backend)%s",
                 f->compiled & (SC_BACKEND_CUDA | SC_BACKEND_HIP)
                     ? ""
                     : "; this build has no GPU backend");
    else if (!f->vi.available)
        snprintf(f->verdict, sizeof f->verdict,
                 "strategy gpu (no vendor library usable: auto runs safeconv's kernels "
                 "everywhere)");
    else if (!f->s.current)
        snprintf(f->verdict, sizeof f->verdict,
                 "strategy auto; run `safeconv probe --suite FILE` (or --seen) so auto may use %s "
                 "where it is safe and faster",
                 f->vi.name);
    else
        snprintf(f->verdict, sizeof f->verdict,
                 "strategy auto (%d shapes probed: %s where ok and faster, safeconv elsewhere)",
                 f->s.current, f->vi.name);
}

static unsigned usable(const findings *f)
{
    return SC_BACKEND_CPU |
           (f->ngpu ? (f->compiled & SC_BACKEND_HIP ? SC_BACKEND_HIP : SC_BACKEND_CUDA) : 0);
}

static void print_json(const findings *f)
{
    sc_json j;
    sc_json_start(&j, stdout);
    sc_json_string(&j, "version", sc_version_string());
    sc_json_int(&j, "kernel_set", SC_KERNEL_SET_VERSION);
    sc_json_devices(&j, "devices");
    if (f->kfd_gfx)
        sc_json_int(&j, "amdkfd_rdna1_gfx_target_version", f->kfd_gfx);
    else
        sc_json_null(&j, "amdkfd_rdna1_gfx_target_version");
    sc_json_object(&j, "backends");
    sc_json_backends(&j, "compiled", f->compiled);
    sc_json_backends(&j, "usable", usable(f));
    sc_json_end(&j);
    sc_json_object(&j, "vendor");
    sc_json_string(&j, "name", f->vi.name[0] ? f->vi.name : NULL);
    sc_json_string(&j, "version", f->vi.version[0] ? f->vi.version : NULL);
    sc_json_string(&j, "library", f->vi.library[0] ? f->vi.library : NULL);
    sc_json_bool(&j, "available", f->vi.available);
    sc_json_string(&j, "message", f->vi.message[0] ? f->vi.message : NULL);
    sc_json_string(&j, "cudnn_found", f->cudnn);
    sc_json_string(&j, "miopen_found", f->miopen);
    sc_json_end(&j);
    sc_json_object(&j, "cache");
    if (f->cache_ok) {
        sc_json_string(&j, "path", f->cache_path);
        sc_json_bool(&j, "persistent", f->cache_persistent);
        sc_json_int(&j, "rows", f->s.rows);
        sc_json_int(&j, "current", f->s.current);
        sc_json_outcomes(&j, "outcomes", f->s.by_outcome);
        sc_json_null(&j, "error");
    } else {
        sc_json_null(&j, "path");
        sc_json_bool(&j, "persistent", false);
        sc_json_int(&j, "rows", 0);
        sc_json_int(&j, "current", 0);
        sc_json_null(&j, "outcomes");
        sc_json_string(&j, "error", f->cache_error);
    }
    sc_json_end(&j);
    sc_json_object(&j, "environment");
    for (int i = 0; i < NENV; i++) {
        const char *v = getenv(env_vars[i]);
        if (v) sc_json_string(&j, env_vars[i], v);
    }
    sc_json_end(&j);
    sc_json_array(&j, "warnings");
    if (f->warning[0]) sc_json_string(&j, NULL, f->warning);
    sc_json_end(&j);
    sc_json_array(&j, "hints");
    if (f->hint[0]) sc_json_string(&j, NULL, f->hint);
    if (f->torch_hint[0]) sc_json_string(&j, NULL, f->torch_hint);
    sc_json_end(&j);
    sc_json_string(&j, "verdict", f->verdict);
    sc_json_finish(&j);
}

/* "text" folded at about 88 columns, each line indented by two spaces. */
static void print_folded(const char *label, const char *text)
{
    printf("  %s", label);
    int col = 2 + (int)strlen(label);
    const char *p = text;
    while (*p) {
        const char *sp = strchr(p, ' ');
        int w = sp ? (int)(sp - p) : (int)strlen(p);
        if (col + w > 92) {
            printf("\n  ");
            col = 2;
        }
        printf("%.*s%s", w, p, sp ? " " : "");
        col += w + 1;
        p += w + (sp ? 1 : 0);
    }
    printf("\n");
}

static void print_text(const findings *f)
{
    printf("safeconv %s (kernel set %d)\n\n", sc_version_string(), SC_KERNEL_SET_VERSION);
    printf("devices:\n");
    sc_device_info info;
    if (!sc_device_get_info(SC_DEVICE_CPU, &info))
        printf("  cpu   %s, %s, %d threads, %.1f GiB\n", info.name, info.arch, info.multiprocessors,
               info.total_memory / 1073741824.0);
    for (int d = 0; d < f->ngpu; d++) {
        if (sc_device_get_info(d, &info)) {
            printf("  gpu %d: %s\n", d, sc_last_error());
            continue;
        }
        printf("  gpu %d %s, %s, %d %s, %.1f GiB, driver %d, runtime %d\n", d, info.name, info.arch,
               info.multiprocessors, info.backend == SC_BACKEND_HIP ? "CUs" : "SMs",
               info.total_memory / 1073741824.0, info.driver_version, info.runtime_version);
    }
    if (f->kfd_gfx)
        printf("  amdkfd: an RDNA1 chip is present (gfx_target_version %d = gfx%d)\n", f->kfd_gfx,
               1010 + f->kfd_gfx % 10);
    if (!f->ngpu) printf("  no GPU usable\n");

    unsigned u = usable(f);
    printf("\nbackends compiled: cpu%s%s; usable: cpu%s%s\n",
           f->compiled & SC_BACKEND_CUDA ? ", cuda" : "",
           f->compiled & SC_BACKEND_HIP ? ", hip" : "", u & SC_BACKEND_CUDA ? ", cuda" : "",
           u & SC_BACKEND_HIP ? ", hip" : "");

    printf("\nvendor library:\n");
    if (f->vi.name[0])
        printf("  in use: %s %s (%s)%s%s\n", f->vi.name, f->vi.version, f->vi.library,
               f->vi.available ? "" : "; not usable here: ", f->vi.available ? "" : f->vi.message);
    else
        printf("  in use: none (%s)\n", f->vi.message);
    printf("  on this system: cuDNN %s, MIOpen %s\n", f->cudnn ? f->cudnn : "not found",
           f->miopen ? f->miopen : "not found");
    const char *plugin = getenv("SAFECONV_VENDOR_LIBRARY");
    if (plugin) printf("  SAFECONV_VENDOR_LIBRARY=%s\n", plugin);

    printf("\nselection cache:\n");
    if (f->cache_ok) {
        const summary *s = &f->s;
        printf("  %s%s\n", f->cache_path,
               f->cache_persistent ? "" : " (UNUSABLE: in-memory only this run)");
        printf("  %d rows; %d for this device, driver and vendor version: ok %d, hang %d, crash "
               "%d, error %d, wrong %d, slow %d, not probed yet %d, unknown %d\n",
               s->rows, s->current, s->by_outcome[SC_PROBE_OK], s->by_outcome[SC_PROBE_HANG],
               s->by_outcome[SC_PROBE_CRASH], s->by_outcome[SC_PROBE_ERROR],
               s->by_outcome[SC_PROBE_WRONG], s->by_outcome[SC_PROBE_SLOW],
               s->by_outcome[SC_PROBE_SEEN], s->by_outcome[8]);
    } else {
        printf("  cannot open: %s\n", f->cache_error);
    }

    printf("\nenvironment:\n");
    int shown = 0;
    for (int i = 0; i < NENV; i++) {
        const char *v = getenv(env_vars[i]);
        if (v) printf("  %s=%s\n", env_vars[i], v), shown++;
    }
    if (!shown) printf("  none of the MIOpen/ROCm variables is set\n");
    if (f->warning[0]) print_folded(f->hsa_bad ? "WARNING: " : "note: ", f->warning);
    if (f->hint[0]) print_folded("hint: ", f->hint);
    if (f->torch_hint[0]) print_folded("hint: ", f->torch_hint);

    printf("\nverdict: %s\n", f->verdict);
}

int cmd_doctor(int argc, char **argv)
{
    bool json = false;
    for (int c; (c = sc_cli_next(argc, argv, opts, usage)) != SC_CLI_DONE;) {
        if (c == SC_CLI_HELP) return SC_EXIT_OK;
        if (c == SC_CLI_ERROR) return SC_EXIT_USAGE;
        if (c == SC_OPT_JSON) json = true;
    }
    if (!sc_cli_no_more_args(argc, argv, 0)) return SC_EXIT_USAGE;
    findings f;
    gather(&f);
    if (json)
        print_json(&f);
    else
        print_text(&f);
    return SC_EXIT_OK;
}
