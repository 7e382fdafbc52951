/* vendor.h - which vendor adapter this process uses, resolved once:
 *   $SAFECONV_VENDOR_LIBRARY=none      no vendor route at all
 *   $SAFECONV_VENDOR_LIBRARY=/path.so  a plugin exporting safeconv_vendor_adapter() (vendor_abi.h)
 *   unset                              cuDNN in a CUDA build, MIOpen in a HIP build, else none */
#ifndef SC_VENDOR_H
#define SC_VENDOR_H

#include "vendorlib/vendor_abi.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* The built-in adapters (their libraries are dlopen'ed by load(), never linked). */
const sc_vendor_adapter *sc__vendor_cudnn(void);
const sc_vendor_adapter *sc__vendor_miopen(void);

/* The vendor library of a built-in adapter, loaded once per process (sc__vendor_lib_load). */
typedef struct sc_vendor_lib {
    pthread_mutex_t mu;
    int state;      /* 0 not tried, 1 loaded, -1 failed (err says why; not tried again) */
    char err[256];  /* "not found: <dlerror of the first name>" or "<name> lacks <symbol>" */
    char name[256]; /* the file name that was opened, as given */
    char ver[32];   /* the version the adapter's callback wrote */
} sc_vendor_lib;
#define SC_VENDOR_LIB_INIT                                                                         \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, 0, "", "", ""                                                   \
    }

/* One function the adapter calls: its name and the pointer it is stored in (a function pointer
 * object, written through void **). Optional ones may be missing (the pointer stays NULL). */
typedef struct sc_vendor_sym {
    const char *name;
    void **slot;
    bool optional;
} sc_vendor_sym;

/* Load `lib` once (thread-safe; later calls give the first call's result): $env_var names the
 * file when set and not empty, and a file that fails to open is reported, not searched past
 * (the user asked for that file); otherwise each of the `nnames` names in turn, through the
 * loader's search path. Then every symbol of `syms`, and `version` (called once, with the
 * library's functions resolved) writes lib->ver. 0 when loaded; else 1 with lib->err copied
 * to err. The library is never closed: adapters keep its functions for the process. */
int sc__vendor_lib_load(sc_vendor_lib *lib, const char *env_var, const char *const *names,
                        size_t nnames, const sc_vendor_sym *syms, size_t nsyms,
                        void (*version)(char *ver, size_t len), char *err, size_t len);

/* The adapter for this process, loaded; NULL with *why filled when there is none.
 * Thread-safe; resolved and loaded once. */
const sc_vendor_adapter *sc__vendor_get(const char **why);

/* Does adapter `ad` serve contexts of `device` (host adapters serve the CPU, device adapters
 * GPUs)? */
bool sc__vendor_serves(const sc_vendor_adapter *ad, int device);

/* Held across the probe's fork without exec, so that the child (which calls sc__vendor_get)
 * never inherits the lock taken by another thread that is resolving the adapter. */
void sc__vendor_fork_lock(void);
void sc__vendor_fork_unlock(int in_child);

#endif
