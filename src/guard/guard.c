/* guard.c - the vendor route behind dispatch (core/guard_hook.h): which calls go to the vendor
 * library, and running them.
 *
 *   auto       the vendor only where the selection cache says "probed ok and faster". Never a
 *              probe here (hot path): a hash lookup in this context's in-memory copy of the
 *              cache. An unknown shape runs on safeconv's kernels and is written once as a
 *              'seen' row for the next `safeconv probe --seen` or Python probe_model.
 *   vendor     always the vendor library (MIOpen: MIOPEN_DEBUG_CONV_IMPLICIT_GEMM=1 is set
 *              before it is loaded, unless already set); none usable is NOT_AVAILABLE.
 *   selective  the vendor library when max(H, W) <= options.size_threshold, safeconv above;
 *              no vendor library means safeconv everywhere.
 * The backward bias gradient never goes to the vendor (nothing to gain, nothing probed). */
#include "guard/guard.h"
#include "core/guard_hook.h"
#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One remembered selection: the problem part of a cache key and what auto does with it. */
typedef struct {
    sc_conv2d_desc d;
    int dir;
    int used;
    int use_vendor;
} map_slot;

/* A vendor plan per problem: the vendor's algorithm and workspace. */
typedef struct {
    sc_conv2d_desc d;
    sc_direction dir;
    int algo_id;
    size_t ws;
    bool failed; /* the vendor could not plan it, or (not forced) failed a run: err says why */
    char err[160];
} plan_slot;

#define PLANS 32

struct sc_guard_state {
    const sc_vendor_adapter *ad; /* serving this context's memory space, or NULL */
    char why[320];               /* why ad is NULL */
    void *handle;
    bool handle_failed;
    char handle_err[256];
    /* strategy auto */
    bool cache_ready;
    sc_cache *cache;
    sc_cache_key env;
    unsigned gen;
    map_slot *map;
    size_t map_cap, map_used;
    plan_slot plans[PLANS];
    int nplans, next_plan;
};

static uint64_t hash_key(const sc_conv2d_desc *d, int dir)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)dir;
    const unsigned char *p = (const unsigned char *)d;
    for (size_t i = 0; i < sizeof *d; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static map_slot *map_find(struct sc_guard_state *g, const sc_conv2d_desc *d, int dir, bool insert)
{
    if (!g->map_cap) return NULL;
    size_t mask = g->map_cap - 1, i = hash_key(d, dir) & mask;
    for (;; i = (i + 1) & mask) {
        map_slot *s = &g->map[i];
        if (!s->used) {
            if (!insert) return NULL;
            s->used = 1, s->d = *d, s->dir = dir;
            g->map_used++;
            return s;
        }
        if (s->dir == dir && !memcmp(&s->d, d, sizeof *d)) return s;
    }
}

static bool map_reserve(struct sc_guard_state *g, size_t n)
{
    if ((g->map_used + n) * 2 < g->map_cap) return true;
    size_t cap = g->map_cap ? g->map_cap : 64;
    while ((g->map_used + n) * 2 >= cap) cap *= 2;
    map_slot *old = g->map;
    size_t old_cap = g->map_cap;
    g->map = calloc(cap, sizeof *g->map);
    if (!g->map) {
        g->map = old;
        return false;
    }
    g->map_cap = cap, g->map_used = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used) map_find(g, &old[i].d, old[i].dir, true)->use_vendor = old[i].use_vendor;
    free(old);
    return true;
}

/* Zero everything but the fields that are part of a key (the desc is a key verbatim). */
static sc_conv2d_desc key_desc(const sc_conv2d_desc *d)
{
    sc_conv2d_desc k;
    memset(&k, 0, sizeof k);
    k = *d;
    return k;
}

typedef struct {
    struct sc_guard_state *g;
    int det;
} load_ctx;

static int load_row(const sc_cache_entry *e, void *user)
{
    load_ctx *lc = user;
    if (!sc__cache_same_env(&e->key, &lc->g->env) || e->key.deterministic != lc->det) return 0;
    if (!map_reserve(lc->g, 1)) return 1;
    sc_conv2d_desc d = key_desc(&e->key.desc);
    map_find(lc->g, &d, (int)e->key.dir, true)->use_vendor = sc__cache_prefers_vendor(e);
    return 0;
}

static void map_reload(sc_context *ctx, struct sc_guard_state *g)
{
    free(g->map);
    g->map = NULL, g->map_cap = g->map_used = 0;
    g->gen = sc__cache_generation();
    map_reserve(g, 1);
    load_ctx lc = {g, ctx->opt.deterministic ? 1 : 0};
    sc_cache_foreach(g->cache, load_row, &lc);
    sc__clear_error();
}

static struct sc_guard_state *state(sc_context *ctx)
{
    if (ctx->guard) return ctx->guard;
    struct sc_guard_state *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    ctx->guard = g;
    if (ctx->opt.device < 0 && !getenv("SAFECONV_VENDOR_LIBRARY")) {
        /* Only a plugin can work on host memory: do not load cuDNN/MIOpen for nothing. */
        snprintf(g->why, sizeof g->why,
                 "no vendor library works on host memory (cuDNN and "
                 "MIOpen need a GPU; SAFECONV_VENDOR_LIBRARY names a host plugin)");
        return g;
    }
    if (ctx->opt.strategy == SC_STRATEGY_VENDOR) setenv("MIOPEN_DEBUG_CONV_IMPLICIT_GEMM", "1", 0);
    const char *why = "";
    const sc_vendor_adapter *ad = sc__vendor_get(&why);
    if (ad && !sc__vendor_serves(ad, ctx->opt.device))
        snprintf(g->why, sizeof g->why, "%s works on %s memory, this context is on %s", ad->name,
                 ad->memory == SC_VENDOR_MEM_HOST ? "host" : "GPU",
                 ctx->opt.device < 0 ? "the CPU" : "a GPU");
    else if (!ad)
        snprintf(g->why, sizeof g->why, "%s", why);
    else
        g->ad = ad;
    return g;
}

static void problem_op(const sc_context *ctx, const sc_problem *pb, sc_direction dir,
                       sc_vendor_op *op)
{
    memset(op, 0, sizeof *op);
    op->d = pb->d, op->p = pb->p, op->q = pb->q, op->dir = dir;
    op->deterministic = ctx->opt.deterministic;
    op->ws_limit = ctx->workspace_limit;
}

static sc_status ensure_handle(sc_context *ctx, struct sc_guard_state *g)
{
    if (g->handle) return SC_STATUS_OK;
    if (!g->handle_failed) {
        if (g->ad->create(&g->handle, ctx->opt.device, g->handle_err, sizeof g->handle_err))
            g->handle_failed = true, g->handle = NULL;
    }
    if (g->handle_failed)
        return sc__fail(SC_STATUS_VENDOR_FAILED, "vendor %s: %s", g->ad->name, g->handle_err);
    return SC_STATUS_OK;
}

static plan_slot *find_plan(struct sc_guard_state *g, const sc_conv2d_desc *d, sc_direction dir)
{
    for (int i = 0; i < g->nplans; i++)
        if (g->plans[i].dir == dir && !memcmp(&g->plans[i].d, d, sizeof *d)) return &g->plans[i];
    return NULL;
}

static sc_status plan(sc_context *ctx, struct sc_guard_state *g, const sc_problem *pb,
                      sc_direction dir, plan_slot **out)
{
    sc_conv2d_desc d = key_desc(&pb->d);
    plan_slot *s = find_plan(g, &d, dir);
    if (s && s->failed)
        return sc__fail(SC_STATUS_VENDOR_FAILED, "vendor %s: %s", g->ad->name, s->err);
    if ((*out = s)) return SC_STATUS_OK;
    sc_status st = ensure_handle(ctx, g);
    if (st) return st;
    sc_vendor_op op;
    problem_op(ctx, pb, dir, &op);
    int algo_id = 0;
    size_t ws = 0;
    char err[256] = "";
    int rc = g->ad->plan(g->handle, &op, &algo_id, &ws, err, sizeof err);
    /* Failures are remembered too: a shape the vendor cannot plan costs one attempt. */
    s = &g->plans[g->nplans < PLANS ? g->nplans++ : g->next_plan++ % PLANS];
    s->d = d, s->dir = dir, s->algo_id = algo_id, s->ws = ws, s->failed = rc != 0;
    snprintf(s->err, sizeof s->err, "%s", rc ? err : "");
    if (rc) return sc__fail(SC_STATUS_VENDOR_FAILED, "vendor %s: %s", g->ad->name, err);
    *out = s;
    return SC_STATUS_OK;
}

/* The vendor is forced (strategy vendor, or a vendor algorithm asked for), not chosen. */
static bool vendor_forced(const sc_context *ctx)
{
    return ctx->opt.strategy == SC_STRATEGY_VENDOR || sc__is_vendor_algo(ctx->opt.algo);
}

/* strategy auto: does the cache say vendor? Remembers unknown shapes. */
static bool auto_prefers_vendor(sc_context *ctx, struct sc_guard_state *g, const sc_problem *pb,
                                sc_direction dir)
{
    if (!g->cache_ready) {
        g->cache_ready = true;
        if (sc_cache_open(ctx->opt.cache_path, &g->cache) ||
            sc__cache_env_key(ctx->opt.device, g->ad, &g->env)) {
            /* Without the environment part of the key, rows would be written under an empty
             * device and vendor: no cache at all is better. */
            sc_cache_close(g->cache);
            g->cache = NULL;
            sc__clear_error();
            return false;
        }
        map_reload(ctx, g);
    }
    if (!g->cache) return false;
    if (g->gen != sc__cache_generation()) map_reload(ctx, g);
    sc_conv2d_desc d = key_desc(&pb->d);
    map_slot *s = map_find(g, &d, (int)dir, false);
    if (s) return s->use_vendor;
    /* First meeting with this shape: remember it in memory and, once, in the file. */
    if (map_reserve(g, 1)) map_find(g, &d, (int)dir, true)->use_vendor = 0;
    sc_cache_entry e;
    memset(&e, 0, sizeof e);
    e.key = g->env;
    e.key.dir = dir, e.key.desc = d, e.key.deterministic = ctx->opt.deterministic ? 1 : 0;
    e.outcome = SC_PROBE_SEEN;
    sc_cache_put(g->cache, &e);
    sc__clear_error();
    if (ctx->opt.verbosity >= 1)
        fprintf(stderr, "safeconv: auto: shape not probed yet, safeconv kernels run it "
                        "(remembered for `safeconv probe --seen`)\n");
    return false;
}

sc_status sc__guard_select(sc_context *ctx, const sc_problem *pb, sc_direction dir,
                           bool *use_vendor, sc_algo *algo, size_t *ws_bytes)
{
    *use_vendor = false;
    struct sc_guard_state *g = state(ctx);
    if (!g) return sc__fail(SC_STATUS_OUT_OF_MEMORY, "guard: allocation failed");
    sc_algo forced = ctx->opt.algo;
    bool forced_vendor = sc__is_vendor_algo(forced), force = vendor_forced(ctx);
    if (!g->ad) {
        if (force)
            return sc__fail(SC_STATUS_NOT_AVAILABLE, "strategy vendor: no vendor library: %s",
                            g->why);
        return SC_STATUS_OK;
    }
    if (forced_vendor && forced != g->ad->algo)
        return sc__fail(SC_STATUS_NOT_AVAILABLE,
                        "options.algo: %s requested, the vendor "
                        "library loaded is %s",
                        sc_algo_name(forced), g->ad->name);
    if (dir == SC_DIR_BACKWARD_BIAS) return SC_STATUS_OK;
    bool want;
    if (force)
        want = true;
    else if (ctx->opt.strategy == SC_STRATEGY_SELECTIVE)
        want = (pb->d.h > pb->d.w ? pb->d.h : pb->d.w) <= ctx->opt.size_threshold;
    else
        want = auto_prefers_vendor(ctx, g, pb, dir);
    if (!want) return SC_STATUS_OK;
    plan_slot *p;
    sc_status st = plan(ctx, g, pb, dir, &p);
    if (st) {
        if (force) return st;
        /* auto/selective: the vendor cannot plan it, safeconv runs it. */
        if (ctx->opt.verbosity >= 1)
            fprintf(stderr, "safeconv: %s; using safeconv\n", sc_last_error());
        sc__clear_error();
        return SC_STATUS_OK;
    }
    *use_vendor = true;
    *algo = g->ad->algo;
    *ws_bytes = p->ws;
    return SC_STATUS_OK;
}

sc_status sc__guard_run(sc_context *ctx, const sc_call *call, bool *rerun)
{
    *rerun = false;
    struct sc_guard_state *g = ctx->guard;
    if (!g || !g->ad) return sc__fail(SC_STATUS_INTERNAL, "guard: run without a vendor plan");
    plan_slot *p;
    sc_status st = plan(ctx, g, call->pb, call->dir, &p);
    if (st) return st;
    /* The vendor handle belongs to the context's GPU: make it current for this thread. */
    if (ctx->opt.device >= 0 && (st = sc_gpu_set_device(ctx->opt.device))) return st;
    sc_vendor_op op;
    problem_op(ctx, call->pb, call->dir, &op);
    op.a = call->a, op.b = call->b, op.c = call->c, op.out = call->out, op.out2 = call->out2;
    op.ws = call->ws, op.ws_size = call->ws_size, op.stream = call->stream;
    char err[256] = "";
    if (g->ad->run(g->handle, &op, p->algo_id, err, sizeof err)) {
        /* Where the vendor was not forced, the shape is the vendor's no more in this context:
         * the next plan of it (the caller's rerun of this call among them) takes safeconv.
         * Forced, every call asks the vendor again. */
        if (!vendor_forced(ctx)) {
            p->failed = true;
            snprintf(p->err, sizeof p->err, "%s (failed a run)", err);
            *rerun = true;
        }
        return sc__fail(SC_STATUS_VENDOR_FAILED, "vendor %s: %s", g->ad->name, err);
    }
    return SC_STATUS_OK;
}

void sc__guard_release(sc_context *ctx)
{
    struct sc_guard_state *g = ctx->guard;
    if (!g) return;
    if (g->handle) g->ad->destroy(g->handle);
    sc_cache_close(g->cache);
    free(g->map);
    free(g);
    ctx->guard = NULL;
}
