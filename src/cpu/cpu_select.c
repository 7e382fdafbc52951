/* cpu_select.c - which CPU algorithm runs, and the dispatch to it.
 *
 * Choice (no timing, so the same problem always gets the same algorithm and the same bits):
 * oneDNN where the build has it and it is faster (onednn_faster); otherwise the direct loops
 * where the GEMM would be tiny or degenerate (depthwise: C/groups == 1, or a reduction of a
 * handful of elements), im2col + sgemm everywhere else. */
#include "common/fork_gate.h"
#include "cpu/cpu.h"

#include <stdint.h>

/* Reductions shorter than this gain nothing from a GEMM call per column block. */
#define SC_CPU_DIRECT_MAX_REDUCTION 8

/* Below this many multiply-adds a oneDNN call (memory objects, a stream, ~4 us) costs more than
 * the direct loops, and creating its primitive (milliseconds, once per shape) far more. */
#define SC_CPU_ONEDNN_MIN_MACS 4096

/* Where oneDNN beats im2col + OpenBLAS and the direct loops. Measured on the public suite and
 * depthwise layers at batch 4 (bench/NOTES.md, issue 21): oneDNN's best layout variant was
 * faster in every direction of every layer, 1.2-30x, so it takes every problem but the tiny. */
static bool onednn_faster(const sc_problem *pb, sc_direction dir)
{
    (void)dir;
    const sc_conv2d_desc *d = &pb->d;
    double macs = (double)d->n * (double)d->k * (double)(pb->p * pb->q) * (double)pb->cg *
                  (double)(d->r * d->s);
    return macs >= SC_CPU_ONEDNN_MIN_MACS;
}

static sc_status select_gemm(const sc_problem *pb, sc_direction dir, sc_algo want, size_t limit,
                             sc_algo *algo, size_t *ws_bytes)
{
    if (dir == SC_DIR_BACKWARD_BIAS) { /* no GEMM in a bias gradient: the direct sum */
        *algo = SC_ALGO_CPU_DIRECT;
        return SC_STATUS_OK;
    }
    *ws_bytes = sc_cpu_gemm_workspace(pb, dir, limit);
    if (*ws_bytes == SIZE_MAX) {
        *ws_bytes = 0;
        if (want == SC_ALGO_NONE) { /* the limit is too small for one block: loops need none */
            *algo = SC_ALGO_CPU_DIRECT;
            return SC_STATUS_OK;
        }
        return sc__fail(SC_STATUS_OUT_OF_MEMORY,
                        "options.workspace_limit: %zu bytes cannot hold one im2col block "
                        "of this problem",
                        limit);
    }
    *algo = SC_ALGO_CPU_IM2COL_GEMM;
    return SC_STATUS_OK;
}

sc_status sc_cpu_select(const sc_problem *pb, sc_direction dir, sc_algo want, size_t limit,
                        int num_threads, sc_algo *algo, size_t *ws_bytes)
{
    *ws_bytes = 0;
    sc_problem pf; /* fp16/bf16: the algorithm of the fp32 problem runs on widened copies */
    if (pb->d.dtype != SC_DTYPE_F32) {
        sc_cpu_problem_f32(pb, &pf);
        pb = &pf;
    }
    bool reference;
    switch (want) {
    case SC_ALGO_CPU_REFERENCE:
    case SC_ALGO_CPU_DIRECT: *algo = want; return SC_STATUS_OK;
    case SC_ALGO_CPU_IM2COL_GEMM: return select_gemm(pb, dir, want, limit, algo, ws_bytes);
    case SC_ALGO_CPU_ONEDNN:
        if (dir == SC_DIR_BACKWARD_BIAS) { /* a sum: the direct loop, as for im2col */
            *algo = SC_ALGO_CPU_DIRECT;
            return SC_STATUS_OK;
        }
        *algo = want;
        return sc_cpu_onednn_plan(pb, dir, num_threads, limit, ws_bytes, &reference);
    case SC_ALGO_NONE: break;
    default:
        return sc__fail(SC_STATUS_UNSUPPORTED, "options.algo: %s does not run on the CPU",
                        sc_algo_name(want));
    }
    if (dir != SC_DIR_BACKWARD_BIAS && sc_cpu_onednn_built() && onednn_faster(pb, dir) &&
        sc_cpu_onednn_plan(pb, dir, num_threads, limit, ws_bytes, &reference) == SC_STATUS_OK &&
        !reference) {
        *algo = SC_ALGO_CPU_ONEDNN;
        return SC_STATUS_OK;
    }
    sc__clear_error(); /* oneDNN declining is no error of the call */
    *ws_bytes = 0;
    int64_t reduction = pb->cg * pb->d.r * pb->d.s;
    if (dir == SC_DIR_BACKWARD_BIAS || pb->cg == 1 || reduction < SC_CPU_DIRECT_MAX_REDUCTION) {
        *algo = SC_ALGO_CPU_DIRECT;
        return SC_STATUS_OK;
    }
    return select_gemm(pb, dir, SC_ALGO_NONE, limit, algo, ws_bytes);
}

static sc_status cpu_run(const sc_call *call)
{
    switch (call->algo) {
    case SC_ALGO_CPU_REFERENCE: return sc_cpu_reference_run(call);
    case SC_ALGO_CPU_DIRECT: return sc_cpu_direct_run(call);
    case SC_ALGO_CPU_IM2COL_GEMM: return sc_cpu_gemm_run(call);
    case SC_ALGO_CPU_ONEDNN: return sc_cpu_onednn_run(call);
    default:
        return sc__fail(SC_STATUS_INTERNAL, "cpu: algorithm %s routed to the CPU",
                        sc_algo_name(call->algo));
    }
}

sc_status sc_cpu_run_backward(const sc_call *bd, const sc_call *bw)
{
    if (bd->pb->d.dtype != SC_DTYPE_F32 || bd->algo != SC_ALGO_CPU_ONEDNN ||
        bw->algo != SC_ALGO_CPU_ONEDNN) {
        sc_status st = sc_cpu_run(bd);
        return st ? st : sc_cpu_run(bw);
    }
    sc__fork_gate_enter();
    sc_status st = sc_cpu_onednn_run_backward(bd, bw);
    sc__fork_gate_leave();
    return st;
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
