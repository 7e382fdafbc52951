/* vendor.c - resolve and load the process's vendor adapter once (see vendor.h). */
#include "vendorlib/vendor.h"

#include "common/problem.h"
#include "gpu/gpu.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resolved for one value of $SAFECONV_VENDOR_LIBRARY; a later different value (a test, or
 * Python setting os.environ after import) resolves again. Adapters are never unloaded, so a
 * context created earlier keeps a valid pointer. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool resolved;
static char resolved_for[1024]; /* the variable's value then, "\x01" when unset */
static const sc_vendor_adapter *chosen;
static char why_not[320];

static const sc_vendor_adapter *load_plugin(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(why_not, sizeof why_not, "not found: %s", dlerror());
        return NULL;
    }
    sc_vendor_entry_fn entry;
    *(void **)&entry = dlsym(dl, SC_VENDOR_ENTRY);
    if (!entry) {
        snprintf(why_not, sizeof why_not, "%s: no symbol %s (not a safeconv vendor plugin)", path,
                 SC_VENDOR_ENTRY);
        return NULL; /* the handle stays open: harmless, and dlclose of odd libraries is not */
    }
    const sc_vendor_adapter *ad = entry(SC_VENDOR_ABI);
    if (!ad || ad->abi != SC_VENDOR_ABI) {
        snprintf(why_not, sizeof why_not, "%s: does not speak vendor ABI %d", path, SC_VENDOR_ABI);
        return NULL;
    }
    return ad;
}

static void resolve(const char *env)
{
    const sc_vendor_adapter *ad = NULL;
    chosen = NULL;
    why_not[0] = 0;
    if (env && (!*env || !strcmp(env, "none"))) {
        snprintf(why_not, sizeof why_not, "disabled (SAFECONV_VENDOR_LIBRARY=none)");
        return;
    }
    if (env) {
        ad = load_plugin(env);
    } else {
        unsigned be = sc_gpu_backend();
        if (be == SC_BACKEND_CUDA)
            ad = sc__vendor_cudnn();
        else if (be == SC_BACKEND_HIP)
            ad = sc__vendor_miopen();
        else
            snprintf(why_not, sizeof why_not,
                     "no GPU backend compiled in (set SAFECONV_VENDOR_LIBRARY for a plugin)");
    }
    if (!ad) return;
    char err[256] = "";
    if (ad->load(err, sizeof err)) {
        snprintf(why_not, sizeof why_not, "%s", err[0] ? err : "not found");
        return;
    }
    chosen = ad;
}

const sc_vendor_adapter *sc__vendor_get(const char **why)
{
    const char *env = getenv("SAFECONV_VENDOR_LIBRARY");
    pthread_mutex_lock(&mu);
    if (!resolved || strcmp(resolved_for, env ? env : "\x01")) {
        resolve(env);
        snprintf(resolved_for, sizeof resolved_for, "%s", env ? env : "\x01");
        resolved = true;
    }
    const sc_vendor_adapter *ad = chosen;
    if (why) *why = ad ? "" : why_not;
    pthread_mutex_unlock(&mu);
    return ad;
}

void sc__vendor_fork_lock(void) { pthread_mutex_lock(&mu); }

void sc__vendor_fork_unlock(int in_child)
{
    if (!in_child) {
        pthread_mutex_unlock(&mu);
        return;
    }
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    mu = fresh;
}

int sc__vendor_lib_load(sc_vendor_lib *lib, const char *env_var, const char *const *names,
                        size_t nnames, const sc_vendor_sym *syms, size_t nsyms,
                        void (*version)(char *ver, size_t len), char *err, size_t len)
{
    pthread_mutex_lock(&lib->mu);
    if (!lib->state) {
        lib->state = -1;
        const char *env = env_var ? getenv(env_var) : NULL;
        bool named = env && *env;
        size_t n = named ? 1 : nnames;
        void *dl = NULL;
        char first[200] = "";
        for (size_t i = 0; i < n && !dl; i++) {
            const char *file = named ? env : names[i];
            dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
            if (dl)
                snprintf(lib->name, sizeof lib->name, "%s", file);
            else if (!first[0])
                snprintf(first, sizeof first, "%s", dlerror());
        }
        const char *missing = NULL;
        for (size_t i = 0; dl && i < nsyms && !missing; i++) {
            *syms[i].slot = dlsym(dl, syms[i].name);
            if (!*syms[i].slot && !syms[i].optional) missing = syms[i].name;
        }
        if (!dl)
            snprintf(lib->err, sizeof lib->err, "not found: %s",
                     first[0] ? first : "no file named");
        else if (missing)
            snprintf(lib->err, sizeof lib->err, "%.200s lacks %.40s", lib->name, missing);
        else {
            if (version) version(lib->ver, sizeof lib->ver);
            lib->state = 1;
        }
    }
    int st = lib->state;
    if (st != 1) snprintf(err, len, "%s", lib->err);
    pthread_mutex_unlock(&lib->mu);
    return st == 1 ? 0 : 1;
}

bool sc__vendor_serves(const sc_vendor_adapter *ad, int device)
{
    if (!ad) return false;
    return device < 0 ? ad->memory == SC_VENDOR_MEM_HOST : ad->memory == SC_VENDOR_MEM_DEVICE;
}

sc_status sc_vendor_get_info(int device, sc_vendor_info *info)
{
    sc__clear_error();
    if (!info) return sc__fail(SC_STATUS_BAD_PARAM, "info: NULL");
    memset(info, 0, sizeof *info);
    const char *why;
    const sc_vendor_adapter *ad = sc__vendor_get(&why);
    if (!ad) {
        snprintf(info->message, sizeof info->message, "%s", why);
        return SC_STATUS_OK;
    }
    snprintf(info->name, sizeof info->name, "%s", ad->name);
    snprintf(info->version, sizeof info->version, "%s", ad->version());
    snprintf(info->library, sizeof info->library, "%s", ad->library());
    info->host_memory = ad->memory == SC_VENDOR_MEM_HOST;
    info->available = sc__vendor_serves(ad, device);
    if (!info->available)
        snprintf(info->message, sizeof info->message, "%s works on %s memory; device %d is %s",
                 ad->name, info->host_memory ? "host" : "GPU", device,
                 device < 0 ? "the CPU" : "a GPU");
    return SC_STATUS_OK;
}
