/* tune.c - sc_conv2d_tune: measure the GPU GEMM's plan variants for one problem and keep the
 * fastest that computes the same result as the heuristic's plan (see safeconv.h). */
#include "core/internal.h"
#include "gpu/gemm_cfg.h"
#include "gpu/gpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SC_TUNE_MAX_PLANS   12
#define SC_TUNE_MAX_REPEATS 101

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Device buffers of one tuning session: the operands in sc_call's roles, and the workspace. */
typedef struct session {
    void *buf[5];
    void *ws;
    float *host_out; /* the output of the plan being checked */
    float *host_ref; /* the heuristic plan's output */
} session;

static void session_free(session *s)
{
    for (int i = 0; i < 5; i++) sc_gpu_free(s->buf[i]);
    sc_gpu_free(s->ws);
    free(s->host_out);
    free(s->host_ref);
}

/* Median seconds of `repeats` synchronized runs of `plan`; negative on failure. */
static double time_plan(sc_call *call, const sc_kplan *plan, int repeats)
{
    double t[SC_TUNE_MAX_REPEATS];
    call->plan = plan;
    call->algo = plan->algo;
    for (int i = 0; i < repeats; i++) {
        double t0 = now_s();
        if (sc_gpu_run(call) || sc_gpu_sync(call->stream)) return -1;
        t[i] = now_s() - t0;
    }
    qsort(t, (size_t)repeats, sizeof t[0], by_value);
    return t[repeats / 2];
}

sc_status sc_conv2d_tune(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir, int repeats,
                         sc_tune_result *res)
{
    sc__clear_error();
    if (!ctx) return sc__fail(SC_STATUS_BAD_PARAM, "ctx: NULL");
    if (!res) return sc__fail(SC_STATUS_BAD_PARAM, "res: NULL");
    memset(res, 0, sizeof *res);
    if ((unsigned)dir > SC_DIR_BACKWARD_BIAS)
        return sc__fail(SC_STATUS_BAD_PARAM, "dir: unknown direction %d", (int)dir);
    if (repeats < 0 || repeats > SC_TUNE_MAX_REPEATS)
        return sc__fail(SC_STATUS_BAD_PARAM, "repeats: must be 0 .. %d, got %d",
                        SC_TUNE_MAX_REPEATS, repeats);
    if (repeats == 0) repeats = 5;
    sc_problem pb;
    sc_status st = sc__problem_init(d, &pb);
    if (st) return st;
    if (ctx->opt.device < 0)
        return sc__fail(SC_STATUS_UNSUPPORTED,
                        "ctx: tuning times GPU kernels; this context is on the CPU");
    if ((st = sc_gpu_set_device(ctx->opt.device))) return st;
    sc_kplan def;
    if ((st = sc_gpu_plan(&pb, dir, SC_ALGO_NONE, ctx->opt.math, ctx->workspace_limit, 16, &def)))
        return st;
    sc_kplan plans[SC_TUNE_MAX_PLANS];
    int n = sc_gpu_tune_candidates(&pb, dir, ctx->opt.math, ctx->workspace_limit, plans,
                                   SC_TUNE_MAX_PLANS);
    if (n <= 0) {
        snprintf(res->plan, sizeof res->plan, "%s (no variants)", sc_algo_name(def.algo));
        return SC_STATUS_OK;
    }

    int64_t elems[5];
    sc__operand_elems(&pb, dir, elems);
    size_t max_ws = 0;
    for (int i = 0; i < n; i++)
        if (plans[i].ws_bytes > max_ws) max_ws = plans[i].ws_bytes;
    session s;
    memset(&s, 0, sizeof s);
    size_t out_bytes = (size_t)elems[3] * sizeof(float);
    float *host_in = NULL;
    for (int i = 0; i < 5 && !st; i++) {
        if (!elems[i] || (i == 4)) continue; /* dbias is not part of the variants */
        st = sc_gpu_malloc(&s.buf[i], (size_t)elems[i] * sizeof(float));
        if (!st && i < 3) { /* random inputs in [-1, 1), a fixed sequence */
            float *h = realloc(host_in, (size_t)elems[i] * sizeof(float));
            if (!h) {
                st = sc__fail(SC_STATUS_OUT_OF_MEMORY, "tune: host buffer");
                break;
            }
            host_in = h;
            uint32_t x = 2463534242u + (uint32_t)i;
            for (int64_t j = 0; j < elems[i]; j++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                h[j] = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
            }
            st = sc_gpu_copy(s.buf[i], h, (size_t)elems[i] * sizeof(float), 0, ctx->opt.stream);
        }
    }
    free(host_in);
    if (!st && max_ws) st = sc_gpu_malloc(&s.ws, max_ws);
    if (!st && (!(s.host_out = malloc(out_bytes)) || !(s.host_ref = malloc(out_bytes))))
        st = sc__fail(SC_STATUS_OUT_OF_MEMORY, "tune: host buffer of %zu bytes", out_bytes);
    sc_call call = {.pb = &pb,
                    .dir = dir,
                    .algo = SC_ALGO_GPU_IMPLICIT_GEMM,
                    .a = s.buf[0],
                    .b = s.buf[1],
                    .c = s.buf[2],
                    .out = s.buf[3],
                    .out2 = NULL,
                    .ws = s.ws,
                    .ws_size = max_ws,
                    .stream = ctx->opt.stream};
    double times[SC_TUNE_MAX_PLANS];
    int best = 0;
    for (int i = 0; i < n && !st; i++) {
        times[i] = -1;
        /* One run to warm up and to check the result against the heuristic plan's. */
        call.plan = &plans[i];
        call.algo = plans[i].algo;
        if ((st = sc_gpu_run(&call)) || (st = sc_gpu_sync(call.stream)) ||
            (st = sc_gpu_copy(i ? s.host_out : s.host_ref, s.buf[3], out_bytes, 1, call.stream)))
            break;
        if (i > 0) {
            double e2 = 0, r2 = 0;
            bool finite = true;
            for (int64_t j = 0; j < elems[3]; j++) {
                double o = s.host_out[j], r = s.host_ref[j];
                finite &= isfinite(o);
                e2 += (o - r) * (o - r), r2 += r * r;
            }
            if (!finite || e2 > 1e-8 * r2) {
                res->rejected++;
                continue;
            }
        }
        times[i] = time_plan(&call, &plans[i], repeats);
        if (times[i] < 0) {
            st = sc__fail(SC_STATUS_DEVICE_ERROR, "tune: a timed run failed: %s", sc_last_error());
            break;
        }
        res->candidates++;
        if (times[i] < times[best]) best = i;
    }
    session_free(&s);
    if (st) return st;
    res->default_ms = times[0] * 1e3;
    if (best != 0 && times[best] < 0.97 * times[0]) {
        res->adopted = 1;
    } else {
        best = 0; /* also undoes an earlier tuning of this problem */
    }
    res->best_ms = times[best] * 1e3;
    sc_gpu_remember_plan(&pb, dir, &plans[best]);
    snprintf(res->plan, sizeof res->plan, "gemm tile %d split %d%s%s", plans[best].cfg,
             plans[best].splits, plans[best].gather == SC_GATHER_CC ? " cc" : "",
             plans[best].serial ? " serial" : "");
    return SC_STATUS_OK;
}
