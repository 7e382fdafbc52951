/* plan_cache.h - the GPU kernel plans of a context (plan_cache.c). */
#ifndef SC_CORE_PLAN_CACHE_H
#define SC_CORE_PLAN_CACHE_H

#include "core/internal.h"

/* The plan of (pb, dir) on ctx's GPU (current), for tensors aligned to `align` bytes, with the
 * context's algorithm, math mode and workspace limit: from the cache, or planned (sc_gpu_plan)
 * and remembered. */
sc_status sc__gpu_plan_cached(sc_context *ctx, const sc_problem *pb, sc_direction dir, int align,
                              sc_kplan *out);

/* Free ctx->plans (sc_context_destroy). */
void sc__plan_cache_free(sc_context *ctx);

#endif /* SC_CORE_PLAN_CACHE_H */
