/* vendor.h - which vendor adapter this process uses, resolved once:
 *   $SAFECONV_VENDOR_LIBRARY=none      no vendor route at all
 *   $SAFECONV_VENDOR_LIBRARY=/path.so  a plugin exporting safeconv_vendor_adapter() (vendor_abi.h)
 *   unset                              cuDNN in a CUDA build, MIOpen in a HIP build, else none */
#ifndef SC_VENDOR_H
#define SC_VENDOR_H

#include "vendorlib/vendor_abi.h"

#include <stdbool.h>

/* The built-in adapters (their libraries are dlopen'ed by load(), never linked). */
const sc_vendor_adapter *sc__vendor_cudnn(void);
const sc_vendor_adapter *sc__vendor_miopen(void);

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
