/* guard.h - internals shared by the guard's files: cache key helpers, the in-memory selection
 * map that strategy auto reads on the hot path, and the probe child's entry point. */
#ifndef SC_GUARD_H
#define SC_GUARD_H

#include "core/internal.h"
#include "vendorlib/vendor.h"

/* Bumped after every probe result written by this process, so contexts reload their map. */
unsigned sc__cache_generation(void);
void sc__cache_bump_generation(void);

/* Fill k's environment part for `device` and adapter `ad` (may be NULL: vendor "none"). */
sc_status sc__cache_env_key(int device, const sc_vendor_adapter *ad, sc_cache_key *k);

/* Do two keys have the same environment part? */
bool sc__cache_same_env(const sc_cache_key *a, const sc_cache_key *b);

/* What auto does with an entry: vendor only where probed ok AND measured faster. */
static inline bool sc__cache_prefers_vendor(const sc_cache_entry *e)
{
    return e->outcome == SC_PROBE_OK && e->vendor_ms > 0 && e->safeconv_ms > 0 &&
           e->vendor_ms < e->safeconv_ms;
}

/* The one "cache unusable" warning of this process (later calls are silent). */
void sc__cache_warn_once(const char *path, const char *why);

/* The parent/child probe protocol: bumped whenever the request or the lines change, so a
 * `safeconv` executable from another build answers "mismatch" instead of being misread.
 * 2: phase lines "P safeconv" / "P vendor" before the "R" line.
 * 3: phase "P probe" (back in the probe's own code, e.g. the vendor's workspace could not be
 *    allocated): an error after it, or before "P vendor", is not the vendor's. */
#define SC_PROBE_PROTOCOL 3

/* The child side of a probe: parse `req`, run both sides, write one result line to fd. */
int sc__probe_child_run(const char *req, int fd);

#endif
