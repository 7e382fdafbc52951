/* host_cost.c - the library's host time per call on a GPU, without Python: a tiny NHWC layer
 * (2x16x8x8, 16 3x3 filters), each direction called `count` times back to back (the GPU runs
 * them asynchronously; one synchronize at the end), and the workspace query alone (a planned
 * shape: the plan cache answers). Prints microseconds of host time per call. A report, not a
 * test: the bindings' per-call cost (bench/NOTES.md) is this plus their own.
 *
 *   cc -O2 -Iinclude bench/host_cost.c -o build-gpu/host-cost -Lbuild-gpu -lsafeconv
 *   LD_LIBRARY_PATH=build-gpu build-gpu/host-cost [count] */
#include "safeconv.h"

#include <stdio.h>
#include <stdlib.h>
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
    sc_context_options o;
    sc_context_options_init(&o);
    o.device = 0;
    o.strategy = SC_STRATEGY_GPU;
    sc_context *ctx;
    CHECK(sc_context_create(&o, &ctx));
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 2, d.c = 16, d.h = 8, d.w = 8, d.k = 16, d.r = 3, d.s = 3, d.pad_h = 1, d.pad_w = 1;
    d.layout = SC_NHWC;
    void *x, *w, *y, *dx, *dw, *ws;
    size_t wsn = 0, n;
    for (int dir = 0; dir < 3; dir++) {
        CHECK(sc_conv2d_workspace_size(ctx, &d, (sc_direction)dir, &n));
        if (n > wsn) wsn = n;
    }
    CHECK(sc_memory_alloc(0, 2 * 16 * 8 * 8 * 4, &x));
    CHECK(sc_memory_alloc(0, 16 * 16 * 9 * 4, &w));
    CHECK(sc_memory_alloc(0, 2 * 16 * 8 * 8 * 4, &y));
    CHECK(sc_memory_alloc(0, 2 * 16 * 8 * 8 * 4, &dx));
    CHECK(sc_memory_alloc(0, 16 * 16 * 9 * 4, &dw));
    CHECK(sc_memory_alloc(0, wsn ? wsn : 1, &ws));
    const char *names[] = {"forward", "backward_data", "backward_weight", "workspace query"};
    for (int rep = 0; rep < 2; rep++) {
        for (int what = 0; what < 4; what++) {
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
                else
                    st = sc_conv2d_workspace_size(ctx, &d, SC_DIR_FORWARD, &n);
                CHECK(st);
            }
            double t1 = now_us();
            CHECK(sc_context_synchronize(ctx));
            double t2 = now_us();
            printf("%-16s %7.2f us host per call, %7.2f us until done\n", names[what],
                   (t1 - t0) / count, (t2 - t0) / count);
        }
    }
    void *bufs[] = {x, w, y, dx, dw, ws};
    for (int i = 0; i < 6; i++) sc_memory_free(0, bufs[i]);
    sc_context_destroy(ctx);
    return 0;
}
