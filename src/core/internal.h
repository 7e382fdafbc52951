/* internal.h - the core's own innards: the context and its workspace pools. The vocabulary the
 * backends share with the core (problem, plan, call, errors) is src/common/. Never installed. */
#ifndef SC_INTERNAL_H
#define SC_INTERNAL_H

#include "common/defaults.h"
#include "common/error.h"
#include "common/problem.h"
#include "safeconv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Per-context pool: one buffer per memory space, grown on demand up to the limit, reused. */
typedef struct sc_pool {
    void *ptr;
    size_t size;
} sc_pool;

struct sc_context {
    sc_context_options opt; /* as given, with defaults filled in */
    char *cache_path;       /* owned copy of opt.cache_path (may be NULL) */
    size_t workspace_limit; /* resolved default */
    sc_pool host_pool;
    sc_pool device_pool;
    sc_stats stats;
    struct sc_guard_state *guard; /* selection cache, vendor adapter; NULL until first needed */
    struct sc_plan_cache *plans;  /* GPU kernel plans of this context (plan_cache.c) */
};

/* A workspace of at least `bytes` from the caller's (if given) or the context's pool in the
 * context's memory space (host for `on_host`). */
sc_status sc__workspace(sc_context *ctx, bool on_host, size_t bytes, void *caller_ws,
                        size_t caller_size, void **out);

/* One of the vendor route's algorithms (cuDNN, MIOpen, a plugin). */
static inline bool sc__is_vendor_algo(sc_algo a)
{
    return a == SC_ALGO_VENDOR_CUDNN || a == SC_ALGO_VENDOR_MIOPEN || a == SC_ALGO_VENDOR_PLUGIN;
}

/* "forward", "backward_data", "backward_weight", "backward_bias" (the names of the tools and
 * the Python layer), for messages. */
const char *sc__direction_name(sc_direction dir);

#endif /* SC_INTERNAL_H */
