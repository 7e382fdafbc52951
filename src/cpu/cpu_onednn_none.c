/* cpu_onednn_none.c - the oneDNN route in a build without oneDNN (no libdnnl-dev, or ONEDNN=0):
 * never chosen by auto selection; forcing it says it is not built. Replaced by src/cpu/onednn/
 * (mk/onednn.mk). */
#include "cpu/cpu.h"

bool sc_cpu_onednn_built(void) { return false; }

sc_status sc_cpu_onednn_plan(const sc_problem *pb, sc_direction dir, int num_threads, size_t limit,
                             size_t *ws_bytes, bool *reference)
{
    (void)pb, (void)dir, (void)num_threads, (void)limit;
    *ws_bytes = 0;
    *reference = false;
    return sc__fail(SC_STATUS_NOT_AVAILABLE,
                    "options.algo: cpu_onednn is not built in this library (oneDNN was not found "
                    "at build time, or the build said ONEDNN=0)");
}

sc_status sc_cpu_onednn_run(const sc_call *call)
{
    (void)call;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "cpu_onednn: not built in this library");
}

sc_status sc_cpu_onednn_run_backward(const sc_call *bd, const sc_call *bw)
{
    (void)bd, (void)bw;
    return sc__fail(SC_STATUS_NOT_AVAILABLE, "cpu_onednn: not built in this library");
}

void sc_cpu_onednn_cache_clear(void) {}
