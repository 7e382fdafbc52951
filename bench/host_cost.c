/* host_cost.c - the library's host time per call on a GPU, without Python: a tiny NHWC layer
 * (N x C x S x S, C 3x3 filters, padding 1; default 2x16x8x8), each direction called `count`
 * times back to back (the GPU runs them asynchronously; one synchronize at the end), the
 * backward pass in one call (sc_conv2d_backward: dx and dw), and the workspace query alone (a
 * planned shape: the plan cache answers). Prints microseconds of host time per call. A
 * report, not a test: the bindings' per-call cost (bench/NOTES.md) is this plus their own.
 * dtype: f32 (exact), tf32 (f32 in SC_MATH_TF32), bf16 or f16.
 *
 *   cc -O2 -Iinclude bench/host_cost.c -o build-gpu/host-cost -Lbuild-gpu -lsafeconv
 *   LD_LIBRARY_PATH=build-gpu build-gpu/host-cost [count [dtype [C [S [N]]]]] */
#include "safeconv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) != SC_STATUS_OK) {                                                                 \
            fprintf(stderr, "%s: %s\n", #x, sc_last_error());                                      \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 20000;
    if (count < 1) count = 1;
    const char *dtn = argc > 2 ? argv[2] : "f32";
    int64_t c = argc > 3 ? atoi(argv[3]) : 16, sz = argc > 4 ? atoi(argv[4]) : 8,
            nb = argc > 5 ? atoi(argv[5]) : 2;
    if (c < 1 || sz < 1 || nb < 1) {
        fprintf(stderr, "host-cost: channels, size and batch must be positive\n");
        return 2;
    }
    sc_context_options o;
    sc_context_options_init(&o);
    o.device = 0;
    o.strategy = SC_STRATEGY_GPU;
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = nb, d.c = c, d.h = sz, d.w = sz, d.k = c, d.r = 3, d.s = 3, d.pad_h = 1, d.pad_w = 1;
    d.layout = SC_NHWC;
    if (!strcmp(dtn, "tf32"))
        o.math = SC_MATH_TF32;
    else if (!strcmp(dtn, "bf16"))
        d.dtype = SC_DTYPE_BF16;
    else if (!strcmp(dtn, "f16"))
        d.dtype = SC_DTYPE_F16;
    else if (strcmp(dtn, "f32")) {
        fprintf(stderr, "host-cost: dtype is f32, tf32, bf16 or f16, not %s\n", dtn);
        return 2;
    }
    sc_context *ctx;
    CHECK(sc_context_create(&o, &ctx));
    size_t es = d.dtype == SC_DTYPE_F32 ? 4 : 2;
    size_t act = (size_t)(nb * c * sz * sz) * es, filt = (size_t)(c * c * 9) * es;
    void *x, *w, *y, *dx, *dw, *ws;
    size_t wsn = 0, n;
    for (int dir = 0; dir < 3; dir++) {
        CHECK(sc_conv2d_workspace_size(ctx, &d, (sc_direction)dir, &n));
        if (n > wsn) wsn = n;
    }
    CHECK(sc_memory_alloc(0, act, &x));
    CHECK(sc_memory_alloc(0, filt, &w));
    CHECK(sc_memory_alloc(0, act, &y));
    CHECK(sc_memory_alloc(0, act, &dx));
    CHECK(sc_memory_alloc(0, filt, &dw));
    CHECK(sc_memory_alloc(0, wsn ? wsn : 1, &ws));
    sc_algo algos[4];
    printf("host-cost: %s, %lldx%lldx%lldx%lld NHWC, %lld 3x3 filters, workspace %zu bytes\n", dtn,
           (long long)nb, (long long)c, (long long)sz, (long long)sz, (long long)c, wsn);
    const char *names[] = {"forward", "backward_data", "backward_weight", "backward (one call)",
                           "workspace query"};
    for (int rep = 0; rep < 2; rep++) {
        for (int what = 0; what < 5; what++) {
            CHECK(sc_context_synchronize(ctx));
            double t0 = now_us();
            for (int i = 0; i < count; i++) {
                sc_status st;
                if (what == 0)
                    st = sc_conv2d_forward(ctx, &d, x, w, NULL, y, ws, wsn);
                else if (what == 1)
                    st = sc_conv2d_backward_data(ctx, &d, y, w, dx, ws, wsn);
                else if (what == 2)
                    st = sc_conv2d_backward_weight(ctx, &d, x, y, dw, NULL, ws, wsn);
                else if (what == 3)
                    st = sc_conv2d_backward(ctx, &d, x, w, y, dx, dw, NULL, ws, wsn, algos);
                else
                    st = sc_conv2d_workspace_size(ctx, &d, SC_DIR_FORWARD, &n);
                CHECK(st);
            }
            double t1 = now_us();
            CHECK(sc_context_synchronize(ctx));
            double t2 = now_us();
            printf("%-20s %7.2f us host per call, %7.2f us until done\n", names[what],
                   (t1 - t0) / count, (t2 - t0) / count);
        }
    }
    void *bufs[] = {x, w, y, dx, dw, ws};
    for (int i = 0; i < 6; i++) sc_memory_free(0, bufs[i]);
    sc_context_destroy(ctx);
    return 0;
}
