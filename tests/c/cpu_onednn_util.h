/* cpu_onednn_util.h - whether this build has the oneDNN route, asked through the public API
 * (a forced cpu_onednn selection on a small problem). */
#ifndef SC_TEST_CPU_ONEDNN_UTIL_H
#define SC_TEST_CPU_ONEDNN_UTIL_H

#include "safeconv.h"

#include <stdbool.h>

static inline bool sc_test_onednn_built(void)
{
    sc_context_options o;
    sc_context_options_init(&o);
    o.algo = SC_ALGO_CPU_ONEDNN;
    sc_context *ctx;
    if (sc_context_create(&o, &ctx)) return false;
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 4, d.h = 6, d.w = 6, d.k = 4, d.r = 3, d.s = 3;
    sc_algo a;
    bool built = sc_conv2d_select(ctx, &d, SC_DIR_FORWARD, &a) == SC_STATUS_OK;
    sc_context_destroy(ctx);
    return built;
}

#endif
