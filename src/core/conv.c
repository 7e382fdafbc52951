/* conv.c - the public convolution entry points: validate, plan (which backend and algorithm),
 * find workspace, run, count. Each layer below is reached only through its own header. */
#include "core/guard_hook.h"
#include "core/internal.h"
#include "core/plan_cache.h"
#include "cpu/cpu.h"
#include "gpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    ROUTE_CPU,
    ROUTE_GPU,
    ROUTE_VENDOR,
    ROUTE_CPU_COPY
} sc_route;

typedef struct sc_plan {
    sc_route route;
    sc_algo algo;
    size_t ws_bytes;
    sc_kplan kernel; /* ROUTE_GPU: the plan the GPU backend runs, exactly */
} sc_plan;

static bool is_cpu_algo(sc_algo a) { return sc_cpu_is_algo(a); }

static sc_status plan_cpu(sc_context *ctx, const sc_problem *pb, sc_direction dir, sc_route route,
                          sc_plan *pl)
{
    pl->route = route;
    return sc_cpu_select(pb, dir, ctx->opt.algo, ctx->workspace_limit, ctx->opt.num_threads,
                         &pl->algo, &pl->ws_bytes);
}

/* Ask the guard whether the vendor library serves this call; *taken when it does (the plan is
 * then complete). */
static sc_status plan_vendor(sc_context *ctx, const sc_problem *pb, sc_direction dir, sc_plan *pl,
                             bool *taken)
{
    *taken = false;
    sc_status st = sc__guard_select(ctx, pb, dir, taken, &pl->algo, &pl->ws_bytes);
    if (st) return st;
    if (*taken) pl->route = ROUTE_VENDOR;
    return SC_STATUS_OK;
}

static sc_status plan_call(sc_context *ctx, const sc_problem *pb, sc_direction dir, int align,
                           sc_plan *pl)
{
    const sc_context_options *o = &ctx->opt;
    memset(pl, 0, sizeof *pl);
    sc_status st;
    if (o->device < 0) {
        if (o->algo != SC_ALGO_NONE && !is_cpu_algo(o->algo) && !sc__is_vendor_algo(o->algo))
            return sc__fail(SC_STATUS_BAD_PARAM,
                            "options.algo: %s needs a GPU context, this one is on the CPU",
                            sc_algo_name(o->algo));
        /* A vendor adapter that works on host memory (the fault-injection vendor of the tests)
         * serves CPU contexts; the guard says whether one is loaded. */
        if (o->strategy != SC_STRATEGY_CPU && o->strategy != SC_STRATEGY_GPU &&
            !is_cpu_algo(o->algo)) {
            bool taken;
            if ((st = plan_vendor(ctx, pb, dir, pl, &taken)) || taken) return st;
        }
        return plan_cpu(ctx, pb, dir, ROUTE_CPU, pl);
    }
    /* A GPU context: every route below (vendor workspace, CPU-copy transfers, kernels) works
     * on the context's GPU, so make it current for this thread first. */
    if ((st = sc_gpu_set_device(o->device))) return st;
    if (o->strategy == SC_STRATEGY_CPU || is_cpu_algo(o->algo))
        return plan_cpu(ctx, pb, dir, ROUTE_CPU_COPY, pl);
    if (o->strategy != SC_STRATEGY_GPU || sc__is_vendor_algo(o->algo)) {
        bool taken;
        if ((st = plan_vendor(ctx, pb, dir, pl, &taken)) || taken) return st;
    }
    pl->route = ROUTE_GPU;
    /* One selection: the plan chosen here (within the context's workspace limit) is the one
     * the call runs, and the one whose workspace the size query reports. */
    st = sc__gpu_plan_cached(ctx, pb, dir, align, &pl->kernel);
    if (st == SC_STATUS_UNSUPPORTED && o->allow_cpu && o->algo == SC_ALGO_NONE)
        return plan_cpu(ctx, pb, dir, ROUTE_CPU_COPY, pl);
    if (st) return st;
    pl->algo = pl->kernel.algo;
    pl->ws_bytes = pl->kernel.ws_bytes;
    if (pl->ws_bytes > ctx->workspace_limit)
        return sc__fail(SC_STATUS_OUT_OF_MEMORY,
                        "options.workspace_limit: %s needs %zu bytes of workspace, limit is %zu",
                        sc_algo_name(pl->algo), pl->ws_bytes, ctx->workspace_limit);
    return SC_STATUS_OK;
}

/* GPU context, CPU compute: copy the inputs to the host, run, copy the outputs back. */
static sc_status run_cpu_copy(sc_context *ctx, sc_call *call)
{
    int64_t n[5];
    sc__operand_elems(call->pb, call->dir, n);
    const void *dev_in[3] = {call->a, call->b, call->c};
    void *dev_out[2] = {call->out, call->out2};
    void *host[5] = {0};
    size_t es = call->pb->elem_size;
    sc_status st = SC_STATUS_OK;
    for (int i = 0; i < 5 && !st; i++) {
        const void *dev = i < 3 ? dev_in[i] : dev_out[i - 3];
        if (!dev || !n[i]) continue;
        if (!(host[i] = malloc((size_t)n[i] * es)))
            st = sc__fail(SC_STATUS_OUT_OF_MEMORY, "cpu fallback: host copy of %lld elements",
                          (long long)n[i]);
        else if (i < 3)
            st = sc_gpu_copy(host[i], dev, (size_t)n[i] * es, 1, call->stream);
    }
    if (!st) {
        sc_call h = *call;
        h.a = host[0], h.b = host[1], h.c = host[2], h.out = host[3], h.out2 = host[4];
        h.stream = NULL;
        st = sc_cpu_run(&h);
    }
    for (int i = 3; i < 5 && !st; i++)
        if (host[i]) st = sc_gpu_copy(dev_out[i - 3], host[i], (size_t)n[i] * es, 0, call->stream);
    for (int i = 0; i < 5; i++) free(host[i]);
    return st;
}

static sc_status check_ptr(const void *p, const char *name, size_t align, bool required)
{
    if (!p) return required ? sc__fail(SC_STATUS_BAD_PARAM, "%s: NULL", name) : SC_STATUS_OK;
    if ((uintptr_t)p % align)
        return sc__fail(SC_STATUS_BAD_PARAM, "%s: pointer %p is not aligned to %zu bytes", name, p,
                        align);
    return SC_STATUS_OK;
}

/* A call that ran: the context's statistics, and its algorithm for the caller (ran, may be
 * NULL). */
static void count_call(sc_context *ctx, sc_direction dir, const sc_plan *pl, sc_algo *ran)
{
    ctx->stats.calls[dir]++;
    ctx->stats.last_algo = pl->algo;
    if (ran) *ran = pl->algo;
    if (pl->route == ROUTE_GPU)
        ctx->stats.gpu_calls++;
    else if (pl->route == ROUTE_VENDOR)
        ctx->stats.vendor_calls++;
    else
        ctx->stats.cpu_calls++;
}

static void say_call(const sc_context *ctx, const sc_problem *pb, sc_direction dir, sc_algo algo)
{
    if (ctx->opt.verbosity < 2) return;
    fprintf(stderr, "safeconv: %s n%lld c%lld %lldx%lld k%lld %lldx%lld g%lld -> %s\n",
            sc__direction_name(dir), (long long)pb->d.n, (long long)pb->d.c, (long long)pb->d.h,
            (long long)pb->d.w, (long long)pb->d.k, (long long)pb->d.r, (long long)pb->d.s,
            (long long)pb->d.groups, sc_algo_name(algo));
}

/* The pointers of one direction's call: ptrs[] are its a, b, c, out, out2, labelled by names[]
 * for messages (NULL name = operand unused; a name starting with '?' = optional), each aligned
 * to its element size, and the workspace (may be NULL) to 16 bytes. */
static sc_status check_args(const sc_problem *pb, const void *const ptrs[5],
                            const char *const names[5], const void *ws)
{
    for (int i = 0; i < 5; i++) {
        if (!names[i]) continue;
        bool optional = names[i][0] == '?';
        sc_status st = check_ptr(ptrs[i], names[i] + optional, pb->elem_size, !optional);
        if (st) return st;
    }
    if (ws && ((uintptr_t)ws % 16))
        return sc__fail(SC_STATUS_BAD_PARAM, "workspace: pointer %p is not 16-byte aligned", ws);
    return SC_STATUS_OK;
}

/* The call a plan makes on these operands; its workspace is set by the caller. */
static sc_call call_of(const sc_context *ctx, const sc_problem *pb, sc_direction dir,
                       const sc_plan *pl, const void *a, const void *b, const void *c, void *out,
                       void *out2)
{
    return (sc_call){.pb = pb,
                     .dir = dir,
                     .algo = pl->algo,
                     .plan = pl->route == ROUTE_GPU ? &pl->kernel : NULL,
                     .a = a,
                     .b = b,
                     .c = c,
                     .out = out,
                     .out2 = out2,
                     .stream = ctx->opt.stream,
                     .num_threads = ctx->opt.num_threads};
}

/* The common path of every entry point (names[]: as check_args). */
static sc_status conv_call(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                           const void *a, const void *b, const void *c, void *out, void *out2,
                           void *ws, size_t ws_size, const char *const names[5], sc_algo *ran)
{
    sc__clear_error();
    if (!ctx) return sc__fail(SC_STATUS_BAD_PARAM, "ctx: NULL");
    sc_problem pb;
    sc_status st = sc__problem_init(d, &pb);
    if (st) return st;
    const void *const ptrs[5] = {a, b, c, out, out2};
    if ((st = check_args(&pb, ptrs, names, ws))) return st;

    /* The tensors' alignment (the bias and its gradient excluded: kernels read them an element
     * at a time): the matrix-unit kernels copy 16-byte chunks and need it; the size query,
     * which has no pointers, assumes 16. */
    int align = 16;
    const void *tensors[3] = {a, b, out};
    for (int i = 0; i < 3; i++)
        while (tensors[i] && align > 1 && (uintptr_t)tensors[i] % (uintptr_t)align) align /= 2;

    sc_plan pl;
    for (int attempt = 0;; attempt++) {
        if ((st = plan_call(ctx, &pb, dir, align, &pl))) return st;
        sc_call call = call_of(ctx, &pb, dir, &pl, a, b, c, out, out2);
        bool host_ws = pl.route == ROUTE_CPU || pl.route == ROUTE_CPU_COPY || ctx->opt.device < 0;
        /* A caller workspace lives in the context's memory space; the CPU-copy route needs
         * host scratch, so it always uses the context's host pool. The rerun below uses the
         * context's pool where the caller's workspace, sized for the vendor's plan, is short. */
        bool use_caller_ws =
            pl.route != ROUTE_CPU_COPY && (attempt == 0 || (ws && ws_size >= pl.ws_bytes));
        if ((st = sc__workspace(ctx, host_ws, pl.ws_bytes, use_caller_ws ? ws : NULL, ws_size,
                                &call.ws)))
            return st;
        call.ws_size = pl.ws_bytes;
        say_call(ctx, &pb, dir, pl.algo);
        bool rerun = false;
        switch (pl.route) {
        case ROUTE_CPU: st = sc_cpu_run(&call); break;
        case ROUTE_CPU_COPY: st = run_cpu_copy(ctx, &call); break;
        case ROUTE_GPU: st = sc_gpu_run(&call); break;
        case ROUTE_VENDOR: st = sc__guard_run(ctx, &call, &rerun); break;
        }
        /* The vendor failed a run it was chosen for, not forced to (auto, selective): the
         * guard took the shape off the vendor, and safeconv computes this call again from the
         * inputs, which the vendor only read (every output is written whole). */
        if (rerun && attempt == 0) {
            if (ctx->opt.verbosity >= 1)
                fprintf(stderr, "safeconv: %s; safeconv runs this shape from now on\n",
                        sc_last_error());
            sc__clear_error();
            continue;
        }
        if (st) return st;
        count_call(ctx, dir, &pl, ran);
        return SC_STATUS_OK;
    }
}

sc_status sc_conv2d_forward(sc_context *ctx, const sc_conv2d_desc *d, const void *x, const void *w,
                            const void *bias, void *y, void *workspace, size_t workspace_size)
{
    static const char *const names[5] = {"x", "w", "?bias", "y", NULL};
    return conv_call(ctx, d, SC_DIR_FORWARD, x, w, bias, y, NULL, workspace, workspace_size, names,
                     NULL);
}

sc_status sc_conv2d_backward_data(sc_context *ctx, const sc_conv2d_desc *d, const void *dy,
                                  const void *w, void *dx, void *workspace, size_t workspace_size)
{
    static const char *const names[5] = {"dy", "w", NULL, "dx", NULL};
    return conv_call(ctx, d, SC_DIR_BACKWARD_DATA, dy, w, NULL, dx, NULL, workspace, workspace_size,
                     names, NULL);
}

sc_status sc_conv2d_backward_weight(sc_context *ctx, const sc_conv2d_desc *d, const void *x,
                                    const void *dy, void *dw, void *dbias, void *workspace,
                                    size_t workspace_size)
{
    static const char *const names[5] = {"x", "dy", NULL, "dw", "?dbias"};
    return conv_call(ctx, d, SC_DIR_BACKWARD_WEIGHT, x, dy, NULL, dw, dbias, workspace,
                     workspace_size, names, NULL);
}

sc_status sc_conv2d_backward_bias(sc_context *ctx, const sc_conv2d_desc *d, const void *dy,
                                  void *dbias)
{
    static const char *const names[5] = {"dy", NULL, NULL, "dbias", NULL};
    return conv_call(ctx, d, SC_DIR_BACKWARD_BIAS, dy, NULL, NULL, dbias, NULL, NULL, 0, names,
                     NULL);
}

/* sc_conv2d_backward on a CPU context with dx and dw both asked for: both directions planned
 * first, then run by the CPU backend together (sc_cpu_run_backward: where both run on oneDNN
 * and take dy in the same layout, dy is reordered once), their workspaces side by side. *done
 * stays false where that does not apply (another route or algorithm, or the two workspaces do
 * not fit the caller's or the limit): the caller then runs the directions one by one. */
static sc_status backward_cpu_together(sc_context *ctx, const sc_problem *pb, const void *x,
                                       const void *w, const void *dy, void *dx, void *dw,
                                       void *dbias, void *ws, size_t ws_size, sc_algo ran[4],
                                       bool *done)
{
    *done = false;
    if (ctx->opt.device >= 0 || !dx || !dw) return SC_STATUS_OK;
    sc_plan p1, p2;
    sc_status st = plan_call(ctx, pb, SC_DIR_BACKWARD_DATA, 16, &p1);
    if (!st) st = plan_call(ctx, pb, SC_DIR_BACKWARD_WEIGHT, 16, &p2);
    if (st) return st;
    if (p1.route != ROUTE_CPU || p2.route != ROUTE_CPU || p1.algo != SC_ALGO_CPU_ONEDNN ||
        p2.algo != SC_ALGO_CPU_ONEDNN)
        return SC_STATUS_OK;
    size_t total = p1.ws_bytes + p2.ws_bytes;
    if (total > ctx->workspace_limit || (ws && ws_size < total)) return SC_STATUS_OK;
    void *buf = NULL;
    if ((st = sc__workspace(ctx, true, total, ws, ws_size, &buf))) return st;
    sc_call c1 = call_of(ctx, pb, SC_DIR_BACKWARD_DATA, &p1, dy, w, NULL, dx, NULL);
    sc_call c2 = call_of(ctx, pb, SC_DIR_BACKWARD_WEIGHT, &p2, x, dy, NULL, dw, dbias);
    c1.ws = buf, c1.ws_size = p1.ws_bytes;
    c2.ws = (char *)buf + p1.ws_bytes, c2.ws_size = p2.ws_bytes;
    say_call(ctx, pb, SC_DIR_BACKWARD_DATA, p1.algo);
    say_call(ctx, pb, SC_DIR_BACKWARD_WEIGHT, p2.algo);
    if ((st = sc_cpu_run_backward(&c1, &c2))) return st;
    count_call(ctx, SC_DIR_BACKWARD_DATA, &p1, &ran[SC_DIR_BACKWARD_DATA]);
    count_call(ctx, SC_DIR_BACKWARD_WEIGHT, &p2, &ran[SC_DIR_BACKWARD_WEIGHT]);
    *done = true;
    return SC_STATUS_OK;
}

sc_status sc_conv2d_backward(sc_context *ctx, const sc_conv2d_desc *d, const void *x, const void *w,
                             const void *dy, void *dx, void *dw, void *dbias, void *workspace,
                             size_t workspace_size, sc_algo *algos)
{
    static const char *const bd_names[5] = {"dy", "w", NULL, "dx", NULL};
    static const char *const bw_names[5] = {"x", "dy", NULL, "dw", "?dbias"};
    static const char *const bb_names[5] = {"dy", NULL, NULL, "dbias", NULL};
    sc__clear_error();
    sc_algo none[4];
    sc_algo *ran = algos ? algos : none;
    for (int i = 0; i < 4; i++) ran[i] = SC_ALGO_NONE;
    if (!dx && !dw && !dbias)
        return sc__fail(SC_STATUS_BAD_PARAM, "dx, dw, dbias: all NULL (nothing to compute)");
    /* Every pointer of every direction that runs first (conv_call checks each again), so that
     * bad input fails before dx is written. */
    if (d && ctx) {
        sc_problem pb;
        sc_status st = sc__problem_init(d, &pb);
        if (st) return st;
        const void *const bd[5] = {dy, w, NULL, dx, NULL}, *const bw[5] = {x, dy, NULL, dw, dbias};
        const void *const bb[5] = {dy, NULL, NULL, dbias, NULL};
        if ((dx && (st = check_args(&pb, bd, bd_names, workspace))) ||
            (dw && (st = check_args(&pb, bw, bw_names, workspace))) ||
            (!dw && dbias && (st = check_args(&pb, bb, bb_names, workspace))))
            return st;
        bool done;
        if ((st = backward_cpu_together(ctx, &pb, x, w, dy, dx, dw, dbias, workspace,
                                        workspace_size, ran, &done)) ||
            done)
            return st;
    }
    if (dx) {
        sc_status st = conv_call(ctx, d, SC_DIR_BACKWARD_DATA, dy, w, NULL, dx, NULL, workspace,
                                 workspace_size, bd_names, &ran[SC_DIR_BACKWARD_DATA]);
        if (st) return st;
    }
    if (dw)
        return conv_call(ctx, d, SC_DIR_BACKWARD_WEIGHT, x, dy, NULL, dw, dbias, workspace,
                         workspace_size, bw_names, &ran[SC_DIR_BACKWARD_WEIGHT]);
    if (dbias)
        return conv_call(ctx, d, SC_DIR_BACKWARD_BIAS, dy, NULL, NULL, dbias, NULL, NULL, 0,
                         bb_names, &ran[SC_DIR_BACKWARD_BIAS]);
    return SC_STATUS_OK;
}

static sc_status plan_query(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir, sc_plan *pl)
{
    sc__clear_error();
    if (!ctx) return sc__fail(SC_STATUS_BAD_PARAM, "ctx: NULL");
    if ((unsigned)dir > SC_DIR_BACKWARD_BIAS)
        return sc__fail(SC_STATUS_BAD_PARAM, "dir: unknown direction %d", (int)dir);
    sc_problem pb;
    sc_status st = sc__problem_init(d, &pb);
    if (st) return st;
    return plan_call(ctx, &pb, dir, 16, pl);
}

sc_status sc_conv2d_workspace_size(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                   size_t *bytes)
{
    if (!bytes) return sc__fail(SC_STATUS_BAD_PARAM, "bytes: NULL");
    sc_plan pl;
    sc_status st = plan_query(ctx, d, dir, &pl);
    if (st) return st;
    /* The CPU-copy route uses the context's host pool, never caller memory. */
    *bytes = pl.route == ROUTE_CPU_COPY ? 0 : pl.ws_bytes;
    return SC_STATUS_OK;
}

sc_status sc_conv2d_select(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                           sc_algo *algo)
{
    if (!algo) return sc__fail(SC_STATUS_BAD_PARAM, "algo: NULL");
    sc_plan pl;
    sc_status st = plan_query(ctx, d, dir, &pl);
    if (st) return st;
    *algo = pl.algo;
    return SC_STATUS_OK;
}
