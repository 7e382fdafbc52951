/* guard_none.c - the vendor route before the guard exists: never chosen by auto; vendor and
 * selective report that no vendor library is available. Replaced by src/guard/. */
#include "core/guard_hook.h"

sc_status sc__guard_select(sc_context *ctx, const sc_problem *pb, sc_direction dir,
                           bool *use_vendor, sc_algo *algo, size_t *ws_bytes)
{
    (void)pb, (void)dir, (void)algo, (void)ws_bytes;
    *use_vendor = false;
    if (ctx->opt.strategy == SC_STRATEGY_VENDOR)
        return sc__fail(SC_STATUS_NOT_AVAILABLE,
                        "strategy: 'vendor' needs the vendor route, not built in this library");
    return SC_STATUS_OK;
}

sc_status sc__guard_run(sc_context *ctx, const sc_call *call, bool *rerun)
{
    (void)ctx, (void)call;
    *rerun = false;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "vendor route not built in this library");
}

void sc__guard_release(sc_context *ctx) { (void)ctx; }
