/* context.c - context life cycle, options, the workspace pools, statistics. */
#include "core/guard_hook.h"
#include "core/internal.h"
#include "core/plan_cache.h"
#include "gpu/gpu.h"

#include <stdlib.h>
#include <string.h>

void sc_context_options_init(sc_context_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
    opt->device = SC_DEVICE_CPU;
    opt->strategy = SC_STRATEGY_AUTO;
    opt->deterministic = 1;
    opt->size_threshold = 42;
}

sc_status sc_context_create(const sc_context_options *opt, sc_context **out)
{
    sc__clear_error();
    if (!out) return sc__fail(SC_STATUS_BAD_PARAM, "out: NULL");
    *out = NULL;
    sc_context_options o;
    if (opt)
        o = *opt;
    else
        sc_context_options_init(&o);

    if (o.device < SC_DEVICE_CPU)
        return sc__fail(SC_STATUS_BAD_PARAM,
                        "options.device: %d is neither a GPU ordinal nor "
                        "SC_DEVICE_CPU (-1)",
                        o.device);
    if ((unsigned)o.strategy > SC_STRATEGY_CPU)
        return sc__fail(SC_STATUS_BAD_PARAM, "options.strategy: unknown value %d", (int)o.strategy);
    if (o.verbosity < 0 || o.verbosity > 2)
        return sc__fail(SC_STATUS_BAD_PARAM, "options.verbosity: must be 0, 1 or 2, got %d",
                        o.verbosity);
    if (o.num_threads < 0)
        return sc__fail(SC_STATUS_BAD_PARAM, "options.num_threads: must be >= 0, got %d",
                        o.num_threads);
    if (o.size_threshold < 0)
        return sc__fail(SC_STATUS_BAD_PARAM, "options.size_threshold: must be >= 0, got %d",
                        o.size_threshold);
    if ((unsigned)o.algo > SC_ALGO_LAST)
        return sc__fail(SC_STATUS_BAD_PARAM, "options.algo: unknown value %d", (int)o.algo);
    if ((unsigned)o.math > SC_MATH_TF32)
        return sc__fail(SC_STATUS_BAD_PARAM, "options.math: unknown value %d", (int)o.math);
    if (o.device >= 0) {
        int n = sc_gpu_device_count();
        if (o.device >= n)
            return sc__fail(SC_STATUS_NOT_AVAILABLE,
                            "options.device: GPU %d requested, %d present%s", o.device, n,
                            sc_gpu_backend() ? "" : " (this build has no GPU backend)");
    }

    sc_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return sc__fail(SC_STATUS_OUT_OF_MEMORY, "context: allocation failed");
    ctx->opt = o;
    if (o.cache_path) {
        ctx->cache_path = strdup(o.cache_path);
        if (!ctx->cache_path) {
            free(ctx);
            return sc__fail(SC_STATUS_OUT_OF_MEMORY, "context: allocation failed");
        }
    }
    ctx->opt.cache_path = ctx->cache_path;
    ctx->workspace_limit = o.workspace_limit ? o.workspace_limit
                           : o.device >= 0   ? SC_DEFAULT_GPU_WORKSPACE
                                             : SC_DEFAULT_CPU_WORKSPACE;
    *out = ctx;
    return SC_STATUS_OK;
}

void sc_context_destroy(sc_context *ctx)
{
    if (!ctx) return;
    if (ctx->opt.device >= 0) {
        sc_gpu_set_device(ctx->opt.device);
        sc_gpu_sync(ctx->opt.stream);
        sc_gpu_free(ctx->device_pool.ptr);
    }
    sc__guard_release(ctx);
    sc__plan_cache_free(ctx);
    free(ctx->host_pool.ptr);
    free(ctx->cache_path);
    free(ctx);
}

sc_status sc_context_set_stream(sc_context *ctx, void *stream)
{
    sc__clear_error();
    if (!ctx) return sc__fail(SC_STATUS_BAD_PARAM, "ctx: NULL");
    /* The device pool is reused by the next call, which will be ordered on the new stream
     * only: wait for work on the old one that may still use the pool. */
    if (ctx->opt.device >= 0 && ctx->device_pool.ptr && stream != ctx->opt.stream) {
        sc_status st = sc_gpu_set_device(ctx->opt.device);
        if (!st) st = sc_gpu_sync(ctx->opt.stream);
        if (st) return st;
    }
    ctx->opt.stream = stream;
    return SC_STATUS_OK;
}

sc_status sc_context_set_math_mode(sc_context *ctx, sc_math_mode mode)
{
    sc__clear_error();
    if (!ctx) return sc__fail(SC_STATUS_BAD_PARAM, "ctx: NULL");
    if ((unsigned)mode > SC_MATH_TF32)
        return sc__fail(SC_STATUS_BAD_PARAM, "mode: unknown math mode %d", (int)mode);
    ctx->opt.math = mode;
    return SC_STATUS_OK;
}

sc_status sc_context_get_stats(const sc_context *ctx, sc_stats *out)
{
    sc__clear_error();
    if (!ctx) return sc__fail(SC_STATUS_BAD_PARAM, "ctx: NULL");
    if (!out) return sc__fail(SC_STATUS_BAD_PARAM, "out: NULL");
    *out = ctx->stats;
    return SC_STATUS_OK;
}

sc_status sc__workspace(sc_context *ctx, bool on_host, size_t bytes, void *caller_ws,
                        size_t caller_size, void **out)
{
    *out = NULL;
    if (bytes == 0) return SC_STATUS_OK;
    if (bytes > ctx->stats.workspace_peak) ctx->stats.workspace_peak = bytes;
    if (caller_ws) {
        if (caller_size < bytes)
            return sc__fail(SC_STATUS_BAD_PARAM,
                            "workspace_size: %zu bytes given, this call needs %zu", caller_size,
                            bytes);
        *out = caller_ws;
        return SC_STATUS_OK;
    }
    sc_pool *pool = on_host ? &ctx->host_pool : &ctx->device_pool;
    if (pool->size < bytes) {
        void *p = NULL;
        if (on_host) {
            free(pool->ptr);
            pool->ptr = NULL, pool->size = 0;
            /* 64-byte alignment for the BLAS kernels' vector loads. */
            if (posix_memalign(&p, 64, bytes)) p = NULL;
        } else {
            /* Queued work may still read the old buffer: wait before freeing it. */
            sc_gpu_sync(ctx->opt.stream);
            sc_gpu_free(pool->ptr);
            pool->ptr = NULL, pool->size = 0;
            if (sc_gpu_malloc(&p, bytes)) p = NULL;
        }
        if (!p)
            return sc__fail(SC_STATUS_OUT_OF_MEMORY, "workspace: allocating %zu bytes failed",
                            bytes);
        pool->ptr = p, pool->size = bytes;
    }
    *out = pool->ptr;
    return SC_STATUS_OK;
}
