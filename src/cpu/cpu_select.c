/* cpu_select.c - which CPU algorithm runs, and the dispatch to it.
 *
 * Choice (no timing): the direct loops where the GEMM would be tiny or degenerate (depthwise:
 * C/groups == 1, or a reduction of a handful of elements), im2col + sgemm everywhere else. */
#include "common/fork_gate.h"
#include "cpu/cpu.h"

#include <stdint.h>

/* Reductions shorter than this gain nothing from a GEMM call per column block. */
#define SC_CPU_DIRECT_MAX_REDUCTION 8

sc_status sc_cpu_select(const sc_problem *pb, sc_direction dir, sc_algo want, size_t limit,
                        sc_algo *algo, size_t *ws_bytes)
{
    *ws_bytes = 0;
    sc_problem pf; /* fp16/bf16: the algorithm of the fp32 problem runs on widened copies */
    if (pb->d.dtype != SC_DTYPE_F32) {
        sc_cpu_problem_f32(pb, &pf);
        pb = &pf;
    }
    switch (want) {
    case SC_ALGO_CPU_REFERENCE:
    case SC_ALGO_CPU_DIRECT: *algo = want; return SC_STATUS_OK;
    case SC_ALGO_CPU_IM2COL_GEMM:
        if (dir == SC_DIR_BACKWARD_BIAS) { /* no GEMM in a bias gradient: the direct sum */
            *algo = SC_ALGO_CPU_DIRECT;
            return SC_STATUS_OK;
        }
        *ws_bytes = sc_cpu_gemm_workspace(pb, dir, limit);
        if (*ws_bytes == SIZE_MAX)
            return sc__fail(SC_STATUS_OUT_OF_MEMORY,
                            "options.workspace_limit: %zu bytes cannot hold one im2col block "
                            "of this problem",
                            limit);
        *algo = want;
        return SC_STATUS_OK;
    case SC_ALGO_NONE: break;
    default:
        return sc__fail(SC_STATUS_UNSUPPORTED, "options.algo: %s does not run on the CPU",
                        sc_algo_name(want));
    }
    int64_t reduction = pb->cg * pb->d.r * pb->d.s;
    if (dir == SC_DIR_BACKWARD_BIAS || pb->cg == 1 || reduction < SC_CPU_DIRECT_MAX_REDUCTION) {
        *algo = SC_ALGO_CPU_DIRECT;
        return SC_STATUS_OK;
    }
    size_t ws = sc_cpu_gemm_workspace(pb, dir, limit);
    if (ws == SIZE_MAX) { /* the limit is too small for one block: loops need no scratch */
        *algo = SC_ALGO_CPU_DIRECT;
        return SC_STATUS_OK;
    }
    *algo = SC_ALGO_CPU_IM2COL_GEMM;
    *ws_bytes = ws;
    return SC_STATUS_OK;
}

static sc_status cpu_run(const sc_call *call)
{
    switch (call->algo) {
    case SC_ALGO_CPU_REFERENCE: return sc_cpu_reference_run(call);
    case SC_ALGO_CPU_DIRECT: return sc_cpu_direct_run(call);
    case SC_ALGO_CPU_IM2COL_GEMM: return sc_cpu_gemm_run(call);
    default:
        return sc__fail(SC_STATUS_INTERNAL, "cpu: algorithm %s routed to the CPU",
                        sc_algo_name(call->algo));
    }
}

sc_status sc_cpu_run(const sc_call *call)
{
    /* fp16/bf16 comes back here in fp32, and takes the gate then: never twice in one thread (a
     * writer-preferring lock taken again while a probe waits to fork would deadlock). */
    if (call->pb->d.dtype != SC_DTYPE_F32) return sc_cpu_run_widened(call);
    /* A probe does not fork while this thread is inside a kernel (OpenBLAS): fork_gate.h. */
    sc__fork_gate_enter();
    sc_status st = cpu_run(call);
    sc__fork_gate_leave();
    return st;
}
