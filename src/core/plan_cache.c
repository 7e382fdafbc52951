/* plan_cache.c - the GPU kernel plans a context has made, so a shape seen before is not planned
 * again (a training step asks for the same shapes every step, and the workspace query and the
 * call of one shape ask twice). Keyed by everything planning reads: the descriptor, the
 * direction, the tensors' alignment, the requested algorithm, the math mode and the workspace
 * limit (the device is the context's own), plus the generation of remembered (tuned) plans, so
 * tuning takes effect at once. A context is used by one thread at a time, so the cache needs no lock. */
#include "core/plan_cache.h"
#include "gpu/gpu.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS 256 /* direct-mapped; a collision only costs a replan */

typedef struct entry {
    bool used;
    sc_conv2d_desc d;
    int align;
    sc_direction dir;
    sc_algo want;
    sc_math_mode math;
    size_t limit;
    unsigned gen;
    sc_kplan plan;
} entry;

struct sc_plan_cache {
    entry e[SLOTS];
};

/* The descriptor has no padding bytes (14 int64 and two enums), so memcmp compares fields. */
_Static_assert(sizeof(sc_conv2d_desc) == 14 * sizeof(int64_t) + 2 * sizeof(int),
               "sc_conv2d_desc has padding: compare it field by field");

static unsigned slot_of(const sc_conv2d_desc *d, sc_direction dir)
{
    const unsigned char *p = (const unsigned char *)d;
    uint64_t h = 1469598103934665603ull ^ (uint64_t)dir;
    for (size_t i = 0; i < sizeof *d; i++) h = (h ^ p[i]) * 1099511628211ull;
    return (unsigned)(h % SLOTS);
}

sc_status sc__gpu_plan_cached(sc_context *ctx, const sc_problem *pb, sc_direction dir, int align,
                              sc_kplan *out)
{
    sc_algo want = ctx->opt.algo;
    sc_math_mode math = ctx->opt.math;
    size_t limit = ctx->workspace_limit;
    unsigned gen = sc_gpu_plan_generation();
    if (!ctx->plans) ctx->plans = calloc(1, sizeof *ctx->plans); /* none: plan every call */
    entry *e = ctx->plans ? &ctx->plans->e[slot_of(&pb->d, dir)] : NULL;
    if (e && e->used && e->dir == dir && e->align == align && e->want == want && e->math == math &&
        e->limit == limit && e->gen == gen && !memcmp(&e->d, &pb->d, sizeof pb->d)) {
        *out = e->plan;
        return SC_STATUS_OK;
    }
    sc_status st = sc_gpu_plan(pb, dir, want, math, limit, align, out);
    if (st || !e) return st;
    e->used = true, e->d = pb->d, e->dir = dir, e->align = align, e->want = want, e->math = math;
    e->limit = limit, e->gen = gen, e->plan = *out;
    return SC_STATUS_OK;
}

void sc__plan_cache_free(sc_context *ctx)
{
    free(ctx->plans);
    ctx->plans = NULL;
}
